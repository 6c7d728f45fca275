"""Per-lumisection features from monitoring-element histograms: the HistogramFeatures estimator.

Each ME of a :class:`~channeldecomp.LumiSectionHistograms` gives a fixed set of numbers per
lumisection: its log entries, its normalized bin contents (rebinned; 2D maps reduced to their
projections or to coarse cells), the mean, standard deviation and quantiles of its distribution
(from the cumulative distribution, per axis for a 2D map) and its distances to a reference
histogram learned in ``fit`` (the median normalized histogram of the training lumisections).
Output names are ``<channel>__<me>_<stat>``, so ``channels="prefix"`` groups them by channel.
"""

from __future__ import annotations

import re
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn import get_config
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._validation import _describe
from ._histograms import LumiSectionHistograms
from ._rows import ContainerTransformerMixin, output_is_pandas

__all__ = ["HistogramFeatures"]

_DISTANCES = ("chi2", "ks", "wasserstein")


def _short_name(me, channel):
    """The ME part of a feature name: the path without its channel folder, in ``[A-Za-z0-9_]``."""
    rest = me[len(channel) + 1 :] if me.startswith(channel + "/") else me
    name = re.sub(r"_+", "_", re.sub(r"[^0-9A-Za-z]+", "_", rest)).strip("_")
    return name or re.sub(r"_+", "_", re.sub(r"[^0-9A-Za-z]+", "_", me)).strip("_") or "me"


def _group_starts(n_bins, max_bins):
    """Start of each group of adjacent bins when ``n_bins`` become at most ``max_bins``."""
    n_groups = min(n_bins, max_bins)
    return np.unique(np.linspace(0, n_bins, n_groups + 1)[:-1].round().astype(np.int64))


def _axis(binning, axis):
    low, high, n_bins = binning[3 * axis : 3 * axis + 3]
    edges = np.linspace(low, high, n_bins + 1)
    return edges, 0.5 * (edges[1:] + edges[:-1])


def _shape_statistics(p, edges, centers, quantiles):
    """Mean, std and quantiles of the rows of ``p`` (normalized, 1D) on the axis ``edges``."""
    # Row-wise sums (not matrix products), so a row's value does not depend on its block.
    mean = (p * centers).sum(axis=1)
    variance = (p * centers**2).sum(axis=1) - mean**2
    columns = [("mean", mean), ("std", np.sqrt(np.maximum(variance, 0.0)))]
    cdf = np.cumsum(p, axis=1)
    width = np.diff(edges)
    rows = np.arange(len(p))
    for q in quantiles:
        index = np.minimum((cdf < q - 1e-12).sum(axis=1), p.shape[1] - 1)
        before = np.where(index > 0, cdf[rows, np.maximum(index - 1, 0)], 0.0)
        mass = p[rows, index]
        fraction = np.clip(np.divide(q - before, mass, out=np.zeros(len(p)), where=mass > 0), 0, 1)
        columns.append((f"q{100 * q:g}".replace(".", "p"), edges[index] + fraction * width[index]))
    return columns


class HistogramFeatures(ContainerTransformerMixin, TransformerMixin, BaseEstimator):
    """Turn per-lumisection ME histograms into one row of features per lumisection.

    For each monitoring element (ME) and lumisection (LS), with ``p`` the histogram divided by
    its sum (the normalized contents):

    - ``log_entries``: ``log(1 + entries)``;
    - the normalized contents, rebinned to at most ``max_bins`` groups of adjacent bins
      (``b0``, ``b1``, ...). A 2D map is reduced first (``map_reduction``): to its x and y
      projections (``x_b0``, ..., ``y_b0``, ...), to a coarse grid of ``cells`` (``c<i>_<j>``,
      row i along y, column j along x), or both;
    - ``mean``, ``std``: the moments of the distribution on the bin centres (for 2D maps per
      projection: ``x_mean``, ``y_std``, ...);
    - the ``quantiles`` of the distribution, by linear interpolation of the cumulative
      distribution within a bin (``q10``, ``q50``, ...; ``x_q50`` for 2D maps);
    - the ``distances`` to the reference histogram ``r`` learned in ``fit`` (the bin-wise
      median of the normalized histograms of the training LS with entries, normalized again):
      ``chi2`` = ``0.5 * sum((p - r)^2 / (p + r))`` (in [0, 1]; on the full map for 2D MEs),
      ``ks`` = ``max |P - R|`` (Kolmogorov-Smirnov, on the cumulative distributions) and
      ``wasserstein`` = ``sum |P - R| * bin width`` (earth mover's distance, in axis units;
      per projection for 2D maps);
    - ``missing``: 1 where the LS has no record of the ME (``missing_indicator``).

    **Missing and empty histograms.** An LS without a record of an ME, or with an empty one,
    has ``log_entries = 0``, normalized contents 0, the reference's mean, std and quantiles,
    and distances 0, so no NaN reaches the model; ``missing`` tells a missing record from an
    empty one.

    Output columns are named ``<channel>__<me>_<stat>``, where ``<me>`` is the ME path without
    its channel folder, with every run of other characters than letters and digits replaced by
    ``_``: ``ECAL/Occupancy eta-phi`` in channel ``ECAL`` gives
    ``ECAL__Occupancy_eta_phi_chi2``. With ``ChannelDecompositionClassifier(channels="prefix")``
    each channel (by default the subsystem folder of the ME paths) is one channel of the model.

    Parameters
    ----------
    mes : list of str, default=None
        MEs to use; default: all MEs of the data seen in ``fit``.
    max_bins : int, default=8
        Most groups of adjacent bins kept per axis (0 leaves the contents out).
    map_reduction : {"projections", "cells", "both"}, default="projections"
        How the contents of a 2D map are reduced before rebinning.
    cells : tuple of (int, int), default=(3, 4)
        ``(n_y, n_x)``: the coarse grid of ``map_reduction="cells"`` (at most the map's bins).
    moments : bool, default=True
        Output ``mean`` and ``std``.
    quantiles : sequence of float in (0, 1), default=(0.1, 0.5, 0.9)
        Quantiles of the distribution.
    distances : sequence of {"chi2", "ks", "wasserstein"}, default=("chi2", "ks", "wasserstein")
        Distances to the reference histogram.
    log_entries : bool, default=True
        Output ``log_entries``.
    missing_indicator : bool, default=True
        Output ``missing``.
    chunk_size : int, default=2000
        Lumisections handled at once: bounds the memory used by ``transform``.

    Attributes
    ----------
    mes_ : list of str
        MEs used.
    channels_ : dict of str to str
        The channel of each ME used.
    binnings_ : dict of str to tuple
        The binning of each ME seen in ``fit``.
    reference_ : dict of str to ndarray
        The reference (normalized) histogram of each ME, of the ME's shape.
    feature_names_out_ : ndarray of str
        Output column names.

    See Also
    --------
    LumiSectionHistograms : the input.
    LumiSectionPercentiles : features from per-event physics objects.

    Examples
    --------
    >>> import numpy as np
    >>> from channeldecomp import HistogramFeatures, LumiSectionHistograms
    >>> histograms = LumiSectionHistograms.from_arrays(
    ...     [1, 1, 1], [1, 2, 3], {"RPC/Efficiency": [[0, 1, 3], [0, 2, 2], [4, 0, 0]]},
    ...     {"RPC/Efficiency": (0.0, 1.5, 3)},
    ... )
    >>> features = HistogramFeatures(quantiles=[0.5], distances=["ks"])
    >>> X = features.set_output(transform="pandas").fit_transform(histograms)
    >>> X.columns.tolist()
    ['RPC__Efficiency_log_entries', 'RPC__Efficiency_b0', 'RPC__Efficiency_b1', \
'RPC__Efficiency_b2', 'RPC__Efficiency_mean', 'RPC__Efficiency_std', 'RPC__Efficiency_q50', \
'RPC__Efficiency_ks', 'RPC__Efficiency_missing']
    >>> X["RPC__Efficiency_ks"].round(3).tolist()
    [0.083, 0.167, 1.0]
    """

    _parameter_constraints: dict = {
        "mes": ["array-like", str, None],
        "max_bins": [Interval(Integral, 0, None, closed="left")],
        "map_reduction": [StrOptions({"projections", "cells", "both"})],
        "cells": ["array-like"],
        "moments": ["boolean"],
        "quantiles": ["array-like", None],
        "distances": ["array-like", str, None],
        "log_entries": ["boolean"],
        "missing_indicator": ["boolean"],
        "chunk_size": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        mes=None,
        *,
        max_bins=8,
        map_reduction="projections",
        cells=(3, 4),
        moments=True,
        quantiles=(0.1, 0.5, 0.9),
        distances=_DISTANCES,
        log_entries=True,
        missing_indicator=True,
        chunk_size=2000,
    ):
        self.mes = mes
        self.max_bins = max_bins
        self.map_reduction = map_reduction
        self.cells = cells
        self.moments = moments
        self.quantiles = quantiles
        self.distances = distances
        self.log_entries = log_entries
        self.missing_indicator = missing_indicator
        self.chunk_size = chunk_size

    # ------------------------------------------------------------------ parameters
    def _settings(self):
        """The parameters checked beyond ``_parameter_constraints``, as plain values."""
        quantiles = np.asarray([] if self.quantiles is None else list(self.quantiles), float)
        if quantiles.ndim != 1 or np.any(~np.isfinite(quantiles)):
            raise ValueError(f"quantiles must be a list of numbers; got {self.quantiles!r}.")
        if np.any((quantiles <= 0) | (quantiles >= 1)):
            raise ValueError(f"quantiles must lie in (0, 1); got {self.quantiles!r}.")
        if len(np.unique(quantiles)) != len(quantiles):
            raise ValueError(f"quantiles has duplicates: {self.quantiles!r}.")
        distances = [self.distances] if isinstance(self.distances, str) else self.distances
        distances = list(distances or [])
        unknown = [d for d in distances if d not in _DISTANCES]
        if unknown:
            raise ValueError(
                f"Unknown distance(s) {_describe(unknown)}; choose among {_describe(_DISTANCES)}."
            )
        if len(set(distances)) != len(distances):
            raise ValueError(f"distances has duplicates: {self.distances!r}.")
        try:
            cells = tuple(int(c) for c in self.cells)
        except (TypeError, ValueError):
            cells = ()
        if len(cells) != 2 or min(cells) < 1 or tuple(self.cells) != cells:
            raise ValueError(
                f"cells must be a pair of positive integers (n_y, n_x); got {self.cells!r}."
            )
        return {"quantiles": quantiles, "distances": distances, "cells": cells}

    @staticmethod
    def _check_input(X):
        if not isinstance(X, LumiSectionHistograms):
            raise TypeError(
                "HistogramFeatures takes a LumiSectionHistograms (per-lumisection ME "
                f"histograms); got {type(X).__name__}. Build one with "
                "LumiSectionHistograms.from_table or channeldecomp.features.read_dials."
            )

    def _resolve_mes(self, X):
        if self.mes is None:
            return list(X.mes)
        mes = [self.mes] if isinstance(self.mes, str) else list(self.mes)
        unknown = [me for me in mes if me not in X.mes]
        if unknown:
            raise ValueError(
                f"Unknown ME(s) {_describe(unknown)} in mes; the data have {_describe(X.mes)}."
            )
        if len(set(mes)) != len(mes):
            raise ValueError(f"mes has duplicates: {self.mes!r}.")
        if not mes:
            raise ValueError("mes is empty: select at least one ME.")
        return mes

    # ------------------------------------------------------------------ estimator API
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the reference histogram of each ME and fix the output columns.

        Parameters
        ----------
        X : LumiSectionHistograms
        y : ignored

        Returns
        -------
        self
        """
        self._check_input(X)
        settings = self._settings()
        mes = self._resolve_mes(X)
        channels = X.me_channels
        self.mes_ = mes
        self.channels_ = {me: channels[me] for me in mes}
        self.binnings_ = {me: X._element(me).binning for me in mes}
        self.reference_ = {me: _reference(X._element(me)) for me in mes}
        names = []
        for me in mes:
            prefix = f"{channels[me]}__{_short_name(me, channels[me])}_"
            stats = _me_features(
                self.reference_[me][None], np.ones(1), np.ones(1, dtype=bool), me, self, settings
            )
            names += [prefix + stat for stat, _ in stats]
        if len(set(names)) != len(names):
            duplicated = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(
                f"The output names {_describe(duplicated)} are not unique: two MEs of one "
                "channel have the same name once their characters other than letters and "
                "digits are replaced; select MEs with mes= or rename them."
            )
        if not names:
            raise ValueError("The parameters select no output column.")
        self.feature_names_out_ = np.asarray(names, dtype=object)
        return self

    def transform(self, X):
        """Compute one row of features per lumisection.

        Parameters
        ----------
        X : LumiSectionHistograms
            Must have the MEs seen in ``fit``, with the same binnings.

        Returns
        -------
        ndarray of shape (n_lumisections, n_features_out) or DataFrame
            With ``set_output(transform="pandas")``, a DataFrame indexed by ``(run, lumi)``.
        """
        check_is_fitted(self, "feature_names_out_")
        if not get_config()["skip_parameter_validation"]:
            self._validate_params()
        self._check_input(X)
        settings = self._settings()
        for me in self.mes_:
            if me not in X.mes:
                raise ValueError(
                    f"ME {me!r}, seen in fit, is missing from X (it has {_describe(X.mes)})."
                )
            binning = X._element(me).binning
            if binning != self.binnings_[me]:
                raise ValueError(
                    f"ME {me!r} has binning {binning} in X but {self.binnings_[me]} in fit. "
                    "Rebin the data to the binning of the training data."
                )
        result = np.empty((len(X), len(self.feature_names_out_)), dtype=np.float64)
        for start in range(0, len(X), self.chunk_size):
            rows = slice(start, min(start + self.chunk_size, len(X)))
            column = 0
            for me in self.mes_:
                element = X._element(me)
                stats = _me_features(
                    element.values[rows],
                    element.entries[rows],
                    element.present[rows],
                    me,
                    self,
                    settings,
                )
                for _, values in stats:
                    result[rows, column] = values
                    column += 1
        if output_is_pandas(self):
            return pd.DataFrame(result, index=X.keys, columns=self.feature_names_out_.tolist())
        return result


def _normalized(values):
    """Rows divided by their sum (all-zero rows stay zero) and whether each row has entries."""
    flat = values.reshape(len(values), -1)
    totals = flat.sum(axis=1)
    nonempty = totals > 0
    p = np.divide(flat, totals[:, None], out=np.zeros_like(flat), where=nonempty[:, None])
    return p.reshape(values.shape), nonempty


def _reference(element):
    """Median normalized histogram of the LS with entries (uniform when there are none)."""
    p, nonempty = _normalized(element.values)
    use = nonempty & element.present
    if not use.any():
        shape = element.values.shape[1:]
        return np.full(shape, 1.0 / np.prod(shape))
    reference = np.median(p[use], axis=0)
    total = reference.sum()
    if total <= 0:  # the median is zero everywhere (very sparse histograms): use the mean
        reference = p[use].mean(axis=0)
        total = reference.sum()
    return reference / total


def _me_features(values, entries, present, me, params, settings):
    """``[(stat name, column of values)]`` of one ME for a block of LS, in output order."""
    binning = params.binnings_[me]
    reference = params.reference_[me]
    p, nonempty = _normalized(values)
    columns = []
    if params.log_entries:
        columns.append(("log_entries", np.log1p(entries)))
    if len(binning) == 3:
        edges, centers = _axis(binning, 0)
        components = [("", p, reference, edges, centers)]
    else:
        x_edges, x_centers = _axis(binning, 0)
        y_edges, y_centers = _axis(binning, 1)
        components = [
            ("x_", p.sum(axis=1), reference.sum(axis=0), x_edges, x_centers),
            ("y_", p.sum(axis=2), reference.sum(axis=1), y_edges, y_centers),
        ]
    if params.max_bins:
        if len(binning) == 6 and params.map_reduction in ("cells", "both"):
            n_y, n_x = settings["cells"]
            y_starts = _group_starts(p.shape[1], n_y)
            x_starts = _group_starts(p.shape[2], n_x)
            coarse = np.add.reduceat(np.add.reduceat(p, y_starts, axis=1), x_starts, axis=2)
            for i in range(coarse.shape[1]):
                for j in range(coarse.shape[2]):
                    columns.append((f"c{i}_{j}", coarse[:, i, j]))
        if len(binning) == 3 or params.map_reduction in ("projections", "both"):
            for prefix, component, _, _, _ in components:
                grouped = np.add.reduceat(
                    component, _group_starts(component.shape[1], params.max_bins), axis=1
                )
                columns += [(f"{prefix}b{i}", grouped[:, i]) for i in range(grouped.shape[1])]
    if params.moments or len(settings["quantiles"]):
        for prefix, component, ref, edges, centers in components:
            stats = _shape_statistics(component, edges, centers, settings["quantiles"])
            reference_stats = _shape_statistics(ref[None], edges, centers, settings["quantiles"])
            for (name, column), (_, fallback) in zip(stats, reference_stats):
                if name in ("mean", "std") and not params.moments:
                    continue
                columns.append((prefix + name, np.where(nonempty, column, fallback[0])))
    distances = settings["distances"]
    if "chi2" in distances:
        flat, ref = p.reshape(len(p), -1), reference.reshape(-1)
        total = flat + ref
        terms = np.divide((flat - ref) ** 2, total, out=np.zeros_like(flat), where=total > 0)
        columns.append(("chi2", np.where(nonempty, 0.5 * terms.sum(axis=1), 0.0)))
    for prefix, component, ref, edges, _ in components:
        gap = np.abs(np.cumsum(component, axis=1) - np.cumsum(ref))
        if "ks" in distances:
            columns.append((prefix + "ks", np.where(nonempty, gap.max(axis=1), 0.0)))
        if "wasserstein" in distances:
            emd = (gap * np.diff(edges)).sum(axis=1)
            columns.append((prefix + "wasserstein", np.where(nonempty, emd, 0.0)))
    if params.missing_indicator:
        columns.append(("missing", (~present).astype(np.float64)))
    return columns
