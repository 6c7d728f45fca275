"""Chunks of lumisections for the feature kernels: grouping by size, copying their arrays.

:class:`LumiSectionPercentiles` handles the lumisections (LS) of its input a chunk at a time:
:func:`_chunks_by_size` groups LS of similar size (so that the padded per-LS layout of the
per-event stage wastes little), and :class:`_Chunk` copies the arrays of a chunk, LS by LS.
"""

from __future__ import annotations

import numpy as np


class _Chunk:
    """The input arrays of some lumisections, as needed by the two stages of the kernels
    (:func:`~channeldecomp.features._per_event.lumisection_blocks`, then
    :func:`~channeldecomp.features._per_lumisection.per_lumisection_stage`).

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
