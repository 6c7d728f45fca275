"""A simulated CMS-like detector producing lumisections with injected subsystem faults.

The physics is deliberately simple but has the shapes that matter for data-quality monitoring:
luminosity decaying within fills, pile-up growing with luminosity, falling transverse-momentum
spectra, per-object-type acceptance in pseudorapidity, calorimeter jets and particle-flow (PF)
candidates built from the same underlying jets with different response and resolution. Faults
are injected per subsystem, for blocks of consecutive lumisections, with a documented map of
which object channels each subsystem is visible in (:data:`DETECTOR_VISIBILITY`), so the truth of
"which channel sees this anomaly" is known.

Everything is vectorized over events and objects: the only Python loops run over fault episodes
and subsystems, never over events.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from types import MappingProxyType

import numpy as np
import pandas as pd
from sklearn.utils import Bunch, check_random_state

from .._validation import _check_fraction

__all__ = [
    "DETECTOR_CHANNELS",
    "DETECTOR_FAULT_MODES",
    "DETECTOR_VISIBILITY",
    "FAULT_VISIBILITY",
    "SimulatedBlocks",
    "detector_visibility",
    "simulate_lumisections",
]

#: The four object channels, in the order of the returned truth columns.
DETECTOR_CHANNELS = ("muons", "photons", "pf", "calo_jets")

#: Subsystem -> the object channels a fault of that subsystem is visible in.
DETECTOR_VISIBILITY = MappingProxyType(
    {
        "DT": ("muons",),
        "CSC": ("muons",),
        "RPC": ("muons",),
        "Tracker": ("muons", "pf"),
        "ECAL": ("photons", "pf", "calo_jets"),
        "HCAL": ("pf", "calo_jets"),
        "CASTOR": (),
    }
)

#: Subsystem -> the fault modes it can suffer.
DETECTOR_FAULT_MODES = MappingProxyType(
    {
        "DT": ("dead_region", "efficiency_drop"),
        "CSC": ("dead_region", "efficiency_drop"),
        "RPC": ("efficiency_drop",),
        "Tracker": ("dead_region", "efficiency_drop", "resolution_loss"),
        "ECAL": ("dead_region", "scale_drift", "resolution_loss", "noisy_cells"),
        "HCAL": ("dead_region", "scale_drift", "resolution_loss", "noisy_cells"),
        "CASTOR": ("dead_region", "noisy_cells"),
    }
)

#: (subsystem, fault mode) -> the channels that fault is visible in. Equal to the subsystem's
#: channels of :data:`DETECTOR_VISIBILITY`, except a calorimeter energy-scale drift: particle
#: flow calibrates its photons and neutral hadrons in situ, so the drift does not reach ``pf``.
FAULT_VISIBILITY = MappingProxyType(
    {
        (subsystem, mode): (
            tuple(c for c in channels if c != "pf") if mode == "scale_drift" else channels
        )
        for subsystem, channels in DETECTOR_VISIBILITY.items()
        for mode in DETECTOR_FAULT_MODES[subsystem]
    }
)

_SUBSYSTEMS = tuple(DETECTOR_VISIBILITY)
_MODES = ("dead_region", "scale_drift", "resolution_loss", "efficiency_drop", "noisy_cells")
# How often each subsystem fails, relative to the others.
_SUBSYSTEM_WEIGHTS = {
    "DT": 1.0,
    "CSC": 1.0,
    "RPC": 1.0,
    "Tracker": 1.2,
    "ECAL": 1.5,
    "HCAL": 1.5,
    "CASTOR": 0.5,
}
# |eta| coverage of each subsystem (a dead region is drawn inside it, on one side).
_ETA_RANGE = {
    "DT": (0.0, 1.2),
    "CSC": (0.9, 2.4),
    "RPC": (0.0, 1.6),
    "Tracker": (0.0, 2.5),
    "ECAL": (0.0, 3.0),
    "HCAL": (0.0, 3.0),
    "CASTOR": (5.2, 6.6),
}
# Acceptances and thresholds.
_MUON_ETA_MAX = 2.4
_PHOTON_ETA_MAX = 2.5
_TRACKER_ETA_MAX = 2.5
_ECAL_ETA_MAX = 3.0
_JET_ETA_MAX = 4.7
_PHOTON_PT_MIN = 10.0
_CALO_JET_PT_MIN = 15.0
_PF_PT_MIN = 1.0
_PF_PILEUP_RATE = 0.5
_MUON_PT_MIN = 3.0
_PILEUP_PER_LUMINOSITY = 10.0
_DIFFICULTY_LEVELS = {"easy": 0.5, "default": 1.0, "hard": 2.0}
_TWO_PI = 2.0 * np.pi


def detector_visibility(by_mode=False):
    """Return the visibility map as a table of 0/1 per channel.

    A fault changes the per-lumisection statistics of exactly the channels marked 1 in its
    row, and leaves the others bit for bit unchanged. ``CASTOR`` (a very forward calorimeter
    outside every channel's acceptance) is visible in none. A calorimeter energy-scale drift
    does not reach ``pf`` (particle flow calibrates its calorimeter candidates in situ).

    Parameters
    ----------
    by_mode : bool, default=False
        One row per subsystem (the channels any of its faults can be visible in,
        :data:`DETECTOR_VISIBILITY`), or one row per (subsystem, fault mode)
        (:data:`FAULT_VISIBILITY`, what ``channel_truth`` follows).

    Returns
    -------
    visibility : pandas.DataFrame
        One 0/1 column per channel of :data:`DETECTOR_CHANNELS`.

    Examples
    --------
    >>> from channeldecomp.datasets import detector_visibility
    >>> detector_visibility().loc["ECAL"].to_dict()
    {'muons': 0, 'photons': 1, 'pf': 1, 'calo_jets': 1}
    >>> detector_visibility(by_mode=True).loc[("ECAL", "scale_drift")].to_dict()
    {'muons': 0, 'photons': 1, 'pf': 0, 'calo_jets': 1}
    """
    if by_mode:
        rows = list(FAULT_VISIBILITY)
        index = pd.MultiIndex.from_tuples(rows, names=["subsystem", "mode"])
        table = FAULT_VISIBILITY
    else:
        rows = list(_SUBSYSTEMS)
        index = pd.Index(rows, name="subsystem")
        table = DETECTOR_VISIBILITY
    return pd.DataFrame(
        [[int(c in table[row]) for c in DETECTOR_CHANNELS] for row in rows],
        index=index,
        columns=list(DETECTOR_CHANNELS),
    )


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------


def _check_positive_int(name, value):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def _check_difficulty(difficulty):
    if isinstance(difficulty, str):
        if difficulty not in _DIFFICULTY_LEVELS:
            raise ValueError(
                f"difficulty must be a positive number or one of {list(_DIFFICULTY_LEVELS)}; "
                f"got {difficulty!r}."
            )
        return _DIFFICULTY_LEVELS[difficulty]
    if not isinstance(difficulty, numbers.Real) or isinstance(difficulty, bool) or difficulty <= 0:
        raise ValueError(
            f"difficulty must be a positive number or one of {list(_DIFFICULTY_LEVELS)}; "
            f"got {difficulty!r}."
        )
    return float(difficulty)


def _check_subsystems(subsystems):
    if subsystems is None:
        return list(_SUBSYSTEMS)
    if isinstance(subsystems, str):
        subsystems = [subsystems]
    subsystems = list(subsystems)
    unknown = [s for s in subsystems if s not in DETECTOR_VISIBILITY]
    if unknown:
        raise ValueError(
            f"subsystems names unknown subsystem(s) {unknown}; choose among {list(_SUBSYSTEMS)}."
        )
    if not subsystems:
        raise ValueError("subsystems must name at least one subsystem (or be None for all).")
    return subsystems


def _check_fault_modes(fault_modes):
    if fault_modes is None:
        return dict(DETECTOR_FAULT_MODES)
    if isinstance(fault_modes, str):
        fault_modes = [fault_modes]
    fault_modes = list(fault_modes)
    unknown = [m for m in fault_modes if m not in _MODES]
    if unknown:
        raise ValueError(
            f"fault_modes names unknown mode(s) {unknown}; choose among {list(_MODES)}."
        )
    return {
        s: tuple(m for m in modes if m in fault_modes) for s, modes in DETECTOR_FAULT_MODES.items()
    }


# --------------------------------------------------------------------------------------------
# Running conditions: fills, runs, luminosity, events
# --------------------------------------------------------------------------------------------


def _running_conditions(rng, n_ls, events_per_lumisection):
    """Runs of consecutive LS, luminosity decaying within fills, events per LS."""
    run = np.empty(n_ls, dtype=np.int64)
    lumi = np.empty(n_ls, dtype=np.int64)
    luminosity = np.empty(n_ls)
    start, run_number = 0, 146_000 + int(rng.integers(0, 500))
    while start < n_ls:
        # One fill: luminosity L0 * exp(-t / tau), split into one to three runs.
        fill_length = int(rng.integers(80, 400))
        peak = rng.uniform(0.8, 1.6)
        lifetime = rng.uniform(300.0, 900.0)
        t = np.arange(fill_length)
        fill_luminosity = peak * np.exp(-t / lifetime)
        n_runs = int(rng.integers(1, 4))
        cuts = np.sort(rng.choice(np.arange(1, fill_length), size=n_runs - 1, replace=False))
        bounds = np.concatenate([[0], cuts, [fill_length]])
        for a, b in zip(bounds[:-1], bounds[1:]):
            stop = min(start + (b - a), n_ls)
            size = stop - start
            if size <= 0:
                break
            run[start:stop] = run_number
            lumi[start:stop] = np.arange(1, size + 1)
            luminosity[start:stop] = fill_luminosity[a : a + size]
            start = stop
            run_number += int(rng.integers(1, 8))
        # A gap between fills: the next fill starts fresh.
        run_number += int(rng.integers(5, 40))
    luminosity *= rng.normal(1.0, 0.01, size=n_ls)
    n_events = rng.poisson(events_per_lumisection * luminosity)
    return run, lumi, luminosity, np.maximum(n_events, 1)


# --------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------


class _Faults:
    """Per-LS fault parameters of every subsystem, looked up per object."""

    def __init__(self, n_ls):
        self.mode = {s: np.full(n_ls, "", dtype=object) for s in _SUBSYSTEMS}
        self.strength = {s: np.zeros(n_ls) for s in _SUBSYSTEMS}
        # Region of a dead region or hot cell: eta interval, phi interval (start, width).
        self.eta_low = {s: np.zeros(n_ls) for s in _SUBSYSTEMS}
        self.eta_high = {s: np.zeros(n_ls) for s in _SUBSYSTEMS}
        self.phi_low = {s: np.zeros(n_ls) for s in _SUBSYSTEMS}
        self.phi_width = {s: np.zeros(n_ls) for s in _SUBSYSTEMS}
        self.sign = {s: np.ones(n_ls) for s in _SUBSYSTEMS}

    def active(self, subsystem, mode):
        """Boolean per LS: the subsystem suffers this mode."""
        return self.mode[subsystem] == mode

    def any_bad(self, subsystem):
        return self.mode[subsystem] != ""

    def in_region(self, subsystem, mode, ls, eta, phi):
        """Boolean per object: inside the subsystem's faulty eta-phi region of its LS."""
        hit = self.active(subsystem, mode)[ls]
        if not hit.any():
            return hit
        idx = np.flatnonzero(hit)
        l = ls[idx]
        e, p = eta[idx], phi[idx]
        inside = (e >= self.eta_low[subsystem][l]) & (e < self.eta_high[subsystem][l])
        inside &= np.mod(p - self.phi_low[subsystem][l], _TWO_PI) < self.phi_width[subsystem][l]
        hit[idx] = inside
        return hit


def _draw_faults(
    rng,
    n_ls,
    *,
    run,
    bad_fraction,
    mean_fault_length,
    multi_fault_fraction,
    difficulty,
    subsystems,
    fault_modes,
):
    faults = _Faults(n_ls)
    episodes = []
    candidates = [s for s in subsystems if fault_modes[s]]
    if not candidates or bad_fraction == 0:
        return faults, pd.DataFrame(
            columns=["subsystem", "mode", "strength", "first", "last"]
        ).astype({"first": np.int64, "last": np.int64, "strength": float})
    weights = np.array([_SUBSYSTEM_WEIGHTS[s] for s in candidates])
    weights /= weights.sum()
    is_bad = np.zeros(n_ls, dtype=bool)
    target = bad_fraction * n_ls
    mean_length = min(float(mean_fault_length), max(1.0, n_ls / 10))
    attempts = 0
    while is_bad.sum() < target and attempts < 100 * n_ls:
        attempts += 1
        length = int(rng.geometric(1.0 / mean_length))
        first = int(rng.integers(0, n_ls))
        # A fault block stays inside one run.
        run_end = first + int(np.searchsorted(run[first:], run[first], side="right"))
        last = min(first + length, run_end, n_ls) - 1
        if is_bad[first : last + 1].all():
            continue
        n_sub = 2 if (len(candidates) > 1 and rng.random() < multi_fault_fraction) else 1
        chosen = rng.choice(len(candidates), size=n_sub, replace=False, p=weights)
        for c in chosen:
            subsystem = candidates[c]
            mode = fault_modes[subsystem][int(rng.integers(len(fault_modes[subsystem])))]
            # Strengths from obvious to subtle: log-uniform over a factor 4, scaled by difficulty.
            strength = float(np.exp(rng.uniform(np.log(0.7), np.log(2.8)))) / difficulty
            block = slice(first, last + 1)
            faults.mode[subsystem][block] = mode
            faults.strength[subsystem][block] = strength
            eta_min, eta_max = _ETA_RANGE[subsystem]
            side = rng.choice([-1.0, 1.0])
            if mode == "dead_region":
                eta_width = (eta_max - eta_min) * min(1.5 * strength, 1.0)
                low = eta_min + rng.random() * max(eta_max - eta_min - eta_width, 0.0)
                phi_width = _TWO_PI * min(0.5 * strength, 0.75)
            else:  # noisy cells: a small hot spot
                low = eta_min + rng.random() * (eta_max - eta_min - 0.1)
                eta_width, phi_width = 0.1, 0.1
            lo, hi = (low, low + eta_width) if side > 0 else (-low - eta_width, -low)
            faults.eta_low[subsystem][block] = lo
            faults.eta_high[subsystem][block] = hi
            faults.phi_low[subsystem][block] = rng.uniform(-np.pi, np.pi)
            faults.phi_width[subsystem][block] = phi_width
            faults.sign[subsystem][block] = rng.choice([-1.0, 1.0])
            episodes.append((subsystem, mode, strength, first, last))
        is_bad[first : last + 1] = True
    episodes = pd.DataFrame(episodes, columns=["subsystem", "mode", "strength", "first", "last"])
    return faults, episodes


# --------------------------------------------------------------------------------------------
# Objects
# --------------------------------------------------------------------------------------------


def _pareto(rng, size, minimum, index):
    """Falling spectrum dN/dpT ~ pT^-(index + 1) above ``minimum``."""
    return minimum * (1.0 - rng.random(size)) ** (-1.0 / index)


def _uniform_phi(rng, size):
    return rng.uniform(-np.pi, np.pi, size)


def _wrap_phi(phi):
    return np.mod(phi + np.pi, _TWO_PI) - np.pi


def _per_event(rng, event_rate):
    """Object counts per event and the event index of each object."""
    counts = rng.poisson(event_rate)
    return counts, np.repeat(np.arange(counts.size), counts)


def _merge_positions(event_a, event_b, n_events_total):
    """Positions in the event-ordered merge of two event-ordered lists (``a`` first per event)."""
    count_a = np.bincount(event_a, minlength=n_events_total)
    count_b = np.bincount(event_b, minlength=n_events_total)
    before_b = np.concatenate([[0], np.cumsum(count_b)[:-1]])
    through_a = np.cumsum(count_a)
    position_a = np.arange(event_a.size) + before_b[event_a]
    position_b = np.arange(event_b.size) + through_a[event_b]
    return position_a, position_b


def _scatter(position, values_a, values_b):
    out = np.empty(values_a.size + values_b.size, dtype=np.result_type(values_a, values_b))
    out[position[0]] = values_a
    out[position[1]] = values_b
    return out


def _collect(event, n_events_total, properties, keep=None, extra=None):
    """Filter objects, merge extra (spurious) ones, and order everything by event."""
    if keep is not None:
        event = event[keep]
        properties = {k: v[keep] for k, v in properties.items()}
    if extra is not None and extra[0].size:
        extra_event, extra_properties = extra
        order = np.argsort(extra_event, kind="stable")
        extra_event = extra_event[order]
        extra_properties = {k: v[order] for k, v in extra_properties.items()}
        position = _merge_positions(event, extra_event, n_events_total)
        event = _scatter(position, event, extra_event)
        properties = {k: _scatter(position, v, extra_properties[k]) for k, v in properties.items()}
    counts = np.bincount(event, minlength=n_events_total).astype(np.int64)
    return counts, {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in properties.items()}


def _noisy_cell_objects(rng, faults, subsystem, event_ls, *, rate, pt_min, pt_scale):
    """Spurious objects at the hot spot of a noisy subsystem, for the events of noisy LS."""
    noisy = faults.active(subsystem, "noisy_cells")
    ev = np.flatnonzero(noisy[event_ls])
    if ev.size == 0:
        empty = np.zeros(0)
        return np.zeros(0, dtype=np.int64), empty, empty, empty
    ls = event_ls[ev]
    counts = rng.poisson(rate * faults.strength[subsystem][ls])
    event = np.repeat(ev, counts)
    ls = np.repeat(ls, counts)
    n = event.size
    eta = rng.uniform(faults.eta_low[subsystem][ls], faults.eta_high[subsystem][ls])
    phi = _wrap_phi(
        faults.phi_low[subsystem][ls] + rng.uniform(0, 1, n) * faults.phi_width[subsystem][ls]
    )
    pt = pt_min + rng.exponential(pt_scale, n)
    return event, pt, eta, phi


def _muons(rng, faults, event_ls, n_events_total):
    counts, event = _per_event(rng, np.full(n_events_total, 1.5))
    n = event.size
    ls = event_ls[event]
    pt_true = _pareto(rng, n, _MUON_PT_MIN, 2.5)
    eta = rng.uniform(-_MUON_ETA_MAX, _MUON_ETA_MAX, n)
    phi = _uniform_phi(rng, n)
    abs_eta = np.abs(eta)

    # Standalone muon chambers: DT in the barrel, CSC in the endcaps, overlapping in 0.9-1.2.
    in_dt = abs_eta < _ETA_RANGE["DT"][1]
    in_csc = abs_eta >= _ETA_RANGE["CSC"][0]
    dt_ok = ~faults.in_region("DT", "dead_region", ls, eta, phi)
    dt_ok &= ~(
        faults.active("DT", "efficiency_drop")[ls] & (rng.random(n) < _drop(faults, "DT", ls))
    )
    csc_ok = ~faults.in_region("CSC", "dead_region", ls, eta, phi)
    csc_ok &= ~(
        faults.active("CSC", "efficiency_drop")[ls] & (rng.random(n) < _drop(faults, "CSC", ls))
    )
    found = (in_dt & dt_ok) | (in_csc & csc_ok)
    found &= rng.random(n) < 0.98

    # Inner track: tracker efficiency and momentum resolution.
    found &= ~faults.in_region("Tracker", "dead_region", ls, eta, phi)
    found &= ~(
        faults.active("Tracker", "efficiency_drop")[ls]
        & (rng.random(n) < _drop(faults, "Tracker", ls))
    )
    resolution = 0.01 + 0.0002 * pt_true + 0.005 * abs_eta
    resolution = np.hypot(resolution, _extra_resolution(faults, "Tracker", ls, 0.03 * pt_true))
    pt = pt_true * (1.0 + resolution * rng.standard_normal(n))

    # The muon stream is read from muon-triggered events: an RPC trigger inefficiency loses
    # the muons of a fraction of the events.
    rpc_drop = faults.active("RPC", "efficiency_drop") * np.minimum(
        0.35 * faults.strength["RPC"], 0.9
    )
    event_lost = rng.random(n_events_total) < rpc_drop[event_ls]
    found &= ~event_lost[event]
    found &= pt > _MUON_PT_MIN
    return _collect(event, n_events_total, {"pt": pt, "eta": eta, "phi": phi}, keep=found)


def _drop(faults, subsystem, ls):
    """Probability of losing an object under an efficiency drop."""
    return np.minimum(0.35 * faults.strength[subsystem][ls], 0.9)


def _extra_resolution(faults, subsystem, ls, scale):
    """Additional relative resolution under a resolution loss (0 elsewhere)."""
    return faults.active(subsystem, "resolution_loss")[ls] * scale * faults.strength[subsystem][ls]


def _energy_scale(faults, subsystem, ls):
    """Relative energy scale: 1, or drifted by +-20 % x strength."""
    drift = faults.active(subsystem, "scale_drift")[ls] * 0.2 * faults.strength[subsystem][ls]
    return 1.0 + faults.sign[subsystem][ls] * drift


def _photons(rng, noise_rng, faults, event_ls, event_pileup, n_events_total):
    counts, event = _per_event(rng, 1.0 + 0.03 * event_pileup)
    n = event.size
    ls = event_ls[event]
    pt_true = _pareto(rng, n, 0.7 * _PHOTON_PT_MIN, 2.5)
    eta = rng.uniform(-_PHOTON_ETA_MAX, _PHOTON_ETA_MAX, n)
    phi = _uniform_phi(rng, n)
    resolution = np.hypot(0.02, 0.1 / np.sqrt(pt_true))
    resolution = np.hypot(resolution, _extra_resolution(faults, "ECAL", ls, 0.4))
    pt = pt_true * _energy_scale(faults, "ECAL", ls) * (1.0 + resolution * rng.standard_normal(n))
    keep = ~faults.in_region("ECAL", "dead_region", ls, eta, phi)
    # Barrel-endcap transition region: no photon identification there.
    keep &= ~((np.abs(eta) > 1.4442) & (np.abs(eta) < 1.566))
    keep &= pt > _PHOTON_PT_MIN
    spurious_event, spurious_pt, spurious_eta, spurious_phi = _noisy_cell_objects(
        noise_rng, faults, "ECAL", event_ls, rate=0.2, pt_min=_PHOTON_PT_MIN, pt_scale=15.0
    )
    extra = (spurious_event, {"pt": spurious_pt, "eta": spurious_eta, "phi": spurious_phi})
    return _collect(
        event, n_events_total, {"pt": pt, "eta": eta, "phi": phi}, keep=keep, extra=extra
    ), (spurious_event, spurious_pt, spurious_eta, spurious_phi)


def _jets(rng, noise_rng, faults, event_ls, event_pileup, n_events_total, ecal_noise):
    """Underlying jets, seen as PF candidates and as calorimeter jets."""
    counts, event = _per_event(rng, 1.2 + 0.08 * event_pileup)
    n = event.size
    ls = event_ls[event]
    pt_true = _pareto(rng, n, 20.0, 3.0)
    eta = rng.normal(0.0, 2.0, n)
    eta = np.where(np.abs(eta) > _JET_ETA_MAX, rng.uniform(-_JET_ETA_MAX, _JET_ETA_MAX, n), eta)
    phi = _uniform_phi(rng, n)
    # Energy fractions carried by charged hadrons, photons and neutral hadrons.
    fractions = rng.dirichlet([5.0, 3.0, 2.5], size=n)
    outside_ecal = np.abs(eta) > _ECAL_ETA_MAX
    charged_pt = fractions[:, 0] * pt_true
    photon_pt = fractions[:, 1] * pt_true
    neutral_pt = fractions[:, 2] * pt_true

    # --- Calorimeter jets: ECAL part (photons) + HCAL part (hadrons), non-compensating. ---
    ecal_scale = _energy_scale(faults, "ECAL", ls)
    hcal_scale = _energy_scale(faults, "HCAL", ls)
    ecal_res = np.hypot(0.05, _extra_resolution(faults, "ECAL", ls, 0.4))
    hcal_res = np.hypot(0.10, _extra_resolution(faults, "HCAL", ls, 0.4))
    ecal_part = photon_pt * ecal_scale * (1.0 + ecal_res * rng.standard_normal(n))
    hcal_part = (charged_pt + neutral_pt) * 0.85 * hcal_scale
    hcal_part *= 1.0 + (hcal_res + 0.8 / np.sqrt(pt_true)) * rng.standard_normal(n)
    # Forward of the ECAL, the HCAL (HF) measures everything.
    hcal_part = np.where(outside_ecal, hcal_part + ecal_part * 0.85 * hcal_scale, hcal_part)
    ecal_part = np.where(outside_ecal, 0.0, ecal_part)
    jet_eta = eta + rng.normal(0.0, 0.03, n)
    jet_phi = _wrap_phi(phi + rng.normal(0.0, 0.03, n))
    ecal_part *= ~faults.in_region("ECAL", "dead_region", ls, jet_eta, jet_phi)
    hcal_part *= ~faults.in_region("HCAL", "dead_region", ls, jet_eta, jet_phi)
    # Pile-up adds an offset of diffuse energy.
    offset = 0.5 * event_pileup[event] * rng.exponential(1.0, n)
    ecal_part = np.maximum(ecal_part, 0.0)
    hcal_part = np.maximum(hcal_part + offset, 0.0)
    calo_pt = ecal_part + hcal_part
    em_fraction = np.divide(ecal_part, calo_pt, out=np.zeros(n), where=calo_pt > 0)
    mass = calo_pt * rng.beta(2.0, 12.0, n)
    # Noisy cells: spurious calorimeter jets at the hot spot.
    hcal_noise = _noisy_cell_objects(
        noise_rng, faults, "HCAL", event_ls, rate=0.25, pt_min=_CALO_JET_PT_MIN, pt_scale=20.0
    )
    e_event, e_pt, e_eta, e_phi = ecal_noise
    e_pt_jet = e_pt * 1.2 + 4.0
    h_event, h_pt, h_eta, h_phi = hcal_noise
    extra_event = np.concatenate([e_event, h_event])
    extra_pt = np.concatenate([e_pt_jet, h_pt])
    extra = (
        extra_event,
        {
            "pt": extra_pt,
            "eta": np.concatenate([e_eta, h_eta]),
            "phi": np.concatenate([e_phi, h_phi]),
            "mass": extra_pt * noise_rng.beta(1.0, 30.0, extra_pt.size),
            "em_fraction": np.concatenate([np.ones(e_pt.size), np.zeros(h_pt.size)]),
        },
    )
    keep = calo_pt > _CALO_JET_PT_MIN
    calo = _collect(
        event,
        n_events_total,
        {"pt": calo_pt, "eta": jet_eta, "phi": jet_phi, "mass": mass, "em_fraction": em_fraction},
        keep=keep,
        extra=extra,
    )

    # --- PF candidates: one charged, one photon and one neutral hadron per jet + pile-up. ---
    # kind: 0 charged hadron (tracker), 1 photon (ECAL), 2 neutral hadron (HCAL)
    # Jet constituents, jet by jet (so already in event order).
    # The photon part comes as two photons (a neutral pion), sharing it at random.
    photon_share = rng.uniform(0.2, 0.8, n)
    j_pt = np.column_stack(
        [charged_pt, photon_pt * photon_share, photon_pt * (1.0 - photon_share), neutral_pt]
    ).ravel()
    j_kind = np.tile(np.array([0, 1, 1, 2]), n)
    j_event = np.repeat(event, 4)
    j_eta = np.repeat(eta, 4) + rng.normal(0.0, 0.08, 4 * n)
    j_phi = _wrap_phi(np.repeat(phi, 4) + rng.normal(0.0, 0.08, 4 * n))
    n_pu = rng.poisson(_PF_PILEUP_RATE * event_pileup)
    pu_event = np.repeat(np.arange(n_events_total), n_pu)
    m = pu_event.size
    position = _merge_positions(j_event, pu_event, n_events_total)
    c_pt = _scatter(position, j_pt, 0.3 + rng.exponential(1.0, m))
    c_kind = _scatter(position, j_kind, rng.choice(3, size=m, p=[0.6, 0.3, 0.1]))
    c_event = _scatter(position, j_event, pu_event)
    c_eta = _scatter(position, j_eta, rng.uniform(-_JET_ETA_MAX, _JET_ETA_MAX, m))
    c_phi = _scatter(position, j_phi, _uniform_phi(rng, m))
    k = c_pt.size
    c_ls = event_ls[c_event]
    abs_eta = np.abs(c_eta)
    # Outside its detector's acceptance a candidate is measured by the next one out.
    c_kind = np.where((c_kind == 0) & (abs_eta > _TRACKER_ETA_MAX), 2, c_kind)
    c_kind = np.where((c_kind == 1) & (abs_eta > _ECAL_ETA_MAX), 2, c_kind)
    charged, photon, neutral = c_kind == 0, c_kind == 1, c_kind == 2
    keep = np.ones(k, dtype=bool)
    # Charged hadrons: tracker.
    res = np.hypot(0.01 + 0.0005 * c_pt, _extra_resolution(faults, "Tracker", c_ls, 0.03 * c_pt))
    measured = np.where(charged, c_pt * (1.0 + res * rng.standard_normal(k)), 0.0)
    keep &= ~(charged & faults.in_region("Tracker", "dead_region", c_ls, c_eta, c_phi))
    keep &= ~(
        charged
        & faults.active("Tracker", "efficiency_drop")[c_ls]
        & (rng.random(k) < _drop(faults, "Tracker", c_ls))
    )
    # Photons: ECAL.
    res = np.hypot(0.03, _extra_resolution(faults, "ECAL", c_ls, 0.4))
    measured = np.where(
        photon,
        c_pt * (1.0 + res * rng.standard_normal(k)),
        measured,
    )
    keep &= ~(photon & faults.in_region("ECAL", "dead_region", c_ls, c_eta, c_phi))
    # Neutral hadrons: HCAL.
    res = np.hypot(0.12, _extra_resolution(faults, "HCAL", c_ls, 0.4))
    measured = np.where(
        neutral,
        c_pt * (1.0 + res * rng.standard_normal(k)),
        measured,
    )
    keep &= ~(neutral & faults.in_region("HCAL", "dead_region", c_ls, c_eta, c_phi))
    keep &= measured > _PF_PT_MIN
    charge = np.where(charged, rng.choice([-1.0, 1.0], size=k), 0.0)
    # Particle type as in PF candidate collections: |pdgId| 211, 22 or 130.
    pdg_id = np.array([211.0, 22.0, 130.0])[c_kind]
    pf_extra = (
        extra_event,
        {
            "pt": np.concatenate([e_pt, h_pt]),
            "eta": np.concatenate([e_eta, h_eta]),
            "phi": np.concatenate([e_phi, h_phi]),
            "charge": np.zeros(extra_event.size),
            "pdg_id": np.concatenate([np.full(e_pt.size, 22.0), np.full(h_pt.size, 130.0)]),
        },
    )
    pf = _collect(
        c_event,
        n_events_total,
        {"pt": measured, "eta": c_eta, "phi": c_phi, "charge": charge, "pdg_id": pdg_id},
        keep=keep,
        extra=pf_extra,
    )
    return pf, calo


# The streams of the per-event draws: children of the seed's SeedSequence (0 conditions,
# 1 faults and 3 labels are per LS; 8 the histograms). A block of LS after the first draws its
# events from streams of its own, children of child 8 + block number.
_EVENT_STREAMS = {"noise": 2, "pileup": 4, "muon": 5, "photon": 6, "jet": 7}


def _simulate_events(seed, block, faults, luminosity, n_events, first, stop):
    """The events of LS ``first`` to ``stop - 1``: (objects, event_columns) of ``from_arrays``."""
    if block == 0:
        sequences = [np.random.SeedSequence(seed, spawn_key=(i,)) for i in _EVENT_STREAMS.values()]
    else:
        sequences = np.random.SeedSequence(seed, spawn_key=(8 + block,)).spawn(len(_EVENT_STREAMS))
    noise_rng, pileup_rng, muon_rng, photon_rng, jet_rng = map(np.random.default_rng, sequences)
    block_events = n_events[first:stop]
    n_events_total = int(block_events.sum())
    event_ls = np.repeat(np.arange(first, stop), block_events)
    event_luminosity = luminosity[event_ls]
    event_pileup = pileup_rng.poisson(_PILEUP_PER_LUMINOSITY * event_luminosity).astype(float)

    muons = _muons(muon_rng, faults, event_ls, n_events_total)
    photons, ecal_noise = _photons(
        photon_rng, noise_rng, faults, event_ls, event_pileup, n_events_total
    )
    pf, calo_jets = _jets(
        jet_rng, noise_rng, faults, event_ls, event_pileup, n_events_total, ecal_noise
    )
    objects = {"muons": muons, "photons": photons, "pf": pf, "calo_jets": calo_jets}
    return objects, {"luminosity": event_luminosity, "pileup": event_pileup}


class SimulatedBlocks(Sequence):
    """The lumisections of a simulation in blocks of consecutive LS, simulated on access.

    Returned as ``blocks`` by ``simulate_lumisections(..., block_size=k)``: block ``i`` is a
    :class:`~channeldecomp.LumiSections` of the LS ``i * k`` to ``(i + 1) * k - 1`` (in the
    order of ``keys``), whose events are drawn each time it is accessed, the same each time. Only
    one block's events are in memory at once when they are used one by one::

        features = LumiSectionPercentiles().fit(data.blocks[0])
        X = pd.concat([features.transform(block) for block in data.blocks])

    The LS, runs, faults, labels and truth tables are those of the simulation without blocks;
    the events of every block after the first come from random streams of their own, so they
    differ from those of one draw (with the same distributions).

    Made by :func:`simulate_lumisections`, not constructed directly. A block is indexed by an
    integer (negative from the end); ``len`` is the number of blocks.

    Attributes
    ----------
    block_size : int
        LS per block (the last block may hold fewer).
    """

    def __init__(self, seed, faults, run, lumi, luminosity, n_events, block_size):
        self._seed = seed
        self._faults = faults
        self._run, self._lumi = run, lumi
        self._luminosity, self._n_events = luminosity, n_events
        n_ls = len(run)
        self.block_size = n_ls if block_size is None else min(block_size, n_ls)
        self._starts = np.arange(0, n_ls, self.block_size)

    def __len__(self):
        return len(self._starts)

    def __getitem__(self, index):
        if not isinstance(index, numbers.Integral) or isinstance(index, bool):
            raise TypeError(
                f"Blocks are indexed by an integer (0 to {len(self) - 1}); got "
                f"{type(index).__name__}. Iterate over the blocks to use several."
            )
        if not -len(self) <= index < len(self):
            raise IndexError(f"block {index} out of range: there are {len(self)} blocks.")
        block = int(index) % len(self)
        first, stop = self._bounds(block)
        objects, event_columns = self._arrays(block)
        from ..features import LumiSections

        return LumiSections.from_arrays(
            self._run[first:stop],
            self._lumi[first:stop],
            self._n_events[first:stop],
            objects,
            event_columns=event_columns,
        )

    def _bounds(self, block):
        first = int(self._starts[block])
        return first, min(first + self.block_size, len(self._run))

    def _arrays(self, block):
        """The (objects, event_columns) of one block, for ``LumiSections.from_arrays``."""
        first, stop = self._bounds(block)
        return _simulate_events(
            self._seed, block, self._faults, self._luminosity, self._n_events, first, stop
        )

    def __repr__(self):
        return (
            f"<SimulatedBlocks: {len(self._run)} lumisections in {len(self)} blocks of up to "
            f"{self.block_size}, simulated on access>"
        )


def _simulate_arrays(
    n_lumisections=1000,
    events_per_lumisection=500,
    *,
    difficulty=1.0,
    bad_fraction=0.25,
    mean_fault_length=15,
    multi_fault_fraction=0.15,
    subsystems=None,
    fault_modes=None,
    label_noise=0.0,
    random_state=None,
    histograms=False,
    block_size=None,
):
    """Simulate; return the arrays of ``LumiSections.from_arrays`` and the truth.

    ``arrays["blocks"]`` is the :class:`SimulatedBlocks` of the events; with
    ``block_size=None`` its one block is drawn, as ``arrays["objects"]`` and
    ``arrays["event_columns"]``.
    """
    n_ls = _check_positive_int("n_lumisections", n_lumisections)
    events_per_lumisection = _check_positive_int("events_per_lumisection", events_per_lumisection)
    difficulty = _check_difficulty(difficulty)
    bad_fraction = _check_fraction("bad_fraction", bad_fraction, upper_open=True)
    multi_fault_fraction = _check_fraction("multi_fault_fraction", multi_fault_fraction)
    label_noise = _check_fraction("label_noise", label_noise)
    if not isinstance(mean_fault_length, numbers.Real) or mean_fault_length < 1:
        raise ValueError(f"mean_fault_length must be a number >= 1; got {mean_fault_length!r}.")
    subsystems = _check_subsystems(subsystems)
    fault_modes = _check_fault_modes(fault_modes)
    if block_size is not None:
        block_size = _check_positive_int("block_size", block_size)

    if isinstance(random_state, np.random.Generator):
        seed = int(random_state.integers(2**31 - 1))
    else:
        seed = int(check_random_state(random_state).randint(2**31 - 1))
    # Independent streams: the physics draws do not depend on whether (or which) faults are
    # injected, so the same seed without faults gives the same events where nothing failed.
    conditions_rng, fault_rng, label_rng = (
        np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(i,))) for i in (0, 1, 3)
    )
    # The ME histograms draw from a ninth stream (spawn(9) keeps the first eight).
    histogram_seed = np.random.SeedSequence(seed).spawn(9)[8]

    run, lumi, luminosity, n_events = _running_conditions(
        conditions_rng, n_ls, events_per_lumisection
    )
    faults, episodes = _draw_faults(
        fault_rng,
        n_ls,
        run=run,
        bad_fraction=bad_fraction,
        mean_fault_length=mean_fault_length,
        multi_fault_fraction=multi_fault_fraction,
        difficulty=difficulty,
        subsystems=subsystems,
        fault_modes=fault_modes,
    )
    blocks = SimulatedBlocks(seed, faults, run, lumi, luminosity, n_events, block_size)

    subsystem_good = pd.DataFrame({s: (~faults.any_bad(s)).astype(np.int64) for s in _SUBSYSTEMS})
    channel_good = np.ones((n_ls, len(DETECTOR_CHANNELS)), dtype=bool)
    for (s, mode), channels in FAULT_VISIBILITY.items():
        for c in channels:
            channel_good[:, DETECTOR_CHANNELS.index(c)] &= ~faults.active(s, mode)
    channel_truth = pd.DataFrame(channel_good.astype(np.int64), columns=list(DETECTOR_CHANNELS))
    any_bad = (subsystem_good == 0).any(axis=1).to_numpy()
    label_flipped = label_rng.random(n_ls) < label_noise
    y = (~(any_bad ^ label_flipped)).astype(np.int64)
    fault_mode = pd.DataFrame({s: faults.mode[s].astype(str) for s in _SUBSYSTEMS})
    fault_strength = pd.DataFrame({s: faults.strength[s] for s in _SUBSYSTEMS})

    arrays = {"run": run, "lumi": lumi, "n_events": n_events.astype(np.int64), "blocks": blocks}
    if block_size is None:
        arrays["objects"], arrays["event_columns"] = blocks._arrays(0)
    if histograms:
        from ._histograms import simulate_histograms

        arrays["histograms"] = simulate_histograms(
            histogram_seed,
            faults,
            run=run,
            lumi=lumi,
            n_events=n_events,
            luminosity=luminosity,
        )
    truth = {
        "y": y,
        "subsystems": subsystem_good,
        "channel_truth": channel_truth,
        "luminosity": luminosity,
        "fault_mode": fault_mode,
        "fault_strength": fault_strength,
        "faults": episodes,
        "label_flipped": label_flipped,
    }
    return arrays, truth


def simulate_lumisections(
    n_lumisections=1000,
    events_per_lumisection=500,
    *,
    difficulty=1.0,
    bad_fraction=0.25,
    mean_fault_length=15,
    multi_fault_fraction=0.15,
    subsystems=None,
    fault_modes=None,
    label_noise=0.0,
    random_state=None,
    histograms=False,
    block_size=None,
):
    """Simulate lumisections of a CMS-like detector with injected subsystem faults.

    **Running conditions.** Lumisections (LS) come in runs of consecutive LS; runs belong to
    fills whose instantaneous luminosity starts at a peak of 0.8-1.6 (arbitrary units, 1 is
    typical) and decays exponentially. The number of events of an LS is Poisson with mean
    ``events_per_lumisection`` x luminosity, and the pile-up of each event is Poisson with mean
    10 x luminosity.

    **Objects.** Four channels of objects per event, each with ``pt``, ``eta`` and ``phi``
    (uniform in phi, falling power-law pT spectra, per-type eta acceptance):

    - ``muons`` (1.5 per event, pT > 3, abs(eta) < 2.4): found by the DT chambers
      (abs(eta) < 1.2) or the CSC chambers (abs(eta) > 0.9), with an inner tracker track whose
      resolution grows with pT;
    - ``photons`` (pT > 10, abs(eta) < 2.5 outside the barrel-endcap gap): measured by ECAL;
    - ``pf`` (particle-flow candidates, pT > 1, plus ``charge`` and ``pdg_id``, the absolute
      particle code 211, 22 or 130): each underlying jet gives a
      charged hadron (tracker, abs(eta) < 2.5), two photons (ECAL, abs(eta) < 3) and a
      neutral hadron (HCAL), carrying Dirichlet-distributed fractions of the jet pT; pile-up
      adds soft candidates;
    - ``calo_jets`` (pT > 15, abs(eta) < 4.7, plus ``mass`` and ``em_fraction``): the *same*
      underlying jets, measured by the calorimeters alone: the photon part by ECAL, the hadrons
      by a non-compensating HCAL (response 0.85) with a worse resolution, plus a pile-up offset.

    **Faults.** Fault episodes last for blocks of consecutive LS within a run (geometric
    lengths of mean ``mean_fault_length``); a fraction ``multi_fault_fraction`` of episodes hits
    two subsystems at once. Each subsystem fails in the modes of
    :data:`DETECTOR_FAULT_MODES`:

    - ``dead_region``: objects (or the subsystem's share of their energy) in an eta-phi region
      are lost;
    - ``scale_drift``: the energy scale moves by +-20 % x strength;
    - ``resolution_loss``: an extra relative smearing (tracker: growing with pT, as a sagitta
      error);
    - ``efficiency_drop``: objects (RPC: the muons of whole events, a muon-trigger loss) are lost
      with probability 0.35 x strength;
    - ``noisy_cells``: a hot spot adds spurious objects.

    A fault is visible in exactly the channels of :data:`FAULT_VISIBILITY` (see
    :func:`detector_visibility`): DT, CSC and RPC in ``muons``; Tracker in ``muons`` and
    ``pf``; ECAL in ``photons``, ``pf`` and ``calo_jets``; HCAL in ``pf`` and ``calo_jets``,
    except that an ECAL or HCAL scale drift does not reach ``pf`` (particle flow calibrates its
    calorimeter candidates in situ); CASTOR (a forward calorimeter outside every acceptance) in
    none: its LS are globally bad but no channel can tell. The strength of an episode is
    log-uniform between 0.7 and 2.8 (from subtle to obvious), divided by ``difficulty``.

    Everything is vectorized over events and objects; 1,000 LS x 500 events take a few seconds.

    Parameters
    ----------
    n_lumisections : int, default=1000
        Number of LS.
    events_per_lumisection : int, default=500
        Mean number of events of an LS at unit luminosity.
    difficulty : float or {"easy", "default", "hard"}, default=1.0
        Divides every fault strength: 2 (``"hard"``) makes faults half as strong, 0.5
        (``"easy"``) twice as strong.
    bad_fraction : float, default=0.25
        Target fraction of LS with at least one faulty subsystem.
    mean_fault_length : float, default=15
        Mean length, in LS, of a fault episode.
    multi_fault_fraction : float, default=0.15
        Fraction of fault episodes that hit two subsystems together.
    subsystems : list of str or None, default=None
        Subsystems allowed to fail (default: all of :data:`DETECTOR_VISIBILITY`).
    fault_modes : list of str or None, default=None
        Fault modes allowed (default: all); a subsystem without an allowed mode never fails.
    label_noise : float, default=0.0
        Probability that an LS's global label is flipped (the truth tables are unchanged).
    random_state : int, RandomState, Generator or None, default=None
        Seed; the output is a deterministic function of an integer seed.
    histograms : bool, default=False
        Also fill per-LS monitoring-element histograms, a few per subsystem (occupancy maps,
        multiplicities, spectra, resolution peaks, efficiencies; see
        ``channeldecomp.datasets.SIMULATED_MES``), from the same LS, events, luminosity and
        fault episodes. Each ME responds to the faults of its own subsystem only; CASTOR,
        invisible in every object channel, has MEs of its own. The objects are the same with
        or without them.
    block_size : int or None, default=None
        Simulate the events in blocks of this many consecutive LS, each when it is used, for
        simulations too large to hold in memory at once (a few GB per million events, mostly
        the PF candidates): the result has ``blocks`` (a :class:`SimulatedBlocks`, a sequence
        of :class:`~channeldecomp.LumiSections`) in place of ``lumisections``. The LS, runs,
        faults, labels and every truth table are those of ``block_size=None``; the events of
        the blocks after the first are drawn from random streams of their own, so they differ
        from those of one draw, with the same distributions. A ``block_size`` of at least
        ``n_lumisections`` gives one block, the events of ``block_size=None``.

    Returns
    -------
    data : sklearn.utils.Bunch
        - ``lumisections``: :class:`~channeldecomp.LumiSections` with the four channels and the
          per-event columns ``luminosity`` and ``pileup`` (with ``block_size``: ``blocks``, the
          same in blocks);
        - ``y`` (and its alias ``target``): global label per LS, 1 = good;
        - ``subsystems``: DataFrame, one 0/1 column per subsystem, 1 = good;
        - ``channel_truth``: DataFrame, one 0/1 column per channel, 1 = no fault visible there
          (these per-LS tables are indexed by ``keys``, like the features);
        - ``luminosity``: mean instantaneous luminosity per LS (usable as ``sample_weight``);
        - ``keys``: the ``(run, lumi)`` MultiIndex of the LS, the index of
          ``LumiSectionPercentiles``' output (read it as ``data["keys"]``: ``data.keys`` is the
          dict method);
        - ``fault_mode`` / ``fault_strength``: DataFrames (LS x subsystem) of the active mode
          (``""`` if none) and its strength;
        - ``faults``: one row per fault episode (subsystem, mode, strength, first and last LS
          position);
        - ``label_flipped``: boolean per LS, where label noise flipped ``y``;
        - ``visibility``: the table of :func:`detector_visibility` (by subsystem and mode);
        - with ``histograms=True``: ``histograms``, a
          :class:`~channeldecomp.LumiSectionHistograms` whose channels are the subsystems, and
          ``subsystem_truth``, the ``subsystems`` table, usable as the channel truth of a
          model on histogram features (1 = no fault in that subsystem).

    See Also
    --------
    make_channel_anomalies : a tabular generator with known per-channel truth.

    Examples
    --------
    >>> from channeldecomp.datasets import simulate_lumisections
    >>> data = simulate_lumisections(n_lumisections=40, events_per_lumisection=20,
    ...                              random_state=0)
    >>> len(data.lumisections), list(data.channel_truth.columns)
    (40, ['muons', 'photons', 'pf', 'calo_jets'])
    >>> bool(((data.y == 0) == (data.subsystems == 0).any(axis=1)).all())
    True
    """
    arrays, truth = _simulate_arrays(
        n_lumisections,
        events_per_lumisection,
        difficulty=difficulty,
        bad_fraction=bad_fraction,
        mean_fault_length=mean_fault_length,
        multi_fault_fraction=multi_fault_fraction,
        subsystems=subsystems,
        fault_modes=fault_modes,
        label_noise=label_noise,
        random_state=random_state,
        histograms=histograms,
        block_size=block_size,
    )
    from ..features import LumiSections

    if block_size is None:
        lumisections = LumiSections.from_arrays(
            arrays["run"],
            arrays["lumi"],
            arrays["n_events"],
            arrays["objects"],
            event_columns=arrays["event_columns"],
        )
        events, keys = {"lumisections": lumisections}, lumisections.keys
    else:
        events = {"blocks": arrays["blocks"]}
        n_none = np.zeros_like(arrays["n_events"])
        keys = LumiSections.from_arrays(arrays["run"], arrays["lumi"], n_none, {}).keys
    # The per-LS tables share the (run, lumi) index of LumiSectionPercentiles' pandas output,
    # so they line up with the features without any reindexing.
    per_lumisection = ("subsystems", "channel_truth", "fault_mode", "fault_strength")
    tables = {
        name: value.set_axis(keys) if name in per_lumisection else value
        for name, value in truth.items()
        if name != "y"
    }
    if histograms:
        tables["histograms"] = arrays["histograms"]
        tables["subsystem_truth"] = tables["subsystems"].copy()
    return Bunch(
        **events,
        y=truth["y"],
        target=truth["y"],
        keys=keys,
        **tables,
        visibility=detector_visibility(by_mode=True),
    )
