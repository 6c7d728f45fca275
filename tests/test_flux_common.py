"""scikit-learn's common checks for the reference-only detectors (tiny training settings)."""

from sklearn.ensemble import IsolationForest
from sklearn.utils.estimator_checks import parametrize_with_checks

from channeldecomp.detectors import FluxMutability, PerChannelOutlierDetector

# Expected failures of these detectors, each with its reason: none, every check passes.
EXPECTED_FAILURES = {}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


@parametrize_with_checks(
    [
        FluxMutability(
            n_blocks=2, hidden_units=8, max_epochs=15, batch_size=64, population_size=50
        ),
        FluxMutability(
            n_blocks=1,
            hidden_units=8,
            max_epochs=2,
            population_size=20,
            n_neighbors=3,
            mutability="distance",
            contamination=0.1,
        ),
        PerChannelOutlierDetector(IsolationForest(n_estimators=20), channels="columns"),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
