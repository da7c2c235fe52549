"""Importance resampling by a model's dual matrix, imbalanced-learn style."""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import validate_data

from sknlis._protocol import (
    adjoint_rows,
    classifies,
    leverage_rows,
    linear_rows,
    resolve_estimator,
    with_leverage_method_doc,
)
from sknlis._rows import is_lazy
from sknlis._sampling import importance_sample, resolve_n_samples
from sknlis._scores import blocked_leverage_scores, blocked_norm_scores

__all__ = ["NonlinearImportanceResampler"]


def _auto_pilot_size(count, n_rows, n_features):
    """Pilot rows for ``pilot_size="auto"``: the sample's ``count``, with a floor.

    The floor, ten rows per parameter of a single-index model, keeps the pilot
    fit well determined when the sample is tiny; the cap is every row.
    """
    return min(n_rows, max(count, 10 * (n_features + 1)))


# rng.choice(n, size, replace=False) permutes all n rows: 8 bytes a row (880
# MB for 1.1e8 rows, most of the client's memory in bench_dask.py). Above
# this many rows a small pilot is drawn by rejection instead.
_PERMUTE_LIMIT = 2**24


def _uniform_rows(rng, n_rows, size):
    """``size`` distinct rows drawn uniformly, in random order."""
    if n_rows <= _PERMUTE_LIMIT or size > n_rows // 4:
        return rng.choice(n_rows, size=size, replace=False)
    rows = np.empty(0, dtype=np.intp)
    while rows.shape[0] < size:
        # Few repeats when size << n_rows: a loop or two.
        more = rng.randint(n_rows, size=2 * (size - rows.shape[0]))
        rows = np.concatenate([rows, more])
        _, first = np.unique(rows, return_index=True)
        rows = rows[np.sort(first)]
    return rows[:size]


def _with_every_class(pilot, y, rng):
    """The pilot rows plus one random row of each class they miss.

    A classifier fitted without a class cannot score that class's rows (its
    log loss there is undefined); one row per class is the least change to
    the uniform pilot that fixes it.
    """
    missing = np.setdiff1d(np.unique(y), np.unique(y[pilot]))
    extra = [rng.choice(np.flatnonzero(y == label)) for label in missing]
    return np.concatenate([pilot, np.asarray(extra, dtype=pilot.dtype)])


@with_leverage_method_doc
class NonlinearImportanceResampler(BaseEstimator):
    """Draw a weighted subsample whose loss tracks the full-data loss.

    Each row is scored by its leverage (or row norm) in the nonlinear dual
    matrix of a fitted model (``basis="adjoint"``), or in the data matrix
    ``[X, 1]`` (``basis="linear"``), and ``n_samples`` rows are drawn with
    probabilities proportional to the scores. Each drawn row carries the
    importance weight ``1 / (n_samples * tau_i)`` (``sample_weight_``); the
    weighted loss of the sample is an unbiased estimate of the full loss.

    The paper's five strategies are parameter settings: ``scores="uniform"``
    (UN), ``basis="linear"`` with ``scores="leverage"`` (LLS) or ``"norm"``
    (LRN), and ``basis="adjoint"`` with ``scores="leverage"`` (ALS) or
    ``"norm"`` (ARN).

    Use it as the sampling step of :class:`sknlis.pipeline.Pipeline`, which
    passes ``sample_weight_`` on to the final estimator. Other pipelines
    (imbalanced-learn's included) hand on only ``(X, y)``, so the refit there
    minimizes a biased, score-reweighted loss.

    Parameters
    ----------
    estimator : estimator, default=None
        The model whose dual matrix scores the rows when ``basis="adjoint"``:
        a regressor's residual dual matrix, or a classifier's log-loss dual
        matrix. One with ``adjoint_matrix(X, y)`` (sknlis's), or a
        scikit-learn estimator that :func:`sknlis.adjoint_matrix` supports
        (``MLPRegressor``, ``LogisticRegression``, ``PoissonRegressor``,
        ...). ``None`` means ``SingleIndexRegressor()`` for numeric targets
        and ``SingleIndexClassifier()`` for labels that are not numbers.
        Cloned unless ``prefit``. A classifier's pilot sample gets one extra
        row of each class the uniform draw missed.
    scores : {"leverage", "norm", "uniform"}, default="leverage"
        Importance score of a row: its leverage, its squared row norm, or the
        same for every row.
    basis : {"adjoint", "linear"}, default="adjoint"
        Matrix whose rows are scored: the estimator's dual matrix, or the data
        matrix with an intercept column. Ignored for ``scores="uniform"``.
    n_samples : int or float, default=0.1
        Rows to draw: a count, or a fraction of the rows in (0, 1].
    pilot_size : "auto", int, float or None, default="auto"
        Where the model's parameters come from when ``prefit=False``: it is
        fitted on a uniform sample of ``pilot_size`` rows (a count or a
        fraction), the practical mode; ``None`` fits it on all rows, the
        paper's validation mode (scores at the full-data optimum).
        ``"auto"`` uses as many rows as the sample draws, but at least
        ``10 * (n_features + 1)`` (and at most all rows): the pilot fit then
        costs about what the refit on the sample costs. On the paper's
        Diamonds data, scores from pilots of 30 rows up to 10% of the rows
        sample as well as scores at the full-data optimum
        (``benchmarks/bench_sampling.py``), so a larger pilot buys nothing.
    prefit : bool, default=False
        Use ``estimator`` as it is, already fitted: no pilot fit.
    replace : bool, default=True
        Draw with replacement (i.i.d., the paper's scheme) or without.
    mix_uniform : float, default=0.0
        Mix the score distribution with the uniform one,
        ``(1 - mix_uniform) * tau + mix_uniform / n``, bounding every weight.
    ridge : float, default=0.0
        Ridge for the leverage scores; see :func:`sknlis.leverage_scores`.
    [leverage_method]
    block_size : int, default=None
        Rows per block when scoring; bounds the memory of wide dual matrices.
    random_state : int, RandomState instance or None, default=None
        Seeds the pilot sample and the draw.

    Attributes
    ----------
    scores_ : ndarray of shape (n_samples_in,)
        Importance score of every input row (summing to 1).
    sample_indices_ : ndarray of shape (n_drawn,)
        Rows returned by :meth:`fit_resample`, in order (repeats possible with
        replacement).
    sample_weight_ : ndarray of shape (n_drawn,)
        Importance weight of each returned row.
    estimator_ : estimator or None
        The model that gave the dual matrix (``None`` unless
        ``basis="adjoint"`` and ``scores != "uniform"``).
    pilot_indices_ : ndarray or None
        Rows the pilot model was fitted on (``None`` without a pilot fit).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    sknlis.pipeline.Pipeline : Passes the importance weights to the refit.
    sknlis.leverage_scores : The scores on any matrix.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sknlis import NonlinearImportanceResampler
    >>> X, y = load_diabetes(return_X_y=True)
    >>> sampler = NonlinearImportanceResampler(n_samples=50, random_state=0)
    >>> X_small, y_small = sampler.fit_resample(X, y)
    >>> X_small.shape, sampler.sample_weight_.shape
    ((50, 10), (50,))
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit"]), None],
        "scores": [StrOptions({"leverage", "norm", "uniform"})],
        "basis": [StrOptions({"adjoint", "linear"})],
        "n_samples": [
            Interval(numbers.Integral, 1, None, closed="left"),
            Interval(numbers.Real, 0, 1, closed="right"),
        ],
        "pilot_size": [
            StrOptions({"auto"}),
            Interval(numbers.Integral, 2, None, closed="left"),
            Interval(numbers.Real, 0, 1, closed="right"),
            None,
        ],
        "prefit": ["boolean"],
        "replace": ["boolean"],
        "mix_uniform": [Interval(numbers.Real, 0, 1, closed="both")],
        "ridge": [Interval(numbers.Real, 0, None, closed="left")],
        "leverage_method": [StrOptions({"auto", "exact", "sketch"})],
        "block_size": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        scores="leverage",
        basis="adjoint",
        n_samples=0.1,
        pilot_size="auto",
        prefit=False,
        replace=True,
        mix_uniform=0.0,
        ridge=0.0,
        leverage_method="auto",
        block_size=None,
        random_state=None,
    ):
        self.estimator = estimator
        self.scores = scores
        self.basis = basis
        self.n_samples = n_samples
        self.pilot_size = pilot_size
        self.prefit = prefit
        self.replace = replace
        self.mix_uniform = mix_uniform
        self.ridge = ridge
        self.leverage_method = leverage_method
        self.block_size = block_size
        self.random_state = random_state

    def fit(self, X, y):
        """Score the rows and draw the sample; see :meth:`fit_resample`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : NonlinearImportanceResampler
        """
        self.fit_resample(X, y)
        return self

    @_fit_context(prefer_skip_nested_validation=False)
    def fit_resample(self, X, y):
        """Score every row, draw the sample, and return its rows.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Training data. A Dask array or data frame (chunked along its
            rows) is scored chunk by chunk and only the pilot and the
            sample are gathered; ``scores_`` is then a lazy Dask array (see
            the user guide, "Data larger than memory").
        y : array-like of shape (n_samples,)
            Real-valued targets, or class labels for a classifier; a Dask
            collection partitioned as ``X`` (class labels: in memory).

        Returns
        -------
        X_resampled : {ndarray, DataFrame} of shape (n_drawn, n_features)
            The drawn rows, of the same type as ``X`` (numpy for a Dask
            array, pandas for a Dask data frame), in memory.
        y_resampled : {ndarray, Series} of shape (n_drawn,)
            Their targets, of the same type as ``y``.
        """
        X_in, y_in = X, y
        if is_lazy(X) or is_lazy(y):
            from sknlis._dask_resampler import fit_resample_chunked

            return fit_resample_chunked(self, X, y)
        # Two rows at least: a sample of the only row carries no information.
        classify = classifies(self.estimator, y)
        # float32 stays float32: the scores convert one block at a time.
        X, y = validate_data(
            self,
            X,
            y,
            y_numeric=not classify,
            dtype=(np.float64, np.float32),
            ensure_min_samples=2,
        )
        n_rows = X.shape[0]
        rng = check_random_state(self.random_state)
        count = resolve_n_samples(self.n_samples, n_rows, replace=self.replace)
        self.estimator_ = None
        self.pilot_indices_ = None
        self.scores_ = self._score_rows(X, X_in, y, rng, count, classify)
        indices, weights = importance_sample(
            self.scores_,
            count,
            replace=self.replace,
            mix_uniform=self.mix_uniform,
            random_state=rng,
        )
        self.sample_indices_ = indices
        self.sample_weight_ = weights
        return _safe_indexing(X_in, indices), _safe_indexing(y_in, indices)

    def _score_rows(self, X, X_in, y, rng, count, classify):
        if self.scores == "uniform":
            return np.full(X.shape[0], 1.0 / X.shape[0])
        if self.basis == "linear":
            rows, n_columns = linear_rows(X)
        else:
            self.estimator_ = self._fitted_estimator(
                X_in,
                y,
                rng,
                count,
                classify,
                X.shape[0],
                lambda rows: (_safe_indexing(X_in, rows), y[rows]),
            )
            rows, n_columns = adjoint_rows(self.estimator_, X_in, y, self.block_size)
        if self.scores == "norm":
            return blocked_norm_scores(
                rows, X.shape[0], n_columns, block_size=self.block_size
            )
        if self.basis != "linear" and self.ridge == 0:
            rows, n_columns = leverage_rows(self.estimator_, rows, n_columns)
        return blocked_leverage_scores(
            rows,
            X.shape[0],
            n_columns,
            method=self.leverage_method,
            ridge=self.ridge,
            block_size=self.block_size,
            random_state=rng,
        )

    def _fitted_estimator(self, X, y, rng, count, classify, n_rows, take):
        """The model, fitted on a pilot; ``take(rows)`` gathers ``(X, y)`` rows."""
        estimator = resolve_estimator(
            self.estimator,
            prefit=self.prefit,
            rng=rng,
            classify=classify,
            purpose="score rows with basis='adjoint' (or use basis='linear')",
        )
        if self.prefit:
            return estimator
        if self.pilot_size is None:
            return estimator.fit(X, y)
        if self.pilot_size == "auto":
            n_pilot = _auto_pilot_size(count, n_rows, self.n_features_in_)
        else:
            n_pilot = resolve_n_samples(
                self.pilot_size, n_rows, replace=False, name="pilot_size"
            )
        if n_pilot < 2:
            raise ValueError(
                f"pilot_size={self.pilot_size!r} gives {n_pilot} row(s) of {n_rows}, "
                "too few to fit a model (2 at least). Increase pilot_size."
            )
        pilot = _uniform_rows(rng, n_rows, n_pilot)
        if classify:
            pilot = _with_every_class(pilot, y, rng)
        pilot = np.sort(pilot)
        self.pilot_indices_ = pilot
        # Any other error of the pilot fit (a bad parameter of the model, say)
        # is the model's own, with its own message.
        return estimator.fit(*take(pilot))
