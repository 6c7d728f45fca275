"""Channel reliability (also estimated in fit), ensembles with per-lumisection spread, and
fit's few-faults warning."""

import warnings

import numpy as np
import pandas as pd
import pytest

import channeldecomp
from channeldecomp import ChannelDecompositionClassifier
from channeldecomp.datasets import make_channel_anomalies
from channeldecomp.model_selection import RELIABILITY_THRESHOLD, channel_reliability


def _small_model(**params):
    params = {"hidden_layer_sizes": (8,), "max_epochs": 8, "random_state": 0, **params}
    return ChannelDecompositionClassifier(channels="prefix", **params)


@pytest.fixture(scope="module")
def blinded():
    """Two channels; the columns of "blind" replaced by noise unrelated to anything."""
    data = make_channel_anomalies(
        n_samples=800,
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
    runs = np.arange(len(X)) // 10
    return X, np.asarray(data.target), runs


def test_channel_reliability_marks_a_blind_channel_unreliable(blinded):
    X, y, runs = blinded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # few bad LS per channel: expected here
        table = channel_reliability(_small_model(), X, y, groups=runs, cv=2, random_state=0)
    assert list(table.index) == ["clean", "blind"]
    assert table["reliability"].between(0, 1).all()
    assert table.loc["clean", "reliable"] and not table.loc["blind", "reliable"]
    assert table.loc["clean", "reliability"] >= RELIABILITY_THRESHOLD
    # The blind channel's claims do not replicate: its scores are noise of each fit.
    assert table.loc["blind", "reliability"] < 0.3
    assert table.loc["clean", "replicated_auc"] > 0.8
    # Its claims lie in several of the 80 runs (at most one per claim).
    assert 5 < table.loc["clean", "claim_runs"] <= table.loc["clean", "claimed"]
    # Of two channels, the lower score takes the blame: the clean one, on most of its claims.
    assert table["blamed_share"].between(0, 1).all()
    assert table.loc["clean", "blamed_share"] > 0.5


def test_channel_reliability_rejects_bad_arguments(blinded):
    X, y, runs = blinded
    with pytest.raises(ValueError, match="cv must be an integer of at least 2"):
        channel_reliability(_small_model(), X, y, cv=1)
    with pytest.raises(ValueError, match="n_repeats must be an integer of at least 2"):
        channel_reliability(_small_model(), X, y, n_repeats=1)
    for value in (-1, "1", None):
        with pytest.raises(ValueError, match="min_claim_runs must be a number of at least 0"):
            channel_reliability(_small_model(), X, y, min_claim_runs=value)
    with pytest.raises(ValueError, match="good_label='ok'"):
        channel_reliability(_small_model(), X, y, good_label="ok")
    with pytest.raises(TypeError, match="no predict_channel_scores"):
        from sklearn.linear_model import LogisticRegression

        channel_reliability(LogisticRegression(), X, y)


def _two_fits(n=400):
    """Held-out scores of two refits: "lead" and "passenger" both low on the faults of
    "lead" (in both fits), the passenger 0.05 higher; a third channel is noise above both on
    the faults."""
    rng = np.random.default_rng(0)
    is_good = rng.random(n) > 0.3
    repeats = []
    for _ in range(2):
        lead = np.where(is_good, 0.9, 0.05) + 0.02 * rng.random(n)
        passenger = lead + 0.05 + 0.01 * rng.random(n) * ~is_good
        repeats.append(np.column_stack([lead, passenger, rng.uniform(0.5, 1.0, n)]))
    return repeats, is_good


def test_blamed_share_is_the_share_of_claims_with_the_lowest_score():
    from channeldecomp.model_selection import _reliability_of

    repeats, is_good = _two_fits()

    def statistic(channel):
        values, _, _, claims, shares, _ = _reliability_of(
            [scores[:, channel] for scores in repeats],
            is_good,
            0.02,
            20,
            blamed=[scores.argmin(axis=1) == channel for scores in repeats],
        )
        return float(np.mean(values)), claims, shares

    lead, lead_claims, lead_shares = statistic(0)
    passenger, passenger_claims, passenger_shares = statistic(1)
    # Both claim every bad row and replicate their claims; the lead takes all the blame.
    assert min(lead_claims + passenger_claims) == (~is_good).sum()
    assert lead_shares == [1.0, 1.0] and passenger_shares == [0.0, 0.0]
    # The share is a diagnostic: the reliability does not depend on it.
    assert lead == passenger > 0.8
    without = _reliability_of([scores[:, 1] for scores in repeats], is_good, 0.02, 20)
    assert float(np.mean(without[0])) == passenger and without[4] == [1.0, 1.0]


def test_the_runs_factor_scales_by_the_runs_of_the_claims():
    from channeldecomp.model_selection import _reliability_of

    repeats, is_good = _two_fits()
    lead = [scores[:, 0] for scores in repeats]
    values, _, _, claims, _, claim_runs = _reliability_of(lead, is_good, 0.02, 20)
    assert claim_runs == claims  # without runs, each row a run of its own
    runs = np.arange(len(is_good)) // 40  # ten runs, every one with faults of "lead"
    scaled = _reliability_of(lead, is_good, 0.02, 20, runs=runs, min_claim_runs=0.5)
    assert scaled[5] == [10, 10]
    np.testing.assert_allclose(scaled[0], np.asarray(values) * 10 / 10.5)
    one_run = _reliability_of(lead, is_good, 0.02, 20, runs=np.zeros(len(is_good)),
                              min_claim_runs=0.5)  # fmt: skip
    assert one_run[5] == [1, 1]
    np.testing.assert_allclose(one_run[0], np.asarray(values) * 2 / 3)


def test_fit_warns_about_few_bad_lumisections_and_fault_episodes():
    data = make_channel_anomalies(n_samples=200, n_features_per_channel=2, random_state=0)
    runs = np.arange(200) // 50  # 4 runs, all with bad LS: 4 fault episodes for 4 channels
    with pytest.warns(UserWarning, match=r"\d+ bad lumisections and 4 runs with bad"):
        _small_model(max_epochs=1).fit(data.data, data.target, groups=runs)


def test_fit_does_not_warn_with_enough_faults():
    data = make_channel_anomalies(
        n_samples=1000, channels=2, n_features_per_channel=2, anomaly_fraction=0.3, random_state=0
    )
    runs = np.arange(1000) // 10  # 100 runs, about all with bad LS
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        _small_model(max_epochs=1).fit(data.data, data.target, groups=runs)


@pytest.fixture(scope="module")
def ensemble_data():
    data = make_channel_anomalies(n_samples=300, n_features_per_channel=2, random_state=0)
    return data.data, np.asarray(data.target), np.arange(300) // 15


def _fit_quietly(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return model.fit(*args, **kwargs)


@pytest.mark.numerics
def test_single_network_return_std_is_zero_and_scores_unchanged(ensemble_data):
    X, y, _ = ensemble_data
    model = _fit_quietly(_small_model(max_epochs=2), X, y)
    scores, spread = model.predict_channel_scores(X, return_std=True)
    assert len(model.nets_) == 1 and model.net_ is model.nets_[0]
    # Same computation as without return_std: exactly equal.
    pd.testing.assert_frame_equal(scores, model.predict_channel_scores(X))
    assert (spread.to_numpy() == 0).all() and list(spread.columns) == list(scores.columns)


@pytest.mark.numerics
def test_ensemble_averages_in_log_space_with_spread(ensemble_data):
    X, y, runs = ensemble_data
    model = _fit_quietly(_small_model(max_epochs=2, n_estimators=3), X, y, groups=runs)
    assert len(model.nets_) == 3
    scores, spread = model.predict_channel_scores(X, return_std=True)
    assert scores.shape == spread.shape == (len(X), 4) and spread.index.equals(scores.index)
    members = np.stack([_member_scores(model, net, X) for net in model.nets_])
    # Geometric mean and standard deviation of the members' scores; float64 inference, so
    # only the rounding of exp(mean(log)) separates the two (relative 1e-12 is ample).
    np.testing.assert_allclose(scores, np.exp(np.log(members).mean(axis=0)), rtol=1e-12)
    np.testing.assert_allclose(spread, members.std(axis=0), rtol=1e-9, atol=1e-15)
    assert (spread.to_numpy() > 0).any()
    # P(good) is the geometric mean of the members' P(good).
    member_proba = np.stack([_member_proba(model, net, X) for net in model.nets_])
    good = list(model.classes_).index(1)
    np.testing.assert_allclose(
        model.predict_proba(X)[:, good], np.exp(np.log(member_proba).mean(axis=0)), rtol=1e-12
    )
    # A row's prediction does not depend on its batch beyond the last bits (~1e-16: kernel
    # blocking, vector width, threads), as for one network; 1e-12 leaves headroom.
    np.testing.assert_allclose(
        model.predict_channel_scores(X.iloc[3:10]).to_numpy(),
        scores.iloc[3:10].to_numpy(),
        rtol=1e-12,
    )


@pytest.mark.numerics
def test_blame_is_the_lowest_score_and_agreement_counts_the_networks(ensemble_data):
    X, y, runs = ensemble_data
    model = _fit_quietly(_small_model(max_epochs=2, n_estimators=3), X, y, groups=runs)
    blame = model.predict_blame(X)
    scores = model.predict_channel_scores(X)
    assert list(blame.columns) == ["channel", "score", "agreement"] and blame.index.equals(X.index)
    lowest = scores.to_numpy().argmin(axis=1)
    np.testing.assert_array_equal(blame["channel"], np.asarray(scores.columns)[lowest])
    np.testing.assert_array_equal(blame["score"], scores.to_numpy()[np.arange(len(X)), lowest])
    members = [_member_scores(model, net, X) for net in model.nets_]
    expected = np.mean([member.argmin(axis=1) == lowest for member in members], axis=0)
    # Where a network's two lowest scores are equal in float64 (a saturated sigmoid), its
    # lowest channel is a tie; compared on the other rows (nearly all).
    ordered = [np.sort(member, axis=1) for member in members]
    distinct = np.all([row[:, 0] < row[:, 1] for row in ordered], axis=0)
    assert distinct.mean() > 0.9
    np.testing.assert_array_equal(blame["agreement"][distinct], expected[distinct])
    assert set(np.round(blame["agreement"] * 3)) <= {0, 1, 2, 3}
    assert (blame["agreement"] < 1).any()  # the networks do disagree somewhere
    # One network agrees with itself everywhere; a numpy input gets a default index.
    channels = {name: list(np.flatnonzero(X.columns.str.startswith(f"{name}__"))) for name in
                scores.columns}  # fmt: skip
    single = _fit_quietly(_small_model(max_epochs=2).set_params(channels=channels), X.to_numpy(), y)
    assert (single.predict_blame(X.to_numpy())["agreement"] == 1).all()
    assert single.predict_blame(X.to_numpy()).index.equals(pd.RangeIndex(len(X)))


def _single(model, net):
    single = ChannelDecompositionClassifier(**model.get_params())
    for name, value in vars(model).items():
        if name.endswith("_"):
            setattr(single, name, value)
    single.nets_, single.net_ = [net], net
    return single


def _member_scores(model, net, X):
    return _single(model, net).predict_channel_scores(X).to_numpy()


def _member_proba(model, net, X):
    return _single(model, net).predict_proba(X)[:, list(model.classes_).index(1)]


def test_ensemble_members_differ_and_groups_are_checked(ensemble_data):
    X, y, runs = ensemble_data
    model = _fit_quietly(_small_model(max_epochs=1, n_estimators=2), X, y, groups=runs)
    first, second = (net.module_.heads[0].layers[-1].weight for net in model.nets_)
    assert not np.array_equal(first.detach().numpy(), second.detach().numpy())
    with pytest.raises(ValueError, match="n_estimators must be a positive integer"):
        _small_model(n_estimators=0).fit(X, y)
    with pytest.raises(ValueError, match="groups must hold one run per row"):
        _fit_quietly(_small_model(n_estimators=2), X, y, groups=runs[:-1])


def test_ensemble_saves_and_loads(ensemble_data, tmp_path):
    X, y, runs = ensemble_data
    model = _fit_quietly(_small_model(max_epochs=1, n_estimators=3), X, y, groups=runs)
    loaded = channeldecomp.load(channeldecomp.save(model, tmp_path / "ensemble.skops"))
    assert len(loaded.nets_) == 3 and loaded.net_ is loaded.nets_[0]
    for before, after in zip(
        model.predict_channel_scores(X, return_std=True),
        loaded.predict_channel_scores(X, return_std=True),
    ):
        pd.testing.assert_frame_equal(before, after)  # the same float64 weights: exact
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert len(loaded.history_) == 1


def test_onnx_export_refuses_an_ensemble(ensemble_data):
    pytest.importorskip("onnx")
    from channeldecomp.export import to_onnx

    X, y, runs = ensemble_data
    model = _fit_quietly(_small_model(max_epochs=1, n_estimators=2), X, y, groups=runs)
    with pytest.raises(ValueError, match="ensemble of 2 networks"):
        to_onnx(model)


def test_report_shows_reliability_and_warns_about_an_unreliable_channel(ensemble_data):
    from channeldecomp.model_selection import reliability_warnings
    from channeldecomp.report import channel_report

    X, y, _ = ensemble_data
    model = _fit_quietly(_small_model(max_epochs=1), X.iloc[:200], y[:200])
    reliability = pd.DataFrame(
        {"reliability": [0.9, 0.1, 0.8, 0.7], "reliable": [True, False, True, True]},
        index=pd.Index(model.channel_names_, name="channel"),
    )
    (warning,) = reliability_warnings(reliability)
    assert warning.startswith("Channel 'photons' is not reliable (reliability 0.10 < 0.40)")
    assert "more runs with faults" in warning
    report = channel_report(model, X.iloc[200:], y[200:], reliability=reliability)
    assert report.channels["reliable"].tolist() == [True, False, True, True]
    assert report.reliability_warnings == [warning]
    assert "Warning: Channel &#x27;photons&#x27; is not reliable" in report.to_html()
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['reliable'\]"):
        reliability_warnings(reliability[["reliability"]])


def test_report_shows_the_ensembles_agreement_on_the_blame(ensemble_data):
    from channeldecomp.report import channel_report

    X, y, runs = ensemble_data
    model = _fit_quietly(
        _small_model(max_epochs=2, n_estimators=3), X.iloc[:200], y[:200], groups=runs[:200]
    )
    report = channel_report(model, X.iloc[200:], y[200:])
    assert report.blame.columns.tolist() == [
        "bad LS blamed",
        "share of bad",
        "median blamed score",
        "networks agree",
    ]
    blame = model.predict_blame(X.iloc[200:])
    bad = y[200:] == 0
    for channel, row in report.blame.iterrows():
        mine = bad & (blame["channel"] == channel).to_numpy()
        assert row["bad LS blamed"] == mine.sum()
        if mine.any():
            assert row["networks agree"] == (blame["agreement"][mine] == 1).mean()
    assert report.blame["bad LS blamed"].sum() == bad.sum()
    assert "<th>networks agree</th>" in report.to_html()


def test_cli_report_measures_reliability(ensemble_data, tmp_path, capsys):
    from channeldecomp.cli import main

    X, y, runs = ensemble_data
    model = _fit_quietly(_small_model(max_epochs=1), X, y)
    table = X.assign(run=runs, lumi=np.arange(len(X)), good=y)
    table.to_csv(tmp_path / "lumisections.csv", index=False)
    model_path = channeldecomp.save(model, tmp_path / "model.skops")
    output = tmp_path / "report.html"
    arguments = ["report", "--model", str(model_path), "--data", str(tmp_path / "lumisections.csv")]
    arguments += ["--label-column", "good", "--output", str(output)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # few bad LS per channel in the refits
        assert main([*arguments, "--reliability", "--reliability-cv", "2"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(output)
    for channel in model.channel_names_:  # the reliability table, on stderr
        assert channel in captured.err
    assert "reliability" in captured.err and "<th>reliable</th>" in output.read_text()


def test_reliability_repeats_refit_with_their_own_seed():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from channeldecomp.model_selection import _reseeded

    assert _reseeded(_small_model(), 7).random_state == 7
    pipeline = _reseeded(make_pipeline(StandardScaler(), _small_model()), 7)
    assert pipeline[-1].random_state == 7


# ------------------------------------------------- the reliability estimated in fit
def test_fit_estimates_the_reliability_of_its_configuration(blinded, tmp_path):
    X, y, runs = blinded
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = _small_model(reliability_cv=2).fit(X, y, groups=runs)
    table = model.channel_reliability_
    # the same table as channel_reliability of the configuration, seeded alike
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = channel_reliability(
            _small_model(), X, y, groups=runs, cv=2, random_state=model._seed()
        )
    assert table.round(12).equals(expected.round(12))
    assert table.attrs == expected.attrs
    assert not table.loc["blind", "reliable"] and table.loc["clean", "reliable"]
    # fit warns about the unreliable channel, by name, once
    messages = [str(w.message) for w in caught if "is not reliable" in str(w.message)]
    assert len(messages) == 1 and messages[0].startswith("Channel 'blind'")
    # the prediction is that of the model alone: the refits do not replace it
    alone = _small_model().fit(X, y, groups=runs)
    np.testing.assert_array_equal(model.predict_proba(X), alone.predict_proba(X))
    # saved and loaded with the model (a model file holds no pandas object)
    path = tmp_path / "model.skops"
    channeldecomp.save(model, path)
    assert channeldecomp.load(path).channel_reliability_.equals(table)


def test_without_reliability_cv_there_is_no_table(blinded):
    X, y, runs = blinded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = _small_model(reliability_cv=2).fit(X, y, groups=runs)
        assert hasattr(model, "channel_reliability_")
        model.set_params(reliability_cv=None).fit(X, y)  # a refit forgets the earlier table
    assert not hasattr(model, "channel_reliability_")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _small_model(reliability_cv=2, max_epochs=1).fit(X, y)
    assert any(
        "no groups" in str(w.message) and "fit(X, y, groups=runs)" in str(w.message) for w in caught
    )
    with pytest.raises(AttributeError, match="reliability_cv=3"):
        model.channel_reliability_  # noqa: B018


@pytest.mark.parametrize("value", [1, 0, 2.5, True, "3"])
def test_reliability_cv_is_checked(blinded, value):
    X, y, _ = blinded
    with pytest.raises(ValueError, match="reliability_cv must be None or an integer"):
        _small_model(reliability_cv=value).fit(X, y)
