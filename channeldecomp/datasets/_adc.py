"""Collision events in the CMS ADC2021 format: a Standard-Model background mix and four signals.

The generator is a fast, vectorised parton-level toy with a simple detector on top. It is *not*
a physics simulation (no matrix elements, no parton shower), but every event is built from
kinematics that respect momentum conservation and two-body decays, so object multiplicities,
transverse-momentum spectra, invariant masses and the missing transverse energy (MET) behave
like the real thing. That is what set-based anomaly detectors have to learn.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.utils import Bunch, check_random_state

__all__ = ["make_adc_events"]

ADC_OBJECT_TYPES = ("met",) + ("electron",) * 4 + ("muon",) * 4 + ("jet",) * 10
ADC_PROPERTIES = ("pt", "eta", "phi")
BACKGROUND_MIX = {"W_lnu": 0.592, "QCD_multijet": 0.338, "Z_ll": 0.067, "ttbar": 0.003}
SIGNALS = ("A_4l", "LQ_btau", "h0_tautau", "hplus_taunu")

# Detector acceptance of the ADC2021 data set: (minimum pT in GeV, maximum |eta|).
_ACCEPTANCE = {"electron": (3.0, 3.0), "muon": (3.0, 2.1), "jet": (15.0, 4.0)}
_SLOTS = {"electron": 4, "muon": 4, "jet": 10}
_TRIGGER_PT = 23.0
_M_W, _G_W = 80.4, 2.1
_M_Z, _G_Z = 91.19, 2.5
_M_TOP = 172.5
_M_TAU = 1.777
_M_B = 4.7


# --------------------------------------------------------------------------------------------
# Four-vector helpers (arrays of shape (n,))
# --------------------------------------------------------------------------------------------
def _to_cartesian(pt, eta, phi, mass):
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    return np.stack([energy, px, py, pz], axis=-1)


def _to_collider(p4):
    pt = np.hypot(p4[..., 1], p4[..., 2])
    safe = np.maximum(pt, 1e-9)
    eta = np.arcsinh(p4[..., 3] / safe)
    phi = np.arctan2(p4[..., 2], p4[..., 1])
    return pt, eta, phi


def _two_body_decay(parent, m1, m2, rng):
    """Isotropic two-body decay of ``parent`` (n, 4) into daughters of masses m1, m2."""
    n = parent.shape[0]
    mass = np.sqrt(np.maximum(parent[:, 0] ** 2 - np.sum(parent[:, 1:] ** 2, axis=1), 0.0))
    m1 = np.broadcast_to(m1, (n,))
    m2 = np.broadcast_to(m2, (n,))
    arg = (mass**2 - (m1 + m2) ** 2) * (mass**2 - (m1 - m2) ** 2)
    p_star = np.sqrt(np.maximum(arg, 0.0)) / (2 * np.maximum(mass, 1e-9))
    cos_theta = rng.uniform(-1, 1, n)
    sin_theta = np.sqrt(1 - cos_theta**2)
    phi = rng.uniform(-np.pi, np.pi, n)
    direction = np.stack([sin_theta * np.cos(phi), sin_theta * np.sin(phi), cos_theta], axis=1)
    daughters = []
    for m, sign in ((m1, 1.0), (m2, -1.0)):
        momentum = sign * p_star[:, None] * direction
        energy = np.sqrt(p_star**2 + m**2)
        daughters.append(_boost(np.column_stack([energy, momentum]), parent))
    return daughters


def _boost(p4, parent):
    beta = parent[:, 1:] / parent[:, :1]
    beta2 = np.clip(np.sum(beta**2, axis=1), 0, 1 - 1e-12)
    gamma = 1 / np.sqrt(1 - beta2)
    bp = np.sum(beta * p4[:, 1:], axis=1)
    coef = np.where(beta2 > 0, (gamma - 1) * bp / np.maximum(beta2, 1e-300), 0.0)
    momentum = p4[:, 1:] + (coef + gamma * p4[:, 0])[:, None] * beta
    energy = gamma * (p4[:, 0] + bp)
    return np.column_stack([energy, momentum])


def _breit_wigner(mass, width, n, rng, low, high):
    values = mass + 0.5 * width * np.tan(np.pi * (rng.uniform(size=n) - 0.5))
    bad = (values < low) | (values > high)
    while np.any(bad):
        values[bad] = mass + 0.5 * width * np.tan(np.pi * (rng.uniform(size=bad.sum()) - 0.5))
        bad = (values < low) | (values > high)
    return values


# Visible energy fraction of a leptonic tau decay (massless, unpolarised): f(x) = 5/3 - 3x^2 +
# 4/3 x^3, sampled by inverting its cumulative distribution on a grid.
_X_GRID = np.linspace(0, 1, 513)
_LEPTONIC_CDF = 5 / 3 * _X_GRID - _X_GRID**3 + _X_GRID**4 / 3


# --------------------------------------------------------------------------------------------
# The event record
# --------------------------------------------------------------------------------------------
class _Events:
    """Truth-level objects of n events, collected per type, plus the invisible momentum."""

    def __init__(self, n, rng):
        self.n = n
        self.rng = rng
        self.objects = {"electron": [], "muon": [], "jet": []}
        self.invisible = np.zeros((n, 2))
        self.mismeasured = np.zeros((n, 2))

    def add(self, kind, p4, present=None):
        pt, eta, phi = _to_collider(p4)
        if present is not None:
            pt = np.where(present, pt, 0.0)
        self.objects[kind].append((pt, eta, phi))

    def add_neutrino(self, p4, present=None):
        xy = p4[:, 1:3] if present is None else p4[:, 1:3] * present[:, None]
        self.invisible += xy

    def add_lepton(self, flavour, p4, present=None):
        """Add a lepton: flavour 0 = electron, 1 = muon, 2 = tau (decayed here)."""
        flavour = np.broadcast_to(flavour, (self.n,))
        base = np.ones(self.n, bool) if present is None else present
        self.add("electron", p4, base & (flavour == 0))
        self.add("muon", p4, base & (flavour == 1))
        self.add_tau(p4, base & (flavour == 2))

    def add_tau(self, p4, present):
        """Decay taus in the collinear approximation: leptonic (35 %) or hadronic (65 %)."""
        rng, n = self.rng, self.n
        mode = rng.choice(3, size=n, p=[0.175, 0.175, 0.65])  # e, mu, hadrons
        leptonic_x = np.interp(rng.uniform(size=n), _LEPTONIC_CDF, _X_GRID)
        hadronic_x = rng.uniform(0.15, 1.0, n)
        visible_fraction = np.where(mode == 2, hadronic_x, leptonic_x)
        visible = p4 * visible_fraction[:, None]
        self.add("electron", visible, present & (mode == 0))
        self.add("muon", visible, present & (mode == 1))
        self.add("jet", visible, present & (mode == 2))  # a narrow, single-prong "jet"
        self.add_neutrino(p4 - visible, present)

    def add_jet(self, p4, present=None):
        self.add("jet", p4, present)

    def add_recoil_jets(self, mean_count):
        """Initial-state radiation: returns the transverse recoil the hard system must carry."""
        rng, n = self.rng, self.n
        counts = rng.poisson(mean_count, n)
        recoil = np.zeros((n, 2))
        for k in range(int(counts.max(initial=0))):
            present = counts > k
            pt = 15.0 * rng.uniform(size=n) ** (-1 / 2.2)
            pt = np.minimum(pt, 800.0)
            eta = rng.normal(0, 2.0, n)
            phi = rng.uniform(-np.pi, np.pi, n)
            p4 = _to_cartesian(pt, eta, phi, np.zeros(n))
            self.add_jet(p4, present)
            recoil -= p4[:, 1:3] * present[:, None]
        return recoil

    def add_pileup_jets(self, mean_count=0.6):
        rng, n = self.rng, self.n
        counts = rng.poisson(mean_count, n)
        for k in range(int(counts.max(initial=0))):
            pt = rng.uniform(12.0, 30.0, n)
            p4 = _to_cartesian(pt, rng.uniform(-4, 4, n), rng.uniform(-np.pi, np.pi, n), 0 * pt)
            self.add_jet(p4, counts > k)

    def boson(self, mass, recoil, rapidity_width=1.4):
        """A resonance of the given mass carrying the transverse recoil ``recoil`` (n, 2)."""
        rng, n = self.rng, self.n
        recoil = recoil + rng.normal(0, 4.0, (n, 2))  # intrinsic kT
        pt = np.hypot(recoil[:, 0], recoil[:, 1])
        phi = np.arctan2(recoil[:, 1], recoil[:, 0])
        rapidity = rng.normal(0, rapidity_width, n)
        mt = np.sqrt(pt**2 + mass**2)
        return np.column_stack(
            [mt * np.cosh(rapidity), pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(rapidity)]
        )

    def detector(self):
        """Smear, apply acceptance, sort by pT and fill the ADC2021 layout (n, 19, 3)."""
        rng, n = self.rng, self.n
        out = np.zeros((n, 19, 3))
        start = 1
        visible_sum = np.zeros(n)
        for kind in ("electron", "muon", "jet"):
            slots = _SLOTS[kind]
            if self.objects[kind]:
                pt, eta, phi = (np.stack(v, axis=1) for v in zip(*self.objects[kind]))
            else:
                pt = eta = phi = np.zeros((n, 0))
            true_pt = pt
            if kind == "jet":
                sigma = np.sqrt(0.052 * pt**2 + 1.502 * pt)
                pt = np.abs(pt + sigma * rng.normal(size=pt.shape))
                eta = eta + rng.normal(0, 0.02, eta.shape)
                phi = phi + rng.normal(0, 0.02, phi.shape)
            else:
                resolution = 0.02 if kind == "electron" else 0.015
                pt = pt * (1 + resolution * rng.normal(size=pt.shape))
                efficiency = rng.uniform(size=pt.shape) < 0.95
                pt = pt * efficiency
            phi = (phi + np.pi) % (2 * np.pi) - np.pi
            min_pt, max_eta = _ACCEPTANCE[kind]
            accepted = (true_pt > 0) & (pt > min_pt) & (np.abs(eta) < max_eta)
            # The mismeasured momentum of reconstructed objects enters the MET.
            delta = np.where(accepted, pt - true_pt, 0.0)
            self.mismeasured += np.stack(
                [np.sum(delta * np.cos(phi), axis=1), np.sum(delta * np.sin(phi), axis=1)], axis=1
            )
            pt = np.where(accepted, pt, 0.0)
            visible_sum += pt.sum(axis=1)
            order = np.argsort(-pt, axis=1, kind="stable")[:, :slots]
            rows = np.arange(n)[:, None]
            width = order.shape[1]
            block = np.stack([pt[rows, order], eta[rows, order], phi[rows, order]], axis=-1)
            block[block[..., 0] == 0] = 0.0
            out[:, start : start + width] = block
            start += slots
        soft = rng.normal(0, 1, (n, 2)) * (4.0 + 0.5 * np.sqrt(visible_sum))[:, None]
        met = self.invisible - self.mismeasured + soft
        out[:, 0, 0] = np.hypot(met[:, 0], met[:, 1])
        out[:, 0, 2] = np.arctan2(met[:, 1], met[:, 0])
        return out


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------
def _w_lnu(ev):
    n, rng = ev.n, ev.rng
    recoil = ev.add_recoil_jets(0.9)
    w = ev.boson(_breit_wigner(_M_W, _G_W, n, rng, 50, 150), recoil)
    lepton, neutrino = _two_body_decay(w, 0.0, 0.0, rng)
    ev.add_lepton(rng.integers(0, 3, n), lepton)
    ev.add_neutrino(neutrino)


def _z_ll(ev):
    n, rng = ev.n, ev.rng
    recoil = ev.add_recoil_jets(0.9)
    z = ev.boson(_breit_wigner(_M_Z, _G_Z, n, rng, 60, 150), recoil)
    flavour = rng.integers(0, 3, n)
    for lepton in _two_body_decay(z, 0.0, 0.0, rng):
        ev.add_lepton(flavour, lepton)


def _qcd_multijet(ev):
    """Dijet events with a non-prompt lepton from a heavy-flavour decay inside a jet."""
    n, rng = ev.n, ev.rng
    recoil = ev.add_recoil_jets(1.2)
    pt_hat = 35.0 * rng.uniform(size=n) ** (-1 / 3.0)
    pt_hat = np.minimum(pt_hat, 1500.0)
    phi = rng.uniform(-np.pi, np.pi, n)
    eta1, eta2 = rng.normal(0, 1.6, n), rng.normal(0, 1.6, n)
    jet1 = _to_cartesian(pt_hat, eta1, phi, 0 * pt_hat)
    p2 = -jet1[:, 1:3] + recoil
    jet2 = _to_cartesian(np.hypot(p2[:, 0], p2[:, 1]), eta2, np.arctan2(p2[:, 1], p2[:, 0]), 0)
    z_lepton = rng.beta(1.6, 3.0, n)
    z_neutrino = rng.uniform(0, 0.3, n) * z_lepton
    lepton = jet1 * z_lepton[:, None]
    ev.add_lepton(rng.integers(0, 2, n), lepton)
    ev.add_neutrino(jet1 * z_neutrino[:, None])
    ev.add_jet(jet1 * (1 - z_lepton - z_neutrino)[:, None])
    ev.add_jet(jet2)


def _ttbar(ev):
    n, rng = ev.n, ev.rng
    recoil = ev.add_recoil_jets(0.8)
    pair = ev.boson(2 * _M_TOP + rng.exponential(80.0, n), recoil, rapidity_width=0.8)
    for top in _two_body_decay(pair, _M_TOP, _M_TOP, rng):
        w_mass = _breit_wigner(_M_W, _G_W, n, rng, 60, 100)
        b, w = _two_body_decay(top, _M_B, w_mass, rng)
        ev.add_jet(b)
        leptonic = rng.uniform(size=n) < 1 / 3
        d1, d2 = _two_body_decay(w, 0.0, 0.0, rng)
        ev.add_lepton(rng.integers(0, 3, n), d1, leptonic)
        ev.add_neutrino(d2, leptonic)
        ev.add_jet(d1, ~leptonic)
        ev.add_jet(d2, ~leptonic)


def _a_4l(ev):
    """A light neutral scalar (50 GeV) to two off-shell Z bosons, each to two leptons."""
    n, rng = ev.n, ev.rng
    recoil = ev.add_recoil_jets(0.9)
    a = ev.boson(np.full(n, 50.0), recoil)
    m1 = rng.uniform(15.0, 45.0, n)
    m2 = rng.uniform(0.08, 0.98, n) * (50.0 - m1 - 0.5)
    for z in _two_body_decay(a, m1, m2, rng):
        flavour = rng.integers(0, 2, n)
        for lepton in _two_body_decay(z, 0.0, 0.0, rng):
            ev.add_lepton(flavour, lepton)


def _lq_btau(ev):
    """Pair-produced leptoquarks (80 GeV), each to a b quark and a tau lepton."""
    n, rng = ev.n, ev.rng
    recoil = ev.add_recoil_jets(0.9)
    pair = ev.boson(160.0 + rng.exponential(60.0, n), recoil, rapidity_width=1.0)
    for leptoquark in _two_body_decay(pair, 80.0, 80.0, rng):
        b, tau = _two_body_decay(leptoquark, _M_B, _M_TAU, rng)
        ev.add_jet(b)
        ev.add_tau(tau, np.ones(n, bool))


def _h0_tautau(ev):
    """A neutral scalar (60 GeV) to two tau leptons."""
    n, rng = ev.n, ev.rng
    recoil = ev.add_recoil_jets(0.9)
    h = ev.boson(np.full(n, 60.0), recoil)
    for tau in _two_body_decay(h, _M_TAU, _M_TAU, rng):
        ev.add_tau(tau, np.ones(n, bool))


def _hplus_taunu(ev):
    """A charged scalar (60 GeV) to a tau lepton and a neutrino."""
    n, rng = ev.n, ev.rng
    recoil = ev.add_recoil_jets(0.9)
    h = ev.boson(np.full(n, 60.0), recoil)
    tau, neutrino = _two_body_decay(h, _M_TAU, 0.0, rng)
    ev.add_tau(tau, np.ones(n, bool))
    ev.add_neutrino(neutrino)


_PROCESSES = {
    "W_lnu": _w_lnu,
    "QCD_multijet": _qcd_multijet,
    "Z_ll": _z_ll,
    "ttbar": _ttbar,
    "A_4l": _a_4l,
    "LQ_btau": _lq_btau,
    "h0_tautau": _h0_tautau,
    "hplus_taunu": _hplus_taunu,
}


def _generate(process, n, rng):
    """Generate ``n`` events of one process that pass the single-lepton trigger."""
    kept, total, batch = [], 0, max(256, 2 * n)
    while total < n:
        ev = _Events(batch, rng)
        _PROCESSES[process](ev)
        ev.add_pileup_jets()
        events = ev.detector()
        leptons = events[:, 1:9, 0]
        passed = events[np.any(leptons > _TRIGGER_PT, axis=1)]
        kept.append(passed)
        total += len(passed)
        efficiency = max(len(passed) / batch, 0.01)
        batch = int(min(max(256, 1.2 * (n - total) / efficiency), 200_000))
    return np.concatenate(kept)[:n]


def _as_generator(random_state):
    if isinstance(random_state, np.random.Generator):
        return random_state
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    return np.random.default_rng(seed)


def _feature_names():
    names, counters = [], {}
    for kind in ADC_OBJECT_TYPES:
        counters[kind] = counters.get(kind, 0) + 1
        label = "MET" if kind == "met" else f"{kind}{counters[kind]}"
        names.extend(f"{label}_{prop}" for prop in ADC_PROPERTIES)
    return names


def make_adc_events(
    n_background=10_000,
    n_signal=1_000,
    *,
    signals=SIGNALS,
    as_frame=False,
    shuffle=True,
    random_state=None,
):
    """Generate collision events in the CMS ADC2021 format: background and four signals.

    Each event is a fixed array of 19 object slots of (pT [GeV], eta, phi): the missing
    transverse energy (MET, eta = 0), up to 4 electrons, 4 muons and 10 jets, each type sorted
    by decreasing pT, empty slots all zero (the layout of the LHC Olympics / ADC2021 anomaly
    detection data challenge). Every event passes a single-lepton trigger (an electron or muon
    with pT > 23 GeV), as in the challenge.

    The background is a mix of W -> l nu (59.2 %), QCD multijet with a non-prompt lepton
    (33.8 %), Z -> l l (6.7 %) and top-pair (0.3 %) events. The four signals follow the
    challenge's benchmark processes:

    - ``"A_4l"``: a 50 GeV neutral scalar to two off-shell Z bosons, each to e+e- or mu+mu-
      (four soft leptons, little MET, few jets);
    - ``"LQ_btau"``: pair-produced 80 GeV leptoquarks, each to a b quark and a tau
      (more jets, taus, MET);
    - ``"h0_tautau"``: a 60 GeV neutral scalar to two taus;
    - ``"hplus_taunu"``: a 60 GeV charged scalar to a tau and a neutrino (the hardest to tell
      from W -> tau nu).

    Kinematics are built from two-body decays of Breit-Wigner resonances recoiling against
    power-law initial-state radiation; taus decay collinearly (35 % to e/mu plus neutrinos with
    the leptonic visible-energy spectrum, 65 % to a narrow single jet plus a neutrino). The
    detector smears jets with sigma = sqrt(0.052 pT^2 + 1.502 pT) GeV, leptons by 1.5-2 %,
    applies the ADC2021 acceptance (electrons pT > 3 GeV, abs(eta) < 3; muons pT > 3 GeV,
    abs(eta) < 2.1; jets pT > 15 GeV, abs(eta) < 4) and a 95 % lepton efficiency, adds pile-up
    jets, and computes the MET from the neutrinos, the mismeasurement and a soft term.

    Parameters
    ----------
    n_background : int, default=10000
        Number of background events.
    n_signal : int or dict of str to int, default=1000
        Number of events per signal, or a dict ``{signal name: count}``.
    signals : sequence of str, default=("A_4l", "LQ_btau", "h0_tautau", "hplus_taunu")
        Which signals to generate (ignored when ``n_signal`` is a dict).
    as_frame : bool, default=False
        Return ``data`` as a DataFrame with named columns.
    shuffle : bool, default=True
        Shuffle the events; otherwise background comes first, then each signal in turn.
    random_state : int, RandomState or Generator instance or None, default=None
        Seed for reproducible events.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data`` (n, 57) flattened events (ndarray, or DataFrame when ``as_frame``),
        ``target`` (1 = background, 0 = signal, the package's "1 = good" convention),
        ``process`` (process name per event), ``feature_names``, ``object_shape`` ``(19, 3)``,
        ``object_types`` (type per slot), ``signal_names`` and ``DESCR``.

    References
    ----------
    .. [1] E. Govorkova et al., "LHC physics dataset for unsupervised New Physics detection at
       40 MHz", Sci. Data 9, 118 (2022), arXiv:2107.02157.

    Examples
    --------
    >>> from channeldecomp.datasets import make_adc_events
    >>> events = make_adc_events(n_background=300, n_signal=50, random_state=0)
    >>> events.data.shape, events.object_shape
    ((500, 57), (19, 3))
    >>> sorted(set(events.process[events.target == 0]))
    ['A_4l', 'LQ_btau', 'h0_tautau', 'hplus_taunu']
    """
    if not isinstance(n_background, numbers.Integral) or n_background < 0:
        raise ValueError(f"n_background must be a non-negative integer; got {n_background!r}.")
    if isinstance(n_signal, dict):
        counts = dict(n_signal)
    else:
        if isinstance(signals, str):
            signals = (signals,)
        counts = {name: n_signal for name in signals}
    for name, count in counts.items():
        if name not in SIGNALS:
            raise ValueError(f"Unknown signal {name!r}; choose from {list(SIGNALS)}.")
        if not isinstance(count, numbers.Integral) or count < 0:
            raise ValueError(
                f"n_signal for {name!r} must be a non-negative integer; got {count!r}."
            )
    if n_background + sum(counts.values()) == 0:
        raise ValueError("Nothing to generate: n_background and n_signal are all zero.")
    rng = _as_generator(random_state)

    blocks, process = [], []
    shares = np.array(list(BACKGROUND_MIX.values()))
    per_background = rng.multinomial(n_background, shares / shares.sum())
    for (name, _), count in zip(BACKGROUND_MIX.items(), per_background):
        if count:
            blocks.append(_generate(name, int(count), rng))
            process.extend([name] * int(count))
    for name, count in counts.items():
        if count:
            blocks.append(_generate(name, int(count), rng))
            process.extend([name] * int(count))
    events = np.concatenate(blocks).reshape(-1, 19 * 3)
    process = np.array(process, dtype=object)
    target = np.isin(process, list(BACKGROUND_MIX)).astype(int)
    if shuffle:
        order = rng.permutation(len(events))
        events, process, target = events[order], process[order], target[order]
    feature_names = _feature_names()
    data = pd.DataFrame(events, columns=feature_names) if as_frame else events
    return Bunch(
        data=data,
        target=target,
        process=process,
        feature_names=feature_names,
        object_shape=(19, 3),
        object_types=ADC_OBJECT_TYPES,
        signal_names=[name for name in counts if counts[name]],
        DESCR=make_adc_events.__doc__,
    )
