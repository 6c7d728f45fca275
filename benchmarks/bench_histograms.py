"""Histogram benchmark: which subsystem made a lumisection bad, from per-LS ME histograms?

On the simulated detector with monitoring-element histograms
(``simulate_lumisections(..., histograms=True)``: a few MEs per subsystem, one channel per
subsystem), every method sees ``HistogramFeatures`` of the training runs (mapped to normal
scores by a ``QuantileTransformer`` fitted on them) and is scored on held-out runs
(``model_selection.RunSplit``, stratified by fault mode) against ``subsystem_truth``: per
subsystem, the ROC AUC of its score (mean over subsystems with a fault in the test runs), and
the same among the globally bad LS only (where a global detector scores 0.5).

Methods: ``cdc`` (``ChannelDecompositionClassifier(channels="prefix")``, trained on the global
label only); ``cdc-random`` (the control: the same classifier on random groups of the
subsystems' sizes, each matched to the subsystem it finds best); ``ae`` (one autoencoder per
subsystem on its features of the good training LS, scored by reconstruction error and
calibrated on them: ``PerChannelOutlierDetector(AutoencoderDetector)``, as the CMS ECAL and
pixel DQM autoencoders do; it reads the features as uniform scores, since the autoencoder
takes non-negative inputs); ``hgb`` (``PerChannelClassifier`` of boosted trees, each trained on
the global label from its subsystem's features); ``oracle`` (the same, trained on each
subsystem's truth: the ceiling).

    python benchmarks/bench_histograms.py                 # 5 seeds, the default difficulty
    python benchmarks/bench_histograms.py --seeds 100 101 --quick
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import QuantileTransformer

from channeldecomp import ChannelDecompositionClassifier, HistogramFeatures, metrics
from channeldecomp.base import predict_good_proba, resolve_channels
from channeldecomp.baselines import PerChannelClassifier
from channeldecomp.datasets import simulate_lumisections
from channeldecomp.detectors import AutoencoderDetector, PerChannelOutlierDetector
from channeldecomp.model_selection import RunSplit, random_channel_partition

logger = logging.getLogger("bench_histograms")
METHODS = ("cdc", "cdc-random", "ae", "hgb", "oracle")
#: The sizes of a full run and of ``--quick``, where not given on the command line.
FULL_SIZES = {"n_lumisections": 1500, "max_epochs": 30}
QUICK_SIZES = {"n_lumisections": 600, "max_epochs": 15}


def make_split(seed, n_ls, events, difficulty, fault_length=6):
    """Simulate, build histogram features, hold out whole runs, scale on the training runs.

    ``fault_length``: the mean length of a fault episode, in LS; shorter than the simulator's
    default (15) so that a few thousand LS hold enough episodes of every subsystem on both
    sides of the split.
    """
    data = simulate_lumisections(
        n_ls,
        events,
        difficulty=difficulty,
        mean_fault_length=fault_length,
        random_state=seed,
        histograms=True,
    )
    features = HistogramFeatures().set_output(transform="pandas")
    runs = data["keys"].get_level_values("run")
    y, truth = np.asarray(data.y), data.subsystem_truth.reset_index(drop=True)
    splitter = RunSplit(0.35, random_state=seed)
    train, test = next(splitter.split(np.zeros(len(y)), y, runs, strata=data.fault_mode))
    X = features.fit(data.histograms[train]).transform(data.histograms)
    quantiles = dict(n_quantiles=min(1000, len(train)))
    normal = QuantileTransformer(output_distribution="normal", **quantiles).set_output(
        transform="pandas"
    )
    uniform = QuantileTransformer(**quantiles).set_output(transform="pandas")
    return {
        "X": normal.fit(X.iloc[train]).transform(X),
        "X_uniform": uniform.fit(X.iloc[train]).transform(X),
        "y": y,
        "truth": truth,
        "train": train,
        "test": test,
    }


def fit_method(method, split, seed, max_epochs):
    """Fit one method on the training runs; its channel scores on the test runs (a frame)."""
    X, y, train, test = split["X"], split["y"], split["train"], split["test"]
    subsystems = list(split["truth"].columns)
    if method == "cdc":
        model = ChannelDecompositionClassifier(
            channels="prefix", max_epochs=max_epochs, random_state=seed
        )
        model.fit(X.iloc[train], y[train])
        return model.predict_channel_scores(X.iloc[test]), predict_good_proba(model, X.iloc[test])
    if method == "cdc-random":
        indices = resolve_channels("prefix", X.shape[1], list(X.columns))
        groups = random_channel_partition([len(indices[s]) for s in subsystems], X.shape[1], seed)
        channels = {f"group{i}": group.tolist() for i, group in enumerate(groups)}
        model = ChannelDecompositionClassifier(
            channels=channels, max_epochs=max_epochs, random_state=seed
        )
        model.fit(X.to_numpy()[train], y[train])
        scores = model.predict_channel_scores(X.to_numpy()[test])
        return scores, predict_good_proba(model, X.to_numpy()[test])
    if method == "ae":
        good = train[y[train] == 1]
        autoencoder = AutoencoderDetector(
            (-1, 1), ae_hidden_size=32, ae_bottleneck=4, ae_max_epochs=max_epochs,
            random_state=seed,
        )  # fmt: skip
        model = PerChannelOutlierDetector(autoencoder, channels="prefix", random_state=seed)
        model.fit(split["X_uniform"].iloc[good])
        X_test = split["X_uniform"].iloc[test]
        return model.predict_channel_scores(X_test), model.score_samples(X_test)
    boosting = HistGradientBoostingClassifier(max_iter=100, random_state=seed)
    model = PerChannelClassifier(boosting, channels="prefix")
    if method == "oracle":
        model.fit(X.iloc[train], y[train], channel_truth=split["truth"].iloc[train])
    else:
        model.fit(X.iloc[train], y[train])
    return model.predict_channel_scores(X.iloc[test]), predict_good_proba(model, X.iloc[test])


def score(split, channel_scores, p_good, *, match):
    """Mean subsystem AUC, over all test LS and over the bad ones only; the global AUC."""
    truth = split["truth"].iloc[split["test"]].reset_index(drop=True)
    y = split["y"][split["test"]]
    scores = pd.DataFrame(np.asarray(channel_scores, dtype=float))
    if match:
        scores = metrics.match_channels(scores, truth)
    else:
        scores.columns = list(channel_scores.columns)
        scores = scores[list(truth.columns)]
    scores.columns = truth.columns
    with warnings.catch_warnings():  # a subsystem without a fault in the test runs: NaN
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        aucs = metrics.decomposition_auc(scores, truth)
        bad_only = metrics.bad_only_decomposition_auc(scores, truth, y)
    return {
        "subsystem_auc": np.nanmean(aucs),
        "worst_subsystem_auc": np.nanmin(aucs),
        "bad_only_auc": np.nanmean(bad_only),
        "global_auc": roc_auc_score(y, p_good),
    }


def run(seeds, n_ls, events, difficulty, max_epochs, methods, fault_length=6):
    records = []
    for seed in seeds:
        start = time.perf_counter()
        split = make_split(seed, n_ls, events, difficulty, fault_length)
        logger.info(
            "seed %d: %d train / %d test LS, %d features (%.1f s)",
            seed, len(split["train"]), len(split["test"]), split["X"].shape[1],
            time.perf_counter() - start,
        )  # fmt: skip
        for method in methods:
            start = time.perf_counter()
            channel_scores, p_good = fit_method(method, split, seed, max_epochs)
            result = score(split, channel_scores, p_good, match=method == "cdc-random")
            elapsed = time.perf_counter() - start
            shown = " ".join(f"{k}={v:.3f}" for k, v in result.items())
            logger.info("  %-10s %s (%.1f s)", method, shown, elapsed)
            records.append({"seed": seed, "method": method, "fit_s": elapsed} | result)
    return pd.DataFrame(records)


def summarize(records):
    """Mean ± std over seeds per method, and each method's paired gap to the oracle."""
    columns = ["subsystem_auc", "worst_subsystem_auc", "bad_only_auc", "global_auc", "fit_s"]
    oracle = records[records.method == "oracle"].set_index("seed")["subsystem_auc"]
    rows = {}
    for method, group in records.groupby("method", sort=False):
        row = {
            c: f"{group[c].mean():.3f} ± {group[c].std(ddof=0):.3f}"
            if c != "fit_s"
            else f"{group[c].mean():.1f}"
            for c in columns
        }
        if len(oracle):
            gap = group.set_index("seed")["subsystem_auc"] - oracle
            row["subsystem_auc - oracle"] = f"{gap.mean():+.3f} ± {gap.std(ddof=0):.3f}"
        rows[method] = row
    return pd.DataFrame(rows).T


def parse_args(argv=None):
    """The options; ``--quick`` sets the sizes that are not given explicitly."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--n-lumisections", type=int, help="default: 1500 (--quick: 600)")
    parser.add_argument("--events", type=int, default=200, help="events per LS")
    parser.add_argument("--difficulty", default="default")
    parser.add_argument("--fault-length", type=float, default=6, help="mean LS per episode")
    parser.add_argument("--max-epochs", type=int, help="default: 30 (--quick: 15)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--quick", action="store_true", help="600 LS, 15 epochs")
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    for name, value in sizes.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main(argv=None):
    """Run the benchmark, print its table; the records (one row per seed and method)."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    start = time.perf_counter()
    records = run(
        args.seeds, args.n_lumisections, args.events, args.difficulty, args.max_epochs,
        args.methods, args.fault_length,
    )  # fmt: skip
    table = summarize(records)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(
            f"{len(args.seeds)} seeds, {args.n_lumisections} LS x ~{args.events} events, "
            f"difficulty {args.difficulty}, episodes of ~{args.fault_length:g} LS, "
            f"{args.max_epochs} epochs "
            f"({time.perf_counter() - start:.0f} s)"
        )
        print(table.to_string())
    return records


if __name__ == "__main__":
    main()
