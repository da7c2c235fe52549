"""The model objects: outputs, Jacobians and vector-Jacobian products."""

import numpy as np
import pytest
import scipy.sparse as sp
from _reference import (
    single_index_jacobian,
    single_index_output,
    two_layer_jacobian,
    two_layer_output,
)

from sknlis import make_activation
from sknlis._activations import ACTIVATIONS
from sknlis._losses import MultinomialLogLoss, SquaredError
from sknlis._models import (
    LinearIndex,
    MultiLayerPerceptron,
    TwoLayerReLU,
    adjoint_in_blocks,
    raw_output,
)


def central_jacobian(func, theta, h=1e-6):
    columns = []
    for j in range(theta.shape[0]):
        step = np.zeros_like(theta)
        step[j] = h
        columns.append((func(theta + step) - func(theta - step)) / (2 * h))
    return np.stack(columns, axis=-1)


def models(n_features):
    yield LinearIndex(n_features)
    yield LinearIndex(n_features, fit_intercept=False)
    yield LinearIndex(n_features, n_outputs=3)
    yield TwoLayerReLU(n_features, 4)
    yield TwoLayerReLU(n_features, 4, fit_intercept=False)
    yield TwoLayerReLU(n_features, 4, activation="tanh")
    yield TwoLayerReLU(n_features, 4, n_outputs=3)
    yield TwoLayerReLU(n_features, 4, n_outputs=3, fit_intercept=False)
    yield MultiLayerPerceptron((n_features, 4, 5, 2), "tanh")
    yield MultiLayerPerceptron((n_features, 4, 1), "logistic")


MODELS = list(models(3))


def _ids(model):
    intercept = int(getattr(model, "fit_intercept", True))
    return f"{type(model).__name__}-K{model.n_outputs}-b{intercept}" + (
        f"-{model.activation.name}" if hasattr(model, "activation") else ""
    )


@pytest.mark.parametrize("model", MODELS, ids=_ids)
def test_jacobian_matches_finite_differences(model):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(9, 3))
    theta = rng.normal(size=model.n_params)
    numeric = central_jacobian(lambda t: raw_output(model, X, t), theta)
    np.testing.assert_allclose(model.jacobian(X, theta), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("model", MODELS, ids=_ids)
def test_vjp_is_the_transposed_jacobian_product(model):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(11, 3))
    theta = rng.normal(size=model.n_params)
    params = model.unpack(theta)
    z, cache = model.forward(X, params)
    G = rng.normal(size=z.shape)
    out = np.full(model.n_params, 0.5)  # vjp adds to what is there
    model.vjp(X, params, cache, G, out)
    J = model.jacobian(X, theta)
    expected = np.einsum(
        "ik,ikp->p", G.reshape(len(X), -1), J.reshape(len(X), -1, model.n_params)
    )
    np.testing.assert_allclose(out, 0.5 + expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_regression_outputs_match_the_reference_loops(name, fit_intercept):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(7, 3))
    phi = make_activation(name)
    net = TwoLayerReLU(3, 4, activation=phi, fit_intercept=fit_intercept)
    theta = rng.normal(size=net.n_params)
    np.testing.assert_allclose(
        raw_output(net, X, theta), two_layer_output(X, theta, 4, phi, fit_intercept)
    )
    if name != "relu":
        np.testing.assert_allclose(
            net.jacobian(X, theta),
            two_layer_jacobian(X, theta, 4, phi, fit_intercept),
            rtol=1e-12,
            atol=1e-14,
        )
    linear = LinearIndex(3, fit_intercept=fit_intercept)
    theta = theta[: linear.n_params]
    np.testing.assert_allclose(
        phi(raw_output(linear, X, theta)),
        single_index_output(X, theta, phi, fit_intercept),
    )
    np.testing.assert_allclose(
        phi.derivative(raw_output(linear, X, theta))[:, None]
        * linear.jacobian(X, theta),
        single_index_jacobian(X, theta, phi, fit_intercept),
    )


@pytest.mark.parametrize("model", MODELS, ids=_ids)
def test_blocked_output_equals_one_block(model):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(23, 3))
    theta = rng.normal(size=model.n_params)
    whole = model.forward(X, model.unpack(theta))[0]
    np.testing.assert_allclose(raw_output(model, X, theta, block_size=4), whole)


def _loss_and_target(model, rng, n):
    if model.n_outputs == 1:
        return SquaredError(make_activation("identity")), rng.normal(size=n)
    K = model.n_outputs
    return MultinomialLogLoss(K), rng.integers(K, size=n)


@pytest.mark.parametrize("model", MODELS, ids=_ids)
def test_adjoint_writes_into_out(model):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(9, 3))
    theta = rng.normal(size=model.n_params)
    loss, y = _loss_and_target(model, rng, 9)
    expected = model.adjoint(X, theta, loss, y)
    out = np.full_like(expected, np.nan)
    assert model.adjoint(X, theta, loss, y, out=out) is out
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("model", MODELS, ids=_ids)
def test_adjoint_in_blocks_converts_each_piece(model):
    """Float32, strided and sparse input give the rows of its float64 copy."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(50, 4)).astype(np.float32)
    strided = X[:, :3]  # float32 rows 16 bytes apart
    before = strided.copy()
    theta = rng.normal(size=model.n_params)
    loss, y = _loss_and_target(model, rng, 50)
    expected = model.adjoint(strided.astype(np.float64), theta, loss, y)
    out = np.full_like(expected, np.nan)
    F = adjoint_in_blocks(model, strided, theta, loss, y, block_size=7, out=out)
    assert F is out
    np.testing.assert_allclose(F, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(strided, before)
    sparse = adjoint_in_blocks(model, sp.csr_matrix(strided), theta, loss, y)
    np.testing.assert_allclose(sparse, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("model", MODELS, ids=_ids)
def test_adjoint_in_blocks_reuses_its_scratch(model):
    """A caller's scratch keeps one conversion buffer for every call, and
    float32 targets give the rows of their float64 copy."""
    rng = np.random.default_rng(6)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    theta = rng.normal(size=model.n_params)
    loss, y = _loss_and_target(model, rng, 40)
    if y.dtype.kind == "f":
        y = y.astype(np.float32)
    labels = y.astype(np.float64) if y.dtype.kind == "f" else y
    expected = model.adjoint(X.astype(np.float64), theta, loss, labels)
    scratch = {}
    first = adjoint_in_blocks(model, X[:20], theta, loss, y[:20], scratch=scratch)
    buffers = {name: id(buffer) for name, buffer in scratch.items()}
    assert "X" in buffers and ("y" in buffers) == (y.dtype == np.float32)
    second = adjoint_in_blocks(model, X[20:], theta, loss, y[20:], scratch=scratch)
    assert {name: id(buffer) for name, buffer in scratch.items()} == buffers
    np.testing.assert_allclose(
        np.vstack([first, second]), expected, rtol=1e-12, atol=1e-12
    )


def test_several_outputs_need_identity_units():
    with pytest.raises(ValueError, match="identity"):
        TwoLayerReLU(3, 4, activation="tanh", n_outputs=2)
