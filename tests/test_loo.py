"""Approximate leave-one-out losses against refits without the row."""

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.preprocessing import StandardScaler

from sknlis import SingleIndexClassifier, SingleIndexRegressor, TwoLayerReLUClassifier
from sknlis._loo import loo_outputs
from sknlis._models import LinearIndex, TwoLayerReLU


def _loo(estimator, X, y):
    y = estimator._encode_labels(y)
    z = loo_outputs(
        estimator._model, estimator._loss, estimator.theta_, estimator.alpha, X, y
    )
    return estimator._loss.loss(z, y)


def _refit_losses(make, X, y):
    losses = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        model = make().fit(X[keep], y[keep])
        if hasattr(model, "classes_"):
            index = np.searchsorted(model.classes_, y[i])
            losses.append(-model.predict_log_proba(X[i : i + 1])[0, index])
        else:
            losses.append((model.predict(X[i : i + 1])[0] - y[i]) ** 2)
    return np.array(losses)


def test_exact_for_penalized_least_squares():
    # Linear model, squared loss: one Newton step is the exact refit, so the
    # formula gives r_i / (1 - h_ii) with the ridge leverage h.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = X @ [1.0, 2.0, -1.0] + rng.normal(size=40)

    def make():
        return SingleIndexRegressor("identity", alpha=0.5, tol=1e-12, random_state=0)

    full = make().fit(X, y)
    np.testing.assert_allclose(_loo(full, X, y), _refit_losses(make, X, y), rtol=1e-5)


IRIS_X, IRIS_Y = load_iris(return_X_y=True)
IRIS_X = StandardScaler().fit_transform(IRIS_X)[::3]
IRIS_Y = IRIS_Y[::3]


@pytest.mark.parametrize(
    "make, labels, median_error",
    [
        (
            lambda: SingleIndexClassifier(alpha=1.0, tol=1e-10, random_state=0),
            IRIS_Y,
            5e-3,
        ),
        (
            lambda: SingleIndexClassifier(alpha=1.0, tol=1e-10, random_state=0),
            (IRIS_Y == 1).astype(int),
            5e-3,
        ),
        # Non-convex, and Gauss-Newton drops the network's own curvature:
        # looser, but the ranking still follows the refits.
        (
            lambda: TwoLayerReLUClassifier(3, alpha=1.0, tol=1e-10, random_state=0),
            (IRIS_Y == 1).astype(int),
            3e-2,
        ),
    ],
)
def test_close_to_refits_for_log_loss(make, labels, median_error):
    full = make().fit(IRIS_X, labels)
    approx = _loo(full, IRIS_X, labels)
    exact = _refit_losses(make, IRIS_X, labels)
    assert np.median(np.abs(approx - exact) / exact) < median_error
    assert np.corrcoef(approx, exact)[0, 1] > 0.99
    # And it is not the in-sample loss: that understates every row.
    in_sample = full._loss.loss(
        full.decision_function(IRIS_X), full._encode_labels(labels)
    )
    assert np.all(approx >= in_sample - 1e-12) and np.mean(approx > in_sample) > 0.9


@pytest.mark.parametrize(
    "model",
    [
        LinearIndex(4, n_outputs=3),
        LinearIndex(4, fit_intercept=False),
        TwoLayerReLU(4, 3),
    ],
)
def test_structured_products_equal_the_dense_jacobian(model):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(9, 4))
    theta = rng.normal(size=model.n_params)
    J = model.jacobian(X, theta).reshape(9, model.n_outputs, model.n_params)
    R = rng.normal(size=(9, model.n_outputs, model.n_outputs))
    W = R.transpose(0, 2, 1) @ R
    M = rng.normal(size=(model.n_params, model.n_params))
    M = M + M.T
    np.testing.assert_allclose(
        model.jacobian_gram(X, theta, W), np.einsum("ikp,ikl,ilq->pq", J, W, J)
    )
    np.testing.assert_allclose(
        model.jacobian_quadratic(X, theta, M), np.einsum("ikp,pq,ilq->ikl", J, M, J)
    )


def test_unpenalized_multinomial_uses_the_pseudo_inverse():
    # Softmax logits are invariant to a common shift: without ridge the
    # Gauss-Newton Hessian is singular, and the rank rule must handle it.
    clf = SingleIndexClassifier(alpha=0.0, max_iter=200, random_state=0)
    clf.fit(IRIS_X[:, :2], IRIS_Y)
    losses = _loo(clf, IRIS_X[:, :2], IRIS_Y)
    assert np.all(np.isfinite(losses)) and np.all(losses >= 0)
