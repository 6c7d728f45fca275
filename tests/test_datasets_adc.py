import numpy as np
import pandas as pd
import pytest

from channeldecomp.datasets import make_adc_events


@pytest.fixture(scope="module")
def events():
    return make_adc_events(n_background=6000, n_signal=1500, random_state=0)


def _objects(bunch):
    return np.asarray(bunch.data).reshape(-1, *bunch.object_shape)


def _multiplicities(objects):
    return {
        "electrons": (objects[:, 1:5, 0] > 0).sum(axis=1),
        "muons": (objects[:, 5:9, 0] > 0).sum(axis=1),
        "jets": (objects[:, 9:, 0] > 0).sum(axis=1),
    }


def test_layout_and_bookkeeping(events):
    assert events.data.shape == (6000 + 4 * 1500, 57)
    assert events.object_shape == (19, 3)
    assert len(events.feature_names) == 57
    assert events.feature_names[:4] == ["MET_pt", "MET_eta", "MET_phi", "electron1_pt"]
    assert events.object_types[0] == "met" and events.object_types[-1] == "jet"
    assert set(events.signal_names) == {"A_4l", "LQ_btau", "h0_tautau", "hplus_taunu"}
    np.testing.assert_array_equal(
        events.target == 1,
        np.isin(events.process, ["W_lnu", "QCD_multijet", "Z_ll", "ttbar"]),
    )
    counts = pd.Series(events.process).value_counts()
    assert all(counts[s] == 1500 for s in events.signal_names)
    # The background mix follows the ADC2021 shares.
    assert 0.55 < counts["W_lnu"] / 6000 < 0.63 and 0.30 < counts["QCD_multijet"] / 6000 < 0.38


def test_detector_acceptance_sorting_and_trigger(events):
    objects = _objects(events)
    np.testing.assert_array_equal(objects[:, 0, 1], 0.0)  # MET has no eta
    for start, stop, min_pt, max_eta in ((1, 5, 3, 3.0), (5, 9, 3, 2.1), (9, 19, 15, 4.0)):
        block = objects[:, start:stop]
        pt = block[..., 0]
        present = pt > 0
        assert np.all(pt[present] > min_pt)
        assert np.all(np.abs(block[..., 1][present]) < max_eta)
        assert np.all(np.abs(block[..., 2][present]) <= np.pi)
        assert np.all(block[~present] == 0)
        assert np.all(np.diff(pt, axis=1) <= 0)  # sorted by decreasing pT, empty slots last
    # Single-lepton trigger.
    assert np.all(objects[:, 1:9, 0].max(axis=1) > 23)


def test_signals_differ_from_background_in_physical_ways(events):
    objects = _objects(events)
    multiplicity = _multiplicities(objects)
    leptons = multiplicity["electrons"] + multiplicity["muons"]
    process = events.process
    background = events.target == 1
    assert leptons[process == "A_4l"].mean() > 2.5 > 1.5 > leptons[background].mean()
    assert multiplicity["jets"][process == "LQ_btau"].mean() > (
        multiplicity["jets"][process == "W_lnu"].mean() + 1
    )
    met = objects[:, 0, 0]
    assert np.median(met[process == "W_lnu"]) > 2 * np.median(met[process == "Z_ll"])
    assert np.median(met[process == "A_4l"]) < np.median(met[background])


def _dilepton_mass(pair):
    pt, eta, phi = pair[..., 0], pair[..., 1], pair[..., 2]
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    energy = pt * np.cosh(eta)
    return np.sqrt(
        np.maximum(energy.sum(1) ** 2 - px.sum(1) ** 2 - py.sum(1) ** 2 - pz.sum(1) ** 2, 0)
    )


def test_resonances_are_where_they_belong(events):
    objects = _objects(events)
    z = objects[events.process == "Z_ll"]
    two_muons = z[(z[:, 5:9, 0] > 0).sum(axis=1) == 2][:, 5:7]
    assert 85 < np.median(_dilepton_mass(two_muons)) < 97
    # W -> l nu: the transverse mass has its Jacobian edge just below m_W.
    w = objects[events.process == "W_lnu"]
    lepton = np.where(w[:, 1, 0:1] >= w[:, 5, 0:1], w[:, 1], w[:, 5])
    mt = np.sqrt(2 * lepton[:, 0] * w[:, 0, 0] * (1 - np.cos(lepton[:, 2] - w[:, 0, 2])))
    assert 50 < np.median(mt) < 80
    assert np.mean(mt > 100) < 0.1


def test_reproducible_frames_and_counts():
    a = make_adc_events(200, {"A_4l": 30, "hplus_taunu": 0}, as_frame=True, random_state=3)
    b = make_adc_events(200, {"A_4l": 30, "hplus_taunu": 0}, as_frame=True, random_state=3)
    pd.testing.assert_frame_equal(a.data, b.data)
    assert list(a.data.columns) == a.feature_names
    assert a.signal_names == ["A_4l"]
    c = make_adc_events(200, 30, signals="A_4l", random_state=4)
    assert not np.array_equal(np.asarray(a.data), c.data)
    ordered = make_adc_events(50, 10, shuffle=False, random_state=0)
    assert np.all(ordered.target[:50] == 1) and np.all(ordered.target[50:] == 0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_signal": 5, "signals": ["Zprime"]}, "Unknown signal 'Zprime'"),
        ({"n_signal": -1}, "non-negative integer"),
        ({"n_background": 1.5}, "n_background"),
        ({"n_background": 0, "n_signal": 0}, "Nothing to generate"),
    ],
)
def test_bad_arguments_are_explained(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_adc_events(**{"n_background": 10, **kwargs})
