"""What the regressors share: validation, the fit loop, the dual matrix.

A subclass says which model it is by five small methods (the activation, the
loss, the initial ``theta``, the output and the adjoint rows at a ``theta``)
and how ``theta`` splits into its natural parameters. Everything else, from
input checks to restarts and the row-blocked dual matrix, lives here once.
"""

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_consistent_length, check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from sknlis._solver import lbfgs
from sknlis._validation import check_block_size, row_blocks

# Docstring sections both estimators share, substituted at the lines
# "    [shared parameters]", "    [shared attributes]" and "    [references]".
_SHARED_PARAMETERS = """\
    fit_intercept : bool, default=True
        Whether the model has an intercept (see the model above). It is part
        of ``theta`` and, like every coordinate of ``theta``, penalized by
        ``alpha`` and bounded by ``bound``.

    alpha : float, default=0.0
        Ridge penalty: the fit minimizes
        ``sum_i w_i r_i**2 + alpha * ||theta||**2`` with residuals
        ``r_i = f(x_i) - y_i`` and sample weights ``w_i``. Unlike
        :class:`~sklearn.linear_model.Ridge`, the intercepts are penalized too.

    bound : float, default=None
        If given, every coordinate of ``theta`` is kept in
        ``[-bound, bound]`` by L-BFGS-B: the bounded parameter set ``C`` of
        the paper's constrained subproblem (12), whose minimizer its sampling
        guarantee (Theorem 3.1) is about. ``None`` leaves ``theta`` free.

    max_iter : int, default={max_iter}
        Maximum number of L-BFGS-B iterations (per restart). Reaching it
        raises a :class:`~sklearn.exceptions.ConvergenceWarning`.

    tol : float, default={tol}
        L-BFGS-B stops when the largest entry of the projected gradient of
        ``loss_`` (a weighted mean, see ``loss_``) is at most ``tol``.

    store_adjoint : bool, default=True
        Whether ``fit`` stores the dual matrix of the training data in
        ``adjoint_matrix_``. It is a dense float64 array of shape
        ``(n_samples, n_params + 1)``: ``8 * n_samples * (n_params + 1)``
        bytes. Set it to False for big data and call :meth:`adjoint_matrix`
        on the rows you need.

    random_state : int, RandomState instance or None, default=None
        Seeds the random initial ``theta``. Pass an int for reproducible fits.

    verbose : int, default=0
        Print the loss after every L-BFGS-B iteration when positive."""

_SHARED_ATTRIBUTES = """\
    theta_ : ndarray of shape (n_params,)
        The fitted flat parameter vector, laid out as described above.

    adjoint_matrix_ : ndarray of shape (n_samples, n_params + 1)
        The nonlinear dual matrix at ``theta_`` on the training data and
        targets: ``adjoint_matrix_ @ np.append(theta_, 1)`` are the training
        residuals ``f(x_i) - y_i``. Only when ``store_adjoint=True``.

    loss_ : float
        The minimized objective divided by the total sample weight,
        ``(sum_i w_i r_i**2 + alpha * ||theta_||**2) / sum_i w_i``: with unit
        weights and ``alpha=0``, the training mean squared error.

    n_iter_ : int
        Number of L-BFGS-B iterations of the kept fit (at least 1).

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``. Defined only when `X`
        has feature names that are all strings."""


_REFERENCES = """\
    References
    ----------
    .. [1] P. Rajmohan and F. Roosta, "Importance Sampling for Nonlinear
       Models", ICML 2025. arXiv:2505.12353."""


def fill_shared_docs(*, max_iter, tol):
    """Class decorator: substitute the shared sections of the docstring."""

    def decorate(cls):
        cls.__doc__ = (
            cls.__doc__.replace(
                "    [shared parameters]",
                _SHARED_PARAMETERS.format(max_iter=max_iter, tol=tol),
            )
            .replace("    [shared attributes]", _SHARED_ATTRIBUTES)
            .replace("    [references]", _REFERENCES)
        )
        return cls

    return decorate


class BaseNonlinearRegressor(RegressorMixin, BaseEstimator):
    """Least-squares fit of a nonlinear model whose dual matrix is public.

    Subclasses implement ``_make_activation``, ``_make_loss``,
    ``_initial_theta``, ``_output``, ``_adjoint`` and ``_set_natural_params``.
    """

    _parameter_constraints: dict = {
        "fit_intercept": ["boolean"],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "bound": [None, Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "store_adjoint": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        fit_intercept,
        alpha,
        bound,
        max_iter,
        tol,
        store_adjoint,
        random_state,
        verbose,
    ):
        self.fit_intercept = fit_intercept
        self.alpha = alpha
        self.bound = bound
        self.max_iter = max_iter
        self.tol = tol
        self.store_adjoint = store_adjoint
        self.random_state = random_state
        self.verbose = verbose

    # Whether sparse X is accepted (in any format; converted to CSR).
    _accept_sparse = False

    def _validate(self, X, *y, reset):
        """``validate_data`` with the settings of every method here.

        ``y`` is positional so that ``fit(X, None)`` reaches ``validate_data``
        (which then says that the estimator requires ``y``).
        """
        settings = {
            "reset": reset,
            "accept_sparse": self._accept_sparse and "csr",
            "dtype": np.float64,
        }
        if y:
            settings.update(y_numeric=True, ensure_min_samples=2)
        return validate_data(self, X, *y, **settings)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model by L-BFGS-B on the weighted squared loss.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data, converted to float64 (sparse only where the
            estimator's ``input_tags.sparse`` tag says so).

        y : array-like of shape (n_samples,)
            Target values.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; integer weights fit the same model as
            repeated rows, zero weights the same as dropped rows.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X, y = self._validate(X, y, reset=True)
        y = y.astype(np.float64, copy=False)
        weights = None
        if sample_weight is not None:
            weights = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        phi = self._make_activation()
        loss = self._make_loss(X, y, weights, phi)
        rng = check_random_state(self.random_state)

        best = None
        for _ in range(getattr(self, "n_init", 1)):
            theta0 = self._initial_theta(X, y, weights, phi, rng)
            if self.bound is not None:
                np.clip(theta0, -self.bound, self.bound, out=theta0)
            fit = lbfgs(
                loss,
                theta0,
                max_iter=self.max_iter,
                tol=self.tol,
                bounds=self.bound,
                verbose=self.verbose,
            )
            if best is None or fit.loss < best.loss:
                best = fit
        if not best.converged:
            warnings.warn(
                f"L-BFGS-B did not converge after {best.n_iter} iterations "
                f"({best.message}). Increase max_iter or scale the data.",
                ConvergenceWarning,
                stacklevel=2,
            )

        self._phi = phi
        self.theta_ = best.theta
        self.loss_ = best.loss
        self.n_iter_ = best.n_iter
        self._set_natural_params(best.theta, X.shape[1])
        if self.store_adjoint:
            self.adjoint_matrix_ = self._adjoint_in_blocks(X, y, None)
        return self

    def predict(self, X):
        """Predict with the fitted model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Model outputs ``f(x_i; theta_)``.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        return self._output(X, self.theta_, self._phi)

    def adjoint_matrix(self, X, y=None, *, block_size=None):
        """Nonlinear dual matrix at ``theta_`` for any data.

        Row ``i`` is the augmented adjoint ``[r*_i(theta_); r_i(0)]``
        (Definition 3.1 of the paper), so that
        ``adjoint_matrix(X, y) @ np.append(theta_, 1)`` equals
        ``predict(X) - y``. Without ``y`` the rows are those of the output:
        the product equals ``predict(X)`` (only the last column differs).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        y : array-like of shape (n_samples,), default=None
            Targets; ``None`` gives the output's dual matrix.

        block_size : int, default=None
            Rows computed at a time; ``None`` uses blocks of about 8 MiB.
            The working memory beyond the result is one block.

        Returns
        -------
        F : ndarray of shape (n_samples, n_params + 1)
            Dense float64; ``8 * n_samples * (n_params + 1)`` bytes.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        if y is not None:
            y = column_or_1d(
                check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
            )
            check_consistent_length(X, y)
        return self._adjoint_in_blocks(X, y, block_size)

    def _adjoint_in_blocks(self, X, y, block_size):
        n_columns = self.theta_.shape[0] + 1
        block_size = check_block_size(block_size, n_columns)
        F = np.empty((X.shape[0], n_columns))
        for start, stop in row_blocks(X.shape[0], block_size):
            rows = X[start:stop]
            if sp.issparse(rows):
                rows = rows.toarray()
            labels = None if y is None else y[start:stop]
            F[start:stop] = self._adjoint(rows, self.theta_, self._phi, labels)
        return F

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = bool(self._accept_sparse)
        return tags
