"""Channel scores against the known per-channel truth (simulation, or a tabular benchmark)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .._validation import (
    as_frame,
    binary_labels,
    check_same_rows,
    check_sample_weight,
    take_rows,
)
from ._auc import _auc_matrix, _warn_undefined

__all__ = [
    "bad_only_decomposition_auc",
    "decomposition_auc",
    "decomposition_summary",
    "match_channels",
]


def decomposition_auc(channel_scores, channel_truth, *, sample_weight=None):
    """ROC AUC of each channel's score against that channel's known truth.

    Only possible where the truth is known (simulation, or
    :func:`channeldecomp.datasets.make_channel_anomalies`): ``channel_truth[c]`` is 1 where no
    anomaly is visible in channel ``c``. Channels are matched by name when both inputs are
    DataFrames, by position otherwise.

    Parameters
    ----------
    channel_scores : DataFrame or array-like of shape (n_samples, n_channels)
        Channel scores, 1 = the channel looks good.
    channel_truth : DataFrame or array-like of shape (n_samples, n_channels)
        Per-channel truth, 1 = nothing visible in that channel, 0 = anomaly visible there.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the lumisections.

    Returns
    -------
    auc : Series
        One ROC AUC per channel; NaN (with a warning) for a channel whose truth is single-class.

    Examples
    --------
    >>> import pandas as pd
    >>> scores = pd.DataFrame({"muons": [0.9, 0.2, 0.8], "jets": [0.3, 0.9, 0.8]})
    >>> truth = pd.DataFrame({"muons": [1, 0, 1], "jets": [0, 1, 1]})
    >>> decomposition_auc(scores, truth).round(2).to_dict()
    {'muons': 1.0, 'jets': 1.0}
    """
    scores = as_frame(channel_scores, "channel_scores", "channel")
    truth = as_frame(channel_truth, "channel_truth", "channel")
    check_same_rows(scores, "channel_scores", truth, "channel_truth")
    if isinstance(channel_scores, pd.DataFrame) and isinstance(channel_truth, pd.DataFrame):
        missing = [c for c in scores.columns if c not in truth.columns]
        if missing:
            raise ValueError(
                f"channel_truth has no column for channel(s) {missing}; its columns are "
                f"{list(truth.columns)}. Rename the truth columns to the channel names."
            )
        truth = truth[list(scores.columns)]
    elif scores.shape[1] != truth.shape[1]:
        raise ValueError(
            f"channel_scores has {scores.shape[1]} channels but channel_truth has "
            f"{truth.shape[1]} columns."
        )
    weight = check_sample_weight(sample_weight, len(scores))
    values = {}
    for position, channel in enumerate(scores.columns):
        flags = binary_labels(truth.iloc[:, position].to_numpy(), f"channel_truth[{channel!r}]")
        auc, positive, negative = _auc_matrix(
            scores.iloc[:, [position]].to_numpy(dtype=float), flags[:, None], weight
        )
        _warn_undefined(auc, positive, negative, [channel], [channel], "the score of channel")
        values[channel] = auc[0, 0]
    return pd.Series(values, name="decomposition_auc", dtype=float).rename_axis("channel")


def bad_only_decomposition_auc(
    channel_scores, channel_truth, y_true, *, good_label=1, sample_weight=None
):
    """:func:`decomposition_auc` over the globally bad lumisections only.

    Over all lumisections, a plain global detector (the same low score in every channel of a
    bad lumisection) scores well against each channel's truth, because most lumisections that
    are good in a channel are globally good. Among the bad lumisections, a score must tell
    *which* channel is bad: a global detector scores 0.5 there.

    Parameters
    ----------
    channel_scores : DataFrame or array-like of shape (n_samples, n_channels)
        Channel scores, 1 = the channel looks good.
    channel_truth : DataFrame or array-like of shape (n_samples, n_channels)
        Per-channel truth, 1 = nothing visible in that channel, 0 = anomaly visible there.
    y_true : array-like of shape (n_samples,)
        Global labels; the lumisections whose label is not ``good_label`` are kept.
    good_label : int or str, default=1
        The label that means good.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the lumisections.

    Returns
    -------
    auc : Series
        One ROC AUC per channel, named ``bad_only_decomposition_auc``; NaN (with a warning) for
        a channel whose truth is single-class among the bad lumisections.

    Examples
    --------
    A global detector: every channel of a bad lumisection scores low.

    >>> import pandas as pd
    >>> y = [1, 1, 0, 0, 0, 0]
    >>> truth = pd.DataFrame({"muons": [1, 1, 0, 0, 1, 1], "jets": [1, 1, 1, 1, 0, 0]})
    >>> blind = pd.DataFrame({"muons": [0.9, 0.9, 0.1, 0.1, 0.1, 0.1]})
    >>> blind["jets"] = blind["muons"]
    >>> decomposition_auc(blind, truth).to_dict()
    {'muons': 0.75, 'jets': 0.75}
    >>> bad_only_decomposition_auc(blind, truth, y).to_dict()
    {'muons': 0.5, 'jets': 0.5}
    """
    labels = binary_labels(np.asarray(y_true).reshape(-1), "y_true", good_label)
    check_same_rows(labels, "y_true", channel_scores, "channel_scores")
    bad = np.flatnonzero(labels == 0)
    return decomposition_auc(
        take_rows(channel_scores, bad),
        take_rows(channel_truth, bad),
        sample_weight=take_rows(sample_weight, bad),
    ).rename("bad_only_decomposition_auc")


def match_channels(channel_scores, channel_truth):
    """Give each channel of the truth the score column that finds it best (one each).

    Score columns that belong to no channel, such as the random groups of the random-partition
    control, cannot be compared with a channel's truth by name. This pairs score columns and
    channels one to one so that the sum of their :func:`decomposition_auc` is largest (the
    Hungarian algorithm; an undefined AUC counts 0.5), which favours the score columns.

    Parameters
    ----------
    channel_scores : DataFrame of shape (n_samples, n_columns)
        Scores, 1 = looks good; at least as many columns as ``channel_truth``.
    channel_truth : DataFrame of shape (n_samples, n_channels)
        Per-channel truth, 1 = nothing visible in that channel.

    Returns
    -------
    DataFrame of shape (n_samples, n_channels)
        The matched score columns, renamed after the channels; ``attrs["matched"]`` maps each
        channel to the score column it got.

    Examples
    --------
    >>> import pandas as pd
    >>> truth = pd.DataFrame({"muons": [1, 0, 1, 1], "jets": [1, 1, 0, 1]})
    >>> groups = pd.DataFrame({"g0": [0.9, 0.8, 0.1, 0.7], "g1": [0.8, 0.2, 0.9, 0.7]})
    >>> match_channels(groups, truth).attrs["matched"]
    {'muons': 'g1', 'jets': 'g0'}
    """
    from scipy.optimize import linear_sum_assignment
    from sklearn.exceptions import UndefinedMetricWarning

    scores = as_frame(channel_scores, "channel_scores", "column")
    truth = as_frame(channel_truth, "channel_truth", "channel")
    check_same_rows(scores, "channel_scores", truth, "channel_truth")
    if scores.shape[1] < truth.shape[1]:
        raise ValueError(
            f"channel_scores has {scores.shape[1]} columns for {truth.shape[1]} channels; each "
            "channel needs a column of its own."
        )
    flags = np.column_stack(
        [binary_labels(truth[c].to_numpy(), f"channel_truth[{c!r}]") for c in truth.columns]
    )
    weight = check_sample_weight(None, len(scores))
    with warnings.catch_warnings():  # an undefined AUC counts 0.5 below
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        auc, _, _ = _auc_matrix(scores.to_numpy(dtype=float), flags, weight)
    _, columns = linear_sum_assignment(-np.nan_to_num(auc.T, nan=0.5))
    matched = scores.iloc[:, columns].set_axis(truth.columns, axis=1)
    matched.attrs["matched"] = dict(zip(truth.columns, scores.columns[columns]))
    return matched


def decomposition_summary(
    y_true, y_score, channel_scores, channel_truth, *, match=False, good_label=1
):
    """The decomposition benchmark's four figures for one method on one test set.

    The global ROC AUC of ``y_score`` (P(good), or any score with higher = better); the mean
    and the worst channel of :func:`decomposition_auc`; and the mean of
    :func:`bad_only_decomposition_auc` (which channel is bad, among the bad lumisections).
    Compare methods with it as ``benchmarks/bench_decomposition.py`` does.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Global labels.
    y_score : array-like of shape (n_samples,)
        Global score, higher = good (e.g. P(good)).
    channel_scores : DataFrame, array-like of shape (n_samples, n_channels) or None
        Channel scores, 1 = the channel looks good. Columns named like ``channel_truth``'s are
        taken by name; otherwise by position (in ``channel_truth``'s order), or matched to the
        channels with :func:`match_channels` when ``match=True``. ``None`` (a method without
        channel scores): the channel figures are NaN.
    channel_truth : DataFrame of shape (n_samples, n_channels)
        Per-channel truth, 1 = nothing visible in that channel.
    match : bool, default=False
        The score columns are no channels (the random-partition control's random groups): give
        each channel the column that finds it best (:func:`match_channels`, which favours them).
    good_label : int or str, default=1
        The label that means good.

    Returns
    -------
    dict
        ``global_auc`` (NaN when ``y_true`` has one class), ``mean_channel_auc``,
        ``worst_channel_auc`` and ``bad_only_channel_auc``. A channel whose AUC is undefined
        on this test set (no fault of it there: NaN, with a warning) is left out of the mean and
        the worst.

    Examples
    --------
    >>> import pandas as pd
    >>> y = [1, 1, 0, 0]
    >>> truth = pd.DataFrame({"muons": [1, 1, 0, 1], "jets": [1, 1, 1, 0]})
    >>> scores = pd.DataFrame({"muons": [0.9, 0.8, 0.1, 0.7], "jets": [0.9, 0.9, 0.8, 0.2]})
    >>> summary = decomposition_summary(y, scores.min(axis=1), scores, truth)
    >>> for name, value in summary.items():
    ...     print(f"{name}: {value:.3f}")
    global_auc: 1.000
    mean_channel_auc: 1.000
    worst_channel_auc: 1.000
    bad_only_channel_auc: 1.000
    """
    from sklearn.metrics import roc_auc_score

    labels = binary_labels(np.asarray(y_true).reshape(-1), "y_true", good_label)
    check_same_rows(labels, "y_true", y_score, "y_score")
    two_classes = len(np.unique(labels)) > 1
    result = {"global_auc": roc_auc_score(labels, y_score) if two_classes else np.nan}
    names = ("mean_channel_auc", "worst_channel_auc", "bad_only_channel_auc")
    if channel_scores is None:
        return result | dict.fromkeys(names, np.nan)
    truth = as_frame(channel_truth, "channel_truth", "channel")
    if isinstance(channel_scores, pd.DataFrame) and set(truth.columns) <= set(channel_scores):
        scores = channel_scores[list(truth.columns)].astype(float)
    else:
        scores = pd.DataFrame(np.asarray(channel_scores, dtype=float), index=truth.index)
        if match:
            scores = match_channels(scores, truth)
        elif scores.shape[1] != truth.shape[1]:
            raise ValueError(
                f"channel_scores has {scores.shape[1]} columns for {truth.shape[1]} channels; "
                "name them after channel_truth's columns, or pass match=True to match them."
            )
        scores.columns = truth.columns
    aucs = decomposition_auc(scores, truth)
    bad_only = bad_only_decomposition_auc(scores, truth, labels, good_label=1)
    return result | {
        "mean_channel_auc": np.nanmean(aucs),
        "worst_channel_auc": np.nanmin(aucs),
        "bad_only_channel_auc": np.nanmean(bad_only),
    }
