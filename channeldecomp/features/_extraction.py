"""Per-lumisection features of many NanoAOD files on Dask, equal to the in-memory result.

The work is a Dask graph of three kinds of tasks:

1. *inspect*, one per file: open it, count its entries, check its branches, and read only the
   ``run`` and ``luminosityBlock`` branches to learn which lumisections (LS) each chunk of
   ``chunk_size`` entries holds. The client then knows which LS lie in one chunk only (most of
   them: NanoAOD files are written LS after LS) and which are shared by several chunks or files.
2. *read*, one per chunk: read the branches, sort the events by ``(run, lumi, event)``; the LS
   of this chunk alone are finished here (their per-event columns written straight into
   their blocks, :func:`~._per_event.lumisection_blocks`, then
   :func:`~._per_lumisection.per_lumisection_stage`: the code of
   :meth:`LumiSectionPercentiles.transform`); the events of the shared LS get one row of
   per-event columns each, split off in one piece per merge task.
3. *merge*, one per group of shared LS (those held by the same chunks, at most ``chunk_size``
   events per task): gather the pieces, sort them by ``(run, lumi, event)``, check that no
   event is in two files, and reduce them with the same per-lumisection code.

Every LS is thus reduced exactly once, from all its events sorted the same way whatever the
split into files and chunks, and a task holds at most about ``chunk_size`` events: memory per
worker does not grow with the dataset. Tasks are pure functions of their inputs, so a task
lost with its worker is recomputed by Dask with the same result.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import OrderedDict, defaultdict

import numpy as np
import pandas as pd
from sklearn.base import clone

from .._validation import _describe
from .._version import __version__
from ._chunks import _chunks_by_size
from ._lumisections import LumiSections, _ranges
from ._per_event import _EventRows, lumisection_block, lumisection_blocks
from ._per_lumisection import per_lumisection_stage
from ._percentiles import LumiSectionPercentiles
from ._readers import (
    _expand_files,
    _import_hep,
    _import_optional,
    _nanoaod_branches,
    _normalise_names,
)

__all__ = ["extract_features", "extraction_cluster", "read_features"]

logger = logging.getLogger(__name__)

#: Key of the metadata in the Parquet schema and in ``DataFrame.attrs``.
METADATA_KEY = "channeldecomp"
_LUMI_FACTOR = 2**32  # (run, lumi) as one int64: run * 2**32 + lumi (both below 2**31)


# ---------------------------------------------------------------------- what to read
class _Source:
    """What every task reads: the files, the tree and the branches (pickles to workers)."""

    def __init__(self, paths, tree, keys, channel_branches, event_branches):
        self.paths = paths
        self.tree = tree
        self.keys = keys  # branch names of run, lumi, event
        self.channel_branches = channel_branches  # {channel: {property: branch}}
        self.event_branches = event_branches  # {event column: branch}

    @property
    def branches(self):
        names = [*self.keys, *self.event_branches.values()]
        for names_of_channel in self.channel_branches.values():
            names += list(names_of_channel.values())
        return list(dict.fromkeys(names))


_OPEN_TREES = OrderedDict()  # (path, tree, file identity) -> (tree, branches, lock), LRU first
_OPEN_TREES_LOCK = threading.Lock()
#: Most branches of the trees kept open by a process, all trees together: the memory of a
#: tree's metadata grows with its branches, so this keeps a few NanoAOD trees (some 1,500
#: branches each) or hundreds of small ones.
_OPEN_TREES_BRANCHES = 10_000
_OPEN_TREES_MAX = 64  # and at most this many trees (one file descriptor each)


def _forget_open_trees():
    """Forget the kept files (they close when no task holds them any more). Done in a forked
    child: there the kept files' descriptors share their offsets with the parent's, and their
    locks may be held by the parent's threads."""
    global _OPEN_TREES_LOCK
    _OPEN_TREES_LOCK = threading.Lock()
    _OPEN_TREES.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_open_trees)


@contextlib.contextmanager
def _opened(uproot, path, tree):
    """The tree (TTree or RNTuple) ``tree`` of the file ``path``, for this thread alone while
    the ``with`` block runs.

    The trees opened last by this process are kept (least recently used out first, within
    :data:`_OPEN_TREES_BRANCHES` branches): reading a tree's metadata costs about as much as
    reading a chunk of its branches, and a worker opens a file to inspect it, then again for
    each chunk it reads. A local file is identified by its size and modification time, so a
    rewritten file is opened again. A local file is read with plain reads in the calling
    thread, not memory-mapped (uproot's default): the pages a kept file had mapped would stay
    in the worker's resident memory, which would then grow with the files read. Such reads
    share the file's offset, hence the lock.
    """
    try:
        status = os.stat(path)
        identity = (status.st_size, status.st_mtime_ns)
    except (OSError, ValueError):  # a URL
        identity = None
    key = (path, tree, identity)
    with _OPEN_TREES_LOCK:
        kept = _OPEN_TREES.get(key)
        if kept is not None:
            _OPEN_TREES.move_to_end(key)
    if kept is None:
        kept = _open_tree(uproot, path, tree, local=identity is not None)
        with _OPEN_TREES_LOCK:
            _OPEN_TREES[key] = kept
            total = sum(n_branches for _, n_branches, _ in _OPEN_TREES.values())
            while len(_OPEN_TREES) > 1 and (
                total > _OPEN_TREES_BRANCHES or len(_OPEN_TREES) > _OPEN_TREES_MAX
            ):
                total -= _OPEN_TREES.popitem(last=False)[1][1]
    events, _, lock = kept
    with lock:
        yield events


def _open_tree(uproot, path, tree, local):
    """``(tree, number of branches, lock)`` of a newly opened file."""
    options = {"handler": uproot.MultithreadedFileSource, "use_threads": False} if local else {}
    file = uproot.open(path, array_cache=None, **options)  # nothing is read twice: no cache
    try:
        events = file[tree]
    except KeyError:
        raise KeyError(
            f"no tree or RNTuple named {tree!r} (it has {_describe(file.keys())})"
        ) from None
    return events, len(events.keys()), threading.Lock()


def _key_code(run, lumi):
    return run.astype(np.int64) * _LUMI_FACTOR + lumi.astype(np.int64)


def _inspect_file(path, tree, keys, chunk_size):
    """Entries, branches and the LS of each chunk of ``path``; an error is returned, not raised."""
    try:
        uproot = _import_hep("uproot")
        with _opened(uproot, path, tree) as events:
            n_entries = int(events.num_entries)
            branches = list(events.keys())
            missing = [name for name in keys[:2] if name not in branches]
            if missing:
                return {"path": path, "branches": branches, "n_entries": n_entries, "chunks": []}
            arrays = events.arrays(list(keys[:2]), library="np")
        code = _key_code(np.asarray(arrays[keys[0]]), np.asarray(arrays[keys[1]]))
    except Exception as error:
        return {"path": path, "error": f"{type(error).__name__}: {error}"}
    if len(code) != n_entries:
        return {"path": path, "error": f"read {len(code)} entries of {n_entries}"}
    chunks = []
    for start in range(0, n_entries, chunk_size):
        stop = min(start + chunk_size, n_entries)
        ls_codes, counts = np.unique(code[start:stop], return_counts=True)
        chunks.append((start, stop, ls_codes, counts))
    return {"path": path, "branches": branches, "n_entries": n_entries, "chunks": chunks}


# ---------------------------------------------------------------------- the read task
class _InvalidValues(ValueError):
    """Values a file holds but LumiSections refuse (raised as they are, never skipped)."""


class _FileChunk:
    """The events of some entries of a file, as :func:`~._per_event.lumisection_blocks` takes
    them."""

    def __init__(self, n_events_total, objects, event_columns):
        self.n_events_total = n_events_total
        self.objects = objects
        self.event_columns = event_columns


def _values(path, branch, array):
    """``array`` as float64; a non-finite value is a ValueError naming the file and branch."""
    values = np.asarray(array, dtype=np.float64)
    # a sum is non-finite when a value is (or when finite values overflow): only then is
    # every value checked, so the common case allocates no mask
    if np.isfinite(values.sum()):
        return values
    finite = np.isfinite(values)
    if not finite.all():
        position = int(np.flatnonzero(~finite)[0])
        raise _InvalidValues(
            f"Branch {branch!r} of {path} holds a non-finite value ({values[position]}); "
            "LumiSections take finite numbers only. Fix the file or leave the branch out."
        )
    return values


def _flat(ak, array):
    """The values of a flat branch as a numpy array (no copy when uproot gave one)."""
    layout = array.layout
    if type(layout).__name__ == "NumpyArray":
        return np.asarray(layout.data)
    return np.asarray(ak.to_numpy(array))


def _jagged(ak, array):
    """``(counts, values)`` of a jagged branch: objects per event and their values, event by
    event. Read from the layout when uproot gave the usual ListOffsetArray of numbers (no
    awkward call per branch: a read task takes many branches)."""
    layout = array.layout
    if type(layout).__name__ == "ListOffsetArray" and type(layout.content).__name__ == (
        "NumpyArray"
    ):
        offsets = np.asarray(layout.offsets.data)
        values = np.asarray(layout.content.data)[offsets[0] : offsets[-1]]
        return np.diff(offsets), values
    counts = np.asarray(ak.to_numpy(ak.num(array, axis=1)), dtype=np.int64)
    return counts, np.asarray(ak.to_numpy(ak.flatten(array, axis=None)))


def _read_events(source, path, start, stop):
    """Keys and :class:`_FileChunk` of the entries ``start:stop`` of ``path``."""
    uproot = _import_hep("uproot")
    with _opened(uproot, path, source.tree) as events:
        arrays = events.arrays(source.branches, entry_start=start, entry_stop=stop, library="ak")
    if len(arrays) != stop - start:
        raise ValueError(f"read {len(arrays)} entries of {stop - start}")
    return _converted(source, path, arrays)


def _converted(source, path, arrays):
    """Keys and :class:`_FileChunk` of the branches ``arrays`` read from ``path``: the kernels'
    float64 arrays, checked."""
    ak = _import_hep("awkward")
    keys = [np.asarray(_flat(ak, arrays[name]), dtype=np.int64) for name in source.keys]
    objects = {}
    for channel, names in source.channel_branches.items():
        counts, pt = _jagged(ak, arrays[names["pt"]])
        counts = counts.astype(np.int64, copy=False)
        properties = {}
        for prop, branch in names.items():
            if branch == names["pt"]:
                values = pt
            else:
                branch_counts, values = _jagged(ak, arrays[branch])
                if not np.array_equal(branch_counts, counts):
                    raise _InvalidValues(
                        f"Branch {branch!r} of {path} has another number of objects per event "
                        f"than {names['pt']!r}; every property needs one value per object."
                    )
            properties[prop] = _values(path, branch, values)
        if properties["pt"].size and properties["pt"].min() < 0:
            raise _InvalidValues(
                f"Branch {names['pt']!r} of {path} has a negative pt ({properties['pt'].min()});"
                " pt must be >= 0 (0 marks an absent object)."
            )
        objects[channel] = (counts, properties)
    columns = {
        name: _values(path, branch, _flat(ak, arrays[branch]))
        for name, branch in source.event_branches.items()
    }
    return keys, _FileChunk(len(arrays), objects, columns)


class _Piece:
    """Per-event rows of some shared LS from one chunk, with their keys and file."""

    def __init__(self, code, event, file_index, rows):
        self.code = code
        self.event = event
        self.file_index = file_index
        self.rows = rows


class _ChunkResult:
    """What a read task returns: features of its own LS, pieces of the shared ones."""

    def __init__(self, file_index, n_events, local, pieces, error=None):
        self.file_index = file_index
        self.n_events = n_events
        self.local = local  # (LS codes, features) or None
        self.pieces = pieces  # {merge task: _Piece}
        self.error = error


def _read_chunk(source, file_index, start, stop, shared, plan, ls_chunk_size, skip_bad_files):
    """The read task: features of the LS only this chunk holds, pieces of the others.

    ``shared`` is ``(codes, merge_ids)``: the sorted codes of this chunk's shared LS and the
    merge task of each.
    """
    path = source.paths[file_index]
    try:
        (run, lumi, event), events = _read_events(source, path, start, stop)
    except _InvalidValues:
        raise
    except Exception as error:
        message = f"{type(error).__name__}: {error}"
        if skip_bad_files:
            return _ChunkResult(file_index, 0, None, {}, error=message)
        raise ValueError(
            f"Cannot read entries {start} to {stop} of {path} ({message}). The file may be "
            "corrupt or truncated: replace it, drop it from the list, or pass "
            "skip_bad_files=True to skip it (it is then listed in the metadata)."
        ) from None
    code = _key_code(run, lumi)
    order = np.lexsort((event, code))
    code, event = code[order], event[order]
    _check_unique_events(code, event, [file_index] * 2, source.paths)
    shared_codes, merge_ids = shared
    position = np.searchsorted(shared_codes, code)
    is_shared = np.zeros(len(code), dtype=bool)
    inside = position < len(shared_codes)
    is_shared[inside] = shared_codes[position[inside]] == code[inside]
    local = ~is_shared
    # the LS of this chunk alone straight into their blocks; the rows of the shared events
    local_codes, groups = _lumisection_groups(order[local], code[local], ls_chunk_size)
    shared_order = order[is_shared]
    blocks, rows = lumisection_blocks(
        events, plan, [(taken, n_events) for _, taken, n_events in groups], rest=shared_order
    )
    result = local_codes, _reduced(blocks, groups, len(local_codes), plan)
    pieces = {}
    if is_shared.any():
        merge_of_event = merge_ids[position[is_shared]]
        shared_code, shared_event = code[is_shared], event[is_shared]
        by_merge = np.argsort(merge_of_event, kind="stable")
        bounds = np.flatnonzero(np.diff(merge_of_event[by_merge])) + 1
        for part in np.split(by_merge, bounds):
            pieces[int(merge_of_event[part[0]])] = _Piece(
                shared_code[part],
                shared_event[part],
                np.full(len(part), file_index, dtype=np.int64),
                rows.take(part),
            )
    return _ChunkResult(file_index, stop - start, result, pieces)


def _check_unique_events(code, event, file_index, paths):
    """Raise if an event (sorted by LS code and event number) appears twice."""
    same = (code[1:] == code[:-1]) & (event[1:] == event[:-1])
    if not same.any():
        return
    i = int(np.flatnonzero(same)[0])
    run, lumi = divmod(int(code[i]), _LUMI_FACTOR)
    first, second = paths[file_index[i]], paths[file_index[i + 1]]
    where = f"twice in {first}" if first == second else f"in both {first} and {second}"
    raise ValueError(
        f"Event {int(event[i])} of lumisection (run, lumi) = ({run}, {lumi}) is {where}. Each "
        "event must be read once: remove the duplicated file (or its duplicated events) from "
        "the input."
    )


def _lumisection_groups(events, code, ls_chunk_size):
    """The LS of the events ``events`` (their LS codes ``code``, sorted) in groups of similar
    size, as in :meth:`LumiSectionPercentiles.transform`.

    Returns the LS codes and per group ``(LS indices, events of its LS one LS after the
    other, events per LS)``.
    """
    if len(code) == 0:
        return np.zeros(0, dtype=np.int64), []
    first = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    n_events = np.diff(np.r_[first, len(code)])
    groups = [
        (group, events[_ranges(first[group], n_events[group])], n_events[group])
        for group in _chunks_by_size(n_events, ls_chunk_size)
    ]
    return code[first], groups


def _reduced(blocks, groups, n_lumisections, plan):
    """Features of the LS of ``groups`` (see :func:`_lumisection_groups`) from their blocks."""
    features = None
    for block, (group, _, _) in zip(blocks, groups):
        part = per_lumisection_stage(block, plan)
        if features is None:
            features = np.empty((n_lumisections, part.shape[1]))
        features[group] = part
    return features


def _lumisection_features(rows, events, code, plan, ls_chunk_size):
    """Features of the LS of the events ``events`` of ``rows``: (LS codes, features).

    ``events`` indexes ``rows``; ``code`` holds the LS code of each of these events, sorted.
    """
    codes, groups = _lumisection_groups(events, code, ls_chunk_size)
    # one block at a time: a block is freed once reduced
    blocks = (lumisection_block(rows, n, plan, events=taken) for _, taken, n in groups)
    return codes, _reduced(blocks, groups, len(codes), plan)


def _piece_of(result, merge_id):
    return result.pieces.get(merge_id)


def _local_of(result):
    return (result.file_index, result.n_events, result.local, result.error)


def _merge(plan, ls_chunk_size, paths, pieces):
    """The merge task: features of shared LS from the pieces of all the chunks that hold them."""
    pieces = [piece for piece in pieces if piece is not None]
    if not pieces:  # their chunks were skipped (skip_bad_files): this pass is read again
        return np.zeros(0, dtype=np.int64), None
    code = np.concatenate([piece.code for piece in pieces])
    event = np.concatenate([piece.event for piece in pieces])
    file_index = np.concatenate([piece.file_index for piece in pieces])
    rows = _EventRows.concatenate([piece.rows for piece in pieces])
    order = np.lexsort((event, code))
    code, event, file_index = code[order], event[order], file_index[order]
    _check_unique_events(code, event, file_index, paths)
    return _lumisection_features(rows, order, code, plan, ls_chunk_size)


# ---------------------------------------------------------------------- running a graph
def _run_graph(graph, keys, client, progress, stage, placement=None, locations=None):
    """Compute ``keys`` of ``graph`` on ``client`` or Dask's threaded scheduler, in order.

    ``progress(stage, done, total)`` is called as the keys complete. On a cluster,
    ``placement`` (``{key: worker address}``) asks that these tasks run on these workers (the
    scheduler may still move them: ``allow_other_workers``), and ``locations``, a dict, receives
    the worker that holds each key of ``keys``.
    """
    total = len(keys)
    if client is not None:
        from distributed import as_completed

        futures = _submit(client, graph, keys, placement or {})
        index = {future.key: i for i, future in enumerate(futures)}
        results = [None] * total
        done = 0
        for future, result in as_completed(futures, with_results=True):
            results[index[future.key]] = result
            if locations is None:  # the workers may drop the result at once
                future.release()
            done += 1
            if progress is not None:
                progress(stage, done, total)
        if locations is not None:  # the results stay held until their workers are known
            for key, workers in client.who_has(futures).items():
                if workers:
                    locations[key] = workers[0]
            for future in futures:
                future.release()
        return results
    import dask.threaded
    from dask.callbacks import Callback

    wanted = set(keys)
    counter = {"done": 0}

    def posttask(key, result, dsk, state, worker_id):
        if key in wanted and progress is not None:
            counter["done"] += 1
            progress(stage, counter["done"], total)

    with Callback(posttask=posttask):
        return list(dask.threaded.get(graph, keys))


def _submit(client, graph, keys, placement):
    """Futures of ``keys``; the tasks of ``placement`` are submitted first, each group with its
    worker as a loose restriction, and the rest of the graph refers to their futures."""
    by_worker = defaultdict(list)
    for key, worker in placement.items():
        by_worker[worker].append(key)
    placed = {}
    for worker, group in by_worker.items():
        futures = client.get(
            {key: graph[key] for key in group},
            group,
            workers=[worker],
            allow_other_workers=True,
            sync=False,
        )
        placed.update(zip(group, futures))
    rest = {key: _refer(task, placed) for key, task in graph.items() if key not in placed}
    wanted = [key for key in keys if key not in placed]
    # The tasks of a later graph come after those of earlier ones, unless given a higher
    # priority: the rest (e.g. the merges) run as soon as they can, so that what they take is
    # not held until all the placed tasks are done.
    futures = {}
    if wanted:
        futures = dict(zip(wanted, client.get(rest, wanted, sync=False, priority=1)))
    futures.update(placed)
    return [futures[key] for key in keys]


def _refer(task, futures):
    """``task`` with the keys of ``futures`` among its arguments replaced by the futures."""
    if isinstance(task, tuple):
        try:
            if task in futures:
                return futures[task]
        except TypeError:  # holds an unhashable value (an array): not a key
            pass
        return tuple(_refer(part, futures) for part in task)
    if isinstance(task, list):
        return [_refer(part, futures) for part in task]
    return task


def _token(*parts):
    from dask.base import tokenize

    return tokenize(*parts, time.time_ns())


def _inspect(paths, tree, keys, chunk_size, client, progress):
    """The :func:`_inspect_file` of every file, and the worker that inspected each (on a
    cluster; ``{file index: worker address}``): it holds the file open."""
    token = _token(paths, tree, chunk_size)
    graph = {
        (f"channeldecomp-inspect-{token}", i): (_inspect_file, path, tree, keys, chunk_size)
        for i, path in enumerate(paths)
    }
    locations = {}
    inspected = _run_graph(graph, list(graph), client, progress, "inspect", locations=locations)
    return inspected, {key[1]: worker for key, worker in locations.items()}


def _plan_merges(inspected, usable, chunk_size):
    """The read chunks and the merge tasks.

    Returns ``chunks`` (file index, start, stop), per chunk the ``(codes, merge ids)`` of its
    shared LS, and per merge task the chunks it needs.
    """
    chunks, chunk_codes, chunk_counts = [], [], []
    for file_index in usable:
        for start, stop, codes, counts in inspected[file_index]["chunks"]:
            chunks.append((file_index, start, stop))
            chunk_codes.append(codes)
            chunk_counts.append(counts)
    empty = np.zeros(0, dtype=np.int64)
    shared = [(empty, empty)] * len(chunks)
    if not chunks:
        return chunks, shared, []
    codes = np.concatenate(chunk_codes)
    counts = np.concatenate(chunk_counts)
    owner = np.repeat(np.arange(len(chunks)), [len(c) for c in chunk_codes])
    order = np.argsort(codes, kind="stable")
    codes, counts, owner = codes[order], counts[order], owner[order]
    unique, first, n_chunks = np.unique(codes, return_index=True, return_counts=True)
    by_chunk_set = defaultdict(list)  # LS held by the same chunks go to the same merge tasks
    for i in np.flatnonzero(n_chunks > 1).tolist():
        span = slice(first[i], first[i] + n_chunks[i])
        by_chunk_set[tuple(owner[span].tolist())].append((int(unique[i]), int(counts[span].sum())))
    merges = []  # (chunks needed, LS codes)
    for chunk_set, lumisections in by_chunk_set.items():
        group, size = [], 0
        for code, n_events in lumisections:
            if group and size + n_events > chunk_size:
                merges.append((chunk_set, group))
                group, size = [], 0
            group.append(code)
            size += n_events
        merges.append((chunk_set, group))
    per_chunk = defaultdict(list)
    for merge_id, (chunk_set, lumisection_codes) in enumerate(merges):
        for chunk in chunk_set:
            per_chunk[chunk] += [(code, merge_id) for code in lumisection_codes]
    for chunk, pairs in per_chunk.items():
        pairs.sort()
        shared[chunk] = (
            np.asarray([code for code, _ in pairs], dtype=np.int64),
            np.asarray([merge_id for _, merge_id in pairs], dtype=np.int64),
        )
    return chunks, shared, [chunk_set for chunk_set, _ in merges]


def _placement(chunks, opened, nthreads):
    """The worker that reads each chunk: ``{chunk index: worker address}``.

    A chunk goes to the worker that inspected its file (``opened``: ``{file index: worker}``;
    the file is still open there) as long as that keeps the worker within its share of the
    entries, proportional to its threads (``nthreads``: ``{worker: threads}``), counting half
    of the chunk; the others go to the worker furthest below its share, the next chunks of the
    same file after them while that worker has room. Without this the reads would follow the
    inspection, whose short tasks the scheduler does not spread evenly (nor to workers that
    joined after it), and the run would wait for the worker given the most.

    ``chunks`` holds ``(file index, start, stop)``, file after file.
    """
    workers = [worker for worker, threads in nthreads.items() if threads > 0]
    if not workers:
        return {}
    total = sum(stop - start for _, start, stop in chunks)
    all_threads = sum(nthreads[worker] for worker in workers)
    share = {worker: total * nthreads[worker] / all_threads for worker in workers}
    load = dict.fromkeys(workers, 0)

    def has_room(worker, size):
        return worker in load and load[worker] + size / 2 <= share[worker]

    placement, moved, moved_to = {}, [], {}
    for c, (file_index, start, stop) in enumerate(chunks):
        worker = opened.get(file_index)
        if has_room(worker, stop - start):
            placement[c] = worker
            load[worker] += stop - start
        else:
            moved.append(c)
    for c in moved:
        file_index, start, stop = chunks[c]
        worker = moved_to.get(file_index)
        if not has_room(worker, stop - start):
            worker = min(workers, key=lambda w: load[w] / share[w])
        placement[c] = moved_to[file_index] = worker
        load[worker] += stop - start
    return placement


def _extract(
    source, usable, inspected, plan, chunk_size, ls_chunk_size, skip, client, progress, opened
):
    """One pass of read and merge tasks over the files ``usable``.

    On a cluster, the read tasks are spread over the workers by :func:`_placement`: a chunk
    is read by preference on the worker that inspected its file (``opened``: ``{file index:
    worker address}``), where the file is still open, within that worker's share.

    Returns the LS codes, the features, the events per file and the files that failed.
    """
    chunks, shared, merges = _plan_merges(inspected, usable, chunk_size)
    client_threads = client.nthreads() if client is not None and chunks else {}
    token = _token(source.paths, usable, chunk_size)
    read, local = f"channeldecomp-read-{token}", f"channeldecomp-local-{token}"
    piece, merge = f"channeldecomp-piece-{token}", f"channeldecomp-merge-{token}"
    graph = {}
    for c, (file_index, start, stop) in enumerate(chunks):
        graph[(read, c)] = (
            _read_chunk,
            source,
            file_index,
            start,
            stop,
            shared[c],
            plan,
            ls_chunk_size,
            skip,
        )
        graph[(local, c)] = (_local_of, (read, c))
    for m, chunk_set in enumerate(merges):
        for c in chunk_set:
            graph[(piece, c, m)] = (_piece_of, (read, c), m)
        graph[(merge, m)] = (
            _merge,
            plan,
            ls_chunk_size,
            source.paths,
            [(piece, c, m) for c in chunk_set],
        )
    keys = [(local, c) for c in range(len(chunks))] + [(merge, m) for m in range(len(merges))]
    placement = {
        (read, c): worker for c, worker in _placement(chunks, opened, client_threads).items()
    }
    results = _run_graph(graph, keys, client, progress, "features", placement) if keys else []
    n_events = defaultdict(int)
    failed = {}
    parts = []
    for result in results[: len(chunks)]:
        file_index, n, part, error = result
        if error is not None:
            failed[file_index] = error
        n_events[file_index] += n
        parts.append(part)
    parts += results[len(chunks) :]
    return parts, dict(n_events), failed


# ---------------------------------------------------------------------- the public functions
_MALLOC_TRIM = "MALLOC_TRIM_THRESHOLD_"


@contextlib.contextmanager
def extraction_cluster(n_workers=1, **cluster_options):
    """A local Dask cluster for :func:`extract_features`, with worker settings for numpy kernels.

    Requires the ``dask`` extra. Starts a ``distributed.LocalCluster`` of ``n_workers`` worker
    processes, one thread each, without dashboard, and with two of Dask's worker defaults
    changed, which together cost the feature kernels about 60 % more time:

    - the statistical profiler of the workers is off (it samples the worker's stacks all along);
    - the workers keep glibc's own malloc thresholds: Dask starts them with
      ``MALLOC_TRIM_THRESHOLD_`` set (``distributed.nanny.pre-spawn-environ``), which also fixes
      glibc's mmap threshold at 128 KiB, so every large temporary array is a fresh mmap with its
      page faults. The workers then return less freed memory to the system.

    The settings apply to this cluster only; Dask's configuration and this process's
    environment are as before when the cluster has started.

    Parameters
    ----------
    n_workers : int, default=1
        Worker processes.
    **cluster_options
        Other arguments of ``distributed.LocalCluster`` (e.g. ``memory_limit``); they override
        ``threads_per_worker=1``, ``processes=True`` and ``dashboard_address=None``.

    Yields
    ------
    distributed.LocalCluster
        The running cluster, closed when the ``with`` block ends.

    Raises
    ------
    ValueError
        If ``n_workers`` is not a positive integer.

    Examples
    --------
    >>> from distributed import Client
    >>> from channeldecomp.features import extract_features, extraction_cluster
    >>> with extraction_cluster(1) as cluster, Client(cluster) as client:  # doctest: +SKIP
    ...     table = extract_features(files, {"muons": "Muon"}, client=client)
    """
    if not isinstance(n_workers, (int, np.integer)) or isinstance(n_workers, bool) or n_workers < 1:
        raise ValueError(f"n_workers must be a positive integer; got {n_workers!r}.")
    try:
        import dask
        import distributed
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "extraction_cluster needs dask.distributed: pip install 'channeldecomp[dask]'."
        ) from error
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}))
    trim = environ.pop(_MALLOC_TRIM, None)
    # a nanny started earlier in this process left Dask's value in os.environ, which the
    # worker processes would inherit: set aside while the workers start
    inherited = os.environ.get(_MALLOC_TRIM)
    set_aside = trim is not None and inherited is not None and str(inherited) == str(trim)
    options = {
        "n_workers": int(n_workers),
        "threads_per_worker": 1,
        "processes": True,
        "dashboard_address": None,
        **cluster_options,
    }
    settings = {
        "distributed.nanny.pre-spawn-environ": environ,
        "distributed.worker.profile.enabled": False,
    }
    if set_aside:
        del os.environ[_MALLOC_TRIM]
    try:
        with dask.config.set(settings):
            cluster = distributed.LocalCluster(**options)
    finally:
        if set_aside:
            os.environ[_MALLOC_TRIM] = inherited
    with cluster:
        yield cluster


def extract_features(
    files,
    collections,
    *,
    features=None,
    properties=None,
    event_columns=None,
    tree="Events",
    client=None,
    output=None,
    chunk_size=100_000,
    skip_bad_files=False,
    progress=None,
    run="run",
    lumi="luminosityBlock",
    event="event",
    rows_per_file=1_000_000,
):
    """Per-lumisection features of many NanoAOD files, computed on Dask.

    Requires the ``hep`` and ``dask`` extras. The files are read in chunks of ``chunk_size``
    entries by Dask tasks, which compute the per-event rows of
    :class:`~channeldecomp.LumiSectionPercentiles` there; the rows of a lumisection (LS) spread
    over several chunks or files are gathered in one task; every LS is reduced by the same code
    as :meth:`~channeldecomp.LumiSectionPercentiles.transform`, from its events sorted by event
    number. The result equals ``features.fit_transform(read_nanoaod(files, collections, ...))``
    up to the order of floating-point sums (a few units in the last place) for any split of the
    events into files and chunks and any event order. A task holds about ``chunk_size`` events,
    so the memory of a worker does not grow with the dataset.

    Parameters
    ----------
    files : str, path-like or list of them
        ROOT files (TTree or RNTuple), local paths with wildcards (expanded, sorted) or URLs
        that uproot opens (``root://``, ``https://``, ...). The workers must be able to open
        them.
    collections : dict of str to str, or list of str
        ``{channel name: NanoAOD collection}``, e.g. ``{"muons": "Muon", "jets": "Jet"}``.
    features : channeldecomp.LumiSectionPercentiles, default=None
        The transformer whose features to compute (its parameters are used; it is cloned and
        fitted on the files' columns). Default: ``LumiSectionPercentiles()``.
    properties : list of str or dict of str to list of str, default=None
        Object properties to read, as in :func:`read_nanoaod`. Default: those of ``pt``,
        ``eta``, ``phi``, ``mass`` present.
    event_columns : dict of str to str, or list of str, default=None
        Per-event scalar branches, ``{column name: branch}`` or a list of branch names.
    tree : str, default="Events"
        Name of the TTree or RNTuple.
    client : distributed.Client, default=None
        Run on this cluster. Default: Dask's local threaded scheduler in this process.
    output : str or path-like, default=None
        Also write the table to this Parquet file (see :func:`read_features`); with more than
        ``rows_per_file`` LS, a directory of Parquet files named ``part-00000.parquet``, ...
    chunk_size : int, default=100_000
        Entries read by one task, and most events gathered by one merge task (a single LS
        larger than this is gathered whole).
    skip_bad_files : bool, default=False
        Skip the files that cannot be read (corrupt, truncated, missing) instead of raising:
        they are logged and listed in the metadata under ``"skipped_files"``.
    progress : callable, default=None
        Called as ``progress(stage, done, total)`` while tasks finish; ``stage`` is
        ``"inspect"`` (one task per file) or ``"features"`` (one per chunk and merge).
    run, lumi, event : str
        Branch names of the keys (NanoAOD: ``run``, ``luminosityBlock``, ``event``).
    rows_per_file : int, default=1_000_000
        Most LS per Parquet file written to ``output``.

    Returns
    -------
    DataFrame
        One row per LS, indexed by ``(run, lumi)`` in ascending order, one column per feature
        (``features.get_feature_names_out()``). ``attrs["channeldecomp"]`` holds the metadata:
        the transformer and its parameters, the package version, the files read with their
        numbers of events, the skipped files.

    Raises
    ------
    ValueError
        For a missing branch or tree, an unreadable file (unless ``skip_bad_files``), an event
        present twice (the message names both files), no events at all.

    See Also
    --------
    read_features : read the Parquet table back.
    read_nanoaod : the same files into one LumiSections in memory.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, awkward as ak, uproot
    >>> from channeldecomp.features import extract_features
    >>> path = os.path.join(tempfile.mkdtemp(), "nano.root")
    >>> muons = ak.zip({"pt": [[20.0], [], [5.0, 7.0]], "eta": [[0.5], [], [1.0, -1.0]]})
    >>> with uproot.recreate(path) as f:
    ...     tree = f.mktree(
    ...         "Events",
    ...         {"run": "int32", "luminosityBlock": "int32", "event": "int64", "Muon": muons.type},
    ...         field_name=lambda outer, inner: f"{outer}_{inner}",
    ...         counter_name=lambda counted: f"n{counted}",
    ...     )
    ...     tree.extend({"run": np.array([1, 1, 1]), "luminosityBlock": np.array([3, 3, 4]),
    ...                  "event": np.array([10, 11, 12]), "Muon": muons})
    >>> table = extract_features(path, {"muons": "Muon"})
    >>> table.index.tolist(), float(table.loc[(1, 3), "muons__n_objects_mean"])
    ([(1, 3), (1, 4)], 0.5)
    >>> table.attrs["channeldecomp"]["files"][0]["n_events"]
    3
    """
    started = time.perf_counter()
    if features is None:
        features = LumiSectionPercentiles()
    if not isinstance(features, LumiSectionPercentiles):
        raise TypeError(
            "features must be a LumiSectionPercentiles (its parameters say what to compute); "
            f"got {type(features).__name__}."
        )
    if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer; got {chunk_size!r}.")
    collections, event_branches = _normalise_names(collections, event_columns)
    paths = _expand_files(files)
    keys = (run, lumi, event)
    inspected, opened = _inspect(paths, tree, keys, int(chunk_size), client, progress)
    skipped = {}
    for i, info in enumerate(inspected):
        if "error" in info:
            if not skip_bad_files:
                raise ValueError(
                    f"Cannot read {info['path']} ({info['error']}). Replace the file, drop it "
                    "from the list, or pass skip_bad_files=True to skip it (it is then listed "
                    "in the metadata)."
                )
            skipped[i] = info["error"]
    usable = [i for i in range(len(paths)) if i not in skipped]
    if not usable:
        raise ValueError(f"No file could be read among {_describe(paths)}.")
    channel_branches = None
    for i in usable:
        where = f"{paths[i]} (tree {tree!r})"
        branches, names = _nanoaod_branches(
            inspected[i]["branches"], collections, properties, event_branches, keys, where
        )
        if channel_branches is None:
            channel_branches = names
        elif names != channel_branches:
            raise ValueError(
                f"{paths[i]} has other properties than {paths[usable[0]]} "
                f"({names} vs {channel_branches}); pass properties=... to read the same ones."
            )
    source = _Source(paths, tree, keys, channel_branches, event_branches)
    transformer = clone(features).fit(_schema(channel_branches, event_branches))
    plan = transformer._kernel_plan()
    ls_chunk_size = int(transformer.chunk_size)
    while True:
        parts, n_events, failed = _extract(
            source, usable, inspected, plan, int(chunk_size), ls_chunk_size,
            skip_bad_files, client, progress, opened,
        )  # fmt: skip
        if not failed:
            break
        # a file failed after its first chunks were read: read the others again without it,
        # so that none of its events is used
        for file_index, error in failed.items():
            skipped[file_index] = error
        usable = [i for i in usable if i not in failed]
    for file_index, error in skipped.items():
        logger.warning("Skipped %s: %s", paths[file_index], error)
    table = _table(parts, transformer)
    if not len(table):
        raise ValueError(f"No events found in {_describe([paths[i] for i in usable])}.")
    table.attrs[METADATA_KEY] = {
        "channeldecomp_version": __version__,
        "features": {
            "class": type(transformer).__name__,
            "params": _plain(transformer.get_params()),
        },
        "collections": collections,
        "event_columns": event_branches,
        "tree": tree,
        "files": [{"path": paths[i], "n_events": int(n_events.get(i, 0))} for i in usable],
        "skipped_files": [{"path": paths[i], "error": skipped[i]} for i in sorted(skipped)],
        "n_events": int(sum(n_events.values())),
        "n_lumisections": len(table),
        "seconds": time.perf_counter() - started,
    }
    if output is not None:
        write_features(table, output, rows_per_file=rows_per_file)
    return table


def _schema(channel_branches, event_branches):
    """An LS without events with the channels, properties and event columns to read."""
    empty = np.zeros(0)
    objects = {
        channel: (empty, {prop: empty for prop in names})
        for channel, names in channel_branches.items()
    }
    columns = {name: empty for name in event_branches}
    return LumiSections.from_arrays([0], [0], [0], objects, event_columns=columns or None)


def _table(parts, transformer):
    parts = [part for part in parts if part is not None and part[1] is not None]
    codes = [code for code, _ in parts]
    names = transformer.get_feature_names_out().tolist()
    if not codes:
        values = np.zeros((0, len(names)))
        code = np.zeros(0, dtype=np.int64)
    else:
        code = np.concatenate(codes)
        values = np.concatenate([values for _, values in parts])
        order = np.argsort(code, kind="stable")
        code, values = code[order], values[order]
    run, lumi = np.divmod(code, _LUMI_FACTOR)
    index = pd.MultiIndex.from_arrays([run, lumi], names=["run", "lumi"])
    return pd.DataFrame(values, index=index, columns=names)


def _plain(value):
    """``value`` with tuples and numpy scalars/arrays made JSON-friendly."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value


def write_features(table, path, *, rows_per_file=1_000_000):
    """Write a feature table to Parquet, with its ``attrs["channeldecomp"]`` metadata.

    Parameters
    ----------
    table : DataFrame
        Indexed by ``(run, lumi)``, e.g. the result of :func:`extract_features`.
    path : str or path-like
        A ``.parquet`` file; with more than ``rows_per_file`` rows, a directory of Parquet
        files ``part-00000.parquet``, ``part-00001.parquet``, ...
    rows_per_file : int, default=1_000_000
        Most rows per file.

    Returns
    -------
    path : str
    """
    import json

    pa = _import_extra("pyarrow")
    import pyarrow.parquet as pq

    metadata = json.dumps(table.attrs.get(METADATA_KEY, {}))
    path = os.fspath(path)

    def write(part, target):
        arrow = pa.Table.from_pandas(part, preserve_index=True)
        schema_metadata = dict(arrow.schema.metadata or {})
        schema_metadata[METADATA_KEY.encode()] = metadata.encode()
        pq.write_table(arrow.replace_schema_metadata(schema_metadata), target)

    if len(table) <= rows_per_file:
        if os.path.isdir(path):
            raise ValueError(f"{path} is a directory; give a file name such as features.parquet.")
        write(table, path)
        return path
    os.makedirs(path, exist_ok=True)
    stale = [name for name in os.listdir(path) if name.startswith("part-")]
    for name in stale:  # parts of an earlier table written here
        os.remove(os.path.join(path, name))
    for number, start in enumerate(range(0, len(table), rows_per_file)):
        write(
            table.iloc[start : start + rows_per_file],
            os.path.join(path, f"part-{number:05d}.parquet"),
        )
    return path


def read_features(path):
    """Read a feature table written by :func:`extract_features` (``output=``).

    Parameters
    ----------
    path : str or path-like
        The Parquet file, or the directory of Parquet files of a large table.

    Returns
    -------
    DataFrame
        The table, indexed by ``(run, lumi)``, with its metadata in
        ``attrs["channeldecomp"]`` (the transformer's parameters, the package version, the
        files read with their numbers of events, the skipped files).

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> from channeldecomp.features import read_features, write_features
    >>> table = pd.DataFrame(
    ...     {"muons__pt_q5_mean": [30.0, 31.5]},
    ...     index=pd.MultiIndex.from_tuples([(1, 1), (1, 2)], names=["run", "lumi"]),
    ... )
    >>> table.attrs["channeldecomp"] = {"n_lumisections": 2}
    >>> path = write_features(table, os.path.join(tempfile.mkdtemp(), "features.parquet"))
    >>> back = read_features(path)
    >>> back.equals(table), back.attrs["channeldecomp"]
    (True, {'n_lumisections': 2})
    """
    import json

    _import_extra("pyarrow")
    import pyarrow.parquet as pq

    path = os.fspath(path)
    if os.path.isdir(path):
        files = sorted(
            os.path.join(path, name) for name in os.listdir(path) if name.endswith(".parquet")
        )
        if not files:
            raise ValueError(f"The directory {path} holds no .parquet file.")
    elif os.path.exists(path):
        files = [path]
    else:
        raise FileNotFoundError(f"No feature table at {path}.")
    tables = [pq.read_table(name) for name in files]
    frame = pd.concat([t.to_pandas() for t in tables]) if len(tables) > 1 else tables[0].to_pandas()
    raw = (tables[0].schema.metadata or {}).get(METADATA_KEY.encode())
    frame.attrs[METADATA_KEY] = json.loads(raw) if raw else {}
    return frame


def _import_extra(module):
    return _import_optional(module, "dask", "Parquet feature tables need")
