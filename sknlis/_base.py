"""What the estimators share: validation, the fit loop, the dual matrix.

An estimator is a model object (:mod:`sknlis._models`) and a pointwise loss
(:mod:`sknlis._losses`) behind scikit-learn's API. ``fit`` is four steps:
validate, build the model and loss, run L-BFGS-B on their
:class:`~sknlis._objective.Objective`, unpack the fitted attributes. A
subclass says which model and loss it is (``_make_model``, ``_make_loss``),
how targets are encoded (``_encode_target``) and how ``theta`` splits into
its natural parameters (``_set_natural_params``).
"""

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from scipy.special import log_softmax
from sklearn import get_config
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_array, check_consistent_length, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from sknlis._activations import _softplus
from sknlis._losses import BinomialLogLoss, MultinomialLogLoss
from sknlis._models import adjoint_in_blocks, raw_output
from sknlis._objective import Objective
from sknlis._rows import chunkwise
from sknlis._solver import lbfgs

# Docstring sections both estimators share, substituted at the lines
# "    [shared parameters]", "    [shared attributes]" and "    [references]".
_SHARED_PARAMETERS = """\
    fit_intercept : bool, default=True
        Whether the model has an intercept (see the model above). It is part
        of ``theta`` and, like every coordinate of ``theta``, penalized by
        ``alpha`` and bounded by ``bound``.

    alpha : float, default={alpha}
        Ridge penalty: the fit minimizes
        ``sum_i w_i l_i + alpha * ||theta||**2`` with {loss_words} and
        sample weights ``w_i``. Unlike scikit-learn's linear models, the
        intercepts are penalized too.

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
        ``loss_`` (a weighted mean, see ``loss_``) is at most ``tol``,
        counted in units of the starting loss when that is below 1, so that
        tiny targets or features do not stop the fit where it started.

    store_adjoint : {{"auto"}} or bool, default="auto"
        Whether ``fit`` stores the dual matrix of the training data in
        ``adjoint_matrix_``, a dense float64 array of
        ``8 * n_samples * (n_params + 1)`` bytes. ``"auto"`` stores it when
        that is at most scikit-learn's ``working_memory``
        (:func:`sklearn.set_config`, 1024 MiB by default) and otherwise
        warns and stores nothing; ``True`` always stores it, ``False``
        never. :meth:`adjoint_matrix` gives the rows of any data, in
        blocks.

    random_state : int, RandomState instance or None, default=None
        Seeds the random initial ``theta``. Pass an int for reproducible fits.

    verbose : int, default=0
        Print the loss after every L-BFGS-B iteration when positive."""

_SHARED_ATTRIBUTES = """\
    theta_ : ndarray of shape (n_params,)
        The fitted flat parameter vector, laid out as described above.

    adjoint_matrix_ : ndarray of shape (n_samples, n_params + 1)
        The {dual_words} at ``theta_`` on the training data and labels:
        ``adjoint_matrix_ @ np.append(theta_, 1)`` {identity_words}. Only
        when stored (see ``store_adjoint``).

    loss_ : float
        The minimized objective divided by the total sample weight,
        ``(sum_i w_i l_i + alpha * ||theta_||**2) / sum_i w_i``: with unit
        weights and ``alpha=0``, the training {mean_words}.

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


_WORDS = {
    "regressor": {
        "loss_words": "squared residuals ``l_i = (f(x_i) - y_i)**2``",
        "dual_words": "nonlinear dual matrix",
        "identity_words": "are the training residuals ``f(x_i) - y_i``",
        "mean_words": "mean squared error",
    },
    "classifier": {
        "loss_words": "the log loss ``l_i = -log p(y_i | x_i)``",
        "dual_words": "log-loss dual matrix (rows of ``sqrt(l_i)``'s adjoint)",
        "identity_words": "squared are the training log losses ``l_i``",
        "mean_words": "mean log loss",
    },
}


def fill_shared_docs(*, kind, max_iter, tol, alpha):
    """Class decorator: substitute the shared sections of the docstring.

    ``kind`` is ``"regressor"`` or ``"classifier"``.
    """
    words = _WORDS[kind]

    def decorate(cls):
        cls.__doc__ = (
            cls.__doc__.replace(
                "    [shared parameters]",
                _SHARED_PARAMETERS.format(
                    max_iter=max_iter, tol=tol, alpha=alpha, **words
                ),
            )
            .replace("    [shared attributes]", _SHARED_ATTRIBUTES.format(**words))
            .replace("    [references]", _REFERENCES)
        )
        return cls

    return decorate


def class_indices(classes, y):
    """Positions of the labels ``y`` in the sorted ``classes`` of a fit."""
    y = column_or_1d(check_array(y, ensure_2d=False, dtype=None, input_name="y"))
    indices = np.searchsorted(classes, y)
    indices = np.minimum(indices, classes.shape[0] - 1)
    unseen = classes[indices] != y
    if np.any(unseen):
        raise ValueError(
            f"y contains labels not seen in fit: {np.unique(y[unseen])[:5]!r}; "
            f"the classes are {classes!r}."
        )
    return indices


class BaseNonlinearModel(BaseEstimator):
    """A model and a pointwise loss, fitted by L-BFGS-B, with a public dual matrix.

    Subclasses implement ``_make_model``, ``_make_loss``, ``_encode_target``
    and ``_set_natural_params``.
    """

    _parameter_constraints: dict = {
        "fit_intercept": ["boolean"],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "bound": [None, Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "store_adjoint": ["boolean", StrOptions({"auto"})],
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

    def _validate(self, X, *y, reset, dtype=np.float64):
        """``validate_data`` with the settings of every method here.

        ``y`` is positional so that ``fit(X, None)`` reaches ``validate_data``
        (which then says that the estimator requires ``y``). ``dtype`` may
        also keep float32 input, for a caller that converts it piece by piece.
        """
        settings = {
            "reset": reset,
            "accept_sparse": self._accept_sparse and "csr",
            "dtype": dtype,
        }
        if y:
            settings.update(y_numeric=self._y_numeric, ensure_min_samples=2)
        return validate_data(self, X, *y, **settings)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model by L-BFGS-B on the weighted loss.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data, converted to float64 (sparse only where the
            estimator's ``input_tags.sparse`` tag says so).

        y : array-like of shape (n_samples,)
            Target values (class labels for a classifier).

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; integer weights fit the same model as
            repeated rows, zero weights the same as dropped rows.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X, y = self._validate(X, y, reset=True)
        y = self._encode_target(y)
        weights = None
        if sample_weight is not None:
            weights = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        loss = self._make_loss()
        model = self._make_model(X.shape[1], loss.n_outputs)
        objective = Objective(model, loss, X, y, weights, self.alpha)
        rng = check_random_state(self.random_state)

        best = None
        for _ in range(getattr(self, "n_init", 1)):
            theta0 = model.initial_theta(rng, loss, X, y, weights)
            if self.bound is not None:
                np.clip(theta0, -self.bound, self.bound, out=theta0)
            fit = lbfgs(
                objective,
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

        self._model, self._loss = model, loss
        self.theta_ = best.theta
        self.loss_ = best.loss
        self.n_iter_ = best.n_iter
        self._set_natural_params(model, best.theta)
        if self._stores_adjoint(X.shape[0]):
            self.adjoint_matrix_ = self._adjoint_in_blocks(X, y, None)
        return self

    def _stores_adjoint(self, n_rows):
        if self.store_adjoint != "auto":
            return self.store_adjoint
        size = 8 * n_rows * (self.theta_.shape[0] + 1)
        budget = get_config()["working_memory"] * 2**20
        if size <= budget:
            return True
        warnings.warn(
            f"The training dual matrix would take {size / 2**20:.0f} MiB, more "
            f"than working_memory ({budget / 2**20:.0f} MiB), so adjoint_matrix_ "
            "is not stored. Call adjoint_matrix(X, y) on blocks of rows, or set "
            "store_adjoint=True to store it anyway.",
            UserWarning,
            stacklevel=3,
        )
        return False

    def _raw_output(self, X):
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        return raw_output(self._model, X, self.theta_)

    @chunkwise(lambda self: ((self.theta_.shape[0] + 1,), np.float64))
    def adjoint_matrix(self, X, y=None, *, block_size=None):
        """The loss dual matrix at ``theta_`` for any data.

        Row ``i`` is the augmented adjoint ``[h*_i(theta_); h_i(0)]`` of the
        root ``h_i`` of row ``i``'s loss (Definition 3.1 of the paper;
        appendix A.3 for losses other than squared error), so that
        ``adjoint_matrix(X, y) @ np.append(theta_, 1)`` equals ``h_i``:
        ``predict(X) - y`` for a regressor, ``sqrt(-log p(y_i | x_i))`` for a
        classifier. Without ``y`` a regressor gives the rows of its output
        (only the last column differs).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        y : array-like of shape (n_samples,), default=None
            Targets or labels; a classifier requires them.

        block_size : int, default=None
            Rows computed at a time; ``None`` uses blocks of about 8 MiB.
            The working memory beyond the result is one block.

        Returns
        -------
        F : ndarray of shape (n_samples, n_params + 1)
            Dense float64; ``8 * n_samples * (n_params + 1)`` bytes.
        """
        return self._adjoint_in_blocks(*self._adjoint_input(X, y), block_size)

    def _adjoint_input(self, X, y, dtype=(np.float64, np.float32)):
        """``(X, y)`` checked for the dual matrix at ``theta_``.

        Float32 ``X`` and targets stay float32 unless ``dtype`` says
        otherwise: :func:`sknlis._models.adjoint_in_blocks` converts them a
        piece at a time.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False, dtype=dtype)
        if y is not None:
            y = self._encode_labels(y, dtype)
            check_consistent_length(X, y)
        elif self._loss.needs_labels:
            raise ValueError(
                f"{type(self).__name__}.adjoint_matrix needs y: the log-loss "
                "dual matrix is defined by each row's label."
            )
        return X, y

    def _adjoint_in_blocks(self, X, y, block_size, out=None, scratch=None):
        return adjoint_in_blocks(
            self._model,
            X,
            self.theta_,
            self._loss,
            y,
            block_size=block_size,
            out=out,
            scratch=scratch,
        )

    def _adjoint_factors(self, X, y):
        """The dual matrix's rows unassembled (:class:`sknlis._models.UnitFactors`)."""
        X, y = self._adjoint_input(X, y, dtype=np.float64)
        if sp.issparse(X):
            X = X.toarray()
        return self._model.adjoint_factors(X, self.theta_, self._loss, y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = bool(self._accept_sparse)
        return tags


class BaseNonlinearRegressor(RegressorMixin, BaseNonlinearModel):
    """Least-squares fit of a nonlinear model whose dual matrix is public."""

    _y_numeric = True

    def _encode_target(self, y):
        return y.astype(np.float64, copy=False)

    def _encode_labels(self, y, dtype=np.float64):
        return column_or_1d(
            check_array(y, ensure_2d=False, dtype=dtype, input_name="y")
        )

    @chunkwise(lambda self: ((), np.float64))
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
        z = self._raw_output(X)
        return self._loss.predict(z)


_LOG_TINY = float(np.log(np.finfo(float).tiny))


def _logit_shape(classifier):
    n_classes = classifier.classes_.shape[0]
    return ((), np.float64) if n_classes == 2 else ((n_classes,), np.float64)


def _proba_shape(classifier):
    return (classifier.classes_.shape[0],), np.float64


class BaseNonlinearClassifier(ClassifierMixin, BaseNonlinearModel):
    """Log-loss fit of a nonlinear model whose loss dual matrix is public.

    Two classes take one logit and the binomial log loss; more take one
    logit per class and the multinomial log loss.
    """

    _y_numeric = False

    def _encode_target(self, y):
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if self.classes_.shape[0] < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in "
                f"the data; got only {self.classes_[0]!r}."
            )
        return self._codes(encoder.transform(y))

    def _codes(self, indices):
        # One logit for two classes (y in {0, 1} as floats), else class indices.
        return indices.astype(np.float64) if self.classes_.shape[0] == 2 else indices

    def _encode_labels(self, y, dtype=None):
        # Class codes are the same whatever the dtype of X.
        return self._codes(class_indices(self.classes_, y))

    def _make_loss(self):
        n_classes = self.classes_.shape[0]
        return BinomialLogLoss() if n_classes == 2 else MultinomialLogLoss(n_classes)

    @chunkwise(_logit_shape)
    def decision_function(self, X):
        """Logits of the fitted model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes the logit of ``classes_[1]``; otherwise one logit
            per class.
        """
        return self._raw_output(X)

    @chunkwise(_proba_shape)
    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        return np.exp(self.predict_log_proba(X))

    @chunkwise(_proba_shape)
    def predict_log_proba(self, X):
        """Logarithm of the class probabilities.

        Computed from the logits without rounding through the
        probabilities, and floored at the log of the smallest normal float
        (about -708), so that :meth:`predict_proba` never underflows to 0 and
        the two agree.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        z = self.decision_function(X)
        if z.ndim == 1:
            log_proba = -_softplus(np.column_stack([z, -z]))
        else:
            log_proba = log_softmax(z, axis=1)
        return np.maximum(log_proba, _LOG_TINY)

    @chunkwise(lambda self: ((), self.classes_.dtype))
    def predict(self, X):
        """Most probable class.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        z = self.decision_function(X)
        indices = (z > 0).astype(int) if z.ndim == 1 else z.argmax(axis=1)
        return self.classes_[indices]
