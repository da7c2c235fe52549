import numpy as np
import pytest
from _reference import (
    single_index_jacobian,
    single_index_output,
    two_layer_jacobian,
    two_layer_n_params,
    two_layer_output,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sknlis import (
    make_activation,
    quadrature_adjoint,
    single_index_adjoint,
    two_layer_adjoint,
)
from sknlis._activations import ACTIVATIONS

ALL = [make_activation(name) for name in ACTIVATIONS] + [
    make_activation("swish", c1=0.25, c2=3.0, zeta=2.0)
]


def ids(phi):
    return phi.name


def augmented(theta):
    return np.append(theta, 1.0)


def single_index_case(seed, fit_intercept=True, n=30, d=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = rng.normal(size=n)
    theta = rng.normal(size=d + fit_intercept)
    return X, y, theta


def two_layer_case(seed, fit_intercept=True, n=30, d=3, m=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = rng.normal(size=n)
    theta = rng.normal(size=two_layer_n_params(d, m, fit_intercept))
    return X, y, theta, m


@pytest.mark.parametrize("phi", ALL, ids=ids)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_single_index_adjoint_identity(phi, fit_intercept):
    X, y, theta = single_index_case(0, fit_intercept)
    residual = single_index_output(X, theta, phi, fit_intercept) - y
    F = single_index_adjoint(X, theta, phi, y=y, fit_intercept=fit_intercept)
    assert F.shape == (X.shape[0], theta.shape[0] + 1)
    np.testing.assert_allclose(F @ augmented(theta), residual, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("phi", ALL, ids=ids)
def test_single_index_without_labels_represents_the_output(phi):
    X, y, theta = single_index_case(1)
    F = single_index_adjoint(X, theta, phi)
    F_y = single_index_adjoint(X, theta, phi, y=y)
    np.testing.assert_allclose(F @ augmented(theta), single_index_output(X, theta, phi))
    # Only the last column depends on the labels.
    np.testing.assert_array_equal(F[:, :-1], F_y[:, :-1])
    np.testing.assert_allclose(F[:, -1] - F_y[:, -1], y)


@pytest.mark.parametrize("phi", ALL, ids=ids)
@pytest.mark.parametrize("z_scale", [0.0, 1e-300, 1e-160, 1e-9])
def test_single_index_identity_at_and_near_zero_index(phi, z_scale):
    # theta so small that z is exactly 0 or ~1e-300: no division may blow up.
    X, y, theta = single_index_case(2)
    theta = theta * z_scale
    F = single_index_adjoint(X, theta, phi, y=y)
    assert np.all(np.isfinite(F))
    residual = single_index_output(X, theta, phi) - y
    np.testing.assert_allclose(F @ augmented(theta), residual, rtol=1e-12, atol=1e-14)
    # The rows tend to [phi'(0) x; 1] as theta -> 0 (for ReLU D(0) is 0).
    slope = phi.derivative(0.0) if phi.name != "relu" else 0.0
    if z_scale == 0.0:
        np.testing.assert_allclose(F[:, :-2], slope * X)


def test_identity_activation_gives_the_least_squares_rows():
    X, y, theta = single_index_case(3)
    F = single_index_adjoint(X, theta, make_activation("identity"), y=y)
    np.testing.assert_array_equal(F, np.column_stack([X, np.ones(len(X)), -y]))


@pytest.mark.parametrize("phi", ALL, ids=ids)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_two_layer_adjoint_identity(phi, fit_intercept):
    X, y, theta, m = two_layer_case(4, fit_intercept)
    residual = two_layer_output(X, theta, m, phi, fit_intercept) - y
    F = two_layer_adjoint(X, theta, m, phi, y=y, fit_intercept=fit_intercept)
    assert F.shape == (X.shape[0], theta.shape[0] + 1)
    np.testing.assert_allclose(F @ augmented(theta), residual, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("phi", ALL, ids=ids)
@pytest.mark.parametrize("scale", [0.0, 1e-150])
def test_two_layer_identity_at_tiny_parameters(phi, scale):
    # Degree-2 neurons: a_j relu(u_j) ~ 1e-300 at scale 1e-150.
    X, y, theta, m = two_layer_case(5)
    theta = theta * scale
    F = two_layer_adjoint(X, theta, m, phi, y=y)
    assert np.all(np.isfinite(F))
    residual = two_layer_output(X, theta, m, phi) - y
    np.testing.assert_allclose(F @ augmented(theta), residual, rtol=1e-12, atol=1e-14)


def single_index_quadrature(X, y, theta, phi, fit_intercept=True, n_nodes=20):
    return quadrature_adjoint(
        lambda t: single_index_jacobian(X, t, phi, fit_intercept),
        theta,
        lambda t: single_index_output(X, t, phi, fit_intercept) - y,
        n_nodes=n_nodes,
        return_error=True,
    )


@pytest.mark.parametrize("phi", [p for p in ALL if p.name != "relu"], ids=ids)
def test_single_index_closed_form_equals_quadrature(phi):
    X, y, theta = single_index_case(6)
    theta = theta / 2  # keep |z| moderate so 20 nodes resolve tanh and friends
    F_quad, error = single_index_quadrature(X, y, theta, phi)
    F = single_index_adjoint(X, theta, phi, y=y)
    np.testing.assert_allclose(F_quad, F, rtol=1e-10, atol=1e-12)
    assert error.max() < 1e-10


@pytest.mark.parametrize("phi", ALL, ids=ids)
def test_two_layer_closed_form_equals_quadrature(phi):
    # Along a ray the ReLU pattern is fixed, so the integrand is smooth in t.
    X, y, theta, m = two_layer_case(7)
    theta = theta / 2
    F_quad, error = quadrature_adjoint(
        lambda t: two_layer_jacobian(X, t, m, phi),
        theta,
        lambda t: two_layer_output(X, t, m, phi) - y,
        n_nodes=20,
        return_error=True,
    )
    F = two_layer_adjoint(X, theta, m, phi, y=y)
    np.testing.assert_allclose(F_quad, F, rtol=1e-9, atol=1e-11)
    assert error.max() < 1e-9


def test_quadrature_detects_the_extra_t_factor_mistake():
    # The derivative of theta -> r(t theta) carries a factor t: it must break the
    # identity, which is how a user would notice (MATH.md, section 3).
    X, y, theta = single_index_case(8)
    theta = theta / 2
    phi = make_activation("tanh")
    _, error = quadrature_adjoint(
        lambda t: single_index_jacobian(X, t, phi),
        theta,
        lambda t: single_index_output(X, t, phi) - y,
        return_error=True,
    )
    nodes, weights = np.polynomial.legendre.leggauss(8)
    wrong = sum(
        w / 2 * (t + 1) / 2 * single_index_jacobian(X, (t + 1) / 2 * theta, phi)
        for t, w in zip(nodes, weights)
    )
    wrong_error = np.abs(wrong @ theta - phi(X @ theta[:-1] + theta[-1]))
    assert error.max() < 1e-8
    assert wrong_error.max() > 1e-2


@pytest.mark.parametrize(
    "n_nodes, error",
    # True was taken as 1 node; 10**5 tried to allocate 74 GiB.
    [(0, ValueError), (True, TypeError), (2.5, TypeError), (10**5, ValueError)],
)
def test_quadrature_rejects_bad_node_counts(n_nodes, error):
    X, y, theta = single_index_case(9)
    with pytest.raises(error, match="n_nodes"):
        quadrature_adjoint(lambda t: X, theta[:-1], lambda t: X @ t, n_nodes=n_nodes)


def _linear_case():
    X, _, theta = single_index_case(9)
    return X, theta[:-1]


@pytest.mark.parametrize(
    "make_args, error, match",
    [
        # These failed inside np.hstack, or with numpy's own messages.
        (lambda X, t: (lambda u: X, t, None), TypeError, "'residual' parameter"),
        (lambda X, t: ("J", t, lambda u: X @ u), TypeError, "'jacobian' parameter"),
        (
            lambda X, t: (lambda u: X[:, :-1], t, lambda u: X @ u),
            ValueError,
            r"jacobian\(theta\) must return shape \(30, 4\)",
        ),
        (
            lambda X, t: (lambda u: X, t, lambda u: X),
            ValueError,
            r"residual\(theta\) must return a non-empty 1-D array",
        ),
        (
            lambda X, t: (lambda u: "x", t, lambda u: X @ u),
            TypeError,
            r"jacobian\(theta\) must return an array of numbers",
        ),
        (
            lambda X, t: (lambda u: X * np.nan, t, lambda u: X @ u),
            ValueError,
            r"jacobian\(theta\) returned NaN",
        ),
        (lambda X, t: (lambda u: X, t[:, None], lambda u: X @ u), ValueError, "theta"),
        (lambda X, t: (lambda u: X, t + 1j, lambda u: X @ u), TypeError, "theta"),
        (lambda X, t: (lambda u: X, [[]], lambda u: X @ u), ValueError, "theta"),
        (
            lambda X, t: (lambda u: X, np.append(t[1:], np.inf), lambda u: X @ u),
            ValueError,
            "theta",
        ),
    ],
)
def test_quadrature_checks_its_functions_and_theta(make_args, error, match):
    X, theta = _linear_case()
    jacobian, theta, residual = make_args(X, theta)
    with pytest.raises(error, match=match):
        quadrature_adjoint(jacobian, theta, residual, return_error=True)


@settings(max_examples=60, deadline=None)
@given(
    X=arrays(np.float64, (6, 3), elements=st.floats(-50, 50)),
    theta=arrays(np.float64, 4, elements=st.floats(-50, 50)),
    y=arrays(np.float64, 6, elements=st.floats(-1e3, 1e3)),
    name=st.sampled_from(ACTIVATIONS),
)
def test_single_index_identity_property(X, theta, y, name):
    phi = make_activation(name)
    F = single_index_adjoint(X, theta, phi, y=y)
    residual = single_index_output(X, theta, phi) - y
    scale = np.abs(F) @ np.abs(augmented(theta))  # size of the terms summed
    assert np.all(np.abs(F @ augmented(theta) - residual) <= 1e-12 * scale + 1e-300)


@settings(max_examples=60, deadline=None)
@given(
    X=arrays(np.float64, (5, 2), elements=st.floats(-20, 20)),
    theta=arrays(np.float64, two_layer_n_params(2, 3), elements=st.floats(-20, 20)),
    name=st.sampled_from(ACTIVATIONS),
)
def test_two_layer_identity_property(X, theta, name):
    phi = make_activation(name)
    F = two_layer_adjoint(X, theta, 3, phi)
    output = two_layer_output(X, theta, 3, phi)
    scale = np.abs(F) @ np.abs(augmented(theta)) + np.abs(output)
    assert np.all(np.abs(F @ augmented(theta) - output) <= 1e-12 * scale + 1e-300)
