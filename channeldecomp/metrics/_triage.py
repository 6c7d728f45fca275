"""The global score: precision at a recall, and the two-threshold triage of arXiv:1709.08607."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.metrics import precision_recall_curve
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch

from .._validation import binary_labels, check_same_rows, check_sample_weight

__all__ = ["evaluate_triage", "precision_at_recall", "triage", "triage_thresholds"]


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
    check_same_rows(y_true, "y_true", y_score, "y_score")
    weight = check_sample_weight(sample_weight, len(y_true))
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
    y_good = binary_labels(np.asarray(y_true).reshape(-1), "y_true", good_label)
    if np.isnan(y_good).any():
        raise ValueError("y_true has missing values; drop those lumisections first.")
    scores = np.asarray(scores, dtype=float).reshape(-1)
    check_same_rows(y_good, "y_true", scores, "scores")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores must be finite.")
    weight = check_sample_weight(sample_weight, len(scores))
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
    y_good = binary_labels(np.asarray(y_true).reshape(-1), "y_true", good_label)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    check_same_rows(y_good, "y_true", scores, "scores")
    weight = check_sample_weight(sample_weight, len(scores))
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
    weight = check_sample_weight(sample_weight, len(y_true))
    check_same_rows(y_true, "y_true", scores, "scores")
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
