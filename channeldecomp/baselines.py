"""Other ways to get channel scores, as estimators with the channel-model contract.

The baselines against which :class:`~channeldecomp.ChannelDecompositionClassifier` is measured
(``benchmarks/bench_decomposition.py``). Each is a scikit-learn estimator with the contract of
:class:`~channeldecomp.base.ChannelModelMixin`: a ``channels`` parameter, ``channel_names_``,
``channel_indices_``, ``predict_channel_scores(X)`` (one column per channel, values in (0, 1],
**1 = the channel looks good**) and ``transform(X)`` giving the same.

- :class:`PerChannelClassifier`: one classifier per channel, trained on the global label (or,
  as an oracle, on each channel's own truth);
- :class:`PerChannelOneClassDetector`: one outlier detector per channel, trained on good rows;
- :class:`MLPAttributionClassifier`: one network on all columns; a channel's score comes from the
  gradient x input attribution of its columns;
- :class:`AdditiveBoostingClassifier`: gradient boosting whose trees each split on one channel's
  columns only, so its logit is a sum of one term per channel.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
import torch
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from ._device import module_on
from ._torch_state import TorchModulesStateMixin, rebuildable_module
from ._validation import seeded_clone
from .base import ChannelModelMixin

__all__ = [
    "AdditiveBoostingClassifier",
    "MLPAttributionClassifier",
    "PerChannelClassifier",
    "PerChannelOneClassDetector",
    "channel_contributions",
]

# The smallest channel score: scores stay in (0, 1] where a probability reaches 0.
_TINY = np.finfo(np.float64).tiny


def _encode_global_label(y, good_label):
    """Return ``(classes, good_index)`` of a binary global label; errors name the fix."""
    check_classification_targets(y)
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(
            f"y has a single class ({classes[0]!r}); the model needs both good and bad rows."
        )
    if len(classes) > 2:
        raise ValueError(
            f"Only binary classification is supported: y has {len(classes)} classes "
            f"({', '.join(map(repr, classes[:5].tolist()))}). Encode it as good/bad."
        )
    if good_label is None:
        return classes, 1
    matches = np.flatnonzero(classes == good_label)
    if matches.size != 1:
        raise ValueError(
            f"good_label={good_label!r} is not among the labels of y {classes.tolist()}; set "
            "good_label to the label that means 'good'."
        )
    return classes, int(matches[0])


def _fit_params(sample_weight):
    return {} if sample_weight is None else {"sample_weight": sample_weight}


def _proba_of_good(p_good, good_index):
    """``predict_proba`` columns in ``classes_`` order from P(good)."""
    p_good = np.asarray(p_good, dtype=np.float64)
    columns = [1.0 - p_good, p_good] if good_index == 1 else [p_good, 1.0 - p_good]
    return np.column_stack(columns)


class _GlobalLabelClassifier(ClassifierMixin, ChannelModelMixin, BaseEstimator):
    """Shared parts of the baselines that are binary classifiers of the global label."""

    def _check_global_label(self, y):
        """Set ``classes_``; return 1 where y is the good label, 0 elsewhere (int64)."""
        self.classes_, self._good_index = _encode_global_label(y, self.good_label)
        return (y == self.classes_[self._good_index]).astype(np.int64)

    def _predict_good(self, X):
        raise NotImplementedError

    def predict_proba(self, X):
        """Probability of each class, columns in ``classes_`` order.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Rows to score.

        Returns
        -------
        ndarray of shape (n_samples, 2)
        """
        check_is_fitted(self)
        return _proba_of_good(self._predict_good(X), self._good_index)

    def predict(self, X):
        """The more probable class of each row.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Rows to classify.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels of ``classes_``.
        """
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags


class PerChannelClassifier(_GlobalLabelClassifier):
    """One classifier per channel, each on its channel's columns only.

    Every channel gets a clone of ``estimator``, trained on its own columns to predict the
    global label; its channel score is that clone's P(good), and the global P(good) is the
    product of the channel scores. No combination is learnt: each channel must explain every
    bad row alone, so a channel learns to call bad the rows whose fault it cannot see too.

    Fitted with ``channel_truth`` (``fit(X, y, channel_truth=truth)``), each channel's clone
    learns that channel's own truth instead of the global label: the *oracle*, which needs a
    per-channel label that real data does not have. Its channel AUCs show how much of each
    channel's truth its columns reveal at all, the ceiling of any decomposition.

    Parameters
    ----------
    estimator : classifier, default=None
        Cloned once per channel; it needs ``predict_proba``. None:
        ``HistGradientBoostingClassifier()``. Set its ``random_state`` for reproducible fits
        (every clone keeps it).
    channels : dict or {"auto", "prefix", "columns"}, default="auto"
        How the columns of X group into channels, as for the classifier: ``{name: [column
        names]}``, ``{name: [integer indices]}``, ``{name: regex}``, ``"prefix"`` (feature
        names grouped by the part before the first ``"__"``), ``"columns"`` (every column
        its own channel) or ``"auto"``: ``"prefix"`` when some feature name contains
        ``"__"``, else ``"columns"`` (so a plain array works).
    remainder : {"error", "drop"}, default="error"
        Columns in no channel: an error, or left out of the model.
    good_label : int, str or None, default=1
        The label of y that means good; None: the larger of the two labels.

    Attributes
    ----------
    estimators_ : dict of str to estimator or None
        The fitted clone of each channel; None for a channel whose training target had one
        class (only possible with ``channel_truth``): its score is then that class, 1 (good)
        or the smallest positive float (bad), for every row.
    constant_targets_ : dict of str to int
        The class of each such channel (1 or 0); empty when every channel was fitted.
    classes_ : ndarray of shape (2,)
        The labels of y.
    channel_names_ : list of str
        Channel names, the column order of :meth:`predict_channel_scores`.
    channel_indices_ : dict of str to ndarray of int
        Column indices of X of each channel.
    n_features_in_ : int
        Number of columns of X seen in fit.
    feature_names_in_ : ndarray of str
        Column names of X, when X had string column names.

    See Also
    --------
    channeldecomp.ChannelDecompositionClassifier : the channels combined by a Fuzzy AND,
        trained jointly.

    Examples
    --------
    >>> from channeldecomp.baselines import PerChannelClassifier
    >>> from channeldecomp.datasets import make_channel_anomalies
    >>> data = make_channel_anomalies(n_samples=300, random_state=0)
    >>> model = PerChannelClassifier().fit(data.data, data.target)
    >>> model.predict_channel_scores(data.data.iloc[:2]).columns.tolist()
    ['muons', 'photons', 'pf', 'calo_jets']
    >>> oracle = PerChannelClassifier().fit(
    ...     data.data, data.target, channel_truth=data.channel_truth
    ... )
    >>> bool((oracle.transform(data.data) <= 1).all().all())
    True
    """

    def __init__(self, estimator=None, *, channels="auto", remainder="error", good_label=1):
        self.estimator = estimator
        self.channels = channels
        self.remainder = remainder
        self.good_label = good_label

    def fit(self, X, y, sample_weight=None, channel_truth=None):
        """Fit one clone of ``estimator`` per channel.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Features; with ``channels="prefix"`` or name lists, a DataFrame.
        y : array-like of shape (n_samples,)
            Global label with two classes; ``good_label`` means good.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights, passed to every clone's ``fit``.
        channel_truth : DataFrame or array-like of shape (n_samples, n_channels), default=None
            Per-channel truth, 1 = nothing visible in that channel, 0 = anomaly visible there;
            a DataFrame's columns are matched to the channels by name, an array's by position.
            When given, each channel learns its own truth (the oracle) instead of y.

        Returns
        -------
        self : PerChannelClassifier
            The fitted estimator.
        """
        X, y = validate_data(self, X, y, ensure_min_samples=2)
        is_good = self._check_global_label(y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        self._resolve_channels(X)
        targets = self._channel_targets(is_good, channel_truth)
        base = HistGradientBoostingClassifier() if self.estimator is None else self.estimator
        if not hasattr(base, "predict_proba"):
            raise TypeError(
                f"estimator {type(base).__name__} has no predict_proba; pass a classifier that "
                "gives probabilities (e.g. HistGradientBoostingClassifier, LogisticRegression)."
            )
        self.estimators_, self.constant_targets_ = {}, {}
        for channel, columns in self.channel_indices_.items():
            target = targets[channel]
            if len(np.unique(target)) < 2:  # a channel whose truth never changes
                self.estimators_[channel] = None
                self.constant_targets_[channel] = int(target[0])
                continue
            model = clone(base)
            model.fit(X[:, columns], target, **_fit_params(sample_weight))
            self.estimators_[channel] = model
        return self

    def _channel_targets(self, is_good, channel_truth):
        names = self.channel_names_
        if channel_truth is None:
            return dict.fromkeys(names, is_good)
        if isinstance(channel_truth, pd.DataFrame):
            missing = [c for c in names if c not in channel_truth.columns]
            if missing:
                raise ValueError(
                    f"channel_truth has no column for channel(s) {missing}; its columns are "
                    f"{list(channel_truth.columns)}. Name its columns after the channels "
                    f"{names}."
                )
            columns = {c: channel_truth[c].to_numpy() for c in names}
        else:
            array = np.asarray(channel_truth)
            if array.ndim != 2 or array.shape[1] != len(names):
                raise ValueError(
                    f"channel_truth must have one column per channel ({len(names)}: {names}); "
                    f"got shape {array.shape}."
                )
            columns = {c: array[:, i] for i, c in enumerate(names)}
        targets = {}
        for channel, values in columns.items():
            check_consistent_length(is_good, values)
            if not np.isin(values, [0, 1]).all():
                raise ValueError(
                    f"channel_truth[{channel!r}] must hold 1 (nothing visible) and 0 (anomaly "
                    f"visible); found {np.unique(values)[:5].tolist()}."
                )
            targets[channel] = values.astype(np.int64)
        return targets

    def _channel_good_proba(self, X):
        """P(good) of every channel, unfloored, shape (n_samples, n_channels)."""
        columns = []
        for channel, indices in self.channel_indices_.items():
            model = self.estimators_[channel]
            if model is None:
                # The channel's constant training target: 1 (good) or 0 (bad).
                columns.append(np.full(len(X), float(self.constant_targets_[channel])))
                continue
            good = list(model.classes_).index(1)
            columns.append(model.predict_proba(X[:, indices])[:, good])
        return np.column_stack(columns)

    def predict_channel_scores(self, X):
        """Per-channel P(good): 1 = the channel looks good, near 0 = anomaly visible there.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Rows to score, with the columns seen in fit.

        Returns
        -------
        DataFrame of shape (n_samples, n_channels)
            One column per channel in ``channel_names_`` order, values in (0, 1]; the index
            of X when X is a DataFrame.
        """
        check_is_fitted(self)
        values = validate_data(self, X, reset=False)
        return self._channel_frame(np.maximum(self._channel_good_proba(values), _TINY), X)

    def _predict_good(self, X):
        values = validate_data(self, X, reset=False)
        return np.prod(self._channel_good_proba(values), axis=1)


class PerChannelOneClassDetector(ChannelModelMixin, BaseEstimator):
    """One outlier detector per channel, trained on good rows only; no label is learnt.

    Every channel gets a clone of ``estimator``, fitted on its own columns of the good rows (all
    rows when ``y`` is None). A row's raw score in a channel (``score_samples``, higher = more
    normal) is standardized by the mean and standard deviation of the good training rows'
    scores, ``z``, so channels share one scale; the channel score is ``expit(z)``: about 0.5 for
    a typical good row, near 0 where the row is far from the good ones in that channel. The
    global score (:meth:`score_samples`) is the lowest channel score.

    The detectors of :mod:`channeldecomp.detectors` calibrate each channel against its
    reference rows instead (``PerChannelOutlierDetector``); this baseline keeps the plain
    standardization of the decomposition benchmark.

    Parameters
    ----------
    estimator : outlier detector, default=None
        Cloned once per channel; it needs ``score_samples`` (higher = more normal). None:
        ``IsolationForest()``.
    channels : dict or {"auto", "prefix", "columns"}, default="auto"
        How the columns of X group into channels (see :class:`PerChannelClassifier`).
    remainder : {"error", "drop"}, default="error"
        Columns in no channel: an error, or left out of the model.
    good_label : int, str or None, default=1
        The label of y whose rows the detectors learn; None: the larger of y's labels.
    random_state : int, RandomState instance or None, default=None
        When set, each channel's clone that has a ``random_state`` parameter gets its own seed
        drawn from it, so fits are reproducible and the channels' detectors differ; when None,
        the clones keep the estimator's own ``random_state`` (all channels share it).

    Attributes
    ----------
    estimators_ : dict of str to estimator
        The fitted detector of each channel.
    reference_mean_, reference_scale_ : dict of str to float
        Mean and standard deviation of each channel's raw scores on the good training rows (the
        scale is 1 where those scores are all equal).
    channel_names_ : list of str
        Channel names, the column order of :meth:`predict_channel_scores`.
    channel_indices_ : dict of str to ndarray of int
        Column indices of X of each channel.
    n_features_in_ : int
        Number of columns of X seen in fit.
    feature_names_in_ : ndarray of str
        Column names of X, when X had string column names.

    Examples
    --------
    >>> from sklearn.ensemble import IsolationForest
    >>> from channeldecomp.baselines import PerChannelOneClassDetector
    >>> from channeldecomp.datasets import make_channel_anomalies
    >>> data = make_channel_anomalies(n_samples=300, random_state=0)
    >>> detector = PerChannelOneClassDetector(IsolationForest(n_estimators=20, random_state=0))
    >>> scores = detector.fit(data.data, data.target).predict_channel_scores(data.data)
    >>> scores.shape, bool(((scores > 0) & (scores <= 1)).all().all())
    ((300, 4), True)
    """

    def __init__(
        self, estimator=None, *, channels="auto", remainder="error", good_label=1, random_state=None
    ):
        self.estimator = estimator
        self.channels = channels
        self.remainder = remainder
        self.good_label = good_label
        self.random_state = random_state

    def fit(self, X, y=None, sample_weight=None):
        """Fit one detector per channel on the good rows.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Features.
        y : array-like of shape (n_samples,), default=None
            Global label; the detectors learn the rows of ``good_label`` only. None: every row
            is good.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights, passed (for the good rows) to every detector's ``fit``.

        Returns
        -------
        self : PerChannelOneClassDetector
            The fitted detector.
        """
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        if y is not None:
            y = column_or_1d(y, warn=True)
            check_consistent_length(X, y)
            classes = np.unique(y)
            good_label = classes[-1] if self.good_label is None else self.good_label
            good = y == good_label
            if good.sum() < 2:
                raise ValueError(
                    f"y has {int(good.sum())} row(s) labelled good_label={good_label!r} (labels: "
                    f"{classes[:5].tolist()}); the detectors need at least two good rows. Set "
                    "good_label to the label that means good."
                )
            X = X[good]
            sample_weight = None if sample_weight is None else sample_weight[good]
        self._resolve_channels(X)
        base = IsolationForest() if self.estimator is None else self.estimator
        rng = check_random_state(self.random_state)
        self.estimators_, self.reference_mean_, self.reference_scale_ = {}, {}, {}
        for channel, columns in self.channel_indices_.items():
            detector = seeded_clone(base, rng, self.random_state)
            detector.fit(X[:, columns], **_fit_params(sample_weight))
            if not hasattr(detector, "score_samples"):
                raise TypeError(
                    f"estimator {type(base).__name__} has no score_samples on new data; use an "
                    "outlier detector such as IsolationForest or LocalOutlierFactor(novelty=True)."
                )
            reference = detector.score_samples(X[:, columns])
            self.estimators_[channel] = detector
            self.reference_mean_[channel] = reference.mean()
            scale = reference.std()
            self.reference_scale_[channel] = scale if scale > 0 else 1.0
        return self

    def _standardized(self, X):
        values = validate_data(self, X, dtype=np.float64, reset=False)
        return np.column_stack(
            [
                (self.estimators_[channel].score_samples(values[:, columns])
                 - self.reference_mean_[channel]) / self.reference_scale_[channel]
                for channel, columns in self.channel_indices_.items()
            ]
        )  # fmt: skip

    def predict_channel_scores(self, X):
        """Per-channel scores ``expit(z)``: about 0.5 for a typical good row, near 0 if unusual.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Rows to score, with the columns seen in fit.

        Returns
        -------
        DataFrame of shape (n_samples, n_channels)
            One column per channel in ``channel_names_`` order, values in (0, 1]; the index
            of X when X is a DataFrame.
        """
        check_is_fitted(self)
        return self._channel_frame(np.maximum(expit(self._standardized(X)), _TINY), X)

    def score_samples(self, X):
        """Global score: the lowest channel score, higher = more normal.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Rows to score.

        Returns
        -------
        ndarray of shape (n_samples,)
            In (0, 1].
        """
        check_is_fitted(self)
        return np.maximum(expit(self._standardized(X).min(axis=1)), _TINY)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags


@rebuildable_module
class AttributionNetwork(torch.nn.Sequential):
    """The MLP of :class:`MLPAttributionClassifier`: ReLU layers of ``hidden_layer_sizes``
    (dropout between them), then one logit of "bad".

    A torch module class of the package's own, so that model files can rebuild it.

    Parameters
    ----------
    n_inputs : int
        Input columns.
    hidden_layer_sizes : list of int
        Width of each hidden layer.
    dropout : float
        Dropout between hidden layers (0 for none).
    """

    def __init__(self, n_inputs, hidden_layer_sizes, dropout):
        layers, width = [], n_inputs
        for position, size in enumerate(hidden_layer_sizes):
            layers += [torch.nn.Linear(width, size), torch.nn.ReLU()]
            if position < len(hidden_layer_sizes) - 1 and dropout > 0:
                layers.append(torch.nn.Dropout(dropout))
            width = size
        super().__init__(*layers, torch.nn.Linear(width, 1))


class MLPAttributionClassifier(TorchModulesStateMixin, _GlobalLabelClassifier):
    """One network on all columns; channel scores from gradient x input attribution.

    A fully connected network (ReLU, dropout after every hidden layer but the last) learns the
    global label from all columns, with the classes balanced by weight. A row's attribution to
    "bad" of column ``j`` is ``x_j * d logit(bad) / d x_j`` (gradient x input); a channel's term
    is minus the sum of its columns' attributions, in logit units, and its score is
    ``expit(term)``: below 0.5 where the channel's columns push the row towards bad. The
    attribution is a post-hoc reading of a model that was never asked to decompose.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(128, 64)
        Units of each hidden layer.
    dropout : float in [0, 1), default=0.2
        Dropout after every hidden layer but the last.
    learning_rate : float, default=1e-3
        Adam's learning rate.
    weight_decay : float, default=1e-4
        Adam's weight decay.
    batch_size : int, default=64
        Rows per minibatch.
    max_epochs : int, default=40
        Passes over the training rows.
    channels : dict or {"auto", "prefix", "columns"}, default="auto"
        How the columns of X group into channels (see :class:`PerChannelClassifier`).
    remainder : {"error", "drop"}, default="error"
        Columns in no channel: an error, or left out of the model.
    good_label : int, str or None, default=1
        The label of y that means good; None: the larger of the two labels.
    random_state : int, RandomState instance or None, default=None
        Seed of the initial weights, the dropout masks and the batch order (torch's global
        random state is left as it was).

    Attributes
    ----------
    module_ : AttributionNetwork
        The trained network (output: the logit of bad), on the channel columns.
    columns_ : ndarray of int
        The columns of X the network reads (every channel's, in ascending order).
    classes_ : ndarray of shape (2,)
        The labels of y.
    channel_names_ : list of str
        Channel names, the column order of :meth:`predict_channel_scores`.
    channel_indices_ : dict of str to ndarray of int
        Column indices of X of each channel.
    n_features_in_ : int
        Number of columns of X seen in fit.
    feature_names_in_ : ndarray of str
        Column names of X, when X had string column names.

    References
    ----------
    .. [1] A. Shrikumar, P. Greenside, A. Shcherbina and A. Kundaje, "Not just a black box:
       learning important features through propagating activation differences",
       arXiv:1605.01713 (2016), gradient x input.

    Examples
    --------
    >>> from channeldecomp.baselines import MLPAttributionClassifier
    >>> from channeldecomp.datasets import make_channel_anomalies
    >>> data = make_channel_anomalies(n_samples=300, random_state=0)
    >>> model = MLPAttributionClassifier(max_epochs=2, random_state=0)
    >>> model.fit(data.data, data.target).predict_channel_scores(data.data).shape
    (300, 4)
    """

    _torch_module_attributes = ("module_",)

    def __init__(
        self,
        hidden_layer_sizes=(128, 64),
        *,
        dropout=0.2,
        learning_rate=1e-3,
        weight_decay=1e-4,
        batch_size=64,
        max_epochs=40,
        channels="auto",
        remainder="error",
        good_label=1,
        random_state=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.channels = channels
        self.remainder = remainder
        self.good_label = good_label
        self.random_state = random_state

    def _check_params(self):
        sizes = tuple(np.atleast_1d(self.hidden_layer_sizes).tolist())
        if not sizes or not all(isinstance(s, numbers.Integral) and s > 0 for s in sizes):
            raise ValueError(
                f"hidden_layer_sizes must be positive integers; got {self.hidden_layer_sizes!r}."
            )
        if not isinstance(self.dropout, numbers.Real) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1); got {self.dropout!r}.")
        for name in ("batch_size", "max_epochs"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        for name in ("learning_rate", "weight_decay"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or value < 0:
                raise ValueError(f"{name} must be a non-negative number; got {value!r}.")
        return sizes

    def _seed(self):
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(2**31))

    def _build_module(self, n_inputs, sizes):
        return AttributionNetwork(n_inputs, [int(size) for size in sizes], float(self.dropout))

    def fit(self, X, y, sample_weight=None):
        """Train the network on the global label.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Features; with ``channels="prefix"`` or name lists, a DataFrame.
        y : array-like of shape (n_samples,)
            Global label with two classes; ``good_label`` means good.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights, multiplying each row's loss.

        Returns
        -------
        self : MLPAttributionClassifier
            The fitted estimator.
        """
        sizes = self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_min_samples=2)
        is_bad = 1 - self._check_global_label(y)
        self._resolve_channels(X)
        self.columns_ = np.sort(np.concatenate(list(self.channel_indices_.values())))
        features = torch.tensor(X[:, self.columns_].astype(np.float32))
        # Target 1 = bad, so the attribution points towards "bad".
        target = torch.as_tensor(is_bad, dtype=torch.float32)
        if sample_weight is None:
            weight = torch.ones(len(target))
        else:
            weight = torch.as_tensor(_check_sample_weight(sample_weight, X)).float()
        positive = float((weight * target).sum() / weight.sum())
        pos_weight = torch.tensor((1 - positive) / max(positive, 1e-6))
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight, reduction="none")
        seed = self._seed()
        generator = torch.Generator().manual_seed(seed)
        n_rows, batch_size = features.shape[0], self.batch_size
        # Initial weights and dropout masks come from torch's global generator: seeded inside
        # fork_rng, so the fit depends on random_state alone and the caller's state is kept.
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            module = self._build_module(features.shape[1], sizes)
            optimizer = torch.optim.Adam(
                module.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
            )
            module.train()
            for _ in range(self.max_epochs):
                order = torch.randperm(n_rows, generator=generator)
                for start in range(0, n_rows, batch_size):
                    batch = order[start : start + batch_size]
                    optimizer.zero_grad()
                    losses = loss_fn(module(features[batch]).squeeze(1), target[batch])
                    loss = (losses * weight[batch]).mean()
                    loss.backward()
                    optimizer.step()
        self.module_ = module.eval()
        return self

    def _logit_and_terms(self, X):
        """The logit of bad and each channel's term (minus its columns' attributions).

        Inference runs on a float64 copy of the network, so a row's outputs do not depend on
        which other rows are predicted with it (float32 matrix kernels differ with the batch
        size, the CPU's vector width and the thread count in the last bits).
        """
        values = validate_data(self, X, dtype=np.float64, reset=False)
        module = module_on(self.module_, torch.device("cpu"), torch.float64).eval()
        inputs = torch.tensor(values[:, self.columns_]).requires_grad_(True)
        with torch.enable_grad():
            logit_bad = module(inputs).squeeze(1)
            (gradient,) = torch.autograd.grad(logit_bad.sum(), inputs)
        attribution = (gradient * inputs).detach().numpy()
        position = {column: i for i, column in enumerate(self.columns_.tolist())}
        terms = np.column_stack(
            [
                -attribution[:, [position[c] for c in columns.tolist()]].sum(axis=1)
                for columns in self.channel_indices_.values()
            ]
        )
        return logit_bad.detach().numpy(), terms

    def channel_terms(self, X):
        """Each channel's term: minus the gradient x input attribution of its columns to bad.

        In logit units, higher = the channel's columns push the row towards good;
        :meth:`predict_channel_scores` is ``expit`` of it.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Rows to explain.

        Returns
        -------
        DataFrame of shape (n_samples, n_channels)
            One column per channel.
        """
        check_is_fitted(self)
        return self._channel_frame(self._logit_and_terms(X)[1], X)

    def predict_channel_scores(self, X):
        """Per-channel scores ``expit(term)``: below 0.5 where the channel pushes towards bad.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Rows to score, with the columns seen in fit.

        Returns
        -------
        DataFrame of shape (n_samples, n_channels)
            One column per channel in ``channel_names_`` order, values in (0, 1]; the index
            of X when X is a DataFrame.
        """
        check_is_fitted(self)
        terms = self._logit_and_terms(X)[1]
        return self._channel_frame(np.maximum(expit(terms), _TINY), X)

    def _predict_good(self, X):
        logit_bad = self._logit_and_terms(X)[0]
        return torch.sigmoid(-torch.as_tensor(logit_bad)).numpy()


def channel_contributions(model, X, channel_indices, reference):
    """Each channel's term of a boosting model that is additive over channels, up to a constant.

    With one interaction constraint per channel (``interaction_cst``), the decision function of
    a gradient-boosting model is ``F(x) = b + sum_c f_c(x_c)``. Evaluating ``F`` on rows whose
    other channels' columns are held at ``reference`` gives ``f_c(x_c) - f_c(reference_c)``
    exactly, through the public ``decision_function``: the columns sum to
    ``F(X) - F(reference)``. Without the constraints the columns are still defined, but no
    longer add up to the logit.

    Parameters
    ----------
    model : fitted estimator with ``decision_function``
        E.g. ``HistGradientBoostingClassifier(interaction_cst=...)``, binary.
    X : ndarray of shape (n_samples, n_features)
        Rows to explain, the columns the model was fitted on.
    channel_indices : sequence (or dict) of array-like of int
        The columns of each channel.
    reference : ndarray of shape (n_features,)
        The row the contributions are measured from (e.g. the median training row).

    Returns
    -------
    ndarray of shape (n_samples, n_channels)
        In the units of ``decision_function``; high = the channel pushes towards the second
        class (``classes_[1]``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 4))
    >>> y = (X[:, 0] + X[:, 2] > 0).astype(int)
    >>> groups = [[0, 1], [2, 3]]
    >>> model = HistGradientBoostingClassifier(interaction_cst=groups, max_iter=20).fit(X, y)
    >>> reference = np.median(X, axis=0)
    >>> terms = channel_contributions(model, X[:3], groups, reference)
    >>> logit = model.decision_function(X[:3]) - model.decision_function(reference[None])
    >>> bool(np.allclose(terms.sum(axis=1), logit))
    True
    """
    if isinstance(channel_indices, dict):
        channel_indices = list(channel_indices.values())
    X = np.asarray(X)
    reference = np.asarray(reference)
    base = model.decision_function(reference[None, :])[0]
    terms = []
    for indices in channel_indices:
        rows = np.repeat(reference[None, :], len(X), axis=0)
        rows[:, indices] = X[:, indices]
        terms.append(model.decision_function(rows) - base)
    return np.column_stack(terms)


class AdditiveBoostingClassifier(_GlobalLabelClassifier):
    """Gradient boosting with no interaction across channels; channel scores: the channel terms.

    A clone of ``estimator`` (gradient boosting with an ``interaction_cst`` parameter) is fitted
    with one interaction constraint per channel, so every tree splits on one channel's columns
    only and the logit is a sum of one function per channel, trained jointly on the global
    label: a decomposed model of the boosting family. A channel's term is its exact share of
    the logit measured from the median training row (:func:`channel_contributions`); its score
    is ``expit(term)``, below 0.5 where the channel pushes the row towards bad. Against
    unconstrained boosting, its global AUC is the cost of giving up interactions across
    channels.

    Parameters
    ----------
    estimator : classifier, default=None
        Gradient boosting with an ``interaction_cst`` parameter, which the fit sets. None:
        ``HistGradientBoostingClassifier()``. Set its ``random_state`` for reproducible fits.
    channels : dict or {"auto", "prefix", "columns"}, default="auto"
        How the columns of X group into channels (see :class:`PerChannelClassifier`).
    remainder : {"error", "drop"}, default="error"
        Columns in no channel: an error, or left out of the model.
    good_label : int, str or None, default=1
        The label of y that means good; None: the larger of the two labels.

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone, on the channel columns (``columns_``) with the label encoded as
        1 = good, 0 = bad.
    columns_ : ndarray of int
        The columns of X the model reads (every channel's, in ascending order).
    reference_ : ndarray of shape (len(columns_),)
        The median training row: every channel term is 0 there.
    classes_ : ndarray of shape (2,)
        The labels of y.
    channel_names_ : list of str
        Channel names, the column order of :meth:`predict_channel_scores`.
    channel_indices_ : dict of str to ndarray of int
        Column indices of X of each channel.
    n_features_in_ : int
        Number of columns of X seen in fit.
    feature_names_in_ : ndarray of str
        Column names of X, when X had string column names.

    Examples
    --------
    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> from channeldecomp.baselines import AdditiveBoostingClassifier
    >>> from channeldecomp.datasets import make_channel_anomalies
    >>> data = make_channel_anomalies(n_samples=300, random_state=0)
    >>> model = AdditiveBoostingClassifier(HistGradientBoostingClassifier(max_iter=20))
    >>> model.fit(data.data, data.target).predict_channel_scores(data.data).shape
    (300, 4)
    """

    def __init__(self, estimator=None, *, channels="auto", remainder="error", good_label=1):
        self.estimator = estimator
        self.channels = channels
        self.remainder = remainder
        self.good_label = good_label

    def fit(self, X, y, sample_weight=None):
        """Fit the constrained boosting model on the global label.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Features; with ``channels="prefix"`` or name lists, a DataFrame.
        y : array-like of shape (n_samples,)
            Global label with two classes; ``good_label`` means good.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights, passed to the estimator's ``fit``.

        Returns
        -------
        self : AdditiveBoostingClassifier
            The fitted estimator.
        """
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_min_samples=2)
        is_good = self._check_global_label(y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        self._resolve_channels(X)
        base = HistGradientBoostingClassifier() if self.estimator is None else self.estimator
        if "interaction_cst" not in base.get_params():
            raise TypeError(
                f"estimator {type(base).__name__} has no interaction_cst parameter; pass a "
                "gradient-boosting classifier such as HistGradientBoostingClassifier."
            )
        self.columns_ = np.sort(np.concatenate(list(self.channel_indices_.values())))
        groups = self._groups()
        features = X[:, self.columns_]
        model = clone(base).set_params(interaction_cst=[list(group) for group in groups])
        self.estimator_ = model.fit(features, is_good, **_fit_params(sample_weight))
        self.reference_ = np.median(features, axis=0)
        return self

    def _groups(self):
        """Each channel's columns as positions in ``columns_``."""
        return [np.searchsorted(self.columns_, idx) for idx in self.channel_indices_.values()]

    def channel_terms(self, X):
        """Each channel's term of the logit of good, measured from the median training row.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Rows to explain.

        Returns
        -------
        DataFrame of shape (n_samples, n_channels)
            The terms add up to the logit of good minus its value at the median training row.
        """
        check_is_fitted(self)
        values = validate_data(self, X, dtype=np.float64, reset=False)[:, self.columns_]
        terms = channel_contributions(self.estimator_, values, self._groups(), self.reference_)
        return self._channel_frame(terms, X)

    def predict_channel_scores(self, X):
        """Per-channel scores ``expit(term)``: below 0.5 where the channel pushes towards bad.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Rows to score, with the columns seen in fit.

        Returns
        -------
        DataFrame of shape (n_samples, n_channels)
            One column per channel in ``channel_names_`` order, values in (0, 1]; the index
            of X when X is a DataFrame.
        """
        terms = self.channel_terms(X)
        return terms.apply(lambda column: np.maximum(expit(column), _TINY))

    def _predict_good(self, X):
        values = validate_data(self, X, dtype=np.float64, reset=False)[:, self.columns_]
        return self.estimator_.predict_proba(values)[:, 1]
