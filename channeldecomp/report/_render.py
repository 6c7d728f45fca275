"""Render a computed report as one self-contained HTML page."""

from __future__ import annotations

import base64
import html
import io

import numpy as np

from .._version import __version__

__all__ = ["render_html"]

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


def _summary(report):
    summary = report.summary.copy()
    auc = summary.loc["global ROC AUC", "value"]
    summary.loc["global ROC AUC", "value"] = f"{auc:.3f}"
    return ["<h2>Summary</h2>", _table_html(summary)]


def _channels(report):
    return [
        "<h2>Channels</h2>",
        _paragraph(
            "Each channel's score (1 = looks good) alone against the global label. A channel "
            "that sees only some anomalies cannot reach the global AUC; that is expected."
        ),
        _table_html(report.channels),
        *[_paragraph(f"Warning: {line}") for line in report.reliability_warnings],
    ]


def _blame(report):
    if report.blame is None:
        return []
    text = (
        "Among the bad lumisections, the channel each one blames: its lowest score, where the "
        "model sees the anomaly. A blame whose score is high (the lumisection is bad but no "
        "channel looks clearly bad) is more often wrong"
    )
    if "networks agree" in report.blame.columns:
        text += ", and so is one on which the ensemble's networks disagree ('networks agree': "
        text += "the share blamed by every network)"
    if "wrong blame" in report.blame.columns:
        text += "; 'wrong blame': the share of those with a visible fault that the known "
        text += "truth says the channel does not see"
    return ["<h2>Blame</h2>", _paragraph(text + "."), _table_html(report.blame)]


def _decomposition(report):
    if report.decomposition is None:
        return []
    return [
        "<h2>Decomposition against known truth</h2>",
        _paragraph(
            "ROC AUC of each channel's score against whether an anomaly is visible in that "
            "channel (1.0 = perfect decomposition)."
        ),
        _table_html(report.decomposition),
    ]


def _subsystems(report):
    if report.channel_subsystem_auc is None:
        return []
    threshold = report.settings["exclusive_threshold"]
    exclusive = report.exclusive_anomalies
    counts = ", ".join(f"{k} {v}" for k, v in exclusive.attrs["n_exclusive"].items())
    return [
        "<h2>Channels against subsystem flags</h2>",
        _paragraph(
            "ROC AUC of each channel's score against each subsystem's expert flag; in "
            "brackets the number of bad lumisections of the subsystem. n/a: the subsystem "
            "has no bad (or no good) lumisection here."
        ),
        _table_html(report.channel_subsystem_auc),
        _figure_html(report.figures["auc_heatmap"], "Channel x subsystem ROC AUC"),
        _paragraph(
            "Exclusive anomalies (bad in exactly one subsystem): fraction each channel "
            f"flags with score < {threshold:g}. Counts: {counts}."
        ),
        _table_html(exclusive),
        _figure_html(
            report.figures["exclusive_anomalies"], "Exclusive anomalies flagged per channel"
        ),
    ]


def _distributions(report):
    return [
        "<h2>Score distributions</h2>",
        _figure_html(
            report.figures["score_distributions"], "Channel scores of good and bad lumisections"
        ),
    ]


def _certification(report):
    return [
        "<h2>Certification</h2>",
        _paragraph(
            f"Per-channel thresholds at a false-alarm rate of "
            f"{report.settings['false_alarm_rate']:g} on good lumisections; a channel "
            "certifies a lumisection whose score is at or above its threshold. 'global' "
            "certifies global P(good) >= 0.5."
        ),
        _table_html(report.certification),
    ]


def _triage(report):
    if report.triage is None:
        return ["<h2>Triage</h2>" + _paragraph(f"Triage skipped: {report.triage_skipped}")]
    reject_at, accept_at = report.triage_thresholds
    accept = (
        f"accept automatically at global P(good) >= {accept_at:.4g}"
        if np.isfinite(accept_at)
        else "no acceptance threshold meets the pollution target (nothing auto-accepted)"
    )
    reject = (
        f"reject automatically at P(good) <= {reject_at:.4g}"
        if np.isfinite(reject_at)
        else "no rejection threshold meets the loss target (nothing auto-rejected)"
    )
    return [
        "<h2>Triage</h2>",
        _paragraph(
            f"Two thresholds on the global P(good): {accept}; {reject}; the rest goes to "
            f"expert review. Targets: pollution (bad among accepted) <= "
            f"{report.settings['max_pollution']:g} and loss (good among rejected) <= "
            f"{report.settings['max_loss']:g}, met by 95% upper bounds on the calibration "
            "half; the evaluation half shows what to expect on new data."
        ),
        _table_html(report.triage, float_format="{:.4f}"),
    ]


def _timeline(report):
    if "timeline" not in report.figures:
        return []
    return [
        "<h2>Timeline</h2>",
        _figure_html(
            report.figures["timeline"],
            f"Channel scores along run {report.timeline_run} (the run with most bad "
            "lumisections); dots: below the channel threshold",
        ),
    ]


def _training(report):
    if "training_curves" not in report.figures:
        return []
    return [
        "<h2>Training</h2>",
        _figure_html(report.figures["training_curves"], "Training curves"),
    ]


_SECTIONS = (
    _summary,
    _channels,
    _blame,
    _decomposition,
    _subsystems,
    _distributions,
    _certification,
    _triage,
    _timeline,
    _training,
)


def render_html(report):
    """Render a report as one self-contained HTML page.

    Tables are HTML tables; figures are embedded as PNG (base64), so the page loads no
    external resource and can be mailed or attached to an elog entry as is.

    Parameters
    ----------
    report : ChannelReport
        As returned by :func:`~channeldecomp.report.channel_report`.

    Returns
    -------
    str
        The HTML document.

    Examples
    --------
    >>> from channeldecomp import ChannelDecompositionClassifier
    >>> from channeldecomp.report import channel_report, render_html
    >>> from channeldecomp.datasets import make_channel_anomalies
    >>> data = make_channel_anomalies(n_samples=400, n_features_per_channel=4, random_state=0)
    >>> model = ChannelDecompositionClassifier(hidden_layer_sizes=(8,), max_epochs=2,
    ...                                        random_state=0)
    >>> model = model.fit(data.data[:200], data.target[:200])
    >>> page = render_html(channel_report(model, data.data[200:], data.target[200:]))
    >>> page.startswith("<!DOCTYPE html>"), "<h2>Certification</h2>" in page
    (True, True)
    """
    body = [f"<h1>{html.escape(report.title)}</h1>"]
    for section in _SECTIONS:
        body.extend(section(report))
    body.append(
        f'<p class="note">channeldecomp {html.escape(__version__)}; model: '
        f"{html.escape(report.model_name)}.</p>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(report.title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
