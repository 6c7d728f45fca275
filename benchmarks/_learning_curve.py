"""Learning curve of the decomposition, and the validation of ``channel_reliability``.

For each cell (lumisections x events per lumisection x difficulty x seed) of the simulated
detector, the split, features and scaling of ``bench_decomposition.make_split`` (held-out runs,
stratified by fault mode) and these methods: ``cdc`` (one network), ``cdc-ensemble``
(``n_estimators`` networks on bootstrap resamples of the training runs), ``cdc-distilled``
(``DistilledChannelClassifier``: cdc's network distilled into per-channel boosting), ``cdc-random``
(the random-partition control), ``per-channel-hgb`` (per-channel boosting), ``oracle`` (per-channel
boosting on the channel truth) and ``hgb`` (global boosting: the global AUC's reference).

On the training runs alone, ``channeldecomp.model_selection.channel_reliability`` of the
``cdc`` model is then compared with each channel's true decomposition AUC on the held-out
runs: the Spearman correlation over all (cell, channel) pairs, the share of channels with a
true AUC below 0.7 marked not reliable (target >= 90 %) and the share of channels above 0.95
marked not reliable (target <= 10 %). Among the held-out bad lumisections, how often the
ensemble's blame (its lowest channel score) is wrong: one table by quartile of the blamed
channel's spread (``predict_channel_scores(X, return_std=True)``), one by the share of the
networks that blame the same channel (``predict_blame``'s ``agreement``). With ``--truth-ls N``
the reliability is validated also against the cdc model's true AUC on a fresh simulation of N
lumisections of the same detector (a cell's held-out runs are few at 1,000-2,000 LS). With
``--reliability-of cdc-distilled`` the reliability validated is the distilled model's instead;
either way the report also counts the low channels (a mean true AUC over seeds below 0.6, one
seed's below 0.5) and how many of them were marked reliable.

    python benchmarks/bench_decomposition.py --learning-curve           # the full grid (long)
    python benchmarks/bench_decomposition.py --learning-curve --quick   # a smoke run for CI
    python benchmarks/_learning_curve.py --sizes 1000 2000 --events 200 --seeds 0 1 2 \\
        --difficulties default hard --jobs 2                             # a reduced grid
    python benchmarks/_learning_curve.py --summarize a.csv b.csv         # runs' --records, pooled
"""

from __future__ import annotations

import argparse
import itertools
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.stats import spearmanr
from sklearn.exceptions import ConvergenceWarning, UndefinedMetricWarning

from channeldecomp import ChannelDecompositionClassifier, metrics
from channeldecomp.base import predict_good_proba
from channeldecomp.model_selection import channel_reliability

logger = logging.getLogger("bench_decomposition.learning_curve")

#: The full grid: 16,000 LS is the size of the original study's data.
FULL_GRID = {
    "sizes": (1000, 2000, 4000, 8000, 16000),
    "events": (200, 500),
    "seeds": (0, 1, 2, 3, 4),
    "difficulties": ("default", "hard"),
}
QUICK_GRID = {"sizes": (300, 600), "events": (100,), "seeds": (0,), "difficulties": ("default",)}
METHODS = ("cdc", "cdc-ensemble", "cdc-distilled", "cdc-random", "per-channel-hgb", "oracle")
METHODS += ("hgb",)
#: The methods whose reliability can be validated (``--reliability-of``).
RELIABILITY_OF = ("cdc", "cdc-distilled")
#: Truth bands of the reliability's validation targets.
LOW_AUC, HIGH_AUC = 0.7, 0.95
#: The floors at small sizes: a channel's mean true AUC over seeds, one seed's channel's. Below
#: them a channel should be marked not reliable.
MEAN_FLOOR, SEED_FLOOR = 0.6, 0.5


def _bench():
    """``bench_decomposition``'s split and scoring (imported late: it imports this module)."""
    import bench_decomposition

    return bench_decomposition


def _fit_quietly(model, *args, **kwargs):
    """Fit; return whether ``fit`` warned about too few bad LS or fault episodes."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(*args, **kwargs)
    return any("likely unreliable" in str(w.message) for w in caught)


def _wrong_blame(scores, spread, truth, y, agreement=None):
    """Per held-out bad LS with a visible fault: the blamed channel's score and spread (and the
    networks' agreement on it, one value per LS), wrong or not."""
    scores, spread, truth = (np.asarray(frame, dtype=float) for frame in (scores, spread, truth))
    rows = (np.asarray(y) == 0) & (truth == 0).any(axis=1)
    blamed = scores[rows].argmin(axis=1)
    position = np.arange(rows.sum())
    table = pd.DataFrame(
        {
            "score": scores[rows][position, blamed],
            "spread": spread[rows][position, blamed],
            "wrong": truth[rows][position, blamed] == 1,
        }
    )
    if agreement is not None:
        table["agreement"] = np.asarray(agreement, dtype=float)[rows]
    return table


def run_cell(
    n_ls, events, difficulty, seed, *, max_epochs, n_estimators, cv, n_repeats, methods,
    truth_ls=None, reliability_of="cdc",
):  # fmt: skip
    """One cell: every method's metrics, per-channel reliability vs truth, the blame table.

    ``reliability_of``: the method (``"cdc"`` or ``"cdc-distilled"``) whose
    ``channel_reliability`` is compared with its true per-channel AUC, when it is in
    ``methods``. ``truth_ls``: also that model's true per-channel AUC on a fresh simulation of
    that many lumisections (``bench_decomposition.fresh_test_set``), ``true_auc_fresh``.
    """
    if reliability_of not in RELIABILITY_OF:
        raise ValueError(f"reliability_of must be one of {RELIABILITY_OF}; got {reliability_of!r}")
    if not logging.getLogger().handlers:  # a worker process of --jobs: log to its stderr too
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    bench = _bench()
    start = time.perf_counter()
    split = bench.make_split(difficulty, seed, n_ls, events)
    X_train, X_test, y_train = split["X_train"], split["X_test"], split["y_train"]
    runs = bench.training_runs(split)
    truth = split["truth_test"]
    cell = {"n_ls": n_ls, "events": events, "difficulty": difficulty, "seed": seed}
    records, channels, blame = [], None, None

    def record(method, p_good, scores, tick, match=False):
        elapsed = time.perf_counter() - tick
        result = bench.score_method(split, p_good, scores, match_channels=match)
        records.append(cell | {"method": method, "fit_s": elapsed} | result)

    def cdc(**params):
        params = {"channels": "prefix", "max_epochs": max_epochs, "random_state": seed, **params}
        return ChannelDecompositionClassifier(**params)

    def reliable_model():  # the model whose reliability is validated, unfitted
        if reliability_of == "cdc":
            return cdc()
        return bench.make_cdc_distilled(seed, max_epochs=max_epochs)

    if reliability_of in methods:
        tick = time.perf_counter()
        model = reliable_model()
        warned = _fit_quietly(model, X_train, y_train, groups=runs)
        scores = model.predict_channel_scores(X_test)
        record(reliability_of, predict_good_proba(model, X_test), scores.to_numpy(), tick)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            true_auc = metrics.decomposition_auc(scores.set_axis(truth.index), truth)
        tick = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            reliability = channel_reliability(
                reliable_model(), X_train, y_train, groups=runs, cv=cv, n_repeats=n_repeats,
                random_state=seed,
            )  # fmt: skip
        logger.info("    reliability %.0f s", time.perf_counter() - tick)
        channels = reliability.assign(true_auc=true_auc, fit_warned=warned, method=reliability_of)
        if truth_ls:
            fresh = bench.fresh_test_set(split, truth_ls, events, difficulty=difficulty, seed=seed)
            fresh_scores = model.predict_channel_scores(fresh["X"]).set_axis(fresh["truth"].index)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UndefinedMetricWarning)
                fresh_auc = metrics.decomposition_auc(fresh_scores, fresh["truth"])
            channels = channels.assign(true_auc_fresh=fresh_auc)
        channels = channels.reset_index().assign(**cell)
    if "cdc-ensemble" in methods:
        tick = time.perf_counter()
        model = cdc(n_estimators=n_estimators)
        _fit_quietly(model, X_train, y_train, groups=runs)
        scores, spread = model.predict_channel_scores(X_test, return_std=True)
        record("cdc-ensemble", predict_good_proba(model, X_test), scores.to_numpy(), tick)
        agreement = model.predict_blame(X_test)["agreement"]
        blame = _wrong_blame(scores, spread, truth, split["y_test"], agreement).assign(**cell)
    fitters = bench.make_fitters(max_epochs, max_epochs, {"max_epochs": max_epochs})
    for method in [m for m in methods if m not in ("cdc-ensemble", reliability_of)]:
        tick = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            p_good, scores = fitters[method](split, seed)
        record(method, p_good, scores, tick, match=method == "cdc-random")
    logger.info(
        "%s %d LS x %d events seed %d: %.0f s; %s", difficulty, n_ls, events, seed,
        time.perf_counter() - start,
        " ".join(f"{r['method']}={r['mean_channel_auc']:.3f}" for r in records),
    )  # fmt: skip
    if channels is not None:  # in the log as well, so an interrupted grid still tells
        logger.info("channels:\n%s", channels.to_csv(index=False, float_format="%.4f"))
    logger.info("records:\n%s", pd.DataFrame(records).to_csv(index=False, float_format="%.4f"))
    return pd.DataFrame(records), channels, blame


def run_learning_curve(
    sizes, events, seeds, difficulties, *, max_epochs=40, n_estimators=5, cv=3, n_repeats=2,
    methods=METHODS, n_jobs=1, truth_ls=None, reliability_of="cdc",
):  # fmt: skip
    """Every cell of the grid; three record tables (methods, channels, blame)."""
    cells = list(itertools.product(sizes, events, difficulties, seeds))
    options = {
        "max_epochs": max_epochs, "n_estimators": n_estimators, "cv": cv,
        "n_repeats": n_repeats, "methods": tuple(methods), "truth_ls": truth_ls,
        "reliability_of": reliability_of,
    }  # fmt: skip
    results = Parallel(n_jobs=n_jobs)(delayed(run_cell)(*cell, **options) for cell in cells)
    records, channels, blame = zip(*results)
    join = lambda frames: pd.concat([f for f in frames if f is not None], ignore_index=True)  # noqa: E731
    present = [f for f in channels if f is not None], [f for f in blame if f is not None]
    return (
        join(records),
        join(present[0]) if present[0] else None,
        join(present[1]) if present[1] else None,
    )


def _mean_std(row, sign=""):
    if np.isnan(row["mean"]):
        return "-"
    std = 0.0 if np.isnan(row["std"]) else row["std"]
    return f"{row['mean']:{sign}.3f} ± {std:.3f}"


def summarize_methods(records):
    """Mean ± std over seeds of each method's channel and global AUCs, per size and difficulty;
    paired differences of cdc (and its ensemble and distilled model) against per-channel
    boosting and the oracle."""
    keys = ["difficulty", "n_ls", "events"]
    grouped = records.groupby([*keys, "method"], sort=False)

    def cell(name):
        return grouped[name].agg(["mean", "std"]).apply(_mean_std, axis=1)

    table = pd.DataFrame(
        {
            "mean_channel": cell("mean_channel_auc"),
            "worst_channel": cell("worst_channel_auc"),
            "bad_only": cell("bad_only_channel_auc"),
            "global": cell("global_auc"),
        }
    )
    wide = records.pivot_table(
        index=[*keys, "seed"], columns="method", values=["mean_channel_auc", "global_auc"]
    )
    paired = {}
    channel = wide["mean_channel_auc"]
    for method, reference in (("cdc", "per-channel-hgb"), ("cdc", "oracle"),
                              ("cdc-ensemble", "cdc"), ("cdc-ensemble", "oracle"),
                              ("cdc-distilled", "per-channel-hgb"),
                              ("cdc-distilled", "oracle")):  # fmt: skip
        if {method, reference} <= set(channel.columns):
            difference = (channel[method] - channel[reference]).groupby(level=keys, sort=False)
            summary = difference.agg(["mean", "std"])
            paired[f"{method} - {reference}"] = summary.apply(_mean_std, axis=1, sign="+")
    if "hgb" in wide["global_auc"].columns:
        globals_ = wide["global_auc"]
        for method in ("cdc", "cdc-ensemble", "cdc-distilled"):
            if method in globals_.columns:
                difference = (globals_[method] - globals_["hgb"]).groupby(level=keys, sort=False)
                paired[f"global {method} - hgb"] = difference.mean().map(lambda v: f"{v:+.3f}")
    return table, pd.DataFrame(paired)


def validate_reliability(channels, truth="true_auc"):
    """The reliability's validation figures over all (cell, channel) pairs with a true AUC
    (column ``truth``: ``"true_auc"`` on the held-out runs, ``"true_auc_fresh"`` on a fresh
    simulation)."""
    rows = channels.dropna(subset=[truth])
    low, high = rows[rows[truth] < LOW_AUC], rows[rows[truth] > HIGH_AUC]
    figures = {
        "cells (cell x channel)": len(rows),
        "Spearman(reliability, true AUC)": spearmanr(rows["reliability"], rows[truth])[0],
        f"true AUC < {LOW_AUC}: cells": len(low),
        f"true AUC < {LOW_AUC}: marked not reliable": (~low["reliable"]).mean(),
        f"true AUC > {HIGH_AUC}: cells": len(high),
        f"true AUC > {HIGH_AUC}: marked not reliable": (~high["reliable"]).mean(),
        "fit warned: share of cells": rows["fit_warned"].mean(),
    }
    return pd.Series(figures, name="value")


def summarize_blame(blame, by="spread"):
    """Wrong-blame rate of the ensemble among held-out bad LS, by quartile of the blamed
    channel's ``by`` (``"spread"`` or ``"score"``)."""
    quartile = blame.groupby("difficulty")[by].transform(
        lambda s: pd.qcut(s.rank(method="first"), 4, labels=["Q1 (low)", "Q2", "Q3", "Q4 (high)"])
    )
    table = blame.assign(**{f"{by}_quartile": quartile}).groupby(["difficulty", f"{by}_quartile"])
    return table.agg(
        bad_ls=("wrong", "size"), wrong_blame=("wrong", "mean"), **{f"median_{by}": (by, "median")}
    )


def summarize_agreement(blame):
    """Wrong-blame rate of the ensemble among held-out bad LS, by the share of its networks that
    blame the same channel (``predict_blame``'s ``agreement``)."""
    level = blame["agreement"].round(3).rename("agreement")
    table = blame.groupby([blame["difficulty"], level], sort=True)
    table = table.agg(bad_ls=("wrong", "size"), wrong_blame=("wrong", "mean"))
    return table.sort_index(level=[0, 1], ascending=[True, False])


def _with_method(channels):
    """The channels' table with its ``method`` (records written before it was kept: cdc's)."""
    return channels.assign(method=channels.get("method", "cdc")).fillna({"method": "cdc"})


def unmarked_failures(channels, truth="true_auc"):
    """Per (difficulty, n_ls, events): the channels whose mean true AUC over seeds is below
    ``MEAN_FLOOR`` and the (seed, channel) pairs below ``SEED_FLOOR``, and how many of each were
    marked reliable (a pair: on its seed; a channel: on any seed). Both should be none."""
    keys = ["difficulty", "n_ls", "events"]
    rows = channels.dropna(subset=[truth])
    means = rows.groupby([*keys, "channel"], sort=False).agg(
        mean=(truth, "mean"), reliable_on_a_seed=("reliable", "any")
    )
    low_mean = means[means["mean"] < MEAN_FLOOR].groupby(level=keys, sort=False)
    low_seed = rows[rows[truth] < SEED_FLOOR].groupby(keys, sort=False)
    table = pd.DataFrame(
        {
            f"channels with mean < {MEAN_FLOOR}": low_mean.size(),
            "... marked reliable on a seed": low_mean["reliable_on_a_seed"].sum(),
            f"(seed, channel) < {SEED_FLOOR}": low_seed.size(),
            "... marked reliable": low_seed["reliable"].sum(),
        }
    )
    cells = rows.groupby(keys, sort=False).size().index
    return table.reindex(cells).fillna(0).astype(int)


def report_reliability(channels, method):
    """Print the validation of ``method``'s reliability (the channels' rows of that method)."""
    print(f"\nchannel_reliability of {method} (on the training runs) against its true ")
    print("per-channel decomposition AUC on the held-out runs:\n")
    print(validate_reliability(channels).to_string(float_format=lambda v: f"{v:.3f}"))
    fresh = "true_auc_fresh" in channels and channels["true_auc_fresh"].notna().any()
    if fresh:
        print("\n... and on a fresh simulation of the same detector (--truth-ls):\n")
        table = validate_reliability(channels, truth="true_auc_fresh")
        print(table.to_string(float_format=lambda v: f"{v:.3f}"))
        both = channels.dropna(subset=["true_auc", "true_auc_fresh"])
        rho = spearmanr(both["true_auc"], both["true_auc_fresh"])[0]
        print(
            f"\nSpearman(true AUC on the held-out runs, on the fresh simulation): "
            f"{rho:.3f} ({len(both)} pairs)"
        )
    columns = {"true_auc": ("true_auc", "mean")}
    if fresh:
        columns["true_auc_fresh"] = ("true_auc_fresh", "mean")
    by_size = channels.groupby(["difficulty", "n_ls", "events", "channel"], sort=False).agg(
        **columns, reliability=("reliability", "mean"), reliable=("reliable", "mean"),
    )  # fmt: skip
    print("\nPer channel (mean over seeds; reliable: share of seeds):\n")
    print(by_size.unstack("channel").to_string(float_format=lambda v: f"{v:.2f}"))
    for truth in ["true_auc", "true_auc_fresh"] if fresh else ["true_auc"]:
        where = "the fresh simulation" if truth == "true_auc_fresh" else "the held-out runs"
        print(f"\nLow channels on {where}, and how many were marked reliable:\n")
        print(unmarked_failures(channels, truth).to_string())


def report(records, channels, blame, header):
    """Print the tables (``channels`` with its ``method`` column, as ``run_cell`` writes it and
    ``summarize_records`` reads it)."""
    methods, paired = summarize_methods(records)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(f"\nLearning curve: {header}\n")
        print(methods.to_string())
        if not paired.empty:
            print("\nPaired over seeds (mean channel AUC; global AUC against hgb):\n")
            print(paired.to_string())
        if channels is not None:
            for method, rows in channels.groupby("method", sort=False):
                report_reliability(rows, method)
        if blame is not None and len(blame):
            print("\nEnsemble: wrong blame among held-out bad LS by spread quartile:\n")
            print(summarize_blame(blame).to_string(float_format=lambda v: f"{v:.3f}"))
            print("\nEnsemble: wrong blame among held-out bad LS by the networks' agreement:\n")
            print(summarize_agreement(blame).to_string(float_format=lambda v: f"{v:.3f}"))
            print("\nEnsemble: wrong blame among held-out bad LS by the blamed score's quartile:\n")
            print(summarize_blame(blame, by="score").to_string(float_format=lambda v: f"{v:.3g}"))


CELL = ["n_ls", "events", "difficulty", "seed"]


def summarize_records(paths):
    """Pool the records of earlier runs (``--records`` files, with their ``_channels`` and
    ``_blame`` companions where they exist), print the tables, return the three tables.

    A cell's method (or channel, or blame table) found in several files counts once: from the
    file given last.
    """
    tables = {"records": [], "channels": [], "blame": []}
    for order, path in enumerate(paths):
        stem = str(path).removesuffix(".csv")
        if not Path(path).is_file():
            raise SystemExit(f"--summarize: no records file {path!r} (written by --records).")
        tables["records"].append(pd.read_csv(path).assign(_file=order))
        for name in ("channels", "blame"):
            if Path(f"{stem}_{name}.csv").is_file():
                tables[name].append(pd.read_csv(f"{stem}_{name}.csv").assign(_file=order))
    records, channels, blame = (
        pd.concat(frames, ignore_index=True) if frames else None for frames in tables.values()
    )
    records = records.drop_duplicates([*CELL, "method"], keep="last")
    if channels is not None:
        channels = _with_method(channels)
        channels = channels.drop_duplicates([*CELL, "method", "channel"], keep="last")
    if blame is not None:
        last = blame.groupby(CELL)["_file"].transform("max")
        blame = blame[blame["_file"] == last]
    records, channels, blame = (
        None if frame is None else frame.drop(columns="_file").reset_index(drop=True)
        for frame in (records, channels, blame)
    )
    report(records, channels, blame, f"pooled records of {len(paths)} run(s)")
    return records, channels, blame


def main(argv=None, *, quick=None, seeds=None, difficulties=None, max_epochs=None,
         records_path=None):  # fmt: skip
    """Run the grid (``--quick``: a smoke grid) and print the tables; return the records."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="a smoke grid for CI")
    add("--sizes", type=int, nargs="+")
    add("--events", type=int, nargs="+")
    add("--seeds", type=int, nargs="+")
    add("--difficulties", nargs="+")
    add("--max-epochs", type=int)
    add("--n-estimators", type=int, help="networks of cdc-ensemble (default 5; quick 2)")
    add("--cv", type=int, help="folds of channel_reliability (default 3; quick 2)")
    add(
        "--truth-ls",
        type=int,
        metavar="N",
        help="validate the reliability also against the cdc model's true AUC on a fresh "
        "simulation of N lumisections (the held-out runs are two or three at 1,000 LS)",
    )
    add("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    add("--reliability-of", choices=RELIABILITY_OF, default="cdc",
        help="the method whose channel_reliability is validated against truth (default cdc; "
             "it must be among --methods)")  # fmt: skip
    add("--jobs", type=int, default=1, help="cells run in parallel")
    add(
        "--records",
        metavar="CSV",
        help="write the records (and <stem>_channels.csv, <stem>_blame.csv)",
    )
    add("--summarize", nargs="+", metavar="CSV",
        help="print the tables of the records of earlier runs (--records; parts of the grid "
             "run apart), pooled, without running anything")  # fmt: skip
    add("--quiet", action="store_true")
    args = parser.parse_args(argv or [])
    if args.reliability_of not in args.methods and not args.summarize:
        parser.error(f"--reliability-of {args.reliability_of}: add it to --methods")
    if args.summarize:
        return summarize_records(args.summarize)
    quick = args.quick or bool(quick)
    grid = QUICK_GRID if quick else FULL_GRID
    sizes, events = args.sizes or grid["sizes"], args.events or grid["events"]
    seeds = args.seeds or seeds or grid["seeds"]
    difficulties = args.difficulties or difficulties or grid["difficulties"]
    max_epochs = args.max_epochs or max_epochs or (5 if quick else 40)
    n_estimators = args.n_estimators or (2 if quick else 5)
    cv = args.cv or (2 if quick else 3)
    records_path = args.records or records_path
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    start = time.perf_counter()
    records, channels, blame = run_learning_curve(
        sizes, events, seeds, difficulties, max_epochs=max_epochs, n_estimators=n_estimators,
        cv=cv, methods=args.methods, n_jobs=args.jobs, truth_ls=args.truth_ls,
        reliability_of=args.reliability_of,
    )  # fmt: skip
    if records_path is not None:
        records.to_csv(records_path, index=False)
        stem = str(records_path).removesuffix(".csv")
        if channels is not None:
            channels.to_csv(f"{stem}_channels.csv", index=False)
        if blame is not None:
            blame.to_csv(f"{stem}_blame.csv", index=False)
    header = (
        f"sizes {list(sizes)} LS x events {list(events)} x seeds {list(seeds)} x "
        f"{list(difficulties)}; held-out runs; {max_epochs} epochs; ensemble of {n_estimators}; "
        f"reliability with cv={cv} x 2 repeats; total {time.perf_counter() - start:.0f} s"
    )
    report(records, channels, blame, header)
    return records, channels, blame


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
