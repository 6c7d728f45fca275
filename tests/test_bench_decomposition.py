"""The decomposition benchmark's scoring, summaries (``benchmarks/_records.py``) and options,
and a smoke run of its fast methods (its splitter, baselines and metrics are tested with the
package)."""

import numpy as np
import pandas as pd
import pytest
from benchmark_scripts import load_benchmark
from sklearn.ensemble import HistGradientBoostingClassifier

from channeldecomp import ChannelDecompositionClassifier, DistilledChannelClassifier


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_decomposition")


@pytest.fixture(scope="module")
def tables(bench):
    """``benchmarks/_records.py``: the tables of the benchmark's records (importable once the
    benchmark is loaded, which puts its folder on ``sys.path``)."""
    import _records

    return _records


def _split(truth):
    truth = pd.DataFrame(truth, columns=["muons", "photons", "pf", "calo_jets"])
    return {"y_test": truth.all(axis=1).astype(int).to_numpy(), "truth_test": truth}


def test_scores_against_the_channel_truth(bench):
    rng = np.random.default_rng(0)
    truth = (rng.random((200, 4)) > 0.2).astype(int)
    split = _split(truth)
    perfect = truth + 0.01 * rng.random((200, 4))
    result = bench.score_method(split, perfect.min(axis=1), perfect)
    assert result == {
        "global_auc": 1.0,
        "mean_channel_auc": 1.0,
        "worst_channel_auc": 1.0,
        "bad_only_channel_auc": 1.0,
    }
    # A global detector (the same score in every channel) is blind among bad LS.
    global_score = np.repeat(perfect.min(axis=1, keepdims=True), 4, axis=1)
    blind = bench.score_method(split, global_score[:, 0], global_score)
    assert blind["mean_channel_auc"] > 0.7
    assert blind["bad_only_channel_auc"] < blind["mean_channel_auc"] - 0.1
    # Channels in the wrong order score badly unless matched (as for the random groups).
    shuffled = perfect[:, [2, 0, 3, 1]]
    assert bench.score_method(split, perfect.min(axis=1), shuffled)["mean_channel_auc"] < 0.8
    matched = bench.score_method(split, perfect.min(axis=1), shuffled, match_channels=True)
    assert matched["mean_channel_auc"] == 1.0
    noise = bench.score_method(split, perfect.min(axis=1), rng.random((200, 4)))
    assert 0.35 < noise["mean_channel_auc"] < 0.65
    assert noise["worst_channel_auc"] <= noise["mean_channel_auc"]
    assert np.isnan(bench.score_method(split, perfect[:, 0], None)["mean_channel_auc"])


def test_summary_compares_with_hgb_only_when_it_ran(tables):
    records = pd.DataFrame(
        {
            "difficulty": ["default"] * 4,
            "seed": [0, 0, 1, 1],
            "method": ["cdc", "hgb", "cdc", "hgb"],
            "global_auc": [0.96, 0.98, 0.94, 0.99],
            "mean_channel_auc": [0.9, np.nan, 0.8, np.nan],
            "worst_channel_auc": [0.8, np.nan, 0.7, np.nan],
            "bad_only_channel_auc": [0.85, np.nan, 0.75, np.nan],
            "fit_s": [4.0, 2.0, 6.0, 2.0],
        }
    )
    table = tables.summarize(records)
    assert table.loc[("default", "cdc"), "global_auc"] == "0.950 ± 0.010"
    assert table.loc[("default", "cdc"), "global - hgb"] == "-0.035 ± 0.015"
    assert table.loc[("default", "cdc"), "time / hgb"] == "2.5x"
    assert table.loc[("default", "hgb"), "mean_channel_auc"] == "-"
    alone = tables.summarize(records[records["method"] == "cdc"])
    assert list(alone.columns) == list(table.columns)[:4]


def test_fault_summary_splits_each_gap_to_hgb_by_fault(tables):
    # Two seeds; fault B is in the test of seed 0 only.
    rows = [
        ("cdc", 0, 0.90, {"A": (0.8, 6), "B": (1.0, 2)}),
        ("hgb", 0, 0.95, {"A": (0.9, 6), "B": (1.0, 2)}),
        ("cdc", 1, 0.85, {"A": (0.85, 4)}),
        ("hgb", 1, 0.97, {"A": (0.97, 4)}),
    ]
    records = pd.DataFrame(
        [
            {"difficulty": "default", "seed": seed, "method": method, "global_auc": auc}
            | {f"auc[{k}]": v[0] for k, v in faults.items()}
            | {f"n[{k}]": v[1] for k, v in faults.items()}
            for method, seed, auc, faults in rows
        ]
    )
    aucs, terms = tables.summarize_by_fault(records)
    assert aucs.loc[("default", "A"), "bad test LS"] == 10
    assert aucs.loc[("default", "B"), "bad test LS"] == 2
    assert aucs.loc[("default", "A"), "cdc"] == pytest.approx(0.825)
    assert aucs.loc[("default", "B"), "hgb"] == pytest.approx(1.0)
    assert list(terms.columns) == ["cdc"]
    # Seed 0: A gives 6 * (0.8 - 0.9) / 8; seed 1: 4 * (0.85 - 0.97) / 4; B gives nothing.
    assert terms.loc[("default", "A"), "cdc"] == pytest.approx((-0.075 - 0.12) / 2)
    assert terms.loc[("default", "B"), "cdc"] == pytest.approx(0.0)
    assert terms.loc[("default", "total"), "cdc"] == pytest.approx((-0.075 - 0.12) / 2)
    assert terms.index[-1] == ("default", "total")
    alone, no_terms = tables.summarize_by_fault(records[records["method"] == "cdc"])
    assert no_terms is None
    assert list(alone.columns) == ["bad test LS", "cdc"]
    with pytest.raises(ValueError, match="--by-fault"):
        tables.summarize_by_fault(records[["difficulty", "seed", "method", "global_auc"]])


def test_fault_summary_rows_are_the_faults_of_each_difficulty(tables):
    # Fault B is in the tests of the hard level only: no empty row for it at the default level.
    rows = [
        ("default", "cdc", {"A": (0.8, 5)}),
        ("default", "hgb", {"A": (0.9, 5)}),
        ("hard", "cdc", {"A": (0.7, 3), "B": (0.6, 2)}),
        ("hard", "hgb", {"A": (0.8, 3), "B": (0.9, 2)}),
    ]
    records = pd.DataFrame(
        [
            {"difficulty": difficulty, "seed": 0, "method": method}
            | {f"auc[{k}]": v[0] for k, v in faults.items()}
            | {f"n[{k}]": v[1] for k, v in faults.items()}
            for difficulty, method, faults in rows
        ]
    )
    aucs, terms = tables.summarize_by_fault(records)
    assert list(aucs.index) == [("default", "A"), ("hard", "A"), ("hard", "B")]
    assert list(terms.index) == [
        ("default", "A"),
        ("default", "total"),
        ("hard", "A"),
        ("hard", "B"),
        ("hard", "total"),
    ]
    assert terms.loc[("hard", "total"), "cdc"] == pytest.approx((3 * -0.1 + 2 * -0.3) / 5)


@pytest.mark.slow
def test_quick_run_of_the_fast_methods(bench, tables):
    records = bench.main(
        [
            "--quick",
            "--quiet",
            "--methods",
            "iforest",
            "hgb",
            "--n-lumisections",
            "150",
            "--by-fault",
        ]
    )
    assert set(records["method"]) == {"iforest", "hgb"}
    assert records["global_auc"].between(0, 1).all()
    # The terms by fault add up to the global gap to hgb, on a real split.
    _, terms = tables.summarize_by_fault(records)
    gap = records.set_index("method")["global_auc"]
    assert terms.loc[("default", "total"), "iforest"] == pytest.approx(gap["iforest"] - gap["hgb"])
    assert any(column.startswith("auc[") for column in records.columns)
    table = tables.summarize(records)
    assert list(table.columns)[:4] == [
        "global_auc",
        "mean_channel_auc",
        "worst_channel_auc",
        "bad_only_channel_auc",
    ]


def _feature_split(n_train=300, n_test=200, seed=0):
    # Two columns per channel; a channel is bad where its first column is shifted.
    rng = np.random.default_rng(seed)
    channels = ["muons", "photons", "pf", "calo_jets"]
    columns = [f"{c}__x{k}" for c in channels for k in range(2)]

    def part(n):
        truth = (rng.random((n, 4)) > 0.2).astype(int)
        X = rng.normal(size=(n, 8))
        X[:, 0::2] += 3.0 * (1 - truth)
        return pd.DataFrame(X, columns=columns), pd.DataFrame(truth, columns=channels)

    X_train, truth_train = part(n_train)
    X_test, truth_test = part(n_test)
    return {
        "X_train": X_train,
        "X_test": X_test,
        "y_train": truth_train.all(axis=1).astype(int).to_numpy(),
        "y_test": truth_test.all(axis=1).astype(int).to_numpy(),
        "truth_train": truth_train,
        "truth_test": truth_test,
        "weight_train": None,
    }


def _split_with_runs(n_train=240, n_test=60):
    """``_feature_split`` with its training rows in 12 runs of 20 (index levels run, lumi)."""
    split = _feature_split(n_train=n_train, n_test=n_test)
    runs = np.arange(n_train) // 20
    split["X_train"].index = pd.MultiIndex.from_arrays(
        [runs, np.arange(n_train)], names=["run", "lumi"]
    )
    return split, runs


def _spy_on_fits(bench, monkeypatch):
    """Every ``(model, fit_params)`` the benchmark's ``fit_and_score`` is given, in order."""
    fitted = []
    original = bench.fit_and_score

    def spy(model, split, **fit_params):
        fitted.append((model, fit_params))
        return original(model, split, **fit_params)

    monkeypatch.setattr(bench, "fit_and_score", spy)
    return fitted


def test_constant_channel_scores_are_named(bench):
    # Channels a method never used show up in the log: a constant score carries no information.
    split = _feature_split()
    scores = np.random.default_rng(0).random((200, 4))
    assert bench.constant_channels(scores, split["truth_test"].columns) == []
    scores[:, 1] = 0.25
    assert bench.constant_channels(scores, split["truth_test"].columns) == ["photons"]
    assert bench.constant_channels(None, split["truth_test"].columns) == []


def test_cdc_params_reach_cdc_and_its_random_control(bench, monkeypatch):
    seen = {}

    def fake_fit(name):
        def fit(split, seed, **params):
            seen[name] = params
            return np.full(len(split["y_test"]), 0.5), None

        return fit

    split = {**_feature_split(), "mode_coverage": pd.DataFrame({"train": [], "test": []})}
    monkeypatch.setattr(bench, "make_split", lambda *args, **kwargs: split)
    monkeypatch.setattr(bench, "fit_cdc", fake_fit("cdc"))
    monkeypatch.setattr(bench, "fit_cdc_random", fake_fit("cdc-random"))
    monkeypatch.setattr(bench, "fit_cdc_ensemble", fake_fit("cdc-ensemble"))
    methods = ["cdc", "cdc-ensemble", "cdc-random"]
    bench.run_benchmark(
        [0], ["default"], 10, 10, 3, 3, methods, cdc_params={"squared_inputs": False}
    )
    expected = {"max_epochs": 3, "squared_inputs": False}
    assert seen == {"cdc": expected, "cdc-ensemble": expected, "cdc-random": expected}


def test_boosting_params_reach_the_boosting_baselines_only(bench, monkeypatch):
    split = _feature_split(n_train=240, n_test=60)
    fitted = _spy_on_fits(bench, monkeypatch)
    params = {"early_stopping": False, "max_iter": 7}
    fitters = bench.make_fitters(2, 2, {"max_epochs": 2}, boosting_params=params)
    for method in ("hgb", "per-channel-hgb", "hgb-additive", "oracle", "cdc-distilled"):
        fitters[method](split, 3)
    hgb, per_channel, additive, oracle, distilled = (model for model, _ in fitted)
    for model in (hgb, per_channel.estimator, additive.estimator, oracle.estimator):
        assert model.get_params()["max_iter"] == 7 and model.random_state == 3
        assert model.get_params()["early_stopping"] is False
    assert distilled.estimator.max_iter == 100  # the distilled model's own boosting
    bench.make_fitters(2, 2, {})["hgb"](split, 3)  # without boosting_params: scikit-learn's
    assert fitted[-1][0].get_params() == HistGradientBoostingClassifier(random_state=3).get_params()


def test_the_ensemble_trains_each_network_on_a_bootstrap_of_the_training_runs(bench, monkeypatch):
    split, runs = _split_with_runs()
    fitted = _spy_on_fits(bench, monkeypatch)
    p_good, scores = bench.fit_cdc_ensemble(split, 0, max_epochs=2, n_estimators=2)
    ((model, fit_params),) = fitted
    assert model.n_estimators == 2 and len(model.nets_) == 2
    np.testing.assert_array_equal(fit_params["groups"], runs)
    assert p_good.shape == (60,) and scores.shape == (60, 4)
    assert "cdc-ensemble" in bench.METHODS and "cdc-ensemble" not in bench.DEFAULT_METHODS


@pytest.mark.parametrize("text", ["{squared_inputs: false}", "[1, 2]", '{"random_state": 1}'])
def test_cdc_params_must_be_a_json_object(bench, text, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--quick", "--quiet", "--methods", "hgb", "--cdc-params", text])
    assert "--cdc-params" in capsys.readouterr().err


def test_records_are_written_at_full_precision(bench, monkeypatch, tmp_path):
    fits = pd.DataFrame(
        {
            "difficulty": ["default"] * 2,
            "seed": [0, 0],
            "method": ["cdc", "hgb"],
            "fit_s": [2.0, 1.0],
            "global_auc": [0.9631234567, 0.9741234567],
            "mean_channel_auc": [0.9771234567, np.nan],
            "worst_channel_auc": [0.9521234567, np.nan],
            "bad_only_channel_auc": [0.9771234567, np.nan],
        }
    )
    monkeypatch.setattr(bench, "run_benchmark", lambda *args, **kwargs: fits)
    path = tmp_path / "fits.csv"
    bench.main(["--quick", "--quiet", "--methods", "cdc", "hgb", "--records", str(path)])
    pd.testing.assert_frame_equal(pd.read_csv(path), fits)


def test_records_folder_must_exist_before_the_run(bench, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(bench, "run_benchmark", lambda *args, **kwargs: pytest.fail("ran"))
    with pytest.raises(SystemExit):
        bench.main(["--quick", "--records", str(tmp_path / "missing" / "fits.csv")])
    assert "--records" in capsys.readouterr().err


def test_large_cells_are_simulated_and_featurised_block_by_block(bench, monkeypatch):
    from channeldecomp import LumiSectionPercentiles
    from channeldecomp.datasets import simulate_lumisections

    monkeypatch.setattr(bench, "BLOCK_EVENTS", 30 * 20)
    monkeypatch.setattr(bench, "BLOCK_SIZE", 12)
    data, X = bench.simulated_features(30, 20, difficulty=1.0, seed=4)
    assert len(data.blocks) == 3 and X.index.equals(data["keys"])
    features = LumiSectionPercentiles(lumisection_columns=False).set_output(transform="pandas")
    blocks = simulate_lumisections(30, 20, random_state=4, block_size=12).blocks
    expected = pd.concat([features.fit_transform(block) for block in blocks])
    pd.testing.assert_frame_equal(X, expected)
    # Below the threshold: one draw, as before.
    data, X = bench.simulated_features(29, 20, difficulty=1.0, seed=4)
    assert "blocks" not in data and X.index.equals(data["keys"])


def test_fresh_test_set_is_another_simulation_scaled_as_the_training_runs(bench):
    split = bench.make_split(1.0, 3, 600, 10)
    fresh = bench.fresh_test_set(split, 90, 10, difficulty=1.0, seed=3)
    assert list(fresh["X"].columns) == list(split["X_train"].columns)
    assert len(fresh["X"]) == len(fresh["y"]) == len(fresh["truth"]) == 90
    data, raw = bench.simulated_features(90, 10, difficulty=1.0, seed=3 + bench.FRESH_SEED_OFFSET)
    pd.testing.assert_frame_equal(fresh["X"], split["scaler"].transform(raw))
    np.testing.assert_array_equal(fresh["y"], data.y)
    # Not the cell's own simulation: other features for the same number of lumisections.
    _, own = bench.simulated_features(90, 10, difficulty=1.0, seed=3)
    assert not np.allclose(raw.to_numpy(), own.to_numpy())


def test_the_split_scaler_is_seeded(bench):
    # Above 10,000 training rows the quantiles come from a random subsample: seeded by the cell.
    split = bench.make_split(1.0, 5, 600, 10)
    assert split["scaler"].random_state == 5


def test_fresh_figures_come_from_the_same_fit_as_the_held_out_ones(bench):
    split = _feature_split(seed=1)
    other = _feature_split(n_train=0, n_test=150, seed=2)
    fresh = {"X": other["X_test"], "y": other["y_test"], "truth": other["truth_test"]}
    fitter = bench.make_fitters(2, 2, {})["per-channel-hgb"]
    p_good, scores, result = bench._fit_and_score_both(fitter, split, 0, fresh)
    # The held-out predictions are those of a fit scored on the held-out runs alone...
    alone_p, alone_scores = fitter(split, 0)
    np.testing.assert_array_equal(p_good, alone_p)
    np.testing.assert_array_equal(scores, alone_scores)
    # ... and the fresh figures those of the same model on the fresh rows.
    model = bench.PerChannelClassifier(bench.HistGradientBoostingClassifier(random_state=0))
    model.fit(split["X_train"], split["y_train"])
    direct = bench.score_method(
        {"y_test": fresh["y"], "truth_test": fresh["truth"]},
        bench.predict_good_proba(model, fresh["X"]),
        model.predict_channel_scores(fresh["X"]).to_numpy(),
    )
    assert result == {f"fresh_{key}": value for key, value in direct.items()}
    assert bench._fit_and_score_both(fitter, split, 0, None)[2] == {}
    # A global method has no channel scores: its fresh channel figures are NaN.
    hgb = bench.make_fitters(2, 2, {})["hgb"]
    _, none, result = bench._fit_and_score_both(hgb, split, 0, fresh)
    assert none is None and np.isnan(result["fresh_mean_channel_auc"])
    assert 0.5 < result["fresh_global_auc"] <= 1


def test_summary_pairs_each_method_with_cdc_on_held_out_and_fresh_data(tables):
    records = pd.DataFrame(
        {
            "difficulty": ["default"] * 4,
            "seed": [0, 0, 1, 1],
            "method": ["cdc", "oracle", "cdc", "oracle"],
            "global_auc": [0.96, 0.98, 0.94, 0.99],
            "mean_channel_auc": [0.90, 0.93, 0.80, 0.82],
            "worst_channel_auc": [0.8, 0.9, 0.7, 0.75],
            "bad_only_channel_auc": [0.85, 0.9, 0.75, 0.8],
            "fresh_mean_channel_auc": [0.91, 0.95, 0.85, 0.86],
            "fresh_worst_channel_auc": [0.8, 0.9, 0.7, 0.8],
            "fit_s": [4.0, 2.0, 6.0, 2.0],
        }
    )
    table = tables.summarize(records)
    assert table.loc[("default", "oracle"), "channel - cdc"] == "+0.025 ± 0.005"
    assert table.loc[("default", "oracle"), "fresh: channel - cdc"] == "+0.025 ± 0.015"
    assert table.loc[("default", "cdc"), "fresh: mean channel"] == "0.880 ± 0.030"
    assert table.loc[("default", "oracle"), "fresh: worst"] == "0.850 ± 0.050"
    # Without cdc, or without fresh figures, those columns are left out.
    no_cdc = tables.summarize(records[records["method"] == "oracle"])
    assert "channel - cdc" not in no_cdc and "fresh: mean channel" in no_cdc
    held_out = tables.summarize(records.drop(columns=["fresh_mean_channel_auc"]))
    assert "fresh: mean channel" not in held_out and "channel - cdc" in held_out


def test_quick_run_scores_on_a_fresh_simulation_too(bench):
    argv = ["--quick", "--quiet", "--methods", "per-channel-hgb", "hgb"]
    records = bench.main([*argv, "--n-lumisections", "150", "--fresh-ls", "120"])
    fresh = records.filter(like="fresh_")
    names = ["global_auc", "mean_channel_auc", "worst_channel_auc", "bad_only_channel_auc"]
    assert set(fresh.columns) == {f"fresh_{name}" for name in names}
    assert fresh["fresh_global_auc"].between(0, 1).all()
    by_method = records.set_index("method")
    assert 0 <= by_method.loc["per-channel-hgb", "fresh_mean_channel_auc"] <= 1
    assert np.isnan(by_method.loc["hgb", "fresh_mean_channel_auc"])


def test_the_distilled_method_distils_cdcs_own_network(bench, monkeypatch):
    split = _feature_split(n_train=240, n_test=60)
    fitted = _spy_on_fits(bench, monkeypatch)
    fitter = bench.make_fitters(2, 2, {"max_epochs": 2}, {"blend": 0.3})["cdc-distilled"]
    p_good, scores = fitter(split, 4)
    assert p_good.shape == (60,) and scores.shape == (60, 4)
    fitter = bench.make_fitters(2, 2, {"max_epochs": 2})["cdc"]
    fitter(split, 4)
    (distilled, _), (cdc, _) = fitted
    assert distilled.blend == 0.3 and distilled.estimator.random_state == 4
    # Its per-channel boosting is the distilled model's default, seeded.
    default = DistilledChannelClassifier(ChannelDecompositionClassifier(max_epochs=1))
    default.fit(split["X_train"], split["y_train"])
    expected = default.distilled_.estimator.get_params() | {"random_state": 4}
    assert distilled.estimator.get_params() == expected
    # Its parts' parameters by name (scikit-learn's default boosting, to compare with).
    old = bench.make_cdc_distilled(4, {"estimator__early_stopping": "auto", "blend": 0.2})
    assert old.estimator.early_stopping == "auto" and old.blend == 0.2
    # The same network as cdc's: its parameters and seed (its channels are the distilled model's).
    assert distilled.decomposer.get_params() | {"channels": "prefix"} == cdc.get_params()
    np.testing.assert_allclose(
        distilled.decomposer_.predict_channel_scores(split["X_test"].to_numpy()).to_numpy(),
        cdc.predict_channel_scores(split["X_test"]).to_numpy(),
        rtol=0,
        atol=1e-12,
    )


def test_the_ensemble_distilled_method_distils_cdc_ensembles_networks(bench, monkeypatch):
    split, runs = _split_with_runs()
    fitted = _spy_on_fits(bench, monkeypatch)
    params = {"max_epochs": 2, "n_estimators": 2}
    fitters = bench.make_fitters(2, 2, params, {"blend": 0.3})
    p_good, scores = fitters["cdc-ensemble-distilled"](split, 4)
    assert p_good.shape == (60,) and scores.shape == (60, 4)
    fitters["cdc-ensemble"](split, 4)
    (distilled, distilled_params), (ensemble, ensemble_params) = fitted
    assert distilled.blend == 0.3 and len(distilled.decomposer_.nets_) == 2
    np.testing.assert_array_equal(distilled_params["groups"], runs)
    np.testing.assert_array_equal(ensemble_params["groups"], runs)
    # The same networks as cdc-ensemble's: the same parameters, seed and bootstrap of the runs.
    assert distilled.decomposer.get_params() | {"channels": "prefix"} == ensemble.get_params()
    np.testing.assert_allclose(
        distilled.decomposer_.predict_channel_scores(split["X_test"].to_numpy()).to_numpy(),
        ensemble.predict_channel_scores(split["X_test"]).to_numpy(),
        rtol=0,
        atol=1e-12,
    )
    assert "cdc-ensemble-distilled" not in bench.DEFAULT_METHODS


def test_paired_table_gives_the_mean_and_range_against_each_reference(tables, capsys):
    methods = ["cdc", "cdc-distilled", "oracle", "hgb"]
    held_out = {0: [0.90, 0.92, 0.95, np.nan], 1: [0.80, 0.86, 0.83, np.nan]}
    fresh = {0: [0.91, 0.95, 0.96, np.nan], 1: [0.85, 0.86, 0.90, np.nan]}
    records = pd.DataFrame(
        [
            {"difficulty": "default", "seed": seed, "method": method, "mean_channel_auc": auc,
             "fresh_mean_channel_auc": fresh[seed][i], "global_auc": 0.9, "fit_s": 1.0}
            for seed, aucs in held_out.items()
            for i, (method, auc) in enumerate(zip(methods, aucs))
        ]
    )  # fmt: skip
    table = tables.paired(records)
    assert list(table.columns) == ["- cdc", "- oracle", "fresh: - cdc", "fresh: - oracle"]
    assert list(table.index.get_level_values("method")) == ["cdc", "cdc-distilled", "oracle"]
    row = table.loc[("default", "cdc-distilled")]
    assert row["- cdc"] == "+0.040 (+0.020 to +0.060)"
    assert row["- oracle"] == "+0.000 (-0.030 to +0.030)"
    assert row["fresh: - cdc"] == "+0.025 (+0.010 to +0.040)"
    assert row["fresh: - oracle"] == "-0.025 (-0.040 to -0.010)"
    assert table.loc[("default", "cdc"), "- cdc"] == "-"
    # Without a reference (or without another method with channel scores): no table.
    assert tables.paired(records[records["method"].isin(["cdc-distilled", "hgb"])]) is None
    assert tables.paired(records[records["method"].isin(["cdc", "hgb"])]) is None
    held_out_only = tables.paired(records.drop(columns="fresh_mean_channel_auc"))
    assert list(held_out_only.columns) == ["- cdc", "- oracle"]
    names = ["worst_channel_auc", "bad_only_channel_auc", "fresh_worst_channel_auc"]
    figures = dict.fromkeys(names, 0.9)
    tables.print_tables(records.assign(**figures))
    assert "Paired over seeds" in capsys.readouterr().out
