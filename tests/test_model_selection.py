"""Model selection: the run splitter, the random channel partition and the control."""

import numpy as np
import pandas as pd
import pytest
from dqm_models import LogisticChannelClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from channeldecomp.datasets import make_channel_anomalies
from channeldecomp.metrics import fault_mode_indicators
from channeldecomp.model_selection import (
    RunSplit,
    random_channel_partition,
    random_partition_control,
)


def _runs_with_rare_modes():
    # 30 runs of 20 LS; mode A in three runs, mode B in six, a CASTOR mode in one.
    runs = np.repeat(np.arange(30), 20)
    dt = np.where(np.isin(runs, [0, 1, 2]), "dead_region", "")
    ecal = np.where(
        np.isin(runs, [3, 4, 5, 6, 7, 8]) & (np.arange(600) % 20 < 8), "noisy_cells", ""
    )
    castor = np.where(runs == 9, "dead_region", "")
    return runs, pd.DataFrame({"DT": dt, "ECAL": ecal, "CASTOR": castor})


def _test_mask(splitter, runs, **kwargs):
    train, test = next(splitter.split(np.zeros((len(runs), 1)), groups=runs, **kwargs))
    assert sorted(np.concatenate([train, test])) == list(range(len(runs)))
    mask = np.zeros(len(runs), dtype=bool)
    mask[test] = True
    return mask


def _coverage(fault_mode, test):
    """LS per fault mode in the training and the test rows."""
    modes = fault_mode_indicators(fault_mode)
    return pd.DataFrame({"train": modes[~test].sum(), "test": modes[test].sum()})


@pytest.mark.parametrize("seed", range(5))
def test_stratified_split_sees_each_mode_in_training_and_test(seed):
    runs, fault_mode = _runs_with_rare_modes()
    splitter = RunSplit(test_size=0.35, random_state=seed)
    test = _test_mask(splitter, runs, strata=fault_mode)
    assert 0.25 < test.mean() < 0.45
    # Whole runs: no run on both sides.
    assert not set(runs[test]) & set(runs[~test])
    coverage = _coverage(fault_mode, test)
    assert coverage.loc["DT:dead_region"].tolist() == [40, 20]
    assert coverage.loc["ECAL:noisy_cells"].tolist() == [32, 16]
    # A mode in a single run can only be on one side.
    assert sorted(coverage.loc["CASTOR:dead_region"]) == [0, 20]
    np.testing.assert_array_equal(test, _test_mask(splitter, runs, strata=fault_mode))
    # Labels per LS (its rarest mode) stratify the same way as the table of modes.
    labels = np.select(
        [fault_mode["CASTOR"] != "", fault_mode["DT"] != "", fault_mode["ECAL"] != ""],
        ["CASTOR:dead_region", "DT:dead_region", "ECAL:noisy_cells"],
        "",
    )
    np.testing.assert_array_equal(test, _test_mask(splitter, runs, strata=labels))


@pytest.mark.parametrize("stratify", [True, False])
def test_split_falls_back_to_single_ls_when_a_half_lacks_a_class(stratify):
    runs, fault_mode = _runs_with_rare_modes()
    y = (runs != 0).astype(int)  # only run 0 is bad: whole runs leave one half without it
    splitter = RunSplit(test_size=0.35, stratify=stratify, random_state=0)
    with pytest.warns(UserWarning, match="one side without one of y's classes"):
        test = _test_mask(splitter, runs, y=y, strata=fault_mode)
    assert set(y[test]) == set(y[~test]) == {0, 1}
    assert test[runs == 0].any() and not test[runs == 0].all()


def test_split_with_fewer_runs_than_folds_deals_lumisections():
    runs = np.repeat([0, 1], 50)
    with pytest.warns(UserWarning, match="2 run.s. for 3 folds"):
        test = _test_mask(RunSplit(test_size=0.35, random_state=0), runs)
    assert 0.2 < test.mean() < 0.5 and test[runs == 0].any() and test[runs == 1].any()


def test_plain_run_split_can_leave_a_mode_out_of_training():
    runs, fault_mode = _runs_with_rare_modes()
    tests = [
        _test_mask(RunSplit(test_size=0.35, stratify=False, random_state=s), runs)
        for s in range(20)
    ]
    for test in tests:
        assert not set(runs[test]) & set(runs[~test])
        assert abs(test.mean() - 0.35) <= 0.05 + 1e-9
    train_counts = [_coverage(fault_mode, t).loc["DT:dead_region", "train"] for t in tests]
    assert min(train_counts) == 0


def test_run_split_is_a_scikit_learn_splitter():
    import sklearn
    from sklearn.model_selection import cross_validate

    runs, fault_mode = _runs_with_rare_modes()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 2))
    y = (X[:, 0] + 0.5 * rng.normal(size=600) > 0).astype(int)
    splitter = RunSplit(test_size=0.35, random_state=3)
    assert splitter.get_n_splits() == 1
    assert repr(splitter) == "RunSplit(random_state=3, stratify=True, test_size=0.35)"
    result = cross_validate(LogisticRegression(), X, y, groups=runs, cv=splitter)
    assert len(result["test_score"]) == 1
    # With metadata routing, the fault modes reach the splitter as well.
    with sklearn.config_context(enable_metadata_routing=True):
        routed = cross_validate(
            LogisticRegression(),
            X,
            y,
            cv=splitter,
            params={"groups": runs, "strata": fault_mode},
            return_indices=True,
        )
    (test,) = routed["indices"]["test"]
    expected = _test_mask(splitter, runs, y=y, strata=fault_mode)
    assert sorted(test) == np.flatnonzero(expected).tolist()


def test_run_split_errors():
    runs, _ = _runs_with_rare_modes()
    with pytest.raises(ValueError, match="pass groups= the run of each lumisection"):
        next(RunSplit().split(np.zeros((600, 1))))
    with pytest.raises(ValueError, match="test_size must be in"):
        next(RunSplit(test_size=1.5).split(np.zeros((600, 1)), groups=runs))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        next(RunSplit().split(np.zeros((600, 1)), groups=runs[:-1]))


def test_random_partition_has_the_sizes_and_no_overlap():
    groups = random_channel_partition([3, 2, 4], 9, random_state=0)
    assert [len(g) for g in groups] == [3, 2, 4]
    assert sorted(np.concatenate(groups).tolist()) == list(range(9))
    again = random_channel_partition([3, 2, 4], 9, random_state=0)
    assert all((a == b).all() for a, b in zip(groups, again))
    with pytest.raises(ValueError, match="need 10 columns; X has 9"):
        random_channel_partition([3, 3, 4], 9)


def test_random_partition_control_separates_decomposition_from_correlation():
    data = make_channel_anomalies(
        n_samples=3000, n_features_per_channel=12, multi_channel_fraction=0.0, random_state=5
    )
    model = make_pipeline(
        StandardScaler().set_output(transform="pandas"), LogisticChannelClassifier()
    )
    control = random_partition_control(
        model,
        data.data,
        data.target,
        channel_truth=data.channel_truth,
        subsystem_labels=data.channel_truth.rename(columns=lambda c: f"sub_{c}"),
        sample_weight=data.luminosity,
        n_repeats=2,
        random_state=0,
    )
    assert len(control.random) == 2 and len(control.partitions) == 2
    sizes = {c: len(cols) for c, cols in data.channels.items()}
    for partition in control.partitions:
        assert {c: len(cols) for c, cols in partition.items()} == sizes
        assert sorted(sum(partition.values(), [])) == list(range(data.data.shape[1]))
    assert partition != {c: list(range(k * 12, (k + 1) * 12)) for k, c in enumerate(sizes)}
    reference = control.reference.decomposition_auc
    shuffled = pd.concat([r.decomposition_auc for r in control.random], axis=1).mean(axis=1)
    assert list(reference.index) == list(sizes)
    assert reference.min() > 0.8
    assert (reference - shuffled).min() > 0.1
    # Among bad LS only, random channels fall towards 0.5 while the real ones stay high.
    bad_only = control.reference.bad_only_decomposition_auc
    shuffled_bad = pd.concat([r.bad_only_decomposition_auc for r in control.random], axis=1)
    assert list(bad_only.index) == list(sizes)
    assert bad_only.min() > 0.8
    assert shuffled_bad.mean(axis=1).max() < 0.7
    matrix = control.reference.channel_subsystem_auc
    assert matrix.shape == (4, 4)
    np.testing.assert_allclose(np.diag(matrix.to_numpy()), reference.to_numpy(), rtol=1e-12)
    assert 0.5 < control.reference.global_auc <= 1


def test_random_partition_control_needs_channels():
    data = make_channel_anomalies(n_samples=100, random_state=0)
    with pytest.raises(TypeError, match="channels"):
        random_partition_control(LogisticRegression(), data.data, data.target)
    with pytest.raises(ValueError, match="n_repeats"):
        random_partition_control(LogisticChannelClassifier(), data.data, data.target, n_repeats=0)


class _RecordingChannelClassifier(LogisticChannelClassifier):
    """Remembers the rows of every fit (the index of X)."""

    fitted_rows = []

    def fit(self, X, y, sample_weight=None):
        _RecordingChannelClassifier.fitted_rows.append(np.asarray(X.index))
        return super().fit(X, y, sample_weight=sample_weight)


def test_random_partition_control_holds_out_whole_groups():
    data = make_channel_anomalies(n_samples=1200, n_features_per_channel=4, random_state=2)
    runs = np.arange(len(data.data)) // 40  # 30 "runs" of 40 lumisections
    _RecordingChannelClassifier.fitted_rows = []
    random_partition_control(
        _RecordingChannelClassifier(),
        data.data,
        data.target,
        channel_truth=data.channel_truth,
        n_repeats=1,
        groups=runs,
        random_state=0,
    )
    assert len(_RecordingChannelClassifier.fitted_rows) == 2  # reference and one partition
    for rows in _RecordingChannelClassifier.fitted_rows:
        train_runs = set(runs[rows])
        test_runs = set(runs) - train_runs
        assert test_runs and not train_runs & set(runs[np.setdiff1d(np.arange(1200), rows)])
        assert abs(len(test_runs) / 30 - 0.25) < 0.05
    with pytest.raises(ValueError, match="groups has 3 rows"):
        random_partition_control(
            _RecordingChannelClassifier(), data.data, data.target, groups=[1, 2, 3]
        )
