"""The reliability-signals script: its signals and report on a synthetic cell (no fitting)."""

import numpy as np
import pandas as pd
import pytest
from benchmark_scripts import load_benchmark


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
        rows += [row | {"cell": seed} for row in signals_module.signals(_cell(seed))]
    signals_module.report(pd.DataFrame(rows))
    out = capsys.readouterr().out
    assert "(cell, channel) pairs with a true AUC: 9" in out
    for signal in (*signals_module.SIGNALS, *signals_module.CEILINGS):
        assert f"  {signal}" in out
    assert "held-out runs" in out and "fresh simulation" in out
    held_out, fresh = out.split("against the true AUC on the")[1:]
    assert "true AUC < 0.7 marked not reliable 3 of 3" in held_out
    assert "true AUC > 0.95 marked not reliable 0 of 6" in held_out
    # On the fresh simulation "other" (0.95) is not above 0.95: 3 of 3 low, 0 of 3 high.
    assert "true AUC < 0.7 marked not reliable 3 of 3" in fresh
    assert "true AUC > 0.95 marked not reliable 0 of 3" in fresh


def test_variants_give_the_bands_of_each_blamed_share_and_threshold(signals_module):
    cells = [_cell(seed) for seed in range(3)]
    table = signals_module.variants(cells, [0.0, 0.5], [0.3, 0.95], truth="true_auc")
    assert list(zip(table["min_blamed_share"], table["threshold"])) == [
        (0.0, 0.3), (0.0, 0.95), (0.5, 0.3), (0.5, 0.95),
    ]  # fmt: skip
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
    assert "(cell, channel) pairs with a true AUC: 6" in out and "fitting" not in out
    assert out.count("The reliability's variants against the true AUC") == 2
    with pytest.raises(SystemExit):
        signals_module.main(["--saved", "--seeds", "3", "--cells-dir", str(tmp_path)])
    assert "no saved cell of seeds [3]" in capsys.readouterr().err


def test_the_blamed_share_variant_scales_a_passenger_down(signals_module):
    # "passenger" is low on the same bad rows as "seeing", a little above it: never blamed.
    cell = _cell()
    repeats = cell["repeats"].copy()
    repeats[:, :, 1] = repeats[:, :, 0] + 0.01
    good = cell["y"] == 1
    assert signals_module._reliability(repeats, 1, good) > 0.8  # the package's statistic
    assert signals_module._reliability(repeats, 1, good, min_blamed_share=0.5) == 0.0
    seeing = signals_module._reliability(repeats, 0, good)
    assert signals_module._reliability(repeats, 0, good, min_blamed_share=0.5) == seeing > 0.8
