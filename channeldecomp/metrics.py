"""Decomposition and data-quality metrics for channel scores.

Conventions used throughout: labels are ``1 = good`` (certified) and ``0 = bad``; channel scores
are in ``(0, 1]`` with ``1 = the channel looks good``. A ROC AUC here is therefore the
probability that a good lumisection scores higher than a bad one. Every function accepts
``sample_weight`` (for instance the luminosity of each lumisection).

References
----------
.. [1] M. Borisyak et al., "Deep learning for inferring cause of data anomalies",
   J. Phys.: Conf. Ser. 1085 (2018) 042015, arXiv:1711.07051.
.. [2] M. Borisyak et al., "Towards automation of data quality system for CERN CMS experiment",
   J. Phys.: Conf. Ser. 898 (2017) 092041, arXiv:1709.08607.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import precision_recall_curve, roc_auc_score
from sklearn.model_selection import GroupShuffleSplit, train_test_split
from sklearn.utils import Bunch, check_random_state

from .model_selection import random_channel_partition

__all__ = [
    "channel_subsystem_auc",
    "decomposition_auc",
    "evaluate_triage",
    "exclusive_anomaly_fraction",
    "precision_at_recall",
    "random_partition_control",
    "triage",
    "triage_thresholds",
]


# --------------------------------------------------------------------------------------------
# Input helpers
# --------------------------------------------------------------------------------------------


def _as_frame(values, name, column_prefix):
    """Return ``values`` as a DataFrame (Series and arrays get generated column names)."""
    if isinstance(values, pd.DataFrame):
        return values
    if isinstance(values, pd.Series):
        return values.to_frame(name=values.name if values.name is not None else column_prefix)
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must be a pandas DataFrame or a numeric array; got {type(values).__name__}."
        ) from exc
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional (rows x columns); got {array.ndim} dims.")
    return pd.DataFrame(array, columns=[f"{column_prefix}{i}" for i in range(array.shape[1])])


def _check_same_rows(first, first_name, second, second_name):
    if len(first) != len(second):
        raise ValueError(
            f"{first_name} has {len(first)} rows but {second_name} has {len(second)}; both must "
            "describe the same lumisections in the same order."
        )
    first_index = getattr(first, "index", None)
    second_index = getattr(second, "index", None)
    if (
        isinstance(first, (pd.DataFrame, pd.Series))
        and isinstance(second, (pd.DataFrame, pd.Series))
        and not first_index.equals(second_index)
    ):
        raise ValueError(
            f"{first_name} and {second_name} have different indexes. Align them first, e.g. "
            f"{second_name} = {second_name}.loc[{first_name}.index], or pass plain arrays."
        )


def _check_sample_weight(sample_weight, n_samples):
    if sample_weight is None:
        return np.ones(n_samples)
    weight = np.asarray(sample_weight, dtype=float).reshape(-1)
    if weight.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight has {weight.shape[0]} values but there are {n_samples} lumisections."
        )
    if not np.all(np.isfinite(weight)) or (weight < 0).any():
        raise ValueError("sample_weight must be finite and non-negative.")
    return weight


def _binary_labels(values, name, good_label=1):
    """Return a float array with 1 for ``good_label``, 0 for the other class, NaN kept."""
    array = np.asarray(values)
    if array.dtype.kind in "fc":
        missing = np.isnan(array)
    elif array.dtype == object:
        missing = pd.isna(array)
    else:
        missing = np.zeros(array.shape, dtype=bool)
    present = array[~missing]
    classes = np.unique(present)
    if classes.size > 2:
        raise ValueError(
            f"{name} must be binary (good/bad); found values {classes[:5].tolist()}. "
            "Use 1 for good and 0 for bad."
        )
    if classes.size == 2 and good_label not in classes:
        raise ValueError(
            f"{name} has classes {classes.tolist()}, none of which is good_label={good_label!r}. "
            "Pass good_label= the value that means good."
        )
    labels = np.full(array.shape, np.nan)
    labels[~missing] = (present == good_label).astype(float)
    return labels


def _auc_matrix(score_values, flags, weight):
    """Weighted ROC AUC of every score column against every label column.

    The Mann-Whitney form of the area under the ROC curve, with ties counted as 1/2 (exactly
    what ``sklearn.metrics.roc_auc_score`` computes, trapezoids included): one sort per score
    column serves all label columns. NaN labels and NaN scores are left out pairwise.

    Returns
    -------
    auc, positive, negative : ndarray of shape (n_score_columns, n_label_columns)
        The AUC (NaN where one class is absent) and the total weight of each class.
    """
    n_scores, n_labels = score_values.shape[1], flags.shape[1]
    auc = np.full((n_scores, n_labels), np.nan)
    positive = np.zeros((n_scores, n_labels))
    negative = np.zeros((n_scores, n_labels))
    good_weight = np.where(flags == 1, weight[:, None], 0.0)
    bad_weight = np.where(flags == 0, weight[:, None], 0.0)
    for c in range(n_scores):
        scores = score_values[:, c]
        present = ~np.isnan(scores)
        order = np.argsort(scores[present], kind="stable")
        sorted_scores = scores[present][order]
        starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
        if starts.size == 0:
            continue
        good = np.add.reduceat(good_weight[present][order], starts, axis=0)
        bad = np.add.reduceat(bad_weight[present][order], starts, axis=0)
        bad_below = np.cumsum(bad, axis=0) - bad
        positive[c] = good.sum(axis=0)
        negative[c] = bad.sum(axis=0)
        numerator = (good * (bad_below + 0.5 * bad)).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            auc[c] = np.where(
                (positive[c] > 0) & (negative[c] > 0),
                numerator / (positive[c] * negative[c]),
                np.nan,
            )
    return auc, positive, negative


def _warn_undefined(auc, positive, negative, rows, columns, what):
    for j, column in enumerate(columns):
        undefined = np.isnan(auc[:, j])
        if undefined.any():
            which = "bad" if (negative[undefined, j] == 0).any() else "good"
            names = [rows[i] for i in np.flatnonzero(undefined)]
            warnings.warn(
                f"No {which} lumisection (with non-zero weight) for {column!r}; its ROC AUC "
                f"against {what} {names} is undefined and reported as NaN.",
                UndefinedMetricWarning,
                stacklevel=3,
            )


# --------------------------------------------------------------------------------------------
# Decomposition metrics
# --------------------------------------------------------------------------------------------


def channel_subsystem_auc(channel_scores, subsystem_labels, *, sample_weight=None):
    """ROC AUC of every channel score against every subsystem's expert flag.

    The matrix of the paper's Fig. 3: one row per channel, one column per subsystem. A
    lumisection with a missing (NaN) flag is left out of that subsystem's column. A subsystem
    with no bad (or no good) lumisection has no AUC: its column is NaN and a
    :class:`~sklearn.exceptions.UndefinedMetricWarning` is issued (it is *not* reported as 0.5).

    Parameters
    ----------
    channel_scores : DataFrame or array-like of shape (n_samples, n_channels)
        Channel scores, 1 = the channel looks good (e.g. ``predict_channel_scores(X)``).
    subsystem_labels : DataFrame or array-like of shape (n_samples, n_subsystems)
        Expert flags per subsystem, 1 = good, 0 = bad.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the lumisections.

    Returns
    -------
    auc : DataFrame of shape (n_channels, n_subsystems)
        ROC AUC (probability that a good LS scores higher than a bad one). ``auc.attrs["n_bad"]``
        holds the number of bad lumisections per subsystem (the counts in the paper's brackets).

    Examples
    --------
    >>> import pandas as pd
    >>> scores = pd.DataFrame({"muons": [0.9, 0.2, 0.8, 0.7], "jets": [0.9, 0.9, 0.1, 0.8]})
    >>> flags = pd.DataFrame({"DT": [1, 0, 1, 1], "HCAL": [1, 1, 0, 1]})
    >>> channel_subsystem_auc(scores, flags).round(3)
    subsystem     DT   HCAL
    channel
    muons      1.000  0.333
    jets       0.167  1.000
    """
    scores = _as_frame(channel_scores, "channel_scores", "channel")
    labels = _as_frame(subsystem_labels, "subsystem_labels", "subsystem")
    _check_same_rows(scores, "channel_scores", labels, "subsystem_labels")
    weight = _check_sample_weight(sample_weight, len(scores))
    flags = np.column_stack(
        [_binary_labels(labels[s].to_numpy(), f"subsystem {s!r}") for s in labels.columns]
    )
    auc, positive, negative = _auc_matrix(scores.to_numpy(dtype=float), flags, weight)
    _warn_undefined(auc, positive, negative, list(scores.columns), labels.columns, "channel(s)")
    result = pd.DataFrame(
        auc, index=pd.Index(scores.columns, name="channel"), columns=labels.columns
    )
    n_bad = {s: int((flags[:, j] == 0).sum()) for j, s in enumerate(labels.columns)}
    result.columns.name = "subsystem"
    result.attrs["n_bad"] = n_bad
    return result


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
    scores = _as_frame(channel_scores, "channel_scores", "channel")
    truth = _as_frame(channel_truth, "channel_truth", "channel")
    _check_same_rows(scores, "channel_scores", truth, "channel_truth")
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
    weight = _check_sample_weight(sample_weight, len(scores))
    values = {}
    for position, channel in enumerate(scores.columns):
        flags = _binary_labels(truth.iloc[:, position].to_numpy(), f"channel_truth[{channel!r}]")
        auc, positive, negative = _auc_matrix(
            scores.iloc[:, [position]].to_numpy(dtype=float), flags[:, None], weight
        )
        _warn_undefined(auc, positive, negative, [channel], [channel], "the score of channel")
        values[channel] = auc[0, 0]
    return pd.Series(values, name="decomposition_auc", dtype=float).rename_axis("channel")


def exclusive_anomaly_fraction(
    channel_scores, subsystem_labels, *, threshold=0.5, sample_weight=None
):
    """Fraction of exclusive anomalies that each channel flags.

    The paper's Fig. 4. A lumisection is an *exclusive* anomaly of subsystem ``s`` when it is bad
    in ``s`` and good in every other column of ``subsystem_labels`` (pass only the subsystems
    that should count, e.g. the low-level ones). A channel *flags* it when its score is below
    ``threshold``.

    Parameters
    ----------
    channel_scores : DataFrame or array-like of shape (n_samples, n_channels)
        Channel scores, 1 = the channel looks good.
    subsystem_labels : DataFrame or array-like of shape (n_samples, n_subsystems)
        Expert flags, 1 = good, 0 = bad. Rows with a missing flag are never exclusive.
    threshold : float or dict of str to float, default=0.5
        A channel flags a lumisection when its score is strictly below this value; a dict gives
        one threshold per channel.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the lumisections.

    Returns
    -------
    fraction : DataFrame of shape (n_channels, n_subsystems)
        Weighted fraction flagged; NaN (with a warning) for a subsystem without exclusive
        anomalies. ``fraction.attrs["n_exclusive"]`` holds the number of exclusive anomalies
        per subsystem.

    Examples
    --------
    >>> import pandas as pd
    >>> scores = pd.DataFrame({"muons": [0.9, 0.2, 0.8, 0.1], "jets": [0.9, 0.9, 0.1, 0.1]})
    >>> flags = pd.DataFrame({"DT": [1, 0, 1, 0], "HCAL": [1, 1, 0, 0]})
    >>> frac = exclusive_anomaly_fraction(scores, flags)
    >>> frac
    subsystem   DT  HCAL
    channel
    muons      1.0   0.0
    jets       0.0   1.0
    >>> frac.attrs["n_exclusive"]
    {'DT': 1, 'HCAL': 1}
    """
    scores = _as_frame(channel_scores, "channel_scores", "channel")
    labels = _as_frame(subsystem_labels, "subsystem_labels", "subsystem")
    _check_same_rows(scores, "channel_scores", labels, "subsystem_labels")
    weight = _check_sample_weight(sample_weight, len(scores))
    thresholds = _per_channel(threshold, scores.columns, "threshold")
    flags = np.column_stack(
        [_binary_labels(labels[s].to_numpy(), f"subsystem {s!r}") for s in labels.columns]
    )
    complete = ~np.isnan(flags).any(axis=1)
    n_bad = np.where(complete, (flags == 0).sum(axis=1), -1)
    flagged = scores.to_numpy(dtype=float) < np.array([thresholds[c] for c in scores.columns])

    result = pd.DataFrame(
        np.nan, index=pd.Index(scores.columns, name="channel"), columns=labels.columns
    )
    n_exclusive = {}
    for position, subsystem in enumerate(labels.columns):
        exclusive = (n_bad == 1) & (flags[:, position] == 0)
        n_exclusive[subsystem] = int(exclusive.sum())
        total = weight[exclusive].sum()
        if total == 0:
            warnings.warn(
                f"Subsystem {subsystem!r} has no exclusive anomaly; its fractions are NaN.",
                UndefinedMetricWarning,
                stacklevel=2,
            )
            continue
        result[subsystem] = (weight[exclusive, None] * flagged[exclusive]).sum(axis=0) / total
    result.columns.name = "subsystem"
    result.attrs["n_exclusive"] = n_exclusive
    return result


def _per_channel(value, channels, name):
    if isinstance(value, dict):
        missing = [c for c in channels if c not in value]
        if missing:
            raise ValueError(f"{name} has no value for channel(s) {missing}.")
        return {c: float(value[c]) for c in channels}
    if isinstance(value, pd.Series):
        return _per_channel(value.to_dict(), channels, name)
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number or a dict per channel; got {value!r}.")
    return {c: float(value) for c in channels}


# --------------------------------------------------------------------------------------------
# Global metrics and triage
# --------------------------------------------------------------------------------------------


def precision_at_recall(y_true, y_score, *, recall, pos_label=1, sample_weight=None):
    """Best precision among the score thresholds that reach at least ``recall``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Binary labels.
    y_score : array-like of shape (n_samples,)
        Scores, higher = more likely ``pos_label``.
    recall : float in [0, 1]
        Minimum recall of ``pos_label``.
    pos_label : int or str, default=1
        The positive class (1 = good: the precision of "accept").
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the samples.

    Returns
    -------
    precision : float
        The highest precision at recall >= ``recall``.

    Examples
    --------
    >>> precision_at_recall([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], recall=0.5)
    1.0
    >>> precision_at_recall([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], recall=1.0)
    0.666...
    """
    if not isinstance(recall, numbers.Real) or not 0 <= recall <= 1:
        raise ValueError(f"recall must be a number in [0, 1]; got {recall!r}.")
    y_true = np.asarray(y_true).reshape(-1)
    y_score = np.asarray(y_score, dtype=float).reshape(-1)
    _check_same_rows(y_true, "y_true", y_score, "y_score")
    weight = _check_sample_weight(sample_weight, len(y_true))
    precision, achieved, _ = precision_recall_curve(
        y_true, y_score, pos_label=pos_label, sample_weight=weight
    )
    # The last point of the curve (recall 0, precision 1) is not a threshold; leave it out.
    precision, achieved = precision[:-1], achieved[:-1]
    reachable = achieved >= recall - 1e-12
    return float(precision[reachable].max())


def _sorted_scores(y_good, scores, weight):
    order = np.argsort(scores, kind="stable")
    return scores[order], y_good[order], weight[order]


def _upper_bound(bad_weight, total_weight, total_squared, confidence):
    """Empirical rate, or its one-sided Clopper-Pearson upper bound on effective counts."""
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(total_weight > 0, bad_weight / total_weight, 0.0)
    if confidence is None:
        return rate
    from scipy.stats import beta

    with np.errstate(invalid="ignore", divide="ignore"):
        n_effective = np.where(total_squared > 0, total_weight**2 / total_squared, 0.0)
    k = rate * n_effective
    bound = beta.ppf(confidence, k + 1, np.maximum(n_effective - k, 1e-12))
    return np.where(n_effective > 0, bound, 0.0)


def triage_thresholds(
    y_true,
    scores,
    *,
    max_pollution=0.004,
    max_loss=0.006,
    good_label=1,
    confidence=0.95,
    sample_weight=None,
):
    """Choose the two triage thresholds of arXiv:1709.08607 on a calibration set.

    Lumisections scoring at or above ``accept_at`` are accepted automatically, those at or below
    ``reject_at`` are rejected automatically, and the rest go to an expert. ``accept_at`` is the
    lowest threshold whose accepted set has *pollution* (weighted fraction of bad lumisections
    among the accepted) at most ``max_pollution``; ``reject_at`` is then the highest threshold
    below it whose rejected set has *loss* (weighted fraction of good lumisections among the
    rejected) at most ``max_loss``. This minimizes the manual-review fraction on the calibration
    set; check the rates on held-out data with :func:`evaluate_triage` (or use :func:`triage`).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Global labels of the calibration lumisections.
    scores : array-like of shape (n_samples,)
        Scores, higher = more likely good (e.g. ``predict_proba(X)[:, good column]``).
    max_pollution : float, default=0.004
        Largest allowed fraction of bad lumisections among the accepted.
    max_loss : float, default=0.006
        Largest allowed fraction of good lumisections among the rejected.
    good_label : int or str, default=1
        The label that means good.
    confidence : float in (0, 1) or None, default=0.95
        Require the one-sided Clopper-Pearson upper bound (at this confidence, on effective
        counts when weighted) of each rate to meet its target. The targets then hold on new
        data from the same distribution with about that probability. ``None`` uses the
        empirical rates: less manual review, but the thresholds that just meet a target on the
        calibration set typically miss it on new data (roughly half the time or more).
    sample_weight : array-like of shape (n_samples,), default=None
        Weights (e.g. luminosity).

    Returns
    -------
    reject_at, accept_at : float
        Reject a lumisection when ``score <= reject_at``, accept it when ``score >= accept_at``.
        ``reject_at = -inf`` (nothing rejected) or ``accept_at = inf`` (nothing accepted) when no
        threshold meets the target.

    Examples
    --------
    >>> y = [0, 0, 0, 1, 0, 1, 1, 1]
    >>> s = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    >>> triage_thresholds(y, s, max_pollution=0.0, max_loss=0.0, confidence=None)
    (0.3, 0.6)
    >>> triage_thresholds(y, s, max_pollution=0.1, max_loss=0.1)  # too few LS to vouch for
    (-inf, inf)
    """
    for name, value in (("max_pollution", max_pollution), ("max_loss", max_loss)):
        if not isinstance(value, numbers.Real) or not 0 <= value < 1:
            raise ValueError(f"{name} must be a number in [0, 1); got {value!r}.")
    if confidence is not None and not 0 < confidence < 1:
        raise ValueError(f"confidence must be None or in (0, 1); got {confidence!r}.")
    y_good = _binary_labels(np.asarray(y_true).reshape(-1), "y_true", good_label)
    if np.isnan(y_good).any():
        raise ValueError("y_true has missing values; drop those lumisections first.")
    scores = np.asarray(scores, dtype=float).reshape(-1)
    _check_same_rows(y_good, "y_true", scores, "scores")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores must be finite.")
    weight = _check_sample_weight(sample_weight, len(scores))
    scores, y_good, weight = _sorted_scores(y_good, scores, weight)
    values, first = np.unique(scores, return_index=True)

    # Accept {score >= v}: cumulative sums from the top.
    bad_weight = weight * (1 - y_good)
    suffix_total = np.cumsum(weight[::-1])[::-1][first]
    suffix_bad = np.cumsum(bad_weight[::-1])[::-1][first]
    suffix_squared = np.cumsum((weight**2)[::-1])[::-1][first]
    pollution = _upper_bound(suffix_bad, suffix_total, suffix_squared, confidence)
    ok = (pollution <= max_pollution) & (suffix_total > 0)
    accept_at = float(values[np.flatnonzero(ok)[0]]) if ok.any() else np.inf

    # Reject {score <= v}: cumulative sums from the bottom, up to the last row of each value.
    last = np.r_[first[1:], len(scores)] - 1
    prefix_total = np.cumsum(weight)[last]
    prefix_good = np.cumsum(weight * y_good)[last]
    prefix_squared = np.cumsum(weight**2)[last]
    loss = _upper_bound(prefix_good, prefix_total, prefix_squared, confidence)
    ok = (loss <= max_loss) & (prefix_total > 0) & (values < accept_at)
    reject_at = float(values[np.flatnonzero(ok)[-1]]) if ok.any() else -np.inf
    return reject_at, accept_at


def evaluate_triage(y_true, scores, thresholds, *, good_label=1, sample_weight=None):
    """Pollution, loss and workload of a triage on (held-out) lumisections.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Global labels.
    scores : array-like of shape (n_samples,)
        Scores, higher = more likely good.
    thresholds : tuple of (float, float)
        ``(reject_at, accept_at)`` from :func:`triage_thresholds`.
    good_label : int or str, default=1
        The label that means good.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights.

    Returns
    -------
    result : dict
        ``pollution`` (bad among accepted, 0 if none accepted), ``loss`` (good among rejected,
        0 if none rejected), ``accepted_fraction``, ``rejected_fraction``, ``manual_fraction``
        (all weighted) and the counts ``n_accepted``, ``n_rejected``, ``n_manual``.

    Examples
    --------
    >>> r = evaluate_triage([0, 1, 1, 0], [0.1, 0.5, 0.9, 0.95], (0.2, 0.8))
    >>> r["pollution"], r["loss"], r["manual_fraction"]
    (0.5, 0.0, 0.25)
    """
    reject_at, accept_at = (float(t) for t in thresholds)
    if reject_at >= accept_at:
        raise ValueError(
            f"thresholds must be (reject_at, accept_at) with reject_at < accept_at; got "
            f"{thresholds!r}."
        )
    y_good = _binary_labels(np.asarray(y_true).reshape(-1), "y_true", good_label)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    _check_same_rows(y_good, "y_true", scores, "scores")
    weight = _check_sample_weight(sample_weight, len(scores))
    accepted = scores >= accept_at
    rejected = scores <= reject_at
    manual = ~accepted & ~rejected
    total = weight.sum()

    def rate(mask, of):
        denominator = weight[mask].sum()
        return float((weight[mask] * of[mask]).sum() / denominator) if denominator > 0 else 0.0

    return {
        "pollution": rate(accepted, 1 - y_good),
        "loss": rate(rejected, y_good),
        "accepted_fraction": float(weight[accepted].sum() / total),
        "rejected_fraction": float(weight[rejected].sum() / total),
        "manual_fraction": float(weight[manual].sum() / total),
        "n_accepted": int(accepted.sum()),
        "n_rejected": int(rejected.sum()),
        "n_manual": int(manual.sum()),
    }


def triage(
    y_true,
    scores,
    *,
    max_pollution=0.004,
    max_loss=0.006,
    calibration_size=0.5,
    good_label=1,
    confidence=0.95,
    sample_weight=None,
    random_state=None,
):
    """Choose triage thresholds on a calibration split and evaluate them on the rest.

    A stratified split of the lumisections: :func:`triage_thresholds` on the calibration part,
    :func:`evaluate_triage` on both parts.

    Parameters
    ----------
    y_true, scores : array-like of shape (n_samples,)
        Global labels and scores (higher = more likely good) of lumisections the model was not
        trained on.
    max_pollution, max_loss, good_label, confidence : see :func:`triage_thresholds`.
    calibration_size : float in (0, 1), default=0.5
        Fraction of lumisections used to choose the thresholds.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights.
    random_state : int, RandomState instance or None, default=None
        Seed of the split.

    Returns
    -------
    result : sklearn.utils.Bunch
        ``reject_at``, ``accept_at``, ``calibration`` and ``evaluation`` (dicts of
        :func:`evaluate_triage`), ``max_pollution``, ``max_loss``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random(2000) < 0.7
    >>> s = np.where(y, rng.beta(8, 2, 2000), rng.beta(2, 8, 2000))
    >>> r = triage(y, s, max_pollution=0.01, max_loss=0.01, random_state=0)
    >>> round(r.accept_at, 3), r.evaluation["pollution"] <= 0.01
    (0.551, True)
    >>> round(r.evaluation["manual_fraction"], 3)
    0.329
    """
    y_true = np.asarray(y_true).reshape(-1)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    weight = _check_sample_weight(sample_weight, len(y_true))
    _check_same_rows(y_true, "y_true", scores, "scores")
    if not 0 < calibration_size < 1:
        raise ValueError(f"calibration_size must be in (0, 1); got {calibration_size!r}.")
    indices = np.arange(len(y_true))
    calibration, evaluation = train_test_split(
        indices, train_size=calibration_size, stratify=y_true, random_state=random_state
    )
    thresholds = triage_thresholds(
        y_true[calibration],
        scores[calibration],
        max_pollution=max_pollution,
        max_loss=max_loss,
        good_label=good_label,
        confidence=confidence,
        sample_weight=weight[calibration],
    )
    if thresholds[0] == -np.inf and thresholds[1] == np.inf:
        thresholds = (-np.inf, np.inf)
    kwargs = {"good_label": good_label}
    return Bunch(
        reject_at=thresholds[0],
        accept_at=thresholds[1],
        calibration=evaluate_triage(
            y_true[calibration],
            scores[calibration],
            thresholds,
            sample_weight=weight[calibration],
            **kwargs,
        ),
        evaluation=evaluate_triage(
            y_true[evaluation],
            scores[evaluation],
            thresholds,
            sample_weight=weight[evaluation],
            **kwargs,
        ),
        max_pollution=max_pollution,
        max_loss=max_loss,
    )


# --------------------------------------------------------------------------------------------
# Model helpers and the random-partition control
# --------------------------------------------------------------------------------------------


def _final_estimator(model):
    """Return (final estimator, parameter prefix, preprocessing or None) of a model/pipeline."""
    steps = getattr(model, "steps", None)
    if steps:
        name, last = steps[-1]
        return last, f"{name}__", model[:-1]
    return model, "", None


def _predict_channel_scores(model, X):
    """Channel scores of a fitted classifier or of a Pipeline ending in one."""
    final, _, preprocessing = _final_estimator(model)
    if not hasattr(final, "predict_channel_scores"):
        raise TypeError(
            f"{type(final).__name__} has no predict_channel_scores: pass a fitted "
            "ChannelDecompositionClassifier (or a Pipeline ending in one)."
        )
    transformed = preprocessing.transform(X) if preprocessing is not None else X
    scores = final.predict_channel_scores(transformed)
    if not isinstance(scores, pd.DataFrame):
        scores = pd.DataFrame(np.asarray(scores), columns=list(final.channel_names_))
    if isinstance(X, (pd.DataFrame, pd.Series)):
        scores.index = X.index
    return scores


def _predict_good_proba(model, X, good_label=1):
    """P(good) of a fitted classifier (column of ``good_label`` in ``classes_``)."""
    proba = model.predict_proba(X)
    classes = list(model.classes_)
    if good_label not in classes:
        raise ValueError(f"good_label={good_label!r} is not one of the classes {classes}.")
    return proba[:, classes.index(good_label)]


def _take(values, rows):
    if values is None:
        return None
    if isinstance(values, (pd.DataFrame, pd.Series)):
        return values.iloc[rows]
    return np.asarray(values)[rows]


def _evaluate(model, X, y, *, subsystem_labels, channel_truth, sample_weight, good_label):
    scores = _predict_channel_scores(model, X)
    y_good = (np.asarray(y) == good_label).astype(int)
    result = Bunch(
        global_auc=float(
            roc_auc_score(
                y_good, _predict_good_proba(model, X, good_label), sample_weight=sample_weight
            )
        ),
        channel_auc=channel_subsystem_auc(
            scores,
            pd.DataFrame({"global": y_good}, index=scores.index),
            sample_weight=sample_weight,
        )["global"].rename("channel_auc"),
    )
    if subsystem_labels is not None:
        labels = subsystem_labels
        if isinstance(labels, pd.DataFrame):
            labels = labels.set_axis(scores.index, axis=0)
        result.channel_subsystem_auc = channel_subsystem_auc(
            scores, labels, sample_weight=sample_weight
        )
    if channel_truth is not None:
        truth = channel_truth
        if isinstance(truth, pd.DataFrame):
            truth = truth.set_axis(scores.index, axis=0)
        result.decomposition_auc = decomposition_auc(scores, truth, sample_weight=sample_weight)
        result.bad_only_decomposition_auc = _bad_only_decomposition_auc(
            scores, truth, y_good, sample_weight=sample_weight
        )
    return result


def _bad_only_decomposition_auc(scores, truth, y_good, *, sample_weight=None):
    """:func:`decomposition_auc` over the globally bad rows only (``y_good == 0``).

    Among the bad lumisections, a score must tell *which* channel is bad: a plain global
    detector scores 0.5 there, however well it scores over all lumisections.
    """
    bad = np.flatnonzero(np.asarray(y_good) == 0)
    return decomposition_auc(
        _take(scores, bad), _take(truth, bad), sample_weight=_take(sample_weight, bad)
    ).rename("bad_only_decomposition_auc")


def random_partition_control(
    estimator,
    X,
    y,
    *,
    subsystem_labels=None,
    channel_truth=None,
    sample_weight=None,
    n_repeats=1,
    test_size=0.25,
    groups=None,
    good_label=1,
    random_state=None,
):
    """Refit with the features split into random channels of the same sizes.

    The control experiment of the paper's discussion: if a model whose channels are *random*
    groups of columns reaches nearly the same channel x subsystem AUC matrix, that matrix
    measures correlation with the global label, not decomposition. The estimator (a
    ``ChannelDecompositionClassifier`` or a Pipeline ending in one) is cloned and fitted once
    with its own channels (the reference) and ``n_repeats`` times with random channels, on the
    same stratified training split; all are evaluated on the same held-out split.

    The random channels keep the names and sizes of the reference's channels (channel ``c`` of
    a random model has as many columns as ``c``, drawn at random by
    :func:`channeldecomp.model_selection.random_channel_partition`), so the metrics line up
    row by row.

    Parameters
    ----------
    estimator : estimator
        Unfitted (or fitted: it is cloned) classifier with a ``channels`` parameter and
        ``predict_channel_scores``, or a Pipeline ending in one.
    X : DataFrame or array-like of shape (n_samples, n_features)
        Features.
    y : array-like of shape (n_samples,)
        Global labels.
    subsystem_labels : DataFrame or array-like of shape (n_samples, n_subsystems), default=None
        Expert flags per subsystem (1 = good); adds ``channel_subsystem_auc``.
    channel_truth : DataFrame of shape (n_samples, n_channels), default=None
        Known per-channel truth (1 = nothing visible); adds ``decomposition_auc``.
    sample_weight : array-like of shape (n_samples,), default=None
        Passed to ``fit`` (as ``sample_weight``, routed to the final step of a Pipeline) and
        to the metrics.
    n_repeats : int, default=1
        Number of random partitions.
    test_size : float in (0, 1), default=0.25
        Fraction of lumisections held out for evaluation.
    groups : array-like of shape (n_samples,), default=None
        Group of each lumisection, e.g. its run: whole groups are held out
        (``GroupShuffleSplit``), so lumisections of one fault episode never sit on both sides.
        Default: a stratified split of the lumisections.
    good_label : int or str, default=1
        The label that means good.
    random_state : int, RandomState instance or None, default=None
        Seed of the split and of the partitions (the estimator's own ``random_state`` is
        left as given).

    Returns
    -------
    result : sklearn.utils.Bunch
        ``reference``: metrics of the estimator with its own channels; ``random``: list of
        metrics, one per partition; ``partitions``: list of ``{channel: column indices}``.
        Each metrics Bunch holds ``global_auc``, ``channel_auc`` (each channel's score against
        the global label) and, when the inputs are given, ``channel_subsystem_auc``,
        ``decomposition_auc`` and ``bad_only_decomposition_auc`` (the same over the globally
        bad lumisections only, where a score must tell which channel is bad: a global detector
        scores 0.5 there).

    Examples
    --------
    >>> from channeldecomp import ChannelDecompositionClassifier
    >>> from channeldecomp.datasets import make_channel_anomalies
    >>> data = make_channel_anomalies(n_samples=400, n_features_per_channel=4, random_state=0)
    >>> model = ChannelDecompositionClassifier(hidden_layer_sizes=(8,), max_epochs=2,
    ...                                        random_state=0)
    >>> control = random_partition_control(
    ...     model, data.data, data.target, channel_truth=data.channel_truth, random_state=0
    ... )
    >>> {channel: len(columns) for channel, columns in control.partitions[0].items()}
    {'muons': 4, 'photons': 4, 'pf': 4, 'calo_jets': 4}
    >>> list(control.random[0].decomposition_auc.index) == data.channel_names
    True
    """
    if not isinstance(n_repeats, numbers.Integral) or n_repeats < 1:
        raise ValueError(f"n_repeats must be a positive integer; got {n_repeats!r}.")
    final, prefix, _ = _final_estimator(estimator)
    if "channels" not in final.get_params(deep=False):
        raise TypeError(
            f"{type(final).__name__} has no 'channels' parameter: random_partition_control needs "
            "a ChannelDecompositionClassifier (or a Pipeline ending in one)."
        )
    n_samples = len(y)
    if len(X) != n_samples:
        raise ValueError(f"X has {len(X)} rows but y has {n_samples}.")
    for name, values in (("subsystem_labels", subsystem_labels), ("channel_truth", channel_truth)):
        if values is not None and len(values) != n_samples:
            raise ValueError(f"{name} has {len(values)} rows but y has {n_samples}.")
    weight = None if sample_weight is None else _check_sample_weight(sample_weight, n_samples)
    rng = check_random_state(random_state)
    y_array = np.asarray(y)
    if groups is None:
        train, test = train_test_split(
            np.arange(n_samples), test_size=test_size, stratify=y_array, random_state=rng
        )
    else:
        if len(groups) != n_samples:
            raise ValueError(f"groups has {len(groups)} rows but y has {n_samples}.")
        splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=rng)
        train, test = next(splitter.split(np.zeros(n_samples), y_array, groups=np.asarray(groups)))

    def fit_and_evaluate(model):
        fit_params = {}
        if weight is not None:
            fit_params[f"{prefix}sample_weight"] = weight[train]
        model.fit(_take(X, train), _take(y, train), **fit_params)
        return _evaluate(
            model,
            _take(X, test),
            y_array[test],
            subsystem_labels=_take(subsystem_labels, test),
            channel_truth=_take(channel_truth, test),
            sample_weight=None if weight is None else weight[test],
            good_label=good_label,
        )

    reference_model = clone(estimator)
    reference = fit_and_evaluate(reference_model)
    fitted_final, _, _ = _final_estimator(reference_model)
    channel_indices = fitted_final.channel_indices_
    names = list(fitted_final.channel_names_)
    sizes = [len(channel_indices[name]) for name in names]
    n_features = fitted_final.n_features_in_

    partitions, random_results = [], []
    for _ in range(n_repeats):
        groups = random_channel_partition(sizes, n_features, rng)
        partition = {name: group.tolist() for name, group in zip(names, groups)}
        model = clone(estimator).set_params(**{f"{prefix}channels": partition})
        random_results.append(fit_and_evaluate(model))
        partitions.append(partition)
    return Bunch(reference=reference, random=random_results, partitions=partitions)
