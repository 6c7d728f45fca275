"""The histogram benchmark's scoring, summary and options, and a small run of it (its features,
splitter, baselines and metrics are tested with the package)."""

import numpy as np
import pandas as pd
import pytest
from benchmark_scripts import load_benchmark
from threadpoolctl import threadpool_limits

SUBSYSTEMS = ["DT", "CSC", "ECAL", "HCAL"]


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_histograms")


def _split(n=300, seed=0):
    # One faulty subsystem per bad LS (about a third of them), the test half of the rows.
    rng = np.random.default_rng(seed)
    truth = np.ones((n, len(SUBSYSTEMS)), dtype=int)
    bad = rng.random(n) < 0.35
    truth[bad, rng.integers(0, len(SUBSYSTEMS), bad.sum())] = 0
    truth = pd.DataFrame(truth, columns=SUBSYSTEMS)
    y = truth.all(axis=1).astype(int).to_numpy()
    return {"truth": truth, "y": y, "test": np.arange(n // 2, n)}, rng


def test_scores_each_subsystem_against_its_truth(bench):
    split, rng = _split()
    truth = split["truth"].iloc[split["test"]].to_numpy()
    perfect = pd.DataFrame(truth + 0.01 * rng.random(truth.shape), columns=SUBSYSTEMS)
    p_good = perfect.min(axis=1)
    assert bench.score(split, perfect, p_good, match=False) == {
        "subsystem_auc": 1.0,
        "worst_subsystem_auc": 1.0,
        "bad_only_auc": 1.0,
        "global_auc": 1.0,
    }
    # Named columns are taken by name, in any order.
    reordered = perfect[["HCAL", "DT", "ECAL", "CSC"]]
    assert bench.score(split, reordered, p_good, match=False)["subsystem_auc"] == 1.0
    # Unnamed columns in the wrong order score badly unless matched (the random groups).
    shuffled = pd.DataFrame(perfect.to_numpy()[:, [2, 0, 3, 1]], columns=list("abcd"))
    assert bench.score(split, shuffled, p_good, match=True)["subsystem_auc"] == 1.0
    # A global score, the same in every subsystem, cannot tell the subsystems of a bad LS apart.
    blind = pd.DataFrame(np.repeat(p_good.to_numpy()[:, None], 4, axis=1), columns=SUBSYSTEMS)
    result = bench.score(split, blind, p_good, match=False)
    assert result["global_auc"] == 1.0
    assert result["bad_only_auc"] == pytest.approx(0.5, abs=0.15)
    assert result["subsystem_auc"] > result["bad_only_auc"] + 0.1


def test_summary_gives_each_method_its_gap_to_the_oracle(bench):
    records = pd.DataFrame(
        {
            "seed": [0, 0, 1, 1],
            "method": ["cdc", "oracle", "cdc", "oracle"],
            "subsystem_auc": [0.90, 1.00, 0.94, 0.98],
            "worst_subsystem_auc": [0.8, 1.0, 0.9, 0.95],
            "bad_only_auc": [0.85, 1.0, 0.9, 0.97],
            "global_auc": [0.95, 0.99, 0.93, 0.97],
            "fit_s": [4.0, 1.0, 6.0, 1.0],
        }
    )
    table = bench.summarize(records)
    assert table.loc["cdc", "subsystem_auc"] == "0.920 ± 0.020"
    assert table.loc["cdc", "subsystem_auc - oracle"] == "-0.070 ± 0.030"
    assert table.loc["oracle", "subsystem_auc - oracle"] == "+0.000 ± 0.000"
    assert table.loc["cdc", "fit_s"] == "5.0"
    alone = bench.summarize(records[records["method"] == "cdc"])
    assert "subsystem_auc - oracle" not in alone.columns


def test_quick_sets_only_the_sizes_not_given(bench):
    full = bench.parse_args([])
    assert (full.n_lumisections, full.max_epochs) == (1500, 30)
    quick = bench.parse_args(["--quick"])
    assert (quick.n_lumisections, quick.max_epochs) == (600, 15)
    mixed = bench.parse_args(["--quick", "--n-lumisections", "150"])
    assert (mixed.n_lumisections, mixed.max_epochs) == (150, 15)


def test_small_run_of_every_kind_of_method(bench, capsys):
    # Tiny: the point is that each path (the classifier on the subsystems and on random groups,
    # the autoencoders, trees on the truth) runs end to end and is scored, not its numbers.
    # Seed 1 at 200 LS gives five runs, enough for RunSplit to keep each run on one side.
    # One thread: on data this small, thread start-up and contention on a busy machine (the
    # boosted trees' OpenMP, torch's intra-op threads) cost more than they save.
    methods = ["cdc", "cdc-random", "ae", "oracle"]
    with threadpool_limits(1):
        records = bench.main(
            ["--seeds", "1", "--n-lumisections", "200", "--events", "20", "--max-epochs", "2"]
            + ["--methods", *methods]
        )
    assert list(records["method"]) == methods
    for column in ["subsystem_auc", "worst_subsystem_auc", "bad_only_auc", "global_auc"]:
        assert records[column].between(0, 1).all(), column
    assert (records["worst_subsystem_auc"] <= records["subsystem_auc"]).all()
    printed = capsys.readouterr().out
    assert "1 seeds, 200 LS x ~20 events" in printed
    assert "subsystem_auc - oracle" in printed
