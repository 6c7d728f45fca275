"""The channel-model contract, written down once.

A *channel model* groups the columns of X into channels and gives every row one score per
channel, in (0, 1], **1 = the channel looks good, near 0 = an anomaly is visible in this
channel**. The contract is :class:`ChannelModelMixin`; :func:`resolve_channels` turns a
``channels`` specification into column indices, so every estimator of the package accepts the
same forms with the same error messages. :func:`get_channel_model`, :func:`get_channel_scores`
and :func:`predict_good_proba` read any fitted channel model, or a Pipeline ending in one; the
report, the model-selection tools and the command line rely on them alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._validation import _describe

__all__ = [
    "ChannelModelMixin",
    "get_channel_blame",
    "get_channel_model",
    "get_channel_scores",
    "predict_good_proba",
    "resolve_channels",
]

_PREFIX_SEPARATOR = "__"


def _column_label(index, feature_names):
    if feature_names is None:
        return f"column {index}"
    return f"column {feature_names[index]!r} (index {index})"


def _resolve_members(channel, members, n_features, feature_names):
    """Return the column indices of one channel's member specification."""
    if isinstance(members, re.Pattern) or isinstance(members, str):
        pattern = re.compile(members) if isinstance(members, str) else members
        if feature_names is None:
            raise ValueError(
                f"Channel {channel!r} is given as the regular expression {pattern.pattern!r}, "
                "but X has no feature names. Pass X as a pandas DataFrame (or use "
                "set_output(transform='pandas') upstream), or list integer column indices."
            )
        return np.array(
            [i for i, name in enumerate(feature_names) if pattern.search(name)], dtype=np.intp
        )
    if isinstance(members, np.ndarray):
        members = members.tolist()
    if not isinstance(members, Sequence) or isinstance(members, bytes):
        raise TypeError(
            f"Channel {channel!r} must map to a list of column names, a list of integer indices "
            f"or a regular expression string; got {type(members).__name__}."
        )
    members = list(members)
    is_int = [isinstance(m, (int, np.integer)) and not isinstance(m, bool) for m in members]
    is_str = [isinstance(m, str) for m in members]
    if all(is_int):
        indices = np.asarray(members, dtype=np.intp)
        bad = indices[(indices < -n_features) | (indices >= n_features)]
        if bad.size:
            raise ValueError(
                f"Channel {channel!r} names column index {int(bad[0])}, but X has "
                f"{n_features} columns (valid indices 0..{n_features - 1})."
            )
        return np.where(indices < 0, indices + n_features, indices)
    if all(is_str):
        if feature_names is None:
            raise ValueError(
                f"Channel {channel!r} lists column names ({_describe(members, 3)}), but X has no "
                "feature names. Pass X as a pandas DataFrame, or list integer column indices."
            )
        position = {name: i for i, name in enumerate(feature_names)}
        missing = [m for m in members if m not in position]
        if missing:
            raise ValueError(
                f"Channel {channel!r} names column(s) {_describe(missing)} that are not in X. "
                "Check the spelling against X's columns (or the upstream transformer's "
                "get_feature_names_out())."
            )
        return np.array([position[m] for m in members], dtype=np.intp)
    raise TypeError(
        f"Channel {channel!r} mixes column names and integer indices (or holds other values); "
        "use one kind per channel."
    )


def resolve_channels(channels, n_features, feature_names=None, *, remainder="error"):
    """Resolve a ``channels`` specification to column indices per channel.

    Parameters
    ----------
    channels : dict or {"auto", "prefix", "columns"}
        ``{name: [column names]}``, ``{name: [integer indices]}``, ``{name: regex}`` (matched
        with :func:`re.search` against feature names), the string ``"prefix"``: feature names
        grouped by the part before the first ``"__"``, ``"columns"``: every column its own
        channel, named after it (after its index when there are no feature names), or
        ``"auto"``: ``"prefix"`` when some feature name contains ``"__"``, else ``"columns"``
        (so it works on plain arrays too).
    n_features : int
        Number of columns of X.
    feature_names : array-like of str, default=None
        Column names of X, when it has them.
    remainder : {"error", "drop"}, default="error"
        What to do with columns in no channel: raise, or leave them out of every channel.

    Returns
    -------
    dict of str to ndarray of int
        Column indices per channel, channels in the order given (``"prefix"``: order of first
        appearance), indices in the order given (regex and prefix: ascending).

    Raises
    ------
    ValueError
        For an empty channel, a column in two channels, a column in no channel (unless
        ``remainder="drop"``), an unknown column name or an out-of-range index.
    TypeError
        For a specification of the wrong type.

    Examples
    --------
    >>> resolve_channels("prefix", 3, ["muons__pt", "muons__eta", "jets__pt"])
    {'muons': array([0, 1]), 'jets': array([2])}
    >>> resolve_channels("auto", 2)
    {'0': array([0]), '1': array([1])}
    """
    if remainder not in ("error", "drop"):
        raise ValueError(f"remainder must be 'error' or 'drop'; got {remainder!r}.")
    if feature_names is not None:
        feature_names = [str(name) for name in feature_names]

    if isinstance(channels, str) and channels == "auto":
        prefixed = feature_names is not None and any(
            _PREFIX_SEPARATOR in name for name in feature_names
        )
        channels = "prefix" if prefixed else "columns"
    if isinstance(channels, str) and channels == "columns":
        labels = feature_names if feature_names is not None else range(n_features)
        channels = {str(label): [i] for i, label in enumerate(labels)}
    if isinstance(channels, str):
        if channels != "prefix":
            raise ValueError(
                f"channels={channels!r} is not understood: the string forms are 'auto', "
                "'prefix' and 'columns'. Otherwise pass a dict {channel name: list of columns "
                "or a regex}."
            )
        if feature_names is None:
            raise ValueError(
                "channels='prefix' groups feature names by the part before the first '__', but X "
                "has no feature names. Pass a pandas DataFrame, or call "
                "set_output(transform='pandas') on the upstream transformers."
            )
        resolved = {}
        unprefixed = []
        for index, name in enumerate(feature_names):
            prefix, separator, rest = name.partition(_PREFIX_SEPARATOR)
            if not separator or not prefix or not rest:
                unprefixed.append(name)
                continue
            resolved.setdefault(prefix, []).append(index)
        if unprefixed and remainder == "error":
            raise ValueError(
                f"channels='prefix' needs every feature name to look like '<channel>__<name>'; "
                f"column(s) {_describe(unprefixed)} do not. Rename them, pass an explicit "
                "channels dict, or set remainder='drop' to leave them out."
            )
        if not resolved:
            raise ValueError(
                "channels='prefix' found no feature name of the form '<channel>__<name>'."
            )
        return {name: np.asarray(idx, dtype=np.intp) for name, idx in resolved.items()}

    if not isinstance(channels, Mapping):
        raise TypeError(
            "channels must be a dict {channel name: columns or regex} or one of the strings "
            "'auto', 'prefix' and 'columns'; "
            f"got {type(channels).__name__}."
        )
    if len(channels) == 0:
        raise ValueError("channels is an empty dict: name at least one channel.")

    resolved = {}
    owner = {}
    for channel, members in channels.items():
        if not isinstance(channel, str) or not channel:
            raise TypeError(f"Channel names must be non-empty strings; got {channel!r}.")
        indices = _resolve_members(channel, members, n_features, feature_names)
        if indices.size == 0:
            raise ValueError(
                f"Channel {channel!r} is empty: it selects no column of X. Give it at least one "
                "column, or remove it from channels."
            )
        unique, counts = np.unique(indices, return_counts=True)
        if (counts > 1).any():
            dup = int(unique[counts > 1][0])
            raise ValueError(
                f"Channel {channel!r} lists {_column_label(dup, feature_names)} more than once."
            )
        for index in indices.tolist():
            if index in owner:
                raise ValueError(
                    f"{_column_label(index, feature_names).capitalize()} is in two channels, "
                    f"{owner[index]!r} and {channel!r}. Each column belongs to exactly one "
                    "channel: tighten the lists or regular expressions."
                )
            owner[index] = channel
        resolved[channel] = indices

    if remainder == "error" and len(owner) < n_features:
        orphans = [i for i in range(n_features) if i not in owner]
        labels = [feature_names[i] for i in orphans] if feature_names is not None else orphans
        raise ValueError(
            f"Column(s) {_describe(labels)} are in no channel. Add them to a channel, or set "
            "remainder='drop' to leave them out of the model."
        )
    return resolved


class ChannelModelMixin(TransformerMixin):
    """Mixin of every channel model: one score per channel and row, and ``transform`` to get them.

    A channel model groups the columns of X into named channels and scores every row once per
    channel: a value in (0, 1], **1 = the channel looks good, near 0 = an anomaly is visible in
    this channel**. Put the mixin left of ``BaseEstimator`` (right of ``ClassifierMixin`` for a
    classifier).

    What an implementer provides:

    - a ``channels`` parameter (any form :func:`resolve_channels` accepts; ``"auto"`` is the
      default of the package's models) and, optionally, ``remainder`` (``"error"`` when
      absent);
    - in ``fit``, after ``validate_data(self, X, ...)``, a call to ``self._resolve_channels(X)``,
      which sets ``channel_indices_`` and ``channel_names_``;
    - :meth:`predict_channel_scores`, returning ``self._channel_frame(scores, X)``.

    What it gets: :meth:`transform` (the channel scores, so a Pipeline ending in the model gives
    them from ``pipeline.transform(X)``, as ``LinearDiscriminantAnalysis`` is a classifier that
    transforms), :meth:`get_feature_names_out` (the channel names), and every tool of the package
    that reads channel models (:func:`get_channel_scores`, the report, the random-partition
    control).

    Attributes
    ----------
    channel_names_ : list of str
        Channel names, the column order of :meth:`predict_channel_scores`.
    channel_indices_ : dict of str to ndarray of int
        Column indices of X of each channel.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from sklearn.base import BaseEstimator
    >>> from sklearn.utils.validation import check_is_fitted, validate_data
    >>> from channeldecomp.base import ChannelModelMixin
    >>> class BelowLimit(ChannelModelMixin, BaseEstimator):
    ...     # Channel score: the fraction of the channel's columns below ``limit``.
    ...     def __init__(self, channels="prefix", limit=1.0):
    ...         self.channels = channels
    ...         self.limit = limit
    ...     def fit(self, X, y=None):
    ...         validate_data(self, X)
    ...         self._resolve_channels(X)
    ...         return self
    ...     def predict_channel_scores(self, X):
    ...         check_is_fitted(self)
    ...         values = validate_data(self, X, reset=False)
    ...         scores = [
    ...             np.maximum((values[:, columns] < self.limit).mean(axis=1), 0.01)
    ...             for columns in self.channel_indices_.values()
    ...         ]
    ...         return self._channel_frame(np.column_stack(scores), X)
    >>> X = pd.DataFrame(
    ...     {"muons__pt": [0.5, 3.0], "muons__eta": [0.1, 0.2], "jets__pt": [0.3, 0.4]}
    ... )
    >>> model = BelowLimit().fit(X)
    >>> model.transform(X)
       muons  jets
    0    1.0   1.0
    1    0.5   1.0
    >>> list(model.get_feature_names_out())
    ['muons', 'jets']
    """

    def _resolve_channels(self, X):
        """Resolve ``self.channels`` against X; set ``channel_indices_`` and ``channel_names_``.

        Call it in ``fit`` after ``validate_data`` (which sets ``n_features_in_`` and, for X with
        string column names, ``feature_names_in_``). A dict specification is copied, never
        changed.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training data (validated or not: only its number of columns is read).

        Returns
        -------
        dict of str to ndarray of int
            ``channel_indices_``.
        """
        feature_names = getattr(self, "feature_names_in_", None)
        n_features = np.shape(X)[1]
        channels = self.channels
        if isinstance(channels, Mapping):
            channels = dict(channels)
        self.channel_indices_ = resolve_channels(
            channels, n_features, feature_names, remainder=getattr(self, "remainder", "error")
        )
        self.channel_names_ = list(self.channel_indices_)
        return self.channel_indices_

    def _channel_frame(self, scores, X):
        """The channel scores as a DataFrame: ``channel_names_`` columns, X's index if it has one.

        Parameters
        ----------
        scores : array-like of shape (n_samples, n_channels)
            One column per channel, in ``channel_names_`` order.
        X : array-like or DataFrame of shape (n_samples, n_features)
            The input as the user passed it (before validation), for its index.

        Returns
        -------
        DataFrame of shape (n_samples, n_channels)
        """
        index = X.index if isinstance(X, (pd.DataFrame, pd.Series)) else None
        return pd.DataFrame(
            np.asarray(scores, dtype=np.float64), columns=list(self.channel_names_), index=index
        )

    def predict_channel_scores(self, X):
        """Per-channel scores: 1 = the channel looks good, near 0 = anomaly visible there.

        Every channel model implements it.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Rows to score, with the columns seen in fit.

        Returns
        -------
        DataFrame of shape (n_samples, n_channels)
            One column per channel in ``channel_names_`` order, values in (0, 1]; the index of
            X when X is a DataFrame.
        """
        raise NotImplementedError(
            f"{type(self).__name__} uses ChannelModelMixin but does not implement "
            "predict_channel_scores(X); a channel model must return its channel scores there."
        )

    @staticmethod
    def _blame_frame(scores, agreement):
        """``predict_blame``'s frame: per row the lowest-scored channel of the DataFrame
        ``scores``, its score, and ``agreement`` (one value per row), on the index of
        ``scores``."""
        values = scores.to_numpy()
        blamed = values.argmin(axis=1)
        return pd.DataFrame(
            {
                "channel": scores.columns.to_numpy(dtype=object)[blamed],
                "score": values[np.arange(len(blamed)), blamed],
                "agreement": np.asarray(agreement, dtype=np.float64),
            },
            index=scores.index,
        )

    def predict_blame(self, X):
        """The channel each row's scores blame: the channel with the lowest score.

        On a bad lumisection the blamed channel is where the anomaly is visible; a high
        ``score`` (the row is bad but no channel looks clearly bad) marks a doubtful blame.
        Models of several fits override it to say how many of them agree
        (:meth:`ChannelDecompositionClassifier.predict_blame
        <channeldecomp.ChannelDecompositionClassifier.predict_blame>`); here there is one, so
        ``agreement`` is 1.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Rows to score, with the columns seen in fit.

        Returns
        -------
        DataFrame of shape (n_samples, 3)
            ``channel`` (the blamed channel's name; the first of equal lowest scores),
            ``score`` (its score) and ``agreement`` (1.0); the index of X when X is a
            DataFrame. Read it on the rows the model finds bad: on a good one every score is
            near 1 and the lowest says little.
        """
        scores = self.predict_channel_scores(X)
        return self._blame_frame(scores, np.ones(len(scores)))

    def transform(self, X):
        """The channel scores, so that a Pipeline ending in the model transforms X into them.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Rows to score, with the columns seen in fit.

        Returns
        -------
        DataFrame of shape (n_samples, n_channels)
            :meth:`predict_channel_scores` of X.
        """
        return self.predict_channel_scores(X)

    def get_feature_names_out(self, input_features=None):
        """The names of the columns of :meth:`transform`: the channel names.

        Parameters
        ----------
        input_features : array-like of str, default=None
            The input's column names; only their number is checked against ``n_features_in_``.

        Returns
        -------
        ndarray of str
            ``channel_names_``.
        """
        check_is_fitted(self, "channel_names_")
        n_features = getattr(self, "n_features_in_", None)
        if input_features is not None and n_features is not None:
            if len(input_features) != n_features:
                raise ValueError(
                    f"input_features has {len(input_features)} names but the model was fitted "
                    f"on {n_features} columns."
                )
        return np.asarray(self.channel_names_, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # transform gives a DataFrame of float64 scores whatever the input's dtype.
        tags.transformer_tags.preserves_dtype = []
        return tags


def get_channel_model(model):
    """The channel model of a fitted estimator or of a Pipeline ending in one.

    Parameters
    ----------
    model : estimator or Pipeline
        A channel model (it has ``predict_channel_scores``), or a Pipeline whose last step is
        one.

    Returns
    -------
    estimator
        ``model`` itself, or the last step of the Pipeline.

    Raises
    ------
    TypeError
        When that estimator has no ``predict_channel_scores``.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from channeldecomp.baselines import PerChannelClassifier
    >>> type(get_channel_model(make_pipeline(StandardScaler(), PerChannelClassifier()))).__name__
    'PerChannelClassifier'
    """
    final = model
    steps = getattr(model, "steps", None)
    if steps:
        final = steps[-1][1]
    if not hasattr(final, "predict_channel_scores"):
        raise TypeError(
            f"{type(final).__name__} has no predict_channel_scores: pass a channel model (such "
            "as ChannelDecompositionClassifier or a model of channeldecomp.baselines), or a "
            "Pipeline ending in one."
        )
    return final


def get_channel_scores(model, X):
    """Channel scores of a fitted channel model or of a Pipeline ending in one.

    The Pipeline's steps before the last transform X; the last step's
    ``predict_channel_scores`` scores the result.

    Parameters
    ----------
    model : estimator or Pipeline
        Fitted; see :func:`get_channel_model`.
    X : array-like or DataFrame of shape (n_samples, n_features)
        Rows to score.

    Returns
    -------
    DataFrame of shape (n_samples, n_channels)
        One column per channel, values in (0, 1], 1 = the channel looks good; the index of X
        when X is a DataFrame or Series.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from channeldecomp.baselines import PerChannelClassifier
    >>> from channeldecomp.datasets import make_channel_anomalies
    >>> data = make_channel_anomalies(n_samples=200, random_state=0)
    >>> scaler = StandardScaler().set_output(transform="pandas")
    >>> model = make_pipeline(scaler, PerChannelClassifier()).fit(data.data, data.target)
    >>> get_channel_scores(model, data.data).shape
    (200, 4)
    """
    final = get_channel_model(model)
    scores = final.predict_channel_scores(_transform_for_final_step(model, X))
    if not isinstance(scores, pd.DataFrame):
        scores = pd.DataFrame(np.asarray(scores), columns=list(final.channel_names_))
    return _on_index_of(scores, X)


def _transform_for_final_step(model, X):
    """X through a Pipeline's steps before the last (X itself for a lone estimator)."""
    steps = getattr(model, "steps", None)
    return model[:-1].transform(X) if steps and len(steps) > 1 else X


def _on_index_of(frame, X):
    """``frame`` with the index of X when X is a DataFrame or Series."""
    if isinstance(X, (pd.DataFrame, pd.Series)):
        frame.index = X.index
    return frame


def get_channel_blame(model, X):
    """The blamed channel of each row, of a fitted channel model or of a Pipeline ending in one.

    The Pipeline's steps before the last transform X; the last step's ``predict_blame`` (every
    :class:`ChannelModelMixin` has it) gives the blame. A channel model without it (one that
    implements ``predict_channel_scores`` alone) blames its lowest score, with ``agreement`` 1.

    Parameters
    ----------
    model : estimator or Pipeline
        Fitted; see :func:`get_channel_model`.
    X : array-like or DataFrame of shape (n_samples, n_features)
        Rows to score.

    Returns
    -------
    DataFrame of shape (n_samples, 3)
        ``channel``, ``score`` and ``agreement`` (see
        :meth:`ChannelDecompositionClassifier.predict_blame
        <channeldecomp.ChannelDecompositionClassifier.predict_blame>`); the index of X when X
        is a DataFrame or Series.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from channeldecomp.baselines import PerChannelClassifier
    >>> from channeldecomp.datasets import make_channel_anomalies
    >>> data = make_channel_anomalies(n_samples=200, random_state=0)
    >>> scaler = StandardScaler().set_output(transform="pandas")
    >>> model = make_pipeline(scaler, PerChannelClassifier()).fit(data.data, data.target)
    >>> list(get_channel_blame(model, data.data).columns)
    ['channel', 'score', 'agreement']
    """
    final = get_channel_model(model)
    if not hasattr(final, "predict_blame"):
        scores = get_channel_scores(model, X)
        return ChannelModelMixin._blame_frame(scores, np.ones(len(scores)))
    return _on_index_of(final.predict_blame(_transform_for_final_step(model, X)), X)


def predict_good_proba(model, X, good_label=1):
    """P(good) of a fitted classifier: the column of ``good_label`` in ``predict_proba``.

    Parameters
    ----------
    model : classifier or Pipeline ending in one
        Fitted, with ``predict_proba`` and ``classes_``.
    X : array-like or DataFrame of shape (n_samples, n_features)
        Rows to score.
    good_label : int or str, default=1
        The label that means good.

    Returns
    -------
    ndarray of shape (n_samples,)
        The probability of ``good_label``.

    Raises
    ------
    ValueError
        When ``good_label`` is not one of ``model.classes_``.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], ["bad", "bad", "ok", "ok"])
    >>> predict_good_proba(model, [[3.0]], good_label="ok").round(2)
    array([0.81])
    """
    proba = model.predict_proba(X)
    classes = list(model.classes_)
    if good_label not in classes:
        raise ValueError(
            f"good_label={good_label!r} is not one of the classes {classes}; pass the label "
            "that means good."
        )
    return proba[:, classes.index(good_label)]
