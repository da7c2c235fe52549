"""The weighted squared loss, its gradient, and the L-BFGS-B wrapper."""

import numpy as np
import pytest
import scipy.sparse as sp

from sknlis._activations import ACTIVATIONS, make_activation
from sknlis._loss import SingleIndexLoss, TwoLayerLoss, _value_and_derivative
from sknlis._models import single_index_output, two_layer_output
from sknlis._solver import lbfgs

N_SAMPLES, N_FEATURES, N_HIDDEN = 40, 3, 4


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N_SAMPLES, N_FEATURES))
    y = rng.normal(size=N_SAMPLES)
    weights = rng.uniform(0.0, 3.0, size=N_SAMPLES)
    return rng, X, y, weights


def _make(model, X, y, weights, alpha, activation, fit_intercept):
    phi = make_activation(activation)
    if model == "single":
        loss = SingleIndexLoss(X, y, weights, alpha, phi, fit_intercept)
        n_params = N_FEATURES + fit_intercept

        def output(theta):
            return single_index_output(X, theta, phi, fit_intercept)

    else:
        loss = TwoLayerLoss(X, y, weights, alpha, phi, fit_intercept, N_HIDDEN)
        n_params = N_HIDDEN * (N_FEATURES + 2) + fit_intercept

        def output(theta):
            return two_layer_output(X, theta, N_HIDDEN, phi, fit_intercept)

    return loss, n_params, output


def _central_difference(fun, theta, step=1e-6):
    grad = np.empty_like(theta)
    for j in range(theta.shape[0]):
        e = np.zeros_like(theta)
        e[j] = step
        grad[j] = (fun(theta + e) - fun(theta - e)) / (2 * step)
    return grad


CASES = [
    pytest.param(model, activation, fit_intercept, weighted, alpha, id=case_id)
    for model in ("single", "two_layer")
    for activation in ACTIVATIONS
    for fit_intercept, weighted, alpha in ((True, False, 0.0), (False, True, 0.7))
    for case_id in [
        f"{model}-{activation}-intercept={fit_intercept}-w={weighted}-a={alpha}"
    ]
]


@pytest.mark.parametrize("model, activation, fit_intercept, weighted, alpha", CASES)
def test_value_and_gradient(model, activation, fit_intercept, weighted, alpha):
    rng, X, y, weights = _data()
    weights = weights if weighted else None
    loss, n_params, output = _make(
        model, X, y, weights, alpha, activation, fit_intercept
    )
    theta = rng.normal(size=n_params)

    value, grad = loss(theta)
    w = np.ones(N_SAMPLES) if weights is None else weights
    expected = (w @ (output(theta) - y) ** 2 + alpha * theta @ theta) / w.sum()
    assert value == pytest.approx(expected, rel=1e-12)
    numeric = _central_difference(lambda t: loss(t)[0], theta)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("model", ["single", "two_layer"])
def test_blocks_do_not_change_the_loss(model):
    rng, X, y, weights = _data(1)
    loss, n_params, _ = _make(model, X, y, weights, 0.3, "swish", True)
    theta = rng.normal(size=n_params)
    value, grad = loss(theta)
    loss.block_size = 7  # 40 rows: five full blocks and a partial one
    value_blocked, grad_blocked = loss(theta)
    assert value_blocked == pytest.approx(value, rel=1e-13)
    np.testing.assert_allclose(grad_blocked, grad, rtol=1e-12, atol=1e-14)


def test_single_index_sparse_equals_dense():
    rng, X, y, weights = _data(2)
    X[np.abs(X) < 0.8] = 0.0
    phi = make_activation("tanh")
    theta = rng.normal(size=N_FEATURES + 1)
    dense = SingleIndexLoss(X, y, weights, 0.1, phi, True)(theta)
    sparse = SingleIndexLoss(sp.csr_matrix(X), y, weights, 0.1, phi, True)(theta)
    assert sparse[0] == pytest.approx(dense[0], rel=1e-13)
    np.testing.assert_allclose(sparse[1], dense[1], rtol=1e-12)


def test_fused_swish_matches_the_activation():
    phi = make_activation("swish", c1=0.5, c2=3.0, zeta=1.7)
    z = np.linspace(-40, 40, 1001)
    value, derivative = _value_and_derivative(phi, z.copy())
    np.testing.assert_allclose(value, phi(z), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(derivative, phi.derivative(z), rtol=1e-14, atol=1e-15)


def _quadratic(theta):
    target = np.array([3.0, -1.0, 0.5])
    return float((theta - target) @ (theta - target)), 2 * (theta - target)


def test_lbfgs_solves_a_quadratic_and_respects_bounds():
    free = lbfgs(_quadratic, np.zeros(3), max_iter=50, tol=1e-10)
    assert free.converged
    np.testing.assert_allclose(free.theta, [3.0, -1.0, 0.5], atol=1e-8)
    assert free.n_iter >= 1

    boxed = lbfgs(_quadratic, np.zeros(3), max_iter=50, tol=1e-10, bounds=1.0)
    np.testing.assert_allclose(boxed.theta, [1.0, -1.0, 0.5], atol=1e-8)


def test_lbfgs_reports_the_exhausted_budget():
    def rosenbrock(theta):
        x, y = theta
        value = (1 - x) ** 2 + 100 * (y - x * x) ** 2
        grad = np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])
        return value, grad

    result = lbfgs(rosenbrock, np.array([-1.5, 2.0]), max_iter=3, tol=1e-12)
    assert not result.converged
    assert result.n_iter == 3
    assert "ITERATIONS" in result.message.upper()


def test_lbfgs_backtracks_from_overflow():
    # Finite only for theta > -0.2. The first trial step has unit length, so
    # from 0.5 it lands at -0.5, where the loss is inf and the gradient NaN.
    outside = []

    def fenced(theta):
        if theta[0] <= -0.2:
            outside.append(theta[0])
            return np.inf, np.array([np.nan])
        return float((theta[0] - 0.1) ** 2), 2 * (theta - 0.1)

    result = lbfgs(fenced, np.array([0.5]), max_iter=100, tol=1e-10)
    assert outside, "the test must visit the non-finite region"
    assert np.isfinite(result.loss)
    np.testing.assert_allclose(result.theta, [0.1], atol=1e-8)


def test_lbfgs_raises_when_the_start_overflows():
    def overflowing(theta):
        return np.inf, np.full_like(theta, np.nan)

    with pytest.raises(ValueError, match="overflows float64"):
        lbfgs(overflowing, np.zeros(2), max_iter=10, tol=1e-6)


def test_lbfgs_verbose_prints_the_loss(capsys):
    lbfgs(_quadratic, np.zeros(3), max_iter=2, tol=1e-12, verbose=1)
    assert "Iteration 1, loss =" in capsys.readouterr().out
