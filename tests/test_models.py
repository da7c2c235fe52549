import numpy as np
import pytest

from sknlis import make_activation
from sknlis._activations import ACTIVATIONS
from sknlis._models import (
    single_index_jacobian,
    single_index_output,
    two_layer_jacobian,
    two_layer_n_params,
    two_layer_output,
)


def central_jacobian(func, theta, h=1e-6):
    columns = []
    for j in range(theta.shape[0]):
        step = np.zeros_like(theta)
        step[j] = h
        columns.append((func(theta + step) - func(theta - step)) / (2 * h))
    return np.column_stack(columns)


@pytest.mark.parametrize("name", [a for a in ACTIVATIONS if a != "relu"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_single_index_jacobian_matches_finite_differences(name, fit_intercept):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 3))
    theta = rng.normal(size=3 + fit_intercept)
    phi = make_activation(name)
    analytic = single_index_jacobian(X, theta, phi, fit_intercept)
    numeric = central_jacobian(
        lambda t: single_index_output(X, t, phi, fit_intercept), theta
    )
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["identity", "tanh", "swish", "logistic"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_two_layer_jacobian_matches_finite_differences(name, fit_intercept):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(9, 4))
    theta = rng.normal(size=two_layer_n_params(4, 3, fit_intercept))
    phi = make_activation(name)
    analytic = two_layer_jacobian(X, theta, 3, phi, fit_intercept)
    numeric = central_jacobian(
        lambda t: two_layer_output(X, t, 3, phi, fit_intercept), theta
    )
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_two_layer_output_matches_a_loop_over_neurons():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(5, 2))
    theta = rng.normal(size=two_layer_n_params(2, 3))
    phi = make_activation("tanh")
    expected = np.full(5, theta[-1])
    for j in range(3):
        a, b = theta[4 * j], theta[4 * j + 1 : 4 * j + 4]
        expected += phi(a * np.maximum(X @ b[:2] + b[2], 0))
    np.testing.assert_allclose(two_layer_output(X, theta, 3, phi), expected)
