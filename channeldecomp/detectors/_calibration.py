"""Empirical p-values of scores against a reference population, with a smooth lower tail."""

from __future__ import annotations

import numpy as np

__all__ = ["empirical_pvalues"]


def empirical_pvalues(scores, reference):
    """Fraction of a reference population at or below each score, in (0, 1].

    ``p = (1 + #{reference <= score}) / (n_reference + 1)``: a reference-like score gets a roughly
    uniform value, the largest gets 1. Below the whole reference population the count is 0 and
    all such scores would tie at ``1 / (n_reference + 1)``; there the value decays instead as
    ``exp((score - min(reference)) / std(reference)) / (n_reference + 1)``, so outliers stay ranked
    by how far outside they lie, and tend to 0.

    Parameters
    ----------
    scores : ndarray of shape (n,)
        Scores, higher = more normal.
    reference : ndarray of shape (m,) or (n, m)
        Scores of the reference population: one shared population, or one per score.

    Returns
    -------
    ndarray of shape (n,)
        Values in (0, 1].
    """
    scores = np.asarray(scores, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if reference.ndim == 1:
        sorted_reference = np.sort(reference)
        counts = np.searchsorted(sorted_reference, scores, side="right")
        low = np.full(scores.shape, sorted_reference[0] if sorted_reference.size else 0.0)
        spread = np.full(scores.shape, reference.std())
        size = reference.size
    else:
        counts = (reference <= scores[:, None]).sum(axis=1)
        low = reference.min(axis=1)
        spread = reference.std(axis=1)
        size = reference.shape[1]
    spread = np.where(spread > 0, spread, 1.0)
    pvalues = (1.0 + counts) / (size + 1.0)
    below = counts == 0
    # Clip the exponent so extreme outliers give a tiny positive value, never exactly 0.
    exponent = np.clip((scores[below] - low[below]) / spread[below], -700.0, 0.0)
    pvalues[below] = np.exp(exponent) / (size + 1.0)
    return pvalues
