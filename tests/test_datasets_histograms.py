"""The simulated detector's monitoring-element histograms: layout, truth and fault response."""

import numpy as np
import pytest

from channeldecomp import HistogramFeatures, LumiSectionHistograms
from channeldecomp.datasets import DETECTOR_FAULT_MODES, SIMULATED_MES, simulate_lumisections

_SIZE = {"n_lumisections": 60, "events_per_lumisection": 300, "random_state": 3}


@pytest.fixture(scope="module")
def clean():
    return simulate_lumisections(**_SIZE, bad_fraction=0.0, histograms=True)


def test_layout_and_truth():
    data = simulate_lumisections(
        n_lumisections=80, events_per_lumisection=100, random_state=0, histograms=True
    )
    h = data.histograms
    assert isinstance(h, LumiSectionHistograms)
    assert h.mes == list(SIMULATED_MES)
    assert h.channels == list(DETECTOR_FAULT_MODES)  # one channel per subsystem
    assert h.keys.equals(data["keys"]) and h.keys.equals(data.lumisections.keys)
    assert list(data.subsystem_truth.columns) == h.channels
    assert data.subsystem_truth.equals(data.subsystems)
    assert ((data.y == 0) == (data.subsystem_truth == 0).any(axis=1)).all()
    for me in h.mes:
        assert h.present(me).all() and (h.entries(me) > 0).all()
    # The objects do not depend on whether the histograms are filled.
    plain = simulate_lumisections(n_lumisections=80, events_per_lumisection=100, random_state=0)
    assert plain.lumisections.equals(data.lumisections)
    assert "histograms" not in plain and "subsystem_truth" not in plain


def _chi2(features, h, me, rows):
    names = list(features.get_feature_names_out())
    prefix = features.channels_[me] + "__" + me.split("/", 1)[1] + "_chi2"
    return features.transform(h)[rows, names.index(prefix)].mean()


@pytest.mark.parametrize(
    ("subsystem", "mode"),
    [(s, m) for s, modes in DETECTOR_FAULT_MODES.items() for m in modes],
)
def test_mes_respond_to_their_subsystem_only(clean, subsystem, mode):
    faulty = simulate_lumisections(
        **_SIZE,
        bad_fraction=0.4,
        subsystems=[subsystem],
        fault_modes=[mode],
        difficulty="easy",
        histograms=True,
    )
    bad = np.flatnonzero(faulty.subsystem_truth[subsystem].to_numpy() == 0)
    assert bad.size > 5
    assert (faulty.subsystem_truth.drop(columns=subsystem) == 1).all().all()
    features = HistogramFeatures(quantiles=[], distances=["chi2"]).fit(clean.histograms)
    for me, (_, modes) in SIMULATED_MES.items():
        if not me.startswith(subsystem + "/"):
            # Another subsystem's ME: bit for bit what it is without the fault.
            np.testing.assert_array_equal(faulty.histograms.values(me), clean.histograms.values(me))
        elif mode in modes:
            # The listed MEs change shape in the bad LS: their chi2 distance to the clean
            # reference is several times the distance of the same LS without the fault
            # (Poisson noise alone).
            with_fault = _chi2(features, faulty.histograms, me, bad)
            without = _chi2(features, clean.histograms, me, bad)
            assert with_fault > 3 * without, (me, with_fault, without)


def test_every_fault_mode_has_a_responding_me():
    for subsystem, modes in DETECTOR_FAULT_MODES.items():
        for mode in modes:
            assert any(
                me.startswith(subsystem + "/") and mode in responds
                for me, (_, responds) in SIMULATED_MES.items()
            ), (subsystem, mode)
