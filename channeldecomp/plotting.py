"""Figures for data-quality teams (needs the ``plot`` extra: matplotlib).

Every function returns a :class:`matplotlib.figure.Figure` built with the object-oriented API
(no global pyplot state is touched), so it works under any backend and in scripts, notebooks
and the HTML report alike. matplotlib is imported inside the functions only.

References
----------
.. [1] M. Borisyak et al., "Deep learning for inferring cause of data anomalies",
   J. Phys.: Conf. Ser. 1085 (2018) 042015, arXiv:1711.07051 (Figs. 2-4).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "plot_auc_heatmap",
    "plot_exclusive_anomalies",
    "plot_run_timeline",
    "plot_score_distributions",
    "plot_training_curves",
]


def _new_figure(figsize):
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "channeldecomp.plotting needs matplotlib: pip install 'channeldecomp[plot]'."
        ) from exc
    return Figure(figsize=figsize, layout="constrained")


def _scores_frame(channel_scores):
    if isinstance(channel_scores, pd.DataFrame):
        return channel_scores
    array = np.asarray(channel_scores, dtype=float)
    if array.ndim != 2:
        raise ValueError(f"channel_scores must be 2-dimensional; got shape {array.shape}.")
    return pd.DataFrame(array, columns=[f"channel{i}" for i in range(array.shape[1])])


def plot_score_distributions(
    channel_scores, y_true, *, good_label=1, bins=40, sample_weight=None, log=True
):
    """Distribution of each channel's score for good and bad lumisections (paper Fig. 2).

    Parameters
    ----------
    channel_scores : DataFrame of shape (n_samples, n_channels)
        Channel scores in [0, 1], 1 = the channel looks good.
    y_true : array-like of shape (n_samples,)
        Global labels.
    good_label : int or str, default=1
        The label that means good.
    bins : int, default=40
        Histogram bins on [0, 1].
    sample_weight : array-like of shape (n_samples,), default=None
        Weights.
    log : bool, default=True
        Logarithmic counts axis.

    Returns
    -------
    figure : matplotlib.figure.Figure
        One panel per channel.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> scores = pd.DataFrame({"muons": np.linspace(0, 1, 20), "jets": np.linspace(1, 0, 20)})
    >>> fig = plot_score_distributions(scores, np.arange(20) % 2)
    >>> len(fig.axes)
    2
    """
    scores = _scores_frame(channel_scores)
    y = np.asarray(y_true).reshape(-1)
    if len(y) != len(scores):
        raise ValueError(f"channel_scores has {len(scores)} rows but y_true has {len(y)}.")
    weight = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    good = y == good_label
    n = scores.shape[1]
    n_columns = min(n, 4)
    n_rows = int(np.ceil(n / n_columns))
    figure = _new_figure((3.2 * n_columns, 2.6 * n_rows))
    axes = np.atleast_1d(figure.subplots(n_rows, n_columns, squeeze=False)).ravel()
    edges = np.linspace(0, 1, bins + 1)
    for ax, channel in zip(axes, scores.columns):
        values = np.clip(scores[channel].to_numpy(dtype=float), 0, 1)
        for mask, label, color in ((good, "good", "tab:green"), (~good, "bad", "tab:red")):
            if mask.any():
                ax.hist(
                    values[mask],
                    bins=edges,
                    weights=None if weight is None else weight[mask],
                    histtype="step",
                    linewidth=1.5,
                    color=color,
                    label=f"{label} ({int(mask.sum())})",
                    log=log,
                )
        ax.set_title(str(channel))
        ax.set_xlabel("channel score (1 = looks good)")
        ax.set_xlim(0, 1)
    for ax in axes[n:]:
        ax.set_visible(False)
    axes[0].set_ylabel("lumisections")
    axes[0].legend(loc="upper center", fontsize="small")
    return figure


def plot_auc_heatmap(auc, *, counts=None, title="ROC AUC: channel score vs subsystem flag"):
    """Heat map of a channel x subsystem matrix (paper Fig. 3), values written in the cells.

    Parameters
    ----------
    auc : DataFrame of shape (n_channels, n_subsystems)
        E.g. :func:`channeldecomp.metrics.channel_subsystem_auc`; NaN cells are shown grey.
    counts : dict of str to int, default=None
        Per-subsystem counts shown in brackets under the names; default:
        ``auc.attrs["n_bad"]`` when present.
    title : str
        Figure title.

    Returns
    -------
    figure : matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> auc = pd.DataFrame([[0.9, float("nan")], [0.6, 0.7]], index=["mu", "jet"],
    ...                    columns=["DT", "HCAL"])
    >>> fig = plot_auc_heatmap(auc, counts={"DT": 12, "HCAL": 0})
    >>> fig.axes[0].get_xticklabels()[0].get_text()
    'DT\\n(12)'
    """
    if not isinstance(auc, pd.DataFrame):
        raise TypeError("auc must be a DataFrame (rows: channels, columns: subsystems).")
    if counts is None:
        counts = auc.attrs.get("n_bad", auc.attrs.get("n_exclusive"))
    values = auc.to_numpy(dtype=float)
    figure = _new_figure((1.0 + 0.9 * auc.shape[1], 1.2 + 0.6 * auc.shape[0]))
    ax = figure.subplots()
    masked = np.ma.masked_invalid(values)
    import matplotlib as mpl

    cmap = mpl.colormaps["RdYlGn"].with_extremes(bad="lightgrey")
    image = ax.imshow(masked, cmap=cmap, vmin=0, vmax=1, aspect="auto")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            text = "n/a" if np.isnan(values[i, j]) else f"{values[i, j]:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize="small")
    labels = [
        f"{c}\n({counts[c]})" if counts is not None and c in counts else str(c) for c in auc.columns
    ]
    ax.set_xticks(range(auc.shape[1]), labels, fontsize="small")
    ax.set_yticks(range(auc.shape[0]), [str(r) for r in auc.index])
    ax.set_title(title, fontsize="medium")
    figure.colorbar(image, ax=ax, shrink=0.8)
    return figure


def plot_exclusive_anomalies(fractions, *, counts=None, threshold=None):
    """Grouped bars: fraction of exclusive anomalies each channel flags (paper Fig. 4).

    Parameters
    ----------
    fractions : DataFrame of shape (n_channels, n_subsystems)
        From :func:`channeldecomp.metrics.exclusive_anomaly_fraction`.
    counts : dict of str to int, default=None
        Exclusive anomalies per subsystem, shown in brackets; default:
        ``fractions.attrs["n_exclusive"]`` when present.
    threshold : float, default=None
        The score threshold used, for the axis label.

    Returns
    -------
    figure : matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> fractions = pd.DataFrame([[0.9, 0.2], [0.1, 0.8]], index=["mu", "jet"],
    ...                          columns=["DT", "HCAL"])
    >>> fig = plot_exclusive_anomalies(fractions)
    >>> len(fig.axes[0].patches)
    4
    """
    if not isinstance(fractions, pd.DataFrame):
        raise TypeError("fractions must be a DataFrame (rows: channels, columns: subsystems).")
    if counts is None:
        counts = fractions.attrs.get("n_exclusive")
    n_channels, n_subsystems = fractions.shape
    figure = _new_figure((1.5 + 1.0 * n_subsystems, 3.2))
    ax = figure.subplots()
    width = 0.8 / max(n_channels, 1)
    positions = np.arange(n_subsystems)
    for k, channel in enumerate(fractions.index):
        ax.bar(
            positions + (k - (n_channels - 1) / 2) * width,
            np.nan_to_num(fractions.loc[channel].to_numpy(dtype=float)),
            width=width,
            label=str(channel),
        )
    labels = [
        f"{c}\n({counts[c]})" if counts is not None and c in counts else str(c)
        for c in fractions.columns
    ]
    ax.set_xticks(positions, labels, fontsize="small")
    ax.set_ylim(0, 1)
    rule = "score < threshold" if threshold is None else f"score < {threshold:g}"
    ax.set_ylabel(f"fraction flagged ({rule})")
    ax.set_title("Exclusive anomalies flagged per channel", fontsize="medium")
    ax.legend(fontsize="small", ncols=min(n_channels, 4))
    return figure


def plot_run_timeline(
    channel_scores,
    run=None,
    *,
    keys=None,
    labels=None,
    global_scores=None,
    thresholds=None,
):
    """Channel scores of one run along its lumisections: the shifter's view.

    Lumisections on the x axis, one row per channel (colour = score, red = anomaly visible),
    optionally a row for the global P(good), and the global label as a strip on top.
    Lumisections flagged by a channel threshold are marked with a black dot.

    Parameters
    ----------
    channel_scores : DataFrame of shape (n_samples, n_channels)
        Channel scores, 1 = the channel looks good.
    run : int, default=None
        Run to show; default: the run with most rows.
    keys : DataFrame, MultiIndex or array of shape (n_samples, 2), default=None
        ``(run, lumi)`` of each row; default: the index of ``channel_scores`` (a two-level
        MultiIndex).
    labels : array-like of shape (n_samples,), default=None
        Global labels (1 = good), drawn as a strip.
    global_scores : array-like of shape (n_samples,), default=None
        Global P(good), drawn as an extra row.
    thresholds : float, dict or Series, default=None
        Per-channel thresholds; scores below are marked.

    Returns
    -------
    figure : matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> index = pd.MultiIndex.from_product([[1], range(1, 31)], names=["run", "lumi"])
    >>> scores = pd.DataFrame({"muons": np.linspace(0, 1, 30), "jets": 0.9}, index=index)
    >>> fig = plot_run_timeline(scores, labels=np.ones(30), thresholds=0.2)
    >>> fig.axes[0].get_title()
    'Run 1: 30 lumisections'
    """
    from .certification import lumisection_keys

    scores = _scores_frame(channel_scores)
    if keys is None:
        if not (isinstance(scores.index, pd.MultiIndex) and scores.index.nlevels == 2):
            raise ValueError(
                "plot_run_timeline needs the (run, lumi) of each row: pass keys=, or index "
                "channel_scores by a (run, lumi) MultiIndex."
            )
        keys = scores.index
    key_values = lumisection_keys(keys, "keys")
    if len(key_values) != len(scores):
        raise ValueError(f"keys has {len(key_values)} rows but channel_scores has {len(scores)}.")
    runs, run_counts = np.unique(key_values[:, 0], return_counts=True)
    if run is None:
        run = int(runs[np.argmax(run_counts)])
    rows = np.flatnonzero(key_values[:, 0] == run)
    if rows.size == 0:
        raise ValueError(f"Run {run} is not in the data; runs present: {runs[:10].tolist()}...")
    rows = rows[np.argsort(key_values[rows, 1], kind="stable")]
    lumis = key_values[rows, 1]

    matrix = scores.iloc[rows].to_numpy(dtype=float).T
    row_names = [str(c) for c in scores.columns]
    if global_scores is not None:
        matrix = np.vstack([np.asarray(global_scores, dtype=float)[rows], matrix])
        row_names = ["global P(good)", *row_names]

    import matplotlib as mpl

    has_labels = labels is not None
    figure = _new_figure((min(16, 4 + 0.06 * rows.size), 1.2 + 0.45 * len(row_names)))
    if has_labels:
        label_ax, ax = figure.subplots(
            2, 1, sharex=True, gridspec_kw={"height_ratios": [1, max(len(row_names), 1) * 2]}
        )
    else:
        ax = figure.subplots()
    extent = (lumis.min() - 0.5, lumis.max() + 0.5, len(row_names) - 0.5, -0.5)
    cmap = mpl.colormaps["RdYlGn"]
    # Missing lumisections between first and last are left blank: draw per-LS cells.
    grid = np.full((len(row_names), int(lumis.max() - lumis.min() + 1)), np.nan)
    grid[:, lumis - lumis.min()] = matrix
    image = ax.imshow(
        np.ma.masked_invalid(grid),
        aspect="auto",
        cmap=cmap.with_extremes(bad="white"),
        vmin=0,
        vmax=1,
        extent=extent,
        interpolation="nearest",
    )
    ax.set_yticks(range(len(row_names)), row_names)
    ax.set_xlabel("lumisection")
    figure.colorbar(image, ax=ax, shrink=0.9, label="score (1 = good)")
    if thresholds is not None:
        offset = 1 if global_scores is not None else 0
        for k, channel in enumerate(scores.columns):
            limit = (
                thresholds[channel]
                if isinstance(thresholds, (dict, pd.Series))
                else float(thresholds)
            )
            flagged = matrix[k + offset] < limit
            ax.plot(lumis[flagged], np.full(flagged.sum(), k + offset), "k.", markersize=3)
    title = f"Run {run}: {rows.size} lumisections"
    if has_labels:
        label_values = np.asarray(labels, dtype=float).reshape(-1)[rows]
        strip = np.full((1, grid.shape[1]), np.nan)
        strip[0, lumis - lumis.min()] = label_values
        label_ax.imshow(
            np.ma.masked_invalid(strip),
            aspect="auto",
            cmap=mpl.colors.ListedColormap(["tab:red", "tab:green"]).with_extremes(bad="white"),
            vmin=0,
            vmax=1,
            extent=(extent[0], extent[1], 0.5, -0.5),
            interpolation="nearest",
        )
        label_ax.set_yticks([0], ["label"])
        label_ax.set_title(title, fontsize="medium")
    else:
        ax.set_title(title, fontsize="medium")
    return figure


def _history_records(history):
    if hasattr(history, "history_"):
        history = history.history_
    if hasattr(history, "to_list"):
        history = history.to_list()
    if isinstance(history, pd.DataFrame):
        history = history.to_dict("records")
    records = list(history)
    if not records or not all(isinstance(r, dict) for r in records):
        raise ValueError(
            "history must be a non-empty list of dicts per epoch (skorch History, or an estimator "
            "with history_)."
        )
    return records


def plot_training_curves(history, *, keys=None):
    """Training curves from a skorch ``History`` (or an estimator's ``history_``).

    Parameters
    ----------
    history : skorch History, list of dict, DataFrame or fitted estimator
        One record per epoch, with ``"epoch"`` and numeric entries such as ``"train_loss"`` and
        ``"valid_loss"``.
    keys : list of str, default=None
        Entries to draw; default: every numeric entry whose name ends in ``"loss"`` in one panel,
        and every other numeric entry except ``epoch``, ``dur``, the ``*_best`` flags and the
        ``*_count`` counters in a second panel.

    Returns
    -------
    figure : matplotlib.figure.Figure

    Examples
    --------
    >>> history = [{"epoch": e, "train_loss": 1 / e, "valid_loss": 1.2 / e, "valid_acc": 0.5}
    ...            for e in range(1, 6)]
    >>> fig = plot_training_curves(history)
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['train_loss', 'valid_loss']
    """
    records = _history_records(history)
    frame = pd.DataFrame(
        [{k: v for k, v in r.items() if k != "batches" and np.isscalar(v)} for r in records]
    )
    epochs = frame["epoch"].to_numpy() if "epoch" in frame else np.arange(1, len(frame) + 1)
    numeric = [
        c
        for c in frame.columns
        if c not in ("epoch", "dur")
        and not c.endswith(("_best", "_count"))
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ]
    if keys is not None:
        missing = [k for k in keys if k not in frame.columns]
        if missing:
            raise ValueError(f"history has no entry {missing}; it has {list(frame.columns)}.")
        panels = [list(keys)]
    else:
        losses = [c for c in numeric if c.endswith("loss")]
        others = [c for c in numeric if c not in losses]
        panels = [p for p in (losses, others) if p]
    if not panels:
        raise ValueError(f"history has no numeric entry to draw; it has {list(frame.columns)}.")
    figure = _new_figure((5.5 * len(panels), 3.2))
    axes = np.atleast_1d(figure.subplots(1, len(panels), squeeze=False)).ravel()
    for ax, columns in zip(axes, panels):
        for column in columns:
            ax.plot(epochs, frame[column].to_numpy(dtype=float), label=column)
        ax.set_xlabel("epoch")
        ax.legend(fontsize="small")
    axes[0].set_title("Training curves", fontsize="medium")
    return figure
