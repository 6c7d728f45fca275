"""
Reading NanoAOD files
=====================

:func:`~channeldecomp.features.read_nanoaod` reads CMS NanoAOD-style ROOT files (one entry per
event, ``run``/``luminosityBlock``/``event`` branches, jagged ``Muon_pt``, ``Jet_eta``, ...)
into :class:`~channeldecomp.LumiSections`, which
:class:`~channeldecomp.LumiSectionPercentiles` turns into one row of features per
lumisection. Here a small file is written with uproot first (the ``hep`` extra), in a
temporary folder, with a muon fault in some lumisections: fewer muons, and softer ones.
"""

# %%
# Write a small NanoAOD-style file
# --------------------------------
import os
import tempfile
from pathlib import Path

import awkward as ak
import matplotlib.pyplot as plt
import numpy as np
import uproot

from channeldecomp import LumiSectionPercentiles
from channeldecomp.features import read_nanoaod

# The documentation builds with CHANNELDECOMP_DOCS_QUICK=1: fewer events.
QUICK = os.environ.get("CHANNELDECOMP_DOCS_QUICK", "0") not in ("", "0")
n_lumis, events_per_lumi = 40, 100 if QUICK else 1000
faulty = np.arange(20, 28)  # lumisections with a muon fault

rng = np.random.default_rng(0)
lumi = np.repeat(np.arange(1, n_lumis + 1), events_per_lumi)
n_events = lumi.size
fault = np.isin(lumi, faulty)


def objects(mean_count, pt_scale, absent=None):
    counts = rng.poisson(mean_count, n_events)
    if absent is not None:
        counts = np.where(absent & (rng.random(n_events) < 0.5), 0, counts)
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


muons = objects(1.5, 5.0, absent=fault)
muons = ak.with_field(muons, ak.where(np.asarray(fault)[:, None], muons.pt * 0.8, muons.pt), "pt")
arrays = {
    "run": np.full(n_events, 147114, dtype=np.int64),
    "luminosityBlock": lumi.astype(np.int64),
    "event": np.arange(n_events, dtype=np.int64),
    "Muon": muons,
    "Jet": objects(4.0, 20.0),
}

folder = tempfile.TemporaryDirectory()
path = Path(folder.name) / "nano.root"
with uproot.recreate(path) as file:
    tree = file.mktree(
        "Events",
        {
            name: (value.type if isinstance(value, ak.Array) else value.dtype)
            for name, value in arrays.items()
        },  # fmt: skip
        field_name=lambda outer, inner: f"{outer}_{inner}",
        counter_name=lambda counted: f"n{counted}",
    )
    tree.extend(arrays)
print(sorted(uproot.open(path)["Events"].keys())[:6], "...")

# %%
# Read it and compute per-lumisection features
# --------------------------------------------
# The second argument maps channel names to NanoAOD collections.
lumisections = read_nanoaod([path], {"muons": "Muon", "jets": "Jet"})
print(lumisections)
features = LumiSectionPercentiles(n_quantiles=3).set_output(transform="pandas")
X = features.fit_transform(lumisections)
print(X.shape)
print(X.filter(like="muons__pt").columns[:5].tolist())
folder.cleanup()

# %%
# The fault in the features
# -------------------------
# The median, over each lumisection's events, of the pT of the hardest muon and of the hardest
# jet: the faulty lumisections stand out in the muon channel only.
lumi_numbers = X.index.get_level_values("lumi")
figure, axes = plt.subplots(1, 2, figsize=(9, 3), layout="constrained")
for ax, column in zip(axes, ["muons__pt_q3_p50", "jets__pt_q3_p50"]):
    ax.plot(lumi_numbers, X[column], marker="o", markersize=3)
    ax.axvspan(faulty[0] - 0.5, faulty[-1] + 0.5, color="tab:red", alpha=0.15, label="fault")
    ax.set(xlabel="lumisection", title=column)
axes[0].legend()
