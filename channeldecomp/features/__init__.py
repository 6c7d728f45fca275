"""From per-event physics objects to per-lumisection features.

:class:`LumiSections` holds the events of each lumisection (LS) column by column;
:class:`LumiSectionPercentiles` turns it into one row of features per LS.
"""

from ._lumisections import LumiSections
from ._readers import read_nanoaod

__all__ = ["LumiSections", "read_nanoaod"]
