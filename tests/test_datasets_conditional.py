import numpy as np
import pytest

from channeldecomp.datasets import make_conditional_anomalies


def test_layout_and_labels():
    data = make_conditional_anomalies(1000, n_features=3, anomaly_fraction=0.2, random_state=0)
    assert list(data.data.columns) == ["x0", "x1", "x2", "luminosity", "pileup"]
    assert data.condition_names == ["luminosity", "pileup"]
    assert ((data.target == 1) == (data.anomaly_kind == "none")).all()
    assert 0.15 < (data.target == 0).mean() < 0.25
    kinds = data.anomaly_kind[data.target == 0]
    assert 0.35 < np.mean(kinds == "conditional") < 0.65
    array = make_conditional_anomalies(50, as_frame=False, random_state=0).data
    assert isinstance(array, np.ndarray) and array.shape == (50, 6)


def test_reproducible_and_shared_structure_across_seeds():
    first = make_conditional_anomalies(300, random_state=3)
    again = make_conditional_anomalies(300, random_state=3)
    np.testing.assert_array_equal(first.data.to_numpy(), again.data.to_numpy())
    # Different seeds draw different rows of the same process: the conditional means agree.
    a = make_conditional_anomalies(20000, anomaly_fraction=0.0, random_state=1).data
    b = make_conditional_anomalies(20000, anomaly_fraction=0.0, random_state=2).data
    high_a, high_b = a[a.luminosity > 2], b[b.luminosity > 2]
    np.testing.assert_allclose(high_a.mean(), high_b.mean(), rtol=0.02, atol=0.25)
    assert (high_a.mean() - a.mean()).abs().max() > 1.0  # the conditions do move the features


def test_conditional_anomalies_are_marginally_ordinary_but_conditionally_not():
    data = make_conditional_anomalies(
        20000, anomaly_fraction=0.3, conditional_fraction=1.0, random_state=0
    )
    X = data.data
    good = X[data.target == 1]
    conditional = X[data.anomaly_kind == "conditional"]
    features = data.feature_names
    # Marginally: the same means and spreads, feature by feature and for the conditions.
    np.testing.assert_allclose(conditional.mean(), good.mean(), atol=0.2 * good.std().max())
    np.testing.assert_allclose(conditional.std(), good.std(), rtol=0.25)
    # Given the conditions: a linear regression of the features on the conditions fitted to good
    # rows leaves much larger residuals on conditional anomalies.
    design = np.column_stack([np.ones(len(good)), good[data.condition_names]])
    coef, *_ = np.linalg.lstsq(design, good[features], rcond=None)

    def residual(frame):
        design = np.column_stack([np.ones(len(frame)), frame[data.condition_names]])
        return np.sqrt(((frame[features].to_numpy() - design @ coef) ** 2).sum(1)).mean()

    assert residual(conditional) > 1.5 * residual(good)


def test_no_anomalies_when_fraction_is_zero():
    data = make_conditional_anomalies(200, anomaly_fraction=0.0, random_state=0)
    assert (data.target == 1).all() and (data.anomaly_kind == "none").all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_samples": 0}, "n_samples"),
        ({"n_features": 0}, "n_features"),
        ({"anomaly_fraction": 1.0}, "anomaly_fraction"),
        ({"conditional_fraction": -0.1}, "conditional_fraction"),
        ({"min_condition_distance": 5}, "min_condition_distance"),
        ({"marginal_shift": 0}, "marginal_shift"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_conditional_anomalies(**kwargs)
