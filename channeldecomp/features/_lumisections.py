"""Per-lumisection event data, stored column by column.

A :class:`LumiSections` holds, for each lumisection (LS), its ``(run, lumi)`` key, its events
(event numbers and optional per-event scalars such as the instantaneous luminosity) and, per
event and per channel, a jagged collection of physics objects with numeric properties. Inside,
everything is flat numpy arrays plus offsets: there is never a Python object per event or per
physics object, so a million events index, split and concatenate in milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .._validation import _describe
from ._rows import LumisectionRowsMixin, lumisection_rows

__all__ = ["LumiSections"]

_SEPARATOR = "__"


def _ranges(starts, lengths):
    """Concatenation of ``arange(s, s + n)`` for every ``(s, n)``, without a Python loop."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    shift = np.asarray(starts, dtype=np.int64) - (ends - lengths)
    return np.repeat(shift, lengths) + np.arange(total, dtype=np.int64)


def _offsets(counts):
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def _as_index_array(name, values, *, length=None, allow_negative=True):
    """Validate an array of integers (keys, counts, event numbers) and return it as int64."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got an array of shape {array.shape}.")
    if length is not None and len(array) != length:
        raise ValueError(f"{name} has {len(array)} entries; expected {length}.")
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        if array.dtype == object and len(array) == 0:
            array = array.astype(np.int64)
        else:
            raise TypeError(f"{name} must hold integers; got dtype {array.dtype}.")
    if np.issubdtype(array.dtype, np.floating):
        if np.isnan(array).any():
            position = int(np.flatnonzero(np.isnan(array))[0])
            raise ValueError(
                f"{name} holds NaN (first at position {position}); every key and count must be "
                "a whole number. Drop or fill those rows first."
            )
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise ValueError(f"{name} must hold whole numbers; got non-integral values.")
    array = array.astype(np.int64, copy=False)
    if not allow_negative and array.size and array.min() < 0:
        raise ValueError(f"{name} must not be negative; got {int(array.min())}.")
    return array


def _as_value_array(name, values, length):
    """Validate a per-event or per-object numeric column and return it as float64."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got an array of shape {array.shape}.")
    if not np.issubdtype(array.dtype, np.number) or array.dtype == bool:
        raise TypeError(
            f"{name} must be numeric; got dtype {array.dtype}. Convert it (e.g. with "
            "pandas.to_numeric) or leave it out."
        )
    if len(array) != length:
        raise ValueError(f"{name} has {len(array)} entries; expected {length}.")
    array = array.astype(np.float64, copy=False)
    finite = np.isfinite(array)
    if not finite.all():
        position = int(np.flatnonzero(~finite)[0])
        raise ValueError(
            f"{name} holds a non-finite value ({array[position]}) at position {position}. "
            "Drop those entries or fill them before building LumiSections."
        )
    return array


def _check_name(kind, name):
    if not isinstance(name, str) or not name:
        raise TypeError(f"{kind} names must be non-empty strings; got {name!r}.")
    if kind == "Channel" and _SEPARATOR in name:
        raise ValueError(
            f"Channel name {name!r} contains '__', which separates the channel from the rest of "
            "a feature name. Rename the channel."
        )


def _sorted_group_codes(*columns):
    """Group rows by equal key tuples.

    Returns ``order`` (rows sorted by key, stable), ``codes`` (group number of each row, groups
    numbered in sorted key order) and ``first`` (position in ``order`` where each group starts).
    """
    order = np.lexsort(columns[::-1])
    n = len(order)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return order, empty, empty
    new_group = np.zeros(n, dtype=bool)
    new_group[0] = True
    for column in columns:
        sorted_column = column[order]
        new_group[1:] |= sorted_column[1:] != sorted_column[:-1]
    group_of_sorted = np.cumsum(new_group) - 1
    codes = np.empty(n, dtype=np.int64)
    codes[order] = group_of_sorted
    return order, codes, np.flatnonzero(new_group)


class LumiSections(LumisectionRowsMixin):
    """Per-lumisection event data: keys, events and jagged physics-object collections.

    One item is one lumisection (LS). ``len()`` is the number of LS, and indexing by an integer,
    an integer array, a boolean mask or a slice returns a new ``LumiSections`` holding those LS,
    so scikit-learn's ``train_test_split``, ``cross_val_score`` and ``GridSearchCV`` split it like
    an array of samples (repeated indices, as in a bootstrap, repeat LS). Inside, the data are
    flat numpy arrays plus offsets (events stored LS by LS, objects stored event by event).

    Build it with :meth:`from_arrays` (columnar, fastest), :meth:`from_objects` (a long pandas
    table, one row per object) or :meth:`from_awkward` / :func:`channeldecomp.features.read_nanoaod`
    (the ``hep`` extra), combine several with :meth:`concat` and go back to tables with
    :meth:`to_objects` and :meth:`to_events`. The constructor itself is internal.

    Attributes
    ----------
    run, lumi : ndarray of int64, shape (n_lumisections,)
        Run and lumisection numbers.
    keys : pandas.MultiIndex
        The ``(run, lumi)`` of each LS, levels named ``"run"`` and ``"lumi"``.
    n_events : ndarray of int64, shape (n_lumisections,)
        Events per LS.
    channels : list of str
        Channel (object collection) names.
    event_columns : list of str
        Names of the per-event scalar columns.
    n_events_total : int
        Number of events in all LS.

    See Also
    --------
    LumiSectionPercentiles : one row of features per LS.

    Examples
    --------
    >>> import numpy as np
    >>> from channeldecomp import LumiSections
    >>> ls = LumiSections.from_arrays(
    ...     run=[1, 1], lumi=[7, 8], n_events=[2, 1],
    ...     objects={"muons": ([1, 0, 2], {"pt": [20.0, 5.0, 9.0]})},
    ...     event_columns={"luminosity": [1.0, 1.0, 2.0]},
    ... )
    >>> len(ls), ls.n_events_total, ls.channels
    (2, 3, ['muons'])
    >>> ls[[1]].keys.tolist()
    [(1, 8)]
    >>> ls.to_objects()
       run  lumi  event channel    pt
    0    1     7      0   muons  20.0
    1    1     8      0   muons   5.0
    2    1     8      0   muons   9.0
    """

    def __init__(self, run, lumi, event_offsets, event_ids, event_columns, objects):
        # Internal: arrays are taken as validated. Use the from_* constructors.
        self._run = run
        self._lumi = lumi
        self._event_offsets = event_offsets
        self._event_ids = event_ids
        self._event_columns = event_columns
        # channel -> (object offsets per event (n_events_total + 1,), {property: values})
        self._objects = objects

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_arrays(cls, run, lumi, n_events, objects, *, event_columns=None, event_ids=None):
        """Build LumiSections from flat columnar arrays (the fast constructor).

        Parameters
        ----------
        run, lumi : array-like of int, shape (n_lumisections,)
            One ``(run, lumi)`` pair per LS; pairs must be unique.
        n_events : array-like of int, shape (n_lumisections,)
            Events per LS. Events are stored LS by LS in this order.
        objects : dict of str to (n_objects, properties)
            Per channel: ``n_objects``, array-like of int of shape (n_events_total,), the objects
            of each event; ``properties``, a dict ``{property name: float array of shape
            (n_objects_total,)}`` with the objects stored event by event in event order. Every
            channel needs ``"pt"`` (non-negative; ``pt == 0`` marks an absent object).
        event_columns : dict of str to array-like of float, default=None
            Per-event scalars of shape (n_events_total,), e.g. ``"luminosity"``.
        event_ids : array-like of int, shape (n_events_total,), default=None
            Event numbers, unique within each LS. Default: ``0 .. n - 1`` within each LS.

        Returns
        -------
        LumiSections

        Raises
        ------
        ValueError
            For mismatched lengths, duplicate keys, negative counts or pt, non-finite values.
        TypeError
            For non-numeric arrays or badly shaped ``objects``.

        Examples
        --------
        >>> ls = LumiSections.from_arrays(
        ...     run=[1], lumi=[1], n_events=[3],
        ...     objects={"jets": ([2, 0, 1], {"pt": [30.0, 10.0, 12.0], "eta": [0.1, -1, 2]})},
        ... )
        >>> ls.n_events.tolist(), ls.properties("jets")
        ([3], ['pt', 'eta'])
        """
        run = _as_index_array("run", run)
        lumi = _as_index_array("lumi", lumi, length=len(run))
        n_lumisections = len(run)
        n_events = _as_index_array(
            "n_events", n_events, length=n_lumisections, allow_negative=False
        )
        _check_unique_keys(run, lumi)
        event_offsets = _offsets(n_events)
        n_events_total = int(event_offsets[-1])

        if event_ids is None:
            event_ids = np.arange(n_events_total, dtype=np.int64) - np.repeat(
                event_offsets[:-1], n_events
            )
        else:
            event_ids = _as_index_array("event_ids", event_ids, length=n_events_total)
            _check_unique_events(event_offsets, event_ids, run, lumi)

        columns = {}
        if event_columns is not None:
            if not isinstance(event_columns, Mapping):
                raise TypeError(
                    "event_columns must be a dict {name: array of one value per event}; got "
                    f"{type(event_columns).__name__}."
                )
            for name, values in event_columns.items():
                _check_name("Event column", name)
                columns[name] = _as_value_array(f"Event column {name!r}", values, n_events_total)

        if not isinstance(objects, Mapping):
            raise TypeError(
                "objects must be a dict {channel: (n_objects, {property: values})}; got "
                f"{type(objects).__name__}."
            )
        collections = {}
        for channel, spec in objects.items():
            _check_name("Channel", channel)
            if not isinstance(spec, Sequence) or isinstance(spec, str) or len(spec) != 2:
                raise TypeError(
                    f"objects[{channel!r}] must be a pair (n_objects, {{property: values}}); got "
                    f"{type(spec).__name__}."
                )
            n_objects, properties = spec
            n_objects = _as_index_array(
                f"n_objects of channel {channel!r}",
                n_objects,
                length=n_events_total,
                allow_negative=False,
            )
            collections[channel] = _validated_collection(channel, _offsets(n_objects), properties)
        return cls(run, lumi, event_offsets, event_ids, columns, collections)

    @classmethod
    def from_objects(
        cls,
        objects,
        events=None,
        *,
        run="run",
        lumi="lumi",
        event="event",
        channel="channel",
        event_columns=None,
    ):
        """Build LumiSections from a long table with one row per physics object.

        Parameters
        ----------
        objects : pandas.DataFrame
            One row per object: the key columns ``run``, ``lumi``, ``event``, the ``channel``
            name, and numeric property columns (``pt`` is required; ``eta``, ``phi``,
            ``mass``, ...). A channel's properties are the columns with a value in its rows (a
            column that is NaN in every row of a channel is not a property of that channel; one
            that is NaN in only some rows is an error). Rows may come in any order; within an
            event, objects are stored by decreasing pt.
        events : pandas.DataFrame, default=None
            One row per event: the key columns and numeric per-event scalar columns (e.g.
            ``luminosity``). It lists every event: those listed here count even when they have
            no object, and an event with objects but no row here is an error. Repeated rows of
            one event (e.g. from several files) are merged when they agree. Default: the events
            are those of the object rows.
        run, lumi, event, channel : str
            Names of the key columns and of the channel column.
        event_columns : list of str, default=None
            Columns of ``objects`` that are per-event scalars repeated on each object row
            (rather than object properties). Rows of one event must agree on them.

        Returns
        -------
        LumiSections
            LS in ascending ``(run, lumi)`` order, events in ascending event number.

        Raises
        ------
        ValueError
            For missing columns, NaN keys, NaN properties, rows of one event disagreeing about a
            per-event column, and events with objects but no row in ``events`` (whether or not
            ``events`` has per-event columns; the message lists the first few keys).
        TypeError
            For non-numeric property or event columns.

        Examples
        --------
        >>> import pandas as pd
        >>> objects = pd.DataFrame({
        ...     "run": [1, 1, 1], "lumi": [5, 5, 6], "event": [10, 10, 3],
        ...     "channel": ["muons", "muons", "jets"], "pt": [3.0, 40.0, 25.0],
        ... })
        >>> events = pd.DataFrame({"run": [1, 1, 1], "lumi": [5, 5, 6], "event": [10, 11, 3],
        ...                        "luminosity": [0.5, 0.5, 0.7]})
        >>> ls = LumiSections.from_objects(objects, events)
        >>> ls.keys.tolist(), ls.n_events.tolist(), ls.channels
        ([(1, 5), (1, 6)], [2, 1], ['jets', 'muons'])
        """
        # The readers (features/_readers.py) build on from_arrays and import this module;
        # importing them at call time keeps the module graph one-way.
        from ._readers import lumisections_from_objects

        return lumisections_from_objects(
            objects,
            events,
            run=run,
            lumi=lumi,
            event=event,
            channel=channel,
            event_columns=event_columns,
        )

    @classmethod
    def from_awkward(cls, run, lumi, event, collections, *, event_columns=None, properties=None):
        """Build LumiSections from awkward arrays (one entry per event), e.g. NanoAOD branches.

        Requires the ``hep`` extra (``awkward``).

        Parameters
        ----------
        run, lumi, event : array-like of int, shape (n_events,)
            Keys of each event, in any order.
        collections : dict of str to awkward.Array
            Per channel, a jagged array of records (one list of objects per event), e.g.
            ``{"muons": ak.zip({"pt": Muon_pt, "eta": Muon_eta, "phi": Muon_phi})}``, or a dict
            ``{property: jagged array}``.
        event_columns : dict of str to array-like, default=None
            Per-event scalars.
        properties : list of str or dict of str to list of str, default=None
            Properties to keep (all record fields by default), for all or per channel.

        Returns
        -------
        LumiSections
            LS in ascending ``(run, lumi)`` order, events in ascending event number.

        Examples
        --------
        >>> import awkward as ak
        >>> muons = ak.zip({"pt": [[30.0, 4.0], [], [12.0]], "eta": [[0.1, 1.2], [], [-2.0]]})
        >>> ls = LumiSections.from_awkward([1, 1, 1], [4, 4, 5], [1, 2, 3], {"muons": muons})
        >>> ls.n_events.tolist(), ls.properties("muons")
        ([2, 1], ['pt', 'eta'])
        """
        # The readers (features/_readers.py) build on from_arrays and import this module;
        # importing them at call time keeps the module graph one-way.
        from ._readers import lumisections_from_awkward

        return lumisections_from_awkward(
            run,
            lumi,
            event,
            collections,
            event_columns=event_columns,
            properties=properties,
        )

    @classmethod
    def concat(cls, lumisections):
        """Concatenate several LumiSections; an LS present in several parts is merged.

        The result keeps the LS in order of first appearance; a merged LS holds the events of
        each part in part order. Parts must agree on each channel's properties and on the
        per-event columns; a channel missing from a part has no objects in that part's events.

        Parameters
        ----------
        lumisections : iterable of LumiSections

        Returns
        -------
        LumiSections

        Raises
        ------
        ValueError
            When the parts disagree on properties or event columns, or when one event
            ``(run, lumi, event)`` appears in two parts.

        Examples
        --------
        >>> a = LumiSections.from_arrays([1], [1], [1], {"muons": ([1], {"pt": [5.0]})})
        >>> b = LumiSections.from_arrays([1, 1], [2, 1], [1, 1], {"muons": ([0, 1], {"pt": [7.0]})},
        ...                              event_ids=[0, 1])
        >>> both = LumiSections.concat([a, b])
        >>> both.keys.tolist(), both.n_events.tolist()
        ([(1, 1), (1, 2)], [2, 1])
        """
        parts = list(lumisections)
        if not parts:
            raise ValueError("concat needs at least one LumiSections.")
        for part in parts:
            if not isinstance(part, LumiSections):
                raise TypeError(f"concat takes LumiSections objects; got {type(part).__name__}.")
        first = parts[0]
        event_column_names = list(first._event_columns)
        for i, part in enumerate(parts[1:], start=1):
            if set(part._event_columns) != set(event_column_names):
                raise ValueError(
                    f"Part {i} has event columns {_describe(part._event_columns)}, part 0 has "
                    f"{_describe(event_column_names)}. Give every part the same event columns."
                )
        channel_props = {}
        for i, part in enumerate(parts):
            for channel, (_, props) in part._objects.items():
                if channel not in channel_props:
                    channel_props[channel] = (i, list(props))
                elif set(props) != set(channel_props[channel][1]):
                    j, known = channel_props[channel]
                    raise ValueError(
                        f"Channel {channel!r} has properties {_describe(props)} in part {i} but "
                        f"{_describe(known)} in part {j}. Give every part the same properties."
                    )

        run = np.concatenate([p._run for p in parts])
        lumi = np.concatenate([p._lumi for p in parts])
        # Merged LS in order of first appearance.
        order, codes, first_pos = _sorted_group_codes(run, lumi)
        first_row = order[first_pos]
        rank = np.empty(len(first_row), dtype=np.int64)
        rank[np.argsort(first_row, kind="stable")] = np.arange(len(first_row))
        merged_ls = rank[codes]  # merged LS number of every input LS
        n_merged = len(first_row)
        merged_order = np.argsort(first_row, kind="stable")
        new_run = run[first_row[merged_order]]
        new_lumi = lumi[first_row[merged_order]]

        # Events of all parts, stably regrouped by merged LS.
        ls_of_event = np.concatenate([np.repeat(np.arange(len(p)), p.n_events) for p in parts])
        ls_shift = np.cumsum([0] + [len(p) for p in parts[:-1]])
        part_of_event = np.concatenate(
            [np.full(p.n_events_total, i, dtype=np.int64) for i, p in enumerate(parts)]
        )
        merged_of_event = merged_ls[ls_of_event + ls_shift[part_of_event]]
        event_order = np.argsort(merged_of_event, kind="stable")
        n_events = np.bincount(merged_of_event, minlength=n_merged)
        event_offsets = _offsets(n_events)
        event_ids = np.concatenate([p._event_ids for p in parts])[event_order]
        _check_unique_events(event_offsets, event_ids, new_run, new_lumi, where="concat")
        columns = {
            name: np.concatenate([p._event_columns[name] for p in parts])[event_order]
            for name in event_column_names
        }

        collections = {}
        for channel, (_, prop_names) in channel_props.items():
            counts = []
            values = {name: [] for name in prop_names}
            for part in parts:
                if channel in part._objects:
                    offsets, props = part._objects[channel]
                    counts.append(np.diff(offsets))
                    for name in prop_names:
                        values[name].append(props[name])
                else:
                    counts.append(np.zeros(part.n_events_total, dtype=np.int64))
            counts = np.concatenate(counts)
            old_offsets = _offsets(counts)
            take = _ranges(old_offsets[:-1][event_order], counts[event_order])
            collections[channel] = (
                _offsets(counts[event_order]),
                {name: np.concatenate(values[name])[take] for name in prop_names},
            )
        return cls(new_run, new_lumi, event_offsets, event_ids, columns, collections)

    # ------------------------------------------------------------------ array-like behaviour
    def __getitem__(self, key):
        rows = lumisection_rows(key, len(self), "LumiSections")
        if isinstance(rows, slice):
            if rows.step == 1:
                return self._take_contiguous(rows.start, max(rows.start, rows.stop))
            return self._take(np.arange(rows.start, rows.stop, rows.step, dtype=np.int64))
        return self._take(rows)

    def _take_contiguous(self, start, stop):
        """LS ``start:stop`` as views of the arrays (no copy of the values)."""
        ev_start, ev_stop = self._event_offsets[start], self._event_offsets[stop]
        event_offsets = self._event_offsets[start : stop + 1] - ev_start
        collections = {}
        for channel, (offsets, props) in self._objects.items():
            ob_start, ob_stop = offsets[ev_start], offsets[ev_stop]
            collections[channel] = (
                offsets[ev_start : ev_stop + 1] - ob_start,
                {name: values[ob_start:ob_stop] for name, values in props.items()},
            )
        return type(self)(
            self._run[start:stop],
            self._lumi[start:stop],
            event_offsets,
            self._event_ids[ev_start:ev_stop],
            {name: values[ev_start:ev_stop] for name, values in self._event_columns.items()},
            collections,
        )

    def _take(self, indices):
        n_events = self.n_events[indices]
        events = _ranges(self._event_offsets[:-1][indices], n_events)
        collections = {}
        for channel, (offsets, props) in self._objects.items():
            counts = np.diff(offsets)[events]
            objects = _ranges(offsets[:-1][events], counts)
            collections[channel] = (
                _offsets(counts),
                {name: values[objects] for name, values in props.items()},
            )
        return type(self)(
            self._run[indices],
            self._lumi[indices],
            _offsets(n_events),
            self._event_ids[events],
            {name: values[events] for name, values in self._event_columns.items()},
            collections,
        )

    # ------------------------------------------------------------------ accessors
    @property
    def n_events(self):
        return np.diff(self._event_offsets)

    @property
    def n_events_total(self):
        return int(self._event_offsets[-1])

    @property
    def channels(self):
        return list(self._objects)

    @property
    def event_columns(self):
        return list(self._event_columns)

    def properties(self, channel):
        """Property names of one channel's objects.

        Parameters
        ----------
        channel : str

        Returns
        -------
        list of str

        Examples
        --------
        >>> ls = LumiSections.from_arrays([1], [1], [1], {"muons": ([1], {"pt": [5.0]})})
        >>> ls.properties("muons")
        ['pt']
        """
        return list(self._channel(channel)[1])

    def event_offsets(self):
        """Start of each LS's events in the flat event arrays, shape (n_lumisections + 1,).

        Examples
        --------
        >>> LumiSections.from_arrays([1, 1], [1, 2], [2, 3], {}).event_offsets().tolist()
        [0, 2, 5]
        """
        return self._event_offsets.copy()

    def event_ids(self):
        """Event numbers, stored LS by LS, shape (n_events_total,).

        Examples
        --------
        >>> LumiSections.from_arrays([1], [1], [2], {}).event_ids().tolist()
        [0, 1]
        """
        return self._event_ids.copy()

    def event_column(self, name):
        """Values of one per-event scalar column, stored LS by LS, shape (n_events_total,).

        Examples
        --------
        >>> ls = LumiSections.from_arrays([1], [1], [2], {}, event_columns={"lumi_inst": [1, 2]})
        >>> ls.event_column("lumi_inst").tolist()
        [1.0, 2.0]
        """
        if name not in self._event_columns:
            raise KeyError(
                f"No event column {name!r}; available: {_describe(self._event_columns)}."
            )
        return self._event_columns[name].copy()

    def object_counts(self, channel):
        """Objects of one channel in each event, shape (n_events_total,).

        Examples
        --------
        >>> ls = LumiSections.from_arrays([1], [1], [2], {"muons": ([0, 2], {"pt": [1.0, 2.0]})})
        >>> ls.object_counts("muons").tolist()
        [0, 2]
        """
        return np.diff(self._channel(channel)[0])

    def object_values(self, channel, prop):
        """Values of one property of one channel's objects, stored event by event.

        Examples
        --------
        >>> ls = LumiSections.from_arrays([1], [1], [2], {"muons": ([0, 2], {"pt": [1.0, 2.0]})})
        >>> ls.object_values("muons", "pt").tolist()
        [1.0, 2.0]
        """
        props = self._channel(channel)[1]
        if prop not in props:
            raise KeyError(
                f"Channel {channel!r} has no property {prop!r}; available: {_describe(props)}."
            )
        return props[prop].copy()

    def _channel(self, channel):
        if channel not in self._objects:
            raise KeyError(f"No channel {channel!r}; available: {_describe(self._objects)}.")
        return self._objects[channel]

    # ------------------------------------------------------------------ back to tables
    def to_events(self):
        """One row per event: ``run``, ``lumi``, ``event`` and the per-event columns.

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> ls = LumiSections.from_arrays([3], [9], [2], {}, event_columns={"luminosity": [1, 2]})
        >>> ls.to_events()
           run  lumi  event  luminosity
        0    3     9      0         1.0
        1    3     9      1         2.0
        """
        n_events = self.n_events
        frame = {
            "run": np.repeat(self._run, n_events),
            "lumi": np.repeat(self._lumi, n_events),
            "event": self._event_ids,
        }
        frame.update(self._event_columns)
        return pd.DataFrame(frame)

    def to_objects(self):
        """One row per object: ``run``, ``lumi``, ``event``, ``channel`` and the properties.

        Properties a channel does not have are NaN in its rows. Rows follow the storage order
        (LS, then event, then channel, then object). ``from_objects(ls.to_objects(),
        ls.to_events())`` rebuilds the same lumisections (sorted by key).

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> ls = LumiSections.from_arrays([1], [2], [1], {"muons": ([1], {"pt": [5.0]})})
        >>> ls.to_objects()
           run  lumi  event channel   pt
        0    1     2      0   muons  5.0
        """
        ls_of_event = np.repeat(np.arange(len(self)), self.n_events)
        prop_names = []
        for _, props in self._objects.values():
            prop_names.extend(name for name in props if name not in prop_names)
        pieces = []
        for code, (offsets, props) in enumerate(self._objects.values()):
            counts = np.diff(offsets)
            event_of_object = np.repeat(np.arange(self.n_events_total), counts)
            piece = {
                "_event": event_of_object,
                "_channel": np.full(len(event_of_object), code),
            }
            n = len(event_of_object)
            for name in prop_names:
                piece[name] = props[name] if name in props else np.full(n, np.nan)
            pieces.append(piece)
        if pieces:
            merged = {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}
        else:
            merged = {"_event": np.zeros(0, np.int64), "_channel": np.zeros(0, np.int64)}
        order = np.lexsort((merged["_channel"], merged["_event"]))
        event_of_object = merged["_event"][order]
        frame = {
            "run": self._run[ls_of_event][event_of_object],
            "lumi": self._lumi[ls_of_event][event_of_object],
            "event": self._event_ids[event_of_object],
            "channel": np.asarray(self.channels, dtype=object)[merged["_channel"][order]],
        }
        for name in prop_names:
            frame[name] = merged[name][order]
        return pd.DataFrame(frame)

    # ------------------------------------------------------------------ comparison, display
    def equals(self, other):
        """Whether two LumiSections hold the same keys, events, columns and objects.

        Examples
        --------
        >>> ls = LumiSections.from_arrays([1], [1], [1], {"muons": ([1], {"pt": [5.0]})})
        >>> ls.equals(ls[:]), ls.equals(ls[[]])
        (True, False)
        """
        if not isinstance(other, LumiSections):
            return False
        same = (
            np.array_equal(self._run, other._run)
            and np.array_equal(self._lumi, other._lumi)
            and np.array_equal(self._event_offsets, other._event_offsets)
            and np.array_equal(self._event_ids, other._event_ids)
            and list(self._event_columns) == list(other._event_columns)
            and list(self._objects) == list(other._objects)
        )
        if not same:
            return False
        for name, values in self._event_columns.items():
            if not np.array_equal(values, other._event_columns[name]):
                return False
        for channel, (offsets, props) in self._objects.items():
            other_offsets, other_props = other._objects[channel]
            if not np.array_equal(offsets, other_offsets) or list(props) != list(other_props):
                return False
            for name, values in props.items():
                if not np.array_equal(values, other_props[name]):
                    return False
        return True

    def __repr__(self):
        channels = ", ".join(
            f"{c}: {int(offsets[-1])} objects" for c, (offsets, _) in self._objects.items()
        )
        return (
            f"LumiSections({len(self)} lumisections, {self.n_events_total} events"
            + (f"; {channels}" if channels else "")
            + ")"
        )


# ---------------------------------------------------------------------- validation helpers
def _check_unique_keys(run, lumi):
    if len(run) < 2:
        return
    order = np.lexsort((lumi, run))
    same = (run[order][1:] == run[order][:-1]) & (lumi[order][1:] == lumi[order][:-1])
    if same.any():
        i = order[int(np.flatnonzero(same)[0])]
        raise ValueError(
            f"The (run, lumi) pair ({int(run[i])}, {int(lumi[i])}) appears more than once. Each "
            "lumisection must appear once: merge its events, or build the parts separately and "
            "use LumiSections.concat, which merges them."
        )


def _check_unique_events(event_offsets, event_ids, run, lumi, where="event_ids"):
    n_ls = len(event_offsets) - 1
    ls_of_event = np.repeat(np.arange(n_ls), np.diff(event_offsets))
    order = np.lexsort((event_ids, ls_of_event))
    sorted_ls = ls_of_event[order]
    sorted_ids = event_ids[order]
    same = (sorted_ls[1:] == sorted_ls[:-1]) & (sorted_ids[1:] == sorted_ids[:-1])
    if same.any():
        i = int(np.flatnonzero(same)[0])
        ls = sorted_ls[i]
        hint = (
            "Each event must appear once per lumisection: pass distinct event_ids."
            if where == "event_ids"
            else "The same event is in two parts; drop the duplicate, or give the parts "
            "distinct event_ids when building them."
        )
        raise ValueError(
            f"Event {int(sorted_ids[i])} appears twice in lumisection (run, lumi) = "
            f"({int(run[ls])}, {int(lumi[ls])}). {hint}"
        )


def _validated_collection(channel, offsets, properties):
    if not isinstance(properties, Mapping):
        raise TypeError(
            f"The properties of channel {channel!r} must be a dict {{property: values}}; got "
            f"{type(properties).__name__}."
        )
    if "pt" not in properties:
        raise ValueError(
            f"Channel {channel!r} has no 'pt' property (it has {_describe(properties)}). "
            "Every channel needs the transverse momentum of its objects."
        )
    n_objects_total = int(offsets[-1])
    props = {}
    for name, values in properties.items():
        _check_name("Property", name)
        props[name] = _as_value_array(
            f"Property {name!r} of channel {channel!r}", values, n_objects_total
        )
    if props["pt"].size and props["pt"].min() < 0:
        raise ValueError(
            f"Channel {channel!r} has a negative pt ({props['pt'].min()}). pt must be >= 0 "
            "(pt == 0 marks an absent object)."
        )
    return offsets, props
