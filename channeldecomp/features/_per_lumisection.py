"""The per-lumisection stage of the feature kernels: statistics over the events of each LS.

Each per-event column of the per-event stage (:mod:`._per_event`) is summarised over the events
of each lumisection (LS) by its mean, population standard deviation and percentiles (linear
interpolation, numpy's default method). The padded block is reduced along the events a few
rows at a time, in cache (mean, std; the properties of one quantile slot, stored side by side,
together); for the percentiles only the prefix of each row that holds values is sorted, and the
ranks are shifted past the zeros that are counted rather than stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np


class _Statistic(NamedTuple):
    """One statistic of a per-event column over the events of a lumisection.

    Attributes
    ----------
    needs : tuple of str
        What the reduction pass prepares for it (see :class:`_Reduced`): ``"sum"``,
        ``"squared_deviations"`` (which needs ``"sum"``) or ``"sorted"``.
    compute : callable
        ``compute(reduced)`` gives the statistic, shape (n_columns, n_lumisections), from a
        :class:`_Reduced`; for a statistic with arguments, ``compute(reduced, arguments)`` gives
        shape (n_columns, n_lumisections, len(arguments)).
    output_name : callable or None
        For a statistic with arguments (one output column per argument, e.g. the percentiles):
        ``output_name(argument)`` is the suffix of its output column. None: the statistic's name
        is the suffix.
    """

    needs: tuple
    compute: Callable
    output_name: Callable | None = None


def _linear_percentiles(reduced, percentiles):
    """Percentiles with linear interpolation between order statistics (numpy's default)."""
    virtual = (reduced.count[:, None] - 1) * (percentiles[None, :] / 100.0)
    low_rank = np.floor(virtual).astype(np.int64)
    high_rank = np.minimum(low_rank + 1, reduced.count[:, None] - 1)
    fraction = virtual - low_rank
    n_p = len(percentiles)
    values = reduced.order_statistic(np.concatenate([low_rank, high_rank], axis=1))
    with np.errstate(invalid="ignore"):  # e.g. infinite values
        return _lerp(values[..., :n_p], values[..., n_p:], fraction[None])


def _lerp(low, high, fraction):
    # numpy's percentile interpolation, written the same way for identical rounding.
    difference = high - low
    result = low + difference * fraction
    return np.where(fraction >= 0.5, high - difference * (1 - fraction), result)


#: The statistics over the events of an LS, by name. ``LumiSectionPercentiles(statistics=...)``
#: takes the names of those without arguments; ``percentiles=...`` gives the arguments of
#: ``"percentile"``. Adding a statistic is adding an entry.
STATISTICS = {
    "mean": _Statistic(("sum",), lambda reduced: reduced.sum / reduced.count),
    "std": _Statistic(  # population standard deviation
        ("sum", "squared_deviations"),
        lambda reduced: np.sqrt(reduced.squared_deviations / reduced.count),
    ),
    "percentile": _Statistic(
        ("sorted",), _linear_percentiles, output_name=lambda percentile: f"p{float(percentile):g}"
    ),
}


def statistic_names(statistics):
    """Output suffixes of ``statistics``, a list of ``(name, arguments)`` of :data:`STATISTICS`
    (``arguments`` None for a statistic without), in order."""
    names = []
    for name, arguments in statistics:
        output_name = STATISTICS[name].output_name
        names += [name] if arguments is None else [output_name(a) for a in arguments]
    return names


def per_lumisection_stage(events, plan):
    """The per-lumisection stage: the statistics of every per-event column over each LS.

    Parameters
    ----------
    events : _EventBlock
        A block of :func:`~channeldecomp.features._per_event.lumisection_blocks` or
        :func:`~channeldecomp.features._per_event.lumisection_block`; its values are sorted
        in place.
    plan : _Plan
        What to compute: ``statistics`` (a list of ``(name, arguments)`` of
        :data:`STATISTICS`, in output order), ``event_columns`` and ``lumisection_columns``.

    Returns
    -------
    ndarray of shape (n_lumisections, n_features_out)
        One row per LS of the chunk, in its order; the columns in output order, with the number
        of events per LS (``ls__n_events``) before the statistics of the per-event scalar
        columns when ``plan.lumisection_columns``. The statistics of an LS without events are
        NaN.
    """
    layout = events.layout
    stats = _layout_statistics(
        events.values, events.explicit, layout, plan.statistics, events.small_integers, events.rows
    )
    if not plan.lumisection_columns:
        return stats
    n_stats = len(statistic_names(plan.statistics))
    split = stats.shape[1] - len(plan.event_columns) * n_stats
    return np.concatenate(
        [stats[:, :split], layout.n_events[:, None].astype(np.float64), stats[:, split:]], axis=1
    )


class _Reduced:
    """What the reduction pass prepared for the statistics of a chunk's per-event columns.

    Attributes
    ----------
    count : ndarray of int64, shape (n_lumisections,)
        Events per LS (at least 1: an LS without events gets NaN statistics in the end).
    sum : ndarray of shape (n_columns, n_lumisections) or None
        Sum of the values of each column in each LS (when a statistic needs ``"sum"``).
    squared_deviations : ndarray of shape (n_columns, n_lumisections) or None
        Sum of the squared deviations from the mean (when needed).
    """

    def __init__(self, cube, explicit, widths, n_events, count):
        self.count = count
        self.sum = None
        self.squared_deviations = None
        self._cube = cube
        self._explicit = explicit
        self._widths = widths
        self._n_events = n_events
        self._negatives = None

    def order_statistic(self, rank):
        """The value of rank ``rank`` (0-based, ascending), shape (n_lumisections, n_ranks), in
        every column and LS: (n_columns, n_lumisections, n_ranks). Needs ``"sorted"``."""
        # The LS's sorted values: negatives, zeros (implicit ones included), positives; the
        # sorted prefix holds the same, with widths - explicit zeros instead of n_events -
        # explicit: past the LS's zeros, rank r sits at r + widths - n_events.
        cube, widths, counts = self._cube, self._widths, self._n_events
        if self._negatives is None:
            self._negatives = _count_negatives(cube, widths)  # (n_cols, n_ls)
        implicit_zeros = counts[None, :] - self._explicit  # (n_cols, n_ls)
        rank = rank[None, :, :]  # (1, n_ls, n_ranks)
        below = self._negatives[:, :, None]
        zeros = implicit_zeros[:, :, None]
        shift = (widths[:, None] - counts[None, :])[:, :, None]
        index = np.where(rank < below, rank, rank + shift)
        index = np.clip(index, 0, cube.shape[2] - 1)
        values = np.take_along_axis(cube, index, axis=2)
        is_zero = (rank >= below) & (rank < below + zeros)
        return np.where(is_zero, 0.0, values)


def _layout_statistics(block, explicit, layout, statistics, small_integers, rows):
    """Statistics of each per-event column over each LS: (n_ls, n_cols * n_stats).

    ``block``, ``explicit``, ``small_integers`` and ``rows`` are those of an
    :class:`~channeldecomp.features._per_event._EventBlock`; ``block`` is modified in place. The
    block rows marked in ``small_integers`` hold integers in ``[0, 2**16)``; the output columns
    are the block rows ``rows``, each with the statistics ``statistics`` (``(name, arguments)``
    of :data:`STATISTICS`). Rows of LS without events are left as NaN.
    """
    n_ls = layout.n_lumisections
    width = layout.width
    n_cols = block.shape[0]
    n_stats = len(statistic_names(statistics))
    out = np.full((n_ls, n_cols, n_stats), np.nan)
    counts = layout.n_events
    nonempty = counts > 0
    if not nonempty.any() or n_cols == 0:
        return out.reshape(n_ls, -1)
    needs = {need for name, _ in statistics for need in STATISTICS[name].needs}
    cube = block.reshape(n_cols, n_ls, width)
    # The prefix sorted for the order statistics is as wide as the most explicit values of the
    # column, so it may also hold zeros (implicit zeros or layout padding): they sort among
    # the values, and the ranks are mapped accordingly (_Reduced.order_statistic).
    widths = explicit.max(axis=1)
    reduced = _Reduced(cube, explicit, widths, counts, np.maximum(counts, 1))
    with_sum = "sum" in needs
    with_deviations = "squared_deviations" in needs
    with_sort = "sorted" in needs
    if with_sum:
        reduced.sum = np.empty((n_cols, n_ls))
    # Runs of consecutive block rows with the same width (e.g. the properties of a quantile
    # slot) are handled together, one run at a time: its rows stay in cache through the
    # moments and the sort, and there are few numpy calls per chunk (which hold the GIL).
    change = (widths[1:] != widths[:-1]) | (small_integers[1:] != small_integers[:-1])
    bounds = [0, *(np.flatnonzero(change) + 1).tolist(), n_cols]
    if with_deviations:
        reduced.squared_deviations = np.empty((n_cols, n_ls))
        longest = max(stop - start for start, stop in zip(bounds[:-1], bounds[1:]))
        deviation = np.empty(longest * n_ls * width)
        # The first n_events slots of a row hold the LS's values (explicit values, then
        # implicit zeros); the layout padding after them is left out of the deviations.
        padding = None if layout.filled is None else ~layout.filled
    for start, stop in zip(bounds[:-1], bounds[1:]):
        run_width = widths[start]
        # Past the prefix, the rows hold only zeros: implicit zeros and layout padding.
        prefix = cube[start:stop, :, :run_width]
        if with_sum:
            prefix.sum(axis=2, out=reduced.sum[start:stop])
        if with_deviations:
            mean = reduced.sum[start:stop] / reduced.count
            d = deviation[: prefix.size].reshape(prefix.shape)
            np.subtract(prefix, mean[:, :, None], out=d)
            if padding is not None:
                np.copyto(d, 0.0, where=padding[:, :run_width])
            np.multiply(d, d, out=d)
            squares = reduced.squared_deviations[start:stop]
            d.sum(axis=2, out=squares)
            # the implicit zeros past the prefix: (0 - mean)^2 each
            squares += np.maximum(counts - run_width, 0) * (mean * mean)
        if with_sort and run_width > 1:
            if small_integers[start]:
                # object counts below 2**16: numpy's stable sort of uint16 is a radix sort
                prefix[...] = np.sort(prefix.astype(np.uint16), axis=-1, kind="stable")
            else:
                prefix.sort(axis=-1)
    position = 0
    for name, arguments in statistics:
        compute = STATISTICS[name].compute
        if arguments is None:
            out[:, :, position] = compute(reduced).T
            position += 1
        else:
            out[:, :, position : position + len(arguments)] = compute(reduced, arguments).transpose(
                1, 0, 2
            )
            position += len(arguments)
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
