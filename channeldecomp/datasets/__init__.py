"""Data generators with known ground truth, for demos, tests and benchmarks."""

from ._conditional import make_conditional_anomalies
from ._tabular import make_channel_anomalies

__all__ = ["make_channel_anomalies", "make_conditional_anomalies"]
