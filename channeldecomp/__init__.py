"""channeldecomp: which channel made a lumisection bad.

Channel decomposition of a global data-quality flag, as scikit-learn estimators.
"""

from ._version import __version__
from .decomposition import PRESETS, ChannelDecompositionClassifier, DistilledChannelClassifier
from .features import (
    HistogramFeatures,
    LumiSectionHistograms,
    LumiSectionPercentiles,
    LumiSections,
)
from .io import load, save
from .report import write_report

__all__ = [
    "ChannelDecompositionClassifier",
    "DistilledChannelClassifier",
    "HistogramFeatures",
    "LumiSectionHistograms",
    "LumiSectionPercentiles",
    "LumiSections",
    "PRESETS",
    "__version__",
    "load",
    "save",
    "write_report",
]
