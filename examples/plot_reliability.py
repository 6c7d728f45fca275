"""
Can a channel's score be trusted?
=================================

A low channel score sends the expert of that subsystem to look, so it matters whether a channel's
scores mean anything. :func:`~channeldecomp.model_selection.channel_reliability` answers from the
global good/bad label alone: it refits the model on folds of whole runs, twice with different
seeds, and asks whether the bad lumisections a channel flags in one cross-fit are flagged again
in the other. Here, on the simulated detector, the reliability measured on the training runs is
set next to what it tries to predict: each channel's true decomposition AUC on held-out runs,
known only because the simulation knows which channel sees each fault. An ensemble of networks
(``n_estimators``) adds a per-lumisection answer: how many of the networks blame the same
channel. See :doc:`/reliability`.
"""

# %%
# Simulate, compute features, hold out runs
# -----------------------------------------
import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import QuantileTransformer

from channeldecomp import ChannelDecompositionClassifier, LumiSectionPercentiles
from channeldecomp.datasets import simulate_lumisections
from channeldecomp.metrics import decomposition_auc
from channeldecomp.model_selection import (
    RELIABILITY_THRESHOLD,
    RunSplit,
    channel_reliability,
    reliability_warnings,
)

# The documentation builds with CHANNELDECOMP_DOCS_QUICK=1: less data, fewer epochs.
QUICK = os.environ.get("CHANNELDECOMP_DOCS_QUICK", "0") not in ("", "0")

simulation = simulate_lumisections(1200 if QUICK else 4000, 100 if QUICK else 200, random_state=0)
features = LumiSectionPercentiles(lumisection_columns=False).set_output(transform="pandas")
X = features.fit_transform(simulation.lumisections)  # indexed by (run, lumi)
y = pd.Series(np.asarray(simulation.y), index=X.index)
runs = X.index.get_level_values("run")
train, test = next(RunSplit(test_size=0.3, random_state=0).split(X, y, groups=runs))
X_train, y_train, runs_train = X.iloc[train], y.iloc[train], runs[train]
print(
    f"training: {len(train)} lumisections of {runs_train.nunique()} runs, "
    f"{int((y_train == 0).sum())} bad; held out: {len(test)} lumisections"
)


def make_model(n_estimators=1):
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
                    channels="prefix",
                    max_epochs=8 if QUICK else 40,
                    n_estimators=n_estimators,
                    random_state=0,
                ),
            ),
        ]
    )


# %%
# Reliability on the training runs
# --------------------------------
# ``cv=3`` folds of whole runs, two repeats: six refits on two thirds of the training runs each.
# The refits would repeat ``fit``'s warning about few bad lumisections per channel (it is shown
# once below, where the model itself is fitted), so it is silenced here.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    reliability = channel_reliability(
        make_model(), X_train, y_train, groups=runs_train, cv=3, random_state=0
    )
for line in reliability_warnings(reliability):
    print(line)

# %%
# Against the truth, on held-out runs
# -----------------------------------
# The model itself is fitted on all training runs (``fit`` warns when the training data hold
# few bad lumisections, or few runs with faults, per channel: printed here). Its true
# decomposition AUC, each channel's score against that channel's truth on the held-out runs, is
# what the reliability should track: a channel whose true AUC is poor (below 0.7, say) should be
# marked not reliable.
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", UserWarning)
    model = make_model().fit(X_train, y_train, clf__groups=runs_train)
for warning in caught:
    print(f"fit warned: {warning.message}")
scores = model.transform(X.iloc[test])
truth = simulation.channel_truth.iloc[test]
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UndefinedMetricWarning)  # NaN where no fault is visible
    true_auc = decomposition_auc(scores, truth)
table = reliability[["reliability", "reliable", "claimed", "claim_runs"]].assign(true_auc=true_auc)
print(table.round(3))

# %%
# An ensemble's agreement, per lumisection
# ----------------------------------------
# With ``n_estimators`` networks, each trained on a bootstrap resample of the training runs
# (``groups``), ``predict_channel_scores(X, return_std=True)`` also returns each score's spread
# over the networks, and ``predict_blame`` the blamed channel (the lowest score) with the share
# of the networks that blame it too. Among the held-out bad lumisections with a visible fault,
# the blame is wrong when the truth says that channel sees nothing; it is wrong more often where
# the networks disagree.
ensemble = make_model(n_estimators=3 if QUICK else 5)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # the same warning as above
    ensemble.fit(X_train, y_train, clf__groups=runs_train)
scaled = ensemble[:-1].transform(X.iloc[test])
ensemble_scores, spread = ensemble[-1].predict_channel_scores(scaled, return_std=True)
blame = ensemble[-1].predict_blame(scaled)

visible = (y.iloc[test].to_numpy() == 0) & (truth.to_numpy() == 0).any(axis=1)
blame = blame[visible]
blamed = ensemble_scores.columns.get_indexer(blame["channel"])
blame["wrong"] = truth.to_numpy()[visible][np.arange(len(blame)), blamed] == 1
blame["networks"] = np.where(blame["agreement"] == 1, "all agree", "some disagree")
by_agreement = blame.groupby("networks")["wrong"].agg(["size", "mean"])
by_agreement = by_agreement.rename(columns={"size": "bad LS", "mean": "wrong blame"})
print(by_agreement.reindex(["all agree", "some disagree"]).round(3))

# %%
# The figure
# ----------
# Left: each channel's reliability, with the threshold; a bar is filled when the channel is
# marked reliable. Right: the same channels' true AUC on held-out runs.
channels = list(table.index)
position = np.arange(len(channels))
figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True, layout="constrained")
left.barh(
    position,
    table["reliability"],
    color=["tab:blue" if reliable else "white" for reliable in table["reliable"]],
    edgecolor="tab:blue",
)
left.axvline(RELIABILITY_THRESHOLD, color="tab:red", linestyle="--", label="threshold")
left.set(
    xlim=(0, 1),
    yticks=position,
    yticklabels=channels,
    xlabel="reliability (training runs)",
    title="From the global label",
)
right.barh(position, table["true_auc"], color="tab:gray")
right.axvline(0.7, color="tab:red", linestyle=":", label="poor below")
right.set(xlim=(0.5, 1), xlabel="true decomposition AUC (held-out runs)", title="From the truth")
figure.legend(loc="outside lower center", ncols=2)
left.invert_yaxis()

# %%
# Reading it
# ----------
# With the few runs with faults of this short simulation (``fit`` warned), the reliability is *safe
# but conservative*, as in the validation of :doc:`/reliability`: a channel whose decomposition is
# poor is not marked reliable, but a channel that claims few bad lumisections (a bar near zero
# above, with few ``claimed``), or whose claims lie in one or two runs (few ``claim_runs``), is not
# marked reliable either, even when its true AUC is good. Read ``reliable=False`` as "not shown to
# be trustworthy on these runs", not as "shown to be wrong": more lumisections and more runs with
# faults raise it. The agreement table asks the ensemble the same question per lumisection; with a
# few dozen bad lumisections and few wrong blames, it says little here (the learning curve of the
# decomposition benchmark, ``--learning-curve``, measures it on larger simulations).
