"""Empirical p-values of scores against a reference population, interpolated and with smooth
tails so that they stay continuous and ordered."""

from __future__ import annotations

import numpy as np

__all__ = ["empirical_pvalues"]


def empirical_pvalues(scores, reference):
    """Smoothed fraction of a reference population at or below each score, in (0, 1).

    With the reference sorted, ``r_1 <= ... <= r_m``, the value is the piecewise-linear curve
    through the points ``(r_j, j / (m + 1))``: a reference-like score gets a roughly uniform
    value. Outside the population the curve continues smoothly instead of saturating: below
    ``r_1`` it decays as ``exp((score - r_1) / s) / (m + 1)``, above ``r_m`` it rises as
    ``(m + 1 - exp(-(score - r_m) / s)) / (m + 1)``, ``s`` the standard deviation of the
    reference. So values never tie at the ends, outliers stay ranked by how far outside they lie,
    and they tend to 0.

    Parameters
    ----------
    scores : ndarray of shape (n,)
        Scores, higher = more normal.
    reference : ndarray of shape (m,) or (n, m)
        Scores of the reference population: one shared population, or one per score.

    Returns
    -------
    ndarray of shape (n,)
        Values in (0, 1), increasing with the score.
    """
    scores = np.asarray(scores, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    shared = reference.ndim == 1
    reference = np.sort(reference, axis=-1)
    size = reference.shape[-1]
    if shared:
        counts = np.searchsorted(reference, scores, side="right")
        spread = np.full(scores.shape, reference.std())
        lowest = np.full(scores.shape, reference[0])
        highest = np.full(scores.shape, reference[-1])
        lower = reference[np.clip(counts - 1, 0, size - 1)]
        upper = reference[np.clip(counts, 0, size - 1)]
    else:
        counts = (reference <= scores[:, None]).sum(axis=1)
        spread = reference.std(axis=1)
        lowest, highest = reference[:, 0], reference[:, -1]
        lower = np.take_along_axis(reference, np.clip(counts - 1, 0, size - 1)[:, None], 1)[:, 0]
        upper = np.take_along_axis(reference, np.clip(counts, 0, size - 1)[:, None], 1)[:, 0]
    spread = np.where(spread > 0, spread, 1.0)

    gap = upper - lower
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(gap > 0, (scores - lower) / gap, 0.0)
    pvalues = (counts + np.clip(fraction, 0.0, 1.0)) / (size + 1.0)
    below = counts == 0
    # Clip the exponents so extreme outliers give tiny positive values, never exactly 0 or 1.
    exponent = np.clip((scores[below] - lowest[below]) / spread[below], -700.0, 0.0)
    pvalues[below] = np.exp(exponent) / (size + 1.0)
    above = counts == size
    exponent = np.clip(-(scores[above] - highest[above]) / spread[above], -30.0, 0.0)
    pvalues[above] = (size + 1.0 - np.exp(exponent)) / (size + 1.0)
    return pvalues
