"""Per-lumisection features from per-event physics objects: quantile objects and their statistics.

The recipe follows the original channel-decomposition study (Borisyak et al.): per event and
channel, the objects sorted by ascending pT give N "quantile objects" q1..qN (ranks ``0, M//N,
2M//N, ..., M-1``), plus the event's physical momentum sums and object count; per LS, every such
per-event column is summarised by its mean, population standard deviation and percentiles.

Everything is computed on the flat arrays of :class:`LumiSections`, per chunk of lumisections of
similar size: events with the same number of objects are sorted by pT together (one row-wise
sort per distinct object count; a pair needs one comparison), and the quantile objects are
scattered with index arithmetic into a padded (column, lumisection, event) block. In the row of
a lumisection the events are placed in order of decreasing number of filled slots, so the values
of a slot come first and its zero-padded slots (often the majority) are counted instead of
stored and sorted. The block is reduced along the events a few rows at a time, in cache (mean,
std; the properties of one quantile slot, stored side by side, together); for the percentiles
only the prefix of each row that holds values is sorted, and the ranks are shifted past the
zeros. ``px`` and ``py`` come from one tangent of ``phi / 2`` instead of a cosine and a sine.
There is no Python loop over events or lumisections.
"""

from __future__ import annotations

import functools
import numbers

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._lumisections import LumiSections, _describe

__all__ = ["LumiSectionPercentiles", "LUMISECTION_PREFIX"]

#: Prefix of the lumisection-level output columns (``ls__n_events``, ``ls__luminosity_mean``).
LUMISECTION_PREFIX = "ls"
_KNOWN_STATISTICS = ("mean", "std")
_MOMENTUM = ("px", "py", "pz")


def _percentile_name(p):
    return f"p{float(p):g}"


class LumiSectionPercentiles(TransformerMixin, BaseEstimator):
    """Turn LumiSections into one row of features per lumisection.

    For every event and every channel, the objects are sorted by ascending pT; with M objects,
    the quantile objects q1..qN are those of rank ``floor(k * M / N)`` for ``k = 0 .. N-2`` and
    ``M - 1`` (the hardest) for qN; for N = 5 these are ranks ``0, M//5, 2M//5, 3M//5, M-1``.
    An event with fewer than N objects is zero-padded in the low slots: its M objects fill
    q(N-M+1)..qN in ascending pT and the lower slots hold an object whose properties are all 0.
    An object with ``pt == 0`` is absent (not counted, not used). Per event and channel this
    gives the columns ``<property>_q<k>`` for every property, the momentum sums ``px = Σ pt cos
    φ``, ``py = Σ pt sin φ``, ``pz = Σ pt sinh η`` over all the event's objects (for channels
    with ``eta`` and ``phi``), and ``n_objects``. Each per-event column is then summarised over
    the events of the LS by ``statistics`` (mean, population std) and ``percentiles`` (linear
    interpolation, numpy's default method).

    Output columns are named ``<channel>__<column>_<stat>``, e.g. ``muons__pt_q5_p99``,
    ``muons__px_mean``, ``muons__n_objects_p50``. Lumisection-level columns carry the prefix
    ``ls__``: ``ls__n_events`` and the statistics of every per-event scalar column
    (``ls__luminosity_mean``, ...). With ``ChannelDecompositionClassifier(channels="prefix")``
    those columns form a channel of their own named ``"ls"``; set ``lumisection_columns=False``
    to leave them out (e.g. to pass only detector channels to the classifier).

    Behaviour on sparse data: a channel with no object in an event contributes zero-padded slots,
    zero momentum and a count of 0, so its statistics are well defined (0 when the channel is
    empty in the whole LS). A lumisection with no event has no statistics: its columns hold
    ``empty_value`` (default 0.0; pass ``np.nan`` to get NaN instead) and ``ls__n_events`` is 0.

    Parameters
    ----------
    n_quantiles : int, default=5
        Number N of quantile objects per event and channel (N = 1 keeps the hardest object).
    percentiles : sequence of float, default=(1, 25, 50, 75, 99)
        Percentiles (in [0, 100]) of each per-event column over the events of an LS; named
        ``p1``, ``p25``, ... (``p2.5`` for 2.5).
    statistics : sequence of {"mean", "std"}, default=("mean", "std")
        Moments of each per-event column (``std`` is the population standard deviation).
    channels : list of str, default=None
        Channels to use; default: all channels of the LumiSections seen in ``fit``.
    properties : list of str or dict of str to list of str, default=None
        Object properties to summarise: a list applies to every channel that has the property
        (each name must exist in at least one channel); a dict gives the list per channel
        (channels not in the dict keep all their properties). Default: all properties.
    momentum : bool, default=True
        Add the momentum sums ``px``, ``py``, ``pz`` for channels with ``eta`` and ``phi``.
    object_counts : bool, default=True
        Add the number of objects per event (``n_objects``).
    event_columns : list of str, default=None
        Per-event scalar columns to summarise under ``ls__``; default: all of them.
    lumisection_columns : bool, default=True
        Output the ``ls__`` columns (events per LS and statistics of the event columns).
    empty_value : float, default=0.0
        Value of the statistics of a lumisection without events.
    n_jobs : int, default=None
        Number of parallel jobs (joblib) over chunks of lumisections. ``None`` means 1 unless in
        a :func:`joblib.parallel_config` context; ``-1`` means all processors. Jobs prefer
        threads (the sorts and reductions release the GIL, and threads share the input instead
        of copying it to worker processes: about 1.7x faster than one job with 2 threads,
        against 1.1x with 2 processes, in ``benchmarks/bench_percentiles.py``); choose
        processes with ``joblib.parallel_config(backend="loky")``.
    chunk_size : int, default=40_000
        Approximate number of events handled at once: bounds the memory used by one job (at
        the default, a few tens of MB for a few objects per event and channel). Smaller chunks
        use less memory, larger ones spend less time between numpy calls. A single
        lumisection larger than this is handled in one piece.

    Attributes
    ----------
    channels_ : list of str
        Channels used.
    properties_ : dict of str to list of str
        Properties summarised per channel.
    momentum_channels_ : list of str
        Channels with momentum sums.
    event_columns_ : list of str
        Per-event scalar columns summarised.
    per_event_columns_ : list of str
        Names of the per-event columns before the statistics (``muons__pt_q1``, ...).
    feature_names_out_ : ndarray of str
        Output column names.

    See Also
    --------
    LumiSections : the input.

    References
    ----------
    .. [1] V. Azzolini, M. Borisyak, et al., "Deep learning for inferring cause of data
       anomalies", J. Phys.: Conf. Ser. 1085 (2018) 042015, arXiv:1711.07051.

    Examples
    --------
    >>> from channeldecomp import LumiSections, LumiSectionPercentiles
    >>> ls = LumiSections.from_arrays(
    ...     run=[1, 1], lumi=[1, 2], n_events=[2, 1],
    ...     objects={"muons": ([2, 0, 1], {"pt": [10.0, 30.0, 20.0]})},
    ... )
    >>> features = LumiSectionPercentiles(n_quantiles=2, percentiles=[50], statistics=["mean"])
    >>> X = features.set_output(transform="pandas").fit_transform(ls)
    >>> X.columns.tolist()
    ['muons__pt_q1_mean', 'muons__pt_q1_p50', 'muons__pt_q2_mean', 'muons__pt_q2_p50', \
'muons__n_objects_mean', 'muons__n_objects_p50', 'ls__n_events']
    >>> X.loc[(1, 1)].tolist()
    [5.0, 5.0, 15.0, 15.0, 1.0, 1.0, 2.0]
    """

    def __init__(
        self,
        n_quantiles=5,
        percentiles=(1, 25, 50, 75, 99),
        statistics=("mean", "std"),
        channels=None,
        properties=None,
        momentum=True,
        object_counts=True,
        event_columns=None,
        lumisection_columns=True,
        empty_value=0.0,
        n_jobs=None,
        chunk_size=40_000,
    ):
        self.n_quantiles = n_quantiles
        self.percentiles = percentiles
        self.statistics = statistics
        self.channels = channels
        self.properties = properties
        self.momentum = momentum
        self.object_counts = object_counts
        self.event_columns = event_columns
        self.lumisection_columns = lumisection_columns
        self.empty_value = empty_value
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size

    # ------------------------------------------------------------------ parameters
    def _validated_parameters(self):
        n_quantiles = self.n_quantiles
        if (
            not isinstance(n_quantiles, numbers.Integral)
            or isinstance(n_quantiles, bool)
            or n_quantiles < 1
        ):
            raise ValueError(f"n_quantiles must be an integer >= 1; got {n_quantiles!r}.")
        percentiles = np.asarray(
            [] if self.percentiles is None else list(self.percentiles), dtype=float
        )
        if percentiles.ndim != 1 or np.any(~np.isfinite(percentiles)):
            raise ValueError(f"percentiles must be a list of numbers; got {self.percentiles!r}.")
        if np.any((percentiles < 0) | (percentiles > 100)):
            raise ValueError(f"percentiles must lie in [0, 100]; got {self.percentiles!r}.")
        names = [_percentile_name(p) for p in percentiles]
        if len(set(names)) != len(names):
            raise ValueError(f"percentiles has duplicates: {self.percentiles!r}.")
        statistics = [] if self.statistics is None else list(self.statistics)
        if isinstance(self.statistics, str):
            statistics = [self.statistics]
        unknown = [s for s in statistics if s not in _KNOWN_STATISTICS]
        if unknown:
            raise ValueError(
                f"Unknown statistic(s) {_describe(unknown)}; choose among "
                f"{_describe(_KNOWN_STATISTICS)} (percentiles go in the percentiles parameter)."
            )
        if len(set(statistics)) != len(statistics):
            raise ValueError(f"statistics has duplicates: {self.statistics!r}.")
        if not statistics and not len(percentiles):
            raise ValueError("Both statistics and percentiles are empty: nothing to compute.")
        if not isinstance(self.empty_value, numbers.Real):
            raise TypeError(f"empty_value must be a number (or nan); got {self.empty_value!r}.")
        chunk_size = self.chunk_size
        if (
            not isinstance(chunk_size, numbers.Integral)
            or isinstance(chunk_size, bool)
            or chunk_size < 1
        ):
            raise ValueError(f"chunk_size must be an integer >= 1; got {chunk_size!r}.")
        return int(n_quantiles), percentiles, statistics, names

    @staticmethod
    def _check_input(X):
        if not isinstance(X, LumiSections):
            raise TypeError(
                "LumiSectionPercentiles takes a LumiSections (per-lumisection event data); got "
                f"{type(X).__name__}. Build one with LumiSections.from_objects, from_arrays or "
                "from_awkward."
            )

    def _resolve_columns(self, X):
        available = X.channels
        if self.channels is None:
            channels = list(available)
        else:
            channels = [self.channels] if isinstance(self.channels, str) else list(self.channels)
            unknown = [c for c in channels if c not in available]
            if unknown:
                raise ValueError(
                    f"Unknown channel(s) {_describe(unknown)} in channels; the data have "
                    f"{_describe(available)}."
                )
            if len(set(channels)) != len(channels):
                raise ValueError(f"channels has duplicates: {self.channels!r}.")
        if not channels and not self.lumisection_columns:
            raise ValueError("No channel to summarise and lumisection_columns=False.")
        if self.lumisection_columns and LUMISECTION_PREFIX in channels:
            raise ValueError(
                f"A channel is named {LUMISECTION_PREFIX!r}, the prefix of the lumisection-level "
                "columns. Rename the channel or set lumisection_columns=False."
            )

        properties = {}
        if self.properties is None:
            properties = {c: X.properties(c) for c in channels}
        elif isinstance(self.properties, dict):
            unknown = [c for c in self.properties if c not in channels]
            if unknown:
                raise ValueError(
                    f"properties names channel(s) {_describe(unknown)}, which are not among the "
                    f"channels used ({_describe(channels)})."
                )
            for c in channels:
                if c not in self.properties:
                    properties[c] = X.properties(c)
                    continue
                wanted = self.properties[c]
                wanted = [wanted] if isinstance(wanted, str) else list(wanted)
                missing = [p for p in wanted if p not in X.properties(c)]
                if missing:
                    raise ValueError(
                        f"Channel {c!r} has no property {_describe(missing)}; it has "
                        f"{_describe(X.properties(c))}."
                    )
                properties[c] = wanted
        else:
            wanted = [self.properties] if isinstance(self.properties, str) else self.properties
            wanted = list(wanted)
            found = {p for c in channels for p in X.properties(c)}
            missing = [p for p in wanted if p not in found]
            if missing:
                raise ValueError(
                    f"Unknown property name(s) {_describe(missing)}: no channel used has them "
                    f"(properties present: {_describe(sorted(found))})."
                )
            properties = {c: [p for p in wanted if p in X.properties(c)] for c in channels}

        momentum_channels = [
            c for c in channels if self.momentum and {"eta", "phi"} <= set(X.properties(c))
        ]
        if self.event_columns is None:
            event_columns = X.event_columns if self.lumisection_columns else []
        else:
            event_columns = (
                [self.event_columns]
                if isinstance(self.event_columns, str)
                else list(self.event_columns)
            )
            unknown = [e for e in event_columns if e not in X.event_columns]
            if unknown:
                raise ValueError(
                    f"Unknown event column(s) {_describe(unknown)}; the data have "
                    f"{_describe(X.event_columns)}."
                )
            if event_columns and not self.lumisection_columns:
                raise ValueError(
                    "event_columns are summarised as lumisection-level columns, but "
                    "lumisection_columns=False. Set lumisection_columns=True or leave "
                    "event_columns=None."
                )
        return channels, properties, momentum_channels, event_columns

    # ------------------------------------------------------------------ estimator API
    def fit(self, X, y=None):
        """Check the parameters against the data and fix the output columns.

        Parameters
        ----------
        X : LumiSections
        y : ignored

        Returns
        -------
        self
        """
        self._check_input(X)
        n_quantiles, _, statistics, percentile_names = self._validated_parameters()
        channels, properties, momentum_channels, event_columns = self._resolve_columns(X)
        per_event = []
        for channel in channels:
            for prop in properties[channel]:
                per_event += [f"{channel}__{prop}_q{k}" for k in range(1, n_quantiles + 1)]
            if channel in momentum_channels:
                per_event += [f"{channel}__{m}" for m in _MOMENTUM]
            if self.object_counts:
                per_event.append(f"{channel}__n_objects")
        per_event += [f"{LUMISECTION_PREFIX}__{name}" for name in event_columns]
        stat_names = [*statistics, *percentile_names]
        names = [f"{column}_{stat}" for column in per_event for stat in stat_names]
        if self.lumisection_columns:
            names.insert(
                len(names) - len(event_columns) * len(stat_names),
                f"{LUMISECTION_PREFIX}__n_events",
            )
        if len(set(names)) != len(names):
            duplicated = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(
                f"The output names {_describe(duplicated)} are not unique (a property name "
                "clashes with a derived column such as 'px' or 'n_objects'); select properties "
                "to avoid the clash."
            )
        if not names:
            raise ValueError("The parameters select no output column.")
        self.channels_ = channels
        self.properties_ = properties
        self.momentum_channels_ = momentum_channels
        self.event_columns_ = event_columns
        self.per_event_columns_ = per_event
        self.feature_names_out_ = np.asarray(names, dtype=object)
        return self

    def transform(self, X):
        """Compute one row of features per lumisection.

        Parameters
        ----------
        X : LumiSections
            Must have the channels, properties and event columns seen in ``fit``.

        Returns
        -------
        ndarray of shape (n_lumisections, n_features_out) or DataFrame
            With ``set_output(transform="pandas")``, a DataFrame indexed by ``(run, lumi)``.
        """
        check_is_fitted(self, "feature_names_out_")
        self._check_input(X)
        n_quantiles, percentiles, statistics, _ = self._validated_parameters()
        for channel in self.channels_:
            if channel not in X.channels:
                raise ValueError(
                    f"Channel {channel!r}, seen in fit, is missing from X (it has "
                    f"{_describe(X.channels)})."
                )
            missing = [p for p in self.properties_[channel] if p not in X.properties(channel)]
            if channel in self.momentum_channels_:
                missing += [p for p in ("eta", "phi") if p not in X.properties(channel)]
            if missing:
                raise ValueError(
                    f"Channel {channel!r} of X has no property {_describe(missing)}, seen in fit."
                )
        missing = [e for e in self.event_columns_ if e not in X.event_columns]
        if missing:
            raise ValueError(f"X has no event column {_describe(missing)}, seen in fit.")

        plan = _Plan(
            channels=self.channels_,
            properties=self.properties_,
            momentum_channels=self.momentum_channels_,
            object_counts=bool(self.object_counts),
            event_columns=self.event_columns_,
            n_quantiles=n_quantiles,
            statistics=statistics,
            percentiles=percentiles,
            lumisection_columns=bool(self.lumisection_columns),
            per_event_columns=self.per_event_columns_,
        )
        result = np.empty((len(X), len(self.feature_names_out_)), dtype=np.float64)
        n_jobs = effective_n_jobs(self.n_jobs)
        chunk_size = self.chunk_size
        if n_jobs > 1:
            # at least a few chunks per job, so that the jobs stay busy
            chunk_size = min(chunk_size, max(1, X.n_events_total // (4 * n_jobs)))
        chunks = _chunks_by_size(X.n_events, chunk_size)
        if len(chunks) <= 1 or n_jobs == 1:
            for indices in chunks:
                result[indices] = _chunk_features(_Chunk(X, indices, plan), plan)
        else:
            # Worker threads copy their chunks themselves, in parallel; a process backend, when
            # the user picks one, receives only the chunk's arrays (see _LazyChunk).
            parts = Parallel(n_jobs=self.n_jobs, prefer="threads")(
                delayed(_chunk_features)(_LazyChunk(X, indices, plan), plan) for indices in chunks
            )
            for indices, part in zip(chunks, parts):
                result[indices] = part
        empty = X.n_events == 0
        if empty.any():
            keep = np.ones(result.shape[1], dtype=bool)
            if self.lumisection_columns:
                keep[self.feature_names_out_ == f"{LUMISECTION_PREFIX}__n_events"] = False
            result[np.ix_(empty, keep)] = self.empty_value
        if _output_is_pandas(self):
            return pd.DataFrame(result, index=X.keys, columns=self.feature_names_out_.tolist())
        return result

    def get_feature_names_out(self, input_features=None):
        """Output column names, ``<channel>__<column>_<stat>`` and ``ls__...``.

        Parameters
        ----------
        input_features : ignored
            Present for API compatibility; the input is a LumiSections, not a table.

        Returns
        -------
        ndarray of str
        """
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.input_tags.two_d_array = False
        tags.input_tags.one_d_array = False
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags


def _output_is_pandas(estimator):
    try:
        from sklearn.utils._set_output import _get_output_config
    except ImportError:  # pragma: no cover - older or newer scikit-learn
        return False
    return _get_output_config("transform", estimator)["dense"] == "pandas"


class _Plan:
    """What to compute, in output order; plain attributes so it pickles to joblib workers."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


class _Chunk:
    """The input arrays of some lumisections, as needed by :func:`_chunk_features`.

    The lumisections ``indices`` of ``ls`` are copied LS by LS: the events of one LS, and
    their objects, are contiguous in ``ls``, so a chunk is a few slices per array rather than
    an index per event or per object. Only the arrays that ``plan`` uses are copied.

    Attributes
    ----------
    n_events : ndarray of int
        Events per lumisection of the chunk.
    objects : dict of str to (ndarray, dict of str to ndarray)
        Per channel: the objects per event and the property values, event by event.
    event_columns : dict of str to ndarray
        The per-event scalar columns.
    """

    def __init__(self, ls, indices, plan):
        event_offsets = ls._event_offsets
        starts = event_offsets[indices].tolist()
        stops = event_offsets[np.asarray(indices) + 1].tolist()
        self.n_events = np.asarray(stops, dtype=np.int64) - starts
        self.objects = {}
        for channel in plan.channels:
            offsets, props = ls._objects[channel]
            counts = _concatenate(
                [offsets[a + 1 : b + 1] - offsets[a:b] for a, b in zip(starts, stops)]
            )
            object_starts = offsets[starts].tolist()
            object_stops = offsets[stops].tolist()
            needed = {"pt", *plan.properties[channel]}
            if channel in plan.momentum_channels:
                needed |= {"eta", "phi"}
            values = {
                name: _concatenate([props[name][a:b] for a, b in zip(object_starts, object_stops)])
                for name in needed
            }
            self.objects[channel] = (counts, values)
        self.event_columns = {
            name: _concatenate([ls._event_columns[name][a:b] for a, b in zip(starts, stops)])
            for name in plan.event_columns
        }

    @property
    def n_events_total(self):
        return int(self.n_events.sum())

    def build(self):
        return self


class _LazyChunk:
    """A :class:`_Chunk` copied from ``ls`` when :meth:`build` is called, in the job that uses
    it. Pickled (for a worker process), it is copied at once and only its arrays travel."""

    def __init__(self, ls, indices, plan):
        self.ls = ls
        self.indices = indices
        self.plan = plan

    def build(self):
        return _Chunk(self.ls, self.indices, self.plan)

    def __reduce__(self):
        return _same, (self.build(),)


def _same(chunk):
    return chunk


def _concatenate(pieces):
    # one piece is used as it is (a view): the chunk's arrays are only read
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


def _chunks_by_size(n_events, chunk_size, max_padding=0.1):
    """Group lumisections of similar size into chunks of at most ``chunk_size`` padded events.

    Lumisections are taken in order of size and a chunk is padded to its largest LS, so a chunk
    also ends when padding would exceed ``max_padding`` of its events. A chunk holds at least
    one LS.
    """
    n_ls = len(n_events)
    if n_ls == 0:
        return []
    order = np.argsort(n_events, kind="stable")
    sizes = np.maximum(n_events[order], 1)
    chunks = []
    start = 0
    while start < n_ls:
        count = np.arange(1, n_ls - start + 1)
        padded = count * sizes[start:]
        events = np.cumsum(sizes[start:])
        too_big = (padded > chunk_size) | (padded > (1 + max_padding) * events)
        stop = start + max(1, int(np.argmax(too_big)) if too_big.any() else n_ls - start)
        chunks.append(order[start:stop])
        start = stop
    return chunks


@functools.lru_cache(maxsize=1024)
def _filled_slots(size, n_quantiles):
    """The quantile slots filled in an event with ``size`` objects, and the rank (ascending
    pT) of the object in each; the other (lower) slots are zero-padded. Cached, read-only."""
    if size < n_quantiles:
        slots, ranks = np.arange(n_quantiles - size, n_quantiles), np.arange(size)
    else:
        slots, ranks = np.arange(n_quantiles), (np.arange(n_quantiles) * size) // n_quantiles
        ranks[-1] = size - 1
    slots.flags.writeable = ranks.flags.writeable = False
    return slots, ranks


def _present_objects(pt, counts):
    """The present objects (``pt > 0``): their indices (None when all are present) and their
    number per event."""
    present = pt > 0
    if present.all():
        return None, np.asarray(counts, dtype=np.int64)
    # present objects per event: differences of their running count at the event bounds
    running = np.zeros(pt.size + 1, dtype=np.int64)
    np.cumsum(present, out=running[1:])
    bounds = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=bounds[1:])
    return np.flatnonzero(present), np.diff(running[bounds])


def _quantile_objects(pt, m, n_quantiles):
    """The objects in the quantile slots, for each number M >= 1 of objects per event.

    ``pt`` holds the objects event by event, ``m`` their number per event. Yields
    ``(events, slots, chosen)``: the events with M objects, the slots they fill (ascending) and
    the index in ``pt`` of the object in each of these slots, shape (len(slots), len(events)).
    For one M, the objects form an (events, M) matrix sorted row-wise in one call, and the slot
    ranks are the same for every row, so the loop runs over the distinct values of M only.
    """
    starts = np.zeros(len(m), dtype=np.int64)  # first object of each event
    np.cumsum(m[:-1], out=starts[1:])
    # small counts sort as uint16, for which numpy's stable sort is a radix sort
    by_size = np.argsort(m.astype(np.uint16) if m.max(initial=0) < 2**16 else m, kind="stable")
    events_per_size = np.bincount(m)
    bounds = np.concatenate([[0], np.cumsum(events_per_size)])
    for size in np.flatnonzero(events_per_size).tolist():
        if size == 0:
            continue
        events = by_size[bounds[size] : bounds[size + 1]]
        first = starts[events]
        slots, ranks = _filled_slots(size, n_quantiles)
        # order[:, r]: position within its event of the object of rank r (a stable sort)
        if size == 1:
            order = np.zeros((len(events), 1), dtype=np.int64)
        elif size == 2:  # no sort needed: the second object comes first if strictly softer
            order = np.empty((len(events), 2), dtype=np.int64)
            order[:, 0] = pt[first + 1] < pt[first]
            order[:, 1] = 1 - order[:, 0]
        else:
            order = np.argsort(pt[first[:, None] + np.arange(size)], axis=1, kind="stable")
        yield events, slots, first + order[:, ranks].T


class _Layout:
    """Where each event of a chunk sits in the padded (lumisection, slot) layout.

    The events of LS ``i`` occupy slots ``i * width .. i * width + n_events[i] - 1``; the other
    slots of the row are padding. LS within a chunk have similar sizes, so padding is small.
    """

    def __init__(self, n_events):
        self.n_events = n_events
        self.n_lumisections = len(n_events)
        self.width = max(int(n_events.max(initial=0)), 1)
        self.size = self.n_lumisections * self.width
        self.ls_of_event = np.repeat(np.arange(self.n_lumisections), n_events)
        n_total = self.ls_of_event.size
        if n_total == self.size:
            self.positions = None  # no padding: the events fill the layout in order
            self.filled = None
        else:
            # (n_lumisections, width): the slots of the events, in event order row by row
            self.filled = np.arange(self.width) < n_events[:, None]
            # event e of LS i sits at i * width + (e - first event of i)
            starts = np.zeros(self.n_lumisections, dtype=np.int64)
            np.cumsum(n_events[:-1], out=starts[1:])
            shift = (np.arange(self.n_lumisections) * self.width - starts)[self.ls_of_event]
            self.positions = np.arange(n_total) + shift

    def put(self, target, values):
        """Write per-event ``values`` into the layout row ``target`` (padding untouched)."""
        if self.positions is None:
            target[...] = values
        else:
            # a boolean mask writes faster than the equivalent index array
            target.reshape(self.n_lumisections, self.width)[self.filled] = values

    def positions_by(self, key, n_keys):
        """Layout positions that put the events of each LS in order of ascending ``key``.

        ``key`` holds integers in ``[0, n_keys)``; ties keep the event order. Returns the
        position of every event and the histogram of the keys per LS, (n_lumisections, n_keys).
        """
        combined = self.ls_of_event * n_keys + key
        small = self.n_lumisections * n_keys <= 2**16
        # sorted as uint16 when possible: numpy's stable sort is then a radix sort
        order = np.argsort(combined.astype(np.uint16) if small else combined, kind="stable")
        positions = np.empty(order.size, dtype=np.int64)
        positions[order] = np.arange(order.size)  # still within the same LS
        if self.positions is not None:
            positions = self.positions[positions]
        histogram = np.bincount(combined, minlength=self.n_lumisections * n_keys)
        return positions, histogram.reshape(self.n_lumisections, n_keys)


def _per_event_block(ls, plan, layout):
    """The per-event columns of ``plan`` in the padded layout.

    Returns ``block`` (n_columns, layout.size), ``explicit`` (n_columns, n_lumisections),
    ``small_integers`` (n_columns,), true for the object counts when they are below 2**16, and
    ``rows`` (n_columns,), the block row of each column of ``plan.per_event_columns``: the
    quantile slots of a channel are stored slot by slot (``pt_q1, eta_q1, ..., pt_q2, ...``),
    since the properties of one slot have the same number of values in every LS.
    In the block row ``c`` and lumisection ``i``, the first ``explicit[c, i]`` slots hold
    values; the next ``n_events[i] - explicit[c, i]`` events have the value 0 without being
    stored (zero-padded quantile slots, which are often the majority and need no sorting); the
    rest of the row is layout padding. Every slot past the explicit values holds 0.
    """
    n_events = ls.n_events_total
    n_q = plan.n_quantiles
    n_columns = len(plan.per_event_columns)
    block = np.zeros((n_columns, layout.size))
    explicit = np.empty((n_columns, layout.n_lumisections), dtype=np.int64)
    small_integers = np.zeros(n_columns, dtype=bool)  # columns sorted as uint16
    rows = np.arange(n_columns)
    row = 0
    for channel in plan.channels:
        counts, props = ls.objects[channel]
        pt = props["pt"]
        kept, m = _present_objects(pt, counts)
        used = slice(None) if kept is None else kept  # the present objects, event by event
        pt_kept = pt[used]
        # An event with f = min(m, n_q) objects fills the last f slots. Within each LS, the
        # events are placed in order of decreasing f: then in every slot's row the events
        # that fill the slot come first, and the others (implicit zeros) after them.
        empty_slots = n_q - np.minimum(m, n_q)
        positions, histogram = layout.positions_by(empty_slots, n_q + 1)
        n_props = len(plan.properties[channel])
        slot_stride = n_props * layout.size  # property p of slot k: block row k * n_props + p
        targets, objects = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
        for events, slots, chosen in _quantile_objects(pt_kept, m, n_q):
            targets.append((slots * slot_stride)[:, None] + positions[events])
            objects.append(chosen)
        targets = np.concatenate(targets, axis=None)  # flattened
        objects = np.concatenate(objects, axis=None)
        if kept is not None:
            objects = kept[objects]
        slot_rows = block[row : row + n_props * n_q].reshape(-1)
        for prop in plan.properties[channel]:
            slot_rows[targets] = np.take(props[prop], objects)
            targets += layout.size  # the next property's rows
        # slot k is filled in the events with at most k empty slots
        filled_per_ls = np.cumsum(histogram[:, :n_q], axis=1).T
        explicit[row : row + n_props * n_q] = np.repeat(filled_per_ls, n_props, axis=0)
        # the block row of each output column (in output order: property by property)
        rows[row : row + n_props * n_q] = row + (
            np.arange(n_q) * n_props + np.arange(n_props)[:, None]
        ).reshape(-1)
        row += n_props * n_q
        dense = []
        if channel in plan.momentum_channels:
            event_of_object = np.repeat(np.arange(n_events), m)
            for values in _transverse_momenta(pt_kept, props["phi"][used]):
                dense.append(np.bincount(event_of_object, values, n_events))
            pz = np.sinh(props["eta"][used])
            pz *= pt_kept
            dense.append(np.bincount(event_of_object, pz, n_events))
        if plan.object_counts:
            small_integers[row + len(dense)] = m.max(initial=0) < 2**16
            dense.append(m)
        for values in dense:
            layout.put(block[row], values)
            explicit[row] = layout.n_events
            row += 1
    for name in plan.event_columns:
        layout.put(block[row], ls.event_columns[name])
        explicit[row] = layout.n_events
        row += 1
    return block, explicit, small_integers, rows


def _transverse_momenta(pt, phi):
    """``pt cos(phi)`` and ``pt sin(phi)``, from ``t = tan(phi / 2)``.

    ``cos(phi) = (1 - t^2) / (1 + t^2)`` and ``sin(phi) = 2 t / (1 + t^2)``: one tangent (a
    vectorised function in numpy) instead of a cosine and a sine (computed element by element),
    about twice as fast. The results differ from ``pt * np.cos(phi)`` by a few units in the
    last place of ``pt``. Temporaries are reused: fresh large arrays cost page faults.
    """
    t = np.multiply(phi, 0.5)
    np.tan(t, out=t)
    t_squared = np.multiply(t, t)
    scale = np.add(t_squared, 1.0)
    np.divide(pt, scale, out=scale)  # pt / (1 + t^2)
    px = np.subtract(1.0, t_squared, out=t_squared)
    px *= scale
    py = np.multiply(t, scale, out=t)
    py *= 2.0
    return px, py


def _lerp(low, high, fraction):
    # numpy's percentile interpolation, written the same way for identical rounding.
    difference = high - low
    result = low + difference * fraction
    return np.where(fraction >= 0.5, high - difference * (1 - fraction), result)


def _layout_statistics(block, explicit, layout, plan, small_integers, rows):
    """Statistics of each per-event column over each LS: (n_ls, n_cols * n_stats).

    ``block``, ``explicit``, ``small_integers`` and ``rows`` come from
    :func:`_per_event_block`; ``block`` is modified in place. The block rows marked in
    ``small_integers`` hold integers in ``[0, 2**16)``; the output columns are the block rows
    ``rows``. Rows of LS without events are left as NaN.
    """
    n_ls = layout.n_lumisections
    width = layout.width
    n_cols = block.shape[0]
    n_moments = len(plan.statistics)
    n_stats = n_moments + len(plan.percentiles)
    out = np.full((n_ls, n_cols, n_stats), np.nan)
    counts = layout.n_events
    nonempty = counts > 0
    if not nonempty.any() or n_cols == 0:
        return out.reshape(n_ls, -1)
    cube = block.reshape(n_cols, n_ls, width)
    safe_counts = np.maximum(counts, 1)
    sums = np.empty((n_cols, n_ls))
    squares = np.empty((n_cols, n_ls))
    with_std = "std" in plan.statistics
    with_percentiles = len(plan.percentiles) > 0
    # The prefix sorted for the percentiles is as wide as the most explicit values of the
    # column, so it may also hold zeros (implicit zeros or layout padding): they sort among
    # the values, and the ranks are mapped accordingly (order_statistic below).
    widths = explicit.max(axis=1)
    # Runs of consecutive block rows with the same width (e.g. the properties of a quantile
    # slot) are handled together, one run at a time: its rows stay in cache through the
    # moments and the sort, and there are few numpy calls per chunk (which hold the GIL).
    change = (widths[1:] != widths[:-1]) | (small_integers[1:] != small_integers[:-1])
    bounds = [0, *(np.flatnonzero(change) + 1).tolist(), n_cols]
    if with_std:
        longest = max(stop - start for start, stop in zip(bounds[:-1], bounds[1:]))
        deviation = np.empty(longest * n_ls * width)
        # The first n_events slots of a row hold the LS's values (explicit values, then
        # implicit zeros); the layout padding after them is left out of the deviations.
        padding = None if layout.filled is None else ~layout.filled
    for start, stop in zip(bounds[:-1], bounds[1:]):
        run_width = widths[start]
        # Past the prefix, the rows hold only zeros: implicit zeros and layout padding.
        prefix = cube[start:stop, :, :run_width]
        if n_moments:
            prefix.sum(axis=2, out=sums[start:stop])
        if with_std:
            mean = sums[start:stop] / safe_counts
            d = deviation[: prefix.size].reshape(prefix.shape)
            np.subtract(prefix, mean[:, :, None], out=d)
            if padding is not None:
                np.copyto(d, 0.0, where=padding[:, :run_width])
            np.multiply(d, d, out=d)
            d.sum(axis=2, out=squares[start:stop])
            # the implicit zeros past the prefix: (0 - mean)^2 each
            squares[start:stop] += np.maximum(counts - run_width, 0) * (mean * mean)
        if with_percentiles and run_width > 1:
            if small_integers[start]:
                # object counts below 2**16: numpy's stable sort of uint16 is a radix sort
                prefix[...] = np.sort(prefix.astype(np.uint16), axis=-1, kind="stable")
            else:
                prefix.sort(axis=-1)
    for position, name in enumerate(plan.statistics):
        if name == "mean":
            out[:, :, position] = (sums / safe_counts).T
        else:
            out[:, :, position] = np.sqrt(squares / safe_counts).T
    if with_percentiles:
        negatives = _count_negatives(cube, widths)  # (n_cols, n_ls)
        implicit_zeros = counts[None, :] - explicit  # (n_cols, n_ls)
        virtual = (safe_counts[:, None] - 1) * (plan.percentiles[None, :] / 100.0)
        low_rank = np.floor(virtual).astype(np.int64)
        high_rank = np.minimum(low_rank + 1, safe_counts[:, None] - 1)
        fraction = virtual - low_rank

        def order_statistic(rank):
            # The LS's sorted values: negatives, zeros (implicit ones included), positives;
            # the sorted prefix holds the same, with widths - explicit zeros instead of
            # n_events - explicit: past the LS's zeros, rank r sits at r + widths - n_events.
            rank = rank[None, :, :]  # (1, n_ls, n_ranks)
            below = negatives[:, :, None]
            zeros = implicit_zeros[:, :, None]
            shift = (widths[:, None] - counts[None, :])[:, :, None]
            index = np.where(rank < below, rank, rank + shift)
            index = np.clip(index, 0, width - 1)
            values = np.take_along_axis(cube, index, axis=2)
            is_zero = (rank >= below) & (rank < below + zeros)
            return np.where(is_zero, 0.0, values)

        n_p = len(plan.percentiles)
        values = order_statistic(np.concatenate([low_rank, high_rank], axis=1))
        with np.errstate(invalid="ignore"):  # e.g. infinite values
            result = _lerp(values[..., :n_p], values[..., n_p:], fraction[None])
        out[:, :, n_moments:] = result.transpose(1, 0, 2)
    out[~nonempty] = np.nan
    return out[:, rows].reshape(n_ls, -1)


def _count_negatives(cube, widths):
    """Number of values < 0 in each sorted row prefix ``cube[c, i, :widths[c]]``.

    A binary search in all the rows at once: (n_cols, n_ls).
    """
    n_cols, n_ls, width = cube.shape
    flat = cube.reshape(-1)
    row_start = np.arange(n_cols * n_ls) * width
    low = np.zeros(n_cols * n_ls, dtype=np.int64)  # the answer lies in [low, high]
    high = np.repeat(widths, n_ls)
    while True:
        searching = low < high
        if not searching.any():
            return low.reshape(n_cols, n_ls)
        middle = (low + high) // 2
        negative = flat[row_start + np.minimum(middle, width - 1)] < 0
        low = np.where(searching & negative, middle + 1, low)
        high = np.where(searching & ~negative, middle, high)


def _chunk_features(ls, plan):
    """Features of every LS of ``ls`` (one chunk, a :class:`_Chunk` or :class:`_LazyChunk`), in
    its LS order."""
    ls = ls.build()
    n_events = ls.n_events
    layout = _Layout(n_events)
    block, explicit, small_integers, rows = _per_event_block(ls, plan, layout)
    stats = _layout_statistics(block, explicit, layout, plan, small_integers, rows)
    del block
    if not plan.lumisection_columns:
        return stats
    n_event_columns = len(plan.event_columns)
    n_stats = len(plan.statistics) + len(plan.percentiles)
    split = stats.shape[1] - n_event_columns * n_stats
    return np.concatenate(
        [stats[:, :split], n_events[:, None].astype(np.float64), stats[:, split:]], axis=1
    )
