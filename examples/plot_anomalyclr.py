"""
AnomalyCLR: anomalous collision events without labels
======================================================

:class:`~channeldecomp.detectors.AnomalyCLR` learns from background events only. A
permutation-invariant Transformer encoder is trained contrastively: an event and a physical
augmentation of it (a rotation in phi, energy and angle smearing) are pulled together, other
events pushed away, and the event pushed away from an *anomaly* augmentation of itself (added
objects, objects split in two). An autoencoder on the encoder's representations then gives the
anomaly score. The baseline is the same autoencoder on the scaled raw objects
(:class:`~channeldecomp.detectors.AutoencoderDetector`). The events follow the CMS ADC2021
format: 19 slots of (pT, eta, phi) for the missing transverse energy, 4 electrons, 4 muons and
10 jets, with four signals.
"""

# %%
# Train both detectors on background events
# -----------------------------------------
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_auc_score

from channeldecomp.datasets import make_adc_events
from channeldecomp.detectors import AnomalyCLR, AutoencoderDetector

# The documentation builds with CHANNELDECOMP_DOCS_QUICK=1: fewer events and epochs (the
# detector is then undertrained: the full size takes a few minutes).
QUICK = os.environ.get("CHANNELDECOMP_DOCS_QUICK", "0") not in ("", "0")

background = make_adc_events(n_background=2000 if QUICK else 10_000, n_signal=0, random_state=0)
detector = AnomalyCLR(
    max_epochs=2 if QUICK else 10, ae_max_epochs=10 if QUICK else 30, random_state=0
).fit(background.data)
baseline = AutoencoderDetector(ae_max_epochs=10 if QUICK else 30, random_state=0).fit(
    background.data
)

# %%
# Score fresh background and the four signals
# -------------------------------------------
# ``score_samples`` is higher for events more like the reference: the anomaly score is its
# negative. ``target`` is 1 for background, 0 for signal.
events = make_adc_events(
    n_background=2000 if QUICK else 10_000, n_signal=300 if QUICK else 1000, random_state=1
)
is_background = events.target == 1
auc = {}
for name, model in [("AnomalyCLR", detector), ("autoencoder on raw inputs", baseline)]:
    anomaly_score = -model.score_samples(events.data)
    auc[name] = [
        roc_auc_score(
            np.r_[np.zeros(is_background.sum()), np.ones((events.process == signal).sum())],
            np.r_[anomaly_score[is_background], anomaly_score[events.process == signal]],
        )
        for signal in events.signal_names
    ]
    print(name, np.round(auc[name], 3))

# %%
# ROC AUC per signal
# ------------------
figure, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
positions = np.arange(len(events.signal_names))
for offset, (name, values) in zip([-0.2, 0.2], auc.items()):
    ax.bar(positions + offset, values, width=0.4, label=name)
ax.set_xticks(positions, events.signal_names)
ax.axhline(0.5, color="grey", linewidth=0.8)
ax.set(ylim=(0.3, 1), ylabel="ROC AUC (signal vs background)")
ax.legend(loc="lower right")
