"""The learning curve's tables: blame by spread, and the reliability's validation figures."""

import numpy as np
import pandas as pd
import pytest
from benchmark_scripts import benchmarks_on_path, load_benchmark


@pytest.fixture(scope="module")
def learning_curve():
    with benchmarks_on_path():  # it imports bench_decomposition late, as a script would
        yield load_benchmark("_learning_curve")


def test_wrong_blame_takes_the_lowest_score_among_bad_ls_with_a_visible_fault(learning_curve):
    scores = pd.DataFrame({"a": [0.1, 0.9, 0.2, 0.5], "b": [0.8, 0.3, 0.1, 0.4]})
    spread = pd.DataFrame({"a": [0.01, 0.02, 0.03, 0.04], "b": [0.05, 0.06, 0.07, 0.08]})
    truth = pd.DataFrame({"a": [0, 1, 0, 1], "b": [1, 1, 1, 1]})  # row 1: nothing visible
    y = np.array([0, 0, 0, 1])  # row 3 is good
    blame = learning_curve._wrong_blame(scores, spread, truth, y)
    # Row 0 blames a (right, spread 0.01); row 2 blames b (wrong, spread 0.07).
    assert blame["wrong"].tolist() == [False, True]
    np.testing.assert_array_equal(blame["spread"], [0.01, 0.07])
    np.testing.assert_array_equal(blame["score"], [0.1, 0.1])
    assert "agreement" not in blame
    agreement = pd.Series([1.0, 0.5, 0.25, 1.0])
    blame = learning_curve._wrong_blame(scores, spread, truth, y, agreement)
    np.testing.assert_array_equal(blame["agreement"], [1.0, 0.25])


def test_validation_figures(learning_curve):
    channels = pd.DataFrame(
        {
            "true_auc": [0.5, 0.6, 0.8, 0.97, 0.99, np.nan],
            "reliability": [0.0, 0.7, 0.5, 0.8, 0.9, 0.1],
            "reliable": [False, True, False, True, True, False],
            "fit_warned": [True, True, False, False, False, True],
        }
    )
    figures = learning_curve.validate_reliability(channels)
    assert figures["cells (cell x channel)"] == 5
    assert figures["true AUC < 0.7: marked not reliable"] == 0.5
    assert figures["true AUC > 0.95: marked not reliable"] == 0.0
    # Ranks 1-5 against 1, 3, 2, 4, 5: 1 - 6 * 2 / (5 * 24) = 0.9.
    assert figures["Spearman(reliability, true AUC)"] == pytest.approx(0.9)
    fresh = learning_curve.validate_reliability(
        channels.assign(true_auc_fresh=[0.6, 0.99, 0.9, 0.5, 0.99, 0.9]), truth="true_auc_fresh"
    )
    assert fresh["cells (cell x channel)"] == 6
    assert fresh["true AUC < 0.7: marked not reliable"] == 0.5  # rows 0 (marked) and 3 (not)
    assert fresh["true AUC > 0.95: marked not reliable"] == 0.0  # rows 1 and 4
    blame = pd.DataFrame(
        {"difficulty": "default", "spread": np.arange(8.0), "wrong": [0, 0, 0, 1, 0, 1, 1, 1]}
    ).astype({"wrong": bool})
    table = learning_curve.summarize_blame(blame)
    assert table["wrong_blame"].tolist() == [0.0, 0.5, 0.5, 1.0]
    assert table["bad_ls"].tolist() == [2, 2, 2, 2]
    by_score = learning_curve.summarize_blame(blame.assign(score=-blame["spread"]), by="score")
    assert by_score["wrong_blame"].tolist() == [1.0, 0.5, 0.5, 0.0]
    assert by_score.index.names == ["difficulty", "score_quartile"]


def test_wrong_blame_by_agreement(learning_curve):
    blame = pd.DataFrame(
        {
            "difficulty": ["default"] * 6 + ["hard"] * 2,
            "agreement": [1.0, 1.0, 1.0, 0.6, 0.6, 0.2, 1.0, 0.2],
            "wrong": [False, False, True, False, True, True, False, True],
        }
    )
    table = learning_curve.summarize_agreement(blame)
    assert table.index.tolist() == [
        ("default", 1.0), ("default", 0.6), ("default", 0.2), ("hard", 1.0), ("hard", 0.2)
    ]  # fmt: skip
    assert table["bad_ls"].tolist() == [3, 2, 1, 1, 1]
    np.testing.assert_allclose(table["wrong_blame"], [1 / 3, 0.5, 1.0, 0.0, 1.0])


def test_records_of_several_runs_are_pooled_once_per_cell(learning_curve, tmp_path, capsys):
    def cell(seed, method, auc):
        return {"n_ls": 1000, "events": 200, "difficulty": "default", "seed": seed,
                "method": method, "fit_s": 1.0, "global_auc": auc, "mean_channel_auc": auc,
                "worst_channel_auc": auc, "bad_only_channel_auc": auc}  # fmt: skip

    first = pd.DataFrame([cell(0, "cdc", 0.8), cell(0, "cdc-ensemble", 0.5)])
    second = pd.DataFrame([cell(0, "cdc-ensemble", 0.9), cell(1, "cdc", 0.7)])
    first.to_csv(tmp_path / "a.csv", index=False)
    second.to_csv(tmp_path / "b.csv", index=False)
    keys = {"n_ls": 1000, "events": 200, "difficulty": "default"}
    blame = pd.DataFrame({"score": [0.1, 0.2], "spread": 0.0, "wrong": [True, False]})
    blame.assign(**keys, seed=0, agreement=0.6).to_csv(tmp_path / "a_blame.csv", index=False)
    blame.assign(**keys, seed=0, agreement=1.0).to_csv(tmp_path / "b_blame.csv", index=False)
    records, channels, pooled = learning_curve.main(
        ["--summarize", str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]
    )
    # seed 0's ensemble from the file given last; the blame of seed 0 once, from that file
    assert sorted(zip(records["seed"], records["method"], records["mean_channel_auc"])) == [
        (0, "cdc", 0.8), (0, "cdc-ensemble", 0.9), (1, "cdc", 0.7)
    ]  # fmt: skip
    assert channels is None and pooled["agreement"].tolist() == [1.0, 1.0]
    assert "pooled records of 2 run(s)" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no records file"):
        learning_curve.main(["--summarize", str(tmp_path / "missing.csv")])


def test_quick_grid_end_to_end_and_its_records_summarised(learning_curve, tmp_path, capsys):
    path = tmp_path / "grid.csv"
    records, channels, blame = learning_curve.main(
        ["--quick", "--quiet", "--methods", "cdc", "cdc-ensemble", "--records", str(path),
         "--truth-ls", "300"]
    )  # fmt: skip
    assert sorted(set(records["method"])) == ["cdc", "cdc-ensemble"]
    assert len(records) == 4 and records["n_ls"].tolist().count(300) == 2  # 2 cells x 2 methods
    assert len(channels) == 8 and channels["reliability"].between(0, 1).all()  # 2 cells x 4
    assert set(blame["agreement"]) <= {0.0, 0.5, 1.0} and blame["wrong"].dtype == bool
    out = capsys.readouterr().out
    assert "by the networks' agreement" in out
    # The truth on a fresh simulation too: another number than on the cell's held-out runs.
    assert channels["true_auc_fresh"].between(0, 1).all()
    assert not np.allclose(channels["true_auc_fresh"], channels["true_auc"], equal_nan=True)
    assert "on a fresh simulation of the same detector" in out
    assert "Spearman(true AUC on the held-out runs, on the fresh simulation)" in out
    # The files it wrote give the same tables back.
    again = learning_curve.main(["--summarize", str(path)])
    pd.testing.assert_frame_equal(again[0], records, check_exact=False, rtol=1e-9)
    assert len(again[1]) == 8 and len(again[2]) == len(blame)


def test_the_distilled_model_is_paired_with_boosting_and_the_oracle(learning_curve):
    cell = {"difficulty": "default", "n_ls": 1000, "events": 200}
    rows = [
        cell | {"seed": seed, "method": method, "mean_channel_auc": auc, "global_auc": auc,
                "worst_channel_auc": auc, "bad_only_channel_auc": auc}
        for seed, values in enumerate([(0.90, 0.85, 0.95, 0.96), (0.92, 0.89, 0.93, 0.95)])
        for method, auc in zip(["cdc-distilled", "per-channel-hgb", "oracle", "hgb"], values)
    ]  # fmt: skip
    _, paired = learning_curve.summarize_methods(pd.DataFrame(rows))
    row = paired.loc[("default", 1000, 200)]
    assert row["cdc-distilled - per-channel-hgb"].startswith("+0.040")
    assert row["cdc-distilled - oracle"].startswith("-0.030")
    assert row["global cdc-distilled - hgb"] == "-0.045"
    assert "cdc-distilled" in learning_curve.METHODS


def test_low_channels_and_whether_they_were_marked(learning_curve):
    cell = {"difficulty": "default", "n_ls": 1000, "events": 200}
    rows = [  # (seed, channel, true AUC, reliable)
        (0, "a", 0.40, False), (1, "a", 0.70, True),   # a: mean 0.55; seed 0 below 0.5, unmarked
        (0, "b", 0.45, True), (1, "b", 0.90, True),    # b: mean 0.675; seed 0 below 0.5, marked
        (0, "c", 0.55, False), (1, "c", 0.58, False),  # c: mean 0.565, never marked reliable
        (0, "d", np.nan, True), (1, "d", 0.99, True),  # d: no truth on seed 0
    ]  # fmt: skip
    channels = pd.DataFrame(
        [cell | {"seed": s, "channel": c, "true_auc": t, "reliable": r} for s, c, t, r in rows]
    )
    other = channels.assign(n_ls=2000, true_auc=0.9)
    table = learning_curve.unmarked_failures(pd.concat([channels, other]))
    assert table.loc[("default", 1000, 200)].tolist() == [2, 1, 2, 1]
    assert table.loc[("default", 2000, 200)].tolist() == [0, 0, 0, 0]


def test_the_distilled_models_reliability_is_validated(learning_curve, capsys):
    records, channels, _ = learning_curve.main(
        ["--quick", "--quiet", "--sizes", "300", "--seeds", "1", "--methods", "cdc-distilled",
         "--reliability-of", "cdc-distilled"]
    )  # fmt: skip
    assert records["method"].tolist() == ["cdc-distilled"]
    assert len(channels) == 4 and set(channels["method"]) == {"cdc-distilled"}
    assert channels["reliability"].between(0, 1).all()
    out = capsys.readouterr().out
    assert "channel_reliability of cdc-distilled" in out and "Low channels on" in out
    # The model validated is the benchmark's cdc-distilled: the same figures as its fitter's.
    bench = learning_curve._bench()
    split = bench.make_split("default", 1, 300, 100)
    with pytest.warns(UserWarning, match="likely unreliable"):  # 102 bad LS for 4 channels
        p_good, scores = bench.fit_cdc_distilled(split, 1, max_epochs=5)
    figures = bench.score_method(split, p_good, scores)
    first = records.iloc[0]
    for name, value in figures.items():
        assert first[name] == pytest.approx(value, abs=1e-12)
    with pytest.raises(SystemExit):
        learning_curve.main(["--quick", "--methods", "cdc", "--reliability-of", "cdc-distilled"])
    assert "add it to --methods" in capsys.readouterr().err
