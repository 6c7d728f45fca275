import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import LocalOutlierFactor
from sklearn.svm import OneClassSVM

from channeldecomp.datasets import make_channel_anomalies
from channeldecomp.detectors import PerChannelOutlierDetector

FAST_FOREST = IsolationForest(n_estimators=50)


@pytest.fixture(scope="module")
def data():
    return make_channel_anomalies(
        n_samples=2400,
        n_features_per_channel=6,
        multi_channel_fraction=0.0,
        anomaly_strength=1.5,
        random_state=0,
    )


@pytest.fixture(scope="module")
def split(data):
    rows = np.arange(len(data.data))
    train = rows[:1600][data.target.to_numpy()[:1600] == 1]
    test = rows[1600:]
    return train, test


@pytest.fixture(scope="module")
def fitted(data, split):
    train, _ = split
    return PerChannelOutlierDetector(FAST_FOREST, random_state=0).fit(data.data.iloc[train])


def test_channel_scores_frame(data, split, fitted):
    _, test = split
    X = data.data.iloc[test]
    scores = fitted.predict_channel_scores(X)
    assert list(scores.columns) == data.channel_names == fitted.channel_names_
    assert scores.index.equals(X.index)
    assert ((scores.to_numpy() > 0) & (scores.to_numpy() <= 1)).all()
    with pytest.warns(UserWarning, match="feature names"):
        plain = fitted.predict_channel_scores(X.to_numpy())
    assert plain.index.equals(pd.RangeIndex(len(test)))
    np.testing.assert_allclose(plain.to_numpy(), scores.to_numpy())


def test_each_channel_score_finds_its_own_channel(data, split, fitted):
    _, test = split
    scores = fitted.predict_channel_scores(data.data.iloc[test])
    truth = data.channel_truth.iloc[test]
    for channel in data.channel_names:
        own = roc_auc_score(truth[channel], scores[channel])
        assert own > 0.85, f"{channel}: AUC {own:.3f} against its own truth"
        # Anomalies visible only in another channel leave this channel's score uniform.
        other = truth[channel].to_numpy() == 1
        elsewhere = other & (truth.drop(columns=channel).to_numpy() == 0).any(axis=1)
        good = (truth == 1).all(axis=1).to_numpy()
        mask = elsewhere | good
        off = roc_auc_score(good[mask], scores[channel].to_numpy()[mask])
        assert abs(off - 0.5) < 0.1, f"{channel}: AUC {off:.3f} against other channels' anomalies"


def test_reference_rows_get_roughly_uniform_scores(data, split, fitted):
    _, test = split
    good = data.data.iloc[test][data.target.iloc[test].to_numpy() == 1]
    scores = fitted.predict_channel_scores(good).to_numpy()
    assert np.all(np.abs(scores.mean(axis=0) - 0.5) < 0.1)
    global_scores = fitted.score_samples(good)
    assert abs(global_scores.mean() - 0.5) < 0.1
    assert 0.0 < np.mean(fitted.predict(good) == -1) < 0.15
    assert fitted.offset_ == pytest.approx(0.05)


def test_global_score_ranks_bad_rows_low(data, split, fitted):
    _, test = split
    assert roc_auc_score(data.target.iloc[test], fitted.score_samples(data.data.iloc[test])) > 0.75


@pytest.mark.numerics
def test_channel_forms_agree(data, split):
    train, test = split
    X = data.data.iloc[train]
    names = data.channels
    indices = {c: [data.feature_names.index(n) for n in cols] for c, cols in names.items()}
    regexes = {c: f"^{c}__" for c in names}
    results = []
    for channels, frame in [("prefix", True), (names, True), (regexes, True), (indices, False)]:
        detector = PerChannelOutlierDetector(FAST_FOREST, channels=channels, random_state=1)
        fit_X = X if frame else X.to_numpy()
        test_X = data.data.iloc[test] if frame else data.data.iloc[test].to_numpy()
        results.append(detector.fit(fit_X).predict_channel_scores(test_X).to_numpy())
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0])


def test_columns_makes_one_channel_per_column(data, split):
    train, _ = split
    detector = PerChannelOutlierDetector(FAST_FOREST, channels="columns", random_state=0)
    detector.fit(data.data.iloc[train, :3])
    assert detector.channel_names_ == data.feature_names[:3]
    detector.fit(data.data.iloc[train, :3].to_numpy())
    assert detector.channel_names_ == ["0", "1", "2"]


def test_combiners(data, split):
    train, test = split
    aucs = {}
    for combiner in ["min", "product", "fuzzy_and"]:
        detector = PerChannelOutlierDetector(FAST_FOREST, combiner=combiner, random_state=0)
        scores = detector.fit(data.data.iloc[train]).score_samples(data.data.iloc[test])
        assert ((scores > 0) & (scores <= 1)).all()
        aucs[combiner] = roc_auc_score(data.target.iloc[test], scores)
    assert aucs["min"] > 0.75 and aucs["product"] > 0.7
    # As documented: with uniform reference scores the fuzzy AND dilutes a one-channel anomaly.
    assert aucs["fuzzy_and"] < aucs["min"]


def test_contamination_flags_that_fraction_of_training_rows(data, split):
    train, _ = split
    detector = PerChannelOutlierDetector(FAST_FOREST, contamination=0.2, random_state=0)
    flagged = detector.fit(data.data.iloc[train]).predict(data.data.iloc[train]) == -1
    assert flagged.mean() == pytest.approx(0.2, abs=0.02)


@pytest.mark.numerics
def test_random_state_seeds_the_clones_and_other_detectors_work(data, split):
    train, test = split
    X, X_test = data.data.iloc[train], data.data.iloc[test]
    first = PerChannelOutlierDetector(FAST_FOREST, random_state=4).fit(X)
    second = PerChannelOutlierDetector(FAST_FOREST, random_state=4).fit(X)
    np.testing.assert_array_equal(first.score_samples(X_test), second.score_samples(X_test))
    seeds = {e.random_state for e in first.estimators_.values()}
    assert len(seeds) == len(data.channel_names)
    for estimator in [OneClassSVM(gamma="scale", nu=0.1), LocalOutlierFactor(novelty=True)]:
        detector = PerChannelOutlierDetector(estimator, random_state=0).fit(X)
        auc = roc_auc_score(data.target.iloc[test], detector.score_samples(X_test))
        assert auc > 0.85, type(estimator).__name__


def test_estimator_without_scores_is_a_clear_error(data, split):
    train, _ = split
    detector = PerChannelOutlierDetector(LocalOutlierFactor(novelty=False))
    with pytest.raises(TypeError, match="channel 'muons'.*score_samples"):
        detector.fit(data.data.iloc[train])


def test_prefix_without_names_is_a_clear_error(data, split):
    train, _ = split
    with pytest.raises(ValueError, match="no feature names"):
        PerChannelOutlierDetector(channels="prefix").fit(data.data.iloc[train].to_numpy())


def test_default_channels_are_prefixes_of_names_and_columns_of_arrays(data, split):
    train, _ = split
    rows = data.data.iloc[train[:200]]
    by_names = PerChannelOutlierDetector(random_state=0).fit(rows)
    assert by_names.channel_names_ == ["muons", "photons", "pf", "calo_jets"]
    by_columns = PerChannelOutlierDetector(random_state=0).fit(rows.to_numpy()[:, :3])
    assert by_columns.channel_names_ == ["0", "1", "2"]
    assert list(by_columns.transform(rows.to_numpy()[:5, :3]).columns) == ["0", "1", "2"]
