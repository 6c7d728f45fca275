"""
FluxMutability and per-channel outlier detectors
================================================

Before anything is labelled, a data-quality team has reference (good) data. Two detectors
learn from it alone. :class:`~channeldecomp.detectors.FluxMutability` learns the distribution
of the features *given the run conditions* (luminosity, pile-up) with a conditional
normalizing flow, then compares each sample with a population generated for its own
conditions: it catches values that are normal in general but wrong for these conditions.
:class:`~channeldecomp.detectors.PerChannelOutlierDetector` fits one outlier detector per
channel and calibrates each on the reference rows, so its channel scores read like the
classifier's: 1 = this channel looks good.
"""

# %%
# Conditional anomalies
# ---------------------
# ``make_conditional_anomalies`` draws features that follow the conditions; its conditional
# anomalies are features typical of *other* conditions, and its marginal ones are shifted.
import os

import matplotlib.pyplot as plt
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from channeldecomp.datasets import make_channel_anomalies, make_conditional_anomalies
from channeldecomp.detectors import FluxMutability, PerChannelOutlierDetector
from channeldecomp.metrics import decomposition_auc

# The documentation builds with CHANNELDECOMP_DOCS_QUICK=1: less data, fewer epochs.
QUICK = os.environ.get("CHANNELDECOMP_DOCS_QUICK", "0") not in ("", "0")

reference = make_conditional_anomalies(
    1500 if QUICK else 4000, anomaly_fraction=0.0, random_state=0
)
test = make_conditional_anomalies(1000 if QUICK else 4000, anomaly_fraction=0.3, random_state=1)
flux = FluxMutability(
    conditions=reference.condition_names,
    max_epochs=15 if QUICK else 100,
    population_size=100 if QUICK else 200,
    random_state=0,
).fit(reference.data)
forest = IsolationForest(random_state=0).fit(reference.data)

scores = {"FluxMutability": flux.score_samples(test.data)}
scores["IsolationForest"] = forest.score_samples(test.data)
for kind in ("conditional", "marginal"):
    rows = (test.target == 1) | (test.anomaly_kind == kind)
    for name, score in scores.items():
        print(f"{kind:>11} {name:>15}: {roc_auc_score(test.target[rows], score[rows]):.3f}")

# %%
# A conditional anomaly is normal in general, not for its luminosity: the flow, which knows
# the conditions, ranks it low; a detector blind to the conditions does not.
figure, axes = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained", sharey=True)
for ax, (name, score) in zip(axes, scores.items()):
    for kind, color in [("none", "tab:blue"), ("conditional", "tab:red")]:
        rows = (test.target == 1) if kind == "none" else (test.anomaly_kind == kind)
        label = "good" if kind == "none" else "conditional anomaly"
        ax.scatter(test.data["luminosity"][rows], score[rows], s=4, color=color, label=label)
    ax.set(title=name, xlabel="luminosity")
axes[0].set_ylabel("score_samples (higher = more normal)")
axes[0].legend(markerscale=3)

# %%
# One detector per channel
# ------------------------
# Fitted on the good rows of a table with four channels; each channel's score is compared with
# the truth of which channels each anomaly is visible in.
data = make_channel_anomalies(n_samples=2000 if QUICK else 6000, random_state=0)
per_channel = PerChannelOutlierDetector(channels="prefix", random_state=0)
per_channel.fit(data.data[data.target == 1])
channel_scores = per_channel.predict_channel_scores(data.data)
print(decomposition_auc(channel_scores, data.channel_truth).round(3).to_string())
