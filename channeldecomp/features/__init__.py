"""From per-event physics objects to per-lumisection features.

:class:`LumiSections` holds the events of each lumisection (LS) column by column;
:class:`LumiSectionPercentiles` turns it into one row of features per LS;
:func:`read_nanoaod` reads CMS NanoAOD-style ROOT files (``hep`` extra);
:func:`extract_features` computes the features of many such files on Dask (``dask`` extra), on a
local cluster from :func:`extraction_cluster` or any other, and :func:`read_features` reads back
the Parquet tables it writes.
:class:`LumiSectionHistograms` holds per-lumisection histograms of monitoring elements (read
from DIALS exports by :func:`read_dials`) and :class:`HistogramFeatures` turns it into features.
"""

from ._dials import read_dials
from ._extraction import extract_features, extraction_cluster, read_features, write_features
from ._histogram_features import HistogramFeatures
from ._histograms import LumiSectionHistograms
from ._lumisections import LumiSections
from ._percentiles import LUMISECTION_PREFIX, LumiSectionPercentiles
from ._readers import read_nanoaod

__all__ = [
    "HistogramFeatures",
    "LUMISECTION_PREFIX",
    "LumiSectionHistograms",
    "LumiSectionPercentiles",
    "LumiSections",
    "extract_features",
    "extraction_cluster",
    "read_dials",
    "read_features",
    "read_nanoaod",
    "write_features",
]
