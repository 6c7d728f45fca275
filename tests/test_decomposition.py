import re

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback

from channeldecomp import PRESETS, ChannelDecompositionClassifier
from channeldecomp.datasets import make_channel_anomalies
from channeldecomp.decomposition import (
    COMBINERS,
    ChannelDecompositionModule,
    Combiner,
    FuzzyAnd,
    LogisticCombiner,
    MinCombiner,
)
from channeldecomp.decomposition._training import SoftPretrainingSchedule

FAST = {"max_epochs": 4, "hidden_layer_sizes": (8,), "random_state": 0}


@pytest.fixture(scope="module")
def small():
    data = make_channel_anomalies(
        n_samples=300, n_features_per_channel=4, channels=("a", "b", "c"), random_state=0
    )
    return data.data, data.target


def test_default_quality_on_the_tabular_generator():
    """The issue's acceptance figure: default difficulty, default settings, < 1 minute."""
    data = make_channel_anomalies(random_state=0)
    X_train, X_test, y_train, y_test, _, truth_test = train_test_split(
        data.data, data.target, data.channel_truth, random_state=0, stratify=data.target
    )
    model = Pipeline(
        [
            ("scale", StandardScaler().set_output(transform="pandas")),
            ("clf", ChannelDecompositionClassifier(random_state=0)),
        ]
    ).fit(X_train, y_train)
    assert roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]) >= 0.97
    scores = model[-1].predict_channel_scores(model[0].transform(X_test))
    assert list(scores.columns) == data.channel_names
    for channel in scores:
        visible = 1 - truth_test[channel]
        assert roc_auc_score(visible, 1 - scores[channel]) >= 0.95, channel


def test_grid_search_over_a_pipeline_and_prefix_after_a_scaler(small):
    X, y = small
    pipeline = Pipeline(
        [
            ("scale", StandardScaler().set_output(transform="pandas")),
            ("clf", ChannelDecompositionClassifier(channels="prefix", **FAST)),
        ]
    )
    grid = GridSearchCV(
        pipeline,
        {
            "clf__hidden_layer_sizes": [(8,), (4, 4)],
            "clf__lr": [1e-2],
            "clf__combiner": ["fuzzy_and", "min", "logistic"],
        },
        scoring="roc_auc",
        cv=2,
        n_jobs=2,
    ).fit(X, y)
    assert len(grid.cv_results_["params"]) == 6
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
    assert grid.best_estimator_[-1].channel_names_ == ["a", "b", "c"]


@pytest.mark.numerics
def test_joblib_round_trip_and_clone(small, tmp_path):
    X, y = small
    clf = ChannelDecompositionClassifier(**FAST).fit(X, y)
    path = tmp_path / "model.joblib"
    joblib.dump(clf, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    pd.testing.assert_frame_equal(loaded.predict_channel_scores(X), clf.predict_channel_scores(X))
    fresh = clone(clf)
    assert not hasattr(fresh, "net_")
    assert fresh.get_params() == clf.get_params()


def test_outputs_and_fitted_attributes(small):
    X, y = small
    X = X.set_axis(np.arange(1000, 1000 + len(X)))
    clf = ChannelDecompositionClassifier(**FAST).fit(X, y)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    assert clf.n_features_in_ == 12
    assert list(clf.feature_names_in_) == list(X.columns)
    assert clf.channel_indices_["b"].tolist() == [4, 5, 6, 7]
    decision = clf.decision_function(X)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[(decision > 0).astype(int)])
    np.testing.assert_allclose(decision, np.log(proba[:, 1] / proba[:, 0]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-12)
    scores = clf.predict_channel_scores(X)
    assert list(scores.columns) == clf.channel_names_
    assert scores.index.equals(X.index)
    assert ((scores > 0) & (scores <= 1)).all().all()
    # The Fuzzy AND ties the channel scores to the global probability exactly.
    np.testing.assert_allclose(proba[:, 1], np.exp((scores - 1).sum(axis=1)).to_numpy(), rtol=1e-9)
    assert 0 <= clf.score(X, y) <= 1
    assert len(clf.history_) == FAST["max_epochs"]
    assert {"train_loss", "aux_loss_weight", "lr", "dur"} <= set(clf.history_[-1])


@pytest.mark.numerics
def test_a_rows_prediction_does_not_depend_on_its_batch(small):
    X, y = small
    clf = ChannelDecompositionClassifier(**FAST).fit(X, y)
    proba = clf.predict_proba(X)
    scores = clf.predict_channel_scores(X)
    # Inference runs in float64: a row scored alone, in a batch of 7 or among all rows differs
    # at most in the last bits (~1e-16) with the batch's kernel blocking, the CPU's vector width
    # and the thread count; float32 inference differed by ~1e-7 there. 1e-12 leaves headroom.
    for rows in (slice(0, 1), slice(3, 10), slice(250, 300)):
        np.testing.assert_allclose(clf.predict_proba(X.iloc[rows]), proba[rows], rtol=1e-12)
        np.testing.assert_allclose(
            clf.predict_channel_scores(X.iloc[rows]).to_numpy(),
            scores.iloc[rows].to_numpy(),
            rtol=1e-12,
        )


@pytest.mark.numerics
def test_string_labels_and_good_label(small):
    X, y = small
    labels = np.where(y == 1, "good", "bad")
    clf = ChannelDecompositionClassifier(good_label="good", **FAST).fit(X, labels)
    np.testing.assert_array_equal(clf.classes_, ["bad", "good"])
    assert set(clf.predict(X)) <= {"bad", "good"}
    # good_label as the *first* class: the global probability lives in column 0.
    flipped = np.where(y == 1, "a_good", "z_bad")
    clf2 = ChannelDecompositionClassifier(good_label="a_good", **FAST).fit(X, flipped)
    assert clf2.good_class_index_ == 0
    np.testing.assert_allclose(clf2.predict_proba(X), clf.predict_proba(X)[:, ::-1], rtol=1e-6)
    np.testing.assert_allclose(clf2.decision_function(X), -clf.decision_function(X), rtol=1e-6)


@pytest.mark.numerics
def test_channel_specification_forms_agree(small):
    X, y = small
    by_prefix = ChannelDecompositionClassifier(**FAST).fit(X, y)
    by_regex = ChannelDecompositionClassifier(
        channels={"a": "^a__", "b": "^b__", "c": "^c__"}, **FAST
    ).fit(X, y)
    by_index = ChannelDecompositionClassifier(
        channels={"a": [0, 1, 2, 3], "b": [4, 5, 6, 7], "c": [8, 9, 10, 11]}, **FAST
    ).fit(X.to_numpy(), y)
    expected = by_prefix.predict_proba(X)
    np.testing.assert_array_equal(by_regex.predict_proba(X), expected)
    np.testing.assert_array_equal(by_index.predict_proba(X.to_numpy()), expected)


@pytest.mark.numerics
def test_random_state_is_reproducible_and_private(small):
    X, y = small
    torch_state = torch.random.get_rng_state()
    numpy_state = np.random.get_state()  # noqa: NPY002 (the global state is what we guard)
    first = ChannelDecompositionClassifier(**FAST).fit(X, y).predict_proba(X)
    second = ChannelDecompositionClassifier(**FAST).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, second)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state[1])  # noqa: NPY002
    other = ChannelDecompositionClassifier(**{**FAST, "random_state": 1}).fit(X, y)
    assert not np.array_equal(other.predict_proba(X), first)


@pytest.mark.numerics
def test_sample_weight_changes_the_fit_and_zero_weight_equals_removal(small):
    X, y = small
    weights = np.random.default_rng(0).uniform(0.1, 3.0, size=len(X))
    plain = ChannelDecompositionClassifier(**FAST).fit(X, y).predict_proba(X)
    weighted = ChannelDecompositionClassifier(**FAST).fit(X, y, sample_weight=weights)
    assert np.abs(weighted.predict_proba(X) - plain).max() > 1e-4

    keep = np.ones(len(X), dtype=bool)
    keep[::3] = False
    zeroed = ChannelDecompositionClassifier(**FAST).fit(X, y, sample_weight=keep.astype(float))
    removed = ChannelDecompositionClassifier(**FAST).fit(X[keep], y[keep])
    np.testing.assert_array_equal(zeroed.predict_proba(X), removed.predict_proba(X))


@pytest.mark.numerics
def test_class_weight(small):
    X, y = small
    unit = ChannelDecompositionClassifier(class_weight={0: 1.0, 1: 1.0}, **FAST).fit(X, y)
    none = ChannelDecompositionClassifier(class_weight=None, **FAST).fit(X, y)
    balanced = ChannelDecompositionClassifier(**FAST).fit(X, y)
    np.testing.assert_array_equal(unit.predict_proba(X), none.predict_proba(X))
    assert not np.array_equal(balanced.predict_proba(X), none.predict_proba(X))
    with pytest.raises(ValueError, match="not in y's classes"):
        ChannelDecompositionClassifier(class_weight={5: 1.0}, **FAST).fit(X, y)


@pytest.mark.parametrize("combiner", ["fuzzy_and", "min", "logistic"])
def test_every_combiner_learns(combiner):
    data = make_channel_anomalies(n_samples=1500, random_state=2)
    X = StandardScaler().set_output(transform="pandas").fit_transform(data.data)
    clf = ChannelDecompositionClassifier(combiner=combiner, max_epochs=15, random_state=0)
    clf.fit(X, data.target)
    assert roc_auc_score(data.target, clf.predict_proba(X)[:, 1]) > 0.9


@pytest.mark.numerics
def test_combiners_are_stable_when_heads_saturate():
    module = ChannelDecompositionModule([2, 3], hidden_layer_sizes=(4,))
    module.eval()
    logits = torch.tensor([[50.0, 60.0], [-80.0, 40.0], [0.0, 0.0]])
    log_p_good, log_p_bad = module.combine(logits)
    assert torch.isfinite(log_p_good).all() and torch.isfinite(log_p_bad).all()
    f = torch.sigmoid(logits.double())
    np.testing.assert_allclose(
        log_p_good.exp().numpy(), torch.exp((f - 1).sum(dim=1)).numpy(), rtol=1e-6
    )
    np.testing.assert_allclose(
        (log_p_good.exp() + log_p_bad.exp()).numpy(), 1.0, rtol=1e-6, atol=1e-6
    )


@pytest.mark.parametrize(
    ("combiner", "changed"),
    # Rows whose P(good) a dropped head can raise, with p = 0.5 and 3 heads all reading "bad":
    # any drop for the sum-based combiners, only all three dropped (1/8) for the minimum.
    [("fuzzy_and", 7 / 8), ("logistic", 7 / 8), ("min", 1 / 8)],
)
def test_head_dropout_replaces_scores_by_one_in_training_only(combiner, changed):
    module = ChannelDecompositionModule([2, 3, 1], hidden_layer_sizes=(4,), combiner=combiner)
    module.head_dropout = 0.5
    logits = torch.full((4000, 3), -30.0)
    module.eval()
    evaluated, _ = module.combine(logits)
    assert torch.equal(evaluated, module.combine(logits)[0])
    module.train()
    torch.manual_seed(0)
    trained, _ = module.combine(logits)
    assert (trained > evaluated + 1e-3).double().mean().item() == pytest.approx(changed, abs=0.03)
    if combiner == "fuzzy_and":
        # log P(good) = -(number of heads kept): binomial(3, 1/2).
        kept = np.bincount(-np.round(trained.numpy()).astype(int), minlength=4) / len(trained)
        np.testing.assert_allclose(kept, [1 / 8, 3 / 8, 3 / 8, 1 / 8], atol=0.03)


@pytest.mark.parametrize(
    ("combiner", "expected"), [("fuzzy_and", 0.1), ("min", 0.1), ("logistic", 0.0)]
)
def test_head_dropout_auto(small, combiner, expected):
    X, y = small
    clf = ChannelDecompositionClassifier(combiner=combiner, **FAST).fit(X, y)
    assert clf.net_.module_.head_dropout == expected
    assert ChannelDecompositionClassifier.from_preset("paper").head_dropout == 0.0


def test_squared_inputs_let_a_linear_head_see_a_deviation_either_way():
    # Bad when a__x strays from 0 in either direction: beyond a linear head's reach, unless the
    # head also sees the squares.
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(800, 4)), columns=["a__x", "a__y", "b__x", "b__y"])
    y = (X["a__x"].abs() < 1.2).astype(int)
    auc, channel_auc = {}, {}
    for squared in (False, True):
        clf = ChannelDecompositionClassifier(
            hidden_layer_sizes=(), squared_inputs=squared, max_epochs=30, random_state=0
        ).fit(X, y)
        head = clf.net_.module_.heads[0].layers
        assert [m.in_features for m in head if isinstance(m, torch.nn.Linear)] == [
            4 if squared else 2
        ]
        auc[squared] = roc_auc_score(y, clf.predict_proba(X)[:, 1])
        channel_auc[squared] = roc_auc_score(y, clf.predict_channel_scores(X)["a"])
    assert auc[True] > 0.95 and channel_auc[True] > 0.95
    assert auc[False] < 0.7 and channel_auc[False] < 0.7


def test_squared_inputs_must_be_a_bool(small):
    X, y = small
    with pytest.raises(TypeError, match="squared_inputs must be True or False; got 'yes'"):
        ChannelDecompositionClassifier(squared_inputs="yes", **FAST).fit(X, y)


def test_paper_schedule_and_preset():
    schedule = SoftPretrainingSchedule(0.7, 0.8, first_epoch=20, every=100, lr_decay=0.8)
    decays = [schedule.n_decays(epoch) for epoch in (1, 20, 21, 120, 121, 221, 801)]
    assert decays == [0, 0, 1, 1, 2, 3, 8]
    clf = ChannelDecompositionClassifier.from_preset("paper", channels="prefix")
    assert clf.get_params()["max_epochs"] == 801
    assert {k: clf.get_params()[k] for k in PRESETS["paper"]} == PRESETS["paper"]
    assert clf.get_params()["squared_inputs"] is False  # the paper's heads see the columns only
    with pytest.raises(ValueError, match="Unknown preset 'nope'"):
        ChannelDecompositionClassifier.from_preset("nope")


def test_schedule_is_applied_during_training(small):
    X, y = small
    clf = ChannelDecompositionClassifier(
        max_epochs=6,
        aux_loss_weight=0.6,
        aux_loss_decay=0.5,
        aux_decay_start=2,
        aux_decay_every=2,
        lr_decay=0.1,
        lr=1e-2,
        random_state=0,
    ).fit(X, y)
    np.testing.assert_allclose(clf.history_[:, "aux_loss_weight"], [0.6, 0.6, 0.3, 0.3, 0.15, 0.15])
    np.testing.assert_allclose(clf.history_[:, "lr"], [1e-2, 1e-2, 1e-3, 1e-3, 1e-4, 1e-4])
    assert clf.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(1e-4)


@pytest.mark.numerics
def test_early_stopping_uses_a_seeded_validation_split(small):
    X, y = small
    params = {
        **FAST,
        "max_epochs": 300,
        "early_stopping": True,
        "n_iter_no_change": 3,
        "lr": 5e-2,
    }
    clf = ChannelDecompositionClassifier(**params).fit(X, y)
    assert len(clf.history_) < 300
    assert "valid_loss" in clf.history_[-1]
    again = ChannelDecompositionClassifier(**params).fit(X, y)
    assert len(again.history_) == len(clf.history_)
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))


class _CountEpochs(Callback):
    def __init__(self):
        self.epochs = 0

    def on_epoch_end(self, net, **kwargs):
        self.epochs += 1


def test_callbacks_pass_through_and_are_copied(small):
    X, y = small
    counter = _CountEpochs()
    clf = ChannelDecompositionClassifier(callbacks=[("count", counter)], **FAST).fit(X, y)
    assert counter.epochs == 0  # the user's object is copied, never mutated
    assert dict(clf.net_.callbacks_)["count"].epochs == FAST["max_epochs"]


def test_verbose_prints_one_line_per_epoch(small, capsys):
    X, y = small
    ChannelDecompositionClassifier(verbose=1, **FAST).fit(X, y)
    out = capsys.readouterr().out
    assert "train_loss" in out
    assert len(re.findall(r"^\s+\d+\s", out, flags=re.M)) == FAST["max_epochs"]
    ChannelDecompositionClassifier(verbose=0, **FAST).fit(X, y)
    assert capsys.readouterr().out == ""


def test_remainder_drop(small):
    X, y = small
    clf = ChannelDecompositionClassifier(channels={"a": "^a__"}, remainder="drop", **FAST)
    clf.fit(X, y)
    assert clf.channel_names_ == ["a"]
    assert clf.predict_proba(X).shape == (len(X), 2)


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("channels", "message"),
    [
        ({"a": ["a__f0", "zzz"], "rest": "^(b|c)__|^a__f[123]"}, "'zzz'"),
        ({"a": "^a__", "bc": "^(b|c)__", "again": ["a__f0"]}, "'a__f0' (index 0) is in two"),
        ({"a": "^a__", "bc": "^(b|c)__", "none": "^z"}, "Channel 'none' is empty"),
        ({"a": "^a__", "b": "^b__"}, "'c__f0'"),
    ],
)
def test_channel_errors(small, channels, message):
    X, y = small
    with pytest.raises(ValueError, match=re.escape(message)):
        ChannelDecompositionClassifier(channels=channels, **FAST).fit(X, y)


@pytest.mark.parametrize(("value", "word"), [(np.nan, "NaN"), (np.inf, "infinity")])
def test_non_finite_input_names_the_column(small, value, word):
    X, y = small
    bad = X.copy()
    bad.iloc[5, 6] = value
    with pytest.raises(ValueError, match=rf"{word} in column 'b__f2'"):
        ChannelDecompositionClassifier(**FAST).fit(bad, y)
    clf = ChannelDecompositionClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match=rf"{word} in column 'b__f2'"):
        clf.predict_proba(bad)


def test_label_errors(small):
    X, y = small
    with pytest.raises(ValueError, match="single class"):
        ChannelDecompositionClassifier(**FAST).fit(X, np.ones(len(X)))
    with pytest.raises(ValueError, match="Only binary classification.*3 classes"):
        ChannelDecompositionClassifier(**FAST).fit(X, np.arange(len(X)) % 3)
    with pytest.raises(ValueError, match="good_label=1 is not among the labels"):
        ChannelDecompositionClassifier(**FAST).fit(X, np.where(y == 1, "good", "bad"))


def test_predicting_on_other_columns(small):
    X, y = small
    clf = ChannelDecompositionClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="feature names should match"):
        clf.predict_proba(X.rename(columns={"a__f0": "a__other"}))
    with (
        pytest.warns(UserWarning, match="does not have valid feature names"),
        pytest.raises(ValueError, match="12 features"),
    ):
        clf.predict_proba(X.iloc[:, :5].to_numpy())


def test_zero_rows_and_bad_parameters(small):
    X, y = small
    with pytest.raises(ValueError, match="0 sample"):
        ChannelDecompositionClassifier(**FAST).fit(X.iloc[:0], y.iloc[:0])
    clf = ChannelDecompositionClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="0 sample"):
        clf.predict_proba(X.iloc[:0])
    for params, message in [
        ({"combiner": "max"}, "combiner must be one of"),
        ({"activation": "swish"}, "activation must be one of"),
        ({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"batch_size": 0}, "batch_size"),
        ({"device": "cuda:7"} if not torch.cuda.is_available() else {"lr": -1}, "cuda|lr"),
    ]:
        with pytest.raises(ValueError, match=message):
            ChannelDecompositionClassifier(**{**FAST, **params}).fit(X, y)
    with pytest.raises(ValueError, match="zero weight"):
        ChannelDecompositionClassifier(**FAST).fit(X, y, sample_weight=(y == 1).astype(float))
    with pytest.raises(ValueError, match="[Nn]egative"):
        ChannelDecompositionClassifier(**FAST).fit(X, y, sample_weight=-np.ones(len(X)))


def test_pipeline_transform_gives_the_channel_scores(small):
    X, y = small
    model = Pipeline(
        [
            ("scale", StandardScaler().set_output(transform="pandas")),
            ("clf", ChannelDecompositionClassifier(**FAST)),
        ]
    ).fit(X, y)
    scores = model.transform(X)
    assert list(scores.columns) == ["a", "b", "c"]
    assert list(model.get_feature_names_out()) == ["a", "b", "c"]
    expected = model[-1].predict_channel_scores(model[0].transform(X))
    pd.testing.assert_frame_equal(scores, expected)
    assert model[-1].channel_names_ == ["a", "b", "c"]
    assert model[-1].channel_indices_["b"].tolist() == [4, 5, 6, 7]


def test_default_channels_on_a_plain_array_are_the_columns(small):
    X, y = small
    clf = ChannelDecompositionClassifier(**FAST).fit(X.to_numpy()[:, :3], y)
    assert clf.channel_names_ == ["0", "1", "2"]
    assert list(clf.transform(X.to_numpy()[:5, :3]).columns) == ["0", "1", "2"]
    by_prefix = ChannelDecompositionClassifier(**FAST).fit(X, y)
    assert by_prefix.channel_names_ == ["a", "b", "c"]


class _MeanCombiner(Combiner):
    """P(good) = sigmoid(scale * (mean f_i - 1/2)): a combiner of the test's own."""

    def __init__(self, n_channels):
        super().__init__(n_channels)
        self.scale = torch.nn.Parameter(torch.tensor(6.0))

    def forward(self, head_logits, dropped=None):
        logit = self.scale * (self._scores(head_logits, dropped).mean(dim=1) - 0.5)
        return torch.nn.functional.logsigmoid(logit), torch.nn.functional.logsigmoid(-logit)


def test_combiners_by_name_and_by_class(small):
    X, y = small
    assert COMBINERS == {"fuzzy_and": FuzzyAnd, "min": MinCombiner, "logistic": LogisticCombiner}
    by_name = ChannelDecompositionClassifier(combiner="min", **FAST).fit(X, y)
    by_class = ChannelDecompositionClassifier(combiner=MinCombiner, **FAST).fit(X, y)
    assert isinstance(by_class.net_.module_.combiner, MinCombiner)
    np.testing.assert_array_equal(by_name.predict_proba(X), by_class.predict_proba(X))
    # A registered class is saved by its name, so the model file holds no code reference.
    assert by_class.net_.module_._constructor_arguments["combiner"] == "min"
    own = ChannelDecompositionClassifier(combiner=_MeanCombiner, **FAST).fit(X, y)
    assert isinstance(own.net_.module_.combiner, _MeanCombiner)
    assert own.net_.module_.head_dropout == 0.0  # Combiner.default_head_dropout
    assert np.isfinite(own.predict_log_proba(X)).all()
    with pytest.raises(TypeError, match="Combiner"):
        ChannelDecompositionClassifier(combiner=torch.nn.Linear, **FAST).fit(X, y)
