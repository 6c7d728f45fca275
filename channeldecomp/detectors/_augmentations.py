"""Augmentations of collision events stored as sets of objects, in physical units.

Events are arrays of shape ``(n_events, n_objects, n_properties)``; with three properties the
columns are read as (pT [GeV], eta, phi). An object slot whose pT is zero is empty. Flattened
events ``(n_events, n_objects * n_properties)`` are accepted with ``object_shape``.

*Physical* augmentations (:func:`rotate_phi`, :func:`smear_energy`, :func:`smear_angles`) give
another plausible view of the same event; *anomaly* augmentations (:func:`add_objects`,
:func:`split_objects`) make it look like something the background does not produce. Every
function returns a new array and leaves its input untouched.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_random_state

__all__ = [
    "add_objects",
    "rotate_phi",
    "smear_angles",
    "smear_energy",
    "split_objects",
]

#: Object type of each of the 19 slots of the ADC2021 layout.
ADC_OBJECT_TYPES = ("met",) + ("electron",) * 4 + ("muon",) * 4 + ("jet",) * 10

#: Minimum pT (GeV) of a new object of each type (the ADC2021 thresholds).
_MIN_PT = {"electron": 3.0, "muon": 3.0, "jet": 15.0}
_MAX_ETA = {"electron": 3.0, "muon": 2.1, "jet": 4.0}


def _generator(random_state):
    if isinstance(random_state, np.random.Generator):
        return random_state
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    return np.random.default_rng(seed)


def _as_objects(events, object_shape):
    """Return a float copy of ``events`` as (n, n_objects, n_properties) and a restore function."""
    events = np.asarray(events, dtype=float)
    if events.ndim == 3:
        return events.copy(), lambda out: out
    if events.ndim != 2:
        raise ValueError(
            f"events must be 2-D (n_events, n_objects * n_properties) or 3-D "
            f"(n_events, n_objects, n_properties); got shape {events.shape}."
        )
    n_objects, n_properties = object_shape
    if n_objects == -1:
        if events.shape[1] % n_properties:
            raise ValueError(
                f"{events.shape[1]} columns do not split into objects of {n_properties} "
                "properties; pass the right object_shape."
            )
        n_objects = events.shape[1] // n_properties
    if n_objects * n_properties != events.shape[1]:
        raise ValueError(
            f"object_shape={tuple(object_shape)} needs {n_objects * n_properties} columns; "
            f"got {events.shape[1]}. Pass the object_shape of your data."
        )
    shape = events.shape
    return events.reshape(len(events), n_objects, n_properties).copy(), lambda out: out.reshape(
        shape
    )


def _types(object_types, n_objects):
    if object_types is None or (isinstance(object_types, str) and object_types == "adc"):
        if object_types is None and n_objects != len(ADC_OBJECT_TYPES):
            return np.array(["object"] * n_objects)
        if n_objects != len(ADC_OBJECT_TYPES):
            raise ValueError(
                f'object_types="adc" needs {len(ADC_OBJECT_TYPES)} object slots; got '
                f"{n_objects}. Pass one type name per slot, or None for a single type."
            )
        return np.array(ADC_OBJECT_TYPES)
    types = np.asarray(object_types, dtype=object).astype(str)
    if types.ndim != 1 or len(types) != n_objects:
        raise ValueError(
            f"object_types needs one type name per object slot ({n_objects}); "
            f"got {len(types)} entries."
        )
    return types


def _check_angles(objects, name):
    if objects.shape[2] < 3:
        raise ValueError(
            f"{name} needs (pT, eta, phi) objects; got {objects.shape[2]} properties per object."
        )


def _wrap(phi):
    return (phi + np.pi) % (2 * np.pi) - np.pi


def rotate_phi(events, *, object_shape=(19, 3), random_state=None):
    """Rotate each whole event by a random azimuthal angle (a symmetry of the detector).

    Parameters
    ----------
    events : array-like of shape (n_events, n_objects, 3) or (n_events, n_objects * 3)
        Events of (pT, eta, phi) objects; empty slots (pT = 0) stay all zero.
    object_shape : tuple of int, default=(19, 3)
        ``(n_objects, n_properties)`` used to unflatten 2-D input; ``-1`` infers the count.
    random_state : int, RandomState or Generator instance or None, default=None
        Seed of the random angles.

    Returns
    -------
    augmented : ndarray of the same shape as ``events``

    Examples
    --------
    >>> import numpy as np
    >>> from channeldecomp.detectors import rotate_phi
    >>> event = np.array([[[30.0, 0.0, 0.5], [50.0, 1.0, -0.5], [0.0, 0.0, 0.0]]])
    >>> rotated = rotate_phi(event, random_state=0)
    >>> bool(np.isclose(np.cos(rotated[0, 0, 2] - rotated[0, 1, 2]), np.cos(1.0)))
    True
    >>> rotated[0, 2].tolist()
    [0.0, 0.0, 0.0]
    """
    objects, restore = _as_objects(events, object_shape)
    _check_angles(objects, "rotate_phi")
    rng = _generator(random_state)
    angle = rng.uniform(-np.pi, np.pi, size=(len(objects), 1))
    present = objects[..., 0] > 0
    objects[..., 2] = np.where(present, _wrap(objects[..., 2] + angle), objects[..., 2])
    return restore(objects)


def smear_energy(
    events, *, object_shape=(19, 3), object_types=None, apply_to=("jet",), random_state=None
):
    """Smear object pT with the jet energy resolution sigma = sqrt(0.052 pT^2 + 1.502 pT) GeV.

    Parameters
    ----------
    events : array-like of shape (n_events, n_objects, n_properties) or flattened
        Events; property 0 is pT in GeV.
    object_shape : tuple of int, default=(19, 3)
        ``(n_objects, n_properties)`` used to unflatten 2-D input.
    object_types : "adc", sequence of str or None, default=None
        Type of each slot; None means the ADC2021 layout for 19 slots, else one generic type.
    apply_to : sequence of str or None, default=("jet",)
        Types to smear; None smears every non-MET object.
    random_state : int, RandomState or Generator instance or None, default=None
        Seed of the smearing.

    Returns
    -------
    augmented : ndarray of the same shape as ``events``

    Examples
    --------
    >>> import numpy as np
    >>> from channeldecomp.detectors import smear_energy
    >>> events = np.zeros((2, 19, 3))
    >>> events[:, 9] = [100.0, 0.3, 1.0]  # the leading jet
    >>> smeared = smear_energy(events, random_state=0)
    >>> bool(np.all(smeared[:, 9, 0] != 100.0)), bool(np.all(smeared[:, 10] == 0))
    (True, True)
    """
    objects, restore = _as_objects(events, object_shape)
    types = _types(object_types, objects.shape[1])
    selected = (types != "met") if apply_to is None else np.isin(types, list(apply_to))
    rng = _generator(random_state)
    pt = objects[..., 0]
    sigma = np.sqrt(0.052 * pt**2 + 1.502 * pt)
    smeared = np.abs(pt + sigma * rng.normal(size=pt.shape))
    objects[..., 0] = np.where(selected[None, :] & (pt > 0), np.maximum(smeared, 1e-3), pt)
    return restore(objects)


def smear_angles(
    events,
    *,
    scale=0.05,
    object_shape=(19, 3),
    object_types=None,
    apply_to=("jet",),
    random_state=None,
):
    """Smear eta and phi of objects by a Gaussian of width ``scale`` (soft, collinear noise).

    Parameters
    ----------
    events : array-like of shape (n_events, n_objects, 3) or flattened
        Events of (pT, eta, phi) objects.
    scale : float, default=0.05
        Standard deviation of the eta and phi shifts.
    object_shape : tuple of int, default=(19, 3)
        ``(n_objects, n_properties)`` used to unflatten 2-D input.
    object_types : "adc", sequence of str or None, default=None
        Type of each slot; None means the ADC2021 layout for 19 slots, else one generic type.
    apply_to : sequence of str or None, default=("jet",)
        Types to smear; None smears every non-MET object (the MET has no eta).
    random_state : int, RandomState or Generator instance or None, default=None
        Seed of the smearing.

    Returns
    -------
    augmented : ndarray of the same shape as ``events``

    Examples
    --------
    >>> import numpy as np
    >>> from channeldecomp.detectors import smear_angles
    >>> events = np.zeros((1, 19, 3))
    >>> events[0, 9] = [40.0, 0.5, 3.1]
    >>> out = smear_angles(events, scale=0.1, random_state=1)
    >>> bool(abs(out[0, 9, 1] - 0.5) < 1), bool(-np.pi <= out[0, 9, 2] < np.pi)
    (True, True)
    """
    if not isinstance(scale, numbers.Real) or scale < 0:
        raise ValueError(f"scale must be a non-negative number; got {scale!r}.")
    objects, restore = _as_objects(events, object_shape)
    _check_angles(objects, "smear_angles")
    types = _types(object_types, objects.shape[1])
    selected = (types != "met") if apply_to is None else np.isin(types, list(apply_to))
    rng = _generator(random_state)
    mask = selected[None, :] & (objects[..., 0] > 0)
    shifts = scale * rng.normal(size=objects[..., 1:3].shape)
    objects[..., 1] = np.where(mask, objects[..., 1] + shifts[..., 0], objects[..., 1])
    objects[..., 2] = np.where(mask, _wrap(objects[..., 2] + shifts[..., 1]), objects[..., 2])
    return restore(objects)


def _fill_empty_slot(objects, slot_types, chosen_type, values, active):
    """Write ``values`` (n, p) into the first empty slot of ``chosen_type`` where ``active``."""
    empty = (objects[..., 0] == 0) & (slot_types[None, :] == chosen_type[:, None])
    target = np.argmax(empty, axis=1)
    ok = active & empty.any(axis=1)
    rows = np.flatnonzero(ok)
    objects[rows, target[rows]] = values[rows]
    return ok


def add_objects(
    events,
    *,
    max_added=3,
    pt_scale=25.0,
    object_shape=(19, 3),
    object_types=None,
    random_state=None,
):
    """Anomaly augmentation: add 1 to ``max_added`` random objects to each event.

    Each new object gets a random type among the event's non-MET types with a free slot, a pT
    of the type's threshold plus an exponential of mean ``pt_scale`` GeV, eta uniform within
    the type's acceptance and phi uniform. Events with no free slot are left as they are.

    Parameters
    ----------
    events : array-like of shape (n_events, n_objects, n_properties) or flattened
        Events; property 0 is pT, then (with three properties) eta and phi.
    max_added : int, default=3
        Largest number of objects added to one event.
    pt_scale : float, default=25.0
        Mean pT above threshold of the added objects, in GeV.
    object_shape : tuple of int, default=(19, 3)
        ``(n_objects, n_properties)`` used to unflatten 2-D input.
    object_types : "adc", sequence of str or None, default=None
        Type of each slot; None means the ADC2021 layout for 19 slots, else one generic type.
    random_state : int, RandomState or Generator instance or None, default=None
        Seed.

    Returns
    -------
    augmented : ndarray of the same shape as ``events``

    Examples
    --------
    >>> import numpy as np
    >>> from channeldecomp.detectors import add_objects
    >>> events = np.zeros((5, 19, 3))
    >>> events[:, 0] = [20.0, 0.0, 1.0]  # MET only
    >>> more = add_objects(events, max_added=2, random_state=0)
    >>> counts = (more[:, 1:, 0] > 0).sum(axis=1)
    >>> bool(np.all((counts >= 1) & (counts <= 2))), bool(np.all(more[:, 0] == events[:, 0]))
    (True, True)
    """
    if not isinstance(max_added, numbers.Integral) or max_added < 1:
        raise ValueError(f"max_added must be a positive integer; got {max_added!r}.")
    objects, restore = _as_objects(events, object_shape)
    n, n_objects, n_properties = objects.shape
    slot_types = _types(object_types, n_objects)
    candidates = np.array([t for t in dict.fromkeys(slot_types) if t != "met"])
    if len(candidates) == 0:
        return restore(objects)
    rng = _generator(random_state)
    n_added = rng.integers(1, max_added + 1, size=n)
    for k in range(max_added):
        active = n_added > k
        free = np.stack(
            [((objects[..., 0] == 0) & (slot_types == t)).any(axis=1) for t in candidates], 1
        )
        scores = np.where(free, rng.uniform(size=free.shape), -1.0)
        chosen = candidates[np.argmax(scores, axis=1)]
        min_pt = np.array([_MIN_PT.get(t, 1.0) for t in chosen])
        max_eta = np.array([_MAX_ETA.get(t, 2.5) for t in chosen])
        values = np.zeros((n, n_properties))
        values[:, 0] = min_pt + rng.exponential(pt_scale, n)
        if n_properties >= 3:
            values[:, 1] = rng.uniform(-1, 1, n) * max_eta
            values[:, 2] = rng.uniform(-np.pi, np.pi, n)
        _fill_empty_slot(objects, slot_types, chosen, values, active & free.any(axis=1))
    return restore(objects)


def split_objects(
    events,
    *,
    max_splits=2,
    spread=0.1,
    object_shape=(19, 3),
    object_types=None,
    random_state=None,
):
    """Anomaly augmentation: split objects collinearly into two of the same type.

    A random non-MET object with a free slot of its type gives a fraction z ~ U(0.2, 0.8) of
    its pT to a new object of the same type, at eta and phi shifted by a Gaussian of width
    ``spread``. The total pT of each object type is unchanged; the multiplicity rises.

    Parameters
    ----------
    events : array-like of shape (n_events, n_objects, n_properties) or flattened
        Events; property 0 is pT, then (with three properties) eta and phi.
    max_splits : int, default=2
        Largest number of splits in one event (each event gets 1 to ``max_splits``).
    spread : float, default=0.1
        Width of the angular offset of the new object.
    object_shape : tuple of int, default=(19, 3)
        ``(n_objects, n_properties)`` used to unflatten 2-D input.
    object_types : "adc", sequence of str or None, default=None
        Type of each slot; None means the ADC2021 layout for 19 slots, else one generic type.
    random_state : int, RandomState or Generator instance or None, default=None
        Seed.

    Returns
    -------
    augmented : ndarray of the same shape as ``events``

    Examples
    --------
    >>> import numpy as np
    >>> from channeldecomp.detectors import split_objects
    >>> events = np.zeros((1, 19, 3))
    >>> events[0, 9] = [80.0, 0.2, 0.4]  # one jet
    >>> out = split_objects(events, max_splits=1, random_state=0)
    >>> int((out[0, 9:, 0] > 0).sum()), float(out[0, 9:, 0].sum())
    (2, 80.0)
    """
    if not isinstance(max_splits, numbers.Integral) or max_splits < 1:
        raise ValueError(f"max_splits must be a positive integer; got {max_splits!r}.")
    objects, restore = _as_objects(events, object_shape)
    n, n_objects, n_properties = objects.shape
    slot_types = _types(object_types, n_objects)
    rng = _generator(random_state)
    n_splits = rng.integers(1, max_splits + 1, size=n)
    rows = np.arange(n)
    for k in range(max_splits):
        empty = objects[..., 0] == 0
        has_free = np.stack([(empty & (slot_types == t)).any(axis=1) for t in slot_types], 1)
        splittable = ~empty & (slot_types != "met")[None, :] & has_free
        scores = np.where(splittable, rng.uniform(size=splittable.shape), -1.0)
        source = np.argmax(scores, axis=1)
        active = (n_splits > k) & splittable.any(axis=1)
        z = rng.uniform(0.2, 0.8, n)
        parent = objects[rows, source]
        child = parent.copy()
        child[:, 0] = z * parent[:, 0]
        if n_properties >= 3:
            child[:, 1] = parent[:, 1] + spread * rng.normal(size=n)
            child[:, 2] = _wrap(parent[:, 2] + spread * rng.normal(size=n))
        done = _fill_empty_slot(objects, slot_types, slot_types[source], child, active)
        objects[rows[done], source[done], 0] = (1 - z[done]) * parent[done, 0]
    return restore(objects)
