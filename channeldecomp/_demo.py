"""The demo behind ``channeldecomp demo``: simulate -> features -> model -> decomposition table.

It uses the package's public pieces only: the simulated detector, LumiSectionPercentiles, the
classifier, ``channeldecomp.metrics`` for every figure of merit, ``channeldecomp.model_selection``
for the random-partition control, ``channeldecomp.plotting`` for the figures,
``channeldecomp.report`` for the HTML report and ``channeldecomp.certification`` for the
per-channel golden JSON files of the report's certification.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupShuffleSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import QuantileTransformer

from . import certification, metrics
from .datasets import simulate_lumisections
from .decomposition import ChannelDecompositionClassifier, DistilledChannelClassifier
from .features import HistogramFeatures, LumiSectionPercentiles
from .model_selection import channel_reliability, random_partition_control, reliability_warnings

__all__ = ["run_demo"]

_SIZES = {
    # quick: about a minute on 2 cores; full: about 5 minutes (half of it the reliability refits).
    True: {"n_lumisections": 1000, "events_per_lumisection": 250, "max_epochs": 30},
    False: {"n_lumisections": 6000, "events_per_lumisection": 500, "max_epochs": 40},
}


def _model(max_epochs, random_state, *, distilled=False):
    network = ChannelDecompositionClassifier(
        channels="prefix", max_epochs=max_epochs, random_state=random_state
    )
    if distilled:  # the same network, its blame distilled into per-channel boosting
        network = DistilledChannelClassifier(
            network, HistGradientBoostingClassifier(random_state=random_state), channels="prefix"
        )
    return Pipeline(
        [
            # Per-LS statistics are heavy-tailed (a fault moves a p99 by many "standard
            # deviations"): mapping each feature to normal scores trains better than scaling.
            (
                "scale",
                QuantileTransformer(
                    output_distribution="normal", n_quantiles=200, random_state=random_state
                ).set_output(transform="pandas"),
            ),
            ("clf", network),
        ]
    )


def run_demo(*, quick=False, output=None, random_state=0, log=None, input="objects"):
    """Simulate a detector, train, and measure how well each channel score finds its faults.

    Steps: :func:`~channeldecomp.datasets.simulate_lumisections` ->
    :class:`~channeldecomp.LumiSectionPercentiles` -> ``QuantileTransformer`` ->
    :class:`~channeldecomp.ChannelDecompositionClassifier`, trained on the global label of the
    lumisections of 75 % of the runs (luminosity-weighted) and evaluated on the other runs against
    the simulation's truth; the same network's blame distilled into per-channel boosting
    (:class:`~channeldecomp.DistilledChannelClassifier`); the channels' reliability from the
    training runs' global label alone
    (:func:`~channeldecomp.model_selection.channel_reliability`, six refits), with a warning
    for each unreliable channel; then the same model with the features split into random
    channels of the same sizes (the paper's control).

    Parameters
    ----------
    quick : bool, default=False
        1,000 lumisections of 250 events and 30 epochs (about a minute) instead of 6,000 of 500
        and 40 epochs (about 5 minutes on 2 cores).
    output : str or path-like, default=None
        Directory for the figures (``score_distributions.png``, ``auc_heatmap.png``),
        ``report.html`` and the per-channel golden JSON files of the report's certification
        (``golden/<channel>.json``: luminosity-weighted thresholds at a 1 % false-alarm rate;
        ``golden/global.json``: P(good) >= 0.5). Nothing is written when None.
    random_state : int, default=0
        Seed of the simulation, the split and the models.
    log : callable or None, default=None
        Called with each progress line and with the final table (e.g. ``print``).
    input : {"objects", "histograms"}, default="objects"
        ``"objects"``: :class:`~channeldecomp.LumiSectionPercentiles` of the physics objects,
        one channel per object type, scored against the channel truth. ``"histograms"``:
        :class:`~channeldecomp.HistogramFeatures` of the simulated monitoring-element
        histograms (reference learned on the training runs), one channel per subsystem, scored
        against ``subsystem_truth``; the report's timeline then shows one score per subsystem.

    Returns
    -------
    dict
        ``global_auc`` (float), ``decomposition`` (DataFrame: per channel, the ROC AUC of
        ``1 - score`` against "a fault is visible in this channel", for the model and for the
        random-partition control, over all held-out lumisections and over the globally bad
        ones only, and the channel's reliability from the training runs alone: columns
        ``channel_decomposition``, ``distilled`` (the distilled model's AUC),
        ``random_partition``, ``bad_only``, ``random_bad_only``, ``reliability``,
        ``reliable``), ``channel_subsystem_auc`` (DataFrame),
        ``reliability`` (the table of
        :func:`~channeldecomp.model_selection.channel_reliability`), ``files`` (list of
        written paths).
    """
    log = log or (lambda line: None)
    with warnings.catch_warnings():
        # A subsystem with no fault in the held-out split has an undefined AUC: the tables
        # show it as NaN and say why, so the per-subsystem warnings would only repeat that.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        if input not in ("objects", "histograms"):
            raise ValueError(f"input must be 'objects' or 'histograms'; got {input!r}.")
        return _run(
            sizes=_SIZES[bool(quick)], output=output, random_state=random_state, log=log,
            histograms=input == "histograms",
        )  # fmt: skip


def _run(*, sizes, output, random_state, log, histograms=False):
    started = time.perf_counter()

    def step(message):
        log(f"[{time.perf_counter() - started:6.1f} s] {message}")

    step(
        f"simulating {sizes['n_lumisections']} lumisections x ~"
        f"{sizes['events_per_lumisection']} events ..."
    )
    data = simulate_lumisections(
        sizes["n_lumisections"],
        sizes["events_per_lumisection"],
        random_state=random_state,
        histograms=histograms,
    )
    step(
        f"{data.lumisections.n_events_total:,} events; {int((data.y == 0).sum())} bad "
        "lumisections; computing per-lumisection features ..."
    )
    # Whole runs are held out: a fault lasts for consecutive lumisections, so a random split
    # would put lumisections of the same fault episode on both sides.
    runs = data["keys"].get_level_values("run")
    train, test = next(
        GroupShuffleSplit(n_splits=1, test_size=0.25, random_state=random_state).split(
            np.zeros(len(runs)), data.y, groups=runs
        )
    )
    if histograms:  # one channel per subsystem, the reference histograms of the training runs
        features = HistogramFeatures().set_output(transform="pandas")
        X = features.fit(data.histograms[train]).transform(data.histograms)
        truth = data.subsystem_truth
    else:
        features = LumiSectionPercentiles(lumisection_columns=False)
        X = features.set_output(transform="pandas").fit_transform(data.lumisections)
        truth = data.channel_truth
    y = pd.Series(np.asarray(data.y), index=X.index, name="good")
    subsystems = data.subsystems  # indexed by (run, lumi) like X
    luminosity = pd.Series(np.asarray(data.luminosity), index=X.index)
    step(f"{X.shape[1]} features in channels {list(truth.columns)}; training ...")

    model = _model(sizes["max_epochs"], random_state)
    model.fit(X.iloc[train], y.iloc[train], clf__sample_weight=luminosity.iloc[train].to_numpy())
    X_test, y_test = X.iloc[test], y.iloc[test]
    scores = model[-1].predict_channel_scores(model[0].transform(X_test))
    p_good = model.predict_proba(X_test)[:, list(model.classes_).index(1)]
    global_auc = float(roc_auc_score(y_test, p_good))
    decomposition = metrics.decomposition_auc(scores, truth.iloc[test])
    subsystem_auc = metrics.channel_subsystem_auc(scores, subsystems.iloc[test])

    step("the network's blame distilled into per-channel boosting (DistilledChannelClassifier) ...")
    distilled = _model(sizes["max_epochs"], random_state, distilled=True)
    distilled.fit(
        X.iloc[train], y.iloc[train], clf__sample_weight=luminosity.iloc[train].to_numpy()
    )
    distilled_scores = distilled.transform(X_test)

    # Folds of whole training runs: three, or as many as there are runs (a tiny simulation).
    folds = min(3, len(np.unique(runs[train])))
    step(f"channel reliability: the model refitted on {folds} folds of the training runs, twice")
    reliability = channel_reliability(
        _model(sizes["max_epochs"], random_state),
        X.iloc[train],
        y.iloc[train],
        groups=runs[train],
        cv=folds,
        sample_weight=luminosity.iloc[train].to_numpy(),
        random_state=random_state,
    )

    step("random-partition control: same model, features split into random channels ...")
    control = random_partition_control(
        _model(sizes["max_epochs"], random_state),
        X,
        y,
        channel_truth=truth,
        n_repeats=1,
        groups=runs,
        random_state=random_state,
    )
    table = pd.DataFrame(
        {
            "channel_decomposition": decomposition,
            "distilled": metrics.decomposition_auc(distilled_scores, truth.iloc[test]),
            "random_partition": control.random[0].decomposition_auc,
            "bad_only": metrics.bad_only_decomposition_auc(scores, truth.iloc[test], y_test),
            "random_bad_only": control.random[0].bad_only_decomposition_auc,
            "reliability": reliability["reliability"],
            "reliable": reliability["reliable"],
        }
    )
    step("done")

    log(f"\nGlobal ROC AUC (held-out {len(test)} lumisections): {global_auc:.4f}")
    log("\nPer-channel ROC AUC of (1 - channel score) against 'fault visible in this channel'")
    log("(bad_only: among globally bad lumisections only, i.e. which channel is bad; a global")
    log("detector scores 0.5 there however well it scores over all lumisections; distilled:")
    log("the network's blame distilled into per-channel boosting, DistilledChannelClassifier):")
    log(table.round(4).to_string())
    log(
        f"mean: {table['channel_decomposition'].mean():.4f} (distilled "
        f"{table['distilled'].mean():.4f}; random partition "
        f"{table['random_partition'].mean():.4f}); among bad lumisections: "
        f"{table['bad_only'].mean():.4f} (random partition "
        f"{table['random_bad_only'].mean():.4f}); worst: "
        f"{table['channel_decomposition'].min():.4f}"
    )
    log(
        "reliability: from the training runs' global label alone (channel_reliability; "
        f"reliable at >= {reliability.attrs['threshold']:.2f})"
    )
    for line in reliability_warnings(reliability):
        log(f"WARNING: {line}")
    log("\nChannel x subsystem ROC AUC (score vs subsystem flag; NaN: no fault in the test split):")
    log(subsystem_auc.round(3).to_string())

    files = []
    if output is not None:
        files = _write_outputs(
            Path(output), model, X_test, y_test, scores, subsystem_auc, truth.iloc[test],
            subsystems.iloc[test], luminosity.iloc[test], reliability,
        )  # fmt: skip
        log(f"\nWrote {len(files)} files to {output}:")
        for path in files:
            log(f"  {path}")
    return {
        "global_auc": global_auc,
        "decomposition": table,
        "channel_subsystem_auc": subsystem_auc,
        "reliability": reliability,
        "files": files,
    }


def _write_outputs(
    directory, model, X_test, y_test, scores, subsystem_auc, truth, subsystems, luminosity,
    reliability,
):  # fmt: skip
    from . import plotting
    from .report import channel_report

    directory.mkdir(parents=True, exist_ok=True)
    files = []
    figures = {
        "score_distributions.png": plotting.plot_score_distributions(scores, y_test),
        "auc_heatmap.png": plotting.plot_auc_heatmap(subsystem_auc),
    }
    for name, figure in figures.items():
        figure.savefig(directory / name, dpi=110, bbox_inches="tight")
        files.append(directory / name)
    report = channel_report(
        model,
        X_test,
        y_test,
        subsystem_labels=subsystems,
        channel_truth=truth,
        sample_weight=luminosity.to_numpy(),
        false_alarm_rate=0.01,
        title="channeldecomp demo: simulated detector",
        reliability=reliability,
    )
    # The golden JSON files are the report's certification (X_test is indexed by run, lumi).
    paths = certification.write_channel_golden_jsons(report.certified, directory / "golden")
    files += list(paths.values())
    page = directory / "report.html"
    page.write_text(report.to_html(), encoding="utf-8")
    files.append(page)
    return files
