"""Per-lumisection histograms of monitoring elements (MEs), stored ME by ME.

A :class:`LumiSectionHistograms` holds, for each lumisection (LS), its ``(run, lumi)`` key and,
for each monitoring element, one histogram: 1D (``x_bin`` bins between ``x_min`` and
``x_max``) or 2D (``y_bin`` rows of ``x_bin`` columns). Inside, one dense array per ME of shape
``(n_lumisections, x_bin)`` or ``(n_lumisections, y_bin, x_bin)``, the number of entries per LS
and a mask of the LS that have a row for the ME at all. An LS without a row for an ME holds a
zero histogram, zero entries and ``present = False``: never a NaN, never a shifted row.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from .._validation import _describe
from ._lumisections import _as_index_array, _check_unique_keys, _sorted_group_codes
from ._rows import LumisectionRowsMixin, lumisection_rows

__all__ = ["LumiSectionHistograms"]

_SEPARATOR = "__"
_BINNING_1D = ("x_min", "x_max", "x_bin")
_BINNING_2D = _BINNING_1D + ("y_min", "y_max", "y_bin")


class _MonitoringElement:
    """One ME: its channel, binning and per-LS contents (plain attributes: pickles as is)."""

    __slots__ = ("channel", "binning", "values", "entries", "present")

    def __init__(self, channel, binning, values, entries, present):
        self.channel = channel
        self.binning = binning  # tuple: _BINNING_1D or _BINNING_2D values
        self.values = values  # float64 (n_ls, x_bin) or (n_ls, y_bin, x_bin)
        self.entries = entries  # float64 (n_ls,)
        self.present = present  # bool (n_ls,)

    def take(self, rows):
        return _MonitoringElement(
            self.channel, self.binning, self.values[rows], self.entries[rows], self.present[rows]
        )

    @property
    def ndim(self):
        return 1 if len(self.binning) == 3 else 2


def _check_binning(me, binning):
    """The binning of ``me`` as a tuple ``(x_min, x_max, x_bin[, y_min, y_max, y_bin])``."""
    if isinstance(binning, Mapping):
        names = _BINNING_2D if binning.get("y_bin") is not None else _BINNING_1D
        missing = [n for n in names if n not in binning or binning[n] is None]
        if missing:
            raise ValueError(f"The binning of ME {me!r} has no {_describe(missing)}.")
        binning = tuple(binning[n] for n in names)
    binning = tuple(binning)
    if len(binning) not in (3, 6):
        raise ValueError(
            f"The binning of ME {me!r} must be (x_min, x_max, x_bin) or (x_min, x_max, x_bin, "
            f"y_min, y_max, y_bin); got {binning!r}."
        )
    checked = []
    for axis in range(len(binning) // 3):
        low, high, n_bins = binning[3 * axis : 3 * axis + 3]
        name = "xy"[axis]
        try:
            low, high = float(low), float(high)
        except (TypeError, ValueError):
            raise TypeError(
                f"ME {me!r}: {name}_min and {name}_max must be numbers; got {low!r}, {high!r}."
            ) from None
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise ValueError(
                f"ME {me!r}: {name}_min ({low}) must be finite and below {name}_max ({high})."
            )
        if (
            isinstance(n_bins, bool)
            or not isinstance(n_bins, numbers.Real)
            or n_bins != int(n_bins)
            or n_bins < 1
        ):
            raise ValueError(f"ME {me!r}: {name}_bin must be a positive integer; got {n_bins!r}.")
        checked += [low, high, int(n_bins)]
    return tuple(checked)


def _runs(runs):
    """The distinct run numbers of ``runs``, for error messages."""
    return _describe(np.unique(runs).tolist())


def _shape_of(binning):
    return (binning[2],) if len(binning) == 3 else (binning[5], binning[2])


def _check_contents(me, values, binning, where):
    """Contents as float64 of the binning's shape, finite and non-negative; else a ValueError."""
    shape = _shape_of(binning)
    values = np.asarray(values)
    if values.shape[1:] != shape:
        expected = f"{shape[0]} bins (x_bin)" if len(shape) == 1 else f"{shape} (y_bin, x_bin)"
        raise ValueError(
            f"ME {me!r}: the data of {where(0)} have shape {values.shape[1:]} but its binning "
            f"{binning} needs {expected}. Check x_bin / y_bin (under- and overflow bins are not "
            "part of the layout)."
        )
    if not np.issubdtype(values.dtype, np.number) or values.dtype == bool:
        raise TypeError(f"ME {me!r}: bin contents must be numeric; got dtype {values.dtype}.")
    values = values.astype(np.float64, copy=False)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        row = int(np.flatnonzero(bad.reshape(len(values), -1).any(axis=1))[0])
        value = float(values[row][bad[row]][0])
        raise ValueError(
            f"ME {me!r} has a bin content {value!r} in {where(row)}; contents must be finite and "
            "non-negative (a count). Fix or drop that row."
        )
    return values


def _channel_namer(channels):
    """A function ME name -> channel name, from the ``channels`` argument."""
    if channels is None:
        return lambda me: me.split("/", 1)[0]
    if isinstance(channels, str):
        pattern = re.compile(channels)

        def by_regex(me):
            match = pattern.search(me)
            if match is None:
                raise ValueError(
                    f"The channels regex {channels!r} does not match ME {me!r}; every ME needs a "
                    "channel. Widen the regex or pass a dict {ME: channel}."
                )
            return match.group(1) if pattern.groups else match.group(0)

        return by_regex
    if isinstance(channels, Mapping):

        def by_mapping(me):
            if me not in channels:
                raise ValueError(
                    f"ME {me!r} is not in the channels mapping (it maps "
                    f"{_describe(channels)}); every ME needs a channel."
                )
            return channels[me]

        return by_mapping
    if isinstance(channels, Callable):
        return channels
    raise TypeError(
        "channels must be None (the first component of the ME path), a regex string, a dict "
        f"{{ME: channel}} or a function; got {type(channels).__name__}."
    )


def _check_channel(me, channel):
    if not isinstance(channel, str) or not channel:
        raise TypeError(f"The channel of ME {me!r} must be a non-empty string; got {channel!r}.")
    if _SEPARATOR in channel:
        raise ValueError(
            f"The channel {channel!r} of ME {me!r} contains '__', which separates the channel "
            "from the rest of a feature name. Map the ME to another channel name."
        )
    return channel


class LumiSectionHistograms(LumisectionRowsMixin):
    """Per-lumisection histograms of monitoring elements (MEs), one dense array per ME.

    One item is one lumisection (LS). ``len()`` is the number of LS, and indexing by an integer,
    an integer array, a boolean mask or a slice returns a new ``LumiSectionHistograms`` holding
    those LS, so scikit-learn's ``train_test_split``, ``cross_val_score`` and ``GridSearchCV``
    split it like an array of samples. It pickles (``joblib.dump`` / ``joblib.load``) as is.

    Each ME is 1D (contents of shape ``(x_bin,)``) or 2D (``(y_bin, x_bin)``: ``y_bin`` rows of
    ``x_bin`` columns, as DIALS serves 2D MEs) with a fixed binning, and belongs to one
    *channel* (by default the first component of its path: ``"ECAL/Occupancy"`` is in
    ``"ECAL"``). **Missing rows:** an LS without a record for an ME holds a zero histogram,
    ``entries == 0`` and ``present(me) == False``; :class:`~channeldecomp.HistogramFeatures`
    turns that into an indicator feature ``<channel>__<me>_missing``.

    Build it with :meth:`from_table` (a long table in the DIALS layout, one row per
    ``(run, LS, ME)``), :func:`channeldecomp.features.read_dials` (Parquet, CSV or JSON files
    of that layout) or :meth:`from_arrays` (dense arrays); combine several with :meth:`concat`;
    go back to the long table with :meth:`to_table`. The constructor itself is internal.

    Attributes
    ----------
    run, lumi : ndarray of int64, shape (n_lumisections,)
        Run and lumisection numbers.
    keys : pandas.MultiIndex
        The ``(run, lumi)`` of each LS, levels named ``"run"`` and ``"lumi"``.
    mes : list of str
        ME names, in storage order.
    channels : list of str
        Channel names, in order of first appearance among the MEs.
    me_channels : dict of str to str
        The channel of each ME.

    See Also
    --------
    HistogramFeatures : one row of features per LS.
    LumiSections : the same container for per-event physics objects.

    Examples
    --------
    >>> import pandas as pd
    >>> from channeldecomp import LumiSectionHistograms
    >>> table = pd.DataFrame({
    ...     "run_number": [1, 1, 1], "ls_number": [1, 2, 1],
    ...     "me": ["DT/Occupancy", "DT/Occupancy", "ECAL/Energy"],
    ...     "x_min": 0.0, "x_max": 3.0, "x_bin": 3,
    ...     "data": [[1, 0, 2], [0, 4, 0], [5, 5, 5]],
    ... })
    >>> histograms = LumiSectionHistograms.from_table(table)
    >>> len(histograms), histograms.mes, histograms.channels
    (2, ['DT/Occupancy', 'ECAL/Energy'], ['DT', 'ECAL'])
    >>> histograms.values("ECAL/Energy").tolist(), histograms.present("ECAL/Energy").tolist()
    ([[5.0, 5.0, 5.0], [0.0, 0.0, 0.0]], [True, False])
    >>> histograms[[1]].keys.tolist()
    [(1, 2)]
    """

    def __init__(self, run, lumi, mes):
        # Internal: arrays are taken as validated. Use from_table / from_arrays.
        self._run = run
        self._lumi = lumi
        self._mes = mes  # dict ME name -> _MonitoringElement

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_arrays(
        cls, run, lumi, histograms, binning, *, entries=None, present=None, channels=None
    ):
        """Build LumiSectionHistograms from dense arrays, one per ME (the fast constructor).

        Parameters
        ----------
        run, lumi : array-like of int, shape (n_lumisections,)
            One ``(run, lumi)`` pair per LS; pairs must be unique.
        histograms : dict of str to array-like
            Per ME, the contents of shape ``(n_lumisections, x_bin)`` (1D) or
            ``(n_lumisections, y_bin, x_bin)`` (2D): finite and non-negative.
        binning : dict of str to tuple or dict
            Per ME, ``(x_min, x_max, x_bin)`` or ``(x_min, x_max, x_bin, y_min, y_max,
            y_bin)``, or a dict with those keys.
        entries : dict of str to array-like of float, default=None
            Per ME, the entries of each LS (DIALS' ``entries``); default: the sum of the bin
            contents.
        present : dict of str to array-like of bool, default=None
            Per ME, whether each LS has a record (an absent LS must have zero contents and
            zero entries); default: every LS is present.
        channels : None, str, dict or callable, default=None
            The channel of each ME: None takes the first component of the ME path (the text
            before the first ``"/"``); a regex string takes its first group (or the whole
            match); a dict maps each ME name to its channel; a callable is called with the ME
            name. Channel names must not contain ``"__"``.

        Returns
        -------
        LumiSectionHistograms

        Raises
        ------
        ValueError
            For duplicate keys, shapes that do not match the binning, negative or non-finite
            contents, and absent LS with non-zero contents.
        TypeError
            For non-numeric contents or badly typed arguments.

        Examples
        --------
        >>> import numpy as np
        >>> h = LumiSectionHistograms.from_arrays(
        ...     [1, 1], [1, 2], {"HCAL/Occupancy": np.ones((2, 3, 4))},
        ...     {"HCAL/Occupancy": (0, 4, 4, -1.5, 1.5, 3)},
        ... )
        >>> h.ndim("HCAL/Occupancy"), h.entries("HCAL/Occupancy").tolist()
        (2, [12.0, 12.0])
        """
        run = _as_index_array("run", run)
        lumi = _as_index_array("lumi", lumi, length=len(run))
        _check_unique_keys(run, lumi)
        n = len(run)
        for name, value in (("histograms", histograms), ("binning", binning)):
            if not isinstance(value, Mapping):
                raise TypeError(
                    f"{name} must be a dict keyed by ME name; got {type(value).__name__}."
                )
        for name, value in (("entries", entries), ("present", present)):
            if value is not None and not isinstance(value, Mapping):
                raise TypeError(
                    f"{name} must be a dict keyed by ME name or None; got {type(value).__name__}."
                )
        namer = _channel_namer(channels)
        mes = {}
        for me, values in histograms.items():
            if not isinstance(me, str) or not me:
                raise TypeError(f"ME names must be non-empty strings; got {me!r}.")
            if me not in binning:
                raise ValueError(f"ME {me!r} has no binning; pass binning[{me!r}].")
            me_binning = _check_binning(me, binning[me])
            values = np.asarray(values)
            if values.ndim == 0 or len(values) != n:
                raise ValueError(
                    f"ME {me!r} has contents of shape {values.shape}; expected {n} lumisections "
                    "first."
                )

            def where(row, me=me):
                return f"lumisection (run, lumi) = ({int(run[row])}, {int(lumi[row])})"

            values = _check_contents(me, values, me_binning, where)
            me_present = np.ones(n, dtype=bool)
            if present is not None and me in present:
                me_present = np.asarray(present[me])
                if me_present.dtype != bool or me_present.shape != (n,):
                    raise TypeError(
                        f"present[{me!r}] must be a boolean array of {n} entries; got dtype "
                        f"{me_present.dtype} and shape {me_present.shape}."
                    )
            totals = values.reshape(n, -1).sum(axis=1)
            if entries is not None and me in entries:
                me_entries = np.asarray(entries[me], dtype=np.float64)
                if me_entries.shape != (n,) or not np.all(np.isfinite(me_entries)):
                    raise ValueError(
                        f"entries[{me!r}] must hold {n} finite numbers; got shape "
                        f"{me_entries.shape}."
                    )
                if (me_entries < 0).any():
                    row = int(np.flatnonzero(me_entries < 0)[0])
                    raise ValueError(
                        f"ME {me!r} has negative entries ({me_entries[row]}) in {where(row)}."
                    )
            else:
                me_entries = totals
            absent = ~me_present
            if absent.any() and ((totals[absent] != 0).any() or (me_entries[absent] != 0).any()):
                row = int(np.flatnonzero(absent & ((totals != 0) | (me_entries != 0)))[0])
                raise ValueError(
                    f"ME {me!r} is marked absent in {where(row)} but has non-zero contents or "
                    "entries there; an absent lumisection holds a zero histogram."
                )
            channel = _check_channel(me, namer(me))
            mes[me] = _MonitoringElement(
                channel, me_binning, values, me_entries.astype(np.float64), me_present
            )
        return cls(run, lumi, mes)

    @classmethod
    def from_table(
        cls,
        table,
        *,
        run="run_number",
        lumi="ls_number",
        me="me",
        data="data",
        entries="entries",
        channels=None,
    ):
        """Build LumiSectionHistograms from a long table in the DIALS layout.

        One row per ``(run, LS, ME)``: the keys, the ME name, its binning (``x_min``,
        ``x_max``, ``x_bin``, and ``y_min``, ``y_max``, ``y_bin`` for a 2D ME), ``entries``
        and ``data``, the list of bin contents (1D: ``x_bin`` numbers; 2D: ``y_bin`` lists of
        ``x_bin`` numbers). ``data`` may also be a JSON string of that list (as in a CSV
        export). Rows may come in any order and from several chunks (pages, files): rows of one
        ME are merged; a repeated row that agrees with the first is dropped. A ``dataset``
        column, when present, must hold one value (filter the table to one dataset first).

        The lumisections are the union of the ``(run, LS)`` of all rows, in ascending order;
        an LS without a row for an ME holds a zero histogram with ``present(me) == False``.

        Parameters
        ----------
        table : pandas.DataFrame
            The records.
        run, lumi, me, data : str
            Names of the run, LS, ME-name and contents columns.
        entries : str or None, default="entries"
            Name of the entries column; when None or absent from the table, the entries are
            the sum of the contents.
        channels : None, str, dict or callable, default=None
            The channel of each ME, as in :meth:`from_arrays` (default: the first component
            of the ME path).

        Returns
        -------
        LumiSectionHistograms

        Raises
        ------
        ValueError
            For missing columns, several datasets, an ME whose binning changes between rows
            (the message names the ME and the runs of each binning), contents that do not
            match the binning, negative or non-finite contents, and repeated ``(run, LS, ME)``
            rows that disagree (the message names the ME, run and LS).
        TypeError
            For a table that is not a DataFrame or non-numeric contents.

        Examples
        --------
        >>> import pandas as pd
        >>> table = pd.DataFrame({
        ...     "run_number": [7, 7], "ls_number": [2, 1], "me": "CSC/Occupancy",
        ...     "x_min": 0.0, "x_max": 2.0, "x_bin": 2, "y_min": 0.0, "y_max": 1.0, "y_bin": 1,
        ...     "data": [[[1, 2]], [[3, 4]]],
        ... })
        >>> h = LumiSectionHistograms.from_table(table)
        >>> h.keys.tolist(), h.values("CSC/Occupancy")[:, 0].tolist()
        ([(7, 1), (7, 2)], [[3.0, 4.0], [1.0, 2.0]])
        """
        from ._dials import histograms_from_table

        return histograms_from_table(
            table, run=run, lumi=lumi, me=me, data=data, entries=entries, channels=channels
        )

    @classmethod
    def concat(cls, histograms):
        """Concatenate several LumiSectionHistograms; an LS present in several parts is merged.

        The result keeps the LS in order of first appearance. For an LS in several parts, each
        ME takes the part that has a record for it; two parts with a record for the same
        ``(run, LS, ME)`` must agree. An ME missing from a part is absent in that part's LS.

        Parameters
        ----------
        histograms : iterable of LumiSectionHistograms

        Returns
        -------
        LumiSectionHistograms

        Raises
        ------
        ValueError
            When an ME has different binnings or channels in two parts, or two parts hold
            different records for one ``(run, LS, ME)``.

        Examples
        --------
        >>> import numpy as np
        >>> a = LumiSectionHistograms.from_arrays([1], [1], {"DT/A": [[1.0, 2.0]]},
        ...                                       {"DT/A": (0, 1, 2)})
        >>> b = LumiSectionHistograms.from_arrays([1, 1], [2, 1], {"RPC/B": [[3.0], [4.0]]},
        ...                                       {"RPC/B": (0, 1, 1)})
        >>> both = LumiSectionHistograms.concat([a, b])
        >>> both.keys.tolist(), both.present("DT/A").tolist(), both.values("RPC/B").ravel().tolist()
        ([(1, 1), (1, 2)], [True, False], [4.0, 3.0])
        """
        parts = list(histograms)
        if not parts:
            raise ValueError("concat needs at least one LumiSectionHistograms.")
        for part in parts:
            if not isinstance(part, LumiSectionHistograms):
                raise TypeError(
                    f"concat takes LumiSectionHistograms objects; got {type(part).__name__}."
                )
        layout = {}
        for i, part in enumerate(parts):
            for name, element in part._mes.items():
                if name not in layout:
                    layout[name] = (i, element.channel, element.binning)
                    continue
                j, channel, binning = layout[name]
                if element.binning != binning:
                    raise ValueError(
                        f"ME {name!r} has binning {element.binning} in part {i} (runs "
                        f"{_runs(part._run)}) but {binning} in part {j} (runs "
                        f"{_runs(parts[j]._run)}). An ME must keep one binning; "
                        "rebin one of the parts or keep them apart."
                    )
                if element.channel != channel:
                    raise ValueError(
                        f"ME {name!r} is in channel {element.channel!r} in part {i} but in "
                        f"{channel!r} in part {j}. Build the parts with the same channels."
                    )
        run = np.concatenate([p._run for p in parts])
        lumi = np.concatenate([p._lumi for p in parts])
        order, codes, first_pos = _sorted_group_codes(run, lumi)
        first_row = order[first_pos]
        rank = np.empty(len(first_row), dtype=np.int64)
        rank[np.argsort(first_row, kind="stable")] = np.arange(len(first_row))
        target = rank[codes] if len(codes) else codes  # merged LS of every input LS
        n_merged = len(first_row)
        merged_order = np.argsort(first_row, kind="stable")
        new_run, new_lumi = run[first_row[merged_order]], lumi[first_row[merged_order]]
        shifts = np.cumsum([0] + [len(p) for p in parts[:-1]])
        mes = {}
        for name, (_, channel, binning) in layout.items():
            values = np.zeros((n_merged,) + _shape_of(binning))
            entries = np.zeros(n_merged)
            present = np.zeros(n_merged, dtype=bool)
            for shift, part in zip(shifts, parts):
                element = part._mes.get(name)
                if element is None:
                    continue
                rows = target[shift : shift + len(part)][element.present]
                new_values = element.values[element.present]
                new_entries = element.entries[element.present]
                again = present[rows]
                if again.any():
                    same = np.array(
                        [
                            np.array_equal(values[r], v) and entries[r] == e
                            for r, v, e in zip(rows[again], new_values[again], new_entries[again])
                        ]
                    )
                    if not same.all():
                        r = rows[again][int(np.flatnonzero(~same)[0])]
                        raise ValueError(
                            f"Two parts hold different records of ME {name!r} for lumisection "
                            f"(run, lumi) = ({int(new_run[r])}, {int(new_lumi[r])}). Keep one."
                        )
                values[rows] = new_values
                entries[rows] = new_entries
                present[rows] = True
            mes[name] = _MonitoringElement(channel, binning, values, entries, present)
        return cls(new_run, new_lumi, mes)

    # ------------------------------------------------------------------ array-like behaviour
    def __getitem__(self, key):
        return self._take(lumisection_rows(key, len(self), "LumiSectionHistograms"))

    def _take(self, rows):
        """The LS ``rows`` (a slice gives views, an index array copies)."""
        return type(self)(
            self._run[rows],
            self._lumi[rows],
            {name: element.take(rows) for name, element in self._mes.items()},
        )

    # ------------------------------------------------------------------ accessors
    @property
    def mes(self):
        return list(self._mes)

    @property
    def channels(self):
        return list(dict.fromkeys(element.channel for element in self._mes.values()))

    @property
    def me_channels(self):
        return {name: element.channel for name, element in self._mes.items()}

    def _element(self, me):
        if me not in self._mes:
            raise KeyError(f"No ME {me!r}; available: {_describe(self._mes)}.")
        return self._mes[me]

    def ndim(self, me):
        """1 for a 1D ME, 2 for a 2D one.

        Examples
        --------
        >>> h = LumiSectionHistograms.from_arrays([1], [1], {"DT/A": [[1.0]]}, {"DT/A": (0, 1, 1)})
        >>> h.ndim("DT/A")
        1
        """
        return self._element(me).ndim

    def binning(self, me):
        """The binning of one ME as a dict (``x_min``, ``x_max``, ``x_bin``, and the ``y_`` ones).

        Examples
        --------
        >>> h = LumiSectionHistograms.from_arrays([1], [1], {"DT/A": [[1.0]]}, {"DT/A": (0, 1, 1)})
        >>> h.binning("DT/A")
        {'x_min': 0.0, 'x_max': 1.0, 'x_bin': 1}
        """
        binning = self._element(me).binning
        names = _BINNING_1D if len(binning) == 3 else _BINNING_2D
        return dict(zip(names, binning))

    def values(self, me):
        """The contents of one ME, shape (n_lumisections, x_bin) or (n_lumisections, y_bin, x_bin).

        Examples
        --------
        >>> h = LumiSectionHistograms.from_arrays([1], [1], {"DT/A": [[2.0]]}, {"DT/A": (0, 1, 1)})
        >>> h.values("DT/A").tolist()
        [[2.0]]
        """
        return self._element(me).values.copy()

    def entries(self, me):
        """The entries of one ME per LS (0 where the LS has no record).

        Examples
        --------
        >>> h = LumiSectionHistograms.from_arrays([1], [1], {"DT/A": [[2.0]]}, {"DT/A": (0, 1, 1)})
        >>> h.entries("DT/A").tolist()
        [2.0]
        """
        return self._element(me).entries.copy()

    def present(self, me):
        """Whether each LS has a record of one ME (False: a zero histogram stands in for it).

        Examples
        --------
        >>> h = LumiSectionHistograms.from_arrays([1], [1], {"DT/A": [[2.0]]}, {"DT/A": (0, 1, 1)})
        >>> h.present("DT/A").tolist()
        [True]
        """
        return self._element(me).present.copy()

    # ------------------------------------------------------------------ back to a table
    def to_table(self):
        """The records in the DIALS layout, one row per present ``(run, LS, ME)``.

        Columns ``run_number``, ``ls_number``, ``me``, ``x_min``, ``x_max``, ``x_bin``,
        ``y_min``, ``y_max``, ``y_bin`` (NaN for 1D MEs), ``entries`` and ``data`` (a list, or a
        list of lists for 2D MEs). ``from_table(h.to_table())`` rebuilds ``h`` when every LS has
        at least one record.

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> h = LumiSectionHistograms.from_arrays([1], [4], {"DT/A": [[2.0, 0.0]]},
        ...                                       {"DT/A": (0, 1, 2)})
        >>> h.to_table()[["run_number", "ls_number", "me", "x_bin", "entries", "data"]]
           run_number  ls_number    me  x_bin  entries        data
        0           1          4  DT/A      2      2.0  [2.0, 0.0]
        """
        pieces = []
        for name, element in self._mes.items():
            rows = np.flatnonzero(element.present)
            binning = element.binning + (np.nan,) * (6 - len(element.binning))
            piece = pd.DataFrame(
                {
                    "run_number": self._run[rows],
                    "ls_number": self._lumi[rows],
                    "me": name,
                    **{key: value for key, value in zip(_BINNING_2D, binning)},
                    "entries": element.entries[rows],
                    "data": [element.values[r].tolist() for r in rows],
                }
            )
            pieces.append(piece)
        if not pieces:
            columns = ["run_number", "ls_number", "me", *_BINNING_2D, "entries", "data"]
            return pd.DataFrame(columns=columns)
        return pd.concat(pieces, ignore_index=True)

    # ------------------------------------------------------------------ comparison, display
    def equals(self, other):
        """Whether two LumiSectionHistograms hold the same keys, MEs, channels and contents.

        Examples
        --------
        >>> h = LumiSectionHistograms.from_arrays([1], [1], {"DT/A": [[2.0]]}, {"DT/A": (0, 1, 1)})
        >>> h.equals(h[:]), h.equals(h[[]])
        (True, False)
        """
        if not isinstance(other, LumiSectionHistograms):
            return False
        if not (
            np.array_equal(self._run, other._run)
            and np.array_equal(self._lumi, other._lumi)
            and list(self._mes) == list(other._mes)
        ):
            return False
        for name, element in self._mes.items():
            theirs = other._mes[name]
            if (
                element.channel != theirs.channel
                or element.binning != theirs.binning
                or not np.array_equal(element.values, theirs.values)
                or not np.array_equal(element.entries, theirs.entries)
                or not np.array_equal(element.present, theirs.present)
            ):
                return False
        return True

    def __repr__(self):
        return (
            f"LumiSectionHistograms({len(self)} lumisections, {len(self._mes)} MEs in "
            f"{len(self.channels)} channels)"
        )
