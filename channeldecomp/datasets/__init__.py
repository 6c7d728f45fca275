"""Data generators with known ground truth, for demos, tests and benchmarks."""

from ._tabular import make_channel_anomalies

__all__ = ["make_channel_anomalies"]
