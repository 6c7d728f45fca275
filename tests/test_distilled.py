"""DistilledChannelClassifier: the network's blame as per-channel labels, the blend, errors."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

import channeldecomp
from channeldecomp import ChannelDecompositionClassifier, DistilledChannelClassifier
from channeldecomp.base import get_channel_blame
from channeldecomp.datasets import make_channel_anomalies
from channeldecomp.model_selection import channel_reliability


@pytest.fixture(scope="module")
def data():
    return make_channel_anomalies(
        n_samples=900, n_features_per_channel=4, anomaly_strength=1.5, random_state=3
    )


def _network(**params):
    return ChannelDecompositionClassifier(
        hidden_layer_sizes=(16,), max_epochs=15, random_state=0, **params
    )


def _model(**params):
    return DistilledChannelClassifier(
        _network(), HistGradientBoostingClassifier(max_iter=30, random_state=0), **params
    )


@pytest.fixture(scope="module")
def fitted(data):
    return _model().fit(data.data, data.target)


def test_each_channel_learns_the_networks_blame(fitted, data):
    X, y = data.data, np.asarray(data.target)
    network = fitted.decomposer_.predict_channel_scores(X.to_numpy())
    labels = np.where((y == 1)[:, None] | (network.to_numpy() >= 0.5), 1, 0)
    names = fitted.channel_names_
    assert names == data.channel_names
    assert fitted.blamed_counts_ == dict(zip(names, (1 - labels).sum(axis=0).tolist()))
    assert all(count > 0 for count in fitted.blamed_counts_.values())
    # Each channel's classifier is the estimator fitted on its own columns and those labels.
    for position, name in enumerate(names):
        columns = fitted.channel_indices_[name]
        direct = HistGradientBoostingClassifier(max_iter=30, random_state=0)
        direct.fit(X.to_numpy()[:, columns], labels[:, position])
        np.testing.assert_array_equal(
            fitted.distilled_.estimators_[name].predict_proba(X.to_numpy()[:, columns]),
            direct.predict_proba(X.to_numpy()[:, columns]),
        )


def test_the_network_is_the_decomposer_as_given(fitted, data):
    # Same parameters and seed: the same network as the classifier fitted alone.
    alone = _network().fit(data.data, data.target)
    np.testing.assert_allclose(
        fitted.decomposer_.predict_channel_scores(data.data.to_numpy()).to_numpy(),
        alone.predict_channel_scores(data.data).to_numpy(),
        rtol=0,
        atol=1e-12,
    )


def test_scores_blend_the_two_models_in_logit_space(fitted, data):
    X = data.data.iloc[:50]
    network = fitted.decomposer_.predict_channel_scores(X.to_numpy()).to_numpy()
    distilled = fitted.distilled_.predict_channel_scores(X.to_numpy()).to_numpy()
    clip = lambda p: np.clip(p, 1e-12, 1 - 1e-12)  # noqa: E731
    blend = fitted.blend
    expected = expit(blend * logit(clip(network)) + (1 - blend) * logit(clip(distilled)))
    scores = fitted.predict_channel_scores(X)
    np.testing.assert_allclose(scores.to_numpy(), expected, rtol=1e-12)
    assert scores.index.equals(X.index) and list(scores.columns) == fitted.channel_names_
    # blend=1 is the network, blend=0 the distilled classifiers (to the clipping).
    for blend, reference in ((1.0, network), (0.0, distilled)):
        fitted.set_params(blend=blend)
        try:
            values = fitted.predict_channel_scores(X).to_numpy()
        finally:
            fitted.set_params(blend=blend)
        np.testing.assert_allclose(values, np.clip(reference, 1e-12, 1 - 1e-12), rtol=1e-9)


def test_global_probability_is_the_fuzzy_and_of_the_scores(fitted, data):
    X = data.data.iloc[:40]
    scores = fitted.predict_channel_scores(X).to_numpy()
    proba = fitted.predict_proba(X)
    np.testing.assert_allclose(proba[:, 1], np.exp((scores - 1).sum(axis=1)), rtol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(fitted.predict(X), fitted.classes_[proba.argmax(axis=1)])
    blame = fitted.predict_blame(X)
    names = np.asarray(fitted.channel_names_, dtype=object)
    assert (blame["channel"].to_numpy() == names[scores.argmin(axis=1)]).all()


def test_distilling_finds_the_channels_of_a_clear_fault(fitted, data):
    # On held-in data the blended scores rank each channel's truth far better than chance.
    scores = fitted.predict_channel_scores(data.data)
    for name in fitted.channel_names_:
        assert roc_auc_score(data.channel_truth[name], scores[name]) > 0.8, name


def test_a_channel_never_blamed_keeps_the_networks_score(data):
    model = _model(threshold=1e-300).fit(data.data, data.target)
    assert set(model.blamed_counts_.values()) == {0}
    network = model.decomposer_.predict_channel_scores(data.data.to_numpy()).to_numpy()
    np.testing.assert_array_equal(model.predict_channel_scores(data.data).to_numpy(), network)


def test_random_state_seeds_both_parts_and_fits_repeat(data):
    first = DistilledChannelClassifier(_network(), random_state=7).fit(data.data, data.target)
    second = DistilledChannelClassifier(_network(), random_state=7).fit(data.data, data.target)
    pd.testing.assert_frame_equal(
        first.predict_channel_scores(data.data), second.predict_channel_scores(data.data)
    )
    assert first.decomposer_.random_state != 0  # drawn from random_state=7
    assert first.distilled_.estimator.random_state is not None


def test_string_labels_with_good_label(data):
    y = np.where(np.asarray(data.target) == 1, "good", "bad")
    model = _model(good_label="good").fit(data.data, y)
    assert list(model.classes_) == ["bad", "good"]
    assert set(model.predict(data.data.iloc[:30])) <= {"good", "bad"}
    assert sum(model.blamed_counts_.values()) > 0


def test_pipeline_reliability_and_save_load(data, tmp_path):
    pipeline = make_pipeline(StandardScaler().set_output(transform="pandas"), _model())
    pipeline.fit(data.data, data.target)
    blame = get_channel_blame(pipeline, data.data.iloc[:10])
    assert list(blame.columns) == ["channel", "score", "agreement"]
    path = channeldecomp.save(pipeline, tmp_path / "distilled.skops")
    loaded = channeldecomp.load(
        path, trusted=["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
    )
    pd.testing.assert_frame_equal(
        loaded.transform(data.data.iloc[:20]), pipeline.transform(data.data.iloc[:20])
    )
    table = channel_reliability(_model(), data.data, data.target, cv=2, n_repeats=2, random_state=0)
    assert list(table.index) == data.channel_names


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"threshold": 0.0}, ValueError, r"threshold must be in \(0, 1\); got 0.0"),
        ({"threshold": 1}, ValueError, r"threshold must be in \(0, 1\)"),
        ({"threshold": "half"}, TypeError, "threshold must be a number"),
        ({"blend": 1.5}, ValueError, r"blend must be in \[0, 1\]; got 1.5"),
        ({"decomposer": LogisticRegression()}, TypeError, "LogisticRegression has no predict_ch"),
        ({"estimator": LinearSVC()}, TypeError, "LinearSVC has no predict_proba"),
    ],
)
def test_bad_parameters_are_named(data, params, error, match):
    with pytest.raises(error, match=match):
        DistilledChannelClassifier(**params).fit(data.data, data.target)


def test_any_channel_model_with_channels_can_label_the_channels(data):
    from channeldecomp.baselines import PerChannelClassifier

    decomposer = PerChannelClassifier(HistGradientBoostingClassifier(max_iter=20, random_state=0))
    model = DistilledChannelClassifier(decomposer, channels="prefix", random_state=0)
    model.fit(data.data, data.target)
    assert isinstance(model.decomposer_, PerChannelClassifier)
    assert model.decomposer_.channels == {
        name: list(indices) for name, indices in model.channel_indices_.items()
    }
    assert model.predict_channel_scores(data.data.iloc[:5]).shape == (5, 4)


def test_default_boosting_does_not_stop_early_at_any_size():
    # scikit-learn's default stops early from 10,000 rows on, on a tenth held out: the model
    # would change at that size. The distilled model's default boosting never does.
    data = make_channel_anomalies(n_samples=10_050, n_features_per_channel=2, random_state=0)
    network = ChannelDecompositionClassifier(hidden_layer_sizes=(4,), max_epochs=1, random_state=0)
    model = DistilledChannelClassifier(network).fit(data.data, data.target)
    fitted = [est for est in model.distilled_.estimators_.values() if est is not None]
    assert fitted and not any(est.do_early_stopping_ for est in fitted)
    assert all(est.n_iter_ == est.max_iter for est in fitted)
    sklearn_default = HistGradientBoostingClassifier().fit(data.data, data.target)
    assert sklearn_default.do_early_stopping_
