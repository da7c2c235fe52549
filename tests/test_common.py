"""scikit-learn's API checks on every estimator of sknlis."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sknlis import SingleIndexRegressor, TwoLayerReLURegressor

ESTIMATORS = [SingleIndexRegressor(), TwoLayerReLURegressor()]


def _expected_failed_checks(estimator):
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
