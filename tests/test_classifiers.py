"""The classifiers: log-loss fits, probabilities, labels, the dual matrix contract."""

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.preprocessing import StandardScaler

from sknlis import SingleIndexClassifier, TwoLayerReLUClassifier

CLASSIFIERS = [SingleIndexClassifier, TwoLayerReLUClassifier]


def _data(n_classes=2, n=120, seed=0):
    X, y = make_classification(
        n_samples=n,
        n_features=5,
        n_informative=3,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=1,
        flip_y=0.1,
        random_state=seed,
    )
    return StandardScaler().fit_transform(X), y


def _fit(make, X, y, sample_weight=None, **params):
    params.setdefault("random_state", 0)
    if make is TwoLayerReLUClassifier:
        params.setdefault("n_hidden", 4)
        params.setdefault("max_iter", 2000)
    return make(**params).fit(X, y, sample_weight=sample_weight)


@pytest.mark.parametrize("make", CLASSIFIERS)
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_dual_matrix_squares_to_the_log_loss(make, n_classes, fit_intercept):
    X, y = _data(n_classes)
    labels = np.array(["ant", "bee", "cat"])[y]
    clf = _fit(make, X, labels, fit_intercept=fit_intercept)
    F = clf.adjoint_matrix(X, labels)
    np.testing.assert_array_equal(F, clf.adjoint_matrix_)
    assert F.shape == (len(y), clf.theta_.shape[0] + 1)
    index = np.searchsorted(clf.classes_, labels)
    rows = np.arange(len(y))
    expected = -np.log(clf.predict_proba(X)[rows, index])
    h = F @ np.append(clf.theta_, 1.0)
    # Where the network fits a row to a loss below ~1e-13, probabilities round
    # to 1 and only the exact log probabilities resolve it: the product sums
    # terms of order one, so it keeps absolute accuracy there.
    np.testing.assert_allclose(h**2, expected, rtol=1e-8, atol=1e-12)
    exact = -clf.predict_log_proba(X)[rows, index]
    np.testing.assert_allclose(h**2, exact, rtol=1e-8, atol=1e-14)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("alpha", [0.3, 5.0])
def test_single_index_is_penalized_logistic_regression(n_classes, alpha):
    # Without intercepts both minimize C (sum_i l_i + alpha ||W||^2) with
    # C = 1 / (2 alpha): the same problem, so the same coefficients.
    X, y = _data(n_classes)
    clf = _fit(SingleIndexClassifier, X, y, alpha=alpha, fit_intercept=False, tol=1e-10)
    reference = LogisticRegression(C=1 / (2 * alpha), fit_intercept=False, tol=1e-12)
    reference.fit(X, y)
    np.testing.assert_allclose(clf.coef_, reference.coef_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        clf.predict_proba(X), reference.predict_proba(X), rtol=1e-5, atol=1e-8
    )


def test_unpenalized_fit_reaches_logistic_regressions_log_loss():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = _fit(SingleIndexClassifier, X, y, alpha=0.0, tol=1e-9, max_iter=5000)
    reference = LogisticRegression(C=1e6, max_iter=100_000, tol=1e-10).fit(X, y)
    ours, theirs = (
        log_loss(y, clf.predict_proba(X)),
        log_loss(y, reference.predict_proba(X)),
    )
    assert ours <= theirs * 1.01


@pytest.mark.parametrize("make", CLASSIFIERS)
def test_probabilities_predictions_and_shapes(make):
    X, y = _data(3)
    clf = _fit(make, X, y)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    assert clf.decision_function(X).shape == (len(y), 3)
    binary = _fit(make, *_data(2))
    assert binary.decision_function(X).shape == (len(y),)
    assert binary.intercept_.shape == (1,)


def test_log_probabilities_stay_finite_for_huge_logits():
    X, y = _data(2)
    clf = _fit(SingleIndexClassifier, X, y)
    log_proba = clf.predict_log_proba(X * 1e6)
    assert np.all(np.isfinite(log_proba))
    assert np.all(log_proba <= 0)


@pytest.mark.parametrize("make", CLASSIFIERS)
def test_boolean_labels_and_weights(make):
    X, y = _data(2)
    clf = _fit(make, X, y.astype(bool))
    np.testing.assert_array_equal(clf.classes_, [False, True])
    assert clf.predict(X).dtype == bool
    if make is TwoLayerReLUClassifier:
        return  # non-convex: rounding can end equal objectives at other points
    # Tight tolerance: the two objectives are equal, so must their minimizers.
    twice = _fit(make, np.vstack([X, X[:10]]), np.concatenate([y, y[:10]]), tol=1e-9)
    weights = np.ones(len(y))
    weights[:10] = 2.0
    weighted = _fit(make, X, y, sample_weight=weights, tol=1e-9)
    np.testing.assert_allclose(
        weighted.predict_proba(X), twice.predict_proba(X), atol=1e-5
    )


@pytest.mark.parametrize("make", CLASSIFIERS)
def test_label_errors_are_clear(make):
    X, y = _data(2)
    with pytest.raises(ValueError, match="at least 2 classes"):
        make().fit(X, np.zeros(len(y)))
    clf = _fit(make, X, y)
    with pytest.raises(ValueError, match="needs y"):
        clf.adjoint_matrix(X)
    with pytest.raises(ValueError, match="not seen in fit"):
        clf.adjoint_matrix(X, np.full(len(y), 7))


def test_two_layer_separates_what_a_line_cannot():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)  # XOR
    net = TwoLayerReLUClassifier(n_hidden=8, n_init=3, random_state=0).fit(X, y)
    linear = SingleIndexClassifier(random_state=0).fit(X, y)
    assert net.score(X, y) > 0.95
    assert linear.score(X, y) < 0.7
