import re

import numpy as np
import pandas as pd
import pytest
from dqm_models import LogisticChannelClassifier
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import validate_data

from channeldecomp.base import (
    ChannelModelMixin,
    get_channel_blame,
    get_channel_model,
    get_channel_scores,
    predict_good_proba,
    resolve_channels,
)

NAMES = ["muons__pt", "muons__eta", "photons__pt", "jets__pt", "jets__eta"]


def _as_lists(resolved):
    return {name: idx.tolist() for name, idx in resolved.items()}


def test_prefix_groups_in_order_of_first_appearance():
    resolved = resolve_channels("prefix", 5, NAMES)
    assert _as_lists(resolved) == {"muons": [0, 1], "photons": [2], "jets": [3, 4]}


def test_names_indices_and_regex_forms_agree():
    by_names = resolve_channels(
        {"a": ["muons__pt", "muons__eta"], "b": ["photons__pt", "jets__pt", "jets__eta"]}, 5, NAMES
    )
    by_index = resolve_channels({"a": [0, 1], "b": [2, 3, 4]}, 5)
    by_regex = resolve_channels({"a": "^muons", "b": re.compile("^(photons|jets)")}, 5, NAMES)
    assert _as_lists(by_names) == _as_lists(by_index) == _as_lists(by_regex)


def test_negative_indices_are_normalised():
    assert _as_lists(resolve_channels({"a": [-1], "b": [0, 1]}, 3)) == {"a": [2], "b": [0, 1]}


@pytest.mark.parametrize(
    ("channels", "message"),
    [
        ({"a": ["muons__pt", "nope"], "b": [2, 3, 4]}, "'nope'"),
        ({"a": [0, 1, 2], "b": [2, 3, 4]}, "in two channels, 'a' and 'b'"),
        ({"a": [0, 1, 2, 3, 4], "b": "^zzz"}, "Channel 'b' is empty"),
        ({"a": [0, 1]}, "in no channel"),
        ({"a": [0, 9]}, "index 9"),
        ({"a": [0, 0, 1, 2, 3, 4]}, "more than once"),
        ({}, "empty dict"),
        ("suffix", "string forms are 'auto', 'prefix' and 'columns'"),
    ],
)
def test_bad_specifications_name_the_problem(channels, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        resolve_channels(channels, 5, NAMES)


def test_overlap_message_names_the_column():
    with pytest.raises(ValueError, match="'photons__pt'"):
        resolve_channels({"a": [0, 1, 2], "b": [2, 3, 4]}, 5, NAMES)


def test_type_errors():
    with pytest.raises(TypeError, match="mixes"):
        resolve_channels({"a": [0, "muons__eta"]}, 5, NAMES)
    with pytest.raises(TypeError, match="dict"):
        resolve_channels([[0, 1]], 5, NAMES)
    with pytest.raises(TypeError, match="must map to"):
        resolve_channels({"a": 3}, 5, NAMES)


def test_names_need_feature_names():
    with pytest.raises(ValueError, match="no feature names"):
        resolve_channels({"a": ["x"]}, 1)
    with pytest.raises(ValueError, match="no feature names"):
        resolve_channels("prefix", 1)


def test_prefix_with_unprefixed_columns():
    names = ["muons__pt", "luminosity"]
    with pytest.raises(ValueError, match="'luminosity'"):
        resolve_channels("prefix", 2, names)
    assert _as_lists(resolve_channels("prefix", 2, names, remainder="drop")) == {"muons": [0]}


def test_remainder_drop_keeps_listed_columns():
    resolved = resolve_channels({"a": [1]}, 3, remainder="drop")
    assert _as_lists(resolved) == {"a": [1]}


def _frame(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["muons__pt", "muons__eta", "jets__pt"])
    return X.set_axis(np.arange(100, 100 + n)), (X["muons__pt"] > 0).astype(int).to_numpy()


class _Unfinished(ChannelModelMixin, BaseEstimator):
    def __init__(self, channels="prefix"):
        self.channels = channels

    def fit(self, X, y=None):
        validate_data(self, X)
        self._resolve_channels(X)
        return self


def test_mixin_resolves_channels_and_names_its_outputs():
    X, _ = _frame()
    model = _Unfinished().fit(X)
    assert model.channel_names_ == ["muons", "jets"]
    assert _as_lists(model.channel_indices_) == {"muons": [0, 1], "jets": [2]}
    assert list(model.get_feature_names_out()) == ["muons", "jets"]
    with pytest.raises(ValueError, match="input_features has 2 names"):
        model.get_feature_names_out(["a", "b"])
    with pytest.raises(NotImplementedError, match="_Unfinished .* predict_channel_scores"):
        model.transform(X)
    columns = _Unfinished(channels="columns").fit(X.to_numpy())
    assert columns.channel_names_ == ["0", "1", "2"]
    # A dict specification is copied, not changed.
    spec = {"a": [0, 1], "b": [2]}
    assert _Unfinished(channels=spec).fit(X).channel_names_ == ["a", "b"]
    assert spec == {"a": [0, 1], "b": [2]}


def test_helpers_read_a_pipeline_ending_in_a_channel_model():
    X, y = _frame()
    model = make_pipeline(
        StandardScaler().set_output(transform="pandas"), LogisticChannelClassifier()
    ).fit(X, y)
    assert get_channel_model(model) is model[-1]
    scores = get_channel_scores(model, X)
    assert list(scores.columns) == ["muons", "jets"]
    assert (scores.index == X.index).all()
    pd.testing.assert_frame_equal(scores, model.transform(X))
    np.testing.assert_array_equal(predict_good_proba(model, X), model.predict_proba(X)[:, 1])
    with pytest.raises(ValueError, match="good_label=2 is not one of the classes"):
        predict_good_proba(model, X, good_label=2)
    with pytest.raises(TypeError, match="LogisticRegression has no predict_channel_scores"):
        get_channel_model(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y))


class _ScoresOnly:
    """A channel model by duck typing: predict_channel_scores, no predict_blame."""

    channel_names_ = ["a", "b"]

    def predict_channel_scores(self, X):
        values = np.asarray(X, dtype=float)
        return pd.DataFrame(values[:, :2], columns=self.channel_names_)


def test_blame_is_the_lowest_channel_score():
    X, y = _frame()
    model = make_pipeline(
        StandardScaler().set_output(transform="pandas"), LogisticChannelClassifier()
    ).fit(X, y)
    scores = get_channel_scores(model, X)
    blame = get_channel_blame(model, X)
    assert list(blame.columns) == ["channel", "score", "agreement"]
    assert blame.index.equals(X.index)
    lowest = scores.to_numpy().argmin(axis=1)
    assert {"muons", "jets"} == set(blame["channel"])  # both blamed somewhere
    np.testing.assert_array_equal(blame["channel"], np.asarray(scores.columns)[lowest])
    np.testing.assert_array_equal(blame["score"], scores.min(axis=1))
    assert (blame["agreement"] == 1.0).all()  # one fit agrees with itself
    # The model's own method, on the transformed rows, is the same table.
    pd.testing.assert_frame_equal(model[-1].predict_blame(model[0].transform(X)), blame)
    # Without predict_blame, the lowest score is blamed all the same; ties go to the first.
    duck = get_channel_blame(_ScoresOnly(), [[0.2, 0.5], [0.9, 0.1], [0.3, 0.3]])
    assert duck["channel"].tolist() == ["a", "b", "a"]
    assert duck["score"].tolist() == [0.2, 0.1, 0.3]
    assert duck.index.equals(pd.RangeIndex(3))
