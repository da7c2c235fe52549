"""The paper's two models as classifiers: log loss, binary and multinomial."""

from numbers import Integral

from sklearn.utils._param_validation import Interval

from sknlis._base import BaseNonlinearClassifier, fill_shared_docs
from sknlis._models import LinearIndex, TwoLayerReLU

__all__ = ["SingleIndexClassifier", "TwoLayerReLUClassifier"]


@fill_shared_docs(kind="classifier", max_iter=1000, tol=1e-4, alpha=1.0)
class SingleIndexClassifier(BaseNonlinearClassifier):
    """Logistic regression whose log-loss dual matrix is public.

    Two classes: one logit ``z = <w, x> + b`` and ``p(classes_[1] | x) =
    sigmoid(z)``. More classes: one logit per class and the softmax. Fitted by
    L-BFGS-B on the weighted log loss plus a ridge penalty.

    The loss dual matrix (the paper's appendix A.3) has rows
    ``[S_i (x) [x_i; 1] ; sqrt(l_i(0))]`` where ``l_i`` is row ``i``'s log
    loss and ``S_i = int_0^1 d sqrt(l_i)/dz (t z_i) dt``: in closed form
    ``(sqrt(l_i(z)) - sqrt(log 2)) / z`` for two classes, by Gauss-Legendre
    quadrature for more. Its product with ``[theta; 1]`` is ``sqrt(l_i)``.

    The flat parameter vector is ``theta = [w_1; b_1; ...; w_K; b_K]`` with
    ``K = 1`` for two classes and ``K = n_classes`` otherwise.

    Parameters
    ----------
    [shared parameters]

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.

    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        The weights of each logit, as in
        :class:`~sklearn.linear_model.LogisticRegression`.

    intercept_ : ndarray of shape (1,) or (n_classes,)
        The intercepts (zeros when ``fit_intercept=False``).

    [shared attributes]

    See Also
    --------
    TwoLayerReLUClassifier : The paper's classification network.
    SingleIndexRegressor : The single-index model for real targets.
    sklearn.linear_model.LogisticRegression : The same model; no dual matrix.

    Notes
    -----
    ``alpha=1`` corresponds to ``LogisticRegression(C=0.5)`` but for the
    penalized intercept, and ``tol`` is LogisticRegression's. Both defaults
    were chosen by measurement (``benchmarks/bench_label_errors.py``): held-out
    log loss on the benchmark's clean tasks is best for ``alpha`` between 0.1
    and 1; label errors rank better with a stronger penalty (precision at k
    0.87 / 0.90 on binary / multiclass tasks at ``alpha=1``, 0.90 / 0.94 at
    ``alpha=3``). Sparse input is kept sparse (CSR) for the fit and
    densified one block at a time for the dual matrix.

    [references]

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sknlis import SingleIndexClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = SingleIndexClassifier(random_state=0).fit(X, y)
    >>> round(clf.score(X, y), 3)
    0.988
    >>> F = clf.adjoint_matrix(X, y)
    >>> log_loss = -np.log(clf.predict_proba(X)[np.arange(len(y)), y])
    >>> bool(np.allclose((F @ np.append(clf.theta_, 1)) ** 2, log_loss))
    True
    """

    _parameter_constraints: dict = {**BaseNonlinearClassifier._parameter_constraints}

    _accept_sparse = True

    def __init__(
        self,
        *,
        fit_intercept=True,
        alpha=1.0,
        bound=None,
        max_iter=1000,
        tol=1e-4,
        store_adjoint="auto",
        random_state=None,
        verbose=0,
    ):
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

    def _make_model(self, n_features, n_outputs):
        return LinearIndex(
            n_features, n_outputs=n_outputs, fit_intercept=self.fit_intercept
        )

    def _set_natural_params(self, model, theta):
        W, b = model.unpack(theta)
        self.coef_ = W.T.copy()
        self.intercept_ = b.copy()


@fill_shared_docs(kind="classifier", max_iter=500, tol=1e-5, alpha=1e-4)
class TwoLayerReLUClassifier(BaseNonlinearClassifier):
    """One hidden ReLU layer and a sigmoid or softmax output (the paper's A.6).

    Logits ``z_k = sum_j a_kj relu(<b_j, [x; 1]>) + c_k``: one logit and the
    sigmoid for two classes, one per class and the softmax for more. Fitted
    by L-BFGS-B on the weighted log loss plus a ridge penalty (non-convex:
    ``n_init`` restarts keep the lowest loss).

    The loss dual matrix (the paper's appendix A.3): along the ray ``t theta``
    the logits are ``t**2 z_h + t c``, so unit ``j``'s block is
    ``S1 * [relu(u_j) ; a_j 1{u_j > 0} [x; 1]]`` and the output bias's is
    ``S0``, with ``S1 = int t h'(t**2 z_h + t c) dt`` and
    ``S0 = int h'(t**2 z_h + t c) dt`` for the root ``h = sqrt(l)`` of the
    log loss, by Gauss-Legendre quadrature per row (and logit).

    The flat parameter vector is ``theta = [a_1, b_1, ..., a_m, b_m, c]``:
    ``a_j`` holds unit ``j``'s ``K`` output weights, ``b_j`` its weights and
    bias, ``c`` the ``K`` output biases (``K = 1`` for two classes).

    Parameters
    ----------
    n_hidden : int, default=10
        Number of hidden ReLU units ``m``.

    n_init : int, default=1
        Number of random starts; the fit with the lowest ``loss_`` is kept.

    [shared parameters]

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.

    hidden_coef_ : ndarray of shape (n_hidden, n_features)
        Hidden weights; row ``j`` is the weight part of ``b_j``.

    hidden_intercept_ : ndarray of shape (n_hidden,)
        Hidden biases, the last entry of each ``b_j``.

    output_coef_ : ndarray of shape (1, n_hidden) or (n_classes, n_hidden)
        Output weights ``a_kj``.

    intercept_ : ndarray of shape (1,) or (n_classes,)
        Output biases ``c`` (zeros when ``fit_intercept=False``).

    [shared attributes]

    See Also
    --------
    SingleIndexClassifier : Logistic regression with its dual matrix.
    TwoLayerReLURegressor : The same network for real targets.
    sklearn.neural_network.MLPClassifier : The same network with more solvers.

    Notes
    -----
    Each start draws output weights from ``U(-l, l)`` with
    ``l = sqrt(6 / (n_hidden + 1))``, hidden weights and biases at half the
    Glorot scale, and sets ``c`` to the log class frequencies less that
    start's mean logits. The default ``alpha`` is about
    :class:`~sklearn.neural_network.MLPClassifier`'s: a light penalty, since
    a strong one pulls units onto their ReLU kinks, where L-BFGS-B stalls. A
    loss evaluation is two ``n x d x m`` matrix products in cache-sized row
    blocks; the Jacobian is never formed.

    [references]

    Examples
    --------
    >>> import numpy as np
    >>> from sknlis import TwoLayerReLUClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 2))
    >>> y = np.where(np.abs(X[:, 0]) > 0.7, "far", "near")
    >>> clf = TwoLayerReLUClassifier(n_hidden=4, alpha=0.0, random_state=0)
    >>> clf = clf.fit(X, y)
    >>> clf.classes_
    array(['far', 'near'], dtype='<U4')
    >>> bool(clf.score(X, y) > 0.95)
    True
    >>> clf.adjoint_matrix_.shape  # 4 * (2 + 2) + 1 parameters, plus 1
    (300, 18)
    """

    _parameter_constraints: dict = {
        **BaseNonlinearClassifier._parameter_constraints,
        "n_hidden": [Interval(Integral, 1, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_hidden=10,
        *,
        fit_intercept=True,
        alpha=1e-4,
        bound=None,
        max_iter=500,
        tol=1e-5,
        n_init=1,
        store_adjoint="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_hidden = n_hidden
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

    def _make_model(self, n_features, n_outputs):
        return TwoLayerReLU(
            n_features,
            self.n_hidden,
            n_outputs=n_outputs,
            fit_intercept=self.fit_intercept,
        )

    def _set_natural_params(self, model, theta):
        A, W, bias, c = model.unpack(theta)
        self.output_coef_ = A
        self.hidden_coef_ = W
        self.hidden_intercept_ = bias[:, 0]
        self.intercept_ = c
