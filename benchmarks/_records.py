"""Records of the decomposition benchmarks (one row per fit): tables, and command-line options.

Shared by ``bench_decomposition.py`` and the benchmarks built on it; a record holds
``difficulty``, ``seed``, ``method``, ``fit_s`` and the figures of
``channeldecomp.metrics.decomposition_summary`` (with ``--by-fault``, also ``auc[<fault>]`` and
``n[<fault>]`` per fault label).
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd


def constant_channels(channel_scores, channels):
    """The channels whose score is the same on every test LS (a method that never used them)."""
    scores = [] if channel_scores is None else np.asarray(channel_scores, dtype=float).T
    return [channel for channel, column in zip(channels, scores) if np.ptp(column) == 0]


def short(result):
    return " ".join(f"{k}={v:.3f}" for k, v in result.items())


def summarize(records):
    """One table: mean ± std over seeds of each metric; when ``hgb`` ran, comparisons with it.

    ``global - hgb``: the mean ± std over seeds of each seed's difference from ``hgb`` on the
    same split (paired: is a gap larger than seed-to-seed noise?); ``time / hgb``: the mean
    ratio of fit times. When ``cdc`` and another method with channel scores ran,
    ``channel - cdc``: the same for the mean channel AUC against ``cdc``'s. Records with
    ``fresh_*`` figures (``--fresh-ls``) add the mean and worst channel AUC on the fresh
    simulation and, with ``cdc``, ``fresh: channel - cdc``.
    """
    reference = records[records["method"] == "hgb"].set_index(["difficulty", "seed"])
    if compare := not reference.empty:
        hgb = reference[["global_auc", "fit_s"]].add_prefix("hgb_")
        records = records.join(hgb, on=["difficulty", "seed"])
        records["global_vs_hgb"] = records["global_auc"] - records["hgb_global_auc"]
        records["time_vs_hgb"] = records["fit_s"] / records["hgb_fit_s"]
    fresh = "fresh_mean_channel_auc" in records and records["fresh_mean_channel_auc"].notna().any()
    cdc = records[records["method"] == "cdc"].set_index(["difficulty", "seed"])
    others = records.loc[records["method"] != "cdc", "mean_channel_auc"]
    if paired_cdc := not cdc.empty and others.notna().any():  # another method's channels
        names = ["mean_channel_auc"] + (["fresh_mean_channel_auc"] if fresh else [])
        records = records.join(cdc[names].add_prefix("cdc_"), on=["difficulty", "seed"])
        for name in names:
            records[f"{name}_vs_cdc"] = records[name] - records[f"cdc_{name}"]
    grouped = records.groupby(["difficulty", "method"], sort=False)

    def mean_std(column, sign=""):
        mean, std = grouped[column].mean(), grouped[column].std(ddof=0)
        return ["-" if np.isnan(m) else f"{m:{sign}.3f} ± {s:.3f}" for m, s in zip(mean, std)]

    names = ["global_auc", "mean_channel_auc", "worst_channel_auc", "bad_only_channel_auc"]
    table = pd.DataFrame({name: mean_std(name) for name in names}, index=grouped.size().index)
    if paired_cdc:
        table["channel - cdc"] = mean_std("mean_channel_auc_vs_cdc", sign="+")
    if fresh:
        table["fresh: mean channel"] = mean_std("fresh_mean_channel_auc")
        table["fresh: worst"] = mean_std("fresh_worst_channel_auc")
        if paired_cdc:
            table["fresh: channel - cdc"] = mean_std("fresh_mean_channel_auc_vs_cdc", sign="+")
    if compare:
        table["global - hgb"] = mean_std("global_vs_hgb", sign="+")
        table["time / hgb"] = grouped["time_vs_hgb"].mean().map(lambda v: f"{v:.1f}x")
    return table


#: The references of :func:`paired`, in its columns' order.
REFERENCES = ("cdc", "per-channel-hgb", "oracle")


def paired(records):
    """Each method's mean channel AUC paired with each reference's on the same seed (the
    methods of ``REFERENCES`` that ran), and with ``fresh_*`` figures the same on the fresh
    simulation: per (difficulty, method), the mean difference over seeds and its range, as
    ``"+0.015 (+0.005 to +0.025)"``. None when no reference or no other method with channel
    scores ran.
    """
    names = ["mean_channel_auc"]
    if "fresh_mean_channel_auc" in records and records["fresh_mean_channel_auc"].notna().any():
        names.append("fresh_mean_channel_auc")
    wide = records.pivot_table(index=["difficulty", "seed"], columns="method", values=names)
    channel = wide["mean_channel_auc"].dropna(axis=1, how="all")
    references = [r for r in REFERENCES if r in channel.columns]
    methods = [m for m in dict.fromkeys(records["method"]) if m in channel.columns]
    rows = {}
    prefixes = ["", "fresh: "][: len(names)]
    columns = [f"{prefix}- {reference}" for prefix in prefixes for reference in references]
    for name, prefix in zip(names, prefixes):
        for method, reference in itertools.product(methods, references):
            if method == reference:
                continue
            difference = (wide[name][method] - wide[name][reference]).dropna()
            by_difficulty = difference.groupby(level="difficulty", sort=False)
            for difficulty, values in by_difficulty:
                text = f"{values.mean():+.3f} ({values.min():+.3f} to {values.max():+.3f})"
                rows.setdefault((difficulty, method), {})[f"{prefix}- {reference}"] = text
    if not rows:
        return None
    table = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=columns)
    table.index = pd.MultiIndex.from_tuples(table.index, names=["difficulty", "method"])
    return table.fillna("-")


def summarize_by_fault(records):
    """Two tables from the ``by_fault`` records, one row per (difficulty, fault label).

    The first: the number of bad test LS with the label (summed over seeds) and each method's
    global AUC over them and the good LS (mean over the seeds whose test holds the label). The
    second, when ``hgb`` ran, splits each method's ``global - hgb`` into one term per label,
    ``n * (AUC - AUC_hgb) / n_bad`` (mean over seeds, a missing label counting 0): each column
    adds up to the method's ``global - hgb`` of :func:`summarize` (row ``total``).
    """
    per_fault = records.set_index(["difficulty", "seed", "method"])
    auc, n = (per_fault.filter(regex=rf"^{kind}\[") for kind in ("auc", "n"))
    if auc.empty:
        message = "the records hold no per-fault columns ('auc[...]'); run the benchmark with"
        raise ValueError(f"{message} by_fault=True (--by-fault)")
    auc.columns = pd.Index([c[4:-1] for c in auc.columns], name="fault")
    n = n.set_axis([c[2:-1] for c in n.columns], axis=1).reindex(columns=auc.columns).fillna(0)
    methods = list(dict.fromkeys(records["method"]))
    counts = n.xs(methods[0], level="method").groupby(level="difficulty", sort=False).sum()

    def table(values, columns, extra=()):  # a fault seen at one difficulty only: no empty row
        rows = [(d, f) for d, c in counts.iterrows() for f in [*sorted(c.index[c > 0]), *extra]]
        means = values.groupby(level=["difficulty", "method"], sort=False).mean()
        means = means.stack(future_stack=True).unstack("method")
        return means.reindex(
            pd.MultiIndex.from_tuples(rows, names=means.index.names), columns=columns
        )

    aucs = table(auc, methods)
    aucs.insert(0, "bad test LS", counts.stack().reindex(aucs.index).astype(int))
    if "hgb" not in methods:
        return aucs, None
    hgb = auc.xs("hgb", level="method").reindex(auc.index.droplevel("method")).to_numpy()
    terms = (n * (auc - hgb)).div(n.sum(axis=1), axis=0).fillna(0.0)
    terms = table(terms, [m for m in methods if m != "hgb"])
    totals = terms.groupby(level="difficulty", sort=False).sum()
    totals.index = pd.MultiIndex.from_product([totals.index, ["total"]], names=terms.index.names)
    return aucs, pd.concat([terms, totals]).reindex(table(auc, [], extra=["total"]).index)


def json_params(text):
    try:
        params = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error}): {text!r}") from None
    if not isinstance(params, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object of parameters; got {text!r}")
    if reserved := sorted({"channels", "random_state"} & set(params)):
        raise argparse.ArgumentTypeError(f"{reserved} are set by the benchmark; leave them out")
    return params


def records_path(text):
    """``--records``: checked before the run, so a bad path cannot cost a whole benchmark."""
    if not Path(text).parent.is_dir():
        message = f"the folder of {text!r} does not exist; create it or choose another path"
        raise argparse.ArgumentTypeError(message)
    return Path(text)


def print_tables(records, *, by_fault=False):
    """Print :func:`summarize`'s table, :func:`paired`'s and, with ``by_fault``,
    :func:`summarize_by_fault`'s."""
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(summarize(records).to_string())
        if (pairs := paired(records)) is not None:
            print("\nPaired over seeds: mean channel AUC minus the reference's, mean (range)\n")
            print(pairs.to_string())
        if not by_fault:
            return
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
