"""The simulated detector: arrays contract, truth consistency, fault visibility, determinism."""

import inspect

import numpy as np
import pandas as pd
import pytest

from channeldecomp import LumiSections
from channeldecomp.datasets import (
    DETECTOR_CHANNELS,
    DETECTOR_FAULT_MODES,
    DETECTOR_VISIBILITY,
    FAULT_VISIBILITY,
    detector_visibility,
    simulate_lumisections,
)
from channeldecomp.datasets._detector import _simulate_arrays

SUBSYSTEMS = list(DETECTOR_VISIBILITY)


@pytest.fixture(scope="module")
def mixed():
    return _simulate_arrays(300, 60, bad_fraction=0.4, multi_fault_fraction=0.5, random_state=0)


def test_arrays_follow_the_from_arrays_contract(mixed):
    arrays, truth = mixed
    run, lumi, n_events = arrays["run"], arrays["lumi"], arrays["n_events"]
    assert run.shape == lumi.shape == n_events.shape == (300,)
    assert all(np.issubdtype(a.dtype, np.integer) for a in (run, lumi, n_events))
    assert len(set(zip(run.tolist(), lumi.tolist()))) == 300
    assert n_events.min() >= 1
    n_total = int(n_events.sum())
    assert set(arrays["objects"]) == set(DETECTOR_CHANNELS)
    for channel, (n_objects, properties) in arrays["objects"].items():
        assert n_objects.shape == (n_total,), channel
        assert np.issubdtype(n_objects.dtype, np.integer)
        assert "pt" in properties and {"eta", "phi"} <= set(properties)
        for name, values in properties.items():
            assert values.dtype == np.float64, (channel, name)
            assert values.shape == (int(n_objects.sum()),), (channel, name)
            assert np.isfinite(values).all(), (channel, name)
        assert (properties["pt"] > 0).all()
        assert (np.abs(properties["phi"]) <= np.pi + 1e-9).all()
    for name, values in arrays["event_columns"].items():
        assert values.shape == (n_total,), name
    # Lumi numbers count up from 1 within each run; runs are contiguous blocks in order.
    starts = np.flatnonzero(np.r_[True, run[1:] != run[:-1]])
    assert np.all(np.diff(run[starts]) > 0)
    for a, b in zip(starts, np.r_[starts[1:], 300]):
        np.testing.assert_array_equal(lumi[a:b], np.arange(1, b - a + 1))


def test_physics_shapes(mixed):
    arrays, truth = mixed
    clean, _ = _simulate_arrays(300, 60, bad_fraction=0.0, random_state=0)
    objects = clean["objects"]
    # Falling pT spectra: many more soft than hard objects.
    for channel, (_, properties) in objects.items():
        pt = properties["pt"]
        assert np.median(pt) < 0.75 * np.mean(pt[pt > np.median(pt)]), channel
    # Per-type eta acceptance.
    assert np.abs(objects["muons"][1]["eta"]).max() <= 2.4
    assert np.abs(objects["photons"][1]["eta"]).max() <= 2.5
    assert np.abs(objects["calo_jets"][1]["eta"]).max() > 3.0
    # Luminosity decays within a fill, and events and pile-up grow with it.
    luminosity = truth["luminosity"]
    assert np.corrcoef(luminosity, arrays["n_events"])[0, 1] > 0.5
    ls = np.repeat(np.arange(300), clean["n_events"])
    pileup = np.bincount(ls, clean["event_columns"]["pileup"]) / clean["n_events"]
    assert np.corrcoef(luminosity, pileup)[0, 1] > 0.7
    n_pf = np.bincount(ls, objects["pf"][0]) / clean["n_events"]
    assert np.corrcoef(pileup, n_pf)[0, 1] > 0.5
    run = arrays["run"]
    for number in np.unique(run):
        in_run = luminosity[run == number]
        if in_run.size >= 40:
            assert in_run[-10:].mean() < in_run[:10].mean(), number


def test_truth_is_consistent_with_the_visibility_map(mixed):
    _, truth = mixed
    subsystems, channel_truth = truth["subsystems"], truth["channel_truth"]
    assert list(subsystems.columns) == SUBSYSTEMS
    assert list(channel_truth.columns) == list(DETECTOR_CHANNELS)
    any_bad = (subsystems == 0).any(axis=1).to_numpy()
    np.testing.assert_array_equal(truth["y"] == 0, any_bad)
    assert 0.3 < any_bad.mean() < 0.6
    modes = truth["fault_mode"]
    for channel in DETECTOR_CHANNELS:
        seen = np.zeros(len(modes), dtype=bool)
        for (subsystem, mode), channels in FAULT_VISIBILITY.items():
            if channel in channels:
                seen |= (modes[subsystem] == mode).to_numpy()
        np.testing.assert_array_equal(channel_truth[channel], (~seen).astype(np.int64))
    # The subsystem-level map is the union over its fault modes: no channel listed there is
    # unreachable by every mode, and no mode reaches a channel outside it.
    for subsystem in SUBSYSTEMS:
        union = {c for m in DETECTOR_FAULT_MODES[subsystem] for c in FAULT_VISIBILITY[subsystem, m]}
        assert union == set(DETECTOR_VISIBILITY[subsystem]), subsystem
    # Two subsystems failing together happen; the fault modes match the subsystems.
    assert ((subsystems == 0).sum(axis=1) >= 2).any()
    for subsystem in SUBSYSTEMS:
        modes = set(truth["fault_mode"][subsystem]) - {""}
        assert modes <= set(DETECTOR_FAULT_MODES[subsystem])
        np.testing.assert_array_equal(
            truth["fault_mode"][subsystem] == "", subsystems[subsystem] == 1
        )


def test_invisible_fault_is_globally_bad_but_seen_nowhere():
    _, truth = _simulate_arrays(120, 10, subsystems=["CASTOR"], random_state=3)
    bad = truth["y"] == 0
    assert bad.any()
    assert (truth["channel_truth"] == 1).all(axis=None)
    assert detector_visibility().loc["CASTOR"].sum() == 0


def test_faults_come_in_blocks_within_runs(mixed):
    arrays, truth = mixed
    episodes = truth["faults"]
    assert len(episodes) > 3
    assert set(episodes.columns) == {"subsystem", "mode", "strength", "first", "last"}
    run = arrays["run"]
    assert (run[episodes["first"]] == run[episodes["last"]]).all()
    assert (episodes["last"] - episodes["first"]).max() >= 3
    assert episodes["strength"].between(0.7 - 1e-9, 2.8 + 1e-9).all()


def test_label_noise_flips_the_global_label_only():
    arrays, truth = _simulate_arrays(400, 5, label_noise=0.2, random_state=4)
    any_bad = (truth["subsystems"] == 0).any(axis=1).to_numpy()
    flipped = truth["label_flipped"]
    assert 0.1 < flipped.mean() < 0.3
    np.testing.assert_array_equal(truth["y"] == 0, any_bad ^ flipped)


def test_deterministic_given_random_state():
    a, ta = _simulate_arrays(40, 30, random_state=11)
    b, tb = _simulate_arrays(40, 30, random_state=11)
    c, _ = _simulate_arrays(40, 30, random_state=12)
    np.testing.assert_array_equal(a["n_events"], b["n_events"])
    for channel in DETECTOR_CHANNELS:
        for name, values in a["objects"][channel][1].items():
            np.testing.assert_array_equal(values, b["objects"][channel][1][name])
    pd.testing.assert_frame_equal(ta["subsystems"], tb["subsystems"])
    assert not np.array_equal(a["objects"]["pf"][1]["pt"][:50], c["objects"]["pf"][1]["pt"][:50])


def test_difficulty_scales_the_strengths():
    strengths = {}
    for difficulty in ("easy", 1.0, "hard"):
        _, truth = _simulate_arrays(400, 2, difficulty=difficulty, random_state=5)
        strengths[difficulty] = truth["faults"]["strength"].to_numpy()
    np.testing.assert_allclose(strengths["easy"], 2 * strengths[1.0])
    np.testing.assert_allclose(strengths["hard"], strengths[1.0] / 2)


# ---------------------------------------------------------------------------------------------
# Fault visibility: per-LS statistics move in the mapped channels and nowhere else.
# ---------------------------------------------------------------------------------------------


def _per_ls_statistics(arrays):
    """Simple per-LS statistics of every channel: counts, pT levels, eta/phi moments."""
    n_events = arrays["n_events"]
    n_ls = n_events.size
    event_ls = np.repeat(np.arange(n_ls), n_events)
    statistics = {}
    for channel, (n_objects, properties) in arrays["objects"].items():
        ls = np.repeat(event_ls, n_objects)
        n = np.bincount(ls, minlength=n_ls)
        safe = np.maximum(n, 1)
        pt = properties["pt"]
        columns = {
            "objects_per_event": n / n_events,
            "mean_log_pt": np.bincount(ls, np.log(pt), n_ls) / safe,
            "std_log_pt": np.sqrt(
                np.maximum(
                    np.bincount(ls, np.log(pt) ** 2, n_ls) / safe
                    - (np.bincount(ls, np.log(pt), n_ls) / safe) ** 2,
                    0,
                )
            ),
            "mean_eta": np.bincount(ls, properties["eta"], n_ls) / safe,
            "mean_abs_eta": np.bincount(ls, np.abs(properties["eta"]), n_ls) / safe,
            "mean_cos_phi": np.bincount(ls, np.cos(properties["phi"]), n_ls) / safe,
            "mean_sin_phi": np.bincount(ls, np.sin(properties["phi"]), n_ls) / safe,
        }
        # Leading object per event: its pT.
        event = np.repeat(np.arange(n_events.sum()), n_objects)
        leading = np.zeros(n_events.sum())
        np.maximum.at(leading, event, pt)
        columns["mean_log_leading_pt"] = np.bincount(event_ls, np.log1p(leading), n_ls) / n_events
        for name, values in properties.items():
            if name not in ("pt", "eta", "phi"):
                mean = np.bincount(ls, values, n_ls) / safe
                columns[f"mean_{name}"] = mean
                columns[f"std_{name}"] = np.sqrt(
                    np.maximum(np.bincount(ls, values**2, n_ls) / safe - mean**2, 0)
                )
        statistics[channel] = pd.DataFrame(columns)
    return statistics


CASES = [(s, m) for s, modes in DETECTOR_FAULT_MODES.items() for m in modes]


@pytest.mark.parametrize(("subsystem", "mode"), CASES, ids=[f"{s}-{m}" for s, m in CASES])
def test_fault_mode_is_visible_exactly_in_its_channels(subsystem, mode):
    kwargs = dict(n_lumisections=60, events_per_lumisection=150, random_state=21)
    faulty, truth = _simulate_arrays(
        **kwargs, subsystems=[subsystem], fault_modes=[mode], bad_fraction=0.5
    )
    clean, _ = _simulate_arrays(**kwargs, bad_fraction=0.0)
    bad = (truth["subsystems"][subsystem] == 0).to_numpy()
    assert bad.sum() >= 10
    faulty_stats = _per_ls_statistics(faulty)
    clean_stats = _per_ls_statistics(clean)
    for channel in DETECTOR_CHANNELS:
        difference = faulty_stats[channel] - clean_stats[channel]
        if channel not in FAULT_VISIBILITY[subsystem, mode]:
            # Truly invisible: the events of this channel are exactly the fault-free ones.
            assert (difference.to_numpy() == 0).all(), channel
            n_faulty, _ = faulty["objects"][channel]
            np.testing.assert_array_equal(n_faulty, clean["objects"][channel][0])
            continue
        assert (difference[~bad].to_numpy() == 0).all(), channel
        # Visible: on bad LS, some statistic moves by well over its LS-to-LS spread.
        spread = clean_stats[channel].std()
        shift = (difference[bad].abs() / spread).mean()
        assert shift.max() > 1.0, (channel, shift.sort_values().tail(3).to_dict())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_lumisections": 0},
        {"events_per_lumisection": 2.5},
        {"difficulty": 0},
        {"difficulty": "extreme"},
        {"bad_fraction": 1.0},
        {"label_noise": 1.5},
        {"mean_fault_length": 0.5},
        {"subsystems": ["Muon"]},
        {"subsystems": []},
        {"fault_modes": ["meltdown"]},
    ],
)
def test_bad_arguments_are_named(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name.split("_")[0]):
        _simulate_arrays(**{"n_lumisections": 5, "events_per_lumisection": 5, **kwargs})


def test_simulate_lumisections_returns_the_documented_bunch():
    from channeldecomp import LumiSectionPercentiles, LumiSections
    from channeldecomp.datasets import simulate_lumisections

    data = simulate_lumisections(n_lumisections=50, events_per_lumisection=40, random_state=2)
    assert isinstance(data.lumisections, LumiSections)
    assert len(data.lumisections) == 50
    assert data.y.shape == data.luminosity.shape == (50,)
    np.testing.assert_array_equal(data.target, data.y)
    keys = data["keys"]
    assert list(keys.names) == ["run", "lumi"] and keys.is_unique
    np.testing.assert_array_equal(
        data.lumisections.n_events, _simulate_arrays(50, 40, random_state=2)[0]["n_events"]
    )
    for frame in (data.subsystems, data.channel_truth, data.fault_mode, data.fault_strength):
        assert len(frame) == 50
    assert data.visibility.equals(detector_visibility(by_mode=True))
    assert detector_visibility(by_mode=True).loc[("HCAL", "scale_drift"), "pf"] == 0
    features = LumiSectionPercentiles(n_quantiles=2, percentiles=[50], statistics=["mean"])
    X = features.set_output(transform="pandas").fit_transform(data.lumisections)
    assert {name.split("__")[0] for name in X.columns} == {*DETECTOR_CHANNELS, "ls"}
    np.testing.assert_allclose(X["ls__luminosity_mean"], data.luminosity)
    assert X.index.equals(keys)


def test_spurious_objects_are_added_to_the_right_events():
    kwargs = dict(n_lumisections=40, events_per_lumisection=50, random_state=8)
    noisy, truth = _simulate_arrays(
        **kwargs,
        subsystems=["ECAL", "HCAL"],
        fault_modes=["noisy_cells"],
        multi_fault_fraction=1.0,
        bad_fraction=0.6,
    )
    clean, _ = _simulate_arrays(**kwargs, bad_fraction=0.0)
    both = ((truth["subsystems"] == 0).sum(axis=1) == 2).to_numpy()
    assert both.any()
    event_ls = np.repeat(np.arange(40), noisy["n_events"])
    for channel in ("pf", "calo_jets"):
        n_noisy, p_noisy = noisy["objects"][channel]
        n_clean, p_clean = clean["objects"][channel]
        extra = n_noisy - n_clean
        assert extra.min() == 0 and extra[both[event_ls]].sum() > 0
        assert extra[~(truth["subsystems"] == 0).any(axis=1).to_numpy()[event_ls]].sum() == 0
        # Every event keeps its own fault-free objects first, then the spurious ones.
        start_noisy = np.r_[0, np.cumsum(n_noisy)[:-1]]
        positions = np.repeat(start_noisy, n_clean) + (
            np.arange(n_clean.sum()) - np.repeat(np.r_[0, np.cumsum(n_clean)[:-1]], n_clean)
        )
        np.testing.assert_array_equal(p_noisy["pt"][positions], p_clean["pt"])
        hot = np.ones(n_noisy.sum(), dtype=bool)
        hot[positions] = False
        assert (p_noisy["pt"][hot] >= 10.0).all()


@pytest.mark.slow
def test_each_channel_can_recover_its_truth_from_its_own_features():
    # The supervised ceiling documented in docs/simulator.md: trained with the per-channel truth
    # on one channel's features, scored on held-out runs.
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    from channeldecomp import LumiSectionPercentiles
    from channeldecomp.datasets import simulate_lumisections

    data = simulate_lumisections(3000, 300, random_state=1)
    features = LumiSectionPercentiles(lumisection_columns=False)
    X = features.fit_transform(data.lumisections)
    names = np.array([name.split("__")[0] for name in features.get_feature_names_out()])
    runs = data["keys"].get_level_values("run").to_numpy()
    test = np.isin(runs, np.unique(runs)[1::3])
    for channel in DETECTOR_CHANNELS:
        truth = data.channel_truth[channel].to_numpy()
        columns = X[:, names == channel]
        model = HistGradientBoostingClassifier(random_state=0)
        model.fit(columns[~test], truth[~test])
        auc = roc_auc_score(truth[test], model.predict_proba(columns[test])[:, 1])
        assert auc > 0.9, (channel, auc)


def test_the_private_simulation_has_the_public_defaults():
    # simulate_lumisections forwards every argument to _simulate_arrays, which the tests call
    # directly with its own defaults: the two signatures must not drift apart.
    public = inspect.signature(simulate_lumisections).parameters
    private = inspect.signature(_simulate_arrays).parameters
    assert {name: p.default for name, p in public.items()} == {
        name: p.default for name, p in private.items()
    }


# ---------------------------------------------------------------------------------------------
# Simulation in blocks of LS (block_size): bounded memory, the same LS, faults and truth.
# ---------------------------------------------------------------------------------------------

PER_LS_TABLES = ("subsystems", "channel_truth", "fault_mode", "fault_strength", "faults")


def test_one_block_holds_the_events_of_one_draw():
    whole = simulate_lumisections(40, 30, random_state=4, difficulty="hard")
    blocked = simulate_lumisections(40, 30, random_state=4, difficulty="hard", block_size=40)
    assert "lumisections" not in blocked and len(blocked.blocks) == 1
    assert blocked.blocks[0].equals(whole.lumisections)
    assert blocked.blocks[-1].equals(whole.lumisections)
    assert simulate_lumisections(40, 30, random_state=4, block_size=1000).blocks.block_size == 40


def test_blocks_share_the_lumisections_faults_and_truth_of_one_draw():
    kwargs = dict(n_lumisections=45, events_per_lumisection=20, random_state=9, label_noise=0.1)
    whole = simulate_lumisections(**kwargs)
    blocked = simulate_lumisections(**kwargs, block_size=10)
    blocks = blocked.blocks
    assert len(blocks) == 5 and "5 blocks of up to 10" in repr(blocks)
    assert [len(block) for block in blocks] == [10, 10, 10, 10, 5]
    keys = whole["keys"]
    assert blocked["keys"].equals(keys)
    assert LumiSections.concat(list(blocks)).keys.equals(keys)
    np.testing.assert_array_equal(
        np.concatenate([b.n_events for b in blocks]), whole.lumisections.n_events
    )
    np.testing.assert_array_equal(blocked.y, whole.y)
    np.testing.assert_array_equal(blocked.label_flipped, whole.label_flipped)
    np.testing.assert_array_equal(blocked.luminosity, whole.luminosity)
    for name in PER_LS_TABLES:
        pd.testing.assert_frame_equal(blocked[name], whole[name], obj=name)
    # Drawn again on each access, the same each time; the later blocks' events are their own.
    assert blocks[3].equals(blocks[3])
    assert not blocks[3].equals(whole.lumisections[list(range(30, 40))])


def test_blocks_draw_events_from_the_distributions_of_one_draw():
    # Fault-free LS: per-channel objects per event and mean log pT, pooled over about 10,000
    # events, agree between the two draws within 5 % (the Poisson error of the counts is under
    # 1 %, of the mean log pT under 1 % too).
    kwargs = dict(n_lumisections=200, events_per_lumisection=50, bad_fraction=0.0, random_state=3)
    whole = simulate_lumisections(**kwargs).lumisections
    blocks = list(simulate_lumisections(**kwargs, block_size=30).blocks)

    def pooled(parts, channel):
        counts = np.concatenate([p.object_counts(channel) for p in parts])
        pt = np.concatenate([p.object_values(channel, "pt") for p in parts])
        return counts.mean(), np.log(pt).mean()

    for channel in DETECTOR_CHANNELS:
        np.testing.assert_allclose(pooled(blocks, channel), pooled([whole], channel), rtol=0.05)


def test_faults_reach_the_events_of_every_block():
    # The later blocks look their LS up in the global fault tables: a DT efficiency drop loses
    # muons on its bad LS in every block that has some.
    data = simulate_lumisections(
        120,
        80,
        subsystems=["DT"],
        fault_modes=["efficiency_drop"],
        bad_fraction=0.5,
        difficulty="easy",
        random_state=1,
        block_size=40,
    )
    bad = data.subsystems["DT"].to_numpy() == 0
    checked = []
    for i, block in enumerate(data.blocks):
        in_block = bad[40 * i : 40 * (i + 1)]
        if in_block.any() and (~in_block).any():
            checked.append(i)
            ls = np.repeat(np.arange(len(block)), block.n_events)
            per_event = np.bincount(ls, block.object_counts("muons")) / block.n_events
            assert per_event[in_block].mean() < 0.9 * per_event[~in_block].mean(), i
    assert max(checked) > 0, checked


@pytest.mark.parametrize("block_size", [0, 2.5, "10", True])
def test_bad_block_size_is_named(block_size):
    with pytest.raises(ValueError, match="block_size"):
        simulate_lumisections(5, 5, block_size=block_size)


def test_blocks_are_indexed_by_an_integer_in_range():
    blocks = simulate_lumisections(12, 5, random_state=0, block_size=5).blocks
    with pytest.raises(TypeError, match="indexed by an integer"):
        blocks[0:2]
    with pytest.raises(IndexError, match="3 blocks"):
        blocks[3]
    assert blocks[-3].equals(blocks[0])
