"""Signals of a channel's reliability against its true decomposition AUC, from saved cross-fits.

``channeldecomp.model_selection.channel_reliability`` turns two cross-fitted repeats of the
model (refits on folds of whole training runs) into one number per channel. This script keeps
the raw material, so that statistics can be designed and compared without refitting: for each
cell (difficulty x lumisections x events x seed) of the simulated detector it fits the
classifier on the training runs of ``bench_decomposition.make_split``, scores its true
per-channel decomposition AUC on the held-out runs, and saves the two repeats' held-out channel
scores on the training runs (the same folds and seeds as ``channel_reliability(...,
random_state=seed)``), with the labels and runs, in
``<cells-dir>/<difficulty>_<n_ls>_<events>_<seed>.npz``. Existing files
are reused. Then, over every (cell, channel) pair, the Spearman correlation of each signal with
the true AUC, and the reliability's validation bands at ``RELIABILITY_THRESHOLD``:

- ``reliability``: the package's statistic (replicated claims x evidence), with its defaults;
- ``blame_kappa``: agreement (Cohen's kappa) between the repeats on "this channel has the lowest
  score" among the bad lumisections;
- ``added_auc``: the global AUC of the product of all channel scores minus that without this
  channel;
- ``rho_bad``: rank correlation of the channel's scores over the bad lumisections between the
  repeats;
- ``coclaim``: the share of its claims (bad lumisections below its 2 % false-alarm threshold)
  that another channel claims too;
- ``heldout_auc``: the held-out AUC of the channel score against the global label;
- ``train_true_auc``: the true AUC of the same cross-fitted scores on the training runs (known
  only to the simulation: how far the held-out truth can be predicted at all);
- ``refit_true_auc``: the true AUC on the held-out runs of a second fit on the same training
  runs, with another seed (``random_state=seed + REFIT_SEED_OFFSET``): how much of the true AUC
  is the chance of one fit.

- ``fresh_true_auc``: the true AUC of the cell's model on a fresh simulation of the same
  detector (``bench_decomposition.fresh_test_set``, ``--fresh-ls`` lumisections). A cell's
  held-out runs are few (two or three, 260-380 lumisections, at 1,000), so its true AUC there
  rests on the faults of those runs; on the fresh simulation it is the model's, over every
  fault mode. The signals are compared with both.

``--blamed-shares`` and ``--min-claim-runs`` (with ``--thresholds``) also print the validation
figures of variants of the reliability, from the same cells: each pair's value scaled by
``min(1, s / min_blamed_share)``, ``s`` the share of the channel's claims it is blamed for
(0: the package's statistic), and by ``r / (r + min_claim_runs)``, ``r`` the number of runs
its claims lie in (``channel_reliability``'s ``min_claim_runs``; 0 leaves the factor out), at
each threshold. ``--ceiling`` prints what the channel truth of the training runs
could tell (:func:`ceiling`), ``--truth-agreement`` how far the two truths agree
(:func:`truth_agreement`). Tune on seeds the benchmarks do not report (they report 0-4)::

    python benchmarks/reliability_signals.py --seeds 5 6 7 8 --sizes 1000 2000 \\
        --events 200 500 --difficulties default hard --cells-dir reliability_cells \\
        --no-refit --min-claim-runs 0 0.5 1 2 4 --thresholds 0.35 0.4 0.45 0.5
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import warnings
from pathlib import Path

import bench_decomposition as bench
import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score
from sklearn.utils import check_random_state

from channeldecomp import ChannelDecompositionClassifier, metrics
from channeldecomp.model_selection import RELIABILITY_THRESHOLD, channel_reliability

SIGNALS = ("reliability", "blame_kappa", "added_auc", "rho_bad", "coclaim", "heldout_auc")
#: ``channel_reliability``'s default ``min_claim_runs``: the statistic's.
MIN_CLAIM_RUNS = inspect.signature(channel_reliability).parameters["min_claim_runs"].default
#: What only the simulation knows: the cross-fits' truth, a second fit's held-out truth, and
#: the model's truth on a fresh simulation.
CEILINGS = ("train_true_auc", "refit_true_auc", "fresh_true_auc")
#: The second fit's seed is the cell's seed plus this.
REFIT_SEED_OFFSET = 1_000_003
#: The two truths the signals are compared with, and where each is measured.
TRUTHS = {"true_auc": "held-out runs", "fresh_true_auc": "fresh simulation"}


def _true_auc(model, X, truth, names):
    """A fitted model's per-channel decomposition AUC on ``X`` against ``truth``, in ``names``
    order (NaN for a channel without a fault there)."""
    scores = model.predict_channel_scores(X).set_axis(truth.index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(metrics.decomposition_auc(scores, truth).reindex(names), dtype=float)


def _fit(split, seed, max_epochs):
    X, y = split["X_train"], np.asarray(split["y_train"])
    runs = np.asarray(X.index.get_level_values("run"))
    model = ChannelDecompositionClassifier(
        channels="prefix", max_epochs=max_epochs, random_state=seed
    )
    return model.fit(X, y, groups=runs)


def _ceilings(split, model, difficulty, events, seed, names, *, max_epochs, fresh_ls, refit=True):
    """``fresh_true_auc`` and (``refit=True``) ``refit_true_auc`` of a cell whose fitted cdc
    is ``model`` (see the module's docstring)."""
    fresh = bench.fresh_test_set(split, fresh_ls, events, difficulty=difficulty, seed=seed)
    ceilings = {"fresh_true_auc": _true_auc(model, fresh["X"], fresh["truth"], names)}
    if refit:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            second = _fit(split, seed + REFIT_SEED_OFFSET, max_epochs)
        ceilings["refit_true_auc"] = _true_auc(second, split["X_test"], split["truth_test"], names)
    return ceilings


def add_ceilings(path, difficulty, n_ls, events, seed, *, max_epochs=40, fresh_ls=8000):
    """Add ``refit_true_auc`` and ``fresh_true_auc`` to a cell saved before they were."""
    cell = dict(np.load(path))
    split = bench.make_split(difficulty, seed, n_ls, events)
    names = [str(n) for n in cell["names"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _fit(split, seed, max_epochs)
    cell |= _ceilings(
        split, model, difficulty, events, seed, names, max_epochs=max_epochs, fresh_ls=fresh_ls
    )
    np.savez(path, **cell)


def collect(
    path, difficulty, n_ls, events, seed, *, cv=3, max_epochs=40, fresh_ls=8000, refit=True
):
    """Fit one cell and save its cross-fitted repeats, labels, runs and true AUCs to ``path``
    (``refit=False``: without ``refit_true_auc``, one fit fewer)."""
    from channeldecomp.model_selection import _cross_fitted_scores, _reseeded

    split = bench.make_split(difficulty, seed, n_ls, events)
    X, y = split["X_train"], np.asarray(split["y_train"])
    runs = np.asarray(X.index.get_level_values("run"))

    def model():
        return ChannelDecompositionClassifier(
            channels="prefix", max_epochs=max_epochs, random_state=seed
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = _fit(split, seed, max_epochs)
        names = list(fitted.channel_names_)
        true_auc = _true_auc(fitted, split["X_test"], split["truth_test"], names)
        rng = check_random_state(seed)  # the folds and seeds of channel_reliability
        repeats = []
        for _ in range(2):
            repeat_seed = int(rng.randint(2**31))
            repeats.append(
                _cross_fitted_scores(
                    _reseeded(model(), repeat_seed), X, y, runs, cv, repeat_seed, lambda _: {}
                )
            )
        ceilings = _ceilings(
            split, fitted, difficulty, events, seed, names, max_epochs=max_epochs,
            fresh_ls=fresh_ls, refit=refit,
        )  # fmt: skip
    np.savez(
        path,
        repeats=np.stack([r[names].to_numpy() for r in repeats]),
        y=y,
        runs=runs,
        names=np.asarray(names),
        true_auc=true_auc,
        **ceilings,
        truth_train=split["truth_train"][names].to_numpy(),
    )


def _auc(positive, scores):
    positive = np.asarray(positive, dtype=bool)
    return np.nan if positive.all() or not positive.any() else roc_auc_score(positive, scores)


def signals(cell):
    """One row per channel of a saved cell: every signal and the true AUC."""
    repeats, y, names = cell["repeats"], cell["y"], [str(n) for n in cell["names"]]
    good, bad = y == 1, y != 1
    log = np.log(np.clip(repeats, 1e-6, 1.0))
    rows = []
    for c, name in enumerate(names):
        row = {"channel": name, "true_auc": cell["true_auc"][c]}
        row["reliability"] = _reliability(repeats, c, good, runs=cell.get("runs"))
        lowest = [r[bad].argmin(axis=1) == c for r in repeats]
        agree = (lowest[0] == lowest[1]).mean()
        chance = lowest[0].mean() * lowest[1].mean() + (1 - lowest[0].mean()) * (
            1 - lowest[1].mean()
        )
        row["blame_kappa"] = (agree - chance) / (1 - chance) if chance < 1 else np.nan
        full = np.mean([_auc(bad, -lg.sum(axis=1)) for lg in log])
        without = np.mean([_auc(bad, -(lg.sum(axis=1) - lg[:, c])) for lg in log])
        row["added_auc"] = full - without
        row["rho_bad"] = spearmanr(repeats[0][bad, c], repeats[1][bad, c])[0]
        shares = []
        for r in repeats:
            flagged = r < np.quantile(r[good], 0.02, axis=0)
            mine = flagged[:, c] & bad
            others = np.delete(flagged, c, axis=1).any(axis=1)
            shares.append((mine & others).sum() / max(mine.sum(), 1))
        row["coclaim"] = np.mean(shares)
        row["heldout_auc"] = np.mean([_auc(bad, -r[:, c]) for r in repeats])
        faulty = cell["truth_train"][:, c] == 0
        row["train_true_auc"] = np.mean([_auc(faulty, -r[:, c]) for r in repeats])
        row["refit_true_auc"] = cell["refit_true_auc"][c] if "refit_true_auc" in cell else np.nan
        row["fresh_true_auc"] = cell["fresh_true_auc"][c] if "fresh_true_auc" in cell else np.nan
        rows.append(row)
    return rows


def _pair_values(repeats, channel, good, runs=None):
    """Per ordered pair of repeats, the package's statistic (with its defaults, but without the
    runs factor) on one channel of a cell's ``repeats`` (repeat x row x channel), the channel's
    blamed share ``s`` (the share of its claims on which it has the lowest score of all
    channels; 1 without a claim, where the value is 0 already) and the number of runs its
    claims lie in (``runs``: the run of each row; NaN without it)."""
    from channeldecomp.model_selection import _reliability_of

    defaults = inspect.signature(channel_reliability).parameters
    values, _, _, _, shares, claim_runs = _reliability_of(
        list(repeats[:, :, channel]),
        good,
        defaults["false_alarm_rate"].default,
        defaults["min_claimed"].default,
        blamed=[scores.argmin(axis=1) == channel for scores in repeats],
        runs=runs,
        min_claim_runs=0.0,
    )
    if runs is None:  # the package counts each row as a run: not what a variant should read
        claim_runs = np.full(len(values), np.nan)
    return np.asarray(values), np.nan_to_num(shares, nan=1.0), np.asarray(claim_runs, float)


def _reliability(
    repeats, channel, good, min_blamed_share=0.0, *, runs=None, min_claim_runs=MIN_CLAIM_RUNS
):
    """The package's statistic on one channel of a cell's ``repeats`` (with ``runs``, the run
    of each row, and ``min_claim_runs``: each pair's value scaled by ``r / (r +
    min_claim_runs)``, ``r`` the runs of the claims; see :func:`_pair_values`); with
    ``min_blamed_share`` > 0 the variant, each pair's value scaled by ``min(1, s /
    min_blamed_share)`` too."""
    if min_claim_runs > 0 and runs is None:
        raise ValueError(
            "min_claim_runs needs the run of each row (runs); 0 leaves the runs factor out."
        )
    values, shares, runs_of_claims = _pair_values(repeats, channel, good, runs)
    return _scaled(values, shares, min_blamed_share, runs_of_claims, min_claim_runs)


def _scaled(values, shares, min_blamed_share, runs_of_claims=None, min_claim_runs=0.0):
    if min_blamed_share > 0:
        values = values * np.minimum(1.0, shares / min_blamed_share)
    if min_claim_runs > 0:
        values = values * runs_of_claims / (runs_of_claims + min_claim_runs)
    return float(np.mean(values))


def variants(cells, shares, thresholds, truth="fresh_true_auc", min_claim_runs=(MIN_CLAIM_RUNS,)):
    """The reliability's validation figures on saved ``cells`` for each ``min_blamed_share``
    in ``shares``, each ``min_claim_runs`` (see :func:`_reliability`) and each threshold
    in ``thresholds``, against ``truth``: a DataFrame (``youden``: the share of the channels
    below 0.7 marked not reliable minus that of the channels above 0.95)."""
    if any(k > 0 for k in min_claim_runs) and any("runs" not in cell for cell in cells):
        raise ValueError(
            "min_claim_runs needs the runs of each cell; a cell saved without them (pass 0)."
        )
    pairs = []  # per (cell, channel): the pairs' values, shares and claim runs, the true AUC
    for cell in cells:
        good = cell["y"] == 1
        for c in range(len(cell["names"])):
            if not np.isnan(cell[truth][c]):
                parts = _pair_values(cell["repeats"], c, good, cell.get("runs"))
                pairs.append((*parts, cell[truth][c]))
    true_auc = np.asarray([auc for *_, auc in pairs])
    low, high = true_auc < 0.7, true_auc > 0.95
    rows = []
    for share, k in itertools.product(shares, min_claim_runs):
        reliability = np.asarray([_scaled(v, s, share, r, k) for v, s, r, _ in pairs])
        for threshold in thresholds:
            reliable = reliability >= threshold
            rows.append({
                "min_blamed_share": share,
                "min_claim_runs": k,
                "threshold": threshold,
                "pairs": len(true_auc),
                "spearman": spearmanr(reliability, true_auc)[0],
                "low_marked": f"{int((~reliable[low]).sum())} of {int(low.sum())}",
                "high_marked": f"{int((~reliable[high]).sum())} of {int(high.sum())}",
                "youden": _share(~reliable[low]) - _share(~reliable[high]),
            })  # fmt: skip
    return pd.DataFrame(rows)


def _share(marked):
    return marked.mean() if len(marked) else np.nan


def _sizes(rows):
    n_ls = rows["cell"].map(lambda stem: int(str(stem).split("_")[1]))
    sizes = {"1,000": n_ls == 1000, "2,000": n_ls == 2000, ">= 4,000": n_ls >= 4000}
    return sizes | {"all": n_ls > 0}


def ceiling(table, thresholds, truth="fresh_true_auc", predictor="train_true_auc"):
    """What the channel truth of the training runs could tell: the bands of ``predictor <
    t`` (marked not reliable) against ``truth`` for each ``t`` in ``thresholds``, per size
    (1,000, 2,000 and 4,000 or more lumisections, then all): a DataFrame.

    ``train_true_auc`` is the true AUC of the cross-fitted scores that the reliability reads,
    known only to the simulation. A statistic of those scores estimates at best how well the
    channel decomposes the faults of the training runs; where the truth on other data differs
    (fault modes the training runs lack), no threshold on it reaches the bands. With
    ``predictor="fresh_true_auc"`` and ``truth="true_auc"``: how well the model's true AUC on
    new runs, known exactly, would predict its true AUC on the cell's few held-out runs
    (:func:`truth_agreement`). ``table``: the rows of :func:`signals` with a ``cell`` named
    ``<difficulty>_<n_ls>_<events>_<seed>``.
    """
    rows = table.dropna(subset=[truth, predictor])
    sizes = _sizes(rows)
    out = []
    for threshold in thresholds:
        marked = rows[predictor] < threshold
        row = {"threshold": threshold}
        for size, where in sizes.items():
            low, high = where & (rows[truth] < 0.7), where & (rows[truth] > 0.95)
            row[f"{size}: low"] = f"{int(marked[low].sum())} of {int(low.sum())}"
            row[f"{size}: high"] = f"{int(marked[high].sum())} of {int(high.sum())}"
        out.append(row)
    return pd.DataFrame(out)


def truth_agreement(table):
    """How far the two truths agree: per size (as :func:`ceiling`), the (cell, channel) pairs
    with both and the Spearman correlation of the true AUC on the fresh simulation with that on
    the held-out runs, a Series. A statistic that knew each channel's fresh AUC exactly would
    reach this correlation against the held-out truth: the held-out runs' own chance (which
    faults a small cell's few held-out runs hold) is beyond what any model of the training runs
    predicts.
    """
    rows = table.dropna(subset=list(TRUTHS))
    return pd.Series({
        f"{size} ({int(where.sum())} pairs)": spearmanr(
            rows.loc[where, "fresh_true_auc"], rows.loc[where, "true_auc"]
        )[0]
        for size, where in _sizes(rows).items()
    })  # fmt: skip


def report(table):
    """Print the Spearman correlation of every signal with the true AUC on the held-out runs
    and on the fresh simulation, and the reliability's validation figures against both (its
    Spearman correlation to three decimals and its bands, each over the pairs with that true
    AUC), with the pairs it gets wrong."""
    counts = [int(table[truth].notna().sum()) for truth in TRUTHS]
    print(
        f"(cell, channel) pairs with a true AUC: {counts[0]} on the held-out runs, "
        f"{counts[1]} on the fresh simulation\n"
    )
    print("Spearman correlation with the true decomposition AUC on")
    print(f"  {'':<16}{'held-out runs':>14}{'fresh simulation':>18}")
    for signal in (*SIGNALS, *CEILINGS):
        rhos = [spearmanr(table[signal], table[truth], nan_policy="omit")[0] for truth in TRUTHS]
        print(f"  {signal:<16}{rhos[0]:>+14.2f}{rhos[1]:>+18.2f}")
    for truth, where in TRUTHS.items():
        rows = table.dropna(subset=[truth])
        reliable = rows["reliability"] >= RELIABILITY_THRESHOLD
        low, high = rows[truth] < 0.7, rows[truth] > 0.95
        rho = spearmanr(rows["reliability"], rows[truth])[0]
        print(
            f"\nreliability >= {RELIABILITY_THRESHOLD} against the true AUC on the {where}: "
            f"Spearman {rho:.3f} over {len(rows)} pairs; "
            f"true AUC < 0.7 marked not reliable {int((~reliable[low]).sum())} of "
            f"{int(low.sum())}; true AUC > 0.95 marked not reliable "
            f"{int((~reliable[high]).sum())} of {int(high.sum())}"
        )
        misses = rows[(low & reliable) | (high & ~reliable)]
        for _, row in misses.iterrows():
            print(
                f"  {'poor, marked reliable' if row[truth] < 0.7 else 'good, marked not reliable'}"
                f": {row.get('cell', '')} {row['channel']} (true AUC {row[truth]:.3f}, "
                f"training runs' {row['train_true_auc']:.3f}, reliability "
                f"{row['reliability']:.3f})"
            )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[5, 6, 7, 8])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000])
    parser.add_argument("--events", type=int, nargs="+", default=[200])
    parser.add_argument("--difficulties", nargs="+", default=["default", "hard"])
    parser.add_argument("--cv", type=int, default=3)
    parser.add_argument("--max-epochs", type=int, default=40)
    parser.add_argument(
        "--fresh-ls", type=int, default=8000, help="lumisections of the fresh simulation"
    )
    parser.add_argument(
        "--cells-dir",
        type=Path,
        nargs="+",
        default=[Path("reliability_cells")],
        help="where the cells are saved (several with --saved: their cells pooled)",
    )
    parser.add_argument(
        "--no-refit",
        action="store_true",
        help="do not fit the second model of refit_true_auc (one fit of eight fewer per cell)",
    )
    parser.add_argument(
        "--blamed-shares",
        type=float,
        nargs="+",
        help="also print the validation figures of the variant with each of these "
        "min_blamed_share values (0: the package's statistic) ...",
    )
    parser.add_argument(
        "--min-claim-runs",
        type=float,
        nargs="+",
        help="... and (or) each of these min_claim_runs values (default: the package's, "
        f"{MIN_CLAIM_RUNS}; 0: without the runs factor) ...",
    )
    parser.add_argument(
        "--thresholds",
        type=float,
        nargs="+",
        default=[RELIABILITY_THRESHOLD],
        help="... and each of these thresholds (default: RELIABILITY_THRESHOLD)",
    )
    parser.add_argument(
        "--ceiling",
        type=float,
        nargs="+",
        metavar="THRESHOLD",
        help="also print the bands of train_true_auc < THRESHOLD against the fresh truth, "
        "per size: what the channel truth of the training runs could tell",
    )
    parser.add_argument(
        "--truth-agreement",
        type=float,
        nargs="+",
        metavar="THRESHOLD",
        help="also print how well each pair's true AUC on the fresh simulation predicts that on "
        "the held-out runs: their Spearman correlation per size, and the bands against the "
        "held-out truth of fresh_true_auc < THRESHOLD (a statistic that knew the fresh truth)",
    )
    parser.add_argument(
        "--saved",
        action="store_true",
        help="report on every cell saved in the --cells-dir folders with a seed of --seeds "
        "(any size, events and difficulty; pools grids run apart) instead of fitting the grid",
    )
    args = parser.parse_args(argv)
    if not args.saved and len(args.cells_dir) > 1:
        parser.error("fitting saves its cells in one --cells-dir; several need --saved")
    rows, cells = [], []
    if args.saved:
        paths = [
            path
            for folder in args.cells_dir
            for path in sorted(folder.glob("*.npz"))
            if int(path.stem.rsplit("_", 1)[1]) in args.seeds
        ]
        if not paths:
            parser.error(f"no saved cell of seeds {args.seeds} in {list(map(str, args.cells_dir))}")
        stems = pd.Series([path.stem for path in paths])
        if stems.duplicated().any():
            twice = sorted(set(stems[stems.duplicated()]))
            parser.error(f"cells saved in more than one --cells-dir: {twice}; pass each once")
    else:
        folder = args.cells_dir[0]
        folder.mkdir(parents=True, exist_ok=True)
        grid = itertools.product(args.difficulties, args.sizes, args.events, args.seeds)
        paths = [folder / f"{d}_{n_ls}_{events}_{seed}.npz" for d, n_ls, events, seed in grid]
    for path in paths:
        difficulty, n_ls, events, seed = path.stem.split("_")
        n_ls, events, seed = int(n_ls), int(events), int(seed)
        if not path.exists():
            print(f"fitting {path.name} ...", flush=True)
            collect(path, difficulty, n_ls, events, seed, cv=args.cv, max_epochs=args.max_epochs,
                    fresh_ls=args.fresh_ls, refit=not args.no_refit)  # fmt: skip
        elif "fresh_true_auc" not in np.load(path):  # saved before the ceilings were added
            print(f"refitting {path.name} ...", flush=True)
            add_ceilings(path, difficulty, n_ls, events, seed, max_epochs=args.max_epochs,
                         fresh_ls=args.fresh_ls)  # fmt: skip
        cells.append(dict(np.load(path)))
        rows += [row | {"cell": path.stem} for row in signals(cells[-1])]
    table = pd.DataFrame(rows)
    report(table)
    if args.blamed_shares or args.min_claim_runs:
        shares = args.blamed_shares or [0.0]
        min_claim_runs = args.min_claim_runs or [MIN_CLAIM_RUNS]
        for truth, where in TRUTHS.items():
            print(f"\nThe reliability's variants against the true AUC on the {where}:\n")
            figures = variants(
                cells, shares, args.thresholds, truth=truth, min_claim_runs=min_claim_runs
            )
            print(figures.to_string(index=False, float_format="%.3f"))
    if args.ceiling:
        print(
            "\nMarked not reliable where train_true_auc < threshold, against the true AUC on "
            "the fresh simulation (low: below 0.7, high: above 0.95):\n"
        )
        print(ceiling(table, args.ceiling).to_string(index=False, float_format="%.3f"))
    if args.truth_agreement:
        print(
            "\nThe true AUC on the fresh simulation against that on the held-out runs: Spearman "
            "correlation by size\n"
        )
        print(truth_agreement(table).to_string(float_format="%.3f"))
        print(
            "\nMarked not reliable where fresh_true_auc < threshold, against the true AUC on "
            "the held-out runs (low: below 0.7, high: above 0.95):\n"
        )
        figures = ceiling(table, args.truth_agreement, truth="true_auc", predictor="fresh_true_auc")
        print(figures.to_string(index=False, float_format="%.3f"))
    return table


if __name__ == "__main__":
    main()
