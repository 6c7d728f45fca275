"""
The simulated detector, end to end
==================================

Lumisections of a CMS-like detector with injected subsystem faults
(:func:`~channeldecomp.datasets.simulate_lumisections`): events with muons, photons,
particle-flow candidates and calorimeter jets, turned into one row of features per
lumisection (:class:`~channeldecomp.LumiSectionPercentiles`), a model trained on the global
label of some runs and tested on the others against the simulation's truth, and the
random-partition control that tells a real decomposition from correlation with the global label.
"""

# %%
# Simulate and compute features
# -----------------------------
import os
import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import QuantileTransformer

from channeldecomp import ChannelDecompositionClassifier, LumiSectionPercentiles
from channeldecomp.datasets import simulate_lumisections
from channeldecomp.metrics import bad_only_decomposition_auc, channel_subsystem_auc
from channeldecomp.model_selection import RunSplit, random_partition_control
from channeldecomp.plotting import plot_auc_heatmap

# The documentation builds with CHANNELDECOMP_DOCS_QUICK=1: less data, fewer epochs.
QUICK = os.environ.get("CHANNELDECOMP_DOCS_QUICK", "0") not in ("", "0")

simulation = simulate_lumisections(1500 if QUICK else 6000, 50 if QUICK else 500, random_state=0)
features = LumiSectionPercentiles(lumisection_columns=False).set_output(transform="pandas")
X = features.fit_transform(simulation.lumisections)  # indexed by (run, lumi)
y = pd.Series(np.asarray(simulation.y), index=X.index)
print(f"{X.shape[0]} lumisections, {X.shape[1]} features, {int((y == 0).sum())} bad")
print(X.columns[:4].tolist())

# %%
# Train on some runs, test on the others
# --------------------------------------
# A fault lasts for consecutive lumisections of a run, so whole runs are held out
# (:class:`~channeldecomp.model_selection.RunSplit`). Per-lumisection statistics are
# heavy-tailed: a ``QuantileTransformer`` to normal scores suits the network better than
# standard scaling.
runs = X.index.get_level_values("run")
train, test = next(RunSplit(test_size=0.3, random_state=0).split(X, y, groups=runs))


def make_model():
    return Pipeline(
        [
            (
                "scale",
                QuantileTransformer(output_distribution="normal", n_quantiles=200).set_output(
                    transform="pandas"
                ),
            ),
            (
                "clf",
                ChannelDecompositionClassifier(
                    channels="prefix", max_epochs=10 if QUICK else 40, random_state=0
                ),
            ),
        ]
    )


model = make_model().fit(X.iloc[train], y.iloc[train])
scores = model.transform(X.iloc[test])
print(f"global ROC AUC: {roc_auc_score(y.iloc[test], model.predict_proba(X.iloc[test])[:, 1]):.3f}")

# %%
# Which channel? Against the truth, among the bad lumisections
# ------------------------------------------------------------
# Among globally bad lumisections, a score that only repeats the global label cannot tell one
# channel from another (AUC 0.5); the random-partition control, the same model on random
# groups of columns of the same sizes, shows how much of the decomposition is real. (The
# control deals lumisections, not runs, to its own split here: this short simulation has too
# few runs to hold out whole ones and keep every fault mode on both sides; pass
# ``groups=runs`` on real data.)
bad_only = bad_only_decomposition_auc(scores, simulation.channel_truth.iloc[test], y.iloc[test])
control = random_partition_control(
    make_model(), X, y, channel_truth=simulation.channel_truth, random_state=0
)
print(
    pd.DataFrame(
        {"channels": bad_only, "random channels": control.random[0].bad_only_decomposition_auc}
    ).round(3)
)

# %%
# Channel x subsystem matrix
# --------------------------
# The view of the original study: the ROC AUC of each channel's score against each
# subsystem's flag (NaN, with a warning silenced here, where the test runs hold no fault of that
# subsystem).
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UndefinedMetricWarning)
    auc = channel_subsystem_auc(scores, simulation.subsystems.iloc[test])
figure = plot_auc_heatmap(auc)
