"""A small stand-in channel model (ChannelModelMixin) for the DQM tests.

One logistic regression per channel on the global label, combined with the Fuzzy AND. Fast and
deterministic; the tests that need the real network use ChannelDecompositionClassifier itself.
"""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted, validate_data

from channeldecomp.base import ChannelModelMixin


class LogisticChannelClassifier(ClassifierMixin, ChannelModelMixin, BaseEstimator):
    def __init__(self, channels="prefix", remainder="error", C=1.0):
        self.channels = channels
        self.remainder = remainder
        self.C = C

    def fit(self, X, y, sample_weight=None):
        X, y = validate_data(self, X, y)
        self.classes_ = np.unique(y)
        self._resolve_channels(X)
        good = (y == self.classes_[-1]).astype(int)
        self.heads_ = {
            name: LogisticRegression(C=self.C).fit(X[:, idx], good, sample_weight=sample_weight)
            for name, idx in self.channel_indices_.items()
        }
        self.history_ = [
            {"epoch": e, "train_loss": 1.0 / e, "valid_loss": 1.1 / e, "dur": 0.1}
            for e in range(1, 4)
        ]
        return self

    def predict_channel_scores(self, X):
        check_is_fitted(self)
        values = validate_data(self, X, reset=False)
        scores = [
            self.heads_[name].predict_proba(values[:, idx])[:, 1]
            for name, idx in self.channel_indices_.items()
        ]
        return self._channel_frame(np.column_stack(scores), X)

    def predict_proba(self, X):
        scores = self.predict_channel_scores(X).to_numpy()
        p_good = np.exp((scores - 1).sum(axis=1))
        return np.column_stack([1 - p_good, p_good])

    def predict(self, X):
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]
