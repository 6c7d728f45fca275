"""The reliability-signals script: its signals and report on a synthetic cell (no fitting)."""

import numpy as np
import pandas as pd
import pytest
from benchmark_scripts import load_benchmark
from scipy.stats import spearmanr


@pytest.fixture(scope="module")
def signals_module():
    return load_benchmark("reliability_signals")  # it imports bench_decomposition


def _cell(seed=0, n=600):
    """Two repeats of three channels: "seeing" and "other" are low on their own faults in both
    repeats, "blind" is noise drawn anew in each repeat."""
    rng = np.random.default_rng(seed)
    faulty = np.zeros((n, 3), dtype=bool)
    chosen = rng.choice(n, 240, replace=False)
    faulty[chosen[:120], 0] = faulty[chosen[120:], 1] = True
    y = np.where(faulty.any(axis=1), 0, 1)
    repeats = np.empty((2, n, 3))
    for r in range(2):
        for c in (0, 1):
            repeats[r, :, c] = np.where(faulty[:, c], 0.05, 0.9) + 0.02 * rng.random(n)
        repeats[r, :, 2] = rng.uniform(0.0, 1.0, n)
    return {
        "repeats": repeats,
        "y": y,
        "names": np.asarray(["seeing", "other", "blind"]),
        "true_auc": np.asarray([0.99, 0.98, 0.5]),
        "refit_true_auc": np.asarray([0.98, 0.99, 0.55]),
        "fresh_true_auc": np.asarray([0.97, 0.95, 0.6]),
        "truth_train": np.where(faulty, 0, 1),
        "runs": np.arange(n) // 50,  # twelve runs of 50 rows
    }


def test_signals_tell_a_seeing_channel_from_a_blind_one(signals_module):
    rows = {row["channel"]: row for row in signals_module.signals(_cell())}
    seeing, blind = rows["seeing"], rows["blind"]
    assert seeing["reliability"] > 0.8 and blind["reliability"] < 0.2
    assert seeing["blame_kappa"] > 0.7 and abs(blind["blame_kappa"]) < 0.3
    assert seeing["added_auc"] > 0.1 and blind["added_auc"] < 0.05
    assert seeing["rho_bad"] > abs(blind["rho_bad"])
    assert seeing["train_true_auc"] == pytest.approx(1.0)
    assert [rows[c]["refit_true_auc"] for c in ("seeing", "other", "blind")] == [0.98, 0.99, 0.55]
    assert [rows[c]["fresh_true_auc"] for c in ("seeing", "other", "blind")] == [0.97, 0.95, 0.6]


def test_report_prints_every_signal_and_the_bands(signals_module, capsys):
    rows = []
    for seed in range(3):
        cell = _cell(seed)
        if seed == 2:  # no fault of "blind" in the held-out runs: a fresh truth only
            cell["true_auc"] = np.asarray([0.99, 0.98, np.nan])
        rows += [row | {"cell": seed} for row in signals_module.signals(cell)]
    signals_module.report(pd.DataFrame(rows))
    out = capsys.readouterr().out
    assert "pairs with a true AUC: 8 on the held-out runs, 9 on the fresh simulation" in out
    for signal in (*signals_module.SIGNALS, *signals_module.CEILINGS):
        assert f"  {signal}" in out
    held_out, fresh = out.split("against the true AUC on the")[1:]
    table = pd.DataFrame(rows)
    for text, truth, pairs in ((held_out, "true_auc", 8), (fresh, "fresh_true_auc", 9)):
        known = table.dropna(subset=[truth])
        rho = spearmanr(known["reliability"], known[truth])[0]
        assert f"Spearman {rho:.3f} over {pairs} pairs; " in text
    assert "true AUC < 0.7 marked not reliable 2 of 2" in held_out
    assert "true AUC > 0.95 marked not reliable 0 of 6" in held_out
    # On the fresh simulation "other" (0.95) is not above 0.95, and every "blind" counts.
    assert "true AUC < 0.7 marked not reliable 3 of 3" in fresh
    assert "true AUC > 0.95 marked not reliable 0 of 3" in fresh
    assert "marked reliable:" not in out and "marked not reliable:" not in out  # no miss
    table.loc[table["channel"] == "blind", "reliability"] = 0.45  # above the threshold
    table.loc[table["channel"] == "seeing", "reliability"] = 0.1
    signals_module.report(table)
    fresh = capsys.readouterr().out.split("on the fresh simulation:")[1]
    assert fresh.count("poor, marked reliable: ") == 3
    assert "good, marked not reliable: 0 seeing (true AUC 0.970" in fresh
    assert "reliability 0.100)" in fresh


def test_variants_give_the_bands_of_each_blamed_share_and_threshold(signals_module):
    cells = [_cell(seed) for seed in range(3)]
    table = signals_module.variants(cells, [0.0, 0.5], [0.3, 0.95], truth="true_auc")
    assert list(zip(table["min_blamed_share"], table["threshold"])) == [
        (0.0, 0.3), (0.0, 0.95), (0.5, 0.3), (0.5, 0.95),
    ]  # fmt: skip
    assert (table["min_claim_runs"] == signals_module.MIN_CLAIM_RUNS).all()
    assert (table["pairs"] == 9).all()
    # "seeing" and "other" take the blame for all their claims: the factor changes nothing.
    assert table["spearman"].iloc[0] == table["spearman"].iloc[2] > 0.5
    at_03 = table[table["threshold"] == 0.3]
    assert (at_03["low_marked"] == "3 of 3").all() and (at_03["high_marked"] == "0 of 6").all()
    # No channel reaches 0.95 (the evidence factor n / (n + 20) stays below 1).
    assert (table[table["threshold"] == 0.95]["high_marked"] == "6 of 6").all()


def test_saved_cells_of_the_seeds_are_pooled_without_fitting(signals_module, tmp_path, capsys):
    for name, seed in (
        ("default_1000_200_0", 0),
        ("hard_4000_500_0", 1),
        ("default_1000_200_7", 2),
    ):
        np.savez(tmp_path / f"{name}.npz", **_cell(seed))
    table = signals_module.main(
        ["--saved", "--seeds", "0", "--cells-dir", str(tmp_path), "--blamed-shares", "0", "0.5"]
    )
    out = capsys.readouterr().out
    assert sorted(set(table["cell"])) == ["default_1000_200_0", "hard_4000_500_0"]
    assert "pairs with a true AUC: 6 on the held-out runs" in out and "fitting" not in out
    assert out.count("The reliability's variants against the true AUC") == 2
    assert "train_true_auc < threshold" not in out  # no --ceiling
    with pytest.raises(SystemExit):
        signals_module.main(["--saved", "--seeds", "3", "--cells-dir", str(tmp_path)])
    assert "no saved cell of seeds [3]" in capsys.readouterr().err
    more = tmp_path / "more"
    more.mkdir()
    np.savez(more / "hard_2000_500_0.npz", **_cell(3))
    table = signals_module.main(
        ["--saved", "--seeds", "0", "--cells-dir", str(tmp_path), str(more)]
    )
    assert sorted(set(table["cell"])) == [
        "default_1000_200_0",
        "hard_2000_500_0",
        "hard_4000_500_0",
    ]
    capsys.readouterr()
    np.savez(more / "hard_4000_500_0.npz", **_cell(1))  # the same cell in both folders
    with pytest.raises(SystemExit):
        signals_module.main(["--saved", "--seeds", "0", "--cells-dir", str(tmp_path), str(more)])
    assert (
        "cells saved in more than one --cells-dir: ['hard_4000_500_0']" in capsys.readouterr().err
    )
    with pytest.raises(SystemExit):
        signals_module.main(["--seeds", "0", "--cells-dir", str(tmp_path), str(more)])
    assert "several need --saved" in capsys.readouterr().err


def test_the_blamed_share_variant_scales_a_passenger_down(signals_module):
    # "passenger" is low on the same bad rows as "seeing", a little above it: never blamed.
    cell = _cell()
    repeats = cell["repeats"].copy()
    repeats[:, :, 1] = repeats[:, :, 0] + 0.01
    good, runs = cell["y"] == 1, cell["runs"]
    assert signals_module._reliability(repeats, 1, good, runs=runs) > 0.8  # the package's
    assert signals_module._reliability(repeats, 1, good, 0.5, runs=runs) == 0.0
    seeing = signals_module._reliability(repeats, 0, good, runs=runs)
    assert signals_module._reliability(repeats, 0, good, 0.5, runs=runs) == seeing > 0.8


def test_the_runs_factor_scales_by_the_runs_of_the_claims(signals_module):
    cell = _cell()
    repeats, good, runs = cell["repeats"], cell["y"] == 1, cell["runs"]
    values, _, claim_runs = signals_module._pair_values(repeats, 0, good, runs)
    for a, r in zip((0, 1), claim_runs):  # the pairs (0, 1) and (1, 0): claims of repeat a
        scores = repeats[a][:, 0]
        claimed = (scores < np.quantile(scores[good], 0.02)) & ~good
        assert r == len(np.unique(runs[claimed])) > 5
    base = signals_module._reliability(repeats, 0, good, min_claim_runs=0)
    assert base == pytest.approx(values.mean()) and base > 0.8
    scaled = signals_module._reliability(repeats, 0, good, runs=runs, min_claim_runs=2.0)
    assert scaled == pytest.approx(np.mean(values * claim_runs / (claim_runs + 2.0)))
    # Every claim in one run: the factor is 1 / (1 + min_claim_runs).
    one_run = np.zeros_like(runs)
    assert signals_module._reliability(
        repeats, 0, good, runs=one_run, min_claim_runs=1.0
    ) == pytest.approx(base / 2)
    # The default is the package's: its statistic on the same scores.
    k = signals_module.MIN_CLAIM_RUNS
    assert k > 0 and signals_module._reliability(repeats, 0, good, runs=runs) == pytest.approx(
        np.mean(values * claim_runs / (claim_runs + k))
    )
    with pytest.raises(ValueError, match="min_claim_runs needs the run of each row"):
        signals_module._reliability(repeats, 0, good)


def test_variants_of_min_claim_runs_and_their_error_without_runs(signals_module):
    cells = [_cell(seed) for seed in range(3)]
    table = signals_module.variants(cells, [0.0], [0.5], truth="true_auc", min_claim_runs=[0, 100])
    assert list(table["min_claim_runs"]) == [0, 100]
    # A constant of 100 runs shrinks every value (about 12 runs of claims) below 0.5.
    assert list(table["low_marked"]) == ["3 of 3", "3 of 3"]
    assert list(table["high_marked"]) == ["0 of 6", "6 of 6"]
    assert list(table["youden"]) == [1.0, 0.0]
    del cells[1]["runs"]
    with pytest.raises(ValueError, match="min_claim_runs needs the runs of each cell"):
        signals_module.variants(cells, [0.0], [0.5], truth="true_auc")
    without = signals_module.variants(cells, [0.0], [0.5], truth="true_auc", min_claim_runs=[0])
    assert len(without) == 1


def test_ceiling_gives_the_bands_of_the_training_truth_per_size(signals_module):
    table = pd.DataFrame({
        "cell": ["default_1000_200_0"] * 3 + ["hard_4000_500_1"] * 3,
        "train_true_auc": [0.95, 0.6, 0.9, 0.99, 0.8, np.nan],
        "fresh_true_auc": [0.65, 0.5, 0.97, 0.98, 0.96, 0.5],
    })  # fmt: skip
    bands = signals_module.ceiling(table, [0.7, 0.92]).set_index("threshold")
    assert bands.loc[0.7, "1,000: low"] == "1 of 2" and bands.loc[0.92, "1,000: low"] == "1 of 2"
    assert bands.loc[0.7, "1,000: high"] == "0 of 1" and bands.loc[0.92, "1,000: high"] == "1 of 1"
    assert bands.loc[0.92, ">= 4,000: high"] == "1 of 2"  # the NaN pair is left out
    assert bands.loc[0.92, "2,000: low"] == "0 of 0"
    assert bands.loc[0.92, "all: low"] == "1 of 2" and bands.loc[0.92, "all: high"] == "2 of 3"


def test_the_command_line_prints_min_claim_runs_variants_and_the_ceiling(
    signals_module, tmp_path, capsys
):
    for seed in (0, 1):
        np.savez(tmp_path / f"default_1000_200_{seed}.npz", **_cell(seed))
    signals_module.main([
        "--saved", "--seeds", "0", "1", "--cells-dir", str(tmp_path), "--min-claim-runs", "0", "1",
        "--ceiling", "0.7", "0.9",
    ])  # fmt: skip
    out = capsys.readouterr().out
    variants = out.split("The reliability's variants against the true AUC on the fresh")[1]
    assert "min_claim_runs" in variants and "1.000" in variants
    ceiling = out.split("train_true_auc < threshold")[1]
    assert "1,000: low" in ceiling and "0.900" in ceiling


def test_truth_agreement_ranks_the_fresh_truth_against_the_held_out_one(signals_module):
    table = pd.DataFrame({
        "cell": ["default_1000_200_0"] * 3 + ["hard_4000_500_1"] * 4,
        "true_auc": [0.6, 0.9, 0.97, 0.99, 0.8, 0.7, np.nan],
        "fresh_true_auc": [0.7, 0.95, 0.8, 0.98, 0.85, 0.6, 0.5],
    })  # fmt: skip
    agreement = signals_module.truth_agreement(table)
    assert agreement["1,000 (3 pairs)"] == pytest.approx(0.5)  # one pair of three swapped
    assert agreement[">= 4,000 (3 pairs)"] == pytest.approx(1.0)  # the NaN pair is left out
    assert np.isnan(agreement["2,000 (0 pairs)"])
    expected = spearmanr(table["fresh_true_auc"][:6], table["true_auc"][:6])[0]
    assert agreement["all (6 pairs)"] == pytest.approx(expected)
    # The fresh truth as the predictor, the held-out truth as the truth.
    bands = signals_module.ceiling(table, [0.9], truth="true_auc", predictor="fresh_true_auc")
    assert bands.loc[0, "1,000: low"] == "1 of 1" and bands.loc[0, "1,000: high"] == "1 of 1"
    assert bands.loc[0, "all: low"] == "1 of 1" and bands.loc[0, "all: high"] == "1 of 2"


def test_the_command_line_prints_the_truth_agreement(signals_module, tmp_path, capsys):
    for seed in (0, 1):
        np.savez(tmp_path / f"default_1000_200_{seed}.npz", **_cell(seed))
    signals_module.main([
        "--saved", "--seeds", "0", "1", "--cells-dir", str(tmp_path),
        "--truth-agreement", "0.7", "0.9",
    ])  # fmt: skip
    out = capsys.readouterr().out
    agreement = out.split("Spearman correlation by size")[1]
    assert "1,000 (6 pairs)" in agreement and "all (6 pairs)" in agreement
    assert "fresh_true_auc < threshold" in agreement and "0.900" in agreement
