"""What the meta-estimators need from a model: its dual matrix, in row blocks.

A model takes part in one of two ways. It offers ``adjoint_matrix(X, y=None)``
and its flat parameters ``theta_`` (duck typing, as scikit-learn does with
``predict_proba``; sknlis's estimators do), or it is a fitted scikit-learn
estimator that :mod:`sknlis._adapters` can read (``LogisticRegression``,
``MLPRegressor``, ...). Either way the dual matrix has ``len(theta) + 1``
columns, known before any row is computed. The resampler and the outlier
detector reach a model only through the helpers here.
"""

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import _num_samples, check_is_fitted

from sknlis import _adapters
from sknlis._classifiers import SingleIndexClassifier
from sknlis._regressors import SingleIndexRegressor
from sknlis._rows import column_subset, is_lazy, transform_rows
from sknlis._validation import check_block_size

__all__ = [
    "adjoint_rows",
    "classifies",
    "fitted_parts",
    "linear_rows",
    "n_adjoint_columns",
    "resolve_estimator",
    "with_leverage_method_doc",
]


# The resampler's and the detector's ``leverage_method``, documented once and
# substituted into both docstrings at the line "    [leverage_method]".
LEVERAGE_METHOD_DOC = """\
    leverage_method : {"auto", "exact", "sketch"}, default="auto"
        How leverage is computed (see :func:`sknlis.leverage_scores`):
        ``"auto"`` sketches wide dual matrices (about 900 columns and more,
        e.g. a two-layer network with 20 or more hidden units on 40
        features) when the rows are several times more than the sketch, and
        computes small ones exactly; ``"exact"`` forces exact scores. The
        sketch's scores are within a total-variation distance of about 0.04
        of the exact ones, every row within ``[0.5, 2]`` times its exact
        score, in a few percent of the exact time at scale."""


def with_leverage_method_doc(cls):
    """Class decorator: substitute :data:`LEVERAGE_METHOD_DOC`."""
    cls.__doc__ = cls.__doc__.replace("    [leverage_method]", LEVERAGE_METHOD_DOC)
    return cls


def classifies(estimator, y):
    """Whether ``y`` are class labels: the estimator is a classifier, or none
    is given and the labels are not numbers (strings, booleans, objects).

    ``estimator=None`` then resolves to ``SingleIndexClassifier()`` (see
    :func:`resolve_estimator`); integer labels stay regression targets.
    """
    if estimator is not None:
        return is_classifier(estimator)
    # A Dask collection tells its dtype without being computed.
    return (y.dtype if is_lazy(y) else np.asarray(y).dtype).kind not in "iuf"


def _has_own_adjoint(estimator):
    return hasattr(estimator, "adjoint_matrix")


def n_adjoint_columns(estimator):
    """Columns of a fitted estimator's dual matrix, without computing a row."""
    if _has_own_adjoint(estimator):
        return estimator.theta_.shape[0] + 1
    return _adapters.fitted_parts(estimator).theta.shape[0] + 1


def fitted_parts(estimator, n_samples=None):
    """The :class:`~sknlis._adapters.FittedParts` of a fitted estimator.

    What the leave-one-out scores need beyond the dual matrix: the model's
    Jacobian rows and the loss's curvature at ``theta``, and the penalty
    (``n_samples``: the rows the estimator was fitted on, for objectives
    written as a mean).
    """
    try:
        return _adapters.fitted_parts(estimator, n_samples)
    except TypeError as error:
        raise TypeError(
            f"scores='loo' needs the model and loss of the estimator: {error}"
        ) from error


def linear_rows(X):
    """Rows of the data matrix with its intercept column, ``[x_i, 1]``."""

    def rows(start, stop):
        return fill(start, stop, np.empty((stop - start, X.shape[1] + 1)))

    def fill(start, stop, out):
        out[:, :-1] = X[start:stop]
        out[:, -1] = 1.0
        return out

    rows.fill = fill
    return rows, X.shape[1] + 1


def adjoint_rows(estimator, X, y=None, block_size=None):
    """Rows of the fitted estimator's dual matrix, recomputed block by block.

    ``X`` is the caller's own input (a DataFrame stays one), so an estimator
    fitted with feature names sees them again. ``y=None`` gives the label-free
    dual matrix. The scores read the rows two to four times; when all rows fit
    in one block (``block_size`` rows, the memory the scoring uses anyway) the
    matrix is computed once and kept instead of once per pass.
    """

    def block(start, stop):
        X_block = _safe_indexing(X, slice(start, stop))
        return X_block, None if y is None else y[start:stop]

    model = _own_model(estimator)
    if model is not None:
        # One conversion buffer for all blocks (sknlis._models.adjoint_in_blocks).
        scratch = {}

        def compute(X_block, y_block, out=None):
            return estimator._adjoint_in_blocks(
                *estimator._adjoint_input(X_block, y_block), block_size, out, scratch
            )

    elif _has_own_adjoint(estimator):
        compute = None
    else:
        compute = _adapters.row_source(estimator)

    if compute is None:

        def rows(start, stop):
            return estimator.adjoint_matrix(*block(start, stop))

    else:
        # Passes that read each block once give it memory to reuse
        # (sknlis._rows.block_reader).
        def fill(start, stop, out):
            return compute(*block(start, stop), out=out)

        def rows(start, stop):
            return fill(start, stop, None)

    n_rows, n_columns = _num_samples(X), n_adjoint_columns(estimator)
    if n_rows <= check_block_size(block_size, n_columns):
        F = rows(0, n_rows)
        return (lambda start, stop: F[start:stop]), n_columns
    if compute is not None:
        rows.fill = fill
    if hasattr(model, "adjoint_factors"):
        # The sketch reads a two-layer network's rows unassembled
        # (sknlis._embedding); every other pass calls ``rows``.
        def factors(start, stop):
            return estimator._adjoint_factors(*block(start, stop))

        rows.factors = factors
    return rows, n_columns


def _own_model(estimator):
    """The sknlis model behind ``adjoint_matrix``, or None.

    A subclass that overrides ``adjoint_matrix`` (to reorder or weight the
    rows, say) is read only through it: the model's factors and redundant
    columns describe the model's own rows, not the override's.
    """
    from sknlis._base import BaseNonlinearModel

    if getattr(type(estimator), "adjoint_matrix", None) is not (
        BaseNonlinearModel.adjoint_matrix
    ):
        return None
    return getattr(estimator, "_model", None)


def leverage_rows(estimator, rows, n_columns):
    """``rows`` without the columns that the estimator's model says the
    others span (:meth:`sknlis._models.TwoLayerReLU.redundant_columns`).

    Leverage depends on the column space only, so the scores are unchanged,
    and a two-layer network's dual matrix becomes full rank: the direct
    factor applies instead of the rank-revealing one, which costs one more
    pass (exact) or several ``k x k`` arrays (sketch). Not for norm scores or
    ridge leverage, which depend on the columns themselves. A factored
    source keeps its factors and says which columns to keep.
    """
    model = _own_model(estimator)
    if not hasattr(model, "redundant_columns"):
        return rows, n_columns
    keep = np.ones(n_columns, dtype=bool)
    keep[model.redundant_columns(estimator.theta_)] = False
    n_kept = int(np.count_nonzero(keep))
    kept = transform_rows(rows, column_subset(keep))
    factors = getattr(rows, "factors", None)
    if factors is not None:
        kept.factors, kept.columns = factors, keep
    if hasattr(kept, "n_columns"):  # a chunked (Dask) source says its width
        kept.n_columns = n_kept
    return kept, n_kept


def resolve_estimator(estimator, *, prefit, rng, purpose, classify=False):
    """The model to take the dual matrix from: checked, and cloned unless prefit.

    ``None`` means ``SingleIndexRegressor()``, or ``SingleIndexClassifier()``
    when ``classify`` (the labels are not numbers). With ``prefit`` the
    estimator is returned as it is and must be fitted; otherwise an unfitted
    clone is returned, seeded from ``rng`` when its ``random_state`` is None
    so that equal seeds give equal results, and told not to store its
    training dual matrix: the scores recompute it in blocks, and a stored
    ``n x (p + 1)`` copy made a pickled detector 50 times larger.
    ``purpose`` completes the sentence "estimator must provide
    adjoint_matrix(X, y) to ...". A scikit-learn
    estimator that :mod:`sknlis._adapters` reads needs no such method.
    """
    if estimator is None:
        estimator = SingleIndexClassifier() if classify else SingleIndexRegressor()
    if not _has_own_adjoint(estimator):
        try:
            _adapters.check_supported(estimator)
        except TypeError as error:
            raise TypeError(
                f"estimator must provide adjoint_matrix(X, y) to {purpose}: {error}"
            ) from error
    if prefit:
        check_is_fitted(
            estimator,
            msg="prefit=True needs a fitted estimator; %(name)s is not fitted.",
        )
        return estimator
    estimator = clone(estimator)
    params = estimator.get_params()
    if params.get("random_state", 0) is None:
        # An unseeded model would make results differ between equal seeds.
        estimator.set_params(random_state=rng.randint(np.iinfo(np.int32).max))
    if "store_adjoint" in params:
        estimator.set_params(store_adjoint=False)
    return estimator
