"""Any scikit-learn outlier detector, fitted channel by channel, with calibrated channel scores."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.ensemble import IsolationForest
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import seeded_clone
from ..base import ChannelModelMixin
from ._base import ThresholdMixin
from ._calibration import empirical_pvalues

__all__ = ["PerChannelOutlierDetector"]

# How the calibrated channel scores combine into the global score (numpy, on scores; not the
# classifier's trainable combiners of channeldecomp.decomposition).
_SCORE_COMBINERS = ("min", "product", "fuzzy_and")


def _raw_scores(estimator, X, channel):
    if hasattr(estimator, "score_samples"):
        try:
            return np.asarray(estimator.score_samples(X), dtype=np.float64)
        except AttributeError:
            pass
    if hasattr(estimator, "decision_function"):
        return np.asarray(estimator.decision_function(X), dtype=np.float64)
    raise TypeError(
        f"The estimator of channel {channel!r} ({type(estimator).__name__}) has neither "
        "score_samples nor decision_function on new data. Use an outlier detector such as "
        "IsolationForest, OneClassSVM or LocalOutlierFactor(novelty=True)."
    )


class PerChannelOutlierDetector(ThresholdMixin, OutlierMixin, ChannelModelMixin, BaseEstimator):
    """One outlier detector per channel, fitted on reference rows, with calibrated channel scores.

    The unsupervised counterpart of the channel-decomposition classifier, and a baseline for it:
    the estimator is cloned once per channel and fitted on that channel's columns of reference
    (good) rows only. A channel's score for a row is the empirical CDF, over the reference rows,
    of the estimator's score: the fraction of reference rows that look at most as normal in this
    channel (interpolated between reference rows, with smooth exponential tails beyond the least
    and the most normal ones, so values stay in (0, 1], never tie and keep their order). A
    reference-like row gets roughly uniform channel scores; a row with an anomaly in a channel
    gets a score near 0 there. **1 = the channel looks good.**

    The global score combines the channel scores (``combiner``) and is itself calibrated the
    same way against the reference rows, so it is also a p-value-like number in (0, 1]:

    - ``"min"`` (default): the least normal channel decides, the natural choice when an anomaly
      is typically visible in a few channels.
    - ``"product"``: the product of the channel scores (Fisher's combination up to a monotone
      map), stronger when weak evidence is spread over many channels.
    - ``"fuzzy_and"``: ``exp(sum(f_i - 1))``, the combiner of the classifier, for comparison;
      weak with uniform reference scores, since one channel at 0 only costs a factor ``e``.

    The detector is a channel model (:class:`~channeldecomp.base.ChannelModelMixin`):
    :meth:`~channeldecomp.base.ChannelModelMixin.transform` gives the channel scores, named by
    ``get_feature_names_out()``.

    The reference scores are those of the training rows themselves, so for detectors that fit
    their training rows more closely than new ones the scores of new reference rows are slightly
    below uniform (more false alarms than ``false_alarm_rate``); keep some reference rows out of
    fit and check ``predict`` on them when the exact rate matters.

    Parameters
    ----------
    estimator : outlier detector, default=None
        The detector cloned for each channel; it needs ``score_samples`` (or
        ``decision_function``), higher = more normal. ``None``: ``IsolationForest()``.
    channels : dict or {"auto", "prefix", "columns"}, default="auto"
        How columns group into channels, as for the classifier: ``{name: [column names]}``,
        ``{name: [integer indices]}``, ``{name: regex}``, ``"prefix"`` (feature names grouped by
        the part before the first ``"__"``), ``"columns"`` (every column its own channel,
        named after it, or after its index when X has no column names), or ``"auto"``:
        ``"prefix"`` when some feature name contains ``"__"``, else ``"columns"`` (so a plain
        array works).
    remainder : {"error", "drop"}, default="error"
        Columns in no channel: an error, or left out.
    combiner : {"min", "product", "fuzzy_and"}, default="min"
        How channel scores combine into the global score (see above).
    contamination : "auto" or float, default="auto"
        ``"auto"``: ``offset_ = false_alarm_rate``, the cut on the calibrated global score. A
        float in (0, 0.5]: that fraction of the training rows is flagged, ``offset_`` being that
        quantile of their global scores.
    false_alarm_rate : float, default=0.05
        Target fraction of reference rows flagged when ``contamination="auto"``.
    random_state : int, RandomState instance or None, default=None
        When set, each clone that has a ``random_state`` parameter gets its own seed drawn from
        it; when None, the clones keep the estimator's own ``random_state``.

    Attributes
    ----------
    estimators_ : dict of str to estimator
        The fitted detector of each channel.
    channel_names_ : list of str
        The channels, in order.
    channel_indices_ : dict of str to ndarray of int
        Columns of each channel.
    reference_scores_ : dict of str to ndarray
        Sorted raw scores of the reference rows, per channel (the calibration).
    global_reference_scores_ : ndarray
        Sorted combined (uncalibrated) scores of the reference rows.
    offset_ : float
        ``decision_function = score_samples - offset_``.
    n_features_in_ : int
        Number of columns of X seen in fit.
    feature_names_in_ : ndarray of str
        Column names of X, when X had string column names.

    See Also
    --------
    FluxMutability : a conditional density-based detector.

    Examples
    --------
    >>> from channeldecomp.datasets import make_channel_anomalies
    >>> from channeldecomp.detectors import PerChannelOutlierDetector
    >>> data = make_channel_anomalies(n_samples=400, random_state=0)
    >>> good = data.data[data.target == 1]
    >>> detector = PerChannelOutlierDetector(random_state=0).fit(good)
    >>> scores = detector.predict_channel_scores(data.data.iloc[:3])
    >>> list(scores.columns)
    ['muons', 'photons', 'pf', 'calo_jets']
    >>> bool(((scores > 0) & (scores <= 1)).all().all())
    True
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit"]), None],
        "channels": [dict, StrOptions({"auto", "prefix", "columns"})],
        "remainder": [StrOptions({"error", "drop"})],
        "combiner": [StrOptions(set(_SCORE_COMBINERS))],
        "contamination": [StrOptions({"auto"}), Interval(numbers.Real, 0, 0.5, closed="right")],
        "false_alarm_rate": [Interval(numbers.Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        channels="auto",
        remainder="error",
        combiner="min",
        contamination="auto",
        false_alarm_rate=0.05,
        random_state=None,
    ):
        self.estimator = estimator
        self.channels = channels
        self.remainder = remainder
        self.combiner = combiner
        self.contamination = contamination
        self.false_alarm_rate = false_alarm_rate
        self.random_state = random_state

    def fit(self, X, y=None):
        """Fit one detector per channel on reference rows and calibrate the scores.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Reference (good) rows only.
        y : None
            Ignored.

        Returns
        -------
        self : PerChannelOutlierDetector
            The fitted detector.
        """
        self._validate_params()
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        self._resolve_channels(X)
        base = IsolationForest() if self.estimator is None else self.estimator
        rng = check_random_state(self.random_state)
        self.estimators_ = {}
        self.reference_scores_ = {}
        raw = []
        for channel, columns in self.channel_indices_.items():
            estimator = seeded_clone(base, rng, self.random_state)
            estimator.fit(X[:, columns])
            scores = _raw_scores(estimator, X[:, columns], channel)
            self.estimators_[channel] = estimator
            self.reference_scores_[channel] = np.sort(scores)
            raw.append(scores)
        channel_scores = np.column_stack(
            [
                empirical_pvalues(scores, self.reference_scores_[channel])
                for channel, scores in zip(self.channel_names_, raw)
            ]
        )
        self.global_reference_scores_ = np.sort(self._combine(channel_scores))
        if self.contamination == "auto":
            self.offset_ = float(self.false_alarm_rate)
        else:
            training = empirical_pvalues(
                self._combine(channel_scores), self.global_reference_scores_
            )
            self.offset_ = float(np.percentile(training, 100.0 * self.contamination))
        return self

    def _combine(self, channel_scores):
        if self.combiner == "min":
            return channel_scores.min(axis=1)
        if self.combiner == "product":
            return np.log(channel_scores).sum(axis=1)
        return np.exp((channel_scores - 1.0).sum(axis=1))

    def _channel_score_array(self, X):
        return np.column_stack(
            [
                empirical_pvalues(
                    _raw_scores(self.estimators_[channel], X[:, columns], channel),
                    self.reference_scores_[channel],
                )
                for channel, columns in self.channel_indices_.items()
            ]
        )

    def predict_channel_scores(self, X):
        """Calibrated per-channel scores: 1 = the channel looks good, near 0 = anomalous there.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Rows to score, with the columns seen in fit.

        Returns
        -------
        DataFrame of shape (n_samples, n_channels)
            One column per channel in ``channel_names_`` order, values in (0, 1]; the index of X
            when X is a DataFrame.
        """
        check_is_fitted(self)
        values = validate_data(self, X, dtype=np.float64, reset=False)
        return self._channel_frame(self._channel_score_array(values), X)

    def score_samples(self, X):
        """Global score: the combined channel scores, calibrated on the reference rows.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Rows to score.

        Returns
        -------
        ndarray of shape (n_samples,)
            In (0, 1], higher = more normal.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        combined = self._combine(self._channel_score_array(X))
        return empirical_pvalues(combined, self.global_reference_scores_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
