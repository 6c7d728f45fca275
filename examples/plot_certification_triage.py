"""
Certification, triage and the report
====================================

The data-quality workflow on a trained model: per-channel thresholds at a chosen false-alarm
rate on good lumisections, a golden JSON per channel written and read back, the triage of
the global score into auto-accept / expert review / auto-reject, the run timeline a shifter
reads, and the self-contained HTML report.
"""

# %%
# A model and lumisection keys
# ----------------------------
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from channeldecomp import ChannelDecompositionClassifier, write_report
from channeldecomp.certification import (
    certify_channels,
    channel_thresholds,
    read_golden_json,
    write_channel_golden_jsons,
)
from channeldecomp.datasets import make_channel_anomalies
from channeldecomp.metrics import triage
from channeldecomp.plotting import plot_run_timeline

# The documentation builds with CHANNELDECOMP_DOCS_QUICK=1: less data, fewer epochs.
QUICK = os.environ.get("CHANNELDECOMP_DOCS_QUICK", "0") not in ("", "0")
n_train, n_samples = (2000, 12000) if QUICK else (8000, 40000)

data = make_channel_anomalies(n_samples=n_samples, random_state=1)
# Runs of 1,000 consecutive lumisections, as a data-quality team would key them.
keys = pd.DataFrame(
    {"run": 147000 + np.arange(n_samples) // 1000, "lumi": 1 + np.arange(n_samples) % 1000}
)
train, test = slice(0, n_train), slice(n_train, None)
model = make_pipeline(
    StandardScaler().set_output(transform="pandas"),
    ChannelDecompositionClassifier(
        channels="prefix", max_epochs=15 if QUICK else 40, random_state=0
    ),
).fit(data.data.iloc[train], data.target.iloc[train])
X_test, y_test, keys_test = data.data.iloc[test], data.target.iloc[test], keys.iloc[test]
scores = model.transform(X_test)
p_good = model.predict_proba(X_test)[:, 1]

# %%
# Per-channel certification and golden JSON files
# -----------------------------------------------
# Each channel's threshold flags 1 % of the good lumisections (chosen on labelled data: here
# the test runs themselves, for brevity). ``certify_channels`` gives one column per channel and the
# global decision; ``write_channel_golden_jsons`` writes one golden JSON per column.
thresholds = channel_thresholds(scores, y_test, false_alarm_rate=0.01)
certified = certify_channels(scores, thresholds, keys=keys_test, global_scores=p_good)
print(certified.mean().round(3))

folder = tempfile.TemporaryDirectory()
paths = write_channel_golden_jsons(certified, Path(folder.name) / "golden")
golden = read_golden_json(Path(folder.name) / "golden" / "muons.json")
print(f"muons.json certifies {len(golden)} of {len(certified)} lumisections")

# %%
# Triage
# ------
# Two thresholds on P(good), chosen on a calibration half so that, with 95 % confidence,
# at most 2 % of the accepted lumisections are bad and at most 2 % of the rejected ones good;
# the rest goes to an expert. (The original study's targets, 0.4 % and 0.6 %, the defaults,
# need a sharper model than this small example's.)
result = triage(y_test, p_good, max_pollution=0.02, max_loss=0.02, random_state=0)
print(f"reject below {result['reject_at']:.3f}, accept above {result['accept_at']:.3f}")
print(pd.Series(result["evaluation"]).round(4).to_string())

# %%
# The shifter's view and the report
# ---------------------------------
# The channel scores of one run along its lumisections, the global score and the
# thresholds. ``write_report`` puts the tables and figures in one HTML page.
figure = plot_run_timeline(
    scores,
    147003,
    keys=keys_test,
    labels=y_test,
    global_scores=p_good,
    thresholds=thresholds,
)
report = write_report(
    model, X_test, y_test, Path(folder.name) / "report.html", keys=keys_test,
    channel_truth=data.channel_truth.iloc[test],
)  # fmt: skip
print(f"{report.name}: {report.stat().st_size // 1024} kB")
folder.cleanup()
