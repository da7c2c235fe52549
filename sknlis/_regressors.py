"""The paper's two regression models as scikit-learn estimators."""

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, StrOptions

from sknlis._activations import ACTIVATIONS, make_activation
from sknlis._base import BaseNonlinearRegressor, fill_shared_docs
from sknlis._losses import SquaredError
from sknlis._models import LinearIndex, TwoLayerReLU

__all__ = ["SingleIndexRegressor", "TwoLayerReLURegressor"]


@fill_shared_docs(kind="regressor", max_iter=1000, tol=1e-6, alpha=0.0)
class SingleIndexRegressor(BaseNonlinearRegressor):
    """Single-index model ``f(x) = phi(<w, x> + b)`` (the paper's Example 3.1).

    Fitted by L-BFGS-B on the weighted squared loss (optionally ridge
    penalized and bounded). Its dual matrix, the input of the paper's
    nonlinear leverage and row-norm scores, is public: row ``i`` is
    ``[D(z_i) [x_i; 1]; phi(0) - y_i]`` with ``z_i = <w, x_i> + b`` and
    ``D(z) = (phi(z) - phi(0)) / z``.

    The flat parameter vector is ``theta = [w; b]`` (``w`` alone when
    ``fit_intercept=False``), so ``n_params = n_features + fit_intercept``.

    Parameters
    ----------
    activation : {"swish", "identity", "logistic", "tanh", "softplus", "relu"}, \
            default="swish"
        The output activation ``phi``. ``"swish"`` is the paper's swish-type
        ``phi(t) = t * (sqrt(c1) + (sqrt(c2) - sqrt(c1)) * sigmoid(zeta * t))``;
        ``"identity"`` gives linear least squares.

    c1 : float, default=1.0
        Swish-type parameter, ``0 <= c1 < c2``; ignored by other activations.

    c2 : float, default=2.0
        Swish-type parameter; the paper's experiments use ``c1=1, c2=2``.

    zeta : float, default=1.0
        Swish-type slope, positive.

    [shared parameters]

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        The weights ``w``.

    intercept_ : float
        The intercept ``b`` (0.0 when ``fit_intercept=False``).

    [shared attributes]

    See Also
    --------
    TwoLayerReLURegressor : The paper's two-layer ReLU network.
    sknlis.single_index_adjoint : The dual matrix as a function of ``theta``.

    Notes
    -----
    ``theta`` starts at a small random vector (scale 0.01) drawn from
    ``random_state``: zero would be a stationary point for ``"relu"``. The data
    are used as given (nothing is standardized), converted to float64; sparse
    input is kept sparse (CSR) for the fit and densified one block at a time
    for the dual matrix.

    [references]

    Examples
    --------
    >>> import numpy as np
    >>> from sknlis import SingleIndexRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = np.tanh(X @ [1.0, -2.0, 0.5] + 0.3)
    >>> model = SingleIndexRegressor(activation="tanh", random_state=0).fit(X, y)
    >>> model.coef_.round(3)
    array([ 1. , -2. ,  0.5])
    >>> F = model.adjoint_matrix(X, y)
    >>> F.shape
    (200, 5)
    >>> bool(np.allclose(F @ np.append(model.theta_, 1), model.predict(X) - y))
    True
    """

    _parameter_constraints: dict = {
        **BaseNonlinearRegressor._parameter_constraints,
        "activation": [StrOptions(set(ACTIVATIONS))],
        "c1": [Interval(Real, 0, None, closed="left")],
        "c2": [Interval(Real, 0, None, closed="neither")],
        "zeta": [Interval(Real, 0, None, closed="neither")],
    }

    _accept_sparse = True

    def __init__(
        self,
        activation="swish",
        *,
        c1=1.0,
        c2=2.0,
        zeta=1.0,
        fit_intercept=True,
        alpha=0.0,
        bound=None,
        max_iter=1000,
        tol=1e-6,
        store_adjoint="auto",
        random_state=None,
        verbose=0,
    ):
        self.activation = activation
        self.c1 = c1
        self.c2 = c2
        self.zeta = zeta
        super().__init__(
            fit_intercept=fit_intercept,
            alpha=alpha,
            bound=bound,
            max_iter=max_iter,
            tol=tol,
            store_adjoint=store_adjoint,
            random_state=random_state,
            verbose=verbose,
        )

    def _make_loss(self):
        phi = make_activation(self.activation, c1=self.c1, c2=self.c2, zeta=self.zeta)
        return SquaredError(phi)

    def _make_model(self, n_features, n_outputs):
        return LinearIndex(n_features, fit_intercept=self.fit_intercept)

    def _set_natural_params(self, model, theta):
        self.coef_ = theta[: model.n_features].copy()
        self.intercept_ = float(theta[-1]) if self.fit_intercept else 0.0


@fill_shared_docs(kind="regressor", max_iter=500, tol=1e-5, alpha=0.0)
class TwoLayerReLURegressor(BaseNonlinearRegressor):
    """Two-layer ReLU network of the paper's Example 3.2.

    ``f(x) = sum_j phi(a_j * relu(<b_j, [x; 1]>)) + c`` with ``n_hidden``
    units; each ``b_j`` holds the unit's weights and then its bias, ``a_j`` is
    its output weight and ``c`` the output bias (present when
    ``fit_intercept``). With ``activation="identity"`` this is the usual
    one-hidden-layer ReLU network of :class:`~sklearn.neural_network.MLPRegressor`.

    Fitted by L-BFGS-B on the weighted squared loss (non-convex: the result
    depends on the random start; ``n_init`` restarts keep the lowest loss).
    Its dual matrix is public: unit ``j`` contributes
    ``D(v_j) / 2 * [relu(u_j); a_j 1{u_j > 0} [x; 1]]`` with
    ``u_j = <b_j, [x; 1]>``, ``v_j = a_j relu(u_j)``.

    The flat parameter vector is ``theta = [a_1, b_1, ..., a_m, b_m, c]``, so
    ``n_params = n_hidden * (n_features + 2) + fit_intercept``.

    Parameters
    ----------
    n_hidden : int, default=10
        Number of hidden ReLU units ``m``.

    activation : {"identity", "logistic", "tanh", "softplus", "relu", "swish"}, \
            default="identity"
        The activation ``phi`` applied to each unit's output term (the
        swish-type with ``c1=1, c2=2, zeta=1``).

    n_init : int, default=1
        Number of random starts; the fit with the lowest ``loss_`` is kept.

    [shared parameters]

    Attributes
    ----------
    hidden_coef_ : ndarray of shape (n_hidden, n_features)
        Hidden weights; row ``j`` is the weight part of ``b_j``.

    hidden_intercept_ : ndarray of shape (n_hidden,)
        Hidden biases, the last entry of each ``b_j``.

    output_coef_ : ndarray of shape (n_hidden,)
        Output weights ``a_j``.

    intercept_ : float
        Output bias ``c`` (0.0 when ``fit_intercept=False``).

    [shared attributes]

    See Also
    --------
    SingleIndexRegressor : The paper's single-index model.
    sklearn.neural_network.MLPRegressor : The same network with more solvers.
    sknlis.two_layer_adjoint : The dual matrix as a function of ``theta``.

    Notes
    -----
    Each start draws output weights from ``U(-l, l)`` with
    ``l = sqrt(6 / (n_hidden + 1))`` (Glorot), hidden weights and biases from
    ``U(-l, l)`` with ``l = sqrt(6 / (n_features + n_hidden)) / 2`` (half the
    Glorot scale), and sets ``c`` to the weighted mean residual of that start. One
    loss evaluation costs two ``n x d x m`` matrix products, computed in row
    blocks that stay in cache; the ``n x p`` Jacobian is never formed.

    [references]

    Examples
    --------
    >>> import numpy as np
    >>> from sknlis import TwoLayerReLURegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 2))
    >>> y = np.abs(X[:, 0]) - X[:, 1]
    >>> model = TwoLayerReLURegressor(n_hidden=4, n_init=3, random_state=0)
    >>> model = model.fit(X, y)
    >>> bool(model.score(X, y) > 0.99)
    True
    >>> model.adjoint_matrix_.shape  # 4 * (2 + 2) + 1 parameters, plus 1
    (300, 18)
    """

    _parameter_constraints: dict = {
        **BaseNonlinearRegressor._parameter_constraints,
        "n_hidden": [Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "n_init": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_hidden=10,
        *,
        activation="identity",
        fit_intercept=True,
        alpha=0.0,
        bound=None,
        max_iter=500,
        tol=1e-5,
        n_init=1,
        store_adjoint="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_hidden = n_hidden
        self.activation = activation
        self.n_init = n_init
        super().__init__(
            fit_intercept=fit_intercept,
            alpha=alpha,
            bound=bound,
            max_iter=max_iter,
            tol=tol,
            store_adjoint=store_adjoint,
            random_state=random_state,
            verbose=verbose,
        )

    def _make_loss(self):
        return SquaredError(make_activation("identity"))

    def _make_model(self, n_features, n_outputs):
        return TwoLayerReLU(
            n_features,
            self.n_hidden,
            activation=self.activation,
            fit_intercept=self.fit_intercept,
        )

    def _set_natural_params(self, model, theta):
        a, W, bias, c = model.unpack(theta)
        self.output_coef_ = a[0].copy()
        self.hidden_coef_ = W
        self.hidden_intercept_ = bias[:, 0]
        self.intercept_ = float(c[0])
