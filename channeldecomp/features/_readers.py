"""Readers for the ``hep`` extra: awkward arrays and CMS NanoAOD-style ROOT files.

``awkward`` and ``uproot`` are imported inside the functions, never at package import time.
"""

from __future__ import annotations

import glob
import importlib
import os
from collections.abc import Mapping

import numpy as np

from ._lumisections import LumiSections, _describe, _ranges

__all__ = ["read_nanoaod"]

_DEFAULT_PROPERTIES = ("pt", "eta", "phi", "mass")


def _import_hep(module):
    try:
        return importlib.import_module(module)
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"This reader needs {module!r}, part of the 'hep' extra: "
            "pip install 'channeldecomp[hep]'."
        ) from error


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
    cls, run, lumi, event, collections, *, event_columns=None, properties=None
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
    return cls.from_arrays(
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
    if isinstance(collections, str):
        collections = [collections]
    if not isinstance(collections, Mapping):
        collections = {name: name for name in collections}
    if event_columns is None:
        event_columns = {}
    elif not isinstance(event_columns, Mapping):
        event_columns = {name: name for name in event_columns}

    if isinstance(files, (str, bytes, os.PathLike)) or not hasattr(files, "__iter__"):
        files = [files]
    paths = []
    for name in files:
        name = os.fspath(name)
        name = name.decode() if isinstance(name, bytes) else name
        if glob.has_magic(name):
            matches = sorted(glob.glob(name))
            if not matches:
                raise ValueError(f"No file matches {name!r}.")
            paths.extend(matches)
        else:
            paths.append(name)
    if not paths:
        raise ValueError("files is empty: give at least one ROOT file.")
    sources = [{path: tree} for path in paths]

    first_file = uproot.open(sources[0])
    available = set(first_file.keys())
    keys_needed = [run, lumi, event, *event_columns.values()]
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
            f"The tree {tree!r} has no branch(es) {_describe(missing)}. It has "
            f"{_describe(sorted(available), 20)}. Check the collection and property names."
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
