"""Benchmark of the data-quality tools: speed against plain baselines, triage on held-out data.

Run ``python benchmarks/bench_dqm.py`` (``--quick`` for a smoke run). Every ratio compares two
things measured in this same process, so the numbers stay meaningful on a loaded machine.

Speed (time of the baseline / time of channeldecomp, higher = channeldecomp faster):

- reading the 2010 golden JSON (74,596 LS) vs ``json.load`` + a Python loop over the ranges;
- writing it back with compact ranges vs a Python loop over sorted pairs;
- labelling keys from it vs Python set membership;
- ``channel_subsystem_auc`` (paper-sized matrix: 4 channels x 14 subsystems) vs a loop of
  ``sklearn.metrics.roc_auc_score`` calls;
- ``triage_thresholds`` vs a brute-force scan that recomputes the rates at every candidate.

Quality: the triage of arXiv:1709.08607 at pollution <= 0.4 % and loss <= 0.6 %, thresholds
chosen on a calibration split and checked on a large held-out split of the tabular generator,
with the default 95 % upper bounds against the plain empirical rule (the baseline).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
from sklearn.metrics import roc_auc_score

from channeldecomp.certification import golden_json_labels, read_golden_json, write_golden_json
from channeldecomp.datasets import make_channel_anomalies
from channeldecomp.metrics import channel_subsystem_auc, evaluate_triage, triage_thresholds

CERT = (
    Path(__file__).resolve().parents[1]
    / "tests"
    / "data"
    / "cms2010"
    / "Cert_136033-149442_7TeV_Apr21ReReco_Collisions10_JSON_v2.txt"
)


def best_time(function, repeats):
    """Best wall time of ``repeats`` calls (the least disturbed by other load)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def naive_read(path):
    golden = json.loads(Path(path).read_text())
    return sorted(
        (int(run), lumi)
        for run, ranges in golden.items()
        for first, last in ranges
        for lumi in range(first, last + 1)
    )


def naive_write(pairs, path):
    golden = {}
    for run, lumi in sorted(set(pairs)):
        ranges = golden.setdefault(str(run), [])
        if ranges and ranges[-1][1] == lumi - 1:
            ranges[-1][1] = lumi
        else:
            ranges.append([lumi, lumi])
    Path(path).write_text(json.dumps(golden))


def naive_auc(scores, labels):
    return pd.DataFrame(
        {s: [roc_auc_score(labels[s], scores[c]) for c in scores] for s in labels},
        index=scores.columns,
    )


def naive_triage(y, score, max_pollution, max_loss):
    values = np.unique(score)
    accept_at = np.inf
    for v in values:
        accepted = score >= v
        if (1 - y[accepted]).mean() <= max_pollution:
            accept_at = v
            break
    reject_at = -np.inf
    for v in values[values < accept_at]:
        rejected = score <= v
        if y[rejected].mean() <= max_loss:
            reject_at = v
    return reject_at, accept_at


def speed_table(quick):
    repeats = 2 if quick else 5
    rows = []
    golden = read_golden_json(CERT)
    pairs = list(golden.itertuples(index=False, name=None))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "golden.json"
        base = best_time(lambda: naive_read(CERT), repeats)
        ours = best_time(lambda: read_golden_json(CERT), repeats)
        rows.append(("read golden JSON (74,596 LS)", base, ours))
        base = best_time(lambda: naive_write(pairs, out), repeats)
        ours = best_time(lambda: write_golden_json(golden, out), repeats)
        rows.append(("write golden JSON", base, ours))

    rng = np.random.default_rng(0)
    n_keys = 20_000 if quick else 200_000
    keys = np.column_stack(
        [rng.choice(golden["run"].unique(), n_keys), rng.integers(1, 1500, n_keys)]
    )
    key_list = [tuple(k) for k in keys.tolist()]

    def naive_labels():
        certified = set(pairs)
        return [int(k in certified) for k in key_list]

    base = best_time(naive_labels, repeats)
    ours = best_time(lambda: golden_json_labels(keys, golden), repeats)
    assert golden_json_labels(keys, golden).tolist() == naive_labels()
    rows.append((f"label {n_keys:,} keys", base, ours))

    n = 3000 if quick else 15_800
    scores = pd.DataFrame(rng.random((n, 4)), columns=["muons", "photons", "pf", "calo"])
    labels = pd.DataFrame(
        (rng.random((n, 14)) > 0.1).astype(int), columns=[f"s{i}" for i in range(14)]
    )
    base = best_time(lambda: naive_auc(scores, labels), repeats)
    ours = best_time(lambda: channel_subsystem_auc(scores, labels), repeats)
    rows.append((f"channel x subsystem AUC ({n:,} LS)", base, ours))

    n = 2000 if quick else 8000
    y = (rng.random(n) < 0.75).astype(int)
    score = np.clip(rng.normal(0.3 + 0.5 * y, 0.15), 0, 1)
    base = best_time(lambda: naive_triage(y, score, 0.004, 0.006), 1)
    ours = best_time(
        lambda: triage_thresholds(y, score, max_pollution=0.004, max_loss=0.006, confidence=None),
        repeats,
    )
    assert naive_triage(y, score, 0.004, 0.006) == triage_thresholds(
        y, score, max_pollution=0.004, max_loss=0.006, confidence=None
    )
    rows.append((f"triage thresholds ({n:,} LS)", base, ours))
    return rows


def quality_table(quick):
    n_samples = 20_000 if quick else 60_000
    n_draws = 3 if quick else 20
    data = make_channel_anomalies(n_samples=n_samples, random_state=11)
    X, y = data.data.to_numpy(), data.target.to_numpy()
    n_train = 8000
    model = QuadraticDiscriminantAnalysis(reg_param=0.1).fit(X[:n_train], y[:n_train])
    p_good, y_rest = model.predict_proba(X[n_train:])[:, 1], y[n_train:]
    rng = np.random.default_rng(0)
    results = {0.95: [], None: []}
    for _ in range(n_draws):
        order = rng.permutation(len(y_rest))
        calibration, held_out = order[:5000], order[5000:]
        for confidence, collected in results.items():
            thresholds = triage_thresholds(
                y_rest[calibration],
                p_good[calibration],
                max_pollution=0.004,
                max_loss=0.006,
                confidence=confidence,
            )
            collected.append(evaluate_triage(y_rest[held_out], p_good[held_out], thresholds))
    rows = []
    for name, confidence in (("95% upper bounds (default)", 0.95), ("empirical (baseline)", None)):
        frame = pd.DataFrame(results[confidence])
        missed = ((frame["pollution"] > 0.004) | (frame["loss"] > 0.006)).mean()
        rows.append(
            {
                "rule": name,
                "held-out pollution": frame["pollution"].mean(),
                "held-out loss": frame["loss"].mean(),
                "targets missed": missed,
                "manual fraction": frame["manual_fraction"].mean(),
            }
        )
    return pd.DataFrame(rows).set_index("rule"), roc_auc_score(y_rest, p_good), n_draws


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args(argv)

    print("Speed (best of repeats; ratio = baseline time / channeldecomp time)")
    print(f"{'task':40s} {'baseline s':>11s} {'ours s':>9s} {'ratio':>7s}")
    for task, base, ours in speed_table(args.quick):
        print(f"{task:40s} {base:11.4f} {ours:9.4f} {base / ours:7.1f}")

    quality, auc, n_draws = quality_table(args.quick)
    print()
    print(
        "Triage at pollution <= 0.004, loss <= 0.006 on held-out data "
        f"(global ROC AUC {auc:.3f}, {n_draws} calibration draws of 5000 LS)"
    )
    print(quality.to_string(float_format=lambda v: f"{v:.4f}"))
    default, baseline = quality.iloc[0], quality.iloc[1]
    print(
        "ratio of target misses, empirical / default: "
        f"{baseline['targets missed'] / max(default['targets missed'], 1 / n_draws):.1f} "
        "(default misses floored at one draw)"
    )


if __name__ == "__main__":
    main()
