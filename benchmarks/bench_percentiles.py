"""Throughput and memory of LumiSectionPercentiles against a pandas-groupby reference.

The data: simulated events in lumisections of 500-1500 events, 4 channels (muons, photons,
particle-flow candidates, calorimeter jets) with a few objects each (Poisson means 2, 2, 5, 4;
5 % of the objects have pt == 0, i.e. are absent), properties pt, eta, phi (+ mass for muons and
jets) and one per-event scalar (luminosity). Default parameters of the transformer: 5 quantile
objects, mean, std and the percentiles 1, 25, 50, 75, 99.

The baseline computes the same numbers with pandas: sort objects by (event, pt), rank them with
``groupby.cumcount``, pick the quantile objects, sum momenta with ``groupby.sum``, then per LS
``groupby.mean``, ``groupby.std(ddof=0)`` and ``groupby.quantile`` (linear interpolation). Both
run in this process on the same data; the results are checked to agree to 1e-9. When the
baseline would take too long it runs on the first lumisections only (``--reference-events``)
and its time is scaled per event; the table says so.

Peak memory is measured in a fresh subprocess per size, from ``/proc/self/status`` (the peak
resident set ``VmHWM`` is reset after building the data, so the transform's own peak is seen).

Usage::

    python benchmarks/bench_percentiles.py            # 1M events, memory at 1M and 4M
    python benchmarks/bench_percentiles.py --quick    # small smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd
from joblib import parallel_config

from channeldecomp import LumiSectionPercentiles, LumiSections

CHANNELS = {
    "muons": (2.0, ("pt", "eta", "phi", "mass")),
    "photons": (2.0, ("pt", "eta", "phi")),
    "pf": (5.0, ("pt", "eta", "phi")),
    "calo_jets": (4.0, ("pt", "eta", "phi", "mass")),
}


def make_lumisections(n_events, seed=0):
    rng = np.random.default_rng(seed)
    sizes = []
    while sum(sizes) < n_events:
        sizes.append(int(rng.integers(500, 1501)))
    sizes[-1] -= sum(sizes) - n_events
    n_events_per_ls = np.array([s for s in sizes if s > 0])
    n_ls = len(n_events_per_ls)
    objects = {}
    for channel, (mean, props) in CHANNELS.items():
        counts = rng.poisson(mean, n_events)
        n = int(counts.sum())
        pt = rng.exponential(20.0, n)
        pt[rng.random(n) < 0.05] = 0.0
        values = {
            "pt": pt,
            "eta": rng.normal(0.0, 2.0, n),
            "phi": rng.uniform(-np.pi, np.pi, n),
        }
        if "mass" in props:
            values["mass"] = rng.exponential(5.0, n)
        objects[channel] = (counts, values)
    return LumiSections.from_arrays(
        run=np.full(n_ls, 146_000),
        lumi=np.arange(1, n_ls + 1),
        n_events=n_events_per_ls,
        objects=objects,
        event_columns={"luminosity": rng.uniform(0.5, 1.5, n_events)},
    )


# ---------------------------------------------------------------------- the pandas baseline
def pandas_inputs(ls):
    """Per-channel long tables (event index + properties) and the event table."""
    event_table = pd.DataFrame(
        {
            "ls": np.repeat(np.arange(len(ls)), ls.n_events),
            "luminosity": ls.event_column("luminosity"),
        }
    )
    tables = {}
    for channel in ls.channels:
        counts = ls.object_counts(channel)
        table = {"event": np.repeat(np.arange(ls.n_events_total), counts)}
        for prop in ls.properties(channel):
            table[prop] = ls.object_values(channel, prop)
        tables[channel] = pd.DataFrame(table)
    return tables, event_table


def pandas_reference(tables, event_table, n_quantiles, percentiles, statistics):
    all_events = event_table.index
    per_event = {}
    for channel, objects in tables.items():
        props = [c for c in objects.columns if c != "event"]
        present = objects[objects["pt"] > 0].sort_values(["event", "pt"], kind="stable")
        grouped = present.groupby("event", sort=False)
        rank = grouped.cumcount().to_numpy()
        size = grouped["pt"].transform("size").to_numpy()
        for k in range(n_quantiles):
            full_rank = size - 1 if k == n_quantiles - 1 else (k * size) // n_quantiles
            target = np.where(size < n_quantiles, k - (n_quantiles - size), full_rank)
            chosen = present[rank == target].set_index("event")[props]
            chosen = chosen.reindex(all_events, fill_value=0.0)
            for prop in props:
                per_event[f"{channel}__{prop}_q{k + 1}"] = chosen[prop].to_numpy()
        if "eta" in props and "phi" in props:
            momentum = pd.DataFrame(
                {
                    "event": present["event"],
                    "px": present["pt"] * np.cos(present["phi"]),
                    "py": present["pt"] * np.sin(present["phi"]),
                    "pz": present["pt"] * np.sinh(present["eta"]),
                }
            )
            sums = momentum.groupby("event").sum().reindex(all_events, fill_value=0.0)
            for name in ("px", "py", "pz"):
                per_event[f"{channel}__{name}"] = sums[name].to_numpy()
        counts = grouped.size().reindex(all_events, fill_value=0)
        per_event[f"{channel}__n_objects"] = counts.to_numpy(dtype=float)
    per_event["ls__luminosity"] = event_table["luminosity"].to_numpy()
    frame = pd.DataFrame(per_event)
    frame["ls"] = event_table["ls"].to_numpy()
    grouped_ls = frame.groupby("ls", sort=True)
    pieces = {}
    if "mean" in statistics:
        pieces["mean"] = grouped_ls.mean()
    if "std" in statistics:
        pieces["std"] = grouped_ls.std(ddof=0)
    if len(percentiles):
        quantiles = grouped_ls.quantile(np.asarray(percentiles) / 100.0)
        for p in percentiles:
            pieces[f"p{float(p):g}"] = quantiles.xs(p / 100.0, level=-1)
    result = {}
    for column in per_event:
        for stat, table in pieces.items():
            result[f"{column}_{stat}"] = table[column]
    result["ls__n_events"] = grouped_ls.size()
    return pd.DataFrame(result)


# ---------------------------------------------------------------------- measurements
def timed(function, repeat=1):
    """Best wall-clock time of ``repeat`` runs (the least disturbed by other processes)."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def _rss_mb(field):
    """VmRSS / VmHWM of this process in MB (Linux); ru_maxrss where /proc is missing."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak():
    try:  # Linux >= 4.0: writing 5 resets the peak RSS (VmHWM) to the current RSS
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def memory_child(n_events):
    """Run in a fresh process: RSS with the data built, and the peak during the transform."""
    ls = make_lumisections(n_events)
    data_peak = _rss_mb("VmHWM")
    data_rss = _rss_mb("VmRSS")
    reset = _reset_peak()
    features = LumiSectionPercentiles().fit_transform(ls)
    transform_peak = _rss_mb("VmHWM")
    object_mb = sum(
        ls.object_values(channel, prop).nbytes
        for channel in ls.channels
        for prop in ls.properties(channel)
    ) + sum(ls.object_counts(channel).nbytes for channel in ls.channels)
    print(
        json.dumps(
            {
                "data_peak_mb": data_peak,
                "data_rss_mb": data_rss,
                "transform_peak_mb": transform_peak,
                "peak_was_reset": reset,
                "object_arrays_mb": object_mb / 2**20,
                "shape": list(features.shape),
            }
        )
    )


def measure_memory(n_events):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), *sys.path]))
    output = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(n_events)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--events", type=int, default=None, help="events in the timing run")
    parser.add_argument(
        "--reference-events",
        type=int,
        default=None,
        help="events given to the pandas baseline (scaled per event to the full size)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds (best is kept)")
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child is not None:
        memory_child(args.memory_child)
        return

    n_events = args.events or (100_000 if args.quick else 1_000_000)
    reference_events = args.reference_events or (50_000 if args.quick else 250_000)
    memory_sizes = (100_000, 400_000) if args.quick else (1_000_000, 4_000_000)

    ls = make_lumisections(n_events)
    transformer = LumiSectionPercentiles()
    transformer.fit(ls)
    print(
        f"{n_events:,} events in {len(ls):,} lumisections, 4 channels, "
        f"{sum(int(ls.object_counts(c).sum()) for c in ls.channels):,} objects; "
        f"{len(transformer.feature_names_out_)} features per lumisection"
    )

    # Same numbers? (on the baseline's subset)
    n_ref_ls = int(np.searchsorted(np.cumsum(ls.n_events), reference_events, side="right"))
    n_ref_ls = max(1, min(n_ref_ls, len(ls)))
    subset = ls[:n_ref_ls]
    tables, event_table = pandas_inputs(subset)

    def run_reference():
        return pandas_reference(
            tables,
            event_table,
            transformer.n_quantiles,
            transformer.percentiles,
            transformer.statistics,
        )

    reference = run_reference()
    ours_subset = transformer.transform(subset)
    reference = reference[transformer.feature_names_out_.tolist()].to_numpy()
    scale = np.maximum(np.abs(reference), 1.0)
    max_difference = float(np.max(np.abs(ours_subset - reference) / scale))
    if max_difference > 1e-9:
        raise SystemExit(f"LumiSectionPercentiles and the pandas baseline differ: {max_difference}")

    # The measurements take turns, `rounds` times, and each keeps its best time: a passing
    # burst of load from other processes then hits all of them alike.
    parallel = LumiSectionPercentiles(n_jobs=2).fit(ls)

    def in_processes():
        with parallel_config(backend="loky"):
            return parallel.transform(ls)

    with parallel_config(backend="loky"):
        parallel.transform(ls[:2])  # start the worker processes outside the timing
    reference_time = single_time = parallel_time = process_time = np.inf
    for _ in range(args.rounds):
        reference_time = min(reference_time, timed(run_reference)[0])
        single_time = min(single_time, timed(lambda: transformer.transform(ls))[0])
        parallel_time = min(parallel_time, timed(lambda: parallel.transform(ls))[0])
        process_time = min(process_time, timed(in_processes)[0])

    per_event_reference = reference_time / subset.n_events_total
    scaled_reference = per_event_reference * n_events
    scaled_note = (
        f"measured on {subset.n_events_total:,} events, scaled per event"
        if subset.n_events_total < n_events
        else "measured on all events"
    )
    rows = [
        ("pandas groupby baseline", scaled_reference, 1.0, scaled_note),
        ("LumiSectionPercentiles, n_jobs=1", single_time, scaled_reference / single_time, ""),
        (
            "LumiSectionPercentiles, n_jobs=2",
            parallel_time,
            scaled_reference / parallel_time,
            f"threads (default); speed-up over n_jobs=1: {single_time / parallel_time:.2f}x",
        ),
        (
            "LumiSectionPercentiles, n_jobs=2",
            process_time,
            scaled_reference / process_time,
            f"processes (loky); speed-up over n_jobs=1: {single_time / process_time:.2f}x",
        ),
    ]
    print(f"agreement with the baseline: max relative difference {max_difference:.1e}")
    print()
    print(f"{'method':36s} {'seconds':>9s} {'events/s':>12s} {'vs pandas':>10s}  note")
    for name, seconds, ratio, note in rows:
        print(f"{name:36s} {seconds:9.2f} {n_events / seconds:12,.0f} {ratio:9.1f}x  {note}")

    print()
    print(
        f"{'peak memory (fresh process per size)':36s} {'data MB':>9s} {'transform':>12s} "
        f"{'increase':>10s} {'inputs MB':>10s}"
    )
    for size in memory_sizes:
        memory = measure_memory(size)
        increase = memory["transform_peak_mb"] - memory["data_rss_mb"]
        print(
            f"{f'{size:,} events':36s} {memory['data_rss_mb']:9.0f} "
            f"{memory['transform_peak_mb']:12.0f} {increase:10.0f} "
            f"{memory['object_arrays_mb']:10.0f}"
        )
    print(
        "(data MB: resident memory with the LumiSections built (Python, numpy, pandas and "
        "scikit-learn included); transform: peak resident memory during "
        "LumiSectionPercentiles().fit_transform (default chunk_size=40_000); increase: the "
        "difference; inputs MB: the object arrays themselves)"
    )


if __name__ == "__main__":
    main()
