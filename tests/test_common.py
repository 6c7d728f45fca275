"""scikit-learn's common estimator checks: the test suite of record for every estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from channeldecomp import ChannelDecompositionClassifier

# Every expected failure of the package, with its reason, in one place.
EXPECTED_FAILED_CHECKS = {
    "ChannelDecompositionClassifier": {
        "check_sample_weight_equivalence_on_dense_data": (
            "minibatch stochastic training: an integer weight is not the same as repeating the "
            "row, because the batches differ. Zero weights are exact (rows are removed)."
        ),
    },
}


def _estimators():
    return [
        # "columns": one channel per column, so the checks' plain arrays of any width work;
        # good_label=None: the checks use labels such as "one"/"two" and -1/1.
        ChannelDecompositionClassifier(
            channels="columns", good_label=None, max_epochs=20, random_state=0
        ),
    ]


@parametrize_with_checks(
    _estimators(),
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS.get(type(est).__name__, {}),
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
