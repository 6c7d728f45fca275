"""Channel scores against subsystem flags: the AUC matrix and the exclusive anomalies."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import UndefinedMetricWarning

from .._validation import as_frame, binary_labels, check_same_rows, check_sample_weight
from ._auc import _auc_matrix, _warn_undefined

__all__ = ["channel_subsystem_auc", "exclusive_anomaly_fraction"]


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
    scores = as_frame(channel_scores, "channel_scores", "channel")
    labels = as_frame(subsystem_labels, "subsystem_labels", "subsystem")
    check_same_rows(scores, "channel_scores", labels, "subsystem_labels")
    weight = check_sample_weight(sample_weight, len(scores))
    flags = np.column_stack(
        [binary_labels(labels[s].to_numpy(), f"subsystem {s!r}") for s in labels.columns]
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
    scores = as_frame(channel_scores, "channel_scores", "channel")
    labels = as_frame(subsystem_labels, "subsystem_labels", "subsystem")
    check_same_rows(scores, "channel_scores", labels, "subsystem_labels")
    weight = check_sample_weight(sample_weight, len(scores))
    thresholds = _per_channel(threshold, scores.columns, "threshold")
    flags = np.column_stack(
        [binary_labels(labels[s].to_numpy(), f"subsystem {s!r}") for s in labels.columns]
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
