"""A self-contained HTML report of a fitted channel-decomposition model on a dataset."""

from __future__ import annotations

import base64
import html
import io
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from . import certification, metrics, plotting
from ._validation import as_frame, check_sample_weight
from ._version import __version__
from .base import get_channel_model, get_channel_scores, predict_good_proba

__all__ = ["write_report"]

logger = logging.getLogger(__name__)

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { margin-top: 1.8em; border-bottom: 1px solid #bbb; }
table.data { border-collapse: collapse; margin: .8em 0; font-size: 90%; }
table.data th, table.data td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
table.data th { background: #f0f0f0; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 85%; color: #555; }
.note { font-size: 90%; color: #555; }
"""


def _figure_html(figure, caption):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    text = html.escape(caption)
    return (
        f'<figure><img alt="{text}" src="data:image/png;base64,{encoded}">'
        f"<figcaption>{text}</figcaption></figure>"
    )


def _table_html(frame, float_format="{:.3f}"):
    return frame.to_html(
        classes="data", border=0, na_rep="n/a", float_format=float_format.format, escape=True
    )


def _paragraph(text):
    return f"<p>{html.escape(text)}</p>"


def _channel_feature_counts(model):
    final = get_channel_model(model)
    indices = getattr(final, "channel_indices_", None)
    if indices is None:
        return None
    return pd.Series({c: len(v) for c, v in indices.items()}, name="features")


def write_report(
    model,
    X,
    y,
    path,
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
    golden_directory=None,
    title="Channel decomposition report",
    random_state=0,
):
    """Write one self-contained HTML report for a fitted model on a dataset.

    The report holds the global and per-channel ROC AUC, the decomposition AUC against known
    truth (when given), the channel x subsystem AUC matrix and the exclusive-anomaly fractions
    (when subsystem flags are given), the score distributions, a per-run timeline, the
    training curves (from ``history_``), the per-channel certification at a false-alarm rate,
    and the two-threshold triage. Figures are embedded as PNG (base64): the file can be mailed
    or attached to an elog entry as is.

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
    path : str or path-like
        The HTML file to write.
    keys : DataFrame, MultiIndex or array of shape (n_samples, 2), default=None
        ``(run, lumi)`` of each row, for the timeline and the golden JSON files; default: the
        index of ``X`` when it is a two-level MultiIndex.
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
    golden_directory : str or path-like, default=None
        If given (and keys are known), also write one golden JSON per channel plus the global
        one there.
    title : str, default="Channel decomposition report"
        Title of the page.
    random_state : int, default=0
        Seed of the triage's calibration split.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Examples
    --------
    >>> import os, tempfile
    >>> from channeldecomp import ChannelDecompositionClassifier, write_report
    >>> from channeldecomp.datasets import make_channel_anomalies
    >>> data = make_channel_anomalies(n_samples=400, n_features_per_channel=4, random_state=0)
    >>> model = ChannelDecompositionClassifier(hidden_layer_sizes=(8,), max_epochs=2,
    ...                                        random_state=0)
    >>> model = model.fit(data.data[:200], data.target[:200])
    >>> path = write_report(model, data.data[200:], data.target[200:],
    ...                     os.path.join(tempfile.mkdtemp(), "report.html"))
    >>> "<h2>Certification</h2>" in path.read_text()
    True
    """
    path = Path(path)
    y = np.asarray(y).reshape(-1)
    if len(y) != len(X):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}.")
    weight = check_sample_weight(sample_weight, len(y))
    if keys is None and isinstance(getattr(X, "index", None), pd.MultiIndex):
        if X.index.nlevels == 2:
            keys = X.index
    key_values = None if keys is None else certification._as_key_array(keys, "keys")
    if key_values is not None and len(key_values) != len(y):
        raise ValueError(f"keys has {len(key_values)} rows but X has {len(y)}.")

    scores = get_channel_scores(model, X).reset_index(drop=True)
    p_good = predict_good_proba(model, X, good_label)
    y_good = (y == good_label).astype(int)
    n_bad = int((y_good == 0).sum())
    if n_bad == 0 or n_bad == len(y):
        raise ValueError(
            "The report needs both good and bad lumisections in y (ROC AUC, thresholds and "
            f"triage); y has {len(y) - n_bad} good and {n_bad} bad."
        )
    if subsystem_labels is not None:
        subsystem_labels = as_frame(subsystem_labels, "subsystem_labels", "subsystem")
        subsystem_labels = subsystem_labels.reset_index(drop=True)
    if channel_truth is not None:
        channel_truth = as_frame(channel_truth, "channel_truth", "channel")
        channel_truth = channel_truth.reset_index(drop=True)

    body = [f"<h1>{html.escape(title)}</h1>"]
    summary = {
        "lumisections": len(y),
        "good": len(y) - n_bad,
        "bad": n_bad,
        "channels": scores.shape[1],
        "global ROC AUC": f"{roc_auc_score(y_good, p_good, sample_weight=weight):.3f}",
    }
    if key_values is not None:
        summary["runs"] = int(np.unique(key_values[:, 0]).size)
    body.append("<h2>Summary</h2>")
    body.append(_table_html(pd.Series(summary, dtype=object).to_frame("value")))

    # Per-channel AUC against the global label (and the channel sizes).
    global_labels = pd.DataFrame({"global label": y_good})
    channel_table = metrics.channel_subsystem_auc(scores, global_labels, sample_weight=weight)
    channel_table.columns = ["ROC AUC vs global label"]
    counts = _channel_feature_counts(model)
    if counts is not None:
        channel_table.insert(0, "features", counts.reindex(channel_table.index))
    body.append("<h2>Channels</h2>")
    body.append(
        _paragraph(
            "Each channel's score (1 = looks good) alone against the global label. A channel "
            "that sees only some anomalies cannot reach the global AUC; that is expected."
        )
    )
    body.append(_table_html(channel_table))

    if channel_truth is not None:
        decomposition = metrics.decomposition_auc(scores, channel_truth, sample_weight=weight)
        body.append("<h2>Decomposition against known truth</h2>")
        body.append(
            _paragraph(
                "ROC AUC of each channel's score against whether an anomaly is visible in that "
                "channel (1.0 = perfect decomposition)."
            )
        )
        body.append(_table_html(decomposition.to_frame("ROC AUC vs channel truth")))

    if subsystem_labels is not None:
        auc = metrics.channel_subsystem_auc(scores, subsystem_labels, sample_weight=weight)
        body.append("<h2>Channels against subsystem flags</h2>")
        body.append(
            _paragraph(
                "ROC AUC of each channel's score against each subsystem's expert flag; in "
                "brackets the number of bad lumisections of the subsystem. n/a: the subsystem "
                "has no bad (or no good) lumisection here."
            )
        )
        body.append(_table_html(auc))
        body.append(_figure_html(plotting.plot_auc_heatmap(auc), "Channel x subsystem ROC AUC"))
        exclusive = metrics.exclusive_anomaly_fraction(
            scores, subsystem_labels, threshold=exclusive_threshold, sample_weight=weight
        )
        body.append(
            _paragraph(
                "Exclusive anomalies (bad in exactly one subsystem): fraction each channel "
                f"flags with score < {exclusive_threshold:g}. Counts: "
                + ", ".join(f"{k} {v}" for k, v in exclusive.attrs["n_exclusive"].items())
                + "."
            )
        )
        body.append(_table_html(exclusive))
        body.append(
            _figure_html(
                plotting.plot_exclusive_anomalies(exclusive, threshold=exclusive_threshold),
                "Exclusive anomalies flagged per channel",
            )
        )

    body.append("<h2>Score distributions</h2>")
    body.append(
        _figure_html(
            plotting.plot_score_distributions(
                scores, y_good, sample_weight=None if sample_weight is None else weight
            ),
            "Channel scores of good and bad lumisections",
        )
    )

    # Certification per channel.
    thresholds = certification.channel_thresholds(
        scores, y_good, false_alarm_rate=false_alarm_rate, sample_weight=weight
    )
    certified_keys = (
        key_values
        if key_values is not None
        else np.column_stack([np.zeros(len(y), dtype=np.int64), np.arange(len(y))])
    )
    certified = certification.certify_channels(
        scores, thresholds, keys=certified_keys, global_scores=p_good
    )
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
    certification_table = pd.DataFrame.from_dict(rows, orient="index")
    certification_table.index.name = "certification"
    body.append("<h2>Certification</h2>")
    body.append(
        _paragraph(
            f"Per-channel thresholds at a false-alarm rate of {false_alarm_rate:g} on good "
            "lumisections; a channel certifies a lumisection whose score is at or above its "
            "threshold. 'global' certifies global P(good) >= 0.5."
        )
    )
    body.append(_table_html(certification_table))
    if golden_directory is not None:
        if key_values is None:
            raise ValueError("golden_directory needs keys= (the run and lumi of each row).")
        paths = certification.write_channel_golden_jsons(certified, golden_directory)
        listing = "".join(
            f"<li>{html.escape(name)}: {html.escape(str(p))}</li>" for name, p in paths.items()
        )
        body.append(f"<p>Golden JSON files written:</p><ul>{listing}</ul>")

    # Triage.
    try:
        triage = metrics.triage(
            y_good,
            p_good,
            max_pollution=max_pollution,
            max_loss=max_loss,
            sample_weight=weight,
            random_state=random_state,
        )
    except ValueError as exc:  # e.g. too few bad lumisections to stratify the split
        logger.warning("Triage skipped: %s", exc)
        body.append("<h2>Triage</h2>" + _paragraph(f"Triage skipped: {exc}"))
    else:
        triage_table = pd.DataFrame(
            {
                name: {k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in result.items()}
                for name, result in (
                    ("calibration half", triage.calibration),
                    ("evaluation half", triage.evaluation),
                )
            }
        )
        accept = (
            f"accept automatically at global P(good) >= {triage.accept_at:.4g}"
            if np.isfinite(triage.accept_at)
            else "no acceptance threshold meets the pollution target (nothing auto-accepted)"
        )
        reject = (
            f"reject automatically at P(good) <= {triage.reject_at:.4g}"
            if np.isfinite(triage.reject_at)
            else "no rejection threshold meets the loss target (nothing auto-rejected)"
        )
        body.append("<h2>Triage</h2>")
        body.append(
            _paragraph(
                f"Two thresholds on the global P(good): {accept}; {reject}; the rest goes to "
                f"expert review. Targets: pollution (bad among accepted) <= {max_pollution:g} "
                f"and loss (good among rejected) <= {max_loss:g}, met by 95% upper bounds on "
                "the calibration half; the evaluation half shows what to expect on new data."
            )
        )
        body.append(_table_html(triage_table))

    if key_values is not None:
        bad_runs = pd.Series(1 - y_good).groupby(key_values[:, 0]).sum()
        run = int(bad_runs.idxmax())
        body.append("<h2>Timeline</h2>")
        body.append(
            _figure_html(
                plotting.plot_run_timeline(
                    scores,
                    run,
                    keys=key_values,
                    labels=y_good,
                    global_scores=p_good,
                    thresholds=thresholds,
                ),
                f"Channel scores along run {run} (the run with most bad lumisections); dots: "
                "below the channel threshold",
            )
        )

    final = get_channel_model(model)
    history = getattr(final, "history_", None)
    if history is not None and len(history) > 0:
        body.append("<h2>Training</h2>")
        body.append(_figure_html(plotting.plot_training_curves(history), "Training curves"))

    body.append(
        f'<p class="note">channeldecomp {html.escape(__version__)}; model: '
        f"{html.escape(type(model).__name__)}.</p>"
    )
    document = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
    path.write_text(document, encoding="utf-8")
    logger.info("Report written to %s", path)
    return path
