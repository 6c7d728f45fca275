"""Resolve a ``channels`` specification to column indices per channel.

Every estimator of the package that groups columns into channels (the classifier, the
per-channel outlier detector, the random-partition control) goes through
:func:`resolve_channels`, so the accepted forms and the error messages are the same everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

from ._validation import _describe

__all__ = ["resolve_channels", "channel_sizes_partition"]

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
    channels : dict or "prefix"
        ``{name: [column names]}``, ``{name: [integer indices]}``, ``{name: regex}`` (matched
        with :func:`re.search` against feature names), or the string ``"prefix"``: feature names
        grouped by the part before the first ``"__"``.
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
    """
    if remainder not in ("error", "drop"):
        raise ValueError(f"remainder must be 'error' or 'drop'; got {remainder!r}.")
    if feature_names is not None:
        feature_names = [str(name) for name in feature_names]

    if isinstance(channels, str):
        if channels != "prefix":
            raise ValueError(
                f"channels={channels!r} is not understood: the only string form is 'prefix'. "
                "Otherwise pass a dict {channel name: list of columns or a regex}."
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
            "channels must be a dict {channel name: columns or regex} or the string 'prefix'; "
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


def channel_sizes_partition(sizes, n_features, random_state):
    """Split ``n_features`` columns at random into groups of the given sizes.

    Used by the random-partition control: the same number of channels with the same numbers of
    columns, but no relation to the physical grouping.

    Parameters
    ----------
    sizes : sequence of int
        Columns per group; must sum to at most ``n_features``.
    n_features : int
        Number of columns to draw from.
    random_state : int, RandomState instance or None
        Seed of the permutation.

    Returns
    -------
    list of ndarray of int
        Sorted column indices of each group.
    """
    from sklearn.utils import check_random_state

    sizes = [int(s) for s in sizes]
    if sum(sizes) > n_features:
        raise ValueError(f"Group sizes {sizes} need {sum(sizes)} columns; X has {n_features}.")
    permutation = check_random_state(random_state).permutation(n_features)
    bounds = np.cumsum([0, *sizes])
    return [np.sort(permutation[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
