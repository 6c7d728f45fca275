"""
Feature extraction on Dask
==========================

:func:`~channeldecomp.features.extract_features` computes the per-lumisection features of
:class:`~channeldecomp.LumiSectionPercentiles` from many NanoAOD files on a Dask cluster, and
writes them to Parquet with their metadata. Here three small NanoAOD-like files are written
with uproot (the ``hep`` extra) in a temporary folder, the lumisections at the file boundaries
spread over two files, and the features are computed on a local cluster (the ``dask`` extra).
The table is the same as the one computed in memory from
:func:`~channeldecomp.features.read_nanoaod`. See :doc:`/extraction`.
"""

# %%
# Write three NanoAOD-like files
# ------------------------------
# The events are written lumisection after lumisection, as in NanoAOD, and cut into three
# files of equal size: the lumisections at the cuts have events in two files.
import os
import tempfile
from pathlib import Path

import awkward as ak
import matplotlib.pyplot as plt
import numpy as np
import uproot
from dask.distributed import Client, LocalCluster

from channeldecomp import LumiSectionPercentiles
from channeldecomp.features import extract_features, read_features, read_nanoaod

# The documentation builds with CHANNELDECOMP_DOCS_QUICK=1: fewer events.
QUICK = os.environ.get("CHANNELDECOMP_DOCS_QUICK", "0") not in ("", "0")
n_lumis, mean_events = 12, 150 if QUICK else 2000
faulty = [7, 8]  # lumisections whose muons are softer

rng = np.random.default_rng(0)
lumi = np.repeat(np.arange(1, n_lumis + 1), rng.poisson(mean_events, n_lumis))
n_events = lumi.size


def objects(mean_count, pt_scale):
    counts = rng.poisson(mean_count, n_events)
    n = counts.sum()
    pt = rng.pareto(3.0, n) * pt_scale + pt_scale
    return ak.unflatten(
        ak.zip(
            {
                "pt": pt.astype(np.float32),
                "eta": rng.uniform(-2.4, 2.4, n).astype(np.float32),
                "phi": rng.uniform(-np.pi, np.pi, n).astype(np.float32),
            }
        ),
        counts,
    )


fault = np.isin(lumi, faulty)
muons = objects(1.5, 5.0)
muons = ak.with_field(muons, ak.where(fault[:, None], muons.pt * 0.7, muons.pt), "pt")
arrays = {
    "run": np.full(n_events, 147114, dtype=np.int64),
    "luminosityBlock": lumi.astype(np.int64),
    "event": np.arange(n_events, dtype=np.int64),
    "Muon": muons,
    "Jet": objects(4.0, 20.0),
}

folder = tempfile.TemporaryDirectory()
paths = []
for number, rows in enumerate(np.array_split(np.arange(n_events), 3)):
    path = Path(folder.name) / f"nano_{number}.root"
    part = {name: value[rows[0] : rows[-1] + 1] for name, value in arrays.items()}
    with uproot.recreate(path) as file:
        tree = file.mktree(
            "Events",
            {
                name: (value.type if isinstance(value, ak.Array) else value.dtype)
                for name, value in part.items()
            },
            field_name=lambda outer, inner: f"{outer}_{inner}",
            counter_name=lambda counted: f"n{counted}",
        )
        tree.extend(part)
    paths.append(path)
    print(path.name, len(rows), "events, lumisections", np.unique(part["luminosityBlock"]).tolist())

# %%
# Extract the features on a local cluster
# ---------------------------------------
# Two workers with one thread each, inside this process (``processes=False``): cheap to start,
# and enough to run the tasks in parallel here. On a real machine, worker processes
# (``processes=True``, the default; start them under ``if __name__ == "__main__":``) or a
# cluster's address (``Client("tcp://HOST:8786")``) take their place. ``chunk_size`` is small
# here so that each file is read by several tasks. ``dashboard_address=":0"``: any free port
# for the scheduler's web server (8787, the default, may be taken by another cluster).
collections = {"muons": "Muon", "jets": "Jet"}
features = LumiSectionPercentiles(n_quantiles=3)
output = Path(folder.name) / "features.parquet"
with (
    LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster,
    Client(cluster) as client,
):
    table = extract_features(
        paths,
        collections,
        features=features,
        client=client,
        output=output,
        chunk_size=n_events // 10,
    )
print(table.shape)

# %%
# Read the table back
# -------------------
# :func:`~channeldecomp.features.read_features` returns the same DataFrame, with the metadata
# in ``attrs["channeldecomp"]``: the transformer and its parameters, the package version, the
# files read with their numbers of events.
back = read_features(output)
assert back.equals(table)
metadata = back.attrs["channeldecomp"]
print(metadata["features"])
print(metadata["channeldecomp_version"], metadata["n_events"], "events", end=", ")
print(metadata["n_lumisections"], "lumisections")
for entry in metadata["files"]:
    print(Path(entry["path"]).name, entry["n_events"], "events")

# %%
# The same as in memory
# ---------------------
# The features of :func:`~channeldecomp.features.read_nanoaod` and
# :class:`~channeldecomp.LumiSectionPercentiles` in one process: the same rows and columns, and
# the same numbers up to the order of the sums behind the means and standard deviations (the
# events of a lumisection met in other chunks), a few units in the last place.
in_memory = (
    LumiSectionPercentiles(n_quantiles=3)
    .set_output(transform="pandas")
    .fit_transform(read_nanoaod(paths, collections))
)
assert back.index.equals(in_memory.index) and back.columns.equals(in_memory.columns)
relative = np.abs(back - in_memory).to_numpy() / np.maximum(np.abs(in_memory).to_numpy(), 1e-300)
print(f"largest relative difference: {relative.max():.1e}")
assert relative.max() < 1e-12
folder.cleanup()

# %%
# Events per lumisection and file, and a feature
# ----------------------------------------------
# Left, where the events of each lumisection come from (the lumisections at the cuts between
# files are merged from two files); right, the median pT of the hardest muon, which shows the
# softer muons of the faulty lumisections.
lumi_numbers = back.index.get_level_values("lumi")
figure, axes = plt.subplots(1, 2, figsize=(9, 3), layout="constrained")
bottom = np.zeros(n_lumis)
for number, rows in enumerate(np.array_split(np.arange(n_events), 3)):
    counts = np.bincount(lumi[rows], minlength=n_lumis + 1)[1:]
    axes[0].bar(np.arange(1, n_lumis + 1), counts, bottom=bottom, label=f"nano_{number}.root")
    bottom += counts
axes[0].set(xlabel="lumisection", ylabel="events", title="events per file")
axes[0].set_ylim(top=1.35 * bottom.max())  # room for the legend above the bars
axes[0].legend(fontsize="small", ncols=3, loc="upper center")
axes[1].plot(lumi_numbers, back["muons__pt_q3_p50"], marker="o", markersize=3)
axes[1].axvspan(faulty[0] - 0.5, faulty[-1] + 0.5, color="tab:red", alpha=0.15, label="fault")
axes[1].set(xlabel="lumisection", title="muons__pt_q3_p50")
axes[1].legend()
