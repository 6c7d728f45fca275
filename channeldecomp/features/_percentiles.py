"""Per-lumisection features from per-event physics objects: the LumiSectionPercentiles estimator.

The recipe follows the original channel-decomposition study (Borisyak et al.): per event and
channel, the objects sorted by ascending pT give N "quantile objects" q1..qN (ranks ``0, M//N,
2M//N, ..., M-1``), plus the event's physical momentum sums and object count; per LS, every such
per-event column is summarised by its mean, population standard deviation and percentiles.

This module holds the estimator: its parameters, the output columns, and the dispatch of chunks
of lumisections (:mod:`._chunks`, in parallel with joblib) through the two stages of the
numeric kernels, :func:`~._per_event.lumisection_blocks` (the per-event columns, placed LS by
LS) and :func:`~._per_lumisection.per_lumisection_stage` (statistics over the events of each
LS).
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, effective_n_jobs
from sklearn import get_config
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from .._validation import _describe
from ._chunks import _Chunk, _chunks_by_size, _LazyChunk
from ._lumisections import LumiSections
from ._per_event import lumisection_blocks
from ._per_lumisection import STATISTICS, per_lumisection_stage, statistic_names
from ._rows import ContainerTransformerMixin, output_is_pandas

__all__ = ["LumiSectionPercentiles", "LUMISECTION_PREFIX"]

#: Prefix of the lumisection-level output columns (``ls__n_events``, ``ls__luminosity_mean``).
LUMISECTION_PREFIX = "ls"
_MOMENTUM = ("px", "py", "pz")


def _named_statistics():
    """The statistics chosen by name (the percentiles have their own parameter)."""
    return [name for name, statistic in STATISTICS.items() if statistic.output_name is None]


class LumiSectionPercentiles(ContainerTransformerMixin, TransformerMixin, BaseEstimator):
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

    _parameter_constraints: dict = {
        "n_quantiles": [Interval(Integral, 1, None, closed="left")],
        "percentiles": ["array-like", None],
        "statistics": ["array-like", str, None],
        "channels": ["array-like", str, None],
        "properties": ["array-like", dict, str, None],
        "momentum": ["boolean"],
        "object_counts": ["boolean"],
        "event_columns": ["array-like", str, None],
        "lumisection_columns": ["boolean"],
        "empty_value": [Real],
        "n_jobs": [Integral, None],
        "chunk_size": [Interval(Integral, 1, None, closed="left")],
    }

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
    def _statistics(self):
        """``(name, arguments)`` of each statistic of ``STATISTICS``, in output order.

        Checks what ``_parameter_constraints`` cannot: the values of ``percentiles`` and the
        names in ``statistics``.
        """
        percentiles = np.asarray(
            [] if self.percentiles is None else list(self.percentiles), dtype=float
        )
        if percentiles.ndim != 1 or np.any(~np.isfinite(percentiles)):
            raise ValueError(f"percentiles must be a list of numbers; got {self.percentiles!r}.")
        if np.any((percentiles < 0) | (percentiles > 100)):
            raise ValueError(f"percentiles must lie in [0, 100]; got {self.percentiles!r}.")
        names = statistic_names([("percentile", percentiles)])
        if len(set(names)) != len(names):
            raise ValueError(f"percentiles has duplicates: {self.percentiles!r}.")
        statistics = [] if self.statistics is None else list(self.statistics)
        if isinstance(self.statistics, str):
            statistics = [self.statistics]
        unknown = [s for s in statistics if s not in _named_statistics()]
        if unknown:
            raise ValueError(
                f"Unknown statistic(s) {_describe(unknown)}; choose among "
                f"{_describe(_named_statistics())} (percentiles go in the percentiles parameter)."
            )
        if len(set(statistics)) != len(statistics):
            raise ValueError(f"statistics has duplicates: {self.statistics!r}.")
        if not statistics and not len(percentiles):
            raise ValueError("Both statistics and percentiles are empty: nothing to compute.")
        spec = [(name, None) for name in statistics]
        if len(percentiles):
            spec.append(("percentile", percentiles))
        return spec

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
    @_fit_context(prefer_skip_nested_validation=True)
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
        n_quantiles, statistics = self.n_quantiles, self._statistics()
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
        stat_names = statistic_names(statistics)
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
        if not get_config()["skip_parameter_validation"]:
            # the parameters are read again here (n_jobs, chunk_size, empty_value, ...)
            self._validate_params()
        self._check_input(X)
        statistics = self._statistics()
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

        plan = self._kernel_plan(statistics)
        result = np.empty((len(X), len(self.feature_names_out_)), dtype=np.float64)
        n_jobs = effective_n_jobs(self.n_jobs)
        chunk_size = self.chunk_size
        if n_jobs > 1:
            # at least a few chunks per job, so that the jobs stay busy
            chunk_size = min(chunk_size, max(1, X.n_events_total // (4 * n_jobs)))
        chunks = _chunks_by_size(X.n_events, chunk_size)
        if len(chunks) <= 1 or n_jobs == 1:
            for indices in chunks:
                result[indices] = _transform_chunk(_Chunk(X, indices, plan), plan)
        else:
            # Worker threads copy their chunks themselves, in parallel; a process backend, when
            # the user picks one, receives only the chunk's arrays (see _LazyChunk).
            parts = Parallel(n_jobs=self.n_jobs, prefer="threads")(
                delayed(_transform_chunk)(_LazyChunk(X, indices, plan), plan) for indices in chunks
            )
            for indices, part in zip(chunks, parts):
                result[indices] = part
        empty = X.n_events == 0
        if empty.any():
            keep = np.ones(result.shape[1], dtype=bool)
            if self.lumisection_columns:
                keep[self.feature_names_out_ == f"{LUMISECTION_PREFIX}__n_events"] = False
            result[np.ix_(empty, keep)] = self.empty_value
        if output_is_pandas(self):
            return pd.DataFrame(result, index=X.keys, columns=self.feature_names_out_.tolist())
        return result

    def _kernel_plan(self, statistics=None):
        """What the kernels compute (fitted): a :class:`_Plan`, which pickles to workers."""
        return _Plan(
            channels=self.channels_,
            properties=self.properties_,
            momentum_channels=self.momentum_channels_,
            object_counts=bool(self.object_counts),
            event_columns=self.event_columns_,
            n_quantiles=int(self.n_quantiles),
            statistics=self._statistics() if statistics is None else statistics,
            lumisection_columns=bool(self.lumisection_columns),
            per_event_columns=self.per_event_columns_,
        )


class _Plan:
    """What to compute, in output order; plain attributes so it pickles to joblib workers."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


def _transform_chunk(chunk, plan):
    """Features of the lumisections of ``chunk`` (a :class:`_Chunk` or :class:`_LazyChunk`), in
    its LS order: the per-event stage, then the per-lumisection stage."""
    chunk = chunk.build()
    # the per-event columns, written LS by LS into one block
    (block,) = lumisection_blocks(chunk, plan, [(None, chunk.n_events)])[0]
    return per_lumisection_stage(block, plan)  # the statistics over the events of each LS
