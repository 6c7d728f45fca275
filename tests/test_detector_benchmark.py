"""The decomposition benchmark's scoring and a smoke run of its fast methods."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_decomposition.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_decomposition", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _split(truth):
    truth = pd.DataFrame(truth, columns=["muons", "photons", "pf", "calo_jets"])
    return {"y_test": truth.all(axis=1).astype(int).to_numpy(), "truth_test": truth}


def test_scores_against_the_channel_truth(bench):
    rng = np.random.default_rng(0)
    truth = (rng.random((200, 4)) > 0.2).astype(int)
    split = _split(truth)
    perfect = truth + 0.01 * rng.random((200, 4))
    result = bench.score_method(split, perfect.min(axis=1), perfect)
    assert result == {"global_auc": 1.0, "mean_channel_auc": 1.0, "worst_channel_auc": 1.0}
    # Channels in the wrong order score badly unless matched (as for the random groups).
    shuffled = perfect[:, [2, 0, 3, 1]]
    assert bench.score_method(split, perfect.min(axis=1), shuffled)["mean_channel_auc"] < 0.8
    matched = bench.score_method(split, perfect.min(axis=1), shuffled, match_channels=True)
    assert matched["mean_channel_auc"] == 1.0
    noise = bench.score_method(split, perfect.min(axis=1), rng.random((200, 4)))
    assert 0.35 < noise["mean_channel_auc"] < 0.65
    assert noise["worst_channel_auc"] <= noise["mean_channel_auc"]
    assert np.isnan(bench.score_method(split, perfect[:, 0], None)["mean_channel_auc"])


@pytest.mark.slow
def test_quick_run_of_the_fast_methods(bench):
    records = bench.main(
        ["--quick", "--quiet", "--methods", "iforest", "hgb", "--n-lumisections", "150"]
    )
    assert set(records["method"]) == {"iforest", "hgb"}
    assert records["global_auc"].between(0, 1).all()
    table = bench.summarize(records)
    assert list(table.columns)[:3] == ["global_auc", "mean_channel_auc", "worst_channel_auc"]
