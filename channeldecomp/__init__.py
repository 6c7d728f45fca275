"""channeldecomp: which channel made a lumisection bad.

Channel decomposition of a global data-quality flag, as scikit-learn estimators.
"""

from ._report import write_report
from ._version import __version__

__all__ = ["__version__", "write_report"]
