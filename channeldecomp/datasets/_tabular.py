"""A fast tabular generator of per-channel anomalies with known truth."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.utils import Bunch, check_random_state

from .._validation import _check_fraction

__all__ = ["make_channel_anomalies"]

DEFAULT_CHANNELS = ("muons", "photons", "pf", "calo_jets")


def _channel_sizes(channels, n_features_per_channel):
    if channels is None:
        channels = DEFAULT_CHANNELS
    if isinstance(channels, numbers.Integral) and not isinstance(channels, bool):
        if channels < 1:
            raise ValueError(f"channels must be at least 1; got {channels}.")
        channels = [f"channel{i}" for i in range(channels)]
    if isinstance(channels, dict):
        sizes = dict(channels)
    else:
        channels = list(channels)
        if len(set(channels)) != len(channels):
            raise ValueError(f"channels has duplicate names: {channels}.")
        if isinstance(n_features_per_channel, dict):
            missing = [c for c in channels if c not in n_features_per_channel]
            if missing:
                raise ValueError(f"n_features_per_channel has no size for channel(s) {missing}.")
            sizes = {c: n_features_per_channel[c] for c in channels}
        else:
            sizes = {c: n_features_per_channel for c in channels}
    for name, size in sizes.items():
        if not isinstance(name, str) or not name or "__" in name:
            raise ValueError(f"Channel names must be non-empty strings without '__'; got {name!r}.")
        if not isinstance(size, numbers.Integral) or size < 2:
            raise ValueError(f"Channel {name!r} needs at least 2 features; got {size!r}.")
    return {name: int(size) for name, size in sizes.items()}


def make_channel_anomalies(
    n_samples=4000,
    *,
    channels=None,
    n_features_per_channel=16,
    anomaly_fraction=0.25,
    multi_channel_fraction=0.3,
    max_channels_per_anomaly=2,
    anomaly_strength=1.0,
    n_fault_modes=3,
    label_noise=0.0,
    as_frame=True,
    random_state=None,
):
    """Generate per-channel feature blocks with anomalies of known channel visibility.

    Each channel is a block of correlated features (a few latent factors plus noise, plus a
    detector-wide "luminosity" factor shared by all channels, so channels are not independent).
    Each anomalous sample is hit by one of a few *fault modes* in each of a chosen set of
    channels. A fault mode moves a fixed quarter of the channel's features (at least two), each
    up or down by ``1.5 * anomaly_strength * U(0.8, 1.6)`` of its standard deviation on good
    data. The shift is visible in those channels and invisible in the others, which is exactly
    the assumption the channel-decomposition method needs, so the ground truth of "which channel
    sees it" is known. The fault directions are drawn from ``random_state`` too: split one
    generated dataset into train and test rather than generating them with different seeds.

    Parameters
    ----------
    n_samples : int, default=4000
        Number of rows (lumisections).
    channels : int, list of str or dict of str to int, default=None
        Channel names (default ``("muons", "photons", "pf", "calo_jets")``), a number of channels
        (named ``channel0``, ...), or ``{name: number of features}``.
    n_features_per_channel : int or dict of str to int, default=16
        Features per channel when ``channels`` does not give them.
    anomaly_fraction : float, default=0.25
        Fraction of anomalous (globally bad) rows.
    multi_channel_fraction : float, default=0.3
        Fraction of anomalies visible in more than one channel.
    max_channels_per_anomaly : int, default=2
        Largest number of channels one multi-channel anomaly is visible in.
    anomaly_strength : float, default=1.0
        Scale of the anomaly shifts: 1 is the default difficulty, smaller is harder.
    n_fault_modes : int, default=3
        Distinct fault directions per channel.
    label_noise : float, default=0.0
        Fraction of rows whose global label is flipped (the truth is unchanged).
    as_frame : bool, default=True
        Return pandas objects (feature names ``<channel>__f<k>``) instead of arrays.
    random_state : int, RandomState instance or None, default=None
        Seed.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data`` (DataFrame or ndarray), ``target`` (global label, 1 = good),
        ``channel_truth`` (DataFrame, one column per channel, 1 = no anomaly visible there),
        ``anomaly`` (1 where an anomaly was injected, before label noise), ``fault_mode``
        (DataFrame, mode index per channel, -1 = none), ``luminosity`` (per row, usable as
        ``sample_weight``), ``feature_names``, ``channel_names``,
        ``channels`` (dict channel -> its column names) and ``DESCR``.

    Examples
    --------
    >>> from channeldecomp.datasets import make_channel_anomalies
    >>> data = make_channel_anomalies(n_samples=200, random_state=0)
    >>> data.data.shape, list(data.channel_truth.columns)
    ((200, 64), ['muons', 'photons', 'pf', 'calo_jets'])
    >>> bool(((data.target == 1) == data.channel_truth.all(axis=1)).all())
    True
    """
    if not isinstance(n_samples, numbers.Integral) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}.")
    _check_fraction("anomaly_fraction", anomaly_fraction, upper_open=True)
    _check_fraction("multi_channel_fraction", multi_channel_fraction)
    _check_fraction("label_noise", label_noise)
    if not isinstance(anomaly_strength, numbers.Real) or anomaly_strength <= 0:
        raise ValueError(f"anomaly_strength must be positive; got {anomaly_strength!r}.")
    if not isinstance(n_fault_modes, numbers.Integral) or n_fault_modes < 1:
        raise ValueError(f"n_fault_modes must be a positive integer; got {n_fault_modes!r}.")
    sizes = _channel_sizes(channels, n_features_per_channel)
    names = list(sizes)
    n_channels = len(names)
    if not isinstance(max_channels_per_anomaly, numbers.Integral) or not (
        1 <= max_channels_per_anomaly
    ):
        raise ValueError(
            "max_channels_per_anomaly must be a positive integer; "
            f"got {max_channels_per_anomaly!r}."
        )
    max_channels = min(int(max_channels_per_anomaly), n_channels)

    rng = check_random_state(random_state)
    luminosity = rng.lognormal(mean=0.0, sigma=0.3, size=n_samples)
    luminosity_factor = (luminosity - luminosity.mean()) / luminosity.std()

    is_anomaly = rng.random_sample(n_samples) < anomaly_fraction
    n_affected = np.where(is_anomaly, 1, 0)
    multi = is_anomaly & (rng.random_sample(n_samples) < multi_channel_fraction)
    if max_channels > 1:
        n_affected[multi] = rng.randint(2, max_channels + 1, size=int(multi.sum()))
    # Which channels each anomaly touches: the first n_affected of a random permutation.
    ranks = np.argsort(rng.random_sample((n_samples, n_channels)), axis=1)
    visible = ranks < n_affected[:, None]

    blocks = []
    fault_mode = np.full((n_samples, n_channels), -1, dtype=np.int64)
    for c, name in enumerate(names):
        size = sizes[name]
        n_latent = max(1, size // 2)
        loadings = rng.normal(size=(n_latent, size)) / np.sqrt(n_latent)
        luminosity_loading = rng.normal(scale=0.5, size=size)
        noise_scale = 0.5
        latent = rng.normal(size=(n_samples, n_latent))
        block = (
            latent @ loadings
            + np.outer(luminosity_factor, luminosity_loading)
            + noise_scale * rng.normal(size=(n_samples, size))
        )
        covariance = (
            loadings.T @ loadings
            + np.outer(luminosity_loading, luminosity_loading)
            + noise_scale**2 * np.eye(size)
        )
        # A fault mode moves a quarter of the channel's features (at least two), each by
        # +-1 marginal standard deviation per unit of distance.
        n_moved = max(2, size // 4)
        directions = np.zeros((n_fault_modes, size))
        for mode in range(n_fault_modes):
            moved = rng.choice(size, size=n_moved, replace=False)
            directions[mode, moved] = rng.choice([-1.0, 1.0], size=n_moved)
        directions *= np.sqrt(np.diag(covariance))

        hit = np.flatnonzero(visible[:, c])
        modes = rng.randint(0, n_fault_modes, size=hit.size)
        distance = 1.5 * anomaly_strength * rng.uniform(0.8, 1.6, size=hit.size)
        block[hit] += distance[:, None] * directions[modes]
        fault_mode[hit, c] = modes
        blocks.append(block)

    X = np.hstack(blocks)
    anomaly = visible.any(axis=1)
    y = (~anomaly).astype(np.int64)
    if label_noise > 0:
        flip = rng.random_sample(n_samples) < label_noise
        y[flip] = 1 - y[flip]

    feature_names = [f"{name}__f{k}" for name in names for k in range(sizes[name])]
    channel_columns = {name: [f"{name}__f{k}" for k in range(sizes[name])] for name in names}
    channel_truth = pd.DataFrame((~visible).astype(np.int64), columns=names)
    fault_frame = pd.DataFrame(fault_mode, columns=names)
    if as_frame:
        X = pd.DataFrame(X, columns=feature_names)
        y = pd.Series(y, name="good")
    return Bunch(
        data=X,
        target=y,
        channel_truth=channel_truth,
        anomaly=anomaly.astype(np.int64),
        fault_mode=fault_frame,
        luminosity=luminosity,
        feature_names=feature_names,
        channel_names=names,
        channels=channel_columns,
        DESCR=make_channel_anomalies.__doc__.split("\n\n")[1],
    )
