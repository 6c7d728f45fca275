import numpy as np
import pytest

from channeldecomp.detectors._calibration import empirical_pvalues


@pytest.mark.parametrize("per_row", [False, True])
def test_pvalues_are_increasing_continuous_and_in_range(per_row):
    rng = np.random.default_rng(0)
    reference = rng.normal(size=50)
    scores = np.linspace(-8, 8, 4001)
    if per_row:
        pvalues = empirical_pvalues(scores, np.tile(reference, (scores.size, 1)))
    else:
        pvalues = empirical_pvalues(scores, reference)
    assert ((pvalues > 0) & (pvalues <= 1)).all()
    assert (np.diff(pvalues) > 0).all()  # strictly increasing: no ties, even far outside
    # Continuous: no jump at any reference point.
    knots = np.sort(reference)
    np.testing.assert_allclose(
        empirical_pvalues(knots - 1e-9, reference),
        empirical_pvalues(knots + 1e-9, reference),
        atol=1e-6,
    )
    np.testing.assert_allclose(
        empirical_pvalues(np.sort(reference), reference), np.arange(1, 51) / 51
    )
    assert pvalues[0] < 1e-3  # far below the least normal reference: near 0


def test_pvalues_of_fresh_reference_draws_are_uniform():
    rng = np.random.default_rng(1)
    reference = rng.normal(size=2000)
    pvalues = empirical_pvalues(rng.normal(size=20000), reference)
    np.testing.assert_allclose(
        np.quantile(pvalues, [0.05, 0.25, 0.5, 0.95]), [0.05, 0.25, 0.5, 0.95], atol=0.015
    )


def test_per_row_populations_are_used_row_by_row():
    reference = np.array([[0.0, 1.0, 2.0], [10.0, 11.0, 12.0]])
    pvalues = empirical_pvalues(np.array([1.0, 1.0]), reference)
    assert pvalues[0] == pytest.approx(0.5)
    assert pvalues[1] < 1e-3
