"""What every reference-only detector of the package shares: the threshold on its scores."""

from __future__ import annotations

import numpy as np

__all__ = ["ThresholdMixin"]


class ThresholdMixin:
    """``decision_function`` and ``predict`` from ``score_samples`` and a fitted ``offset_``.

    Subclasses define ``score_samples`` (higher = more normal) and set ``offset_`` in ``fit``.
    """

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers, positive for inliers.

        Parameters
        ----------
        X : array-like
            Samples, as for ``score_samples``.

        Returns
        -------
        ndarray of shape (n_samples,)
            Shifted scores.
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """+1 for inliers (reference-like), -1 for outliers.

        Parameters
        ----------
        X : array-like
            Samples, as for ``score_samples``.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels.
        """
        return np.where(self.decision_function(X) < 0, -1, 1)
