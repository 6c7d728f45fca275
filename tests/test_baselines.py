"""The baselines: channel models with the contract of ChannelModelMixin, on tiny data."""

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from channeldecomp.baselines import (
    AdditiveBoostingClassifier,
    MLPAttributionClassifier,
    PerChannelClassifier,
    PerChannelOneClassDetector,
    channel_contributions,
)
from channeldecomp.metrics import decomposition_auc

CHANNELS = ["muons", "photons", "pf", "calo_jets"]


def _channel_data(n, seed):
    # Two columns per channel; a channel is bad where its first column is shifted.
    rng = np.random.default_rng(seed)
    columns = [f"{c}__x{k}" for c in CHANNELS for k in range(2)]
    truth = pd.DataFrame((rng.random((n, 4)) > 0.2).astype(int), columns=CHANNELS)
    X = rng.normal(size=(n, 8))
    X[:, 0::2] += 3.0 * (1 - truth.to_numpy())
    return pd.DataFrame(X, columns=columns), truth.all(axis=1).astype(int).to_numpy(), truth


@pytest.fixture(scope="module")
def data():
    X_train, y_train, truth_train = _channel_data(300, 0)
    X_test, y_test, truth_test = _channel_data(200, 1)
    return X_train, y_train, truth_train, X_test, y_test, truth_test


def _baselines():
    return [
        PerChannelClassifier(HistGradientBoostingClassifier(max_iter=30, random_state=0)),
        PerChannelOneClassDetector(IsolationForest(n_estimators=30, random_state=0)),
        MLPAttributionClassifier(hidden_layer_sizes=(16, 8), max_epochs=40, random_state=0),
        AdditiveBoostingClassifier(HistGradientBoostingClassifier(max_iter=30, random_state=0)),
    ]


@pytest.mark.parametrize("model", _baselines(), ids=lambda m: type(m).__name__)
def test_scores_are_channel_frames_in_the_unit_interval(model, data):
    X_train, y_train, _, X_test, _, truth_test = data
    model.fit(X_train, y_train)
    assert model.channel_names_ == CHANNELS
    assert {c: idx.tolist() for c, idx in model.channel_indices_.items()} == {
        c: [2 * k, 2 * k + 1] for k, c in enumerate(CHANNELS)
    }
    test = X_test.set_axis(np.arange(1000, 1200))
    scores = model.predict_channel_scores(test)
    assert list(scores.columns) == CHANNELS
    assert (scores.index == test.index).all()
    assert ((scores > 0) & (scores <= 1)).all().all()
    # Every baseline decomposes this easy case: the shifted channel scores lowest.
    assert decomposition_auc(scores.to_numpy(), truth_test.to_numpy()).mean() > 0.85


@pytest.mark.parametrize("model", _baselines(), ids=lambda m: type(m).__name__)
def test_a_pipeline_ending_in_a_baseline_transforms_into_channel_scores(model, data):
    X_train, y_train, _, X_test, _, _ = data
    pipeline = make_pipeline(StandardScaler().set_output(transform="pandas"), model)
    pipeline.fit(X_train, y_train)
    scores = pipeline.transform(X_test)
    pd.testing.assert_frame_equal(
        scores, model.predict_channel_scores(pipeline[0].transform(X_test))
    )
    assert list(pipeline.get_feature_names_out()) == CHANNELS


@pytest.mark.parametrize("model", _baselines(), ids=lambda m: type(m).__name__)
def test_plain_arrays_with_one_channel_per_column(model, data):
    X_train, y_train, _, X_test, _, _ = data
    model.set_params(channels="columns").fit(X_train.to_numpy(), y_train)
    assert model.channel_names_ == [str(i) for i in range(8)]
    assert model.transform(X_test.to_numpy()).shape == (200, 8)


def test_per_channel_boosting_and_the_oracle(data):
    X_train, y_train, truth_train, X_test, _, truth_test = data
    model = PerChannelClassifier(HistGradientBoostingClassifier(random_state=0))
    for channel_truth in (None, truth_train):
        model.fit(X_train, y_train, channel_truth=channel_truth)
        scores = model.predict_channel_scores(X_test).to_numpy()
        assert scores.shape == (200, 4)
        np.testing.assert_allclose(model.predict_proba(X_test)[:, 1], scores.prod(axis=1))
        assert decomposition_auc(scores, truth_test.to_numpy()).mean() > 0.9
    # Sample weights reach the models: all weight on a few rows changes the fit.
    weight = np.where(np.arange(300) < 30, 1.0, 1e-6)
    weighted = model.fit(X_train, y_train, weight, channel_truth=truth_train)
    assert not np.allclose(weighted.predict_channel_scores(X_test).to_numpy(), scores)


def test_oracle_channel_without_a_fault_scores_one(data):
    X_train, y_train, truth_train, X_test, _, _ = data
    truth = truth_train.assign(photons=1)
    model = PerChannelClassifier(LogisticRegression()).fit(X_train, y_train, channel_truth=truth)
    assert model.estimators_["photons"] is None and model.constant_targets_ == {"photons": 1}
    assert (model.predict_channel_scores(X_test)["photons"] == 1.0).all()
    # A truth array is matched to the channels by position.
    by_position = PerChannelClassifier(LogisticRegression()).fit(
        X_train, y_train, channel_truth=truth.to_numpy()
    )
    pd.testing.assert_frame_equal(
        by_position.predict_channel_scores(X_test), model.predict_channel_scores(X_test)
    )


def test_additive_boosting_scores_are_the_channel_terms_of_its_logit(data):
    X_train, y_train, _, X_test, _, truth_test = data
    model = AdditiveBoostingClassifier(HistGradientBoostingClassifier(random_state=0))
    model.fit(X_train, y_train)
    p_good = model.predict_proba(X_test)[:, 1]
    assert ((p_good > 0) & (p_good < 1)).all()
    terms = model.channel_terms(X_test)
    logit = np.log(p_good / (1 - p_good))
    reference = model.estimator_.decision_function(model.reference_[None])[0]
    np.testing.assert_allclose(terms.sum(axis=1), logit - reference, atol=1e-9)
    assert decomposition_auc(terms.to_numpy(), truth_test.to_numpy()).mean() > 0.9
    # The terms add up to the logit: exact with one constraint per channel, not without.
    X_train, X_test = X_train.to_numpy(), X_test.to_numpy()
    groups = [[0, 1], [2, 3], [4, 5], [6, 7]]
    reference = np.median(X_train, axis=0)
    # An interaction across channels decides the label, so an unconstrained model uses it.
    y = (X_train[:, 0] * X_train[:, 2] > 0).astype(int)
    for constraints, additive in ((groups, True), (None, False)):
        boosting = HistGradientBoostingClassifier(random_state=0, interaction_cst=constraints)
        boosting.fit(X_train, y)
        terms = channel_contributions(boosting, X_test, groups, reference)
        logit = boosting.decision_function(X_test) - boosting.decision_function(reference[None])
        assert np.allclose(terms.sum(axis=1), logit) == additive


def test_mlp_attribution_does_not_depend_on_what_ran_before(data):
    import torch

    X_train, y_train, _, X_test, _, _ = data
    runs = []
    for state in (1, 2):
        torch.manual_seed(state)  # as another method would leave torch's global generator
        model = MLPAttributionClassifier(max_epochs=2, random_state=0).fit(X_train, y_train)
        runs.append((model.predict_proba(X_test), model.predict_channel_scores(X_test)))
        # ... and the fit leaves that generator as it found it.
        after = torch.rand(1)
        torch.manual_seed(state)
        assert torch.equal(after, torch.rand(1))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    pd.testing.assert_frame_equal(runs[0][1], runs[1][1])


@pytest.mark.numerics
def test_mlp_attribution_rows_do_not_depend_on_the_batch(data):
    import torch

    X_train, y_train, _, X_test, _, _ = data
    model = MLPAttributionClassifier(max_epochs=2, random_state=0).fit(X_train, y_train)
    proba = model.predict_proba(X_test)
    scores = model.predict_channel_scores(X_test)
    # Inference (the forward pass and its gradient) runs on a float64 copy of the network: a
    # row alone, in a batch of 7 or among all rows differs at most in the last bits (~1e-16)
    # with the kernels' blocking, the CPU's vector width and the thread count; float32
    # inference differed by ~1e-7 there. 1e-12 leaves headroom.
    for rows in (slice(0, 1), slice(3, 10), slice(None, None, 7)):
        np.testing.assert_allclose(model.predict_proba(X_test.iloc[rows]), proba[rows], rtol=1e-12)
        np.testing.assert_allclose(
            model.predict_channel_scores(X_test.iloc[rows]).to_numpy(),
            scores.iloc[rows].to_numpy(),
            rtol=1e-12,
        )
    assert scores.dtypes.eq(np.float64).all()
    # The fitted network itself stays as it was trained.
    assert next(model.module_.parameters()).dtype == torch.float32


def test_one_class_detector_random_state_seeds_each_channel(data):
    X_train, y_train, _, X_test, _, _ = data
    forest = IsolationForest(n_estimators=20, random_state=3)
    first = PerChannelOneClassDetector(forest, random_state=4).fit(X_train, y_train)
    second = PerChannelOneClassDetector(forest, random_state=4).fit(X_train, y_train)
    np.testing.assert_array_equal(first.score_samples(X_test), second.score_samples(X_test))
    seeds = [detector.random_state for detector in first.estimators_.values()]
    assert len(set(seeds)) == len(first.channel_names_) and 3 not in seeds
    other = PerChannelOneClassDetector(forest, random_state=5).fit(X_train, y_train)
    assert not np.array_equal(first.score_samples(X_test), other.score_samples(X_test))
    # None: every clone keeps the estimator's own seed, and the estimator is left as it was.
    unset = PerChannelOneClassDetector(forest).fit(X_train, y_train)
    assert {detector.random_state for detector in unset.estimators_.values()} == {3}
    assert forest.random_state == 3


def test_one_class_detector_learns_the_good_rows_only(data):
    X_train, y_train, _, X_test, y_test, _ = data
    forest = IsolationForest(n_estimators=50, random_state=0)
    on_good = PerChannelOneClassDetector(forest).fit(X_train, y_train)
    on_all = PerChannelOneClassDetector(forest).fit(X_train)
    assert not np.allclose(on_good.score_samples(X_test), on_all.score_samples(X_test))
    # The global score is the lowest channel score; good rows score higher than bad ones.
    scores = on_good.predict_channel_scores(X_test)
    np.testing.assert_allclose(on_good.score_samples(X_test), scores.min(axis=1))
    assert np.median(scores[y_test == 1]) > np.median(scores[y_test == 0])
    # Standardized on the good training rows: their channel scores centre on expit(0) = 0.5.
    good_train = on_good.predict_channel_scores(X_train[y_train == 1])
    np.testing.assert_allclose(good_train.mean(), 0.5, atol=0.02)


def test_labels_other_than_zero_and_one(data):
    X_train, y_train, _, X_test, _, _ = data
    labels = np.where(y_train == 1, "good", "bad")
    model = PerChannelClassifier(LogisticRegression(), good_label="good").fit(X_train, labels)
    assert list(model.classes_) == ["bad", "good"]
    reference = PerChannelClassifier(LogisticRegression()).fit(X_train, y_train)
    np.testing.assert_allclose(model.predict_proba(X_test), reference.predict_proba(X_test))
    assert set(model.predict(X_test)) <= {"good", "bad"}


def test_clear_errors(data):
    X_train, y_train, truth_train, _, _, _ = data
    with pytest.raises(ValueError, match="good_label=2 is not among the labels"):
        PerChannelClassifier(good_label=2).fit(X_train, y_train)
    with pytest.raises(ValueError, match="single class"):
        AdditiveBoostingClassifier().fit(X_train, np.ones(300))
    with pytest.raises(ValueError, match=r"no column for channel\(s\) \['pf'\]"):
        PerChannelClassifier().fit(X_train, y_train, channel_truth=truth_train.drop(columns="pf"))
    with pytest.raises(ValueError, match=r"channel_truth\['muons'\] must hold 1"):
        PerChannelClassifier().fit(X_train, y_train, channel_truth=truth_train.replace(1, 2))
    with pytest.raises(ValueError, match="one column per channel"):
        PerChannelClassifier().fit(X_train, y_train, channel_truth=np.ones((300, 3)))
    with pytest.raises(TypeError, match="no predict_proba"):
        PerChannelClassifier(LinearRegression()).fit(X_train, y_train)
    with pytest.raises(TypeError, match="no interaction_cst"):
        AdditiveBoostingClassifier(LogisticRegression()).fit(X_train, y_train)
    with pytest.raises(ValueError, match="need at least two good rows"):
        PerChannelOneClassDetector(good_label=7).fit(X_train, y_train)
    with pytest.raises(ValueError, match="dropout must be in"):
        MLPAttributionClassifier(dropout=1.5).fit(X_train, y_train)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        MLPAttributionClassifier(hidden_layer_sizes=(8, 0)).fit(X_train, y_train)
    with pytest.raises(ValueError, match="no feature names"):
        PerChannelClassifier(channels="prefix").fit(X_train.to_numpy(), y_train)
    with pytest.raises(ValueError, match="in no channel"):
        PerChannelClassifier(channels={"muons": "^muons"}).fit(X_train, y_train)
