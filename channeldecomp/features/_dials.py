"""Monitoring-element histograms in the DIALS layout: long tables and exported files.

The CMS data-quality service DIALS serves per-lumisection histograms as records with the fields
``dataset``, ``me``, ``run_number``, ``ls_number``, ``entries``, ``data`` (the bin contents:
a list for a 1D ME, a list of ``y_bin`` lists of ``x_bin`` numbers for a 2D ME) and the binning
``x_min``, ``x_max``, ``x_bin`` (plus ``y_min``, ``y_max``, ``y_bin`` for 2D). This module turns
a table of such records (:func:`histograms_from_table`, behind
``LumiSectionHistograms.from_table``) or files of them (:func:`read_dials`) into a
:class:`~channeldecomp.LumiSectionHistograms`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .._validation import _describe
from ._histograms import (
    _BINNING_1D,
    _BINNING_2D,
    LumiSectionHistograms,
    _channel_namer,
    _check_binning,
    _check_channel,
    _check_contents,
    _MonitoringElement,
    _runs,
    _shape_of,
)
from ._lumisections import _as_index_array, _sorted_group_codes

__all__ = ["histograms_from_table", "read_dials"]

_Y_COLUMNS = ("y_min", "y_max", "y_bin")


def _as_contents(value, me, run, lumi):
    """One record's ``data`` as a float array (a list, nested lists, arrays or a JSON string)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"ME {me!r}, (run, lumi) = ({run}, {lumi}): data is a string that is not a JSON "
                f"list of bin contents ({error.msg}): {value[:60]!r}."
            ) from None
    if isinstance(value, np.ndarray) and value.dtype == object:
        # Parquet list-of-lists columns come back as arrays of arrays.
        value = [np.asarray(row) for row in value]
    try:
        contents = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"ME {me!r}, (run, lumi) = ({run}, {lumi}): data must be a list of numbers (1D) or "
            f"a list of equally long lists (2D); got {str(value)[:60]!r}."
        ) from None
    return contents


def _check_columns(table, columns):
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(
            f"The table has no column {_describe(missing)} (it has {_describe(table.columns)}). "
            "Pass the names of its run, lumisection, ME and data columns (run=, lumi=, me=, "
            "data=), or rename them."
        )


def _me_binning(table, rows, name, is_2d, runs):
    """The one binning of the rows of an ME; a ValueError naming the runs if it changes."""
    columns = list(_BINNING_2D if is_2d else _BINNING_1D)
    binnings = table[columns].iloc[rows]
    distinct = binnings.drop_duplicates()
    if len(distinct) > 1:
        described = []
        for _, binning in distinct.iterrows():
            same = (binnings == binning).all(axis=1).to_numpy()
            described.append(f"{tuple(binning.tolist())} in runs {_runs(runs[rows][same])}")
        raise ValueError(
            f"ME {name!r} changes its binning ({', '.join(columns)}) between lumisections: "
            + "; ".join(described)
            + ". An ME must keep one binning: rebin the records, or read those runs apart."
        )
    return _check_binning(name, tuple(distinct.iloc[0].tolist()))


def histograms_from_table(
    table,
    *,
    run="run_number",
    lumi="ls_number",
    me="me",
    data="data",
    entries="entries",
    channels=None,
):
    """Build a LumiSectionHistograms from a long table in the DIALS layout.

    The implementation of :meth:`~channeldecomp.LumiSectionHistograms.from_table`, which
    documents the parameters.
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(
            f"table must be a pandas DataFrame of DIALS records; got {type(table).__name__}."
        )
    _check_columns(table, [run, lumi, me, data, *_BINNING_1D])
    if "dataset" in table.columns:
        datasets = pd.unique(table["dataset"].dropna())
        if len(datasets) > 1:
            raise ValueError(
                f"The table holds records of several datasets ({_describe(datasets)}); a "
                "lumisection's histograms come from one. Filter it first, e.g. "
                "table[table.dataset == name]."
            )
    runs = _as_index_array(f"Column {run!r}", table[run].to_numpy())
    lumis = _as_index_array(f"Column {lumi!r}", table[lumi].to_numpy())
    names = table[me].to_numpy()
    bad_name = [n for n in pd.unique(names) if not isinstance(n, str) or not n]
    if bad_name:
        raise TypeError(
            f"Column {me!r} must hold ME names (non-empty strings); found {_describe(bad_name)}."
        )
    order, codes, first = _sorted_group_codes(runs, lumis)
    new_run, new_lumi = runs[order[first]], lumis[order[first]]
    n_ls = len(first)
    has_y = all(c in table.columns for c in _Y_COLUMNS)
    entry_values = None
    if entries is not None and entries in table.columns:
        entry_values = pd.to_numeric(table[entries], errors="coerce").to_numpy(dtype=float)
    contents_column = table[data].to_numpy()
    namer = _channel_namer(channels)

    mes = {}
    for name in sorted(pd.unique(names)):
        rows = np.flatnonzero(names == name)
        is_2d = np.zeros(len(rows), dtype=bool)
        if has_y:
            is_2d = table["y_bin"].iloc[rows].notna().to_numpy()
        if is_2d.any() and not is_2d.all():
            raise ValueError(
                f"ME {name!r} is 2D (y_bin given) in runs {_runs(runs[rows][is_2d])}"
                f" but 1D in runs {_runs(runs[rows][~is_2d])}. An ME must keep "
                "one binning."
            )
        binning = _me_binning(table, rows, name, bool(is_2d.any()), runs)
        shape = _shape_of(binning)
        values = np.empty((len(rows),) + shape)
        for i, row in enumerate(rows):
            contents = _as_contents(contents_column[row], name, runs[row], lumis[row])
            if contents.shape != shape:
                expected = (
                    f"{shape[0]} bins (x_bin)"
                    if len(shape) == 1
                    else f"{shape[0]} lists (y_bin) of {shape[1]} bins (x_bin)"
                )
                raise ValueError(
                    f"ME {name!r}, (run, lumi) = ({runs[row]}, {lumis[row]}): data has shape "
                    f"{contents.shape} but the binning {binning} needs {expected}. Check x_bin "
                    "/ y_bin (under- and overflow bins are not part of the layout)."
                )
            values[i] = contents

        def where(i, rows=rows):
            return f"(run, lumi) = ({runs[rows[i]]}, {lumis[rows[i]]})"

        values = _check_contents(name, values, binning, where)
        if entry_values is None:
            me_entries = values.reshape(len(rows), -1).sum(axis=1)
        else:
            me_entries = entry_values[rows]
            bad = ~np.isfinite(me_entries) | (me_entries < 0)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(
                    f"ME {name!r} has entries {table[entries].iloc[rows[i]]!r} at {where(i)}; "
                    "entries must be a finite, non-negative number."
                )
        target = codes[rows]
        _check_repeats(name, target, values, me_entries, new_run, new_lumi)
        me_values = np.zeros((n_ls,) + shape)
        me_values[target] = values
        entries_out = np.zeros(n_ls)
        entries_out[target] = me_entries
        present = np.zeros(n_ls, dtype=bool)
        present[target] = True
        channel = _check_channel(name, namer(name))
        mes[name] = _MonitoringElement(channel, binning, me_values, entries_out, present)
    return LumiSectionHistograms(new_run, new_lumi, mes)


def _check_repeats(name, target, values, entries, run, lumi):
    """Repeated records of one (run, LS, ME) must agree; a ValueError naming them otherwise."""
    order = np.argsort(target, kind="stable")
    sorted_target = target[order]
    repeated = np.flatnonzero(sorted_target[1:] == sorted_target[:-1])
    for position in repeated:
        a, b = order[position], order[position + 1]
        if not (np.array_equal(values[a], values[b]) and entries[a] == entries[b]):
            ls = sorted_target[position]
            raise ValueError(
                f"ME {name!r} has two different records for (run, lumi) = ({int(run[ls])}, "
                f"{int(lumi[ls])}) (entries {entries[a]} and {entries[b]}). Keep one record per "
                "(run, lumisection, ME), e.g. drop the older export."
            )


def _records_of_json(content, path):
    """The records of a DIALS JSON export: a list of records, a page, or a list of pages."""
    if isinstance(content, dict):
        if "results" not in content:
            raise ValueError(
                f"{path}: a JSON object must be a DIALS page with a 'results' list; it has keys "
                f"{_describe(content)}."
            )
        content = [content]
    if not isinstance(content, list):
        raise ValueError(
            f"{path}: expected a list of records or of {{'results': [...]}} pages; got "
            f"{type(content).__name__}."
        )
    records = []
    for item in content:
        if isinstance(item, dict) and "results" in item:
            if not isinstance(item["results"], list):
                raise ValueError(f"{path}: a page's 'results' must be a list of records.")
            records.extend(item["results"])
        elif isinstance(item, dict):
            records.append(item)
        else:
            raise ValueError(
                f"{path}: expected records (JSON objects); found {type(item).__name__}."
            )
    return records


def _read_one(path):
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            import pyarrow  # noqa: F401
        except ImportError:  # pragma: no cover - pyarrow is installed where tests run
            raise ImportError(
                f"Reading {path} needs pyarrow: pip install 'channeldecomp[hep]' or pyarrow."
            ) from None
        return pd.read_parquet(path)
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix == ".json":
        with open(path, encoding="utf-8") as handle:
            try:
                content = json.load(handle)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path} is not valid JSON: {error}.") from None
        return pd.DataFrame.from_records(_records_of_json(content, path))
    raise ValueError(
        f"{path}: unknown file type {suffix!r}; read_dials reads .parquet (.pq), .csv and .json "
        "files of DIALS records."
    )


def read_dials(paths, **kwargs):
    """Read DIALS exports (Parquet, CSV or JSON) into a LumiSectionHistograms.

    Every file holds records in the DIALS layout (one per ``(run, LS, ME)``: ``run_number``,
    ``ls_number``, ``me``, ``x_min``, ``x_max``, ``x_bin``, for 2D MEs ``y_min``, ``y_max``,
    ``y_bin``, ``entries`` and ``data``); the records of all files are merged, in any order, by
    :meth:`~channeldecomp.LumiSectionHistograms.from_table`.

    - **Parquet** (``.parquet``, ``.pq``; needs pyarrow): ``data`` a list column (list of lists
      for 2D). A Parquet column has one type, so keep 1D and 2D MEs in separate files.
    - **CSV** (``.csv``): ``data`` a JSON string such as ``"[0.0, 3.0, 1.0]"`` (what
      ``DataFrame.to_csv`` writes for a list).
    - **JSON** (``.json``): a list of records, one page ``{"results": [...], ...}`` as the API
      returns it, or a list of such pages (other keys of a page, e.g. ``next``, are ignored).

    Parameters
    ----------
    paths : str, path-like or list of them
        The files.
    **kwargs
        Passed to :meth:`~channeldecomp.LumiSectionHistograms.from_table` (``run=``,
        ``lumi=``, ``me=``, ``data=``, ``entries=``, ``channels=``).

    Returns
    -------
    LumiSectionHistograms

    Raises
    ------
    ValueError
        For an unknown file type, a malformed JSON export, and every error of ``from_table``.
    FileNotFoundError
        For a missing file.

    Examples
    --------
    >>> import json, tempfile, os
    >>> from channeldecomp.features import read_dials
    >>> page = {"next": None, "results": [
    ...     {"run_number": 1, "ls_number": 3, "me": "RPC/Efficiency", "entries": 4,
    ...      "x_min": 0.0, "x_max": 1.0, "x_bin": 2, "data": [1, 3]}]}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "page.json")
    ...     with open(path, "w") as handle:
    ...         json.dump([page], handle)
    ...     histograms = read_dials(path)
    >>> histograms.keys.tolist(), histograms.values("RPC/Efficiency").tolist()
    ([(1, 3)], [[1.0, 3.0]])
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("read_dials needs at least one file.")
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"No such file: {path}.")
    tables = [_read_one(path) for path in paths]
    tables = [t for t in tables if len(t)] or tables[:1]
    table = pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]
    return LumiSectionHistograms.from_table(table, **kwargs)
