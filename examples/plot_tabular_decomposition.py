"""
Quick start: channel decomposition of a table
=============================================

A table with four channels of correlated features (``make_channel_anomalies``), a global label
(good = 1, bad = 0), and the truth of which channels each anomaly is visible in, which the
model never sees. A :class:`~channeldecomp.ChannelDecompositionClassifier` learns the global
label; its channel scores are then compared with the truth.
"""

# %%
# Data and model
# --------------
# ``channels="prefix"`` groups the columns by the part of their names before ``"__"``
# (``muons__x0``, ...). The scaler's ``set_output(transform="pandas")`` passes the column
# names on to the classifier.
import os

from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from channeldecomp import ChannelDecompositionClassifier
from channeldecomp.datasets import make_channel_anomalies
from channeldecomp.metrics import decomposition_auc
from channeldecomp.plotting import plot_score_distributions

# The documentation builds with CHANNELDECOMP_DOCS_QUICK=1: less data, fewer epochs.
QUICK = os.environ.get("CHANNELDECOMP_DOCS_QUICK", "0") not in ("", "0")

data = make_channel_anomalies(n_samples=1500 if QUICK else 6000, random_state=0)
X_train, X_test, y_train, y_test, _, truth_test = train_test_split(
    data.data, data.target, data.channel_truth, stratify=data.target, random_state=0
)
model = Pipeline(
    [
        ("scale", StandardScaler().set_output(transform="pandas")),
        (
            "clf",
            ChannelDecompositionClassifier(
                channels="prefix", max_epochs=15 if QUICK else 40, random_state=0
            ),
        ),
    ]
).fit(X_train, y_train)

# %%
# Global and per-channel ROC AUC
# ------------------------------
# ``transform`` of the fitted Pipeline gives the channel scores: 1 = the channel looks good,
# near 0 = the anomaly is visible there. Each channel's score is scored against that channel's
# truth.
scores = model.transform(X_test)
print(f"global ROC AUC: {roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]):.3f}")
print(decomposition_auc(scores, truth_test).round(3).to_string())

# %%
# Score distributions
# -------------------
# Good lumisections sit near 1 in every channel; bad ones fall towards 0 in the channels that
# see their anomaly.
figure = plot_score_distributions(scores, y_test)
