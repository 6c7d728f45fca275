"""Argument checks and message helpers shared by the package's modules (one copy of each).

Lumisections arrive as DataFrames, Series or arrays; these helpers turn them into one form and
raise errors that name the argument and the fix.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd


def _describe(names, limit=6):
    """The first ``limit`` of ``names`` as a comma-separated list of reprs, for error messages.

    Examples
    --------
    >>> _describe(["a", "b"])
    "'a', 'b'"
    >>> _describe(range(10), limit=3)
    '0, 1, 2, ... (10 in all)'
    """
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    if len(names) > limit:
        shown += f", ... ({len(names)} in all)"
    return shown


def _check_fraction(name, value, *, upper_open=False):
    """``value`` as a float in [0, 1] (in [0, 1) with ``upper_open``); else a ValueError.

    Examples
    --------
    >>> _check_fraction("label_noise", 0.1)
    0.1
    >>> _check_fraction("bad_fraction", 1, upper_open=True)
    Traceback (most recent call last):
    ...
    ValueError: bad_fraction must be in [0, 1); got 1.
    """
    ok = (
        isinstance(value, numbers.Real) and 0 <= value and (value < 1 if upper_open else value <= 1)
    )
    if not ok:
        raise ValueError(f"{name} must be in [0, 1{')' if upper_open else ']'}; got {value!r}.")
    return float(value)


def as_frame(values, name, column_prefix):
    """Return ``values`` as a DataFrame (Series and arrays get generated column names)."""
    if isinstance(values, pd.DataFrame):
        return values
    if isinstance(values, pd.Series):
        return values.to_frame(name=values.name if values.name is not None else column_prefix)
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must be a pandas DataFrame or a numeric array; got {type(values).__name__}."
        ) from exc
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional (rows x columns); got {array.ndim} dims.")
    return pd.DataFrame(array, columns=[f"{column_prefix}{i}" for i in range(array.shape[1])])


def check_same_rows(first, first_name, second, second_name):
    if len(first) != len(second):
        raise ValueError(
            f"{first_name} has {len(first)} rows but {second_name} has {len(second)}; both must "
            "describe the same lumisections in the same order."
        )
    first_index = getattr(first, "index", None)
    second_index = getattr(second, "index", None)
    if (
        isinstance(first, (pd.DataFrame, pd.Series))
        and isinstance(second, (pd.DataFrame, pd.Series))
        and not first_index.equals(second_index)
    ):
        raise ValueError(
            f"{first_name} and {second_name} have different indexes. Align them first, e.g. "
            f"{second_name} = {second_name}.loc[{first_name}.index], or pass plain arrays."
        )


def check_sample_weight(sample_weight, n_samples):
    if sample_weight is None:
        return np.ones(n_samples)
    weight = np.asarray(sample_weight, dtype=float).reshape(-1)
    if weight.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight has {weight.shape[0]} values but there are {n_samples} lumisections."
        )
    if not np.all(np.isfinite(weight)) or (weight < 0).any():
        raise ValueError("sample_weight must be finite and non-negative.")
    return weight


def binary_labels(values, name, good_label=1):
    """Return a float array with 1 for ``good_label``, 0 for the other class, NaN kept."""
    array = np.asarray(values)
    if array.dtype.kind in "fc":
        missing = np.isnan(array)
    elif array.dtype == object:
        missing = pd.isna(array)
    else:
        missing = np.zeros(array.shape, dtype=bool)
    present = array[~missing]
    classes = np.unique(present)
    if classes.size > 2:
        raise ValueError(
            f"{name} must be binary (good/bad); found values {classes[:5].tolist()}. "
            "Use 1 for good and 0 for bad."
        )
    if classes.size == 2 and good_label not in classes:
        raise ValueError(
            f"{name} has classes {classes.tolist()}, none of which is good_label={good_label!r}. "
            "Pass good_label= the value that means good."
        )
    labels = np.full(array.shape, np.nan)
    labels[~missing] = (present == good_label).astype(float)
    return labels


def take_rows(values, rows):
    """The rows ``rows`` (integer positions) of a DataFrame, Series or array; None stays None."""
    if values is None:
        return None
    if isinstance(values, (pd.DataFrame, pd.Series)):
        return values.iloc[rows]
    return np.asarray(values)[rows]


def seeded_clone(estimator, rng, random_state):
    """A clone of ``estimator`` for one channel of a per-channel model.

    When the model's ``random_state`` is set and the clone has a ``random_state`` parameter, the
    clone gets its own seed drawn from ``rng`` (``check_random_state(random_state)``, one draw
    per channel in channel order); otherwise it keeps the estimator's own.
    """
    from sklearn.base import clone

    estimator = clone(estimator)
    if random_state is not None and "random_state" in estimator.get_params():
        estimator.set_params(random_state=int(rng.randint(np.iinfo(np.int32).max)))
    return estimator
