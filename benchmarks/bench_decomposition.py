"""Decomposition benchmark: which method tells *which channel* made a lumisection bad?

On the simulated detector (``channeldecomp.datasets.simulate_lumisections``), which knows in
which channels each fault is visible, every method learns the global label of the training runs
from ``LumiSectionPercentiles`` features (mapped to normal scores, ``--scaler``; unweighted
unless ``--sample-weight luminosity``) and is scored on held-out runs
(``model_selection.RunSplit``, stratified by fault mode; ``--split runs``: at random): the
global ROC AUC of P(good); per channel, the ROC AUC of its score against the channel's truth
(mean and worst channel); and that AUC among the globally bad LS only
(``bad_only_channel_auc``), where a global detector that flags every channel scores 0.5.

Methods (``make_fitters``): ``cdc`` (``ChannelDecompositionClassifier``), ``cdc-ensemble``
(``n_estimators=5`` networks, each on a bootstrap resample of the training runs),
``cdc-distilled`` (``DistilledChannelClassifier``: cdc's network, its blame distilled into
per-channel boosting, the two blended), ``cdc-ensemble-distilled`` (the same on
``cdc-ensemble``'s networks), ``cdc-paper``
(its paper preset), ``cdc-random`` (the paper's control: random groups of the channels' sizes, each
matched to the channel it finds best); from ``channeldecomp.baselines``: ``per-channel`` /
``per-channel-hgb`` (``PerChannelClassifier``, MLP / boosting), ``iforest``
(``PerChannelOneClassDetector``), ``mlp-attr`` (``MLPAttributionClassifier``),
``hgb-additive`` (``AdditiveBoostingClassifier``: its gap to ``hgb`` is the cost of no
interactions across channels); ``hgb`` (boosting, the accuracy ceiling) and ``oracle``
(``PerChannelClassifier`` fitted on the channel truth: the ceiling of the channel AUCs).

One table over seeds and difficulty levels gives the mean ± std over seeds, ``global - hgb``
(each seed's paired difference, against seed-to-seed noise) and the fit time relative to hgb; a
second pairs each method's mean channel AUC with cdc's, per-channel boosting's and the oracle's
on the same seeds (mean and range over seeds; with ``--fresh-ls``, on the fresh simulation too).

    python benchmarks/bench_decomposition.py            # 3 seeds x 2 difficulties
    python benchmarks/bench_decomposition.py --quick    # a fast smoke run
    python benchmarks/bench_decomposition.py --records fits.csv  # also every fit, in full
    python benchmarks/bench_decomposition.py --by-fault  # where does each method lose to hgb?
    python benchmarks/bench_decomposition.py --fresh-ls 8000  # also on 8,000 fresh LS
    python benchmarks/bench_decomposition.py --learning-curve [--quick]  # see _learning_curve.py
    python benchmarks/bench_decomposition.py --methods cdc hgb \
        --cdc-params '{"squared_inputs": false}'         # a setting against the defaults
    python benchmarks/bench_decomposition.py --methods per-channel-hgb oracle \
        --boosting-params '{"early_stopping": false}'    # the boosting baselines' settings
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest
from sklearn.exceptions import ConvergenceWarning, UndefinedMetricWarning
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import QuantileTransformer, StandardScaler

from channeldecomp import (
    ChannelDecompositionClassifier,
    DistilledChannelClassifier,
    LumiSectionPercentiles,
    metrics,
)
from channeldecomp.base import predict_good_proba, resolve_channels
from channeldecomp.baselines import (
    AdditiveBoostingClassifier,
    MLPAttributionClassifier,
    PerChannelClassifier,
    PerChannelOneClassDetector,
)
from channeldecomp.datasets import DETECTOR_CHANNELS, simulate_lumisections
from channeldecomp.model_selection import RunSplit, random_channel_partition

sys.path.insert(0, str(Path(__file__).parent))  # run as a script or loaded by file path
from _records import constant_channels, json_params, print_tables, records_path, short

logger = logging.getLogger("bench_decomposition")
METHODS = ("cdc", "cdc-ensemble", "cdc-distilled", "cdc-ensemble-distilled", "cdc-paper")
METHODS += ("cdc-random", "per-channel", "per-channel-hgb")
METHODS += ("iforest", "mlp-attr", "hgb-additive", "hgb", "oracle")
#: What runs without --methods: all but the ensembles (five fits of cdc each).
DEFAULT_METHODS = tuple(m for m in METHODS if m not in ("cdc-ensemble", "cdc-ensemble-distilled"))


# Cells of at least this many events (mean per LS x LS; 8,000 x 500 and 16,000 x 500) are
# simulated in blocks of BLOCK_SIZE LS, each turned into features before the next is drawn: one
# draw of 8,000,000 events needs more memory than 24 GB. Smaller cells keep one draw.
BLOCK_EVENTS, BLOCK_SIZE = 4_000_000, 1000


def simulated_features(n_ls, events, *, difficulty, seed):
    """``simulate_lumisections`` and its ``LumiSectionPercentiles`` features (LS x features)."""
    block_size = BLOCK_SIZE if n_ls * events >= BLOCK_EVENTS else None
    data = simulate_lumisections(
        n_ls, events, difficulty=difficulty, random_state=seed, block_size=block_size
    )
    features = LumiSectionPercentiles(lumisection_columns=False).set_output(transform="pandas")
    if block_size is None:
        return data, features.fit_transform(data.lumisections)
    # One block's events at a time: each block is simulated, featurised and dropped in turn.
    first = features.fit_transform(data.blocks[0])
    rest = [features.transform(data.blocks[i]) for i in range(1, len(data.blocks))]
    return data, pd.concat([first, *rest])


def make_split(
    difficulty, seed, n_ls, events, scaler="quantile", weights="none", split="stratified"
):
    """Simulate, build features, hold out whole runs (``RunSplit``), scale on the training runs."""
    data, X = simulated_features(n_ls, events, difficulty=difficulty, seed=seed)
    y, truth = np.asarray(data.y), data.channel_truth
    splitter = RunSplit(0.35, stratify=split == "stratified", random_state=seed)
    runs = data["keys"].get_level_values("run")
    train, test = next(splitter.split(X, y, runs, strata=data.fault_mode))
    # Per-LS statistics are heavy-tailed (a noisy cell sends a p99 far out): normal scores.
    # Seeded: above 10,000 training LS it estimates the quantiles on a random subsample.
    scale = QuantileTransformer(
        n_quantiles=min(1000, len(train)), output_distribution="normal", random_state=seed
    )
    scale = (scale if scaler == "quantile" else StandardScaler()).set_output(transform="pandas")
    X, modes = scale.fit(X.iloc[train]).transform(X), metrics.fault_mode_indicators(data.fault_mode)
    coverage = {"train": modes.iloc[train].sum(), "test": modes.iloc[test].sum()}
    return {
        "X_train": X.iloc[train],
        "X_test": X.iloc[test],
        "y_train": y[train],
        "y_test": y[test],
        "truth_train": truth.iloc[train].reset_index(drop=True),
        "truth_test": truth.iloc[test].reset_index(drop=True),
        "mode_coverage": pd.DataFrame(coverage),
        "fault_test": metrics.fault_labels(data.fault_mode.iloc[test], y[test]),
        "weight_train": np.asarray(data.luminosity)[train] if weights == "luminosity" else None,
        "scaler": scale,
    }


#: A cell's fresh simulation (``fresh_test_set``) draws from the seed plus this.
FRESH_SEED_OFFSET = 500_009


def fresh_test_set(split, n_ls, events, *, difficulty, seed):
    """A fresh simulation of the same detector (seed ``seed + FRESH_SEED_OFFSET``), scaled as
    the training runs of ``split``: held-out data of any size.

    A cell's own held-out runs are few at small sizes (two or three runs, 260-380 LS, at
    1,000 LS), so a model's true decomposition AUC on them rests on the faults of those runs;
    on ``n_ls`` fresh lumisections it is the model's, over every fault mode.

    Returns
    -------
    dict
        ``X`` (scaled features), ``y`` and ``truth`` (the channel truth, index ``0..n-1``).
    """
    data, X = simulated_features(n_ls, events, difficulty=difficulty, seed=seed + FRESH_SEED_OFFSET)
    return {
        "X": split["scaler"].transform(X),
        "y": np.asarray(data.y),
        "truth": data.channel_truth.reset_index(drop=True),
    }


def score_method(split, p_good, channel_scores, *, match_channels=False):
    """``metrics.decomposition_summary`` on the test runs (``match_channels``: random groups)."""
    with warnings.catch_warnings():  # a channel without a fault in the test: NaN, left out
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return metrics.decomposition_summary(
            split["y_test"], p_good, channel_scores, split["truth_test"], match=match_channels
        )


def fit_and_score(model, split, **fit_params):
    """Fit on the training runs; the test runs' P(good) (or global score), channel scores."""
    X_test = split["X_test"]
    model.fit(split["X_train"], split["y_train"], sample_weight=split["weight_train"], **fit_params)
    has_proba = hasattr(model, "predict_proba")
    p_good = predict_good_proba(model, X_test) if has_proba else model.score_samples(X_test)
    if not hasattr(model, "predict_channel_scores"):
        return p_good, None
    scores = model.predict_channel_scores(X_test)
    named = set(scores.columns) == set(DETECTOR_CHANNELS)  # random groups keep their order
    return p_good, (scores[list(DETECTOR_CHANNELS)] if named else scores).to_numpy()


def _fit_and_score_both(fitter, split, seed, fresh, *, match_channels=False):
    """``fitter(split, seed)``, and with a ``fresh`` set also its figures there (``fresh_*``).

    One fit: the model predicts the held-out runs and the fresh lumisections as one test set,
    cut apart again after.
    """
    if fresh is None:
        return *fitter(split, seed), {}
    n_test = len(split["y_test"])
    X_both = pd.concat([split["X_test"], fresh["X"]])
    p_good, channel_scores = fitter(split | {"X_test": X_both}, seed)
    held_out = None if channel_scores is None else channel_scores[:n_test]
    fresh_scores = None if channel_scores is None else channel_scores[n_test:]
    fresh_split = {"y_test": fresh["y"], "truth_test": fresh["truth"]}
    result = score_method(fresh_split, p_good[n_test:], fresh_scores, match_channels=match_channels)
    return p_good[:n_test], held_out, {f"fresh_{key}": value for key, value in result.items()}


def fit_cdc(split, seed, **params):
    model = ChannelDecompositionClassifier(channels="prefix", random_state=seed, **params)
    return fit_and_score(model, split)


#: Networks of ``cdc-ensemble`` and ``cdc-ensemble-distilled`` (unless ``--cdc-params`` say).
ENSEMBLE_SIZE = 5


def training_runs(split):
    """The run of each training lumisection: the ensembles' ``groups`` (bootstrap of runs)."""
    return split["X_train"].index.get_level_values("run")


def fit_cdc_ensemble(split, seed, **params):
    """``ENSEMBLE_SIZE`` networks (unless ``params`` say otherwise), with the training runs as
    groups: each network on a bootstrap resample of the runs."""
    params = {"n_estimators": ENSEMBLE_SIZE, **params}
    model = ChannelDecompositionClassifier(channels="prefix", random_state=seed, **params)
    return fit_and_score(model, split, groups=training_runs(split))


def make_cdc_distilled(seed, distill_params=None, **params):
    """``cdc-distilled``'s model, unfitted: ``DistilledChannelClassifier`` on cdc's network (the
    same seed: the same network as ``cdc``) and its default per-channel boosting, seeded;
    ``distill_params``: its own and its parts' (``blend``, ``estimator__max_iter``, ...)."""
    model = DistilledChannelClassifier(
        ChannelDecompositionClassifier(random_state=seed, **params),
        HistGradientBoostingClassifier(early_stopping=False, random_state=seed),
        channels="prefix",
    )
    return model.set_params(**(distill_params or {}))


def fit_cdc_distilled(split, seed, distill_params=None, **params):
    """``make_cdc_distilled``'s model, fitted and scored."""
    return fit_and_score(make_cdc_distilled(seed, distill_params, **params), split)


def fit_cdc_ensemble_distilled(split, seed, distill_params=None, **params):
    """``cdc-distilled`` on ``cdc-ensemble``'s networks: ``ENSEMBLE_SIZE`` (unless ``params``
    say otherwise), each on a bootstrap resample of the training runs, their blame distilled."""
    model = make_cdc_distilled(seed, distill_params, **{"n_estimators": ENSEMBLE_SIZE, **params})
    return fit_and_score(model, split, groups=training_runs(split))


def fit_cdc_random(split, seed, **params):
    """The classifier on random groups of the channels' sizes (column positions, plain arrays)."""
    X, X_test = split["X_train"], split["X_test"]
    indices = resolve_channels("prefix", X.shape[1], list(X.columns))
    sizes = [len(indices[c]) for c in DETECTOR_CHANNELS]
    groups = random_channel_partition(sizes, X.shape[1], seed)
    channels = {f"group{i}": group.tolist() for i, group in enumerate(groups)}
    model = ChannelDecompositionClassifier(channels=channels, random_state=seed, **params)
    return fit_and_score(model, split | {"X_train": X.to_numpy(), "X_test": X_test.to_numpy()})


def make_fitters(max_epochs, paper_epochs, cdc_params, distill_params=None, boosting_params=None):
    """Each method: ``(split, seed) -> (P(good), channel scores or None)`` on the test runs.

    ``boosting_params``: ``HistGradientBoostingClassifier`` parameters of the boosting baselines
    (``hgb``, ``per-channel-hgb``, ``hgb-additive``, ``oracle``; default: scikit-learn's).
    """

    def hgb(seed):  # on all features: the accuracy ceiling (global AUC only)
        return HistGradientBoostingClassifier(random_state=seed, **(boosting_params or {}))

    def paper(seed):  # the paper's preset, its epochs capped
        kwargs = {"channels": "prefix", "max_epochs": paper_epochs, "random_state": seed}
        return ChannelDecompositionClassifier.from_preset("paper", **kwargs)

    def mlp(seed):  # per channel, stopped at twice the network's epochs
        return MLPClassifier((64, 32), alpha=1e-3, max_iter=2 * max_epochs, random_state=seed)

    def forest(seed):  # per channel, on good LS only
        return IsolationForest(n_estimators=200, random_state=seed)

    models = {
        "cdc-paper": paper,
        "per-channel": lambda seed: PerChannelClassifier(mlp(seed)),
        "per-channel-hgb": lambda seed: PerChannelClassifier(hgb(seed)),
        "iforest": lambda seed: PerChannelOneClassDetector(forest(seed)),
        "mlp-attr": lambda seed: MLPAttributionClassifier(max_epochs=max_epochs, random_state=seed),
        "hgb-additive": lambda seed: AdditiveBoostingClassifier(hgb(seed)),
        "hgb": hgb,
    }
    fitters = {
        name: lambda split, seed, make=make: fit_and_score(make(seed), split)
        for name, make in models.items()
    }
    return fitters | {
        "cdc": lambda split, seed: fit_cdc(split, seed, **cdc_params),
        "cdc-ensemble": lambda split, seed: fit_cdc_ensemble(split, seed, **cdc_params),
        "cdc-random": lambda split, seed: fit_cdc_random(split, seed, **cdc_params),
        "cdc-distilled": lambda split, seed: fit_cdc_distilled(
            split, seed, distill_params, **cdc_params
        ),
        "cdc-ensemble-distilled": lambda split, seed: fit_cdc_ensemble_distilled(
            split, seed, distill_params, **cdc_params
        ),
        # Per-channel boosting on the training runs' channel truth: the channel AUCs' ceiling.
        "oracle": lambda split, seed: fit_and_score(
            PerChannelClassifier(hgb(seed)), split, channel_truth=split["truth_train"]
        ),
    }


def run_benchmark(
    seeds,
    difficulties,
    n_lumisections,
    events_per_lumisection,
    max_epochs,
    paper_epochs,
    methods,
    scaler="quantile",
    sample_weight="none",
    split_kind="stratified",
    cdc_params=None,
    by_fault=False,
    fresh_ls=None,
    distill_params=None,
    boosting_params=None,
):
    """Fit every method on every (difficulty, seed) split; one record per fit.

    ``cdc_params``: extra classifier parameters for ``cdc``, ``cdc-ensemble``, the
    distilled methods' networks and ``cdc-random``. ``by_fault``: each record also holds, per
    fault of the test's bad LS (``metrics.fault_labels``), the global AUC over them and the good
    LS (``auc[DT:dead_region]``) and their number (``n[...]``). ``fresh_ls``: each model is also
    scored on a fresh simulation of that many LS (``fresh_test_set``), the figures prefixed
    ``fresh_``. ``distill_params``: parameters of ``cdc-distilled``'s
    ``DistilledChannelClassifier`` and ``cdc-ensemble-distilled``'s (``blend``, ``threshold``,
    its parts' by name: ``estimator__max_iter``).
    ``boosting_params``: those of the boosting baselines (``make_fitters``).
    """
    cdc_params = {"max_epochs": max_epochs, **(cdc_params or {})}
    fitters = make_fitters(max_epochs, paper_epochs, cdc_params, distill_params, boosting_params)
    records = []
    sizes = (n_lumisections, events_per_lumisection, scaler, sample_weight, split_kind)
    for difficulty, seed in itertools.product(difficulties, seeds):
        start, cell = time.perf_counter(), {"difficulty": difficulty, "seed": seed}
        split = make_split(difficulty, seed, *sizes)
        shape = (len(split["y_train"]), len(split["y_test"]), split["X_train"].shape[1])
        info = "difficulty %s seed %d: %d train / %d test LS, %d features (%.1f s)"
        logger.info(info, difficulty, seed, *shape, time.perf_counter() - start)
        coverage = split["mode_coverage"]
        scarce = coverage[coverage["train"] < 0.1 * coverage.sum(axis=1)].iterrows()
        if scarce := [f"{m} ({r.train} of {r.train + r.test})" for m, r in scarce]:
            info = "  fault modes with under 10%% of their LS in training: %s"
            logger.info(info, ", ".join(scarce))
        fresh = None
        if fresh_ls:
            fresh = fresh_test_set(split, fresh_ls, events_per_lumisection, **cell)
            logger.info("  fresh simulation: %d LS", len(fresh["y"]))
        for method in methods:
            random_groups = method == "cdc-random"  # scored by matching groups to channels
            start = time.perf_counter()
            with warnings.catch_warnings():  # per-channel MLPs stop at their epoch cap
                warnings.simplefilter("ignore", ConvergenceWarning)
                p_good, channel_scores, fresh_result = _fit_and_score_both(
                    fitters[method], split, seed, fresh, match_channels=random_groups
                )
            elapsed = time.perf_counter() - start
            result = score_method(split, p_good, channel_scores, match_channels=random_groups)
            record = {"difficulty": difficulty, "seed": seed, "method": method, "fit_s": elapsed}
            records.append(record | result | fresh_result)
            if by_fault:
                faults = metrics.global_auc_by_fault(split["y_test"], p_good, split["fault_test"])
                for label, (auc, n) in faults.iterrows():
                    records[-1] |= {f"auc[{label}]": auc, f"n[{label}]": int(n)}
            logger.info("  %-12s %s (%.1f s)", method, short(result), elapsed)
            constant = [] if random_groups else constant_channels(channel_scores, DETECTOR_CHANNELS)
            if constant:
                info = "  %-12s constant score (no information, AUC 0.5) for: %s"
                logger.info(info, method, ", ".join(constant))
    return pd.DataFrame(records)


CHOICES = {
    "--scaler": ["quantile", "standard"],
    "--sample-weight": ["none", "luminosity"],
    "--split": ["stratified", "runs"],
}
HELP = {
    "--sample-weight": "training weights of every method (default: none; the scores weigh LS "
    "equally)",
    "--split": "held-out runs stratified by fault mode (default), or runs at random",
    "--cdc-params": "extra ChannelDecompositionClassifier parameters for cdc, cdc-ensemble, "
    "the distilled methods' networks and cdc-random, e.g. '{\"squared_inputs\": false}'",
    "--distill-params": "DistilledChannelClassifier parameters of cdc-distilled and "
    "cdc-ensemble-distilled, its parts' by name too, e.g. '{\"blend\": 0.3}' or "
    '\'{"estimator__early_stopping": "auto"}\'',
    "--boosting-params": "extra HistGradientBoostingClassifier parameters of the boosting "
    "baselines (hgb, per-channel-hgb, hgb-additive, oracle), e.g. '{\"early_stopping\": false}' "
    "(cdc-distilled's own boosting is its default)",
    "--records": "also write one row per fit (difficulty, seed, method, fit time, every metric "
    "at full precision) to this CSV file",
    "--by-fault": "also break the global AUC down by fault mode, and each method's global - hgb "
    "into one term per fault mode (where does a method lose to hgb?)",
    "--fresh-ls": "also score every model on a fresh simulation of N lumisections of the same "
    "detector (columns fresh_*; the held-out runs are a few at small sizes)",
    "--learning-curve": "sizes x events x seeds x difficulties, and channel_reliability against "
    "truth (_learning_curve.py; --quick: a smoke grid)",
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="a fast smoke run")
    add("--seeds", type=int, nargs="+")
    add("--difficulties", nargs="+")
    for flag in ("--n-lumisections", "--events-per-lumisection", "--max-epochs", "--paper-epochs"):
        add(flag, type=int)
    add("--methods", nargs="+", default=list(DEFAULT_METHODS), choices=METHODS,
        help="default: all but the ensembles")  # fmt: skip
    for flag, choices in CHOICES.items():  # the first choice is the default
        add(flag, choices=choices, default=choices[0], help=HELP.get(flag))
    add("--cdc-params", type=json_params, default={}, metavar="JSON", help=HELP["--cdc-params"])
    add("--distill-params", type=json_params, default={}, metavar="JSON",
        help=HELP["--distill-params"])  # fmt: skip
    add("--boosting-params", type=json_params, default={}, metavar="JSON",
        help=HELP["--boosting-params"])  # fmt: skip
    add("--records", type=records_path, metavar="CSV", help=HELP["--records"])
    add("--by-fault", action="store_true", help=HELP["--by-fault"])
    add("--quiet", action="store_true", help="print only the table(s)")
    add("--fresh-ls", type=int, metavar="N", help=HELP["--fresh-ls"])
    add("--learning-curve", action="store_true", help=HELP["--learning-curve"])
    args = parser.parse_args(argv)
    if args.learning_curve:
        from _learning_curve import main as learning_curve

        options = {"seeds": args.seeds, "difficulties": args.difficulties, "quick": args.quick}
        return learning_curve(max_epochs=args.max_epochs, records_path=args.records, **options)
    quick = args.quick
    seeds = args.seeds or ([0] if quick else [0, 1, 2])
    difficulties = args.difficulties or (["default"] if quick else ["default", "hard"])
    difficulties = [float(d) if d.replace(".", "", 1).isdigit() else d for d in difficulties]
    n_ls = args.n_lumisections or (300 if quick else 6000)
    events = args.events_per_lumisection or (100 if quick else 500)
    max_epochs = args.max_epochs or (5 if quick else 40)
    paper_epochs = args.paper_epochs or (5 if quick else 200)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    start, settings = time.perf_counter(), (args.scaler, args.sample_weight, args.split)
    sizes = (seeds, difficulties, n_ls, events, max_epochs, paper_epochs, args.methods)
    options = {"by_fault": args.by_fault, "fresh_ls": args.fresh_ls}
    options["distill_params"] = args.distill_params
    options["boosting_params"] = args.boosting_params
    records = run_benchmark(*sizes, *settings, args.cdc_params, **options)
    if args.records is not None:
        records.to_csv(args.records, index=False)
    held_out = "stratified by fault mode" if args.split == "stratified" else "at random"
    cdc_params = "".join(f", {name}={value!r}" for name, value in args.cdc_params.items())
    print(
        f"\nDecomposition benchmark: {len(seeds)} seed(s) x {len(difficulties)} difficulty "
        f"level(s); {n_ls} LS x {events} events; held-out runs ({held_out}); {args.scaler} "
        f"scaling; sample weights: {args.sample_weight}; cdc/cdc-random {max_epochs} "
        f"epochs{cdc_params}, cdc-paper {paper_epochs} epochs; "
        + (f"cdc-distilled {args.distill_params}; " if args.distill_params else "")
        + (f"boosting {args.boosting_params}; " if args.boosting_params else "")
        + (f"fresh_*: on {args.fresh_ls} fresh LS; " if args.fresh_ls else "")
        + "mean ± std over seeds; "
        f"total {time.perf_counter() - start:.0f} s\n"
    )
    print_tables(records, by_fault=args.by_fault)
    return records


if __name__ == "__main__":
    main()
