"""Data generators with known ground truth, for demos, tests and benchmarks."""

from ._adc import make_adc_events
from ._conditional import make_conditional_anomalies
from ._detector import (
    DETECTOR_CHANNELS,
    DETECTOR_FAULT_MODES,
    DETECTOR_VISIBILITY,
    FAULT_VISIBILITY,
    SimulatedBlocks,
    detector_visibility,
    simulate_lumisections,
)
from ._histograms import SIMULATED_MES
from ._tabular import make_channel_anomalies

__all__ = [
    "DETECTOR_CHANNELS",
    "DETECTOR_FAULT_MODES",
    "DETECTOR_VISIBILITY",
    "FAULT_VISIBILITY",
    "SIMULATED_MES",
    "SimulatedBlocks",
    "detector_visibility",
    "make_adc_events",
    "make_channel_anomalies",
    "make_conditional_anomalies",
    "simulate_lumisections",
]
