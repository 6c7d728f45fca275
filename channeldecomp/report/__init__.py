"""Reports of a fitted channel model on a dataset: compute (tables, figures), render (HTML).

:func:`channel_report` computes a :class:`ChannelReport` (pandas tables and matplotlib
figures, no file I/O); :meth:`ChannelReport.to_html` / :func:`render_html` render it as one
self-contained HTML page; :func:`write_report` does both and writes the page. Drawing the
figures needs the ``plot`` extra (matplotlib).
"""

from ._compute import ChannelReport, channel_report
from ._render import render_html
from ._write import write_report

__all__ = ["ChannelReport", "channel_report", "render_html", "write_report"]
