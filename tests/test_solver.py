"""The L-BFGS-B wrapper."""

import numpy as np
import pytest

from sknlis._solver import lbfgs


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
