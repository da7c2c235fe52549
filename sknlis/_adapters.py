"""Fitted estimators as a model object, a pointwise loss and a flat ``theta``.

The dual matrix of a fitted model needs a model object of
:mod:`sknlis._models` (forward pass, Jacobian rows, adjoint), a pointwise
loss of :mod:`sknlis._losses` and the flat parameters ``theta``. sknlis's
estimators keep all three; a fitted scikit-learn estimator keeps the same
information in its own attributes, and the readers here translate it:

=================================  ==========================  ===================
estimator                          model                       per-row loss l_i
=================================  ==========================  ===================
LinearRegression, Ridge,           LinearIndex                 (f - y)**2
SGDRegressor(loss="squared_error")
LogisticRegression                 LinearIndex (K logits)      log loss
SGDClassifier(loss="log_loss")     LinearIndex (two classes)   log loss
PoissonRegressor, GammaRegressor,  LinearIndex, log link       unit deviance
TweedieRegressor                   (identity link: power 0)    ((f - y)**2)
MLPRegressor                       MultiLayerPerceptron        (f - y)**2, or the
                                                               Poisson deviance
MLPClassifier                      MultiLayerPerceptron        log loss
=================================  ==========================  ===================

The penalty each estimator minimizes is mapped to sknlis's scale,
``sum_i l_i + theta^T diag(alpha) theta`` with the ``l_i`` above (``alpha``
a vector: intercepts are not penalized by scikit-learn, except by liblinear).
"""

from collections.abc import Callable
from numbers import Integral
from typing import NamedTuple

import numpy as np
from sklearn.base import is_classifier
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
from sklearn.utils import check_array, check_consistent_length
from sklearn.utils._param_validation import HasMethods, Interval, validate_params
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from sknlis._activations import make_activation
from sknlis._base import BaseNonlinearModel, class_indices
from sknlis._losses import (
    RAY_NODES,
    BinomialLogLoss,
    MultinomialLogLoss,
    SquaredError,
    TweedieDeviance,
)
from sknlis._models import (
    LinearIndex,
    MultiLayerPerceptron,
    adjoint_in_blocks,
    raw_output,
)
from sknlis._validation import check_block_size

__all__ = [
    "SUPPORTED",
    "FittedParts",
    "adjoint_matrix",
    "check_supported",
    "fitted_parts",
    "parameter_vector",
    "row_source",
]

SUPPORTED = (
    "sknlis's regressors and classifiers, LinearRegression, Ridge, "
    "SGDRegressor(loss='squared_error'), LogisticRegression, "
    "SGDClassifier(loss='log_loss'), PoissonRegressor, GammaRegressor, "
    "TweedieRegressor, MLPRegressor and MLPClassifier"
)

_SQUARED_ERROR = SquaredError(make_activation("identity"))


class FittedParts(NamedTuple):
    """A fitted estimator's model object, loss, parameters and penalty."""

    model: object
    loss: object
    theta: np.ndarray
    # The ridge on sknlis's scale (a float or one entry per coordinate of
    # theta); None when it depends on the training size and none was given.
    alpha: object
    # (X, y, dtype=np.float64) -> the arrays the model and loss take; a
    # dtype of (np.float64, np.float32) keeps float32 X for a caller that
    # converts it piece by piece.
    encode: Callable


def _unsupported(estimator, reason=None):
    name = type(estimator).__name__
    return TypeError(
        reason
        or f"{name} is not supported: the dual matrix is available for {SUPPORTED} "
        "(or any estimator with adjoint_matrix(X, y) and theta_)."
    )


def _tweedie_loss(estimator):
    """The deviance of a TweedieRegressor, or why there is none."""
    power, link = estimator.power, estimator.link
    if link == "auto":
        link = "identity" if power <= 0 else "log"
    if link == "log":
        return TweedieDeviance(power)
    if power == 0:
        return _SQUARED_ERROR
    raise _unsupported(
        estimator,
        f"TweedieRegressor(link='identity', power={power!r}) has no dual matrix: "
        "its mean is 0 at theta = 0, where that deviance is undefined. Use "
        "link='log' (or power=0).",
    )


def check_supported(estimator):
    """Raise a TypeError unless the (possibly unfitted) estimator is supported.

    Checks the type and the parameters that decide the loss; what only the
    fit decides (several targets, several classes of an SGDClassifier) is
    checked by :func:`fitted_parts`.
    """
    if isinstance(estimator, BaseNonlinearModel):
        return
    if isinstance(estimator, SGDRegressor) and estimator.loss != "squared_error":
        raise _unsupported(
            estimator,
            f"SGDRegressor(loss={estimator.loss!r}) is not supported: its dual "
            "matrix is defined for loss='squared_error'.",
        )
    if isinstance(estimator, SGDClassifier) and estimator.loss != "log_loss":
        raise _unsupported(
            estimator,
            f"SGDClassifier(loss={estimator.loss!r}) is not supported: its dual "
            "matrix is defined for loss='log_loss'.",
        )
    if isinstance(estimator, TweedieRegressor):
        _tweedie_loss(estimator)
    if not isinstance(estimator, _READERS):
        raise _unsupported(estimator)


def _targets(y):
    return column_or_1d(
        check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
    )


def _deviance_targets(y, loss):
    """Targets inside the deviance's domain (as the GLM's fit requires)."""
    y = _targets(y)
    p = loss.power
    bad = (y < 0) if 0 < p < 2 else (y <= 0) if p >= 2 else np.zeros(y.shape, bool)
    if np.any(bad):
        needed = "non-negative" if 0 < p < 2 else "positive"
        raise ValueError(
            f"y must be {needed} for the Tweedie deviance of power {p:g}; got "
            f"{y[bad][:3]!r}."
        )
    return y


def _labels(estimator, loss):
    binary = loss.n_outputs == 1

    def encode(y):
        indices = class_indices(estimator.classes_, y)
        return indices.astype(np.float64) if binary else indices

    return encode


def _label_encoder(estimator, loss):
    if is_classifier(estimator):
        return _labels(estimator, loss)
    if isinstance(loss, TweedieDeviance):
        return lambda y: _deviance_targets(y, loss)
    return _targets


def _one_output(estimator, n_outputs):
    if n_outputs != 1:
        raise _unsupported(
            estimator,
            f"{type(estimator).__name__} was fitted on {n_outputs} targets; the "
            "dual matrix is defined for one target (fit one model per target).",
        )


def _linear_model(estimator):
    """``LinearIndex`` and ``theta = [w_1; b_1; ...; w_K; b_K]`` of coef_."""
    coef = np.atleast_2d(np.asarray(estimator.coef_, dtype=np.float64))
    if not is_classifier(estimator):
        _one_output(estimator, coef.shape[0])
    n_outputs, n_features = coef.shape
    model = LinearIndex(
        n_features, n_outputs=n_outputs, fit_intercept=estimator.fit_intercept
    )
    if not estimator.fit_intercept:
        return model, coef.ravel()
    intercept = np.broadcast_to(
        np.asarray(estimator.intercept_, dtype=np.float64), (n_outputs,)
    )
    return model, np.hstack([coef, intercept[:, None]]).ravel()


def _linear_ridge(model, weight, intercept=0.0):
    """Per-coordinate ridge of a ``LinearIndex``: ``weight`` on every weight."""
    width = model.n_features + int(model.fit_intercept)
    block = np.full(width, float(weight))
    if model.fit_intercept:
        block[-1] = intercept
    return np.tile(block, model.n_outputs)


def _l2_share(penalty, l1_ratio):
    """The fraction of an SGD or elastic-net penalty that is a ridge.

    The L1 part has no ridge equivalent; the leave-one-out scores use the
    L2 part alone, an approximation (exact for ``penalty="l2"``).
    """
    if penalty is None:
        return 0.0
    return {"l2": 1.0, "l1": 0.0}.get(penalty, 1.0 - l1_ratio)


def _logistic_ridge(estimator, model):
    """``C sum_i l_i + r(w)`` with ``r = (1 - l1_ratio) / 2 ||w||**2 + ...``.

    Divided by ``C``: ``alpha = (1 - l1_ratio) / (2 C)`` on the weights.
    liblinear also penalizes the intercept, as the weight of a constant
    feature ``intercept_scaling``: ``alpha / intercept_scaling**2``.
    """
    penalty, l1_ratio = estimator.penalty, estimator.l1_ratio or 0.0
    if penalty == "deprecated":  # scikit-learn >= 1.8: l1_ratio says it all
        penalty = "elasticnet"
    if penalty is None or not np.isfinite(estimator.C):
        return _linear_ridge(model, 0.0)
    weight = _l2_share(penalty, l1_ratio) / (2.0 * estimator.C)
    intercept = 0.0
    if estimator.solver == "liblinear":
        intercept = weight / estimator.intercept_scaling**2
    return _linear_ridge(model, weight, intercept)


def _read_linear(estimator, n_samples):
    """Linear regressors, GLMs and linear classifiers."""
    n_classes = len(getattr(estimator, "classes_", ()))
    if isinstance(estimator, SGDClassifier) and n_classes > 2:
        raise _unsupported(
            estimator,
            f"SGDClassifier(loss='log_loss') with {n_classes} classes fits one "
            "binary model per class (one-vs-rest) and its predict_proba "
            "normalizes their probabilities: it minimizes no single log loss "
            "with a dual matrix. Use LogisticRegression (multinomial) instead.",
        )
    model, theta = _linear_model(estimator)
    if is_classifier(estimator):
        loss = BinomialLogLoss() if n_classes == 2 else MultinomialLogLoss(n_classes)
    elif isinstance(estimator, PoissonRegressor):
        loss = TweedieDeviance(1.0)
    elif isinstance(estimator, GammaRegressor):
        loss = TweedieDeviance(2.0)
    elif isinstance(estimator, TweedieRegressor):
        loss = _tweedie_loss(estimator)
    else:
        loss = _SQUARED_ERROR

    # Every objective below, multiplied out to sum_i l_i + ridge.
    if isinstance(estimator, LinearRegression):
        alpha = 0.0
    elif isinstance(estimator, Ridge):
        alpha = _linear_ridge(model, estimator.alpha)  # ||y - Xw||^2 + a ||w||^2
    elif isinstance(estimator, LogisticRegression):
        alpha = _logistic_ridge(estimator, model)
    elif n_samples is None:
        alpha = None
    elif isinstance(estimator, SGDRegressor | SGDClassifier):
        # mean(L) + a r(w), r = (1 - l1_ratio) / 2 ||w||^2 + ...; L = r**2 / 2
        # for squared error (times 2 n) and the log loss (times n).
        share = _l2_share(estimator.penalty, estimator.l1_ratio)
        scale = 1.0 if isinstance(estimator, SGDRegressor) else 0.5
        alpha = _linear_ridge(model, scale * n_samples * estimator.alpha * share)
    else:
        # GLMs: sum_i d_i / (2 n) + a / 2 ||w||^2, times 2 n.
        alpha = _linear_ridge(model, n_samples * estimator.alpha)
    return model, loss, theta, alpha


def _read_mlp(estimator, n_samples):
    """MLPs: ``mean(L) + a / (2 n) ||W||^2`` with ``L`` half the squared
    error or Poisson deviance (times ``2 n``: ridge ``a``) or the log loss
    (times ``n``: ridge ``a / 2``); the intercepts are not penalized."""
    layer_sizes = [estimator.coefs_[0].shape[0]]
    layer_sizes += [coef.shape[1] for coef in estimator.coefs_]
    model = MultiLayerPerceptron(layer_sizes, estimator.activation)
    theta = np.hstack(
        [np.ravel(block) for block in estimator.coefs_ + estimator.intercepts_]
    ).astype(np.float64)
    output, n_outputs = estimator.out_activation_, estimator.n_outputs_
    if output == "softmax":
        loss = MultinomialLogLoss(n_outputs)
    elif output == "logistic" and n_outputs > 1:
        raise _unsupported(
            estimator,
            "MLPClassifier fitted on multilabel targets is not supported: its "
            "loss is a sum of binary log losses, one per label.",
        )
    else:
        _one_output(estimator, n_outputs)
        loss = {
            "logistic": BinomialLogLoss(),
            "exp": TweedieDeviance(1.0),
        }.get(output, _SQUARED_ERROR)
    weight = estimator.alpha / 2.0 if is_classifier(estimator) else estimator.alpha
    alpha = np.zeros(model.n_params)
    n_weights = sum(np.size(coef) for coef in estimator.coefs_)
    alpha[:n_weights] = weight
    return model, loss, theta, alpha


_READERS_BY_TYPE = {
    LinearRegression: _read_linear,
    Ridge: _read_linear,
    SGDRegressor: _read_linear,
    LogisticRegression: _read_linear,
    SGDClassifier: _read_linear,
    PoissonRegressor: _read_linear,
    GammaRegressor: _read_linear,
    TweedieRegressor: _read_linear,
    MLPRegressor: _read_mlp,
    MLPClassifier: _read_mlp,
}
_READERS = tuple(_READERS_BY_TYPE)


def _own_parts(estimator):
    model, loss = estimator._model, estimator._loss

    def encode(X, y, dtype=np.float64):
        X = estimator._validate(X, reset=False, dtype=dtype)
        return X, None if y is None else estimator._encode_labels(y)

    return FittedParts(model, loss, estimator.theta_, estimator.alpha, encode)


def fitted_parts(estimator, n_samples=None):
    """The :class:`FittedParts` of a fitted, supported estimator.

    ``n_samples`` is the number of rows the estimator was fitted on: the
    penalty of an objective written as a mean (SGD, GLMs) scales with it.
    Without it, their ``alpha`` is None.
    """
    check_supported(estimator)
    check_is_fitted(estimator)
    if isinstance(estimator, BaseNonlinearModel):
        return _own_parts(estimator)
    reader = next(
        read for kind, read in _READERS_BY_TYPE.items() if isinstance(estimator, kind)
    )
    model, loss, theta, alpha = reader(estimator, n_samples)
    encode_y = _label_encoder(estimator, loss)

    def encode(X, y, dtype=np.float64):
        X = validate_data(estimator, X, reset=False, dtype=dtype, accept_sparse="csr")
        return X, None if y is None else encode_y(y)

    return FittedParts(model, loss, theta, alpha, encode)


def _root_at_theta(parts, X, y, block_size):
    """``h(z(theta), y)`` row by row: what IDENTITY A must reproduce."""
    z = raw_output(parts.model, X, parts.theta, block_size=block_size)
    return parts.loss.root(z, y)


@validate_params(
    {
        "estimator": [HasMethods(["fit"])],
        "X": ["array-like", "sparse matrix"],
        "y": ["array-like", None],
        "n_nodes": [Interval(Integral, 1, None, closed="left")],
        "block_size": [Interval(Integral, 1, None, closed="left"), None],
        "return_error": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def adjoint_matrix(
    estimator, X, y=None, *, n_nodes=RAY_NODES, block_size=None, return_error=False
):
    """Rows of a fitted estimator's (loss) dual matrix, computed in row blocks.

    Row ``i`` is the augmented adjoint ``[h*_i(theta); h_i(0)]`` of the root
    ``h_i`` of row ``i``'s loss at the estimator's parameters ``theta``
    (:func:`parameter_vector`), so that
    ``adjoint_matrix(estimator, X, y) @ np.append(theta, 1)`` is ``h_i``:

    - squared error (linear regressors, ``MLPRegressor``, sknlis's
      regressors): ``h_i = predict(X)_i - y_i``;
    - log loss (classifiers): ``h_i = sqrt(-log p(y_i | x_i))``;
    - Poisson, Gamma and Tweedie GLMs (log link), and
      ``MLPRegressor(loss="poisson")``: ``h_i = sign(mu_i - y_i) sqrt(d_i)``
      with ``d_i`` the unit deviance (scikit-learn minimizes ``mean(d_i) / 2``).

    Linear models and GLMs take a closed form, as do one-hidden-layer ReLU
    and identity MLP regressors (their quadrature is exact); multinomial
    logits take Gauss-Legendre quadrature with a correction that keeps the
    identity exact. Any other MLP takes ``n_nodes`` Gauss-Legendre nodes
    along the ray ``t theta`` with no correction: ``return_error`` gives the
    identity residual, the quadrature error.

    Parameters
    ----------
    estimator : estimator
        A fitted ``LinearRegression``, ``Ridge``, ``SGDRegressor``
        (squared error), ``LogisticRegression`` (binary or multinomial),
        ``SGDClassifier`` (``loss="log_loss"``, two classes),
        ``PoissonRegressor``, ``GammaRegressor``, ``TweedieRegressor``,
        ``MLPRegressor`` or ``MLPClassifier`` (any depth and activation, one
        target), or an sknlis regressor or classifier.

    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Samples.

    y : array-like of shape (n_samples,), default=None
        Targets or class labels. Without them a squared-error model gives
        the rows of its output ``f`` (only the last column differs); the
        other losses need them.

    n_nodes : int, default=16
        Gauss-Legendre nodes on ``[0, 1]`` where no exact rule is known.
        On tanh and logistic MLPs of up to three hidden layers 16 nodes gave
        identity residuals below ``1e-8`` of the largest residual.

    block_size : int, default=None
        Rows computed at a time; ``None`` uses blocks of about 8 MiB. The
        working memory beyond the result is one block (times ``n_nodes``
        for the quadrature's activations).

    return_error : bool, default=False
        Also return ``|F @ np.append(theta, 1) - h|``, row by row.

    Returns
    -------
    F : ndarray of shape (n_samples, n_params + 1)
        Dense float64; ``8 * n_samples * (n_params + 1)`` bytes.

    error : ndarray of shape (n_samples,)
        The identity residual of every row; only when ``return_error``.

    See Also
    --------
    parameter_vector : The ``theta`` the rows pair with.
    NonlinearImportanceResampler : Samples rows by these dual matrices.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.linear_model import Ridge
    >>> from sknlis import adjoint_matrix, parameter_vector
    >>> X, y = load_diabetes(return_X_y=True)
    >>> ridge = Ridge(alpha=0.1).fit(X, y)
    >>> F = adjoint_matrix(ridge, X, y)
    >>> F.shape
    (442, 12)
    >>> theta = parameter_vector(ridge)
    >>> bool(np.allclose(F @ np.append(theta, 1), ridge.predict(X) - y))
    True
    """
    parts = fitted_parts(estimator)
    X, y = _encoded(estimator, parts, X, y)
    block_size = check_block_size(block_size, parts.theta.shape[0] + 1)
    F = adjoint_in_blocks(
        parts.model,
        X,
        parts.theta,
        parts.loss,
        y,
        block_size=block_size,
        n_nodes=n_nodes,
    )
    if not return_error:
        return F
    expected = _root_at_theta(parts, X, y, block_size)
    return F, np.abs(F @ np.append(parts.theta, 1.0) - expected)


def _encoded(estimator, parts, X, y, dtype=np.float64):
    X, y = parts.encode(X, y, dtype)
    if y is None and parts.loss.needs_labels:
        raise ValueError(
            f"adjoint_matrix of {type(estimator).__name__} needs y: its loss "
            "dual matrix is defined by each row's label."
        )
    if y is not None:
        check_consistent_length(X, y)
    return X, y


def row_source(estimator):
    """``(X, y, out=None) -> adjoint_matrix(estimator, X, y)``, into ``out``
    if given, reading the estimator once.

    For callers that ask for many blocks of rows (the resampler's passes):
    float32 ``X`` is converted a piece at a time, into one buffer for all
    calls (:func:`sknlis._models.adjoint_in_blocks`).
    """
    parts = fitted_parts(estimator)
    scratch = {}

    def rows(X, y, out=None):
        X, y = _encoded(estimator, parts, X, y, dtype=(np.float64, np.float32))
        return adjoint_in_blocks(
            parts.model, X, parts.theta, parts.loss, y, out=out, scratch=scratch
        )

    return rows


@validate_params(
    {"estimator": [HasMethods(["fit"])]}, prefer_skip_nested_validation=True
)
def parameter_vector(estimator):
    """The flat parameters ``theta`` a fitted estimator's dual matrix pairs with.

    Linear models: ``[w_1; b_1; ...; w_K; b_K]`` (one block per logit,
    ``b`` only with an intercept). MLPs: scikit-learn's own packing, every
    ``coefs_[l]`` (row-major), then every ``intercepts_[l]``. sknlis's
    estimators: ``theta_``.

    Parameters
    ----------
    estimator : estimator
        A fitted estimator that :func:`adjoint_matrix` supports.

    Returns
    -------
    theta : ndarray of shape (n_params,)
        A new float64 array.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sknlis import parameter_vector
    >>> X, y = [[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]], [0, 0, 1, 1]
    >>> parameter_vector(LogisticRegression().fit(X, y)).shape  # [w; b]
    (3,)
    """
    return np.array(fitted_parts(estimator).theta, dtype=np.float64)
