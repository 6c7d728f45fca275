"""From per-event physics objects to per-lumisection features.

:class:`LumiSections` holds the events of each lumisection (LS) column by column;
:class:`LumiSectionPercentiles` turns it into one row of features per LS;
:func:`read_nanoaod` reads CMS NanoAOD-style ROOT files (``hep`` extra);
:func:`extract_features` computes the features of many such files on Dask (``dask`` extra) and
:func:`read_features` reads back the Parquet tables it writes.
"""

from ._extraction import extract_features, read_features, write_features
from ._lumisections import LumiSections
from ._percentiles import LUMISECTION_PREFIX, LumiSectionPercentiles
from ._readers import read_nanoaod

__all__ = [
    "LUMISECTION_PREFIX",
    "LumiSectionPercentiles",
    "LumiSections",
    "extract_features",
    "read_features",
    "read_nanoaod",
    "write_features",
]
