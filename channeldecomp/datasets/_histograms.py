"""Per-lumisection monitoring-element (ME) histograms of the simulated detector.

``simulate_lumisections(..., histograms=True)`` fills, for every lumisection (LS), a few MEs per
subsystem, as the data-quality monitoring of each subsystem does from its own hits: occupancy
maps in eta-phi, multiplicities per event, energy spectra, resolution peaks, efficiencies. They
share the LS, the number of events, the luminosity (hence the pile-up) and the fault episodes of
the objects, and each ME responds to the faults of its own subsystem only (a subsystem's MEs
are filled from that subsystem's hits, never from reconstructed objects that combine several
subsystems). The ME list, with what each fault mode does to it, is :data:`SIMULATED_MES`.

Everything is drawn per LS and bin (Poisson counts in occupancy maps, multinomial counts of
entries in 1D distributions): the cost grows with the number of LS and bins, not of events.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
from scipy.special import ndtr  # scipy comes with scikit-learn

from ._detector import _ETA_RANGE, _PILEUP_PER_LUMINOSITY, _TWO_PI

__all__ = ["SIMULATED_MES", "simulate_histograms"]

#: ME name -> (what it shows, the fault modes of its subsystem it responds to).
SIMULATED_MES = MappingProxyType(
    {
        "DT/Occupancy_eta_phi": (
            "DT segment occupancy, 10 eta x 12 phi sectors in abs(eta) < 1.2",
            ("dead_region",),
        ),
        "DT/Segments_per_event": (
            "DT segments per event (0-11, last bin includes more)",
            ("dead_region", "efficiency_drop"),
        ),
        "CSC/Occupancy_eta_phi": (
            "CSC segment occupancy, 16 eta x 18 phi bins in 0.9 < abs(eta) < 2.4",
            ("dead_region",),
        ),
        "CSC/Segments_per_event": (
            "CSC segments per event",
            ("dead_region", "efficiency_drop"),
        ),
        "RPC/Efficiency_roll": (
            "measured efficiency of 200 RPC rolls, 20 bins in [0, 1]",
            ("efficiency_drop",),
        ),
        "RPC/Clusters_per_event": ("RPC clusters per event", ("efficiency_drop",)),
        "Tracker/Hits_eta_phi": (
            "tracker hit occupancy, 20 eta x 16 phi bins in abs(eta) < 2.5",
            ("dead_region",),
        ),
        "Tracker/Hits_per_track": (
            "hits per track (0-19)",
            ("efficiency_drop",),
        ),
        "Tracker/Residual_x": (
            "track-hit residual (cm), 20 bins in [-0.1, 0.1]",
            ("resolution_loss",),
        ),
        "ECAL/Occupancy_eta_phi": (
            "ECAL cluster occupancy, 24 eta x 18 phi bins in abs(eta) < 3",
            ("dead_region", "noisy_cells"),
        ),
        "ECAL/Cluster_energy": (
            "ECAL cluster energy (GeV), 25 bins in [0, 100]",
            ("scale_drift", "noisy_cells"),
        ),
        "ECAL/Pi0_mass": (
            "diphoton mass near the pi0 peak (GeV), 20 bins in [0.05, 0.25]",
            ("scale_drift", "resolution_loss"),
        ),
        "HCAL/Occupancy_eta_phi": (
            "HCAL tower occupancy, 20 eta x 18 phi bins in abs(eta) < 5",
            ("dead_region", "noisy_cells"),
        ),
        "HCAL/Energy": (
            "HCAL tower energy (GeV), 25 bins in [0, 100]",
            ("scale_drift", "noisy_cells"),
        ),
        "HCAL/Jet_response": (
            "calorimeter jet response (measured / true), 20 bins in [0, 2]",
            ("scale_drift", "resolution_loss"),
        ),
        "CASTOR/Occupancy_eta_phi": (
            "CASTOR occupancy, 14 abs(eta) bins in [5.2, 6.6] x 16 phi sectors",
            ("dead_region", "noisy_cells"),
        ),
        "CASTOR/Energy": (
            "CASTOR channel energy (GeV), 20 bins in [0, 200]",
            ("noisy_cells",),
        ),
    }
)

# Noisy cells: spurious hits per event at the hot spot, times the strength.
_HOT_RATE = 0.5


def _edges(low, high, n_bins):
    edges = np.linspace(low, high, n_bins + 1)
    return edges, 0.5 * (edges[1:] + edges[:-1])


def _active(faults, subsystem, mode):
    return faults.active(subsystem, mode)


def _efficiency(faults, subsystem):
    """Per LS: 1, or 1 - 0.35 x strength (at least 0.1) under an efficiency drop."""
    drop = np.minimum(0.35 * faults.strength[subsystem], 0.9)
    return 1.0 - _active(faults, subsystem, "efficiency_drop") * drop


def _scale(faults, subsystem):
    """Per LS: the energy scale, 1 or drifted by +-20 % x strength."""
    drift = _active(faults, subsystem, "scale_drift") * 0.2 * faults.strength[subsystem]
    return 1.0 + faults.sign[subsystem] * drift


def _extra_width(faults, subsystem, scale):
    """Per LS: the extra relative width under a resolution loss (0 elsewhere)."""
    return _active(faults, subsystem, "resolution_loss") * scale * faults.strength[subsystem]


def _dead(faults, subsystem, eta, phi, *, fold=False):
    """Per LS and bin (n_ls, n_phi, n_eta): the bin centre lies in the LS's dead region."""
    active = _active(faults, subsystem, "dead_region")
    low, high = faults.eta_low[subsystem], faults.eta_high[subsystem]
    if fold:  # a one-sided detector on an abs(eta) axis
        low, high = np.minimum(np.abs(low), np.abs(high)), np.maximum(np.abs(low), np.abs(high))
    in_eta = (eta[None, :] >= low[:, None]) & (eta[None, :] < high[:, None])
    offset = np.mod(phi[None, :] - faults.phi_low[subsystem][:, None], _TWO_PI)
    in_phi = offset < faults.phi_width[subsystem][:, None]
    return active[:, None, None] & in_phi[:, :, None] & in_eta[:, None, :]


def _occupancy(
    rng, faults, subsystem, n_events, per_event, eta_axis, phi_axis, shape, *, fold=False
):
    """Poisson occupancy maps (n_ls, n_phi, n_eta) with dead bins, efficiency and a hot spot.

    ``per_event``: hits per event per LS; ``shape``: per LS and eta bin, the relative
    occupancy (normalized here); phi is uniform.
    """
    (eta_edges, eta), (phi_edges, phi) = eta_axis, phi_axis
    shape = shape / shape.sum(axis=1, keepdims=True) / len(phi)
    expected = (n_events * per_event * _efficiency(faults, subsystem))[:, None, None]
    expected = expected * shape[:, None, :] * np.ones((1, len(phi), 1))
    expected[_dead(faults, subsystem, eta, phi, fold=fold)] = 0.0
    noisy = np.flatnonzero(_active(faults, subsystem, "noisy_cells"))
    if noisy.size:
        spot_eta = faults.eta_low[subsystem][noisy] + 0.05
        spot_eta = np.abs(spot_eta) if fold else spot_eta
        spot_phi = np.mod(faults.phi_low[subsystem][noisy] + 0.05 + np.pi, _TWO_PI) - np.pi
        i_eta = np.clip(np.searchsorted(eta_edges, spot_eta) - 1, 0, len(eta) - 1)
        i_phi = np.clip(np.searchsorted(phi_edges, spot_phi) - 1, 0, len(phi) - 1)
        hot = n_events[noisy] * _HOT_RATE * faults.strength[subsystem][noisy]
        expected[noisy, i_phi, i_eta] += hot
    return rng.poisson(expected).astype(np.float64), expected


def _multinomial(rng, n_entries, probabilities):
    """Counts of ``n_entries`` (per LS) spread over bins with ``probabilities`` (per LS)."""
    probabilities = np.clip(probabilities, 0.0, None)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    return rng.multinomial(np.asarray(n_entries, dtype=np.int64), probabilities).astype(float)


def _multiplicity(rng, n_events, mean, n_bins):
    """Per LS, a histogram over its events of a Poisson count of mean ``mean`` (per LS)."""
    k = np.arange(n_bins)
    log_pmf = k[None, :] * np.log(mean[:, None]) - mean[:, None] - _log_factorial(k)[None, :]
    pmf = np.exp(log_pmf)
    pmf[:, -1] += np.clip(1.0 - pmf.sum(axis=1), 0.0, None)  # the last bin holds the tail
    return _multinomial(rng, n_events, pmf)


def _log_factorial(k):
    return np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, k.max() + 1)))])[k]


def _binned(cdf, edges):
    """Probabilities of the bins from a per-LS CDF function of the edges (n_ls, n_edges)."""
    return np.diff(cdf(edges[None, :]), axis=1)


def _pareto_cdf(minimum, index, scale):
    """CDF of a falling spectrum ``minimum * U^(-1/index)`` times a per-LS energy scale."""

    def cdf(x):
        x = x / scale[:, None]
        return np.where(x > minimum, 1.0 - (minimum / np.maximum(x, minimum)) ** index, 0.0)

    return cdf


def _peak_cdf(mean, width, background=0.0, low=0.0, high=1.0):
    """CDF of a Gaussian peak (per-LS mean and width) on a flat background over [low, high]."""

    def cdf(x):
        flat = np.clip((x - low) / (high - low), 0.0, 1.0)
        return (1 - background) * ndtr((x - mean[:, None]) / width[:, None]) + background * flat

    return cdf


def simulate_histograms(seed, faults, *, run, lumi, n_events, luminosity):
    """Fill the MEs of :data:`SIMULATED_MES` for every LS.

    Parameters
    ----------
    seed : numpy.random.SeedSequence
        Spawns one stream per ME: the objects do not depend on whether MEs are filled, and an
        ME's counts depend only on its own subsystem's faults (bit for bit).
    faults : the simulator's per-LS fault state
    run, lumi, n_events, luminosity : ndarray of shape (n_lumisections,)

    Returns
    -------
    LumiSectionHistograms
    """
    from ..features import LumiSectionHistograms

    n_events = np.asarray(n_events, dtype=np.float64)
    rngs = {
        name: np.random.default_rng(child)
        for name, child in zip(SIMULATED_MES, seed.spawn(len(SIMULATED_MES)))
    }
    pileup = _PILEUP_PER_LUMINOSITY * np.asarray(luminosity)
    n_ls = len(n_events)
    ones = np.ones(n_ls)
    contents, binnings = {}, {}

    def add(name, values, binning):
        contents[name], binnings[name] = values, binning

    # Pile-up moves hits forward: the forward share of the calorimeters grows with it.
    def forward_shape(eta, steepness):
        share = 0.25 + 0.5 * pileup / (pileup + 10.0)
        central = np.ones_like(eta)
        forward = np.cosh(eta / steepness)
        return (1 - share)[:, None] * central / central.sum() + share[:, None] * (
            forward / forward.sum()
        )

    # ---- muon chambers: DT (barrel), CSC (endcaps), RPC (trigger) ----
    for subsystem, eta_axis, n_phi, per_event, segments in (
        ("DT", _edges(-1.2, 1.2, 10), 12, 2.0, 2.0),
        ("CSC", _edges(-2.4, 2.4, 16), 18, 1.6, 1.6),
    ):
        eta = eta_axis[1]
        inside = (np.abs(eta) >= _ETA_RANGE[subsystem][0]) & (
            np.abs(eta) < _ETA_RANGE[subsystem][1]
        )
        shape = np.where(inside, 1.0 + 0.1 * np.abs(eta), 0.0)[None, :] * ones[:, None]
        rate = per_event * (1.0 + 0.02 * pileup)
        phi_axis = _edges(-np.pi, np.pi, n_phi)
        occupancy, expected = _occupancy(
            rngs[f"{subsystem}/Occupancy_eta_phi"],
            faults,
            subsystem,
            n_events,
            rate,
            eta_axis,
            phi_axis,
            shape,
        )
        add(
            f"{subsystem}/Occupancy_eta_phi",
            occupancy,
            (eta_axis[0][0], eta_axis[0][-1], len(eta), -np.pi, np.pi, n_phi),
        )
        # Segments per event: fewer when chambers are dead or inefficient.
        kept = expected.sum(axis=(1, 2)) / np.maximum(n_events * rate, 1e-12)
        mean = segments * (1.0 + 0.02 * pileup) * np.clip(kept, 0.02, None)
        name = f"{subsystem}/Segments_per_event"
        add(name, _multiplicity(rngs[name], n_events, mean, 12), (-0.5, 11.5, 12))

    rpc_efficiency = _efficiency(faults, "RPC")
    roll_efficiency = 0.96 + 0.015 * np.sin(np.arange(200))  # fixed roll-to-roll spread
    rng = rngs["RPC/Efficiency_roll"]
    tracks = rng.poisson(np.maximum(n_events, 1.0)[:, None] * 0.05 * np.ones((1, 200)))
    tracks = np.maximum(tracks, 1)
    hits = rng.binomial(tracks, rpc_efficiency[:, None] * roll_efficiency[None, :])
    measured = hits / tracks
    efficiency_bins = np.clip((measured * 20).astype(int), 0, 19)
    rolls = np.zeros((n_ls, 20))
    np.add.at(rolls, (np.repeat(np.arange(n_ls), 200), efficiency_bins.ravel()), 1.0)
    add("RPC/Efficiency_roll", rolls, (0.0, 1.0, 20))
    add(
        "RPC/Clusters_per_event",
        _multiplicity(
            rngs["RPC/Clusters_per_event"],
            n_events,
            3.0 * (1.0 + 0.02 * pileup) * rpc_efficiency,
            12,
        ),
        (-0.5, 11.5, 12),
    )

    # ---- tracker ----
    eta_axis, phi_axis = _edges(-2.5, 2.5, 20), _edges(-np.pi, np.pi, 16)
    shape = (1.0 + 0.2 * eta_axis[1] ** 2)[None, :] * ones[:, None]
    occupancy, _ = _occupancy(
        rngs["Tracker/Hits_eta_phi"],
        faults,
        "Tracker",
        n_events,
        8.0 * (1.0 + 0.05 * pileup),
        eta_axis,
        phi_axis,
        shape,
    )
    add("Tracker/Hits_eta_phi", occupancy, (-2.5, 2.5, 20, -np.pi, np.pi, 16))
    n_tracks = n_events * 3.0 * (1.0 + 0.05 * pileup)
    hits_per_track = 12.0 * (1.0 - 0.5 * (1.0 - _efficiency(faults, "Tracker")))
    name = "Tracker/Hits_per_track"
    add(name, _multiplicity(rngs[name], n_tracks, hits_per_track, 20), (-0.5, 19.5, 20))
    width = 0.02 * np.sqrt(1.0 + _extra_width(faults, "Tracker", 1.5) ** 2)
    edges = _edges(-0.1, 0.1, 20)[0]
    add(
        "Tracker/Residual_x",
        _multinomial(
            rngs["Tracker/Residual_x"],
            n_tracks,
            _binned(_peak_cdf(0.0 * ones, width, 0.05, -0.1, 0.1), edges),
        ),
        (-0.1, 0.1, 20),
    )

    # ---- calorimeters: ECAL, HCAL, CASTOR ----
    for subsystem, eta_axis, n_phi, per_event, steepness in (
        ("ECAL", _edges(-3.0, 3.0, 24), 18, 6.0, 1.5),
        ("HCAL", _edges(-5.0, 5.0, 20), 18, 10.0, 2.0),
    ):
        shape = forward_shape(eta_axis[1], steepness)
        occupancy, _ = _occupancy(
            rngs[f"{subsystem}/Occupancy_eta_phi"],
            faults,
            subsystem,
            n_events,
            per_event * (1.0 + 0.05 * pileup),
            eta_axis,
            _edges(-np.pi, np.pi, n_phi),
            shape,
        )
        low, high = eta_axis[0][0], eta_axis[0][-1]
        binning = (low, high, len(eta_axis[1]), -np.pi, np.pi, n_phi)
        add(f"{subsystem}/Occupancy_eta_phi", occupancy, binning)
        # Energy spectrum: a falling spectrum at the LS's energy scale, plus the hot spot's
        # spurious energies (flat-ish between 10 and 40 GeV) under noisy cells.
        edges = _edges(0.0, 100.0, 25)[0]
        n_clusters = n_events * per_event * 0.5
        spectrum = _binned(_pareto_cdf(2.0, 1.6, _scale(faults, subsystem)), edges)
        spectrum = spectrum / spectrum.sum(axis=1, keepdims=True)
        noisy = _active(faults, subsystem, "noisy_cells")
        hot_share = noisy * _HOT_RATE * faults.strength[subsystem] / (per_event * 0.5)
        hot = np.exp(-np.abs(0.5 * (edges[1:] + edges[:-1]) - 25.0) / 8.0)
        spectrum = spectrum + hot_share[:, None] * hot[None, :] / hot.sum()
        name = "ECAL/Cluster_energy" if subsystem == "ECAL" else "HCAL/Energy"
        add(
            name, _multinomial(rngs[name], n_clusters * (1 + hot_share), spectrum), (0.0, 100.0, 25)
        )

    scale = _scale(faults, "ECAL")
    width = np.hypot(0.010, 0.015 * _extra_width(faults, "ECAL", 1.0))
    edges = _edges(0.05, 0.25, 20)[0]
    probabilities = _binned(_peak_cdf(0.135 * scale, width, 0.3, 0.05, 0.25), edges)
    add(
        "ECAL/Pi0_mass",
        _multinomial(rngs["ECAL/Pi0_mass"], n_events * 0.5, probabilities),
        (0.05, 0.25, 20),
    )
    scale = _scale(faults, "HCAL") * 0.85
    width = np.hypot(0.12, 0.12 * _extra_width(faults, "HCAL", 1.0))
    edges = _edges(0.0, 2.0, 20)[0]
    probabilities = _binned(_peak_cdf(scale, width, 0.0, 0.0, 2.0), edges)
    add(
        "HCAL/Jet_response",
        _multinomial(rngs["HCAL/Jet_response"], n_events * 0.8, probabilities),
        (0.0, 2.0, 20),
    )

    eta_axis, phi_axis = _edges(5.2, 6.6, 14), _edges(-np.pi, np.pi, 16)
    shape = np.exp(-(eta_axis[1] - 5.2) / 0.8)[None, :] * ones[:, None]
    occupancy, expected = _occupancy(
        rngs["CASTOR/Occupancy_eta_phi"],
        faults,
        "CASTOR",
        n_events,
        1.5 * (1.0 + 0.05 * pileup),
        eta_axis,
        phi_axis,
        shape,
        fold=True,
    )
    add("CASTOR/Occupancy_eta_phi", occupancy, (5.2, 6.6, 14, -np.pi, np.pi, 16))
    edges = _edges(0.0, 200.0, 20)[0]
    noisy = _active(faults, "CASTOR", "noisy_cells")
    hot_share = noisy * _HOT_RATE * faults.strength["CASTOR"] / 1.5
    spectrum = _binned(_pareto_cdf(5.0, 1.3, ones), edges)
    spectrum = spectrum / spectrum.sum(axis=1, keepdims=True)
    hot = np.exp(-np.abs(0.5 * (edges[1:] + edges[:-1]) - 60.0) / 20.0)
    spectrum = spectrum + hot_share[:, None] * hot[None, :] / hot.sum()
    add(
        "CASTOR/Energy",
        _multinomial(rngs["CASTOR/Energy"], n_events * 1.5 * (1 + hot_share), spectrum),
        (0.0, 200.0, 20),
    )
    contents = {name: contents[name] for name in SIMULATED_MES}  # the documented order
    return LumiSectionHistograms.from_arrays(run, lumi, contents, binnings)
