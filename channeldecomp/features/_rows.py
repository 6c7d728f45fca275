"""What the per-lumisection containers share: rows chosen like an array's, and transformers of
containers (not tables) as scikit-learn transformers."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

#: The names of the two levels of a lumisection key.
KEY_NAMES = ("run", "lumi")


def lumisection_rows(key, n, container):
    """The rows ``key`` selects among ``n`` lumisections: a slice (unit or other step, bounds
    resolved) or an int64 array of non-negative indices.

    ``key``: an integer, a slice, an integer array or a boolean mask, or ``(key, ...)`` as
    scikit-learn's indexing helpers pass it. ``container`` names the container in errors.

    Examples
    --------
    >>> lumisection_rows(-1, 5, "LumiSections")
    slice(4, 5, 1)
    >>> lumisection_rows([True, False, True], 3, "LumiSections")
    array([0, 2])
    >>> lumisection_rows([-1, 0], 3, "LumiSections")
    array([2, 0])
    """
    if isinstance(key, tuple):
        # scikit-learn's indexing helpers use X[key, ...] on objects with a shape.
        if len(key) == 2 and key[1] is Ellipsis:
            key = key[0]
        else:
            raise IndexError(f"{container} is one-dimensional: index it with one key.")
    if isinstance(key, slice):
        return slice(*key.indices(n))
    if isinstance(key, numbers.Integral) and not isinstance(key, bool):
        index = int(key)
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range for {n} lumisections.")
        index %= n
        return slice(index, index + 1, 1)
    array = np.asarray(key)
    if array.dtype == bool:
        if array.shape != (n,):
            raise IndexError(
                f"A boolean mask must have one entry per lumisection ({n}); got shape "
                f"{array.shape}."
            )
        return np.flatnonzero(array)
    if array.ndim == 1 and (array.size == 0 or np.issubdtype(array.dtype, np.integer)):
        array = array.astype(np.int64)
        if array.size and (array.min() < -n or array.max() >= n):
            raise IndexError(f"Index out of range for {n} lumisections.")
        return np.where(array < 0, array + n, array)
    raise IndexError(
        f"{container} accepts an integer, a slice, an integer array or a boolean mask; got "
        f"{type(key).__name__}."
    )


class LumisectionRowsMixin:
    """Array-like behaviour of a container of lumisections held as ``_run`` / ``_lumi`` arrays:
    ``len``, ``shape``, iteration and the ``run`` / ``lumi`` / ``keys`` accessors (indexing is
    the container's own, through :func:`lumisection_rows`)."""

    def __len__(self):
        return len(self._run)

    @property
    def shape(self):
        """``(n_lumisections,)``: lets scikit-learn index and count the container like an array."""
        return (len(self._run),)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    @property
    def run(self):
        return self._run

    @property
    def lumi(self):
        return self._lumi

    @property
    def keys(self):
        return pd.MultiIndex.from_arrays([self._run, self._lumi], names=list(KEY_NAMES))


class ContainerTransformerMixin:
    """``get_feature_names_out`` and tags of a transformer whose input is a per-lumisection
    container (``LumiSections``, ``LumiSectionHistograms``), not a table.

    The estimator sets ``feature_names_out_`` in ``fit``.
    """

    def get_feature_names_out(self, input_features=None):
        """Output column names, ``<channel>__<name>_<statistic>``.

        Parameters
        ----------
        input_features : ignored
            Present for API compatibility; the input is a container of lumisections, not a
            table.

        Returns
        -------
        ndarray of str
        """
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.input_tags.two_d_array = False
        tags.input_tags.one_d_array = False
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags


def output_is_pandas(estimator):
    """Whether ``estimator``'s ``transform`` output is set to pandas (``set_output``)."""
    try:
        from sklearn.utils._set_output import _get_output_config
    except ImportError:  # pragma: no cover - older or newer scikit-learn
        return False
    return _get_output_config("transform", estimator)["dense"] == "pandas"
