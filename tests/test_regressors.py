"""SingleIndexRegressor and TwoLayerReLURegressor: fits, dual matrix, input."""

import threading

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, Ridge
from threadpoolctl import threadpool_info

import sknlis._base
from sknlis import SingleIndexRegressor, TwoLayerReLURegressor, make_activation
from sknlis._activations import ACTIVATIONS
from sknlis._solver import lbfgs


def _data(n_samples=60, n_features=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    y = np.tanh(X @ rng.normal(size=n_features)) + 0.3 * rng.normal(size=n_samples)
    return X, y


def _single(**params):
    return SingleIndexRegressor(random_state=0, **params)


def _two_layer(**params):
    params.setdefault("n_hidden", 3)
    params.setdefault("max_iter", 200)
    return TwoLayerReLURegressor(random_state=0, **params)


MODELS = [
    pytest.param(_single, id="single_index"),
    pytest.param(_two_layer, id="two_layer"),
]


def _short_two_layer(**params):
    # The non-convex fit may take thousands of iterations to converge; a few
    # iterations from the same start are enough to compare two objectives.
    return _two_layer(max_iter=15, **params)


# Fits that must agree to rounding: the single-index fit to convergence, the
# two-layer fit along the same first iterations.
EXACT_MODELS = [
    pytest.param(_single, id="single_index"),
    pytest.param(
        _short_two_layer,
        id="two_layer",
        marks=pytest.mark.filterwarnings(
            "ignore::sklearn.exceptions.ConvergenceWarning"
        ),
    ),
]


def _relative_error(actual, expected):
    return np.linalg.norm(actual - expected) / np.linalg.norm(expected)


# The dual matrix contract -----------------------------------------------------


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("make", MODELS)
def test_adjoint_contract(make, activation, fit_intercept):
    X, y = _data()
    model = make(activation=activation, fit_intercept=fit_intercept, max_iter=30)
    model.fit(X, y)
    theta_hat = np.append(model.theta_, 1.0)
    X_new, y_new = _data(25, seed=1)

    F = model.adjoint_matrix(X_new, y_new)
    assert F.shape == (25, model.theta_.shape[0] + 1)
    residual = model.predict(X_new) - y_new
    assert _relative_error(F @ theta_hat, residual) < 1e-10
    F_out = model.adjoint_matrix(X_new)
    assert _relative_error(F_out @ theta_hat, model.predict(X_new)) < 1e-10
    # Only the last column depends on y.
    np.testing.assert_array_equal(F[:, :-1], F_out[:, :-1])
    np.testing.assert_allclose(F_out[:, -1] - F[:, -1], y_new, rtol=1e-14)

    # Stored on the training data, with its targets; blocks change nothing.
    np.testing.assert_allclose(model.adjoint_matrix_, model.adjoint_matrix(X, y))
    np.testing.assert_array_equal(
        model.adjoint_matrix(X, y, block_size=7), model.adjoint_matrix(X, y)
    )


@pytest.mark.parametrize("make", MODELS)
def test_store_adjoint_false_skips_the_attribute(make):
    X, y = _data()
    model = make(store_adjoint=False).fit(X, y)
    assert not hasattr(model, "adjoint_matrix_")
    assert model.adjoint_matrix(X, y).shape == (60, model.theta_.shape[0] + 1)


@pytest.mark.parametrize("make", MODELS)
def test_adjoint_matrix_checks_y(make):
    X, y = _data()
    model = make().fit(X, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        model.adjoint_matrix(X, y[:-1])
    with pytest.raises(ValueError, match="NaN"):
        model.adjoint_matrix(X, np.where(np.arange(60) == 3, np.nan, y))


# Fits with known answers -------------------------------------------------------


def test_identity_reaches_least_squares():
    X, y = _data(80, 4)
    y = y + 2.0
    # Seeded: L-BFGS-B's relative-reduction stop leaves ~1e-8 relative error
    # in the coefficients from about 1 start in 30.
    model = SingleIndexRegressor(activation="identity", tol=1e-12, random_state=0)
    model.fit(X, y)
    ols = LinearRegression().fit(X, y)
    np.testing.assert_allclose(model.coef_, ols.coef_, rtol=1e-8)
    assert model.intercept_ == pytest.approx(ols.intercept_, rel=1e-8)
    assert model.loss_ == pytest.approx(np.mean((ols.predict(X) - y) ** 2), rel=1e-10)


def test_alpha_is_the_ridge_penalty_on_the_unnormalized_loss():
    X, y = _data(80, 4)
    weights = np.linspace(0.5, 2.0, 80)
    model = SingleIndexRegressor(
        activation="identity",
        fit_intercept=False,
        alpha=5.0,
        tol=1e-12,
        random_state=0,
    ).fit(X, y, sample_weight=weights)
    ridge = Ridge(alpha=5.0, fit_intercept=False).fit(X, y, sample_weight=weights)
    np.testing.assert_allclose(model.coef_, ridge.coef_, rtol=1e-8)
    objective = weights @ (X @ ridge.coef_ - y) ** 2 + 5.0 * ridge.coef_ @ ridge.coef_
    assert model.loss_ == pytest.approx(objective / weights.sum(), rel=1e-10)


def test_single_index_recovers_a_swish_model():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 3))
    z = X @ [0.8, -1.2, 0.4] - 0.5
    y = z * (1.0 + (np.sqrt(2.0) - 1.0) / (1.0 + np.exp(-z)))
    model = SingleIndexRegressor(tol=1e-10).fit(X, y)
    np.testing.assert_allclose(model.coef_, [0.8, -1.2, 0.4], atol=1e-6)
    assert model.intercept_ == pytest.approx(-0.5, abs=1e-6)
    assert model.score(X, y) == pytest.approx(1.0, abs=1e-10)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("activation", ["identity", "tanh", "swish"])
def test_natural_parameters_give_the_predictions(activation):
    X, y = _data()
    single = _single(activation=activation).fit(X, y)
    phi = make_activation(activation)
    np.testing.assert_allclose(
        single.predict(X), phi(X @ single.coef_ + single.intercept_), rtol=1e-12
    )

    net = _two_layer(activation=activation, n_hidden=4).fit(X, y)
    hidden = np.maximum(X @ net.hidden_coef_.T + net.hidden_intercept_, 0.0)
    expected = phi(hidden * net.output_coef_).sum(axis=1) + net.intercept_
    np.testing.assert_allclose(net.predict(X), expected, rtol=1e-12)
    assert net.hidden_coef_.shape == (4, 3)
    assert net.hidden_intercept_.shape == (4,) and net.output_coef_.shape == (4,)


@pytest.mark.parametrize("make", MODELS)
def test_no_intercept(make):
    X, y = _data()
    model = make(fit_intercept=False).fit(X, y)
    assert model.intercept_ == 0.0
    intercept = make(fit_intercept=True).fit(X, y)
    assert model.theta_.shape[0] == intercept.theta_.shape[0] - 1


def test_two_layer_fits_a_relu_network():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 2))
    y = np.maximum(X[:, 0] + X[:, 1], 0) - 2 * np.maximum(X[:, 0] - 0.5, 0) + 1.0
    model = TwoLayerReLURegressor(n_hidden=4, n_init=3, random_state=0).fit(X, y)
    assert model.score(X, y) > 0.999
    assert model.n_iter_ >= 1
    assert model.loss_ == pytest.approx(np.mean((model.predict(X) - y) ** 2))


# Sample weights -----------------------------------------------------------------


@pytest.mark.parametrize("make", EXACT_MODELS)
def test_integer_weights_equal_repeated_rows(make):
    X, y = _data(30)
    counts = np.arange(30) % 3 + 1
    weighted = make(tol=1e-10).fit(X, y, sample_weight=counts)
    repeated = make(tol=1e-10).fit(np.repeat(X, counts, axis=0), np.repeat(y, counts))
    np.testing.assert_allclose(weighted.theta_, repeated.theta_, rtol=1e-6, atol=1e-8)
    assert weighted.loss_ == pytest.approx(repeated.loss_, rel=1e-8)


@pytest.mark.parametrize("make", EXACT_MODELS)
def test_zero_weights_equal_dropped_rows(make):
    X, y = _data(40)
    weights = np.where(np.arange(40) % 4 == 0, 0.0, 1.5)
    kept = weights > 0
    weighted = make(tol=1e-10).fit(X, y, sample_weight=weights)
    dropped = make(tol=1e-10).fit(X[kept], y[kept])
    np.testing.assert_allclose(weighted.theta_, dropped.theta_, rtol=1e-6, atol=1e-8)
    # The stored dual matrix still has a row for every training sample.
    assert weighted.adjoint_matrix_.shape[0] == 40


@pytest.mark.parametrize("make", EXACT_MODELS)
def test_weights_change_the_fit(make):
    # Guards the two tests above against weights being ignored.
    X, y = _data(40)
    weights = np.linspace(0.1, 3.0, 40)
    plain = make(tol=1e-10).fit(X, y)
    weighted = make(tol=1e-10).fit(X, y, sample_weight=weights)
    assert np.abs(plain.theta_ - weighted.theta_).max() > 1e-3


# Randomness and restarts --------------------------------------------------------


def test_same_seed_same_model_and_seeds_matter():
    X, y = _data()
    first = TwoLayerReLURegressor(n_hidden=4, random_state=7, max_iter=50)
    with pytest.warns(ConvergenceWarning):
        first.fit(X, y)
        second = clone(first).fit(X, y)
        other = clone(first).set_params(random_state=8).fit(X, y)
    np.testing.assert_array_equal(first.theta_, second.theta_)
    assert not np.allclose(first.theta_, other.theta_)


def test_n_init_keeps_the_lowest_loss(monkeypatch):
    runs = []

    def recording_lbfgs(*args, **kwargs):
        result = lbfgs(*args, **kwargs)
        runs.append(result)
        return result

    lbfgs = sknlis._base.lbfgs
    monkeypatch.setattr(sknlis._base, "lbfgs", recording_lbfgs)
    X, y = _data()
    model = TwoLayerReLURegressor(n_hidden=2, n_init=4, max_iter=100, random_state=1)
    model.fit(X, y)
    assert len(runs) == 4
    losses = [run.loss for run in runs]
    assert len(set(losses)) > 1, "restarts should differ"
    best = runs[int(np.argmin(losses))]
    assert model.loss_ == min(losses)
    np.testing.assert_array_equal(model.theta_, best.theta)
    single = clone(model).set_params(n_init=1).fit(X, y)
    assert single.loss_ == losses[0]  # the first restart is the n_init=1 fit


# Solver behaviour ---------------------------------------------------------------


@pytest.mark.parametrize("make", MODELS)
def test_convergence_warning_when_max_iter_is_hit(make):
    X, y = _data()
    with pytest.warns(ConvergenceWarning, match="did not converge after 2"):
        model = make(max_iter=2).fit(X, y)
    assert model.n_iter_ == 2
    assert np.isfinite(model.loss_)


def test_converged_fit_does_not_warn(recwarn):
    X, y = _data()
    _single(activation="identity").fit(X, y)
    assert not [w for w in recwarn if issubclass(w.category, ConvergenceWarning)]


@pytest.mark.parametrize(
    ("activation", "x_scale", "y_scale"),
    [
        ("swish", 1e-7, 1.0),
        ("swish", 1.0, 1e-8),
        ("swish", 1e-6, 1e-6),
        ("identity", 1e-6, 1.0),
        ("identity", 1e-7, 1e-7),
    ],
)
def test_small_scale_data_fit_as_the_unscaled(activation, x_scale, y_scale, recwarn):
    # The gradient tolerance was absolute: features scaled by 1e-7 or targets
    # by 1e-8 stopped L-BFGS-B at the start, with R^2 near 0 or far below.
    X, y = _data(n_samples=200)
    y = y + 2.0  # an intercept to fit besides the weights
    if activation == "identity" or y_scale != 1:
        # Targets near 0 keep a swish on its linear part: least squares again.
        expected = LinearRegression().fit(X, y).score(X, y)
    else:
        expected = _single(activation=activation).fit(X, y).score(X, y)
    model = _single(activation=activation).fit(X * x_scale, y * y_scale)
    assert model.score(X * x_scale, y * y_scale) == pytest.approx(expected, abs=1e-4)
    assert not [w for w in recwarn if issubclass(w.category, ConvergenceWarning)]


@pytest.mark.parametrize("make", MODELS)
def test_a_gradient_too_large_to_square_is_a_clear_error(make):
    # A finite gradient of norm 1e154 made L-BFGS-B step to NaN parameters,
    # and the fit returned NaN predictions without a word.
    X, y = np.array([[0.0], [6e77]]), np.zeros(2)
    with pytest.raises(ValueError, match="overflows float64"):
        make().fit(X, y)


def test_solver_moves_along_a_coordinate_with_a_tiny_gradient():
    # At the start the gradient (-2e-7) is below tol, yet the minimum at
    # theta = 1e7 lowers the loss from 1 to 0.
    def loss_gradient(theta):
        residual = 1e-7 * theta[0] - 1.0
        return residual**2, np.array([2e-7 * residual])

    fit = lbfgs(loss_gradient, np.zeros(1), max_iter=50, tol=1e-6)
    assert fit.converged and fit.loss < 1e-12
    assert fit.theta[0] == pytest.approx(1e7, rel=1e-6)


def test_blas_threads_are_restored_when_fits_interleave():
    # Fit A starts, fit B starts, A ends, B ends: each restored what it had
    # found, so B put back A's limit of one thread for good.
    before = [pool["num_threads"] for pool in threadpool_info()]
    a_inside, b_inside, a_done = (threading.Event() for _ in range(3))

    def blocking_loss(enter, wait_for):
        def loss_gradient(theta):
            enter.set()
            wait_for.wait(timeout=10)
            return float(theta @ theta), 2 * theta

        return loss_gradient

    def fit_b():
        a_inside.wait(timeout=10)
        lbfgs(blocking_loss(b_inside, a_done), np.ones(2), max_iter=5, tol=1e-6)

    thread = threading.Thread(target=fit_b)
    thread.start()
    lbfgs(blocking_loss(a_inside, b_inside), np.ones(2), max_iter=5, tol=1e-6)
    a_done.set()
    thread.join()
    assert [pool["num_threads"] for pool in threadpool_info()] == before


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("make", MODELS)
def test_large_values_give_a_finite_loss_or_a_clear_error(make):
    X, y = _data()
    model = make(activation="swish", max_iter=50).fit(X * 1e3, y * 1e6)
    assert np.isfinite(model.loss_) and np.all(np.isfinite(model.theta_))
    with pytest.raises(ValueError, match="overflows float64"):
        make(activation="identity").fit(X, y * 1e160)


@pytest.mark.parametrize("make", MODELS)
@pytest.mark.parametrize("bound", [0.05, 0.3])
def test_bound_is_enforced(make, bound):
    X, y = _data()
    y = 5 * y + 3  # needs parameters larger than the bound
    model = make(bound=bound).fit(X, y)
    assert np.abs(model.theta_).max() == pytest.approx(bound)
    free = make().fit(X, y)
    assert np.abs(free.theta_).max() > bound


def test_verbose_prints_the_loss(capsys):
    X, y = _data()
    with pytest.warns(ConvergenceWarning):
        _single(verbose=1, max_iter=3, tol=0.0).fit(X, y)
    assert "Iteration 1, loss =" in capsys.readouterr().out


# Input ------------------------------------------------------------------------------


@pytest.mark.parametrize("make", MODELS)
def test_pandas_feature_names(make):
    X, y = _data()
    frame = pd.DataFrame(X, columns=["age", "bmi", "bp"])
    model = make().fit(frame, pd.Series(y))
    np.testing.assert_array_equal(model.feature_names_in_, ["age", "bmi", "bp"])
    np.testing.assert_allclose(model.predict(frame), make().fit(X, y).predict(X))
    assert model.adjoint_matrix(frame).shape[0] == 60
    with pytest.warns(UserWarning, match="feature names"):
        model.predict(X)
    with pytest.raises(ValueError, match="feature names"):
        model.predict(frame[["bmi", "age", "bp"]])


@pytest.mark.parametrize("make", MODELS)
def test_float32_input(make):
    X, y = _data()
    model32 = make().fit(X.astype(np.float32), y.astype(np.float32))
    model64 = make().fit(X.astype(np.float32).astype(np.float64), y.astype(np.float32))
    np.testing.assert_allclose(model32.theta_, model64.theta_, rtol=1e-12)
    assert model32.predict(X.astype(np.float32)).dtype == np.float64


@pytest.mark.parametrize("sparse_format", ["csr", "csc"])
def test_single_index_sparse_equals_dense(sparse_format):
    X, y = _data()
    X[np.abs(X) < 0.7] = 0.0
    X_sparse = sp.csr_matrix(X).asformat(sparse_format)
    dense = _single(activation="tanh").fit(X, y)
    sparse = _single(activation="tanh").fit(X_sparse, y)
    np.testing.assert_allclose(sparse.theta_, dense.theta_, rtol=1e-10)
    np.testing.assert_allclose(sparse.predict(X_sparse), dense.predict(X))
    np.testing.assert_allclose(
        sparse.adjoint_matrix(X_sparse, y, block_size=9), dense.adjoint_matrix(X, y)
    )


def test_two_layer_rejects_sparse():
    X, y = _data()
    with pytest.raises(TypeError, match="[Ss]parse"):
        _two_layer().fit(sp.csr_matrix(X), y)


@pytest.mark.parametrize("make", MODELS)
def test_bad_input(make):
    X, y = _data()
    X_nan = X.copy()
    X_nan[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        make().fit(X_nan, y)
    with pytest.raises(ValueError, match="infinity"):
        make().fit(X, np.where(np.arange(60) == 5, np.inf, y))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        make().fit(X, y[:-1])
    with pytest.raises(ValueError, match="2D array"):
        make().fit(X[:, 0], y)
    with pytest.raises(ValueError, match="1 sample"):
        make().fit(X[:1], y[:1])
    with pytest.raises(ValueError, match="Negative"):
        make().fit(X, y, sample_weight=np.where(np.arange(60) == 0, -1.0, 1.0))
    with pytest.raises(ValueError, match="non-zero"):
        make().fit(X, y, sample_weight=np.zeros(60))
    with pytest.raises(ValueError, match="bound"):
        make(bound=-1.0).fit(X, y)
    model = make().fit(X, y)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :2])
    with pytest.raises(ValueError, match="features"):
        model.adjoint_matrix(X[:, :2])


def test_bad_swish_parameters():
    X, y = _data()
    with pytest.raises(ValueError, match="c1 < c2"):
        SingleIndexRegressor(c1=2.0, c2=1.0).fit(X, y)
    with pytest.raises(ValueError, match="zeta"):
        SingleIndexRegressor(zeta=0.0).fit(X, y)


def test_unfitted_raises():
    from sklearn.exceptions import NotFittedError

    X, _ = _data()
    with pytest.raises(NotFittedError):
        SingleIndexRegressor().predict(X)
    with pytest.raises(NotFittedError):
        TwoLayerReLURegressor().adjoint_matrix(X)
