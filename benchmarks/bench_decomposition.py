"""Decomposition benchmark: which method tells *which channel* made a lumisection bad?

On the simulated detector (``channeldecomp.datasets.simulate_lumisections``), where the truth of
which channels each fault is visible in is known, every method is trained on the global label
only and scored on held-out runs (about a third of the LS; by default the runs are dealt so
that every fault mode is seen both in training and in the test, ``--split runs`` deals them at
random, see ``split_runs``):

- global ROC AUC of P(good) against the global label;
- per channel, ROC AUC of the channel's score (high = the channel looks good) against
  ``channel_truth`` (1 = no fault visible in that channel); the table gives the mean over the
  four channels and the worst channel;
- the same per-channel AUC over the globally bad LS only, averaged over channels
  (``bad_only_channel_auc``): it asks only *which* channel is bad, so a global detector that
  flags every bad LS in every channel scores 0.5 there, while it scores well on the AUC over
  all LS.

Methods (all fitted on the same ``LumiSectionPercentiles`` features, mapped to normal scores by
a QuantileTransformer fitted on the training runs; ``--scaler standard`` uses StandardScaler).
Every LS counts once in the scores, so by default every method trains unweighted;
``--sample-weight luminosity`` gives every method that takes weights the paper's luminosity
weights (all of them, so the comparison stays fair):

- ``cdc``: ``ChannelDecompositionClassifier`` with its defaults;
- ``cdc-paper``: the paper's configuration (``from_preset("paper")``; its epoch count is capped
  by ``--paper-epochs`` to keep the run short);
- ``cdc-random``: the paper's control, the same model with the columns split at random into
  groups of the same sizes as the channels (each random group is matched to the channel it
  scores best on, which favours the control);
- ``per-channel``: independent per-channel MLPs trained on the global label, no Fuzzy AND
  (global score: the product of their P(good));
- ``per-channel-hgb``: the same with HistGradientBoosting per channel;
- ``iforest``: per-channel IsolationForest trained on good LS only (unsupervised);
- ``mlp-attr``: one MLP on all features, per-channel score = minus the gradient x input
  attribution (towards "bad") summed over the channel's columns;
- ``hgb-additive``: HistGradientBoosting on all features with one interaction constraint per
  channel (``interaction_cst``), so every tree splits on one channel's columns only and the
  logit is a sum of one function per channel, trained jointly on the global label: a decomposed
  model of the boosting family. A channel's score is its exact term of that sum, up to a
  constant (see ``channel_contributions``). Its global AUC against ``hgb``'s is the cost of
  giving up interactions across channels, for boosting;
- ``hgb``: HistGradientBoosting on all features: global AUC only (the accuracy ceiling);
- ``oracle``: not a method: HistGradientBoosting per channel trained on the *per-channel truth*
  of the training runs (global score: the product of the channels' P(good)). It shows how much
  of each channel's truth its features reveal at all, the ceiling of the channel AUCs.

Over several seeds and difficulty levels, all in one run, it prints one table: mean (and
standard deviation over seeds) of each metric, the global AUC relative to ``hgb`` (each seed's
difference on the same split, mean and standard deviation over seeds, so a gap can be read
against seed-to-seed noise) and the fit time relative to ``hgb``, both measured in the same
process.

    python benchmarks/bench_decomposition.py            # 3 seeds x 2 difficulties
    python benchmarks/bench_decomposition.py --quick    # a fast smoke run
    python benchmarks/bench_decomposition.py --records fits.csv  # also every fit, in full
    python benchmarks/bench_decomposition.py --by-fault  # where does each method lose to hgb?
    python benchmarks/bench_decomposition.py --methods cdc hgb \
        --cdc-params '{"squared_inputs": false}'         # a setting against the defaults
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import QuantileTransformer, StandardScaler

from channeldecomp import LumiSectionPercentiles
from channeldecomp.base import resolve_channels
from channeldecomp.datasets import DETECTOR_CHANNELS, simulate_lumisections
from channeldecomp.model_selection import random_channel_partition as channel_sizes_partition

logger = logging.getLogger("bench_decomposition")

METHODS = (
    "cdc",
    "cdc-paper",
    "cdc-random",
    "per-channel",
    "per-channel-hgb",
    "iforest",
    "mlp-attr",
    "hgb-additive",
    "hgb",
    "oracle",
)


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def make_split(
    difficulty,
    seed,
    n_lumisections,
    events_per_lumisection,
    scaler="quantile",
    test_fraction=0.35,
    sample_weight="none",
    split="stratified",
):
    """Simulate, build features, and split by run (a fault episode never spans two runs).

    ``sample_weight``: ``"none"`` or ``"luminosity"``, the training weights of every method.
    ``split``: ``"stratified"`` or ``"runs"``, see :func:`split_runs`.
    """
    data = simulate_lumisections(
        n_lumisections, events_per_lumisection, difficulty=difficulty, random_state=seed
    )
    features = LumiSectionPercentiles(lumisection_columns=False).set_output(transform="pandas")
    X = features.fit_transform(data.lumisections)
    runs = data["keys"].get_level_values("run").to_numpy()
    y = np.asarray(data.y)
    truth = data.channel_truth.to_numpy()
    test = split_runs(
        runs, data.fault_mode, test_fraction, seed, stratify=split == "stratified", y=y
    )
    if scaler == "quantile":
        # Per-LS statistics are heavy-tailed (a noisy cell sends a p99 far out): map each
        # column to a normal distribution, fitted on the training runs only.
        scaler = QuantileTransformer(
            n_quantiles=min(1000, int((~test).sum())), output_distribution="normal"
        )
    else:
        scaler = StandardScaler()
    X = scaler.set_output(transform="pandas").fit(X[~test]).transform(X)
    return {
        "X_train": X[~test],
        "X_test": X[test],
        "y_train": y[~test],
        "y_test": y[test],
        "truth_train": pd.DataFrame(truth[~test], columns=data.channel_truth.columns),
        "truth_test": pd.DataFrame(truth[test], columns=data.channel_truth.columns),
        "mode_coverage": mode_coverage(data.fault_mode, test),
        "fault_test": fault_labels(data.fault_mode[test], y[test]),
        "weight_train": np.asarray(data.luminosity)[~test]
        if sample_weight == "luminosity"
        else None,
    }


def split_runs(runs, fault_mode, test_fraction, seed, *, stratify=True, y=None):
    """Return the boolean test mask of a split by whole runs.

    With ``stratify`` (the default of the benchmark), runs are dealt to the folds of a
    ``StratifiedGroupKFold`` with ``round(1 / test_fraction)`` folds and the first fold is the
    test set: each LS is labelled by its rarest fault mode (``"DT:dead_region"``, ...; good LS
    by ``""``), so every fault mode with episodes in several runs is seen in training and in
    the test alike. A plain split of some fifty runs can otherwise put nearly all of a mode
    into the test set (on seed 0, 92 of the 96 LS of a dead region in the barrel muon
    chambers), which turns the global AUC into a test of faults hardly trained on. Without
    ``stratify``, whole runs in random order go to the test set until it holds about
    ``test_fraction`` of the LS. With fewer runs than folds (tiny smoke runs), or when the
    global labels ``y`` are given and one half lacks a class, the LS are dealt at random one by
    one.
    """
    runs = np.asarray(runs)
    n_splits = max(2, round(1 / test_fraction))
    if not stratify:
        unique_runs = np.random.default_rng(seed).permutation(np.unique(runs))
        sizes = pd.Series(runs).value_counts()
        target = test_fraction * len(runs)
        test_runs, n_test = [], 0
        for run in unique_runs:
            if n_test + sizes[run] <= target + 0.05 * len(runs):
                test_runs.append(run)
                n_test += sizes[run]
        test = np.isin(runs, test_runs)
    elif len(np.unique(runs)) >= n_splits:
        modes = fault_mode_indicators(fault_mode)
        label = np.full(len(runs), "")
        if modes.shape[1]:  # the rarest mode of each LS
            label = np.where(modes.any(axis=1), (modes / modes.sum()).idxmax(axis=1), "")
        cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        with warnings.catch_warnings():
            # A mode seen in fewer LS than folds is expected (short episodes).
            warnings.filterwarnings("ignore", message="The least populated class")
            _, test_index = next(cv.split(np.zeros(len(runs)), label, runs))
        test = np.zeros(len(runs), dtype=bool)
        test[test_index] = True
    else:
        test = None
    if test is None or (
        y is not None and (len(np.unique(y[test])) < 2 or len(np.unique(y[~test])) < 2)
    ):
        test = np.random.default_rng(seed).random(len(runs)) < test_fraction
    return test


def fault_mode_indicators(fault_mode):
    """One boolean column per fault mode present, ``"subsystem:mode"``: the LS it hits."""
    return pd.DataFrame(
        {
            f"{subsystem}:{mode}": (fault_mode[subsystem] == mode).to_numpy()
            for subsystem in fault_mode.columns
            for mode in sorted(set(fault_mode[subsystem]) - {""})
        },
        index=range(len(fault_mode)),
    )


def fault_labels(fault_mode, y):
    """Each LS's fault, to break the global AUC down by fault.

    A bad LS (``y == 0``) hit by one fault mode gets its name (``"DT:dead_region"``), one hit
    by several gets ``"several faults"``, one hit by none (a flipped label) gets
    ``"no fault (label noise)"``; a good LS gets ``""``. The labels of the bad LS partition
    them, so :func:`global_auc_by_fault` adds up exactly to the global AUC.
    """
    modes = fault_mode_indicators(fault_mode)
    n_faults = modes.sum(axis=1).to_numpy()
    single = modes.idxmax(axis=1).to_numpy() if modes.shape[1] else np.full(len(modes), "")
    label = np.where(
        n_faults == 1,
        single,
        np.where(n_faults > 1, "several faults", "no fault (label noise)"),
    )
    return np.where(np.asarray(y) == 1, "", label).astype(object)


def global_auc_by_fault(y, p_good, labels):
    """Per fault label of the bad LS: ``(AUC, n)``, the ROC AUC of P(good) of its ``n`` bad LS
    against all good LS.

    The global AUC is the mean over bad LS of the fraction of good LS ranked above each, so
    it is exactly ``sum(n * AUC) / n_bad`` over the labels: a gap in global AUC between two
    methods splits into one term per fault, ``n * (AUC_a - AUC_b) / n_bad``.
    """
    y, p_good, labels = np.asarray(y), np.asarray(p_good), np.asarray(labels)
    good = y == 1
    result = {}
    for label in sorted(set(labels[~good])):
        bad = labels == label
        rows = good | bad
        result[label] = (_auc(y[rows], p_good[rows]), int(bad.sum()))
    return result


def mode_coverage(fault_mode, test):
    """LS per fault mode (``"subsystem:mode"``) in the training and the test runs."""
    modes = fault_mode_indicators(fault_mode)
    return pd.DataFrame({"train": modes[~test].sum(), "test": modes[test].sum()})


# ---------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------


def _auc(target, score):
    target = np.asarray(target)
    if len(np.unique(target)) < 2:
        return np.nan
    return roc_auc_score(target, score)


def score_method(split, p_good, channel_scores, *, match_channels=False):
    """Global AUC; mean and worst per-channel AUC against the truth; the same among bad LS.

    The per-channel AUC over all LS rewards a plain global detector too (most LS that are good
    in a channel are globally good), so the table also gives the mean per-channel AUC over the
    globally bad LS only: there a score must tell *which* channel is bad, and a global detector
    scores 0.5.
    """
    result = {"global_auc": _auc(split["y_test"], p_good)}
    if channel_scores is None:
        for name in ("mean_channel_auc", "worst_channel_auc", "bad_only_channel_auc"):
            result[name] = np.nan
        return result
    truth = split["truth_test"]
    bad = np.asarray(split["y_test"]) == 0
    scores = np.asarray(channel_scores, dtype=float)
    if match_channels:
        # Random groups have no channel: give each channel the group that scores best on it.
        from scipy.optimize import linear_sum_assignment

        table = np.array(
            [[_auc(truth[c], scores[:, g]) for g in range(scores.shape[1])] for c in truth]
        )
        _, groups = linear_sum_assignment(-np.nan_to_num(table, nan=0.5))
    else:
        groups = np.arange(truth.shape[1])
    aucs = np.array([_auc(truth[c], scores[:, g]) for c, g in zip(truth, groups)])
    bad_only = np.array(
        [_auc(truth[c].to_numpy()[bad], scores[bad, g]) for c, g in zip(truth, groups)]
    )
    result["mean_channel_auc"] = float(np.nanmean(aucs))
    result["worst_channel_auc"] = float(np.nanmin(aucs))
    result["bad_only_channel_auc"] = float(np.nanmean(bad_only))
    return result


def _channel_indices(X):
    indices = resolve_channels("prefix", X.shape[1], list(X.columns))
    return {c: indices[c] for c in DETECTOR_CHANNELS}


# ---------------------------------------------------------------------------------------------
# Methods: each returns (P(good) on the test set, channel scores on the test set or None)
# ---------------------------------------------------------------------------------------------


def fit_cdc(split, seed, **params):
    from channeldecomp import ChannelDecompositionClassifier

    model = ChannelDecompositionClassifier(channels="prefix", random_state=seed, **params)
    return _fit_and_score_cdc(model, split)


def fit_cdc_paper(split, seed, max_epochs):
    from channeldecomp import ChannelDecompositionClassifier

    model = ChannelDecompositionClassifier.from_preset(
        "paper", channels="prefix", max_epochs=max_epochs, random_state=seed
    )
    return _fit_and_score_cdc(model, split)


def fit_cdc_random(split, seed, **params):
    from channeldecomp import ChannelDecompositionClassifier

    X_train = split["X_train"]
    sizes = [len(v) for v in _channel_indices(X_train).values()]
    groups = channel_sizes_partition(sizes, X_train.shape[1], seed)
    channels = {f"group{i}": g.tolist() for i, g in enumerate(groups)}
    model = ChannelDecompositionClassifier(channels=channels, random_state=seed, **params)
    return _fit_and_score_cdc(model, split, names=False)


def _fit_and_score_cdc(model, split, names=True):
    X_train, X_test = split["X_train"], split["X_test"]
    if not names:
        X_train, X_test = X_train.to_numpy(), X_test.to_numpy()
    model.fit(X_train, split["y_train"], sample_weight=split["weight_train"])
    good_column = list(model.classes_).index(1)
    p_good = model.predict_proba(X_test)[:, good_column]
    scores = model.predict_channel_scores(X_test)
    if names:
        scores = scores[list(DETECTOR_CHANNELS)]
    return p_good, scores.to_numpy()


def _per_channel(split, make_model, target="global"):
    """One classifier per channel, on the global label or on the channel's own truth.

    Returns the product of the channels' P(good) and the per-channel P(good).
    """
    X_train, X_test = split["X_train"].to_numpy(), split["X_test"].to_numpy()
    scores = []
    for channel, indices in _channel_indices(split["X_train"]).items():
        y = split["y_train"] if target == "global" else split["truth_train"][channel].to_numpy()
        if len(np.unique(y)) < 2:  # a tiny run may see no fault in a channel
            scores.append(np.full(len(X_test), float(y[0])))
            continue
        model = make_model()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MLP convergence warnings at the epoch cap
            model.fit(X_train[:, indices], y, sample_weight=split["weight_train"])
        scores.append(model.predict_proba(X_test[:, indices])[:, list(model.classes_).index(1)])
    scores = np.column_stack(scores)
    return np.prod(scores, axis=1), scores


def fit_per_channel(split, seed, max_iter):
    """Independent per-channel MLPs on the global label."""
    return _per_channel(
        split,
        lambda: MLPClassifier(
            hidden_layer_sizes=(64, 32),
            alpha=1e-3,
            max_iter=max_iter,
            early_stopping=False,
            random_state=seed,
        ),
    )


def fit_per_channel_hgb(split, seed, target="global"):
    """HistGradientBoosting per channel on the global label, or on the channel truth."""
    return _per_channel(split, lambda: HistGradientBoostingClassifier(random_state=seed), target)


def fit_iforest(split, seed):
    channel_indices = _channel_indices(split["X_train"])
    X_train, X_test = split["X_train"].to_numpy(), split["X_test"].to_numpy()
    good = split["y_train"] == 1
    X_good = X_train[good]
    weight = None if split["weight_train"] is None else split["weight_train"][good]
    scores = []
    for indices in channel_indices.values():
        forest = IsolationForest(n_estimators=200, random_state=seed)
        forest.fit(X_good[:, indices], sample_weight=weight)
        reference = forest.score_samples(X_good[:, indices])
        # Standardize on good training LS so channels combine on one scale.
        score = forest.score_samples(X_test[:, indices])
        scores.append((score - reference.mean()) / reference.std())
    scores = np.column_stack(scores)
    return scores.min(axis=1), scores


def fit_mlp_attribution(split, seed, max_epochs):
    import torch

    channel_indices = _channel_indices(split["X_train"])
    X_train = torch.tensor(split["X_train"].to_numpy(dtype=np.float32))
    X_test = torch.tensor(split["X_test"].to_numpy(dtype=np.float32))
    # Target 1 = bad, so the attribution points towards "bad".
    y_bad = torch.as_tensor(1 - split["y_train"], dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    weight = split["weight_train"]
    weight = torch.ones(len(y_bad)) if weight is None else torch.as_tensor(weight).float()
    positive = float((weight * y_bad).sum() / weight.sum())
    pos_weight = torch.tensor((1 - positive) / max(positive, 1e-6))
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight, reduction="none")
    n = X_train.shape[0]
    # Initial weights and dropout masks come from torch's global generator: seeded here, so
    # the result does not depend on what ran before in the process (other methods, seeds).
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = torch.nn.Sequential(
            torch.nn.Linear(X_train.shape[1], 128),
            torch.nn.ReLU(),
            torch.nn.Dropout(0.2),
            torch.nn.Linear(128, 64),
            torch.nn.ReLU(),
            torch.nn.Linear(64, 1),
        )
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
        net.train()
        for _ in range(max_epochs):
            order = torch.randperm(n, generator=generator)
            for start in range(0, n, 64):
                batch = order[start : start + 64]
                optimizer.zero_grad()
                losses = loss_fn(net(X_train[batch]).squeeze(1), y_bad[batch])
                loss = (losses * weight[batch]).mean()
                loss.backward()
                optimizer.step()
    net.eval()
    inputs = X_test.clone().requires_grad_(True)
    logit_bad = net(inputs).squeeze(1)
    (gradient,) = torch.autograd.grad(logit_bad.sum(), inputs)
    attribution = (gradient * inputs).detach().numpy()
    p_good = torch.sigmoid(-logit_bad).detach().numpy()
    scores = np.column_stack(
        [-attribution[:, indices].sum(axis=1) for indices in channel_indices.values()]
    )
    return p_good, scores


def channel_contributions(model, X, channel_indices, reference):
    """Each channel's term of an additive-over-channels boosting model, up to a constant.

    With one interaction constraint per channel, the decision function is
    ``F(x) = b + sum_c f_c(x_c)``. Evaluating ``F`` on rows whose other channels' columns are
    held at ``reference`` gives ``f_c(x_c) - f_c(reference_c)`` exactly, through the public
    ``decision_function``: the columns sum to ``F(X) - F(reference)``. High = the channel
    pushes towards the larger class (good, in this benchmark).
    """
    base = model.decision_function(reference[None, :])[0]
    scores = []
    for indices in channel_indices:
        rows = np.repeat(reference[None, :], len(X), axis=0)
        rows[:, indices] = X[:, indices]
        scores.append(model.decision_function(rows) - base)
    return np.column_stack(scores)


def fit_hgb_additive(split, seed):
    """HistGradientBoosting with no interaction across channels; scores: the channel terms."""
    channel_indices = list(_channel_indices(split["X_train"]).values())
    X_train, X_test = split["X_train"].to_numpy(), split["X_test"].to_numpy()
    model = HistGradientBoostingClassifier(
        random_state=seed, interaction_cst=[list(indices) for indices in channel_indices]
    )
    model.fit(X_train, split["y_train"], sample_weight=split["weight_train"])
    p_good = model.predict_proba(X_test)[:, 1]
    reference = np.median(X_train, axis=0)
    return p_good, channel_contributions(model, X_test, channel_indices, reference)


def fit_hgb(split, seed):
    model = HistGradientBoostingClassifier(random_state=seed)
    model.fit(split["X_train"].to_numpy(), split["y_train"], sample_weight=split["weight_train"])
    return model.predict_proba(split["X_test"].to_numpy())[:, 1], None


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------


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
):
    """Fit every method on every (difficulty, seed) split; one record per fit.

    ``cdc_params``: extra ``ChannelDecompositionClassifier`` parameters for ``cdc`` and
    ``cdc-random`` (to compare a setting against the defaults). ``by_fault``: each record also
    holds, per fault label of the test's bad LS (:func:`fault_labels`), the global AUC over
    them and the good LS (``auc[DT:dead_region]``) and their number (``n[DT:dead_region]``),
    see :func:`summarize_by_fault`.
    """
    cdc_params = {"max_epochs": max_epochs, **(cdc_params or {})}
    fitters = {
        "cdc": lambda split, seed: fit_cdc(split, seed, **cdc_params),
        "cdc-paper": lambda split, seed: fit_cdc_paper(split, seed, paper_epochs),
        "cdc-random": lambda split, seed: fit_cdc_random(split, seed, **cdc_params),
        "per-channel": lambda split, seed: fit_per_channel(split, seed, max_iter=max_epochs * 2),
        "per-channel-hgb": fit_per_channel_hgb,
        "iforest": fit_iforest,
        "mlp-attr": lambda split, seed: fit_mlp_attribution(split, seed, max_epochs),
        "hgb-additive": fit_hgb_additive,
        "hgb": fit_hgb,
        "oracle": lambda split, seed: fit_per_channel_hgb(split, seed, target="truth"),
    }
    records = []
    for difficulty, seed in itertools.product(difficulties, seeds):
        start = time.perf_counter()
        split = make_split(
            difficulty,
            seed,
            n_lumisections,
            events_per_lumisection,
            scaler,
            sample_weight=sample_weight,
            split=split_kind,
        )
        logger.info(
            "difficulty %s seed %d: %d train / %d test LS, %d features (%.1f s)",
            difficulty,
            seed,
            len(split["y_train"]),
            len(split["y_test"]),
            split["X_train"].shape[1],
            time.perf_counter() - start,
        )
        coverage = split["mode_coverage"]
        scarce = coverage[coverage["train"] < 0.1 * coverage.sum(axis=1)]
        if len(scarce):
            logger.info(
                "  fault modes with under 10%% of their LS in training: %s",
                ", ".join(f"{m} ({r.train} of {r.train + r.test})" for m, r in scarce.iterrows()),
            )
        for method in methods:
            # cdc-random's score columns are random groups, matched to channels when scored.
            random_groups = method == "cdc-random"
            start = time.perf_counter()
            p_good, channel_scores = fitters[method](split, seed)
            elapsed = time.perf_counter() - start
            result = score_method(split, p_good, channel_scores, match_channels=random_groups)
            record = {"difficulty": difficulty, "seed": seed, "method": method, "fit_s": elapsed}
            record |= result
            if by_fault:
                faults = global_auc_by_fault(split["y_test"], p_good, split["fault_test"])
                for label, (auc, n) in faults.items():
                    record |= {f"auc[{label}]": auc, f"n[{label}]": n}
            records.append(record)
            logger.info("  %-12s %s (%.1f s)", method, _short(result), elapsed)
            # Score columns pair with the truth's columns in order, as in score_method.
            channels = split["truth_test"].columns
            constant = [] if random_groups else constant_channels(channel_scores, channels)
            if constant:
                logger.info(
                    "  %-12s constant score (no information, AUC 0.5) for: %s",
                    method,
                    ", ".join(constant),
                )
    return pd.DataFrame(records)


def constant_channels(channel_scores, channels):
    """The channels whose score is the same on every test LS (a method that never used them)."""
    if channel_scores is None:
        return []
    scores = np.asarray(channel_scores, dtype=float)
    return [c for c, column in zip(channels, scores.T) if np.ptp(column) == 0]


def _short(result):
    return " ".join(f"{k}={v:.3f}" for k, v in result.items())


def summarize(records):
    """One table: mean ± std over seeds of each metric; when ``hgb`` ran, comparisons with it.

    ``global - hgb`` is the mean ± std over seeds of each seed's difference from ``hgb`` on the
    same split; ``time / hgb`` the mean ratio of fit times.
    """
    reference = records[records["method"] == "hgb"].set_index(["difficulty", "seed"])
    if not reference.empty:
        records = records.join(
            reference[["global_auc", "fit_s"]].rename(
                columns={"global_auc": "hgb_auc", "fit_s": "hgb_fit_s"}
            ),
            on=["difficulty", "seed"],
        )
        records["global_vs_hgb"] = records["global_auc"] - records["hgb_auc"]
        records["time_vs_hgb"] = records["fit_s"] / records["hgb_fit_s"]
    grouped = records.groupby(["difficulty", "method"], sort=False)

    def mean_std(column, sign=""):
        mean, std = grouped[column].mean(), grouped[column].std(ddof=0)
        return ["-" if np.isnan(m) else f"{m:{sign}.3f} ± {s:.3f}" for m, s in zip(mean, std)]

    metrics = ["global_auc", "mean_channel_auc", "worst_channel_auc", "bad_only_channel_auc"]
    table = pd.DataFrame(
        {metric: mean_std(metric) for metric in metrics}, index=grouped.size().index
    )
    if not reference.empty:
        # The difference is paired by seed (same split), so its spread is not that of
        # global_auc: it says whether a gap is larger than seed-to-seed noise.
        table["global - hgb"] = mean_std("global_vs_hgb", sign="+")
        table["time / hgb"] = grouped["time_vs_hgb"].mean().map(lambda v: f"{v:.1f}x")
    return table


def summarize_by_fault(records):
    """Two tables from the ``by_fault`` records, one row per (difficulty, fault label).

    The first gives the number of bad test LS with the label (summed over seeds) and each
    method's global AUC over them and the good LS (mean over the seeds whose test holds the
    label). The second, when ``hgb`` ran, splits each method's ``global - hgb`` into one term
    per label, ``n * (AUC - AUC_hgb) / n_bad`` (mean over seeds, a missing label counting 0):
    each column adds up to the method's ``global - hgb`` of :func:`summarize` (row ``total``).
    """
    labels = [c[4:-1] for c in records.columns if c.startswith("auc[")]
    if not labels:
        raise ValueError(
            "the records hold no per-fault columns ('auc[...]'); run the benchmark with "
            "by_fault=True (--by-fault)"
        )
    keys = ["difficulty", "seed", "method"]
    # One row per (record, label); a label absent from a seed's test has n = 0 there.
    long = pd.concat(
        [
            records[keys].assign(
                fault=label, auc=records[f"auc[{label}]"], n=records[f"n[{label}]"].fillna(0)
            )
            for label in labels
        ],
        ignore_index=True,
    )
    methods = list(dict.fromkeys(records["method"]))
    # Rows: difficulties in the order run, the faults in each one's tests by name (``total``
    # last). A fault seen at one difficulty only gets no empty row at the other.
    faults = {
        difficulty: sorted(
            set(long.loc[(long["difficulty"] == difficulty) & (long["n"] > 0), "fault"])
        )
        for difficulty in dict.fromkeys(records["difficulty"])
    }

    def rows(extra=()):
        return pd.MultiIndex.from_tuples(
            [(d, fault) for d, names in faults.items() for fault in [*names, *extra]],
            names=["difficulty", "fault"],
        )

    index = rows()
    by_row = ["difficulty", "fault", "method"]
    counts = (
        long[long["method"] == methods[0]].groupby(["difficulty", "fault"], sort=False)["n"].sum()
    )
    aucs = (
        long.groupby(by_row, sort=False)["auc"]
        .mean()
        .unstack("method")
        .reindex(index, columns=methods)
    )
    aucs.insert(0, "bad test LS", counts.reindex(index).astype(int))
    if "hgb" not in methods:
        return aucs, None
    hgb = long.loc[long["method"] == "hgb", ["difficulty", "seed", "fault", "auc"]]
    long = long.merge(hgb, on=["difficulty", "seed", "fault"], suffixes=("", "_hgb"))
    n_bad = long.groupby(keys)["n"].transform("sum")
    # Every (record, label) has a row, so the mean over rows is the mean over seeds.
    long["term"] = (long["n"] * (long["auc"] - long["auc_hgb"]) / n_bad).fillna(0.0)
    others = [m for m in methods if m != "hgb"]
    terms = (
        long.groupby(by_row, sort=False)["term"]
        .mean()
        .unstack("method")
        .reindex(index, columns=others)
    )
    totals = terms.groupby(level="difficulty", sort=False).sum()
    totals.index = pd.MultiIndex.from_arrays(
        [totals.index, ["total"] * len(totals)], names=index.names
    )
    return aucs, pd.concat([terms, totals]).reindex(rows(extra=["total"]))


def _json_params(text):
    try:
        params = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error}): {text!r}") from None
    if not isinstance(params, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object of parameters; got {text!r}")
    reserved = sorted({"channels", "random_state"} & set(params))
    if reserved:
        raise argparse.ArgumentTypeError(f"{reserved} are set by the benchmark; leave them out")
    return params


def _records_path(text):
    """``--records``: checked before the run, so a bad path cannot cost a whole benchmark."""
    path = Path(text)
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(
            f"the folder of {text!r} does not exist; create it or choose another path"
        )
    return path


def _describe(params):
    return "".join(f", {name}={value!r}" for name, value in params.items())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--difficulties", nargs="+", default=None)
    parser.add_argument("--n-lumisections", type=int, default=None)
    parser.add_argument("--events-per-lumisection", type=int, default=None)
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--paper-epochs", type=int, default=None)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--scaler", choices=["quantile", "standard"], default="quantile")
    parser.add_argument(
        "--sample-weight",
        choices=["none", "luminosity"],
        default="none",
        help="training weights of every method (default: none; the scores weigh LS equally)",
    )
    parser.add_argument(
        "--split",
        choices=["stratified", "runs"],
        default="stratified",
        help="held-out runs stratified by fault mode (default), or runs at random",
    )
    parser.add_argument(
        "--cdc-params",
        type=_json_params,
        default={},
        metavar="JSON",
        help="extra ChannelDecompositionClassifier parameters for cdc and cdc-random, "
        "e.g. '{\"squared_inputs\": false}'",
    )
    parser.add_argument(
        "--records",
        type=_records_path,
        default=None,
        metavar="CSV",
        help="also write one row per fit (difficulty, seed, method, fit time, every metric at "
        "full precision) to this CSV file",
    )
    parser.add_argument(
        "--by-fault",
        action="store_true",
        help="also break the global AUC down by fault mode, and each method's global - hgb "
        "into one term per fault mode (where does a method lose to hgb?)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the table(s)")
    args = parser.parse_args(argv)
    quick = args.quick
    seeds = args.seeds or ([0] if quick else [0, 1, 2])
    difficulties = args.difficulties or (["default"] if quick else ["default", "hard"])
    difficulties = [float(d) if d.replace(".", "", 1).isdigit() else d for d in difficulties]
    n_ls = args.n_lumisections or (300 if quick else 6000)
    events = args.events_per_lumisection or (100 if quick else 500)
    max_epochs = args.max_epochs or (5 if quick else 40)
    paper_epochs = args.paper_epochs or (5 if quick else 200)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    start = time.perf_counter()
    records = run_benchmark(
        seeds,
        difficulties,
        n_ls,
        events,
        max_epochs,
        paper_epochs,
        args.methods,
        args.scaler,
        args.sample_weight,
        args.split,
        args.cdc_params,
        by_fault=args.by_fault,
    )
    if args.records is not None:
        records.to_csv(args.records, index=False)
    table = summarize(records)
    print(
        f"\nDecomposition benchmark: {len(seeds)} seed(s) x {len(difficulties)} difficulty "
        f"level(s); {n_ls} LS x {events} events; held-out runs "
        f"({'stratified by fault mode' if args.split == 'stratified' else 'at random'}); "
        f"{args.scaler} scaling; sample weights: {args.sample_weight}; "
        f"cdc/cdc-random {max_epochs} epochs{_describe(args.cdc_params)}, "
        f"cdc-paper {paper_epochs} epochs; "
        f"mean ± std over seeds; total {time.perf_counter() - start:.0f} s\n"
    )
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string())
        if args.by_fault:
            aucs, terms = summarize_by_fault(records)
            print(
                "\nGlobal AUC by fault: each fault's bad test LS against all good test LS "
                "(mean over the seeds whose test holds it; LS hit by two faults: "
                "'several faults')\n"
            )
            print(aucs.to_string(float_format=lambda v: f"{v:.3f}", na_rep="-"))
            if terms is not None:
                print(
                    "\nglobal - hgb by fault: n * (AUC - AUC_hgb) / n_bad, mean over seeds; "
                    "each column adds up to its global - hgb (row 'total')\n"
                )
                print(terms.to_string(float_format=lambda v: f"{v:+.4f}"))
    return records


if __name__ == "__main__":
    main()
