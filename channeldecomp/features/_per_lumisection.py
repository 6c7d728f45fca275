"""The per-lumisection stage of the feature kernels: statistics over the events of each LS.

Each per-event column of the per-event stage (:mod:`._per_event`) is summarised over the events
of each lumisection (LS) by its mean, population standard deviation and percentiles (linear
interpolation, numpy's default method). The padded block is reduced along the events a few
rows at a time, in cache (mean, std; the properties of one quantile slot, stored side by side,
together); for the percentiles only the prefix of each row that holds values is sorted, and the
ranks are shifted past the zeros that are counted rather than stored.
"""

from __future__ import annotations

import numpy as np


def per_lumisection_stage(events, plan):
    """The per-lumisection stage: the statistics of every per-event column over each LS.

    Parameters
    ----------
    events : _EventBlock
        The output of :func:`~channeldecomp.features._per_event.per_event_stage`; its values
        are sorted in place.
    plan : _Plan
        What to compute: ``statistics``, ``percentiles``, ``event_columns`` and
        ``lumisection_columns``.

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
        events.values, events.explicit, layout, plan, events.small_integers, events.rows
    )
    if not plan.lumisection_columns:
        return stats
    n_event_columns = len(plan.event_columns)
    n_stats = len(plan.statistics) + len(plan.percentiles)
    split = stats.shape[1] - n_event_columns * n_stats
    return np.concatenate(
        [stats[:, :split], layout.n_events[:, None].astype(np.float64), stats[:, split:]], axis=1
    )


def _lerp(low, high, fraction):
    # numpy's percentile interpolation, written the same way for identical rounding.
    difference = high - low
    result = low + difference * fraction
    return np.where(fraction >= 0.5, high - difference * (1 - fraction), result)


def _layout_statistics(block, explicit, layout, plan, small_integers, rows):
    """Statistics of each per-event column over each LS: (n_ls, n_cols * n_stats).

    ``block``, ``explicit``, ``small_integers`` and ``rows`` are those of an
    :class:`~channeldecomp.features._per_event._EventBlock`; ``block`` is modified in place. The
    block rows marked in ``small_integers`` hold integers in ``[0, 2**16)``; the output columns
    are the block rows ``rows``. Rows of LS without events are left as NaN.
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
