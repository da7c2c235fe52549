"""scikit-learn's API checks on every estimator of sknlis."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sknlis import SingleIndexRegressor, TwoLayerReLURegressor

ESTIMATORS = [SingleIndexRegressor(), TwoLayerReLURegressor()]

# Every check passes, including the sample-weight equivalence checks and the
# sparse-input checks of the single-index model. Add an entry here, with its
# reason, only for a check that cannot apply.
EXPECTED_FAILED_CHECKS = {}


@parametrize_with_checks(
    ESTIMATORS,
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS.get(
        type(estimator).__name__, {}
    ),
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
