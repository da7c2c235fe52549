"""scikit-learn's API checks on every estimator of sknlis."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sknlis import (
    AdjointOutlierDetector,
    NonlinearImportanceResampler,
    SingleIndexClassifier,
    SingleIndexRegressor,
    TwoLayerReLUClassifier,
    TwoLayerReLURegressor,
)

ESTIMATORS = [
    SingleIndexRegressor(),
    TwoLayerReLURegressor(),
    SingleIndexClassifier(),
    TwoLayerReLUClassifier(),
    NonlinearImportanceResampler(random_state=0),
    NonlinearImportanceResampler(basis="linear", scores="norm", random_state=0),
    AdjointOutlierDetector(),
    AdjointOutlierDetector(scores="norm"),
]

# Every check passes, including the sample-weight equivalence checks and the
# sparse-input checks of the single-index model. Add an entry here, with its
# reason, only for a check that cannot apply. (imbalanced-learn's own sampler
# checks insist on class labels, so the resampler, a regression sampler, is
# held to scikit-learn's generic checks instead.)
EXPECTED_FAILED_CHECKS = {}


# The checks' tiny data sets leave a ReLU network short of its tolerance at
# max_iter; the ConvergenceWarning it then raises is tested in test_regressors.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(
    ESTIMATORS,
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS.get(
        type(estimator).__name__, {}
    ),
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
