"""Outlier detectors trained on reference (good) data only."""

from ._flux import FluxMutability
from ._per_channel import PerChannelOutlierDetector

__all__ = ["FluxMutability", "PerChannelOutlierDetector"]
