"""Data generators with known ground truth, for demos, tests and benchmarks."""

from ._adc import make_adc_events
from ._tabular import make_channel_anomalies

__all__ = ["make_adc_events", "make_channel_anomalies"]
