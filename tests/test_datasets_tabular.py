import numpy as np
import pytest

from channeldecomp.datasets import make_channel_anomalies


def test_truth_is_consistent_with_the_label():
    data = make_channel_anomalies(n_samples=1000, random_state=1)
    truth_good = data.channel_truth.all(axis=1).to_numpy()
    np.testing.assert_array_equal(data.target.to_numpy() == 1, truth_good)
    assert 0.15 < 1 - data.target.mean() < 0.35
    assert list(data.data.columns) == data.feature_names
    assert set(data.channels) == set(data.channel_truth.columns)


def test_anomalies_are_invisible_outside_their_channels():
    clean = make_channel_anomalies(n_samples=500, anomaly_fraction=0.0, random_state=3)
    dirty = make_channel_anomalies(n_samples=2000, anomaly_fraction=0.5, random_state=3)
    # A channel's features move only where the truth says the anomaly is visible.
    X = dirty.data
    for channel, columns in dirty.channels.items():
        seen = dirty.channel_truth[channel] == 0
        unseen_bad = (dirty.channel_truth[channel] == 1) & (dirty.target == 0)
        good = dirty.target == 1
        center = X.loc[good, columns].mean()
        scale = X.loc[good, columns].std()
        shift_seen = ((X.loc[seen, columns].mean() - center) / scale).abs().max()
        shift_unseen = ((X.loc[unseen_bad, columns].mean() - center) / scale).abs().max()
        assert shift_seen > 0.5
        assert shift_unseen < 0.35
    assert clean.target.min() == 1


def test_determinism_and_knobs():
    a = make_channel_anomalies(n_samples=300, random_state=7)
    b = make_channel_anomalies(n_samples=300, random_state=7)
    np.testing.assert_array_equal(a.data.to_numpy(), b.data.to_numpy())
    multi = make_channel_anomalies(n_samples=2000, multi_channel_fraction=1.0, random_state=0)
    n_visible = (multi.channel_truth == 0).sum(axis=1)
    assert n_visible[multi.anomaly == 1].min() == 2
    noisy = make_channel_anomalies(n_samples=2000, label_noise=0.2, random_state=0)
    assert (noisy.target.to_numpy() != 1 - noisy.anomaly).mean() > 0.1
    arrays = make_channel_anomalies(n_samples=10, channels={"a": 3, "b": 4}, as_frame=False)
    assert arrays.data.shape == (10, 7)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_samples": 0},
        {"anomaly_fraction": 1.0},
        {"label_noise": -0.1},
        {"anomaly_strength": 0},
        {"channels": {"bad__name": 3}},
        {"channels": {"a": 1}},
    ],
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        make_channel_anomalies(**kwargs)
