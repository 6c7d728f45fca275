"""Certification: golden JSON files, lumisection lists, per-channel thresholds.

A *golden JSON* is the certification format of CMS: ``{"<run>": [[first, last], ...]}``, one
entry per run, lists of inclusive lumisection ranges; a lumisection (LS) listed is certified
good. Throughout this module a set of lumisections is a :class:`pandas.DataFrame` with integer
columns ``run`` and ``lumi`` (sorted, without duplicates): what the readers return and what the
writers accept. The writers also accept a :class:`pandas.MultiIndex` with levels
``(run, lumi)``, an integer array of shape (n, 2), or an iterable of ``(run, lumi)`` pairs.
"""

from __future__ import annotations

import json
import numbers
import os
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "certify_channels",
    "channel_thresholds",
    "golden_json_labels",
    "lumisection_keys",
    "read_golden_json",
    "read_lumi_list",
    "set_channel_thresholds",
    "subsystem_labels_from_lists",
    "to_golden_dict",
    "write_channel_golden_jsons",
    "write_golden_json",
    "write_lumi_list",
]

KEY_COLUMNS = ("run", "lumi")


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------


def _encode(run, lumi):
    """One int64 per (run, lumi): run in the high 32 bits, lumi in the low 32 bits."""
    return (np.asarray(run, dtype=np.int64) << 32) | np.asarray(lumi, dtype=np.int64)


def _key_frame(run, lumi):
    """Sorted, duplicate-free DataFrame of (run, lumi) keys."""
    run = np.asarray(run, dtype=np.int64)
    lumi = np.asarray(lumi, dtype=np.int64)
    if run.size and (max(run.max(), lumi.max()) >= 2**31 or min(run.min(), lumi.min()) < 0):
        raise ValueError("Run and lumi numbers must be integers in [0, 2**31).")
    codes = np.sort(_encode(run, lumi))
    codes = codes[np.r_[True, codes[1:] != codes[:-1]]] if codes.size else codes
    return pd.DataFrame({"run": codes >> 32, "lumi": codes & 0xFFFFFFFF})


def lumisection_keys(lumisections, name="lumisections"):
    """Lumisection keys in any of the package's forms, as an (n, 2) int64 array of (run, lumi).

    Parameters
    ----------
    lumisections : DataFrame, MultiIndex, array-like of shape (n, 2) or iterable of pairs
        A DataFrame with ``run`` and ``lumi`` columns, a two-level (run, lumi) MultiIndex, an
        (n, 2) array or (run, lumi) pairs.
    name : str, default="lumisections"
        The argument's name, for error messages.

    Returns
    -------
    ndarray of shape (n, 2), int64
        The keys in the given order (duplicates kept).

    Raises
    ------
    ValueError, TypeError
        For missing columns, other shapes, negative or non-integer numbers, or a file path.

    Examples
    --------
    >>> lumisection_keys([(1, 2), (1, 3)])
    array([[1, 2],
           [1, 3]])
    """
    if isinstance(lumisections, pd.DataFrame):
        missing = [c for c in KEY_COLUMNS if c not in lumisections.columns]
        if missing:
            raise ValueError(
                f"{name} is a DataFrame without column(s) {missing}; it needs integer columns "
                "'run' and 'lumi' (rename yours, e.g. df.rename(columns={'ls': 'lumi'}))."
            )
        values = lumisections[list(KEY_COLUMNS)].to_numpy()
    elif isinstance(lumisections, pd.MultiIndex):
        if lumisections.nlevels != 2:
            raise ValueError(
                f"{name} is a MultiIndex with {lumisections.nlevels} levels; it needs exactly "
                "two, (run, lumi)."
            )
        values = np.column_stack(
            [lumisections.get_level_values(0), lumisections.get_level_values(1)]
        )
    else:
        if isinstance(lumisections, (str, bytes, os.PathLike, dict)):
            raise TypeError(
                f"{name} must be a DataFrame with run/lumi columns, a (run, lumi) MultiIndex, an "
                f"(n, 2) array or (run, lumi) pairs; got {type(lumisections).__name__}. To read a "
                "file, use read_golden_json or read_lumi_list."
            )
        values = np.asarray(
            list(lumisections) if not hasattr(lumisections, "shape") else lumisections
        )
        if values.size == 0:
            values = values.reshape(0, 2)
        if values.ndim != 2 or values.shape[1] != 2:
            raise ValueError(
                f"{name} must have shape (n, 2), one (run, lumi) pair per row; got {values.shape}."
            )
    if values.dtype.kind not in "iu":
        as_float = values.astype(float)
        if not np.all(np.isfinite(as_float)) or not np.all(as_float == np.round(as_float)):
            raise ValueError(f"{name} holds non-integer run or lumi values.")
    values = values.astype(np.int64)
    if values.size and (values < 0).any():
        row = int(np.flatnonzero((values < 0).any(axis=1))[0])
        raise ValueError(f"{name} has a negative run or lumi at row {row}: {values[row].tolist()}.")
    if values.size and (values >= 2**31).any():
        raise ValueError(f"{name} has a run or lumi number of 2**31 or more; that is not one.")
    return values


def _keys_to_frame(lumisections, name="lumisections"):
    values = lumisection_keys(lumisections, name)
    return _key_frame(values[:, 0], values[:, 1])


# --------------------------------------------------------------------------------------------
# Golden JSON and plain lists
# --------------------------------------------------------------------------------------------


def _golden_dict_to_frame(golden, source):
    runs, lumis = [], []
    for run_key, ranges in golden.items():
        try:
            run = int(run_key)
        except (TypeError, ValueError):
            raise ValueError(f"{source}: run {run_key!r} is not an integer run number.") from None
        if not isinstance(ranges, list):
            raise ValueError(
                f"{source}: run {run_key} must map to a list of [first, last] ranges; got "
                f"{ranges!r}."
            )
        for entry in ranges:
            if (
                not isinstance(entry, (list, tuple))
                or len(entry) != 2
                or not all(isinstance(v, numbers.Integral) for v in entry)
            ):
                raise ValueError(
                    f"{source}: run {run_key} has the range {entry!r}; each range must be "
                    "[first, last], two integers."
                )
            first, last = int(entry[0]), int(entry[1])
            if first < 0 or last < first:
                raise ValueError(
                    f"{source}: run {run_key} has the range [{first}, {last}]; ranges are "
                    "inclusive with 0 <= first <= last."
                )
            runs.append(np.full(last - first + 1, run, dtype=np.int64))
            lumis.append(np.arange(first, last + 1, dtype=np.int64))
    if not runs:
        return _key_frame([], [])
    return _key_frame(np.concatenate(runs), np.concatenate(lumis))


def read_golden_json(path):
    """Read a golden JSON certification file.

    Parameters
    ----------
    path : str or path-like
        File of the form ``{"<run>": [[first, last], ...]}`` (inclusive ranges).

    Returns
    -------
    lumisections : DataFrame
        Columns ``run`` and ``lumi`` (int64), one row per certified lumisection, sorted.

    Raises
    ------
    ValueError
        If the file is not valid JSON of that form (the message names the run and range).

    Examples
    --------
    >>> import json, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "golden.json")
    >>> with open(path, "w") as f:
    ...     json.dump({"1": [[3, 5]], "2": [[1, 1]]}, f)
    >>> read_golden_json(path).to_numpy().tolist()
    [[1, 3], [1, 4], [1, 5], [2, 1]]
    """
    path = Path(path)
    try:
        golden = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); expected a golden JSON file.") from exc
    if not isinstance(golden, dict):
        raise ValueError(
            f"{path} holds a JSON {type(golden).__name__}; a golden JSON is an object "
            '{"<run>": [[first, last], ...]}.'
        )
    return _golden_dict_to_frame(golden, str(path))


def _compact_ranges(lumis):
    """Inclusive ``[first, last]`` ranges of a sorted array of unique integers."""
    if lumis.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(lumis) != 1)
    starts = np.r_[lumis[0], lumis[breaks + 1]]
    ends = np.r_[lumis[breaks], lumis[-1]]
    return [[int(a), int(b)] for a, b in zip(starts, ends)]


def to_golden_dict(lumisections):
    """Return the golden-JSON dictionary of a set of lumisections (compact ranges)."""
    frame = _keys_to_frame(lumisections)
    golden = {}
    for run, group in frame.groupby("run", sort=True):
        golden[str(int(run))] = _compact_ranges(group["lumi"].to_numpy())
    return golden


def write_golden_json(lumisections, path):
    """Write a set of lumisections as a golden JSON file with compact ranges.

    Parameters
    ----------
    lumisections : DataFrame, MultiIndex, array of shape (n, 2) or iterable of pairs
        The certified lumisections (duplicates and order do not matter); e.g. what
        :func:`read_golden_json` returns.
    path : str or path-like
        Output file, written as ``{"<run>": [[first, last], ...]}``, runs ascending, consecutive
        lumisections merged into one inclusive range.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "golden.json")
    >>> _ = write_golden_json([(2, 1), (1, 3), (1, 4), (1, 5), (1, 9)], path)
    >>> print(open(path).read())
    {"1": [[3, 5], [9, 9]], "2": [[1, 1]]}
    """
    path = Path(path)
    path.write_text(json.dumps(to_golden_dict(lumisections)))
    return path


def read_lumi_list(path):
    """Read a plain list of lumisections, one ``run lumi`` pair per line.

    Blank lines and lines starting with ``#`` are ignored; the two numbers may be separated by
    spaces, tabs or a comma. (The format of the 2010 per-subsystem ``abnormal_*.txt`` lists.)

    Parameters
    ----------
    path : str or path-like
        The file.

    Returns
    -------
    lumisections : DataFrame
        Columns ``run`` and ``lumi``, sorted, duplicates removed.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "bad.txt")
    >>> _ = open(path, "w").write("147114 241\\n147114 240\\n\\n100 7\\n")
    >>> read_lumi_list(path).to_numpy().tolist()
    [[100, 7], [147114, 240], [147114, 241]]
    """
    path = Path(path)
    runs, lumis = [], []
    with path.open() as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            fields = text.replace(",", " ").split()
            if len(fields) != 2 or not all(f.isdigit() for f in fields):
                raise ValueError(
                    f"{path}, line {number}: expected two non-negative integers 'run lumi'; got "
                    f"{text!r}."
                )
            runs.append(int(fields[0]))
            lumis.append(int(fields[1]))
    return _key_frame(runs, lumis)


def write_lumi_list(lumisections, path):
    """Write lumisections as a plain ``run lumi`` list, one per line, sorted.

    Parameters
    ----------
    lumisections : DataFrame, MultiIndex, array of shape (n, 2) or iterable of pairs
        The lumisections.
    path : str or path-like
        Output file.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "list.txt")
    >>> _ = write_lumi_list([(5, 2), (5, 1)], path)
    >>> print(open(path).read().strip())
    5 1
    5 2
    """
    frame = _keys_to_frame(lumisections)
    path = Path(path)
    lines = [f"{run} {lumi}\n" for run, lumi in frame.itertuples(index=False)]
    path.write_text("".join(lines))
    return path


def _listed_codes(listed, name):
    """Sorted codes of a set of lumisections given as a file, dict or keys."""
    if isinstance(listed, (str, os.PathLike)):
        text = Path(listed).read_text().lstrip()
        listed = read_golden_json(listed) if text.startswith("{") else read_lumi_list(listed)
    elif isinstance(listed, dict):
        listed = _golden_dict_to_frame(listed, name)
    values = lumisection_keys(listed, name)
    # Sorted (duplicates are harmless for the lookup); np.sort is much faster than np.unique.
    return np.sort(_encode(values[:, 0], values[:, 1]))


def _membership(key_values, listed_codes):
    """Boolean mask: which rows of an (n, 2) key array are among the sorted listed codes."""
    codes = _encode(key_values[:, 0], key_values[:, 1])
    position = np.minimum(np.searchsorted(listed_codes, codes), max(listed_codes.size - 1, 0))
    if listed_codes.size == 0:
        return np.zeros(len(codes), dtype=bool)
    return listed_codes[position] == codes


def _key_index(key_values):
    return pd.MultiIndex.from_arrays([key_values[:, 0], key_values[:, 1]], names=KEY_COLUMNS)


def golden_json_labels(keys, golden):
    """Label lumisections 1 (certified) or 0 (not certified) from a golden JSON.

    Parameters
    ----------
    keys : DataFrame, MultiIndex, array of shape (n, 2) or iterable of pairs
        The ``(run, lumi)`` keys to label, in the order wanted.
    golden : str, path-like, dict or DataFrame
        A golden JSON file (or a plain ``run lumi`` list file), its dictionary, or a set of
        lumisections as returned by :func:`read_golden_json`.

    Returns
    -------
    labels : Series of int
        1 where the key is certified, 0 elsewhere; indexed by a ``(run, lumi)`` MultiIndex in the
        order of ``keys``.

    Examples
    --------
    >>> golden_json_labels([(1, 3), (1, 6), (2, 1)], {"1": [[3, 5]], "2": [[1, 1]]}).tolist()
    [1, 0, 1]
    """
    key_values = lumisection_keys(keys, "keys")
    inside = _membership(key_values, _listed_codes(golden, "golden"))
    return pd.Series(inside.astype(np.int64), index=_key_index(key_values), name="good")


def subsystem_labels_from_lists(keys, abnormal):
    """Per-subsystem flags (1 = good, 0 = bad) from lists of abnormal lumisections.

    Parameters
    ----------
    keys : DataFrame, MultiIndex, array of shape (n, 2) or iterable of pairs
        The ``(run, lumi)`` keys to label.
    abnormal : dict of str to (path or lumisections)
        ``{subsystem name: lumisections flagged bad in it}``, e.g. the 2010
        ``abnormal_*.txt`` files (read with :func:`read_lumi_list`).

    Returns
    -------
    labels : DataFrame of int
        One column per subsystem, 0 where the key is in that subsystem's list, 1 elsewhere;
        indexed by a ``(run, lumi)`` MultiIndex in the order of ``keys``.

    Examples
    --------
    >>> labels = subsystem_labels_from_lists([(1, 3), (1, 4)], {"DT": [(1, 4)], "HCAL": []})
    >>> labels.to_numpy().tolist()
    [[1, 1], [0, 1]]
    """
    if not isinstance(abnormal, dict) or not abnormal:
        raise TypeError("abnormal must be a non-empty dict {subsystem name: path or lumisections}.")
    key_values = lumisection_keys(keys, "keys")
    columns = {}
    for subsystem, listed in abnormal.items():
        inside = _membership(key_values, _listed_codes(listed, f"abnormal[{subsystem!r}]"))
        columns[subsystem] = (~inside).astype(np.int64)
    return pd.DataFrame(columns, index=_key_index(key_values))


# --------------------------------------------------------------------------------------------
# Per-channel certification
# --------------------------------------------------------------------------------------------


def channel_thresholds(
    channel_scores, y_true, *, false_alarm_rate=0.01, good_label=1, sample_weight=None
):
    """Per-channel thresholds at a target false-alarm rate on good lumisections.

    A channel *flags* a lumisection when its score is strictly below its threshold. Each
    threshold is the highest one for which the (weighted) fraction of good lumisections flagged
    stays at most ``false_alarm_rate``. Choose them on data the model was not trained on.

    Parameters
    ----------
    channel_scores : DataFrame of shape (n_samples, n_channels)
        Channel scores, 1 = the channel looks good.
    y_true : array-like of shape (n_samples,)
        Global labels; only the good lumisections are used.
    false_alarm_rate : float in [0, 1), default=0.01
        Largest fraction of good lumisections a channel may flag.
    good_label : int or str, default=1
        The label that means good.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights.

    Returns
    -------
    thresholds : Series
        One threshold per channel.

    Examples
    --------
    >>> import pandas as pd
    >>> scores = pd.DataFrame({"muons": [0.1, 0.5, 0.6, 0.7, 0.9], "jets": [0.9] * 5})
    >>> channel_thresholds(scores, [1, 1, 1, 1, 0], false_alarm_rate=0.25).to_dict()
    {'muons': 0.5, 'jets': 0.9}
    """
    if not isinstance(false_alarm_rate, numbers.Real) or not 0 <= false_alarm_rate < 1:
        raise ValueError(f"false_alarm_rate must be in [0, 1); got {false_alarm_rate!r}.")
    if not isinstance(channel_scores, pd.DataFrame):
        raise TypeError(
            "channel_scores must be a DataFrame with one column per channel (as returned by "
            "predict_channel_scores)."
        )
    y = np.asarray(y_true).reshape(-1)
    if len(y) != len(channel_scores):
        raise ValueError(f"channel_scores has {len(channel_scores)} rows but y_true has {len(y)}.")
    weight = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
    if weight.shape != (len(y),):
        raise ValueError(f"sample_weight must have shape ({len(y)},); got {weight.shape}.")
    good = y == good_label
    if not (weight[good] > 0).any():
        raise ValueError(
            f"No good lumisection (y_true == {good_label!r}) with positive weight: thresholds "
            "at a false-alarm rate need good lumisections."
        )
    thresholds = {}
    for channel in channel_scores.columns:
        scores = channel_scores[channel].to_numpy(dtype=float)[good]
        w = weight[good]
        order = np.argsort(scores, kind="stable")
        scores, w = scores[order], w[order]
        values, first = np.unique(scores, return_index=True)
        # Weight strictly below each candidate threshold value.
        below = np.r_[0.0, np.cumsum(w)][first] / w.sum()
        ok = below <= false_alarm_rate + 1e-12
        thresholds[channel] = float(values[np.flatnonzero(ok)[-1]])
    return pd.Series(thresholds, name="threshold", dtype=float).rename_axis("channel")


def certify_channels(
    channel_scores, thresholds, *, keys=None, global_scores=None, global_threshold=0.5
):
    """Certification per channel: which lumisections each channel passes.

    Parameters
    ----------
    channel_scores : DataFrame of shape (n_samples, n_channels)
        Channel scores, 1 = the channel looks good.
    thresholds : float, dict or Series
        A channel passes a lumisection when its score is at or above its threshold (e.g. from
        :func:`channel_thresholds`).
    keys : DataFrame, MultiIndex, array of shape (n, 2) or iterable of pairs, default=None
        ``(run, lumi)`` of each row; default: the index of ``channel_scores`` when it is a
        two-level MultiIndex.
    global_scores : array-like of shape (n_samples,), default=None
        Global P(good); the ``"global"`` column is ``global_scores >= global_threshold``. Without
        it, ``"global"`` is the AND of the channel columns.
    global_threshold : float, default=0.5
        Threshold on ``global_scores``.

    Returns
    -------
    certified : DataFrame of bool
        One column per channel plus ``"global"``, indexed by a ``(run, lumi)`` MultiIndex.

    Examples
    --------
    >>> import pandas as pd
    >>> scores = pd.DataFrame({"muons": [0.9, 0.2], "jets": [0.8, 0.9]})
    >>> certify_channels(scores, 0.5, keys=[(1, 1), (1, 2)]).to_numpy().tolist()
    [[True, True, True], [False, True, False]]
    """
    if not isinstance(channel_scores, pd.DataFrame):
        raise TypeError("channel_scores must be a DataFrame with one column per channel.")
    if "global" in channel_scores.columns:
        raise ValueError("A channel may not be called 'global': that name is the global column.")
    if keys is None:
        if not (
            isinstance(channel_scores.index, pd.MultiIndex) and channel_scores.index.nlevels == 2
        ):
            raise ValueError(
                "certify_channels needs the (run, lumi) of each row: pass keys=, or index "
                "channel_scores by a (run, lumi) MultiIndex."
            )
        keys = channel_scores.index
    key_values = lumisection_keys(keys, "keys")
    if len(key_values) != len(channel_scores):
        raise ValueError(
            f"keys has {len(key_values)} rows but channel_scores has {len(channel_scores)}."
        )
    if isinstance(thresholds, pd.Series):
        thresholds = thresholds.to_dict()
    if isinstance(thresholds, dict):
        missing = [c for c in channel_scores.columns if c not in thresholds]
        if missing:
            raise ValueError(f"thresholds has no value for channel(s) {missing}.")
    else:
        thresholds = dict.fromkeys(channel_scores.columns, float(thresholds))
    certified = pd.DataFrame(
        {c: channel_scores[c].to_numpy(dtype=float) >= thresholds[c] for c in channel_scores},
        index=pd.MultiIndex.from_arrays([key_values[:, 0], key_values[:, 1]], names=KEY_COLUMNS),
    )
    if global_scores is not None:
        global_scores = np.asarray(global_scores, dtype=float).reshape(-1)
        if len(global_scores) != len(certified):
            raise ValueError(
                f"global_scores has {len(global_scores)} values but channel_scores has "
                f"{len(certified)} rows."
            )
        certified["global"] = global_scores >= global_threshold
    else:
        certified["global"] = certified.all(axis=1)
    return certified


def set_channel_thresholds(model, thresholds):
    """Store per-channel thresholds in a fitted channel model, so they are saved with it.

    The thresholds go to the final estimator (the last step of a Pipeline) as its attribute
    ``channel_thresholds_``: a plain dict ``{channel: float}`` in ``channel_names_`` order, which
    :func:`channeldecomp.save` writes into the same model file. ``channeldecomp score`` then
    writes a certification decision per channel: certified when the channel score is at or
    above its threshold, as in :func:`certify_channels`. Refitting the model (or ``clone``)
    drops them, since thresholds belong to one fit.

    Parameters
    ----------
    model : estimator or Pipeline
        A fitted model with ``channel_names_`` (or a Pipeline ending in one).
    thresholds : Series, dict or float
        One threshold per channel (e.g. from :func:`channel_thresholds` on held-out data), or
        one value for every channel.

    Returns
    -------
    model : estimator or Pipeline
        The same model.

    Raises
    ------
    ValueError
        If a channel of the model has no threshold, a threshold names a channel the model does
        not have, or a threshold is not a finite number.
    TypeError
        If the model has no ``channel_names_`` (not a fitted channel model).

    Examples
    --------
    >>> from channeldecomp.datasets import make_channel_anomalies
    >>> from channeldecomp.detectors import PerChannelOutlierDetector
    >>> data = make_channel_anomalies(n_samples=300, random_state=0)
    >>> model = PerChannelOutlierDetector(random_state=0).fit(data.data[data.target == 1])
    >>> scores = model.predict_channel_scores(data.data)
    >>> thresholds = channel_thresholds(scores, data.target, false_alarm_rate=0.05)
    >>> set_channel_thresholds(model, thresholds).channel_thresholds_ == thresholds.to_dict()
    True
    """
    final = model[-1] if hasattr(model, "steps") else model
    channels = getattr(final, "channel_names_", None)
    if channels is None:
        raise TypeError(
            f"{type(final).__name__} has no channel_names_: pass a fitted channel model (or a "
            "Pipeline ending in one)."
        )
    if isinstance(thresholds, pd.Series):
        thresholds = thresholds.to_dict()
    if not isinstance(thresholds, dict):
        thresholds = dict.fromkeys(channels, thresholds)
    missing = [channel for channel in channels if channel not in thresholds]
    unknown = [channel for channel in thresholds if channel not in channels]
    if missing or unknown:
        raise ValueError(
            f"thresholds must name each channel of the model {list(channels)} once; missing: "
            f"{missing}, unknown: {unknown}."
        )
    values = {}
    for channel in channels:
        value = thresholds[channel]
        if not isinstance(value, numbers.Real) or not np.isfinite(value):
            raise ValueError(
                f"The threshold of channel {channel!r} is not a finite number: {value!r}."
            )
        values[channel] = float(value)
    final.channel_thresholds_ = values
    return model


def write_channel_golden_jsons(certified, directory, *, prefix=""):
    """Write one golden JSON per column of :func:`certify_channels` (channels and global).

    Parameters
    ----------
    certified : DataFrame of bool
        As returned by :func:`certify_channels`: a ``(run, lumi)`` MultiIndex, one boolean
        column per channel plus ``"global"``.
    directory : str or path-like
        Output directory (created if needed).
    prefix : str, default=""
        Prefix of the file names, ``<prefix><column>.json``.

    Returns
    -------
    paths : dict of str to pathlib.Path
        The file written for each column.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> scores = pd.DataFrame({"muons": [0.9, 0.2], "jets": [0.8, 0.9]})
    >>> certified = certify_channels(scores, 0.5, keys=[(1, 1), (1, 2)])
    >>> paths = write_channel_golden_jsons(certified, tempfile.mkdtemp())
    >>> sorted(paths), open(paths["muons"]).read()
    (['global', 'jets', 'muons'], '{"1": [[1, 1]]}')
    """
    if not isinstance(certified, pd.DataFrame) or not isinstance(certified.index, pd.MultiIndex):
        raise TypeError(
            "certified must be the DataFrame of certify_channels (a (run, lumi) MultiIndex and "
            "one boolean column per channel)."
        )
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for column in certified.columns:
        name = str(column)
        if not name or any(c in name for c in '/\\:*?"<>|'):
            raise ValueError(f"Column {name!r} cannot be used as a file name; rename it.")
        mask = certified[column].to_numpy(dtype=bool)
        paths[name] = write_golden_json(certified.index[mask], directory / f"{prefix}{name}.json")
    return paths
