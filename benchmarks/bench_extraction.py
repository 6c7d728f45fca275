"""End-to-end feature extraction on Dask against reading the same branches with uproot alone.

The data: NanoAOD-like ROOT files written to a temporary directory, events in lumisections
(LS) of 500-1500 events written LS after LS and cut into files of equal size (so LS straddle
file boundaries, as in real NanoAOD), three collections (Muon, Photon, Jet: Poisson means 2, 1,
4 objects; pt, eta, phi, mass as float32) and one per-event float (``fixedGridRhoAll``).

Measured, in one run:

- the floor: reading the same branches with uproot alone (``TTree.arrays``, file after file, in
  this process);
- ``extract_features`` on a ``LocalCluster`` of 1 worker process, then of 2 (one thread each),
  the time from submitting to the returned table (cluster start-up excluded; the workers are
  warmed by reading the first file, as the floor is);
- peak memory of the worker (its ``ru_maxrss``; a fresh 1-worker cluster per size) at 1x and
  4x the data, against the same worker's resident memory before the run;
- events/s; and the agreement with the in-memory
  ``LumiSectionPercentiles().fit_transform(read_nanoaod(...))`` on the first two files.

Each timing is the fastest of ``--repeats`` runs (default 5), the floor's as well: the machines
these run on are shared, and a run slowed by another job says nothing about the code. Before
each run on a cluster the workers close the files they keep open, so every run opens every file.

Usage::

    python benchmarks/bench_extraction.py            # 1,000,000 events in 20 files; 4x for memory
    python benchmarks/bench_extraction.py --quick    # 60,000 events in 4 files
    python benchmarks/bench_extraction.py --stages   # the read tasks' stages, in one process
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

COLLECTIONS = {"muons": "Muon", "photons": "Photon", "jets": "Jet"}
MEAN_OBJECTS = {"Muon": 2.0, "Photon": 1.0, "Jet": 4.0}
PROPERTIES = ("pt", "eta", "phi", "mass")


def write_files(directory, n_events, n_files, seed=0, prefix="nano", run=355_100):
    """Write ``n_events`` events in ``n_files`` NanoAOD-like files; return their paths."""
    import awkward as ak
    import uproot

    rng = np.random.default_rng(seed)
    sizes = []
    while sum(sizes) < n_events:
        sizes.append(int(rng.integers(500, 1501)))
    sizes[-1] -= sum(sizes) - n_events
    lumi = np.repeat(np.arange(1, len(sizes) + 1), sizes).astype(np.int32)
    paths = []
    for i, rows in enumerate(np.array_split(np.arange(n_events), n_files)):
        n = len(rows)
        branches = {
            "run": np.full(n, run, dtype=np.int32),
            "luminosityBlock": lumi[rows],
            "event": (rows + 1).astype(np.int64),
            "fixedGridRhoAll": rng.uniform(5, 40, n).astype(np.float32),
        }
        for collection, mean in MEAN_OBJECTS.items():
            counts = rng.poisson(mean, n)
            m = int(counts.sum())
            values = {
                "pt": rng.exponential(25, m),
                "eta": rng.normal(0, 1.6, m),
                "phi": rng.uniform(-np.pi, np.pi, m),
                "mass": rng.exponential(3, m),
            }
            for prop in PROPERTIES:
                branches[f"{collection}_{prop}"] = ak.unflatten(
                    values[prop].astype(np.float32), counts
                )
        path = os.path.join(directory, f"{prefix}_{i:03d}.root")
        with uproot.recreate(path) as file:
            types = {
                name: (v.type if isinstance(v, ak.Array) else v.dtype)
                for name, v in branches.items()
            }
            tree = file.mktree("Events", types, counter_name=lambda counted: f"n{counted}")
            tree.extend(branches)
        paths.append(path)
    return paths


def read_with_uproot(paths):
    """The floor: the same branches read with uproot alone, file after file."""
    import uproot

    branches = ["run", "luminosityBlock", "event", "fixedGridRhoAll"]
    branches += [f"{c}_{p}" for c in MEAN_OBJECTS for p in PROPERTIES]
    started = time.perf_counter()
    n = 0
    for path in paths:
        n += len(uproot.open(path)["Events"].arrays(branches, library="ak"))
    return time.perf_counter() - started, n


def best_floor(paths, repeats):
    """The fastest of ``repeats`` floor reads: ``(seconds, events)``."""
    return min(read_with_uproot(paths) for _ in range(repeats))


def _worker_memory():
    """This process's resident and peak resident memory, MB."""
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _reset_peak():
    """Reset VmHWM (Linux: writing 5 to clear_refs), so the peak seen is the run's."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def _forget_open_files():
    """Close the files a worker keeps open, so that a run opens every file as a first run does."""
    from channeldecomp.features import _extraction

    _extraction._forget_open_trees()


def run_on_cluster(paths, n_workers, chunk_size, tuned=False, repeats=1):
    """extract_features on a fresh local cluster: (seconds, table, worker memory MB).

    ``tuned``: the cluster of :func:`channeldecomp.features.extraction_cluster` (worker profiler
    off, glibc's malloc thresholds kept); otherwise a ``LocalCluster`` with Dask's defaults.
    The fastest of ``repeats`` runs on the cluster, each with the files closed first; the peak
    memory is the highest of the runs.
    """
    import distributed

    from channeldecomp.features import extract_features, extraction_cluster

    if tuned:
        cluster = extraction_cluster(n_workers)
    else:
        cluster = distributed.LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
    with cluster as cluster, distributed.Client(cluster) as client:
        client.wait_for_workers(n_workers)
        # warm the workers as the floor is warmed (imports, uproot's classes of the file's
        # streamers, the page cache): their start-up, not the run
        client.run(lambda: __import__("channeldecomp.features"))
        client.run(read_with_uproot, paths[:1])
        before = client.run(_worker_memory)
        client.run(_reset_peak)
        times = []
        for _ in range(repeats):
            client.run(_forget_open_files)
            started = time.perf_counter()
            table = extract_features(paths, COLLECTIONS, client=client, chunk_size=chunk_size)
            times.append(time.perf_counter() - started)
        after = client.run(_worker_memory)
    memory = {
        address: {"before": before[address][0], "peak": after[address][1]} for address in after
    }
    return min(times), table, memory


def time_stages(paths, chunk_size, repeats=7):
    """CPU seconds of the stages of the read tasks, in this process (best of ``repeats``).

    The same functions as a read task of ``extract_features``, chunk by chunk of the files,
    as if no lumisection were shared with another chunk: the read of the branches with uproot
    (the floor's call), its conversion to the kernels' arrays, the per-event stage (the
    per-event columns, written into the blocks of the lumisections) and the per-lumisection
    stage (the statistics of the blocks). Private functions of the package: a breakdown, not
    an interface.
    """
    import uproot

    from channeldecomp import LumiSectionPercentiles
    from channeldecomp.features import _extraction as extraction
    from channeldecomp.features._readers import _nanoaod_branches, _normalise_names

    collections, event_branches = _normalise_names(COLLECTIONS, None)
    keys = ("run", "luminosityBlock", "event")
    tree = uproot.open(paths[0])["Events"]
    _, names = _nanoaod_branches(list(tree.keys()), collections, None, event_branches, keys, "")
    source = extraction._Source(paths, "Events", keys, names, event_branches)
    transformer = LumiSectionPercentiles().fit(extraction._schema(names, event_branches))
    plan, ls_chunk = transformer._kernel_plan(), int(transformer.chunk_size)
    chunks = []
    for index, path in enumerate(paths):
        with extraction._opened(uproot, path, "Events") as events:
            n = events.num_entries
        chunks += [(index, start, min(start + chunk_size, n)) for start in range(0, n, chunk_size)]

    def read():
        arrays = []
        for index, start, stop in chunks:
            with extraction._opened(uproot, paths[index], "Events") as events:
                arrays.append(
                    events.arrays(source.branches, entry_start=start, entry_stop=stop, library="ak")
                )
        return arrays

    read_arrays = read()

    def convert():
        return [
            extraction._converted(source, paths[index], arrays)
            for (index, _, _), arrays in zip(chunks, read_arrays)
        ]

    events = convert()
    groups = []  # per chunk, its LS codes and groups (as if no LS were shared)
    for (run, lumi, event), _ in events:
        code = extraction._key_code(run, lumi)
        order = np.lexsort((event, code))
        groups.append(extraction._lumisection_groups(order, code[order], ls_chunk))

    def per_event():
        return [
            extraction.lumisection_blocks(chunk, plan, [(taken, n) for _, taken, n in g])[0]
            for (_, chunk), (_, g) in zip(events, groups)
        ]

    def per_lumisection(blocks):
        for chunk_blocks, (codes, chunk_groups) in zip(blocks, groups):
            extraction._reduced(chunk_blocks, chunk_groups, len(codes), plan)

    # the per-lumisection stage sorts its blocks in place: fresh blocks for each run, made
    # before its timing starts
    stages = (
        ("read", read, None),
        ("conversion", convert, None),
        ("per-event stage", per_event, None),
        ("per-lumisection stage", per_lumisection, per_event),
    )
    best = {}
    for name, stage, prepare in stages:
        times = []
        for _ in range(repeats):
            arguments = () if prepare is None else (prepare(),)
            started = time.process_time()
            stage(*arguments)
            times.append(time.process_time() - started)
            del arguments
        best[name] = min(times)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--events", type=int, default=None, help="events at 1x")
    parser.add_argument("--files", type=int, default=None, help="files at 1x")
    parser.add_argument("--chunk-size", type=int, default=100_000, help="entries per task")
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="runs of each timing (the floor and each cluster); the fastest counts",
    )
    parser.add_argument(
        "--stages",
        action="store_true",
        help="only time the stages of the read tasks in this process, on 8 files (CPU s)",
    )
    args = parser.parse_args(argv)
    n_events = args.events or (60_000 if args.quick else 1_000_000)
    n_files = args.files or (4 if args.quick else 20)
    chunk_size = min(args.chunk_size, max(1, n_events // n_files))

    from channeldecomp import LumiSectionPercentiles
    from channeldecomp.features import extract_features, read_nanoaod

    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        paths = write_files(directory, n_events, n_files)
        size_mb = sum(os.path.getsize(p) for p in paths) / 2**20
        print(
            f"{n_events:,} events in {n_files} files ({size_mb:,.0f} MB), written in "
            f"{time.perf_counter() - started:.0f} s; chunk_size={chunk_size:,}; "
            f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}"
        )
        read_with_uproot(paths[:1])  # warm the page cache and the imports
        if args.stages:
            stages = time_stages(paths[:8], chunk_size)
            n_staged = n_events * min(8, n_files) // n_files
            print(f"\nstages of the read tasks, {n_staged:,} events, CPU s (best of 7):")
            for name in ("read", "conversion", "per-event stage", "per-lumisection stage"):
                ratio = stages[name] / stages["read"]
                print(f"  {name:<24}{stages[name]:>7.3f}  {ratio:>5.2f}x the read")
            return
        repeats = max(1, args.repeats)
        floor, n_read = best_floor(paths, repeats)
        assert n_read == n_events
        one, table, memory_1x = run_on_cluster(paths, 1, chunk_size, repeats=repeats)
        two, table_2, _ = run_on_cluster(paths, 2, chunk_size, repeats=repeats)
        assert table.equals(table_2)
        one_tuned, table_tuned, _ = run_on_cluster(paths, 1, chunk_size, True, repeats)
        two_tuned, _, _ = run_on_cluster(paths, 2, chunk_size, True, repeats)
        assert table.equals(table_tuned)

        # agreement with the single-process transformer on the first two files
        ls = read_nanoaod(paths[:2], COLLECTIONS)
        reference = LumiSectionPercentiles().set_output(transform="pandas").fit_transform(ls)
        subset = extract_features(paths[:2], COLLECTIONS, chunk_size=chunk_size // 3)
        assert subset.index.equals(reference.index)
        scale = np.maximum(np.abs(reference.to_numpy()), 1e-300)
        difference = np.max(np.abs(subset.to_numpy() - reference.to_numpy()) / scale)

        # 4x the data: three more copies' worth of events, in other runs
        more = write_files(directory, 3 * n_events, 3 * n_files, seed=1, prefix="more", run=355_200)
        four, table_4x, memory_4x = run_on_cluster(paths + more, 1, chunk_size)

    print(
        f"agreement with LumiSectionPercentiles().fit_transform(read_nanoaod(...)) on 2 files: "
        f"max relative difference {difference:.1e}"
    )
    print()
    print(f"{'measure':<46}{'seconds':>9}{'events/s':>12}{'ratio':>9}  target")
    rows = [
        ("uproot alone: read the branches (floor)", floor, n_events, 1.0, ""),
        ("extract_features, 1 worker", one, n_events, one / floor, "<= 3x the floor"),
        ("extract_features, 2 workers", two, n_events, one / two, ">= 1.7x faster than 1"),
        ("same, tuned workers (*), 1 worker", one_tuned, n_events, one_tuned / floor, "<= 3x"),
        (
            "same, tuned workers (*), 2 workers",
            two_tuned,
            n_events,
            one_tuned / two_tuned,
            ">= 1.7x",
        ),
    ]
    for name, seconds, n, ratio, target in rows:
        print(f"{name:<46}{seconds:>9.2f}{n / seconds:>12,.0f}{ratio:>8.2f}x  {target}")
    print("(*) channeldecomp.features.extraction_cluster: worker profiler off, glibc malloc")
    print("    thresholds left alone (the others: a LocalCluster with Dask's defaults)")
    print()
    peak_1x = max(m["peak"] for m in memory_1x.values())
    peak_4x = max(m["peak"] for m in memory_4x.values())
    base_1x = max(m["before"] for m in memory_1x.values())
    base_4x = max(m["before"] for m in memory_4x.values())
    print(
        f"{'peak memory of the worker (1 worker)':<46}{'events':>12}{'before MB':>11}{'peak MB':>9}"
    )
    print(f"{'1x the data':<46}{n_events:>12,}{base_1x:>11.0f}{peak_1x:>9.0f}")
    print(f"{'4x the data':<46}{4 * n_events:>12,}{base_4x:>11.0f}{peak_4x:>9.0f}")
    print(
        f"peak at 4x / peak at 1x: {peak_4x / peak_1x:.2f} (target: within 1.20); "
        f"4x run: {four:.1f} s, {4 * n_events / four:,.0f} events/s, {len(table_4x):,} LS"
    )


if __name__ == "__main__":
    main()
