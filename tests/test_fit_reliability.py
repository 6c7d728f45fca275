"""``ChannelDecompositionClassifier(reliability_cv=...)``: the reliability estimated in fit."""

import warnings

import numpy as np
import pytest

import channeldecomp
from channeldecomp import ChannelDecompositionClassifier
from channeldecomp.datasets import make_channel_anomalies
from channeldecomp.model_selection import channel_reliability


@pytest.fixture(scope="module")
def blinded():
    """Two channels; the columns of "blind" replaced by noise unrelated to anything."""
    data = make_channel_anomalies(
        n_samples=600,
        channels=["clean", "blind"],
        n_features_per_channel=4,
        multi_channel_fraction=0.0,
        anomaly_fraction=0.3,
        anomaly_strength=2.0,
        random_state=0,
    )
    X = data.data.copy()
    blind = [column for column in X.columns if column.startswith("blind__")]
    X[blind] = np.random.default_rng(1).normal(size=(len(X), len(blind)))
    return X, np.asarray(data.target), np.arange(len(X)) // 10


def _model(**params):
    params = {"hidden_layer_sizes": (8,), "max_epochs": 6, "random_state": 0, **params}
    return ChannelDecompositionClassifier(channels="prefix", **params)


def test_fit_estimates_the_reliability_of_its_configuration(blinded, tmp_path):
    X, y, runs = blinded
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = _model(reliability_cv=2).fit(X, y, groups=runs)
    table = model.channel_reliability_
    # the same table as channel_reliability of the configuration, seeded alike
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = channel_reliability(
            _model(), X, y, groups=runs, cv=2, random_state=model._seed()
        )
    assert table.round(12).equals(expected.round(12))
    assert table.attrs == expected.attrs
    assert not table.loc["blind", "reliable"] and table.loc["clean", "reliable"]
    # fit warns about the unreliable channel, by name, once
    messages = [str(w.message) for w in caught if "is not reliable" in str(w.message)]
    assert len(messages) == 1 and messages[0].startswith("Channel 'blind'")
    # the prediction is that of the model alone: the refits do not replace it
    alone = _model().fit(X, y, groups=runs)
    np.testing.assert_array_equal(model.predict_proba(X), alone.predict_proba(X))
    # saved and loaded with the model (a model file holds no pandas object)
    path = tmp_path / "model.skops"
    channeldecomp.save(model, path)
    assert channeldecomp.load(path).channel_reliability_.equals(table)


def test_without_reliability_cv_there_is_no_table(blinded):
    X, y, runs = blinded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = _model(reliability_cv=2).fit(X, y, groups=runs)
        assert hasattr(model, "channel_reliability_")
        model.set_params(reliability_cv=None).fit(X, y)  # a refit forgets the earlier table
    assert not hasattr(model, "channel_reliability_")
    with pytest.raises(AttributeError, match="reliability_cv=3"):
        model.channel_reliability_  # noqa: B018


@pytest.mark.parametrize("value", [1, 0, 2.5, True, "3"])
def test_reliability_cv_is_checked(blinded, value):
    X, y, _ = blinded
    with pytest.raises(ValueError, match="reliability_cv must be None or an integer"):
        _model(reliability_cv=value).fit(X, y)
