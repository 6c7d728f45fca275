"""Reference-only detectors: FluxMutability and PerChannelOutlierDetector.

Part 1, the conditional toy (``make_conditional_anomalies``): FluxMutability against
IsolationForest and unconditional flows, ROC AUC on conditional anomalies (normal features for
other conditions) and on marginal ones (shifted features), each against the good rows; and for
the flows, the fraction of good rows flagged at the 5 % cut, overall and among the rows of the
highest luminosities (rare conditions), where a cut that ignores the conditions flags too many.

Part 2, ``make_channel_anomalies`` and the simulated detector (``simulate_lumisections``, its
``LumiSectionPercentiles`` features, trained on the good lumisections among the first 60 % in
time order, scored on the rest): PerChannelOutlierDetector's channel scores against the known
per-channel truth (ROC AUC of each channel's score against its own truth; "off-diagonal": of each
channel's score against anomalies visible only in other channels, 0.5 = blind to them, as it
should be), against a global IsolationForest whose one score stands in for every channel.

Ratios are to the baseline (IsolationForest on all columns) measured in the same process; times
are fit + score wall-clock seconds.

    python benchmarks/bench_flux.py            # full size, seeds 0 1 2
    python benchmarks/bench_flux.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from sklearn.covariance import EllipticEnvelope
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import LocalOutlierFactor
from sklearn.preprocessing import StandardScaler

from channeldecomp import LumiSectionPercentiles
from channeldecomp.datasets import (
    make_channel_anomalies,
    make_conditional_anomalies,
    simulate_lumisections,
)
from channeldecomp.detectors import FluxMutability, PerChannelOutlierDetector

BASELINE = "IsolationForest (all columns)"


def _timed(fit_score):
    start = time.perf_counter()
    scores = fit_score()
    return scores, time.perf_counter() - start


def _flux_rows(quick, seed, min_condition_distances=(1.0, 0.5)):
    n_train, n_test = (1500, 1000) if quick else (5000, 3000)
    train = make_conditional_anomalies(n_train, anomaly_fraction=0.0, random_state=100 + seed)
    tests = {
        f"conditional toy (min distance {distance})": make_conditional_anomalies(
            n_test,
            anomaly_fraction=0.3,
            min_condition_distance=distance,
            random_state=200 + 10 * seed + k,
        )
        for k, distance in enumerate(min_condition_distances)
    }
    features, conditions = train.feature_names, train.condition_names
    flow = dict(random_state=seed)
    if quick:
        flow.update(max_epochs=30, hidden_units=32, population_size=100)
    methods = {
        "FluxMutability (density)": lambda: FluxMutability(conditions=conditions, **flow),
        "FluxMutability (distance)": lambda: FluxMutability(
            conditions=conditions, mutability="distance", **flow
        ),
        "unconditional flow (features)": lambda: FluxMutability(**flow),
        "unconditional flow (all columns)": lambda: FluxMutability(**flow),
        BASELINE: lambda: IsolationForest(random_state=seed),
        "IsolationForest (features)": lambda: IsolationForest(random_state=seed),
    }
    rows = []
    for method, make in methods.items():
        columns = features if "(features)" in method else list(train.data.columns)
        detector, fit_seconds = _timed(lambda m=make, c=columns: m().fit(train.data[c]))
        for dataset, test in tests.items():
            scores, score_seconds = _timed(
                lambda d=detector, t=test, c=columns: d.score_samples(t.data[c])
            )
            for kind in ("conditional", "marginal"):
                other = "marginal" if kind == "conditional" else "conditional"
                keep = test.anomaly_kind != other
                auc = roc_auc_score(test.target[keep], scores[keep])
                rows.append((dataset, method, f"ROC AUC, {kind} anomalies", auc))
            if isinstance(detector, FluxMutability):
                good = test.target.to_numpy() == 1
                flagged = scores - detector.offset_ < 0
                luminosity = test.data["luminosity"].to_numpy()
                top = luminosity >= np.quantile(luminosity[good], 0.9)
                rows.append((dataset, method, "false alarms at the 5 % cut", flagged[good].mean()))
                rows.append(
                    (
                        dataset,
                        method,
                        "false alarms at the 5 % cut, top luminosity decile",
                        flagged[good & top].mean(),
                    )
                )
            rows.append((dataset, method, "fit + score seconds", fit_seconds + score_seconds))
    return rows


def _auc(target, score):
    target = np.asarray(target)
    return roc_auc_score(target, score) if np.unique(target).size == 2 else np.nan


def _channel_metrics(truth, target, channel_scores, global_scores):
    """Global AUC, each channel's AUC against its own truth, and the mean off-diagonal AUC."""
    good = truth.all(axis=1).to_numpy()
    metrics = [("global ROC AUC", _auc(target, global_scores))]
    off_diagonal = []
    for channel in truth.columns:
        score = np.asarray(channel_scores[channel])
        own = _auc(truth[channel], score)
        metrics.append((f"ROC AUC, {channel} score vs {channel} truth", own))
        only_elsewhere = (truth[channel] == 1).to_numpy() & ~good
        mask = only_elsewhere | good
        off_diagonal.append(_auc(good[mask], score[mask]))
    metrics.append(
        ("ROC AUC off-diagonal (0.5 = blind to other channels)", float(np.nanmean(off_diagonal)))
    )
    return metrics


def _decomposition_rows(dataset, X_train, X_test, truth, target, seed, detectors):
    rows = []
    forest = IsolationForest(random_state=seed)
    global_scores, seconds = _timed(lambda: forest.fit(X_train).score_samples(X_test))
    same_for_all = {channel: global_scores for channel in truth.columns}
    for metric, value in _channel_metrics(truth, target, same_for_all, global_scores):
        rows.append((dataset, BASELINE, metric, value))
    rows.append((dataset, BASELINE, "fit + score seconds", seconds))
    for method, detector in detectors.items():

        def fit_score(d=detector):
            d.fit(X_train)
            return d.predict_channel_scores(X_test).reset_index(drop=True), d.score_samples(X_test)

        (channel_scores, combined), seconds = _timed(fit_score)
        for metric, value in _channel_metrics(truth, target, channel_scores, combined):
            rows.append((dataset, method, metric, value))
        rows.append((dataset, method, "fit + score seconds", seconds))
    return rows


def _per_channel_rows(quick, seed, anomaly_strength):
    n_samples = 2000 if quick else 6000
    data = make_channel_anomalies(n_samples, anomaly_strength=anomaly_strength, random_state=seed)
    half = n_samples // 2
    train_rows = np.flatnonzero(data.target.to_numpy()[:half] == 1)
    detectors = {
        "PerChannel(IsolationForest)": PerChannelOutlierDetector(random_state=seed),
        "PerChannel(LocalOutlierFactor)": PerChannelOutlierDetector(
            LocalOutlierFactor(n_neighbors=35, novelty=True)
        ),
        "PerChannel(EllipticEnvelope)": PerChannelOutlierDetector(
            EllipticEnvelope(random_state=seed)
        ),
    }
    return _decomposition_rows(
        f"make_channel_anomalies (anomaly_strength {anomaly_strength})",
        data.data.iloc[train_rows],
        data.data.iloc[half:],
        data.channel_truth.iloc[half:].reset_index(drop=True),
        data.target.iloc[half:].to_numpy(),
        seed,
        detectors,
    )


def _simulated_detector_rows(quick, seed):
    """PerChannelOutlierDetector on the simulated detector's lumisection features.

    Trained on the good LS of the first 60 % of the LS (in time order), scored on the rest.
    """
    n_lumisections, n_events = (400, 100) if quick else (1500, 300)
    data = simulate_lumisections(n_lumisections, n_events, random_state=seed)
    features = LumiSectionPercentiles(lumisection_columns=False).set_output(transform="pandas")
    X = features.fit_transform(data.lumisections)
    # LS come in time order (run, lumi): train on the earlier 60 %, test on the later 40 %.
    test = np.arange(len(X)) >= int(0.6 * len(X))
    target = np.asarray(data.y)
    scaler = StandardScaler().set_output(transform="pandas").fit(X[~test])
    X = scaler.transform(X)
    X_train = X[~test & (target == 1)]
    detectors = {
        "PerChannel(IsolationForest)": PerChannelOutlierDetector(random_state=seed),
        "PerChannel(LocalOutlierFactor)": PerChannelOutlierDetector(
            LocalOutlierFactor(n_neighbors=35, novelty=True)
        ),
    }
    return _decomposition_rows(
        "simulated detector (simulate_lumisections)",
        X_train,
        X[test],
        data.channel_truth[test].reset_index(drop=True),
        target[test],
        seed,
        detectors,
    )


def run(quick: bool = False, seeds=(0, 1, 2)) -> pd.DataFrame:
    """Run both parts for each seed; one row per (dataset, method, metric).

    Parameters
    ----------
    quick : bool, default=False
        Small sizes and short training, for a smoke run.
    seeds : sequence of int, default=(0, 1, 2)
        Seeds of the data and the detectors.

    Returns
    -------
    DataFrame
        Columns ``dataset``, ``method``, ``metric``, ``mean``, ``std`` (over seeds) and
        ``ratio`` (mean over the baseline's mean for the same dataset and metric).
    """
    records = []
    for seed in seeds:
        records += [(seed, *row) for row in _flux_rows(quick, seed)]
        for strength in (1.0, 2.0):
            records += [(seed, *row) for row in _per_channel_rows(quick, seed, strength)]
        records += [(seed, *row) for row in _simulated_detector_rows(quick, seed)]
    frame = pd.DataFrame(records, columns=["seed", "dataset", "method", "metric", "value"])
    table = (
        frame.groupby(["dataset", "method", "metric"], sort=False)["value"]
        .agg(["mean", "std"])
        .reset_index()
    )
    baseline = table[table.method == BASELINE].set_index(["dataset", "metric"])["mean"]
    keys = pd.MultiIndex.from_frame(table[["dataset", "metric"]])
    table["ratio"] = table["mean"].to_numpy() / baseline.reindex(keys).to_numpy()
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default: 0 1 2")
    args = parser.parse_args(argv)
    seeds = args.seeds if args.seeds is not None else ((0,) if args.quick else (0, 1, 2))
    start = time.perf_counter()
    table = run(quick=args.quick, seeds=seeds)
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        for dataset, part in table.groupby("dataset", sort=False):
            print(f"\n== {dataset} (seeds {list(seeds)}; ratio to {BASELINE}) ==")
            print(part.drop(columns="dataset").to_string(index=False, float_format="%.3f"))
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
