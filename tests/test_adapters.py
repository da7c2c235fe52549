"""Dual matrices of fitted scikit-learn estimators (bring your own model)."""

import warnings

import numpy as np
import pytest
from scipy.special import xlogy
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import (
    GammaRegressor,
    LinearRegression,
    LogisticRegression,
    PoissonRegressor,
    Ridge,
    SGDClassifier,
    SGDRegressor,
    TweedieRegressor,
)
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.tree import DecisionTreeRegressor

from sknlis import (
    AdjointOutlierDetector,
    NonlinearImportanceResampler,
    SingleIndexClassifier,
    TwoLayerReLURegressor,
    adjoint_matrix,
    parameter_vector,
    two_layer_adjoint,
)
from sknlis._activations import make_activation
from sknlis._loo import loo_outputs
from sknlis._protocol import fitted_parts
from sknlis.pipeline import Pipeline

rng = np.random.default_rng(0)
X = rng.normal(size=(120, 4))
Y_REAL = np.sin(X[:, 0]) + X[:, 1] ** 2 + 0.1 * rng.normal(size=120)
MU = np.exp(0.4 * X[:, 0] - 0.3 * X[:, 1])
Y_COUNT = rng.poisson(MU).astype(float)
Y_POSITIVE = rng.gamma(2.0, MU / 2.0)
Y_BINARY = np.where(X[:, 0] + 0.5 * X[:, 2] + 0.5 * rng.normal(size=120) > 0, "b", "a")
Y_CLASSES = np.digitize(X[:, 0] + 0.5 * rng.normal(size=120), [-0.5, 0.5])


def _fit(estimator, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def _identity_product(estimator, y, **kwargs):
    F = adjoint_matrix(estimator, X, y, **kwargs)
    return F @ np.append(parameter_vector(estimator), 1.0)


def _name(value):
    """Test ids: estimators by their repr, the rest by position."""
    return repr(value) if hasattr(value, "fit") else None


def _relative(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


SQUARED_ERROR = [
    LinearRegression(),
    LinearRegression(fit_intercept=False),
    Ridge(alpha=3.0),
    SGDRegressor(random_state=0),
    TweedieRegressor(power=0.0),  # link="auto" is the identity: squared error
    MLPRegressor(hidden_layer_sizes=(8,), random_state=0),  # exact: one node
    MLPRegressor(hidden_layer_sizes=(6, 5), activation="identity", random_state=0),
]


@pytest.mark.parametrize("estimator", SQUARED_ERROR, ids=_name)
def test_squared_error_rows_reproduce_the_residuals(estimator):
    estimator = _fit(estimator, Y_REAL)
    residuals = estimator.predict(X) - Y_REAL
    assert _relative(_identity_product(estimator, Y_REAL), residuals) < 1e-10
    # Without y the rows give the output: only the last column changes.
    output = _identity_product(estimator, None)
    assert _relative(output, estimator.predict(X)) < 1e-10


def test_one_relu_layer_equals_the_closed_form_two_layer_adjoint():
    mlp = _fit(MLPRegressor(hidden_layer_sizes=(5,), random_state=0), Y_REAL)
    (W1, W2), (b1, b2) = mlp.coefs_, mlp.intercepts_
    # The same network in the layout [a_j, b_j, bias_j]_j, c of TwoLayerReLU.
    units = np.column_stack([W2[:, 0], W1.T, b1])
    theta = np.append(units.ravel(), b2)
    closed = two_layer_adjoint(X, theta, 5, make_activation("identity"), y=Y_REAL)
    F = adjoint_matrix(mlp, X, Y_REAL)
    m, d = 5, X.shape[1]
    reordered = np.empty_like(closed)
    for j in range(m):
        block = j * (d + 2)
        reordered[:, block] = F[:, m * d + j]  # coefs_[1][j, 0]
        # coefs_[0] is (d, m), row-major: its column j at j, j + m, ...
        reordered[:, block + 1 : block + 1 + d] = F[:, j : m * d : m]
        reordered[:, block + 1 + d] = F[:, m * d + m + j]  # intercepts_[0][j]
    reordered[:, -2:] = F[:, -2:]
    np.testing.assert_allclose(reordered, closed, rtol=1e-12, atol=1e-12)


def _log_loss(estimator, y):
    index = np.searchsorted(estimator.classes_, y)
    return -np.log(estimator.predict_proba(X)[np.arange(len(y)), index])


CLASSIFIERS = [
    (LogisticRegression(C=0.5), Y_BINARY, 1e-10),
    (LogisticRegression(), Y_CLASSES, 1e-10),  # multinomial, corrected quadrature
    (LogisticRegression(solver="liblinear"), Y_BINARY, 1e-10),
    (SGDClassifier(loss="log_loss", random_state=0), Y_BINARY, 1e-10),
    (MLPClassifier(hidden_layer_sizes=(6,), random_state=0), Y_BINARY, 1e-6),
    (
        MLPClassifier(hidden_layer_sizes=(6, 5), activation="tanh", random_state=0),
        Y_CLASSES,
        1e-6,
    ),
]


@pytest.mark.parametrize("estimator, y, tolerance", CLASSIFIERS, ids=_name)
def test_squared_rows_are_the_log_losses_of_predict_proba(estimator, y, tolerance):
    estimator = _fit(estimator, y)
    losses = _log_loss(estimator, y)
    roots = _identity_product(estimator, y)
    assert _relative(roots**2, losses) < tolerance
    assert np.all(roots >= 0)


def _unit_deviance(y, mu, power):
    """Textbook unit deviances (McCullagh and Nelder), computed directly."""
    if power == 1:
        return 2 * (xlogy(y, y / mu) - y + mu)
    if power == 2:
        return 2 * (np.log(mu / y) + y / mu - 1)
    a, b = 1 - power, 2 - power
    return 2 * (np.maximum(y, 0) ** b / (a * b) - y * mu**a / a + mu**b / b)


GLMS = [
    (PoissonRegressor(alpha=0.01), Y_COUNT, 1),
    (GammaRegressor(alpha=0.01), Y_POSITIVE, 2),
    (TweedieRegressor(power=1.5, alpha=0.01), Y_COUNT, 1.5),
    (TweedieRegressor(power=3.0, link="log", alpha=0.01), Y_POSITIVE, 3.0),
    (MLPRegressor(hidden_layer_sizes=(6,), loss="poisson", random_state=0), Y_COUNT, 1),
]


@pytest.mark.parametrize("estimator, y, power", GLMS, ids=_name)
def test_squared_rows_are_the_unit_deviances(estimator, y, power):
    estimator = _fit(estimator, y)
    mu = estimator.predict(X)
    roots, error = adjoint_matrix(estimator, X, y, return_error=True)
    roots = roots @ np.append(parameter_vector(estimator), 1.0)
    deviance = _unit_deviance(y, mu, power)
    assert _relative(roots**2, deviance) < 1e-10
    # The root keeps the sign of mu - y: smooth where mu crosses y.
    assert np.all(np.sign(roots) == np.sign(mu - y))
    bound = 1e-6 if isinstance(estimator, MLPRegressor) else 1e-12
    assert error.max() < bound * np.abs(roots).max()


@pytest.mark.parametrize("activation", ["tanh", "logistic"])
def test_deeper_smooth_networks_reach_the_identity_with_default_nodes(activation):
    mlp = MLPRegressor(
        hidden_layer_sizes=(10, 10, 10), activation=activation, random_state=0
    )
    mlp = _fit(mlp, Y_REAL)
    F, error = adjoint_matrix(mlp, X, Y_REAL, return_error=True)
    residuals = mlp.predict(X) - Y_REAL
    assert error.max() < 1e-6 * np.abs(residuals).max()
    np.testing.assert_allclose(
        error, np.abs(F @ np.append(parameter_vector(mlp), 1) - residuals), atol=1e-12
    )
    # The error is the quadrature's: fewer nodes, larger error.
    _, coarse = adjoint_matrix(mlp, X, Y_REAL, n_nodes=2, return_error=True)
    assert coarse.max() > 100 * error.max()


def test_deeper_relu_networks_report_their_quadrature_error():
    # Along the ray the units' pattern can change: the integrand has kinks,
    # and the residual decreases slowly with the nodes. It is reported.
    mlp = _fit(MLPRegressor(hidden_layer_sizes=(10, 10), random_state=0), Y_REAL)
    errors = [
        adjoint_matrix(mlp, X, Y_REAL, n_nodes=n, return_error=True)[1].max()
        for n in (4, 64)
    ]
    assert errors[1] < errors[0] < 0.5 * np.abs(mlp.predict(X) - Y_REAL).max()


def test_parameter_vector_is_scikit_learns_packing():
    mlp = _fit(MLPClassifier(hidden_layer_sizes=(3, 2), random_state=0), Y_CLASSES)
    expected = np.hstack([w.ravel() for w in mlp.coefs_ + mlp.intercepts_])
    theta = parameter_vector(mlp)
    np.testing.assert_array_equal(theta, expected)
    theta[:] = 0.0  # a copy: the estimator keeps its parameters
    assert np.any(mlp.coefs_[0] != 0)
    logistic = _fit(LogisticRegression(), Y_CLASSES)
    np.testing.assert_array_equal(
        parameter_vector(logistic).reshape(3, -1),
        np.column_stack([logistic.coef_, logistic.intercept_]),
    )


def test_blocks_give_the_same_rows():
    mlp = _fit(
        MLPRegressor(hidden_layer_sizes=(5, 4), activation="tanh", random_state=0),
        Y_REAL,
    )
    np.testing.assert_allclose(
        adjoint_matrix(mlp, X, Y_REAL, block_size=7),
        adjoint_matrix(mlp, X, Y_REAL),
        rtol=1e-13,
        atol=1e-15,
    )


@pytest.mark.parametrize(
    "estimator, y, error, match",
    [
        (DecisionTreeRegressor(), Y_REAL, TypeError, "LogisticRegression, SGDC"),
        (SGDRegressor(loss="huber"), Y_REAL, TypeError, "squared_error"),
        (SGDClassifier(), Y_BINARY, TypeError, "log_loss"),
        (SGDClassifier(loss="log_loss"), Y_CLASSES, TypeError, "one-vs-rest"),
        (TweedieRegressor(power=1, link="identity"), Y_COUNT, TypeError, "link"),
        (Ridge(), np.column_stack([Y_REAL, Y_REAL]), TypeError, "2 targets"),
        (
            MLPRegressor(hidden_layer_sizes=(3,)),
            np.column_stack([Y_REAL, Y_REAL]),
            TypeError,
            "target",
        ),
    ],
)
def test_unsupported_estimators_raise(estimator, y, error, match):
    with pytest.raises(error, match=match):
        adjoint_matrix(_fit(estimator, y), X, y)


def test_bad_inputs_raise():
    with pytest.raises(NotFittedError):
        adjoint_matrix(LogisticRegression(), X, Y_BINARY)
    logistic = _fit(LogisticRegression(), Y_BINARY)
    with pytest.raises(ValueError, match="needs y"):
        adjoint_matrix(logistic, X)
    with pytest.raises(ValueError, match="not seen in fit"):
        adjoint_matrix(logistic, X, np.full(120, "c"))
    with pytest.raises(ValueError, match="n_nodes"):
        adjoint_matrix(logistic, X, Y_BINARY, n_nodes=0)
    gamma = _fit(GammaRegressor(), Y_POSITIVE)
    with pytest.raises(ValueError, match="positive"):
        adjoint_matrix(gamma, X, Y_COUNT)
    with pytest.raises(ValueError, match="features"):
        adjoint_matrix(gamma, X[:, :3], Y_POSITIVE)


def test_sknlis_estimators_take_the_same_route():
    own = TwoLayerReLURegressor(4, random_state=0, max_iter=50)
    own = _fit(own, Y_REAL)
    np.testing.assert_array_equal(parameter_vector(own), own.theta_)
    np.testing.assert_allclose(
        adjoint_matrix(own, X, Y_REAL), own.adjoint_matrix(X, Y_REAL), rtol=1e-14
    )


def _ridge_refit_residual(alpha, i):
    keep = np.arange(len(X)) != i
    refit = Ridge(alpha=alpha).fit(X[keep], Y_REAL[keep])
    return refit.predict(X[i : i + 1])[0] - Y_REAL[i]


def test_penalty_mapping_gives_exact_leave_one_out_for_ridge():
    # Linear model, squared loss: one Newton step is the exact refit, so
    # the mapped penalty (weights only, as Ridge penalizes) must match it.
    ridge = Ridge(alpha=30.0).fit(X, Y_REAL)
    parts = fitted_parts(ridge, n_samples=len(X))
    X_model, y_model = parts.encode(X, Y_REAL)
    z = loo_outputs(parts.model, parts.loss, parts.theta, parts.alpha, X_model, y_model)
    exact = [_ridge_refit_residual(30.0, i) for i in range(5)]
    np.testing.assert_allclose(z[:5] - Y_REAL[:5], exact, rtol=1e-8)
    # Penalizing the intercept too would be another model.
    wrong = loo_outputs(parts.model, parts.loss, parts.theta, 30.0, X_model, y_model)
    assert np.max(np.abs(wrong[:5] - z[:5])) > 1e-4


@pytest.mark.parametrize(
    "estimator, y",
    [
        (LogisticRegression(C=0.05, tol=1e-10), Y_BINARY),
        (PoissonRegressor(alpha=0.05, solver="newton-cholesky", tol=1e-10), Y_COUNT),
    ],
    ids=_name,
)
def test_penalty_mapping_matches_leave_one_out_refits(estimator, y):
    full = estimator.fit(X, y)
    parts = fitted_parts(full, n_samples=len(X))
    X_model, y_model = parts.encode(X, y)
    z = loo_outputs(parts.model, parts.loss, parts.theta, parts.alpha, X_model, y_model)
    rows = np.arange(5)
    exact = []
    for i in rows:
        keep = np.arange(len(X)) != i
        refit = estimator.fit(X[keep], y[keep])
        exact.append(parts.model.forward(X[i : i + 1], _linear_params(refit))[0][0])
    assert np.median(np.abs(z[rows] - exact)) < 2e-3 * np.abs(exact).mean()
    # ... and a penalty ten times off is visibly farther from the refits.
    off = loo_outputs(
        parts.model, parts.loss, parts.theta, 10 * parts.alpha, X_model, y_model
    )
    assert np.median(np.abs(off[rows] - exact)) > 3 * np.median(np.abs(z[rows] - exact))


def _linear_params(estimator):
    return np.asarray(estimator.coef_).reshape(-1, 1), np.atleast_1d(
        estimator.intercept_
    )


def test_detector_ranks_label_errors_of_a_logistic_regression():
    labels = (X[:, 0] + 0.5 * X[:, 2] > 0).astype(int)
    flipped = np.argsort(-np.abs(X[:, 0] + 0.5 * X[:, 2]))[:6]  # confident rows
    noisy = labels.copy()
    noisy[flipped] = 1 - noisy[flipped]
    detector = AdjointOutlierDetector(LogisticRegression()).fit(X, noisy)
    assert detector._scores == "loo"
    top = np.argsort(-detector.scores_)[:6]
    assert np.isin(top, flipped).mean() >= 5 / 6


def test_resampler_pilot_fits_a_clone_with_a_seed():
    mlp = MLPClassifier(hidden_layer_sizes=(5,), max_iter=30)
    sampler = NonlinearImportanceResampler(mlp, n_samples=40, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        first = sampler.fit(X, Y_BINARY).sample_indices_
        again = NonlinearImportanceResampler(mlp, n_samples=40, random_state=0)
        np.testing.assert_array_equal(first, again.fit(X, Y_BINARY).sample_indices_)
    assert sampler.estimator_ is not mlp and mlp.random_state is None
    assert sampler.estimator_.random_state is not None
    np.testing.assert_allclose(sampler.scores_.sum(), 1.0)


def test_pipeline_hands_the_weights_to_the_final_mlp():
    def mlp():
        return MLPRegressor(hidden_layer_sizes=(10,), max_iter=40, random_state=0)

    pipe = Pipeline(
        [
            ("sample", NonlinearImportanceResampler(mlp(), n_samples=60)),
            ("model", mlp()),
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, Y_REAL)
        sampler = pipe.named_steps["sample"]
        rows = sampler.sample_indices_
        direct = mlp().fit(X[rows], Y_REAL[rows], sample_weight=sampler.sample_weight_)
    assert np.ptp(sampler.sample_weight_) > 0
    np.testing.assert_allclose(pipe.predict(X), direct.predict(X))


def test_resampler_with_prefit_glm_and_a_sknlis_classifier_still_work():
    poisson = PoissonRegressor().fit(X, Y_COUNT)
    sampler = NonlinearImportanceResampler(poisson, prefit=True, n_samples=30)
    sampler.fit(X, Y_COUNT)
    assert sampler.estimator_ is poisson
    own = NonlinearImportanceResampler(
        SingleIndexClassifier(random_state=0), n_samples=30, random_state=0
    )
    own.fit(X, Y_BINARY)
    assert own.scores_.shape == (120,)
