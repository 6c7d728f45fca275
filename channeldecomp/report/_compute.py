"""Compute a report: the tables and figures of a fitted channel model on a dataset, no file I/O."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from .. import certification, metrics, model_selection, plotting
from .._validation import as_frame, check_sample_weight
from ..base import get_channel_blame, get_channel_model, get_channel_scores, predict_good_proba
from ._render import render_html

__all__ = ["ChannelReport", "channel_report"]

logger = logging.getLogger(__name__)


@dataclass
class ChannelReport:
    """The tables and figures of a channel-decomposition report, as returned by
    :func:`channel_report`.

    Render it with :meth:`to_html` (or :func:`~channeldecomp.report.render_html`); save the
    figures with ``Figure.savefig``; write the per-channel golden JSON files with
    ``channeldecomp.certification.write_channel_golden_jsons(report.certified, directory)``.

    Attributes
    ----------
    title : str
        Title of the report.
    summary : DataFrame
        One ``"value"`` column: numbers of lumisections (good, bad), channels, runs (when keys
        are known) and the global ROC AUC.
    channels : DataFrame
        Per channel: ``"features"`` (when the model has ``channel_indices_``), the
        ``"ROC AUC vs global label"`` of the channel score and, when a reliability table was
        given, ``"reliability"`` and ``"reliable"``.
    reliability_warnings : list of str
        One sentence per channel marked not reliable (empty without a reliability table).
    blame : DataFrame or None
        Among the bad lumisections, per channel, those whose lowest score is that channel's
        (the channel they blame; see :func:`~channeldecomp.base.get_channel_blame`):
        ``"bad LS blamed"``, ``"share of bad"`` (weighted), ``"median blamed score"``, for an
        ensemble (``n_estimators > 1``) ``"networks agree"`` (the share of them on which every
        network blames that channel) and, with channel truth, ``"wrong blame"`` (the share on
        which the truth says the channel sees nothing, among those with a visible fault).
    certification : DataFrame
        Per channel and ``"global"``: ``"threshold"``, ``"certified LS"``, ``"flagged LS"``,
        ``"flagged among good"`` and ``"flagged among bad"`` (weighted fractions).
    certified : DataFrame of bool
        Per lumisection, whether each channel (and ``"global"``: P(good) >= 0.5) certifies it.
        Indexed by ``(run, lumi)`` when keys are known, as
        :func:`~channeldecomp.certification.certify_channels` returns it; by row position
        otherwise.
    figures : dict of str to matplotlib.figure.Figure
        In page order, among ``"auc_heatmap"``, ``"exclusive_anomalies"`` (with subsystem
        labels), ``"score_distributions"`` (always), ``"timeline"`` (with keys) and
        ``"training_curves"`` (when the model has a non-empty ``history_``).
    decomposition : DataFrame or None
        ``"ROC AUC vs channel truth"`` per channel, when channel truth was given.
    channel_subsystem_auc : DataFrame or None
        Channel x subsystem ROC AUC, when subsystem labels were given.
    exclusive_anomalies : DataFrame or None
        Fraction of the exclusive anomalies of each subsystem that each channel flags (its
        ``attrs["n_exclusive"]`` counts them), when subsystem labels were given.
    triage : DataFrame or None
        The triage on the calibration and the evaluation half (columns), or None when it was
        skipped.
    triage_thresholds : tuple of float or None
        ``(reject_at, accept_at)`` on the global P(good), or None when the triage was skipped.
    triage_skipped : str or None
        Why the triage was skipped (e.g. too few bad lumisections), else None.
    timeline_run : int or None
        The run drawn in the timeline (the one with most bad lumisections), or None.
    settings : dict
        ``false_alarm_rate``, ``max_pollution``, ``max_loss`` and ``exclusive_threshold``.
    model_name : str
        Type name of the model.
    """

    title: str
    summary: pd.DataFrame
    channels: pd.DataFrame
    certification: pd.DataFrame
    certified: pd.DataFrame
    figures: dict = field(default_factory=dict)
    decomposition: pd.DataFrame | None = None
    channel_subsystem_auc: pd.DataFrame | None = None
    exclusive_anomalies: pd.DataFrame | None = None
    triage: pd.DataFrame | None = None
    triage_thresholds: tuple | None = None
    triage_skipped: str | None = None
    timeline_run: int | None = None
    settings: dict = field(default_factory=dict)
    model_name: str = ""
    reliability_warnings: list = field(default_factory=list)
    blame: pd.DataFrame | None = None

    def to_html(self):
        """The report as one self-contained HTML page (figures embedded as PNG).

        Returns
        -------
        str
            The HTML document; see :func:`~channeldecomp.report.render_html`.
        """
        return render_html(self)


def _channel_feature_counts(model):
    final = get_channel_model(model)
    indices = getattr(final, "channel_indices_", None)
    if indices is None:
        return None
    return pd.Series({c: len(v) for c, v in indices.items()}, name="features")


def _certification_table(certified, thresholds, y_good, weight):
    good_mask = y_good == 1
    rows = {}
    for column in certified.columns:
        passed = certified[column].to_numpy()
        rows[column] = {
            "threshold": thresholds.get(column, 0.5),
            "certified LS": int(passed.sum()),
            "flagged LS": int((~passed).sum()),
            "flagged among good": float(
                weight[good_mask & ~passed].sum() / weight[good_mask].sum()
            ),
            "flagged among bad": float(
                weight[~good_mask & ~passed].sum() / weight[~good_mask].sum()
            ),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "certification"
    return table


def _triage(y_good, p_good, weight, *, max_pollution, max_loss, random_state):
    """The triage table and thresholds, or the reason it was skipped."""
    try:
        result = metrics.triage(
            y_good,
            p_good,
            max_pollution=max_pollution,
            max_loss=max_loss,
            sample_weight=weight,
            random_state=random_state,
        )
    except ValueError as exc:  # e.g. too few bad lumisections to stratify the split
        logger.warning("Triage skipped: %s", exc)
        return None, None, str(exc)
    # object dtype: counts stay integers next to the fractions.
    table = pd.DataFrame(
        {
            "calibration half": pd.Series(result.calibration, dtype=object),
            "evaluation half": pd.Series(result.evaluation, dtype=object),
        }
    )
    return table, (result.reject_at, result.accept_at), None


def _blame_table(blame, channel_names, y_good, weight, *, ensemble, channel_truth):
    """Per channel, the bad lumisections that blame it (see :attr:`ChannelReport.blame`)."""
    bad = y_good == 0
    blamed = blame["channel"].to_numpy()
    bad_weight = weight[bad].sum()
    rows = {}
    for name in channel_names:
        mine = bad & (blamed == name)
        row = {
            "bad LS blamed": int(mine.sum()),
            "share of bad": float(weight[mine].sum() / bad_weight) if bad_weight > 0 else np.nan,
            "median blamed score": float(np.median(blame["score"][mine])) if mine.any() else np.nan,
        }
        if ensemble:
            agree = blame["agreement"].to_numpy()[mine] == 1
            row["networks agree"] = float(agree.mean()) if mine.any() else np.nan
        if channel_truth is not None and name in channel_truth.columns:
            visible = (channel_truth.to_numpy() == 0).any(axis=1)
            judged = mine & visible
            wrong = channel_truth[name].to_numpy()[judged] == 1
            row["wrong blame"] = float(wrong.mean()) if judged.any() else np.nan
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "channel"
    return table


def _subsystem_tables(scores, subsystem_labels, weight, exclusive_threshold):
    auc = metrics.channel_subsystem_auc(scores, subsystem_labels, sample_weight=weight)
    exclusive = metrics.exclusive_anomaly_fraction(
        scores, subsystem_labels, threshold=exclusive_threshold, sample_weight=weight
    )
    figures = {
        "auc_heatmap": plotting.plot_auc_heatmap(auc),
        "exclusive_anomalies": plotting.plot_exclusive_anomalies(
            exclusive, threshold=exclusive_threshold
        ),
    }
    return auc, exclusive, figures


def channel_report(
    model,
    X,
    y,
    *,
    keys=None,
    subsystem_labels=None,
    channel_truth=None,
    sample_weight=None,
    good_label=1,
    false_alarm_rate=0.01,
    max_pollution=0.004,
    max_loss=0.006,
    exclusive_threshold=0.5,
    title="Channel decomposition report",
    random_state=0,
    reliability=None,
):
    """Compute the tables and figures of a report on a fitted model and a dataset.

    The global and per-channel ROC AUC, the decomposition AUC against known truth (when
    given), the channel x subsystem AUC matrix and the exclusive-anomaly fractions (when
    subsystem flags are given), the score distributions, a per-run timeline (when keys are
    known), the training curves (from ``history_``), the per-channel certification at a
    false-alarm rate and the two-threshold triage. Nothing is written: render the result with
    :meth:`ChannelReport.to_html`, or use :func:`~channeldecomp.write_report` for
    compute, render and write in one call.

    Evaluate on lumisections the model was not trained on: the thresholds of the
    certification and of the triage are chosen on this data (the triage on a calibration half
    and evaluated on the other half).

    Parameters
    ----------
    model : estimator
        A fitted ``ChannelDecompositionClassifier`` or a Pipeline ending in one (anything with
        ``predict_proba``, ``classes_`` and a final step with ``predict_channel_scores``).
    X : DataFrame or array-like of shape (n_samples, n_features)
        Features of the lumisections.
    y : array-like of shape (n_samples,)
        Global labels.
    keys : DataFrame, MultiIndex or array of shape (n_samples, 2), default=None
        ``(run, lumi)`` of each row, for the timeline and the index of ``certified``; default:
        the index of ``X`` when it is a two-level MultiIndex.
    subsystem_labels : DataFrame of shape (n_samples, n_subsystems), default=None
        Expert flags per subsystem (1 = good).
    channel_truth : DataFrame of shape (n_samples, n_channels), default=None
        Known per-channel truth (1 = nothing visible), e.g. from simulation.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights (e.g. luminosity) for every metric.
    good_label : int or str, default=1
        The label that means good.
    false_alarm_rate : float, default=0.01
        Target false-alarm rate on good lumisections of the per-channel thresholds.
    max_pollution, max_loss : float, default=0.004, 0.006
        Triage targets (see :func:`channeldecomp.metrics.triage_thresholds`).
    exclusive_threshold : float, default=0.5
        Score below which a channel flags an exclusive anomaly.
    title : str, default="Channel decomposition report"
        Title of the report.
    random_state : int, default=0
        Seed of the triage's calibration split.
    reliability : DataFrame, default=None
        The table of :func:`channeldecomp.model_selection.channel_reliability` (computed on
        the training data): its ``reliability`` and ``reliable`` columns join the channel
        table, and each unreliable channel gets a warning in words.

    Returns
    -------
    report : ChannelReport
        The tables (DataFrames) and figures (matplotlib Figures).

    Raises
    ------
    ValueError
        When X, y, keys or sample_weight differ in length, or y has no good or no bad
        lumisection.

    Examples
    --------
    >>> from channeldecomp import ChannelDecompositionClassifier
    >>> from channeldecomp.report import channel_report
    >>> from channeldecomp.datasets import make_channel_anomalies
    >>> data = make_channel_anomalies(n_samples=400, n_features_per_channel=4, random_state=0)
    >>> model = ChannelDecompositionClassifier(hidden_layer_sizes=(8,), max_epochs=2,
    ...                                        random_state=0)
    >>> model = model.fit(data.data[:200], data.target[:200])
    >>> report = channel_report(model, data.data[200:], data.target[200:])
    >>> report.channels.shape, list(report.certification.index)
    ((4, 2), ['muons', 'photons', 'pf', 'calo_jets', 'global'])
    >>> sorted(report.figures)
    ['score_distributions', 'training_curves']
    """
    y = np.asarray(y).reshape(-1)
    if len(y) != len(X):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}.")
    weight = check_sample_weight(sample_weight, len(y))
    if keys is None and isinstance(getattr(X, "index", None), pd.MultiIndex):
        if X.index.nlevels == 2:
            keys = X.index

    scores = get_channel_scores(model, X).reset_index(drop=True)
    p_good = predict_good_proba(model, X, good_label)
    y_good = (y == good_label).astype(int)
    n_bad = int((y_good == 0).sum())
    if n_bad == 0 or n_bad == len(y):
        raise ValueError(
            "The report needs both good and bad lumisections in y (ROC AUC, thresholds and "
            f"triage); y has {len(y) - n_bad} good and {n_bad} bad."
        )
    thresholds = certification.channel_thresholds(
        scores, y_good, false_alarm_rate=false_alarm_rate, sample_weight=weight
    )
    # certify_channels checks the keys (format, length); without keys, rows are numbered.
    certified = certification.certify_channels(
        scores,
        thresholds,
        keys=keys
        if keys is not None
        else np.column_stack([np.zeros(len(y), dtype=np.int64), np.arange(len(y))]),
        global_scores=p_good,
    )
    key_values = None
    if keys is None:
        certified = certified.reset_index(drop=True)
    else:
        key_values = np.column_stack(
            [certified.index.get_level_values(0), certified.index.get_level_values(1)]
        )

    summary = {
        "lumisections": len(y),
        "good": len(y) - n_bad,
        "bad": n_bad,
        "channels": scores.shape[1],
        "global ROC AUC": float(roc_auc_score(y_good, p_good, sample_weight=weight)),
    }
    if key_values is not None:
        summary["runs"] = int(np.unique(key_values[:, 0]).size)

    # Per-channel AUC against the global label (and the channel sizes).
    global_labels = pd.DataFrame({"global label": y_good})
    channels = metrics.channel_subsystem_auc(scores, global_labels, sample_weight=weight)
    channels.columns = ["ROC AUC vs global label"]
    counts = _channel_feature_counts(model)
    if counts is not None:
        channels.insert(0, "features", counts.reindex(channels.index))
    warnings_ = []
    if reliability is not None:
        warnings_ = model_selection.reliability_warnings(reliability)
        channels = channels.join(reliability[["reliability", "reliable"]])

    report = ChannelReport(
        title=title,
        summary=pd.Series(summary, dtype=object).to_frame("value"),
        channels=channels,
        certification=_certification_table(certified, thresholds, y_good, weight),
        certified=certified,
        settings={
            "false_alarm_rate": false_alarm_rate,
            "max_pollution": max_pollution,
            "max_loss": max_loss,
            "exclusive_threshold": exclusive_threshold,
        },
        model_name=type(model).__name__,
        reliability_warnings=warnings_,
    )
    if channel_truth is not None:
        channel_truth = as_frame(channel_truth, "channel_truth", "channel")
        decomposition = metrics.decomposition_auc(
            scores, channel_truth.reset_index(drop=True), sample_weight=weight
        )
        report.decomposition = decomposition.to_frame("ROC AUC vs channel truth")
    report.blame = _blame_table(
        get_channel_blame(model, X).reset_index(drop=True),
        list(scores.columns),
        y_good,
        weight,
        ensemble=getattr(get_channel_model(model), "n_estimators", 1) > 1,
        channel_truth=None if channel_truth is None else channel_truth.reset_index(drop=True),
    )
    if subsystem_labels is not None:
        subsystem_labels = as_frame(subsystem_labels, "subsystem_labels", "subsystem")
        auc, exclusive, figures = _subsystem_tables(
            scores, subsystem_labels.reset_index(drop=True), weight, exclusive_threshold
        )
        report.channel_subsystem_auc, report.exclusive_anomalies = auc, exclusive
        report.figures.update(figures)
    report.figures["score_distributions"] = plotting.plot_score_distributions(
        scores, y_good, sample_weight=None if sample_weight is None else weight
    )
    report.triage, report.triage_thresholds, report.triage_skipped = _triage(
        y_good,
        p_good,
        weight,
        max_pollution=max_pollution,
        max_loss=max_loss,
        random_state=random_state,
    )
    if key_values is not None:
        bad_runs = pd.Series(1 - y_good).groupby(key_values[:, 0]).sum()
        report.timeline_run = int(bad_runs.idxmax())
        report.figures["timeline"] = plotting.plot_run_timeline(
            scores,
            report.timeline_run,
            keys=key_values,
            labels=y_good,
            global_scores=p_good,
            thresholds=thresholds,
        )
    history = getattr(get_channel_model(model), "history_", None)
    if history is not None and len(history) > 0:
        report.figures["training_curves"] = plotting.plot_training_curves(history)
    return report
