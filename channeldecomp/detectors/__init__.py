"""Outlier detectors trained on reference (good) data only."""

from ._flux import FluxMutability

__all__ = ["FluxMutability"]
