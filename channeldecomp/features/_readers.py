"""Readers: from a long pandas table, awkward arrays and CMS NanoAOD-style ROOT files to
:class:`LumiSections`.

Every reader builds its result with :meth:`LumiSections.from_arrays`, which validates it; the
constructors ``LumiSections.from_objects`` and ``LumiSections.from_awkward`` delegate here.
``awkward`` and ``uproot`` (the ``hep`` extra) are imported inside the functions, never at
package import time.
"""

from __future__ import annotations

import glob
import importlib
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .._validation import _describe
from ._lumisections import LumiSections, _as_index_array, _ranges, _sorted_group_codes

__all__ = ["read_nanoaod"]

_DEFAULT_PROPERTIES = ("pt", "eta", "phi", "mass")


# ---------------------------------------------------------------------- long tables (pandas)
def lumisections_from_objects(
    objects,
    events=None,
    *,
    run="run",
    lumi="lumi",
    event="event",
    channel="channel",
    event_columns=None,
):
    """Implementation of :meth:`LumiSections.from_objects`."""
    if not isinstance(objects, pd.DataFrame):
        raise TypeError(
            f"objects must be a pandas DataFrame, one row per object; got {type(objects).__name__}."
        )
    key_names = [run, lumi, event]
    _require_columns("objects", objects, [*key_names, channel])
    event_columns = [] if event_columns is None else list(event_columns)
    _require_columns("objects", objects, event_columns)
    if events is not None:
        if not isinstance(events, pd.DataFrame):
            raise TypeError(
                f"events must be a pandas DataFrame, one row per event; got "
                f"{type(events).__name__}."
            )
        _require_columns("events", events, key_names)

    object_keys = [_key_column("objects", objects, name) for name in key_names]
    property_names = [c for c in objects.columns if c not in (*key_names, channel, *event_columns)]
    if "pt" not in property_names:
        raise ValueError(
            "objects has no 'pt' column: every channel needs the transverse momentum of its "
            f"objects. Columns present: {_describe(objects.columns)}."
        )
    for name in property_names:
        _check_numeric_column("objects", objects, name)

    # Every event seen anywhere, in (run, lumi, event) order.
    if events is not None:
        event_keys = [_key_column("events", events, name) for name in key_names]
        all_keys = [np.concatenate([a, b]) for a, b in zip(object_keys, event_keys)]
    else:
        event_keys = None
        all_keys = object_keys
    order, codes, first = _sorted_group_codes(*all_keys)
    unique_keys = [column[order[first]] for column in all_keys]
    n_objects_rows = len(objects)
    object_event = codes[:n_objects_rows]
    n_events_total = len(first)

    # Per-event scalars: from the events table and from event_columns of the objects table.
    scalar_values = {}
    if events is not None:
        event_code = codes[n_objects_rows:]
        event_value_names = [c for c in events.columns if c not in key_names]
        for name in event_value_names:
            _check_numeric_column("events", events, name)
        listed = np.zeros(n_events_total, dtype=bool)
        listed[event_code] = True
        if not listed.all():
            _raise_unlisted_events(
                np.flatnonzero(~listed), unique_keys, key_names, event_value_names
            )
        for name in event_value_names:
            scalar_values[name] = _per_event_values(
                "events",
                name,
                events[name].to_numpy(),
                event_code,
                n_events_total,
                unique_keys,
                key_names,
            )
    for name in event_columns:
        _check_numeric_column("objects", objects, name)
        values = _per_event_values(
            "objects",
            name,
            objects[name].to_numpy(),
            object_event,
            n_events_total,
            unique_keys,
            key_names,
        )
        if name in scalar_values:
            differ = np.flatnonzero(values != scalar_values[name])
            # events not in the objects table keep the events value
            has_objects = np.zeros(n_events_total, dtype=bool)
            has_objects[object_event] = True
            differ = differ[has_objects[differ]]
            if differ.size:
                i = int(differ[0])
                raise ValueError(
                    f"Per-event column {name!r} disagrees between objects and events for "
                    f"({run}, {lumi}, {event}) = {tuple(int(k[i]) for k in unique_keys)}: "
                    f"{values[i]} vs {scalar_values[name][i]}. Fix one of the two tables."
                )
        else:
            if np.isnan(values).any():
                i = int(np.flatnonzero(np.isnan(values))[0])
                raise ValueError(
                    f"Per-event column {name!r} comes from the object rows, but event "
                    f"({run}, {lumi}, {event}) = {tuple(int(k[i]) for k in unique_keys)} has "
                    "no object row. Put the column in events instead."
                )
            scalar_values[name] = values

    # Lumisections.
    # unique_keys are sorted, so each LS is a contiguous run of events.
    ls_first = _sorted_group_codes(unique_keys[0], unique_keys[1])[2]
    ls_run = unique_keys[0][ls_first]
    ls_lumi = unique_keys[1][ls_first]
    n_events = np.diff(np.append(ls_first, n_events_total))

    # Objects, channel by channel, stored event by event with decreasing pt.
    channel_values = objects[channel]
    if channel_values.isna().any():
        position = int(np.flatnonzero(channel_values.isna().to_numpy())[0])
        raise ValueError(
            f"Column {channel!r} of objects holds a missing channel name at row {position}."
        )
    channel_values = channel_values.astype(str).to_numpy()
    channel_names, channel_codes = np.unique(channel_values, return_inverse=True)
    pt_all = objects["pt"].to_numpy(dtype=np.float64)
    collections = {}
    for code, name in enumerate(channel_names.tolist()):
        rows = np.flatnonzero(channel_codes == code)
        rows = rows[np.lexsort((-pt_all[rows], object_event[rows]))]
        events_of_rows = object_event[rows]
        counts = np.bincount(events_of_rows, minlength=n_events_total)
        properties = {}
        for prop in property_names:
            values = objects[prop].to_numpy()[rows]
            values = np.asarray(values, dtype=np.float64)
            missing = np.isnan(values)
            if missing.all() and prop != "pt":
                continue
            if missing.any():
                raise ValueError(
                    f"Property {prop!r} of channel {name!r} is NaN in {int(missing.sum())} of "
                    f"its {len(values)} rows. A property must be given for every object of "
                    "a channel (or for none): fill or drop those rows."
                )
            properties[prop] = values
        collections[name] = (counts, properties)
    return LumiSections.from_arrays(
        ls_run,
        ls_lumi,
        n_events,
        collections,
        event_columns=scalar_values,
        event_ids=unique_keys[2],
    )


def _raise_unlisted_events(unlisted, unique_keys, key_names, event_value_names, limit=5):
    """Raise for the events (codes ``unlisted``) that have objects but no row in events."""
    shown = ", ".join(str(tuple(int(k[i]) for k in unique_keys)) for i in unlisted[:limit])
    count = f"{len(unlisted)} event{'s' if len(unlisted) > 1 else ''} in all"
    unknown = (
        f", and their {_describe(event_value_names)} would be unknown" if event_value_names else ""
    )
    raise ValueError(
        f"An event has objects but no row in events: ({', '.join(key_names)}) = {shown}"
        f"{', ...' if len(unlisted) > limit else ''} ({count}). events lists every event (those "
        f"without objects too){unknown}. Add a row for each of these events to events, drop "
        "their objects, or pass events=None to take the events from objects alone."
    )


def _require_columns(table, frame, names):
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise ValueError(
            f"{table} has no column(s) {_describe(missing)}. Columns present: "
            f"{_describe(frame.columns, 12)}. Rename the columns or pass the names (e.g. "
            "run='Run', lumi='LumiSection', event='Event', channel='collection')."
        )


def _key_column(table, frame, name):
    values = frame[name]
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    if values.isna().any():
        position = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise ValueError(
            f"Key column {name!r} of {table} holds NaN (first at row {position}). Every row "
            "needs its run, lumisection and event numbers: drop or fill those rows."
        )
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise TypeError(
            f"Key column {name!r} of {table} must hold integers; got dtype {values.dtype}."
        )
    return _as_index_array(f"Key column {name!r} of {table}", values.to_numpy())


def _check_numeric_column(table, frame, name):
    values = frame[name]
    if len(values) == 0:
        return
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise TypeError(
            f"Column {name!r} of {table} is not numeric (dtype {values.dtype}). Properties and "
            "per-event columns must be numbers: convert it with pandas.to_numeric, or drop it "
            "(or list it under another role, e.g. channel=...)."
        )


def _per_event_values(table, name, values, event_code, n_events_total, unique_keys, key_names):
    """One value per event from rows that may repeat an event; repeats must agree."""
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values).all():
        position = int(np.flatnonzero(~np.isfinite(values))[0])
        raise ValueError(
            f"Per-event column {name!r} of {table} holds a non-finite value ({values[position]}) "
            f"at row {position}. Fill or drop it."
        )
    low = np.full(n_events_total, np.inf)
    high = np.full(n_events_total, -np.inf)
    np.minimum.at(low, event_code, values)
    np.maximum.at(high, event_code, values)
    differ = np.flatnonzero(np.isfinite(low) & (low != high))
    if differ.size:
        i = int(differ[0])
        key = ", ".join(key_names)
        raise ValueError(
            f"Rows of {table} for the same event ({key}) = "
            f"{tuple(int(k[i]) for k in unique_keys)} disagree about the per-event column "
            f"{name!r} ({low[i]} vs {high[i]}). An event has one value: fix the rows, or treat "
            "the column as an object property instead."
        )
    return np.where(np.isfinite(low), low, np.nan)


# ---------------------------------------------------------------------- awkward arrays, NanoAOD
def _import_optional(module, extra, needed_by):
    """Import ``module`` of the optional ``extra``; if absent, an ImportError saying what
    needs it and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"{needed_by} {module!r}, part of the {extra!r} extra: "
            f"pip install 'channeldecomp[{extra}]'."
        ) from error


def _import_hep(module):
    return _import_optional(module, "hep", "This reader needs")


def _collection_fields(ak, channel, collection):
    """``{property: jagged array}`` from a record array or a dict of jagged arrays."""
    if isinstance(collection, Mapping):
        return {name: ak.Array(values) for name, values in collection.items()}
    collection = ak.Array(collection)
    fields = ak.fields(collection)
    if not fields:
        raise TypeError(
            f"Collection {channel!r} must be a jagged array of records with fields such as "
            "'pt', 'eta', 'phi' (e.g. built with ak.zip), or a dict {property: jagged array}."
        )
    return {name: collection[name] for name in fields}


def lumisections_from_awkward(
    run, lumi, event, collections, *, event_columns=None, properties=None
):
    """Implementation of :meth:`LumiSections.from_awkward`."""
    ak = _import_hep("awkward")
    run = np.asarray(ak.to_numpy(ak.Array(run)) if not isinstance(run, np.ndarray) else run)
    lumi = np.asarray(ak.to_numpy(ak.Array(lumi)) if not isinstance(lumi, np.ndarray) else lumi)
    event = np.asarray(ak.to_numpy(ak.Array(event)) if not isinstance(event, np.ndarray) else event)
    n_events_total = len(run)
    for name, values in (("lumi", lumi), ("event", event)):
        if len(values) != n_events_total:
            raise ValueError(f"{name} has {len(values)} entries but run has {n_events_total}.")
    if not isinstance(collections, Mapping):
        raise TypeError(
            "collections must be a dict {channel: jagged awkward array}; got "
            f"{type(collections).__name__}."
        )
    for name, values in (("run", run), ("lumi", lumi), ("event", event)):
        if not np.issubdtype(values.dtype, np.integer):
            raise TypeError(f"{name} must hold integers; got dtype {values.dtype}.")

    # Events in (run, lumi, event) order; LS are then contiguous.
    order = np.lexsort((event, lumi, run))
    run, lumi, event = run[order], lumi[order], event[order]
    new_ls = np.ones(n_events_total, dtype=bool)
    if n_events_total:
        new_ls[1:] = (run[1:] != run[:-1]) | (lumi[1:] != lumi[:-1])
    first = np.flatnonzero(new_ls)
    n_events = np.diff(np.append(first, n_events_total))

    objects = {}
    for channel, collection in collections.items():
        fields = _collection_fields(ak, channel, collection)
        wanted = properties.get(channel) if isinstance(properties, Mapping) else properties
        if wanted is not None:
            unknown = [p for p in wanted if p not in fields]
            if unknown:
                raise ValueError(
                    f"Channel {channel!r} has no field(s) {_describe(unknown)}; it has "
                    f"{_describe(fields)}."
                )
            fields = {p: fields[p] for p in dict.fromkeys(["pt", *wanted]) if p in fields}
        counts = None
        flat = {}
        for name, values in fields.items():
            if values.ndim != 2 or len(values) != n_events_total:
                raise ValueError(
                    f"Field {name!r} of channel {channel!r} must be a jagged array with one "
                    f"list per event ({n_events_total} events); got type {values.type}."
                )
            field_counts = np.asarray(ak.to_numpy(ak.num(values, axis=1)), dtype=np.int64)
            if counts is None:
                counts = field_counts
            elif not np.array_equal(counts, field_counts):
                raise ValueError(
                    f"The fields of channel {channel!r} disagree on the number of objects per "
                    f"event (e.g. {name!r}); give every property one value per object."
                )
            flat[name] = np.asarray(ak.to_numpy(ak.flatten(values, axis=1)))
        if counts is None:
            raise ValueError(f"Channel {channel!r} has no fields.")
        offsets = np.zeros(n_events_total + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        take = _ranges(offsets[:-1][order], counts[order])
        objects[channel] = (counts[order], {name: v[take] for name, v in flat.items()})

    columns = None
    if event_columns is not None:
        columns = {}
        for name, values in event_columns.items():
            values = values if isinstance(values, np.ndarray) else ak.to_numpy(ak.Array(values))
            values = np.asarray(values)
            if len(values) != n_events_total:
                raise ValueError(
                    f"Event column {name!r} has {len(values)} entries; expected {n_events_total}."
                )
            columns[name] = values[order]
    return LumiSections.from_arrays(
        run[first], lumi[first], n_events, objects, event_columns=columns, event_ids=event
    )


def read_nanoaod(
    files,
    collections,
    *,
    properties=None,
    event_columns=None,
    tree="Events",
    run="run",
    lumi="luminosityBlock",
    event="event",
    step_size="200 MB",
):
    """Read CMS NanoAOD-style ROOT files into LumiSections.

    Requires the ``hep`` extra (``uproot`` and ``awkward``). Files are read in chunks of
    ``step_size``; a lumisection spread over several chunks or files is merged (an event present
    twice is an error).

    Parameters
    ----------
    files : str, path or list of them
        ROOT files; wildcards are expanded (e.g. ``"data/*.root"``, files in sorted order).
    collections : dict of str to str, or list of str
        ``{channel name: NanoAOD collection}``, e.g. ``{"muons": "Muon", "jets": "Jet"}``: the
        branches ``Muon_pt``, ``Muon_eta``, ... are read for channel ``"muons"``. A list uses
        the collection names as channel names.
    properties : list of str or dict of str to list of str, default=None
        Object properties to read, for every channel or per channel. Default: those of
        ``pt``, ``eta``, ``phi``, ``mass`` present in the file (``pt`` is required).
    event_columns : dict of str to str, or list of str, default=None
        Per-event scalar branches, ``{column name: branch}`` or a list of branch names.
    tree : str, default="Events"
        Name of the TTree.
    run, lumi, event : str
        Branch names of the keys (NanoAOD: ``run``, ``luminosityBlock``, ``event``).
    step_size : str or int, default="200 MB"
        Chunk size passed to ``uproot.iterate``: bounds the memory used while reading.

    Returns
    -------
    LumiSections
        LS in ascending ``(run, lumi)`` order; inside an LS, events in the order of the chunks
        (files) that hold them, and by event number within a chunk.

    Raises
    ------
    ValueError
        For missing branches (the message lists what the file has).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, awkward as ak, uproot
    >>> path = os.path.join(tempfile.mkdtemp(), "nano.root")
    >>> muons = ak.zip({"pt": [[20.0], []], "eta": [[0.5], []]})
    >>> with uproot.recreate(path) as f:  # NanoAOD naming: nMuon, Muon_pt, Muon_eta
    ...     tree = f.mktree(
    ...         "Events",
    ...         {"run": "int32", "luminosityBlock": "int32", "event": "int64", "Muon": muons.type},
    ...         field_name=lambda outer, inner: f"{outer}_{inner}",
    ...         counter_name=lambda counted: f"n{counted}",
    ...     )
    ...     tree.extend({"run": np.array([1, 1]), "luminosityBlock": np.array([3, 3]),
    ...                  "event": np.array([10, 11]), "Muon": muons})
    >>> ls = read_nanoaod(path, {"muons": "Muon"})
    >>> ls.keys.tolist(), ls.n_events.tolist(), ls.properties("muons")
    ([(1, 3)], [2], ['pt', 'eta'])
    """
    uproot = _import_hep("uproot")
    collections, event_columns = _normalise_names(collections, event_columns)
    paths = _expand_files(files)
    sources = [{path: tree} for path in paths]

    first_file = uproot.open(sources[0])
    branches, channel_branches = _nanoaod_branches(
        first_file.keys(),
        collections,
        properties,
        event_columns,
        (run, lumi, event),
        f"The tree {tree!r}",
    )

    parts = []
    for chunk in uproot.iterate(sources, branches, step_size=step_size, library="ak"):
        objects = {
            channel: {p: chunk[branch] for p, branch in names.items()}
            for channel, names in channel_branches.items()
        }
        columns = {name: chunk[branch] for name, branch in event_columns.items()}
        parts.append(
            LumiSections.from_awkward(
                chunk[run],
                chunk[lumi],
                chunk[event],
                objects,
                event_columns=columns or None,
            )
        )
    if not parts:
        raise ValueError(f"No events found in {_describe(paths)}.")
    lumisections = parts[0] if len(parts) == 1 else LumiSections.concat(parts)
    return lumisections[np.lexsort((lumisections.lumi, lumisections.run))]


def _normalise_names(collections, event_columns):
    """``collections`` and ``event_columns`` as dicts ``{name: NanoAOD name}``."""
    if isinstance(collections, str):
        collections = [collections]
    if not isinstance(collections, Mapping):
        collections = {name: name for name in collections}
    if event_columns is None:
        event_columns = {}
    elif isinstance(event_columns, str):
        event_columns = {event_columns: event_columns}
    elif not isinstance(event_columns, Mapping):
        event_columns = {name: name for name in event_columns}
    return dict(collections), dict(event_columns)


def _expand_files(files):
    """The paths or URLs of ``files`` (one or a list; local wildcards expanded, sorted)."""
    if isinstance(files, (str, bytes, os.PathLike)) or not hasattr(files, "__iter__"):
        files = [files]
    paths = []
    for name in files:
        name = os.fspath(name)
        name = name.decode() if isinstance(name, bytes) else name
        if glob.has_magic(name) and "://" not in name:
            matches = sorted(glob.glob(name))
            if not matches:
                raise ValueError(f"No file matches {name!r}.")
            paths.extend(matches)
        else:
            paths.append(name)
    if not paths:
        raise ValueError("files is empty: give at least one ROOT file.")
    return paths


def _nanoaod_branches(available, collections, properties, event_columns, keys, where):
    """The branches to read: all of them (keys first) and ``{channel: {property: branch}}``.

    ``available`` are the branch names of a file; a missing branch is a ValueError that starts
    with ``where`` and lists what the file has.
    """
    available = set(available)
    keys_needed = [*keys, *event_columns.values()]
    missing = [b for b in keys_needed if b not in available]
    branches = list(dict.fromkeys(keys_needed))
    channel_branches = {}
    for channel, prefix in collections.items():
        wanted = properties.get(channel) if isinstance(properties, Mapping) else properties
        if wanted is None:
            wanted = [p for p in _DEFAULT_PROPERTIES if f"{prefix}_{p}" in available] or ["pt"]
        wanted = list(dict.fromkeys(["pt", *wanted]))
        names = {p: f"{prefix}_{p}" for p in wanted}
        missing += [b for b in names.values() if b not in available]
        channel_branches[channel] = names
        branches += list(names.values())
    if missing:
        raise ValueError(
            f"{where} has no branch(es) {_describe(missing)}. It has "
            f"{_describe(sorted(available), 20)}. Check the collection and property names."
        )
    return branches, channel_branches
