"""The weighted objective of a model and a loss, and its gradient."""

import numpy as np
import pytest
import scipy.sparse as sp

from sknlis._activations import ACTIVATIONS, make_activation
from sknlis._losses import BinomialLogLoss, MultinomialLogLoss, SquaredError
from sknlis._models import LinearIndex, TwoLayerReLU, raw_output
from sknlis._objective import Objective

N_SAMPLES, N_FEATURES, N_HIDDEN = 40, 3, 4


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N_SAMPLES, N_FEATURES))
    weights = rng.uniform(0.0, 3.0, size=N_SAMPLES)
    return rng, X, weights


def _targets(rng, loss):
    if isinstance(loss, BinomialLogLoss):
        return rng.integers(0, 2, size=N_SAMPLES).astype(float)
    if isinstance(loss, MultinomialLogLoss):
        return rng.integers(0, loss.n_outputs, size=N_SAMPLES)
    return rng.normal(size=N_SAMPLES)


def _cases():
    for name in ACTIVATIONS:
        phi = make_activation(name)
        yield "single", LinearIndex, SquaredError(phi), {}
        yield (
            "two_layer",
            TwoLayerReLU,
            SquaredError(make_activation("identity")),
            {
                "n_hidden": N_HIDDEN,
                "activation": phi,
            },
        )
    for loss in (BinomialLogLoss(), MultinomialLogLoss(3)):
        yield "single", LinearIndex, loss, {"n_outputs": loss.n_outputs}
        yield (
            "two_layer",
            TwoLayerReLU,
            loss,
            {
                "n_hidden": N_HIDDEN,
                "n_outputs": loss.n_outputs,
            },
        )


def _make(kind, loss, options, fit_intercept):
    if kind == "single":
        return LinearIndex(N_FEATURES, fit_intercept=fit_intercept, **options)
    options = dict(options)
    n_hidden = options.pop("n_hidden")
    return TwoLayerReLU(N_FEATURES, n_hidden, fit_intercept=fit_intercept, **options)


CASES = [
    pytest.param(kind, loss, options, fit_intercept, weighted, alpha, id=case_id)
    for kind, _, loss, options in _cases()
    for fit_intercept, weighted, alpha in ((True, False, 0.0), (False, True, 0.7))
    for case_id in [
        f"{kind}-{type(loss).__name__}"
        f"-{getattr(getattr(loss, 'activation', None), 'name', '')}"
        f"{options.get('activation').name if 'activation' in options else ''}"
        f"-b={fit_intercept}-w={weighted}-a={alpha}"
    ]
]


def _central_difference(fun, theta, step=1e-6):
    grad = np.empty_like(theta)
    for j in range(theta.shape[0]):
        e = np.zeros_like(theta)
        e[j] = step
        grad[j] = (fun(theta + e) - fun(theta - e)) / (2 * step)
    return grad


@pytest.mark.parametrize("kind, loss, options, fit_intercept, weighted, alpha", CASES)
def test_value_and_gradient(kind, loss, options, fit_intercept, weighted, alpha):
    rng, X, weights = _data()
    y = _targets(rng, loss)
    weights = weights if weighted else None
    model = _make(kind, loss, options, fit_intercept)
    objective = Objective(model, loss, X, y, weights, alpha)
    theta = rng.normal(size=model.n_params)

    value, grad = objective(theta)
    w = np.ones(N_SAMPLES) if weights is None else weights
    per_row = loss.loss(raw_output(model, X, theta), y)
    expected = (w @ per_row + alpha * theta @ theta) / w.sum()
    assert value == pytest.approx(expected, rel=1e-12)
    numeric = _central_difference(lambda t: objective(t)[0], theta)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind", ["single", "two_layer"])
@pytest.mark.parametrize(
    "loss", [SquaredError(make_activation("swish")), MultinomialLogLoss(3)]
)
def test_blocks_do_not_change_the_objective(kind, loss):
    rng, X, weights = _data(1)
    y = _targets(rng, loss)
    options = {"n_outputs": loss.n_outputs}
    if kind == "two_layer":
        options["n_hidden"] = N_HIDDEN
    model = _make(kind, loss, options, True)
    objective = Objective(model, loss, X, y, weights, 0.3)
    theta = rng.normal(size=model.n_params)
    value, grad = objective(theta)
    objective.block_size = 7  # 40 rows: five full blocks and a partial one
    value_blocked, grad_blocked = objective(theta)
    assert value_blocked == pytest.approx(value, rel=1e-13)
    np.testing.assert_allclose(grad_blocked, grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "loss", [SquaredError(make_activation("tanh")), BinomialLogLoss()]
)
def test_sparse_equals_dense(loss):
    rng, X, weights = _data(2)
    X[np.abs(X) < 0.8] = 0.0
    y = _targets(rng, loss)
    model = LinearIndex(N_FEATURES)
    theta = rng.normal(size=N_FEATURES + 1)
    dense = Objective(model, loss, X, y, weights, 0.1)(theta)
    sparse = Objective(model, loss, sp.csr_matrix(X), y, weights, 0.1)(theta)
    assert sparse[0] == pytest.approx(dense[0], rel=1e-13)
    np.testing.assert_allclose(sparse[1], dense[1], rtol=1e-12)
