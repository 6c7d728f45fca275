import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import precision_score, recall_score, roc_auc_score

from channeldecomp.datasets import make_channel_anomalies
from channeldecomp.metrics import (
    bad_only_decomposition_auc,
    channel_subsystem_auc,
    decomposition_auc,
    decomposition_summary,
    evaluate_triage,
    exclusive_anomaly_fraction,
    fault_labels,
    fault_mode_indicators,
    global_auc_by_fault,
    match_channels,
    precision_at_recall,
    triage,
    triage_thresholds,
)


def _random_inputs(seed, n=300, n_channels=3, n_subsystems=4, weighted=True):
    rng = np.random.default_rng(seed)
    scores = pd.DataFrame(rng.random((n, n_channels)), columns=[f"c{i}" for i in range(n_channels)])
    labels = pd.DataFrame(
        (rng.random((n, n_subsystems)) > rng.uniform(0.05, 0.5, n_subsystems)).astype(int),
        columns=[f"s{j}" for j in range(n_subsystems)],
    )
    weight = rng.uniform(0.1, 3, n) if weighted else None
    return scores, labels, weight


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), weighted=st.booleans())
def test_channel_subsystem_auc_matches_sklearn(seed, weighted):
    scores, labels, weight = _random_inputs(seed, weighted=weighted)
    # Ties in the scores as well, to check they count as 1/2 like sklearn does.
    scores["c2"] = np.round(scores["c2"], 1)
    auc = channel_subsystem_auc(scores, labels, sample_weight=weight)
    assert list(auc.index) == list(scores.columns)
    assert list(auc.columns) == list(labels.columns)
    for channel in scores:
        for subsystem in labels:
            expected = roc_auc_score(labels[subsystem], scores[channel], sample_weight=weight)
            assert auc.loc[channel, subsystem] == pytest.approx(expected, abs=1e-12)
    assert auc.attrs["n_bad"] == {s: int((labels[s] == 0).sum()) for s in labels}


def test_channel_subsystem_auc_single_class_is_nan_with_warning():
    scores, labels, _ = _random_inputs(0)
    labels["s1"] = 1
    with pytest.warns(UndefinedMetricWarning, match="'s1'"):
        auc = channel_subsystem_auc(scores, labels)
    assert auc["s1"].isna().all()
    assert auc.drop(columns="s1").notna().all().all()
    # Missing flags are left out of their column only.
    labels = labels.astype(float)
    labels.loc[:9, "s0"] = np.nan
    auc = channel_subsystem_auc(scores, labels.drop(columns="s1"))
    expected = roc_auc_score(labels["s0"].iloc[10:], scores["c0"].iloc[10:])
    assert auc.loc["c0", "s0"] == pytest.approx(expected)


def test_channel_subsystem_auc_input_errors():
    scores, labels, _ = _random_inputs(1)
    with pytest.raises(ValueError, match="rows"):
        channel_subsystem_auc(scores, labels.iloc[:-1])
    with pytest.raises(ValueError, match="different indexes"):
        channel_subsystem_auc(scores, labels.set_axis(labels.index + 1))
    with pytest.raises(ValueError, match="binary"):
        channel_subsystem_auc(scores, labels * np.arange(len(labels))[:, None])
    with pytest.raises(ValueError, match="sample_weight"):
        channel_subsystem_auc(scores, labels, sample_weight=np.ones(3))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), weighted=st.booleans())
def test_decomposition_auc_matches_sklearn(seed, weighted):
    scores, truth, weight = _random_inputs(seed, n_subsystems=3, weighted=weighted)
    truth.columns = scores.columns
    shuffled = truth[["c2", "c0", "c1"]]  # matched by name, not position
    auc = decomposition_auc(scores, shuffled, sample_weight=weight)
    for channel in scores:
        expected = roc_auc_score(truth[channel], scores[channel], sample_weight=weight)
        assert auc[channel] == pytest.approx(expected, abs=1e-12)


def test_decomposition_auc_errors_and_nan():
    scores, truth, _ = _random_inputs(2, n_subsystems=3)
    with pytest.raises(ValueError, match="no column for channel"):
        decomposition_auc(scores, truth)
    truth.columns = scores.columns
    truth["c1"] = 0
    with pytest.warns(UndefinedMetricWarning):
        auc = decomposition_auc(scores, truth)
    assert np.isnan(auc["c1"]) and not np.isnan(auc["c0"])
    # A channel whose every score is NaN, or no row at all (e.g. a subset of runs without
    # lumisections): undefined, NaN with the warning, as for an absent class.
    scores["c0"] = np.nan
    with pytest.warns(UndefinedMetricWarning):
        auc = decomposition_auc(scores, truth)
    assert np.isnan(auc["c0"]) and not np.isnan(auc["c2"])
    with pytest.warns(UndefinedMetricWarning):
        assert decomposition_auc(scores.iloc[:0], truth.iloc[:0]).isna().all()
    with pytest.warns(UndefinedMetricWarning):
        assert channel_subsystem_auc(scores.iloc[:0], truth.iloc[:0]).isna().all().all()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), threshold=st.floats(0.05, 0.95))
def test_exclusive_anomaly_fraction_matches_direct_computation(seed, threshold):
    scores, labels, weight = _random_inputs(seed, n=400)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        fraction = exclusive_anomaly_fraction(
            scores, labels, threshold=threshold, sample_weight=weight
        )
    n_bad = (labels == 0).sum(axis=1)
    for subsystem in labels:
        exclusive = (n_bad == 1) & (labels[subsystem] == 0)
        assert fraction.attrs["n_exclusive"][subsystem] == exclusive.sum()
        for channel in scores:
            if exclusive.sum() == 0:
                assert np.isnan(fraction.loc[channel, subsystem])
                continue
            flagged = (scores.loc[exclusive, channel] < threshold).to_numpy()
            # recall_score of "flagged" among exclusive anomalies is the same number.
            expected = recall_score(
                np.ones(exclusive.sum()), flagged, sample_weight=weight[exclusive.to_numpy()]
            )
            assert fraction.loc[channel, subsystem] == pytest.approx(expected)


def test_exclusive_anomaly_fraction_per_channel_thresholds():
    scores = pd.DataFrame({"a": [0.3, 0.3, 0.9], "b": [0.3, 0.3, 0.9]})
    labels = pd.DataFrame({"X": [0, 0, 1], "Y": [1, 1, 0]})
    fraction = exclusive_anomaly_fraction(scores, labels, threshold={"a": 0.5, "b": 0.2})
    assert fraction.loc["a", "X"] == 1.0 and fraction.loc["b", "X"] == 0.0
    with pytest.raises(ValueError, match="channel"):
        exclusive_anomaly_fraction(scores, labels, threshold={"a": 0.5})


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    recall=st.floats(0.0, 1.0),
    weighted=st.booleans(),
)
def test_precision_at_recall_matches_brute_force(seed, recall, weighted):
    rng = np.random.default_rng(seed)
    n = 60
    y = (rng.random(n) < 0.6).astype(int)
    y[:2] = [0, 1]
    score = np.round(rng.random(n) + 0.3 * y, 2)
    weight = rng.uniform(0.2, 2, n) if weighted else None
    best = 0.0
    for threshold in np.unique(score):
        predicted = (score >= threshold).astype(int)
        if recall_score(y, predicted, sample_weight=weight) >= recall - 1e-12:
            best = max(best, precision_score(y, predicted, sample_weight=weight))
    assert precision_at_recall(y, score, recall=recall, sample_weight=weight) == pytest.approx(best)


def test_precision_at_recall_pos_label_and_errors():
    y = np.array(["bad", "good", "good", "bad"])
    score = np.array([0.2, 0.9, 0.4, 0.5])
    assert precision_at_recall(y, score, recall=0.5, pos_label="good") == 1.0
    with pytest.raises(ValueError, match="recall"):
        precision_at_recall(y, score, recall=1.5, pos_label="good")


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    max_pollution=st.sampled_from([0.0, 0.01, 0.05, 0.2]),
    max_loss=st.sampled_from([0.0, 0.01, 0.05, 0.2]),
    weighted=st.booleans(),
)
def test_triage_thresholds_meet_targets_and_are_optimal_on_calibration(
    seed, max_pollution, max_loss, weighted
):
    rng = np.random.default_rng(seed)
    n = 200
    y = (rng.random(n) < 0.7).astype(int)
    score = np.round(np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1), 2)
    weight = rng.uniform(0.2, 2, n) if weighted else np.ones(n)
    reject_at, accept_at = triage_thresholds(
        y,
        score,
        max_pollution=max_pollution,
        max_loss=max_loss,
        confidence=None,
        sample_weight=weight,
    )
    assert reject_at < accept_at
    result = evaluate_triage(y, score, (reject_at, accept_at), sample_weight=weight)
    assert result["pollution"] <= max_pollution + 1e-12
    assert result["loss"] <= max_loss + 1e-12
    total = result["accepted_fraction"] + result["rejected_fraction"] + result["manual_fraction"]
    assert total == pytest.approx(1.0)

    # Direct check: no lower accept threshold meets the pollution target.
    def pollution(t):
        accepted = score >= t
        return np.average(1 - y[accepted], weights=weight[accepted]) if accepted.any() else 0.0

    lower = [t for t in np.unique(score) if t < accept_at]
    assert all(pollution(t) > max_pollution + 1e-12 for t in lower)


def test_triage_respects_targets_on_held_out_data():
    # One large sample of the generator: a global model trained on the first 8000 LS, the
    # thresholds chosen on 5000 of the rest and evaluated on the other ~47000 (so the held-out
    # rates are close to the true ones).
    data = make_channel_anomalies(n_samples=60000, random_state=11)
    X, y = data.data.to_numpy(), data.target.to_numpy()
    model = QuadraticDiscriminantAnalysis(reg_param=0.1).fit(X[:8000], y[:8000])
    p_good, y_rest = model.predict_proba(X[8000:])[:, 1], y[8000:]
    assert roc_auc_score(y_rest, p_good) > 0.95
    rng = np.random.default_rng(0)
    violations = {0.95: 0, None: 0}
    for max_pollution, max_loss in ((0.01, 0.02), (0.004, 0.006)):
        for _ in range(5):
            order = rng.permutation(len(y_rest))
            calibration, held_out = order[:5000], order[5000:]
            for confidence in violations:
                thresholds = triage_thresholds(
                    y_rest[calibration],
                    p_good[calibration],
                    max_pollution=max_pollution,
                    max_loss=max_loss,
                    confidence=confidence,
                )
                result = evaluate_triage(y_rest[held_out], p_good[held_out], thresholds)
                assert result["accepted_fraction"] > 0.3 and result["rejected_fraction"] > 0.1
                assert result["manual_fraction"] < 0.4
                violations[confidence] += (
                    result["pollution"] > max_pollution or result["loss"] > max_loss
                )
    # The default (95% upper bounds) holds its targets on held-out data but for the odd
    # unlucky calibration draw; the plain empirical rule misses them most of the time.
    assert violations[0.95] <= 2
    assert violations[None] >= 5


def test_triage_splits_calibration_from_evaluation():
    rng = np.random.default_rng(3)
    y_rest = (rng.random(6000) < 0.75).astype(int)
    p_good = np.where(y_rest == 1, rng.beta(5, 1, 6000), rng.beta(1, 5, 6000))
    strict = triage(y_rest, p_good, max_pollution=0.01, max_loss=0.01, random_state=0)
    assert strict.reject_at < strict.accept_at
    assert strict.calibration["n_accepted"] > 0 and strict.calibration["n_rejected"] > 0
    assert strict.calibration["pollution"] <= 0.01 and strict.calibration["loss"] <= 0.01
    n_total = sum(strict.evaluation[k] for k in ("n_accepted", "n_rejected", "n_manual"))
    assert n_total == len(y_rest) // 2
    # Looser targets leave less to review.
    loose = triage(y_rest, p_good, max_pollution=0.05, max_loss=0.05, random_state=0)
    assert loose.evaluation["manual_fraction"] < strict.evaluation["manual_fraction"] - 0.05
    # A different split seed gives different (but close) thresholds.
    other = triage(y_rest, p_good, max_pollution=0.01, max_loss=0.01, random_state=1)
    assert other.accept_at != strict.accept_at
    assert abs(other.accept_at - strict.accept_at) < 0.1


def test_triage_without_feasible_threshold_accepts_nothing():
    y = np.array([1, 0, 1, 0, 1, 0])
    score = np.array([0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    reject_at, accept_at = triage_thresholds(
        y, score, max_pollution=0.1, max_loss=0.1, confidence=None
    )
    assert (reject_at, accept_at) == (-np.inf, np.inf)
    assert evaluate_triage(y, score, (reject_at, accept_at))["manual_fraction"] == 1.0
    with pytest.raises(ValueError, match="max_pollution"):
        triage_thresholds(y, score, max_pollution=1.5)
    with pytest.raises(ValueError, match="reject_at < accept_at"):
        evaluate_triage(y, score, (0.6, 0.4))


def test_bad_only_decomposition_auc_is_decomposition_auc_over_the_bad_rows():
    scores, truth, weight = _random_inputs(3, n_channels=4, n_subsystems=4)
    truth.columns = scores.columns
    y = np.where(truth.all(axis=1), "ok", "bad")
    bad = y == "bad"
    result = bad_only_decomposition_auc(scores, truth, y, good_label="ok", sample_weight=weight)
    expected = decomposition_auc(scores[bad], truth[bad], sample_weight=weight[bad])
    assert result.name == "bad_only_decomposition_auc"
    np.testing.assert_allclose(result.to_numpy(), expected.to_numpy(), rtol=1e-12)
    # A global detector (the same score in every channel) tells no channel from another there.
    blind = pd.DataFrame({c: np.where(bad, 0.1, 0.9) for c in scores.columns})
    assert (decomposition_auc(blind, truth) > 0.6).all()
    np.testing.assert_allclose(bad_only_decomposition_auc(blind, truth, y, good_label="ok"), 0.5)
    with pytest.raises(ValueError, match="y_true has 299 rows but channel_scores has 300"):
        bad_only_decomposition_auc(scores, truth, y[:-1], good_label="ok")


def test_fault_labels_partition_the_bad_lumisections():
    fault_mode = pd.DataFrame(
        {
            "DT": ["", "dead_region", "dead_region", "", "", ""],
            "ECAL": ["", "", "noisy_cells", "noisy_cells", "", "noisy_cells"],
        }
    )
    y = np.array([1, 0, 0, 0, 0, 1])  # the last: a fault whose LS was labelled good
    labels = fault_labels(fault_mode, y)
    assert list(labels) == [
        "",
        "DT:dead_region",
        "several faults",
        "ECAL:noisy_cells",
        "no fault (label noise)",
        "",
    ]
    assert list(fault_labels(fault_mode.iloc[:2, :0], [1, 0])) == ["", "no fault (label noise)"]
    assert list(fault_mode_indicators(fault_mode).columns) == ["DT:dead_region", "ECAL:noisy_cells"]
    with pytest.raises(TypeError, match="fault_mode must be a DataFrame"):
        fault_mode_indicators(fault_mode.to_numpy())


def test_global_auc_is_the_sum_of_its_terms_by_fault():
    rng = np.random.default_rng(0)
    y = (rng.random(300) > 0.3).astype(int)
    labels = np.where(y == 1, "", rng.choice(["A:x", "B:y", "several faults"], 300))
    # Coarse scores, so that ties between good and bad LS count too.
    p_good = np.round(rng.random(300) * 0.5 + 0.4 * y, 1)
    # The bad LS of fault A are the easiest: their AUC is the highest.
    p_good[labels == "A:x"] -= 0.3
    faults = global_auc_by_fault(y, p_good, labels)
    assert list(faults.index) == ["A:x", "B:y", "several faults"]
    assert faults["n_bad"].sum() == (y == 0).sum()
    weighted = (faults["auc"] * faults["n_bad"]).sum() / (y == 0).sum()
    assert weighted == pytest.approx(roc_auc_score(y, p_good), abs=1e-12)
    assert faults.loc["A:x", "auc"] > faults.loc[["B:y", "several faults"], "auc"].max()
    # Each fault's AUC is that of its bad LS against all good ones; weights enter as in sklearn.
    weight = rng.uniform(0.5, 2, 300)
    rows = (y == 1) | (labels == "B:y")
    weighted_faults = global_auc_by_fault(y, p_good, labels, sample_weight=weight)
    expected = roc_auc_score(y[rows], p_good[rows], sample_weight=weight[rows])
    assert weighted_faults.loc["B:y", "auc"] == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError, match="y_true has 300 rows but faults has 299"):
        global_auc_by_fault(y, p_good, labels[:-1])


def test_match_channels_gives_each_channel_its_best_column():
    scores, truth, _ = _random_inputs(4, n_channels=3, n_subsystems=3, weighted=False)
    truth.columns = ["a", "b", "c"]
    # Columns that follow the truth, shuffled and renamed; one of them is noise.
    groups = pd.DataFrame(
        {"g0": truth["c"] + 0.1 * scores["c0"], "g1": scores["c1"], "g2": truth["a"] * 0.5}
    )
    matched = match_channels(groups, truth)
    assert matched.attrs["matched"] == {"a": "g2", "b": "g1", "c": "g0"}
    assert list(matched.columns) == ["a", "b", "c"]
    np.testing.assert_array_equal(matched["c"], groups["g0"])
    with pytest.raises(ValueError, match="2 columns for 3 channels"):
        match_channels(groups.iloc[:, :2], truth)


def test_decomposition_summary_takes_named_columns_by_name_and_others_by_position():
    rng = np.random.default_rng(0)
    truth = pd.DataFrame((rng.random((120, 3)) > 0.25).astype(int), columns=["a", "b", "c"])
    y = truth.all(axis=1).astype(int).to_numpy()
    scores = truth + 0.01 * rng.random((120, 3))
    p_good = scores.min(axis=1)
    perfect = decomposition_summary(y, p_good, scores[["c", "a", "b"]], truth)
    assert perfect == {
        "global_auc": 1.0,
        "mean_channel_auc": 1.0,
        "worst_channel_auc": 1.0,
        "bad_only_channel_auc": 1.0,
    }
    # Unnamed columns are taken in the truth's order: a permutation scores worse ...
    permuted = scores.to_numpy()[:, [2, 0, 1]]
    assert decomposition_summary(y, p_good, permuted, truth)["mean_channel_auc"] < 0.8
    # ... unless matched to the channels (the random-partition control's groups).
    assert decomposition_summary(y, p_good, permuted, truth, match=True)["worst_channel_auc"] == 1
    # A method without channel scores, and a test set of one class.
    assert np.isnan(decomposition_summary(y, p_good, None, truth)["bad_only_channel_auc"])
    good = np.flatnonzero(y == 1)
    one_class = decomposition_summary(y[good], p_good.iloc[good], None, truth.iloc[good])
    assert np.isnan(one_class["global_auc"])


def test_decomposition_summary_names_a_column_count_mismatch():
    truth = pd.DataFrame({"a": [1, 0, 1, 1], "b": [1, 1, 0, 1]})
    with pytest.raises(ValueError, match="3 columns for 2 channels.*match=True"):
        decomposition_summary([1, 0, 0, 1], [0.9, 0.1, 0.2, 0.8], np.ones((4, 3)), truth)
