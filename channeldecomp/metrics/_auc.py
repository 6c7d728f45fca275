"""The weighted ROC AUC kernel of the metrics: every score column against every label column."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning


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
        if not present.any():  # no row, or every score NaN: undefined, as for one class absent
            continue
        order = np.argsort(scores[present], kind="stable")
        sorted_scores = scores[present][order]
        starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
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
