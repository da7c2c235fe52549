"""Pointwise losses, their roots, and the loss dual matrices they give."""

import numpy as np
import pytest
from scipy.special import log_softmax

from sknlis._activations import make_activation
from sknlis._losses import (
    BinomialLogLoss,
    MultinomialLogLoss,
    SquaredError,
    _value_and_derivative,
)
from sknlis._models import LinearIndex, TwoLayerReLU, raw_output

LOSSES = [
    SquaredError(make_activation("identity")),
    SquaredError(make_activation("tanh")),
    BinomialLogLoss(),
    MultinomialLogLoss(3),
]


def _ids(loss):
    return type(loss).__name__ + getattr(getattr(loss, "activation", None), "name", "")


def _labels(rng, loss, n):
    if isinstance(loss, BinomialLogLoss):
        return rng.integers(0, 2, size=n).astype(float)
    if isinstance(loss, MultinomialLogLoss):
        return rng.integers(0, loss.n_outputs, size=n)
    return rng.normal(size=n)


def _raw(rng, loss, n, scale=3.0):
    shape = (n, loss.n_outputs) if loss.n_outputs > 1 else (n,)
    return rng.normal(scale=scale, size=shape)


def _reference_loss(loss, z, y):
    """Per-row losses from their textbook formulas."""
    if isinstance(loss, BinomialLogLoss):
        p = 1 / (1 + np.exp(-z))
        return -(y * np.log(p) + (1 - y) * np.log(1 - p))
    if isinstance(loss, MultinomialLogLoss):
        return -log_softmax(z, axis=1)[np.arange(len(y)), y]
    return (loss.activation(z) - y) ** 2


@pytest.mark.parametrize("loss", LOSSES, ids=_ids)
def test_root_squared_is_the_loss(loss):
    rng = np.random.default_rng(0)
    z, y = _raw(rng, loss, 50), _labels(rng, loss, 50)
    np.testing.assert_allclose(loss.loss(z, y), _reference_loss(loss, z, y), rtol=1e-12)
    np.testing.assert_allclose(loss.root(z, y) ** 2, loss.loss(z, y), rtol=1e-12)
    total, G = loss.value_gradient(z.copy(), y, None)
    assert total == pytest.approx(loss.loss(z, y).sum(), rel=1e-12)


@pytest.mark.parametrize("loss", LOSSES, ids=_ids)
def test_gradients_match_finite_differences(loss):
    rng = np.random.default_rng(1)
    z, y = _raw(rng, loss, 20, scale=2.0), _labels(rng, loss, 20)
    w = rng.uniform(0.5, 2.0, size=20)
    _, G = loss.value_gradient(z.copy(), y, w)
    root_gradient = loss.root_gradient(z, y)
    h = 1e-6
    for k in range(loss.n_outputs):
        step = np.zeros_like(z)
        if z.ndim == 1:
            step += h
        else:
            step[:, k] = h
        dl = (loss.loss(z + step, y) - loss.loss(z - step, y)) / (2 * h)
        dh = (loss.root(z + step, y) - loss.root(z - step, y)) / (2 * h)
        column = (slice(None),) if z.ndim == 1 else (slice(None), k)
        np.testing.assert_allclose(G[column], w * dl, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(root_gradient[column], dh, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("loss", [LOSSES[1], LOSSES[2]], ids=_ids)
def test_secant_is_the_integral_of_the_root_gradient(loss):
    rng = np.random.default_rng(2)
    z = np.concatenate([rng.normal(scale=10, size=30), [0.0, 1e-300, -1e-12]])
    y = _labels(rng, loss, z.shape[0])
    nodes, weights = np.polynomial.legendre.leggauss(200)
    t, w = (nodes + 1) / 2, weights / 2
    integral = sum(wk * loss.root_gradient(tk * z, y) for tk, wk in zip(t, w))
    np.testing.assert_allclose(loss.root_secant(z, y), integral, rtol=1e-10)
    # Far out the secant is the plain difference quotient (no cancellation).
    big = np.array([-700.0, 700.0, 1e300])
    y_big = y[:3]
    zero = np.zeros(3)
    expected = (loss.root(big, y_big) - loss.root(zero, y_big)) / big
    np.testing.assert_allclose(loss.root_secant(big, y_big), expected, rtol=1e-13)


def test_tiny_multinomial_losses_keep_their_digits():
    loss = MultinomialLogLoss(3)
    z = np.array([[60.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    y = np.array([0, 2])
    expected = [np.log1p(np.exp(-60.0) + np.exp(-59.0)), np.log(3.0)]
    np.testing.assert_allclose(loss.loss(z, y), expected, rtol=1e-14)
    assert np.all(np.isfinite(loss.root_gradient(z, y)))


@pytest.mark.parametrize("loss", LOSSES[2:], ids=_ids)
def test_fit_losses_are_exact_at_extreme_logits(loss):
    # value_gradient is the fit's fast path: row by row it must agree with
    # the careful loss() (no overflow; the binomial keeps the digits of tiny
    # losses, the multinomial's log-sum rounds those below 1e-16 to 0, as
    # log_softmax does) and its gradient with the inverse link minus the label.
    if isinstance(loss, BinomialLogLoss):
        z = np.array([-800.0, -40.0, -1e-20, 0.0, 1e-20, 40.0, 800.0] * 2)
        y = np.repeat([0.0, 1.0], 7)
        expected_gradient = loss.predict(z) - y
        tiny = 0.0
    else:
        z = np.array([[800.0, 0.0, -800.0], [40.0, 0.0, 0.0], [0.0, 0.0, 0.0]] * 3)
        y = np.repeat([0, 1, 2], 3)
        expected_gradient = loss.predict(z) - np.eye(3)[y]
        tiny = 1e-16
    for i in range(len(y)):
        total, G = loss.value_gradient(z[i : i + 1].copy(), y[i : i + 1], None)
        expected = loss.loss(z[i : i + 1], y[i : i + 1])[0]
        assert total == pytest.approx(expected, rel=1e-14, abs=tiny)
        np.testing.assert_allclose(G[0], expected_gradient[i], rtol=1e-14, atol=1e-300)


def test_fused_swish_matches_the_activation():
    phi = make_activation("swish", c1=0.5, c2=3.0, zeta=1.7)
    z = np.linspace(-40, 40, 1001)
    value, derivative = _value_and_derivative(phi, z.copy())
    np.testing.assert_allclose(value, phi(z), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(derivative, phi.derivative(z), rtol=1e-14, atol=1e-15)


def _quadrature_rows(model, loss, X, theta, y, n_nodes=200):
    """``int_0^1 J(t theta)^T h'(z(t theta)) dt`` from the Jacobian, plus h(0)."""
    nodes, weights = np.polynomial.legendre.leggauss(n_nodes)
    rows = 0.0
    for t, w in zip((nodes + 1) / 2, weights / 2):
        J = model.jacobian(X, t * theta)
        g = loss.root_gradient(raw_output(model, X, t * theta), y)
        rows = rows + w * (
            J * g[:, None] if J.ndim == 2 else np.einsum("ikp,ik->ip", J, g)
        )
    z0 = raw_output(model, X, 0 * theta)
    return np.column_stack([rows, loss.root(z0, y)])


CLASSIFIER_MODELS = [
    (LinearIndex, {}),
    (LinearIndex, {"fit_intercept": False}),
    (TwoLayerReLU, {"n_hidden": 5}),
    (TwoLayerReLU, {"n_hidden": 5, "fit_intercept": False}),
]


@pytest.mark.parametrize("loss", LOSSES, ids=_ids)
@pytest.mark.parametrize("make, options", CLASSIFIER_MODELS)
def test_loss_dual_matrix_is_the_integral_and_satisfies_the_identity(
    loss, make, options
):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(25, 4))
    options = dict(options)
    if make is TwoLayerReLU:
        model = make(4, options.pop("n_hidden"), n_outputs=loss.n_outputs, **options)
    else:
        model = make(4, n_outputs=loss.n_outputs, **options)
    theta = rng.normal(scale=0.7, size=model.n_params)
    y = _labels(rng, loss, 25)
    F = model.adjoint(X, theta, loss, y)
    assert F.shape == (25, model.n_params + 1)
    z = raw_output(model, X, theta)
    np.testing.assert_allclose(F @ np.append(theta, 1.0), loss.root(z, y), rtol=1e-12)
    np.testing.assert_allclose(
        F, _quadrature_rows(model, loss, X, theta, y), rtol=1e-8, atol=1e-10
    )
