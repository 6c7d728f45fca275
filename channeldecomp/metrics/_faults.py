"""Faults: indicator and label columns from fault-mode tables, and the global AUC by fault.

A fault-mode table has one column per subsystem naming the fault mode active there in each
lumisection, ``""`` for none (``simulate_lumisections(...).fault_mode``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._validation import binary_labels, check_same_rows, check_sample_weight
from ._auc import _auc_matrix, _warn_undefined

__all__ = ["fault_labels", "fault_mode_indicators", "global_auc_by_fault"]


def fault_mode_indicators(fault_mode):
    """One boolean column per fault mode present, named ``"subsystem:mode"``: the LS it hits.

    Parameters
    ----------
    fault_mode : DataFrame of shape (n_samples, n_subsystems)
        The fault mode active in each subsystem, ``""`` for none (as in
        ``simulate_lumisections(...).fault_mode``).

    Returns
    -------
    DataFrame of shape (n_samples, n_modes)
        Columns by subsystem, then by mode name; the index ``0 .. n_samples - 1``.

    Examples
    --------
    >>> import pandas as pd
    >>> modes = pd.DataFrame({"DT": ["", "dead_region"], "ECAL": ["noisy_cells", ""]})
    >>> fault_mode_indicators(modes)
       DT:dead_region  ECAL:noisy_cells
    0           False              True
    1            True             False
    """
    if not isinstance(fault_mode, pd.DataFrame):
        raise TypeError(
            "fault_mode must be a DataFrame with one column per subsystem naming its fault mode "
            f"('' for none); got {type(fault_mode).__name__}."
        )
    return pd.DataFrame(
        {
            f"{subsystem}:{mode}": (fault_mode[subsystem] == mode).to_numpy()
            for subsystem in fault_mode.columns
            for mode in sorted(set(fault_mode[subsystem]) - {""})
        },
        index=range(len(fault_mode)),
    )


def fault_labels(fault_mode, y_true, *, good_label=1):
    """Each lumisection's fault, to break the global AUC down by fault.

    A bad lumisection hit by one fault mode gets its name (``"DT:dead_region"``), one hit by
    several gets ``"several faults"``, one hit by none (a flipped label) gets
    ``"no fault (label noise)"``; a good lumisection gets ``""``. The labels of the bad
    lumisections partition them, the input of :func:`global_auc_by_fault`.

    Parameters
    ----------
    fault_mode : DataFrame of shape (n_samples, n_subsystems)
        The fault mode of each lumisection in each subsystem, ``""`` for none.
    y_true : array-like of shape (n_samples,)
        Global labels.
    good_label : int or str, default=1
        The label that means good.

    Returns
    -------
    ndarray of object, shape (n_samples,)

    Examples
    --------
    >>> import pandas as pd
    >>> modes = pd.DataFrame({"DT": ["", "dead_region", "dead_region", ""],
    ...                       "ECAL": ["", "", "noisy_cells", ""]})
    >>> fault_labels(modes, [1, 0, 0, 0]).tolist()
    ['', 'DT:dead_region', 'several faults', 'no fault (label noise)']
    """
    modes = fault_mode_indicators(fault_mode)
    labels = binary_labels(np.asarray(y_true).reshape(-1), "y_true", good_label)
    check_same_rows(modes, "fault_mode", labels, "y_true")
    n_faults = modes.sum(axis=1).to_numpy()
    single = modes.idxmax(axis=1).to_numpy() if modes.shape[1] else np.full(len(modes), "")
    label = np.where(
        n_faults == 1,
        single,
        np.where(n_faults > 1, "several faults", "no fault (label noise)"),
    )
    return np.where(labels == 1, "", label).astype(object)


def global_auc_by_fault(y_true, y_score, faults, *, good_label=1, sample_weight=None):
    """ROC AUC of the global score for each fault: its bad lumisections against all good ones.

    The global ROC AUC is the (weighted) mean over bad lumisections of the fraction of good
    ones scoring higher, so it is exactly the mean of the per-fault AUCs weighted by each
    fault's bad lumisections, ``sum(n_bad * auc) / sum(n_bad)`` (with ``sample_weight``: by
    their weight). A gap in global AUC between two models therefore splits into one term per
    fault, ``n_bad * (auc_a - auc_b) / sum(n_bad)``: which faults does a model miss?

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Global labels.
    y_score : array-like of shape (n_samples,)
        Global scores, higher = more likely good.
    faults : array-like of shape (n_samples,)
        The fault of each lumisection (e.g. ``"DT:dead_region"``); read for the bad ones only,
        so give every bad lumisection a label (``"several faults"``, ``"label noise"``, ...).
    good_label : int or str, default=1
        The label that means good.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the lumisections.

    Returns
    -------
    DataFrame
        One row per fault of the bad lumisections (sorted), columns ``auc`` (NaN, with a
        warning, when there is no good lumisection) and ``n_bad`` (the number of its bad
        lumisections).

    Examples
    --------
    >>> y = [1, 1, 1, 0, 0, 0]
    >>> score = [0.9, 0.8, 0.3, 0.1, 0.85, 0.2]
    >>> faults = ["", "", "", "DT", "ECAL", "DT"]
    >>> by_fault = global_auc_by_fault(y, score, faults)
    >>> by_fault
           auc  n_bad
    fault
    DT     1.0      2
    ECAL   0.333    1
    >>> float((by_fault["auc"] * by_fault["n_bad"]).sum() / by_fault["n_bad"].sum())
    0.777...
    """
    labels = binary_labels(np.asarray(y_true).reshape(-1), "y_true", good_label)
    score = np.asarray(y_score, dtype=float).reshape(-1)
    faults = np.asarray(faults, dtype=object).reshape(-1)
    check_same_rows(labels, "y_true", score, "y_score")
    check_same_rows(labels, "y_true", faults, "faults")
    weight = check_sample_weight(sample_weight, len(labels))
    names = sorted(set(faults[labels == 0]), key=str)
    # One label column per fault: good rows 1, the fault's bad rows 0, other rows left out.
    flags = np.full((len(labels), len(names)), np.nan)
    flags[labels == 1] = 1.0
    for column, name in enumerate(names):
        flags[(labels == 0) & (faults == name), column] = 0.0
    auc, positive, negative = _auc_matrix(score[:, None], flags, weight)
    _warn_undefined(auc, positive, negative, ["the global score"], names, "the faults")
    n_bad = [int(((labels == 0) & (faults == name)).sum()) for name in names]
    return pd.DataFrame(
        {"auc": auc[0], "n_bad": n_bad}, index=pd.Index(names, name="fault", dtype=object)
    )
