"""Model selection for channel models: splits by run and the random-partition control."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["random_channel_partition"]


def random_channel_partition(sizes, n_features, random_state=None):
    """Split ``n_features`` columns at random into groups of the given sizes.

    The channels of the random-partition control: the same number of channels with the same
    numbers of columns, but no relation to the physical grouping.

    Parameters
    ----------
    sizes : sequence of int
        Columns per group; they must sum to at most ``n_features``.
    n_features : int
        Number of columns to draw from.
    random_state : int, RandomState instance or None, default=None
        Seed of the permutation.

    Returns
    -------
    list of ndarray of int
        Sorted column indices of each group.

    Raises
    ------
    ValueError
        When the sizes need more columns than ``n_features``, or a size is negative.

    Examples
    --------
    >>> [group.tolist() for group in random_channel_partition([2, 3], 5, random_state=0)]
    [[0, 2], [1, 3, 4]]
    """
    sizes = [int(s) for s in sizes]
    if any(s < 0 for s in sizes):
        raise ValueError(f"Group sizes must be non-negative; got {sizes}.")
    if sum(sizes) > n_features:
        raise ValueError(f"Group sizes {sizes} need {sum(sizes)} columns; X has {n_features}.")
    permutation = check_random_state(random_state).permutation(n_features)
    bounds = np.cumsum([0, *sizes])
    return [np.sort(permutation[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
