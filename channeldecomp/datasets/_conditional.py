"""A toy where an anomaly is visible only given the run conditions."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.utils import Bunch, check_random_state

__all__ = ["make_conditional_anomalies"]

CONDITION_NAMES = ("luminosity", "pileup")

# The good distribution's shape (how the features follow the conditions) is drawn once from this
# fixed seed, so independent calls with different random_state share it: one call can give the
# reference set and another the test set.
_STRUCTURE_SEED = 20220418


def _structure(n_features):
    rng = np.random.default_rng([_STRUCTURE_SEED, n_features])
    linear = rng.normal(size=(2, n_features))
    interaction = rng.normal(scale=0.5, size=n_features)
    curvature = rng.normal(scale=0.7, size=n_features)
    mixing = np.tril(rng.normal(scale=0.5, size=(n_features, n_features)), k=-1) + np.eye(
        n_features
    )
    return linear, interaction, curvature, mixing


def _latent_conditions(rng, n):
    lumi = rng.standard_normal(n)
    pileup = 0.7 * lumi + np.sqrt(1 - 0.7**2) * rng.standard_normal(n)
    return np.column_stack([lumi, pileup])


def _good_features(rng, latent, structure):
    linear, interaction, curvature, mixing = structure
    lumi, pileup = latent[:, 0], latent[:, 1]
    mean = (
        latent @ linear
        + np.outer(lumi * pileup, interaction)
        + np.outer(np.sin(1.5 * lumi), curvature)
    )
    # Heteroscedastic: the resolution worsens with pile-up.
    scale = 0.4 * (1.0 + 1.5 / (1.0 + np.exp(-2.0 * pileup)))
    noise = rng.standard_normal((latent.shape[0], linear.shape[1])) @ mixing.T
    return mean + scale[:, None] * noise


def make_conditional_anomalies(
    n_samples=4000,
    *,
    n_features=4,
    anomaly_fraction=0.1,
    conditional_fraction=0.5,
    min_condition_distance=1.0,
    marginal_shift=4.0,
    as_frame=True,
    random_state=None,
):
    """Generate features that follow run conditions, with anomalies visible only given them.

    Two conditions, an instantaneous ``luminosity`` and the ``pileup`` that grows with it, set the
    good distribution of ``n_features`` correlated features: the mean moves with the conditions
    (linear, interaction and non-linear terms) and the spread grows with pile-up. Two kinds of
    anomalies:

    - **conditional**: features drawn from the *good* distribution of other conditions, at least
      ``min_condition_distance`` away (in standard deviations of the conditions), reported with
      the sample's own conditions. The features alone and the conditions alone are perfectly
      ordinary; only the pair is not, so detectors of the marginal distribution miss it.
    - **marginal**: good features shifted by ``marginal_shift`` marginal standard deviations along
      a random direction, visible with or without the conditions.

    The good distribution's shape is the same for every ``random_state``, so separate calls give
    a reference set (``anomaly_fraction=0``) and a test set of the same process.

    Parameters
    ----------
    n_samples : int, default=4000
        Number of rows.
    n_features : int, default=4
        Number of features (besides the two conditions).
    anomaly_fraction : float, default=0.1
        Fraction of anomalous rows, in [0, 1).
    conditional_fraction : float, default=0.5
        Fraction of the anomalies that are conditional (the rest are marginal).
    min_condition_distance : float, default=1.0
        Smallest distance between a conditional anomaly's own and borrowed conditions.
    marginal_shift : float, default=4.0
        Size of a marginal anomaly's shift, in marginal standard deviations.
    as_frame : bool, default=True
        Return a DataFrame (columns ``x0``, ``x1``, ..., ``luminosity``, ``pileup``) rather than
        an array of the same columns.
    random_state : int, RandomState instance or None, default=None
        Seed of the draws.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data`` (features then conditions), ``target`` (1 = good), ``anomaly_kind`` (array of
        ``"none"``, ``"conditional"``, ``"marginal"``), ``feature_names``, ``condition_names``
        (to pass as ``FluxMutability(conditions=...)``) and ``DESCR``.

    Examples
    --------
    >>> from channeldecomp.datasets import make_conditional_anomalies
    >>> data = make_conditional_anomalies(n_samples=500, random_state=0)
    >>> list(data.data.columns)
    ['x0', 'x1', 'x2', 'x3', 'luminosity', 'pileup']
    >>> sorted(set(data.anomaly_kind))
    ['conditional', 'marginal', 'none']
    >>> bool(((data.target == 1) == (data.anomaly_kind == "none")).all())
    True
    """
    if not isinstance(n_samples, numbers.Integral) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}.")
    if not isinstance(n_features, numbers.Integral) or n_features < 1:
        raise ValueError(f"n_features must be a positive integer; got {n_features!r}.")
    if not isinstance(anomaly_fraction, numbers.Real) or not 0 <= anomaly_fraction < 1:
        raise ValueError(f"anomaly_fraction must be in [0, 1); got {anomaly_fraction!r}.")
    if not isinstance(conditional_fraction, numbers.Real) or not 0 <= conditional_fraction <= 1:
        raise ValueError(f"conditional_fraction must be in [0, 1]; got {conditional_fraction!r}.")
    if not isinstance(min_condition_distance, numbers.Real) or not 0 < min_condition_distance < 3:
        raise ValueError(
            f"min_condition_distance must be in (0, 3); got {min_condition_distance!r}. Larger "
            "distances are too rare among conditions drawn from the good distribution."
        )
    if not isinstance(marginal_shift, numbers.Real) or marginal_shift <= 0:
        raise ValueError(f"marginal_shift must be positive; got {marginal_shift!r}.")

    rng = check_random_state(random_state)
    structure = _structure(int(n_features))
    latent = _latent_conditions(rng, n_samples)
    is_anomaly = rng.random_sample(n_samples) < anomaly_fraction
    is_conditional = is_anomaly & (rng.random_sample(n_samples) < conditional_fraction)
    is_marginal = is_anomaly & ~is_conditional

    # Conditional anomalies: borrow conditions far enough away (rejection sampling).
    source = latent.copy()
    pending = np.flatnonzero(is_conditional)
    while pending.size:
        candidates = _latent_conditions(rng, pending.size)
        far = np.linalg.norm(candidates - latent[pending], axis=1) >= min_condition_distance
        source[pending[far]] = candidates[far]
        pending = pending[~far]
    X = _good_features(rng, source, structure)

    if is_marginal.any():
        direction = rng.standard_normal((int(is_marginal.sum()), n_features))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        good = ~is_anomaly
        spread = X[good].std(axis=0) if good.sum() > 1 else np.ones(n_features)
        X[is_marginal] += marginal_shift * direction * spread

    luminosity = 1.5 * np.exp(0.35 * latent[:, 0])
    pileup = 30.0 + 8.0 * latent[:, 1]
    data = np.column_stack([X, luminosity, pileup])
    feature_names = [f"x{k}" for k in range(n_features)]
    columns = [*feature_names, *CONDITION_NAMES]
    kind = np.where(is_conditional, "conditional", np.where(is_marginal, "marginal", "none"))
    kind = kind.astype(object)
    target = (~is_anomaly).astype(np.int64)
    if as_frame:
        data = pd.DataFrame(data, columns=columns)
        target = pd.Series(target, name="good")
    return Bunch(
        data=data,
        target=target,
        anomaly_kind=kind,
        feature_names=feature_names,
        condition_names=list(CONDITION_NAMES),
        DESCR=make_conditional_anomalies.__doc__.split("\n\n")[1],
    )
