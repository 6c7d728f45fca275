"""
Histogram inputs: which subsystem made a lumisection bad?
=========================================================

Data-quality monitoring works on per-lumisection histograms of monitoring elements (MEs).
With ``histograms=True`` the simulated detector fills a few MEs per subsystem
(:data:`~channeldecomp.datasets.SIMULATED_MES`), each responding to the faults of its own
subsystem only. :class:`~channeldecomp.HistogramFeatures` turns them into features named
``<subsystem>__<me>_<feature>``, so ``channels="prefix"`` gives the classifier one channel per
subsystem: trained on the global good/bad flag alone, it scores each subsystem, and the
scores are checked here against the simulator's ``subsystem_truth``. Real MEs are read from
DIALS exports with :func:`~channeldecomp.features.read_dials` (see :doc:`/histograms`).
"""

# %%
# Simulate lumisections with their MEs
# ------------------------------------
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import QuantileTransformer

from channeldecomp import ChannelDecompositionClassifier, HistogramFeatures
from channeldecomp.datasets import simulate_lumisections
from channeldecomp.metrics import decomposition_auc
from channeldecomp.model_selection import RunSplit
from channeldecomp.plotting import plot_run_timeline

# The documentation builds with CHANNELDECOMP_DOCS_QUICK=1: fewer LS, events and epochs. Seed 2
# puts faults of every subsystem in both the training and the held-out runs, at both sizes.
QUICK = os.environ.get("CHANNELDECOMP_DOCS_QUICK", "0") not in ("", "0")
n_lumisections, events, max_epochs = (1000, 100, 20) if QUICK else (1500, 200, 30)

data = simulate_lumisections(
    n_lumisections, events, mean_fault_length=6, random_state=2, histograms=True
)
histograms, y, truth = data.histograms, np.asarray(data.y), data.subsystem_truth
print(histograms)
print(truth.columns.tolist())

# %%
# Train on some runs, score the others
# ------------------------------------
# Whole runs are held out (stratified by fault mode). The reference histogram of each ME is
# learned from the training runs, in the pipeline's ``fit``.
train, test = next(
    RunSplit(0.35, random_state=2).split(
        np.zeros(len(y)), y, histograms.run, strata=data.fault_mode
    )
)
model = Pipeline(
    [
        ("features", HistogramFeatures()),
        ("scale", QuantileTransformer(output_distribution="normal", n_quantiles=len(train))),
        (
            "classifier",
            ChannelDecompositionClassifier(
                channels="prefix", max_epochs=max_epochs, random_state=2
            ),
        ),
    ]
).set_output(transform="pandas")
model.fit(histograms[train], y[train])
scores = model.transform(histograms[test])  # one score per subsystem, 1 = looks good

# %%
# Per-subsystem ROC AUC
# ---------------------
# Each subsystem's score against its truth on the held-out runs (NaN where a subsystem has
# no fault there). None of it was seen in training: the classifier only knew the global flag.
aucs = decomposition_auc(scores, truth.iloc[test])
print(aucs.round(3).to_string())

# %%
# The shifter's view
# ------------------
# The subsystem scores along the held-out run with the most bad LS, the global flag on top.
test_runs = histograms.run[test]
worst_run = int(np.bincount(test_runs, weights=1 - y[test]).argmax())
timeline = plot_run_timeline(scores.set_axis(histograms.keys[test]), worst_run, labels=y[test])

# %%
# What a fault looks like in an ME
# --------------------------------
# The reference of the ECAL pi0 mass, learned from the training runs, against the held-out LS
# with the strongest ECAL scale drift: the peak moves with the energy scale.
me = "ECAL/Pi0_mass"
reference = model.named_steps["features"].reference_[me]
binning = histograms.binning(me)
edges = np.linspace(binning["x_min"], binning["x_max"], binning["x_bin"] + 1)
drift = data.fault_strength["ECAL"].where(data.fault_mode["ECAL"] == "scale_drift", 0)
faulty = test[drift.to_numpy()[test].argmax()]
faulty_histogram = histograms.values(me)[faulty]
figure, ax = plt.subplots(figsize=(5, 3), layout="constrained")
ax.stairs(reference, edges, label="reference (training runs)")
ax.stairs(faulty_histogram / faulty_histogram.sum(), edges, label="ECAL scale drift")
ax.set(xlabel="diphoton mass (GeV)", ylabel="fraction of entries", title=me)
ax.legend()
