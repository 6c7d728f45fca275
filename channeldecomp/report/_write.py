"""Compute, render and write a report in one call."""

from __future__ import annotations

import logging
from pathlib import Path

from ._compute import channel_report

__all__ = ["write_report"]

logger = logging.getLogger(__name__)


def write_report(model, X, y, path, **options):
    """Write one self-contained HTML report for a fitted model on a dataset.

    :func:`~channeldecomp.report.channel_report` followed by
    :meth:`~channeldecomp.report.ChannelReport.to_html`, written to ``path``. Nothing else is
    written: for the per-channel golden JSON files, compute the report with
    :func:`~channeldecomp.report.channel_report` and pass its ``certified`` table to
    :func:`channeldecomp.certification.write_channel_golden_jsons`.

    Parameters
    ----------
    model : estimator
        A fitted ``ChannelDecompositionClassifier`` or a Pipeline ending in one.
    X : DataFrame or array-like of shape (n_samples, n_features)
        Features of the lumisections (not used in training).
    y : array-like of shape (n_samples,)
        Global labels.
    path : str or path-like
        The HTML file to write.
    **options
        The keyword arguments of :func:`~channeldecomp.report.channel_report`: ``keys``,
        ``subsystem_labels``, ``channel_truth``, ``sample_weight``, ``good_label``,
        ``false_alarm_rate``, ``max_pollution``, ``max_loss``, ``exclusive_threshold``,
        ``title`` and ``random_state``.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        As :func:`~channeldecomp.report.channel_report`.
    TypeError
        For an unknown option, e.g. ``golden_directory`` (see above).

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
    if "golden_directory" in options:
        raise TypeError(
            "write_report writes the HTML page only; for the golden JSON files, compute the "
            "report with channel_report(...) and call channeldecomp.certification."
            "write_channel_golden_jsons(report.certified, golden_directory)."
        )
    path = Path(path)
    document = channel_report(model, X, y, **options).to_html()
    path.write_text(document, encoding="utf-8")
    logger.info("Report written to %s", path)
    return path
