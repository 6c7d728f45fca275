"""Decomposition and data-quality metrics for channel scores.

Pure functions of labels and scores, like :mod:`sklearn.metrics`: channel scores against known
per-channel truth (:func:`decomposition_auc`, :func:`bad_only_decomposition_auc`, and
:func:`match_channels` for score columns that are no channel, and
:func:`decomposition_summary`, the decomposition benchmark's four figures), against subsystem flags
(:func:`channel_subsystem_auc`, :func:`exclusive_anomaly_fraction`); the global score's AUC by
fault (:func:`global_auc_by_fault`, with :func:`fault_labels` and :func:`fault_mode_indicators`
for fault-mode tables) and its triage (:func:`triage_thresholds`, :func:`evaluate_triage`,
:func:`triage`, :func:`precision_at_recall`). What fits models (the random-partition control)
is in :mod:`channeldecomp.model_selection`.

Conventions used throughout: labels are ``1 = good`` (certified) and ``0 = bad``; channel scores
are in ``(0, 1]`` with ``1 = the channel looks good``. A ROC AUC here is therefore the
probability that a good lumisection scores higher than a bad one. Every function accepts
``sample_weight`` (for instance the luminosity of each lumisection).

References
----------
.. [1] M. Borisyak et al., "Deep learning for inferring cause of data anomalies",
   J. Phys.: Conf. Ser. 1085 (2018) 042015, arXiv:1711.07051.
.. [2] M. Borisyak et al., "Towards automation of data quality system for CERN CMS experiment",
   J. Phys.: Conf. Ser. 898 (2017) 092041, arXiv:1709.08607.
"""

from ._decomposition import (
    bad_only_decomposition_auc,
    decomposition_auc,
    decomposition_summary,
    match_channels,
)
from ._faults import fault_labels, fault_mode_indicators, global_auc_by_fault
from ._subsystem import channel_subsystem_auc, exclusive_anomaly_fraction
from ._triage import evaluate_triage, precision_at_recall, triage, triage_thresholds

__all__ = [
    "bad_only_decomposition_auc",
    "channel_subsystem_auc",
    "decomposition_auc",
    "decomposition_summary",
    "evaluate_triage",
    "exclusive_anomaly_fraction",
    "fault_labels",
    "fault_mode_indicators",
    "global_auc_by_fault",
    "match_channels",
    "precision_at_recall",
    "triage",
    "triage_thresholds",
]
