"""What the meta-estimators need from a model: its dual matrix, in row blocks.

A model takes part by offering ``adjoint_matrix(X, y=None)`` (duck typing, as
scikit-learn does with ``predict_proba``). The resampler and the outlier
detector reach it only through the helpers here.
"""

import numpy as np
from sklearn.base import clone
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import _num_samples, check_is_fitted

from sknlis._regressors import SingleIndexRegressor
from sknlis._validation import check_block_size

__all__ = ["adjoint_rows", "linear_rows", "resolve_estimator"]


def linear_rows(X):
    """Rows of the data matrix with its intercept column, ``[x_i, 1]``."""

    def rows(start, stop):
        block = np.asarray(X[start:stop], dtype=np.float64)
        return np.hstack([block, np.ones((block.shape[0], 1))])

    return rows, X.shape[1] + 1


def adjoint_rows(estimator, X, y=None, block_size=None):
    """Rows of the fitted estimator's dual matrix, recomputed block by block.

    ``X`` is the caller's own input (a DataFrame stays one), so an estimator
    fitted with feature names sees them again. ``y=None`` gives the label-free
    dual matrix. The scores read the rows two to four times; when all rows fit
    in one block (``block_size`` rows, the memory the scoring uses anyway) the
    matrix is computed once and kept instead of once per pass.
    """

    def rows(start, stop):
        X_block = _safe_indexing(X, slice(start, stop))
        return estimator.adjoint_matrix(X_block, None if y is None else y[start:stop])

    n_rows, n_columns = _num_samples(X), rows(0, 1).shape[1]
    if n_rows <= check_block_size(block_size, n_columns):
        F = rows(0, n_rows)
        return (lambda start, stop: F[start:stop]), n_columns
    return rows, n_columns


def resolve_estimator(estimator, *, prefit, rng, purpose):
    """The model to take the dual matrix from: checked, and cloned unless prefit.

    ``None`` means ``SingleIndexRegressor()``. With ``prefit`` the estimator is
    returned as it is and must be fitted; otherwise an unfitted clone is
    returned, seeded from ``rng`` when its ``random_state`` is None so that
    equal seeds give equal results. ``purpose`` completes the sentence
    "estimator must provide adjoint_matrix(X, y) to ...".
    """
    estimator = SingleIndexRegressor() if estimator is None else estimator
    if not hasattr(estimator, "adjoint_matrix"):
        raise TypeError(
            f"estimator must provide adjoint_matrix(X, y) to {purpose}; "
            f"{type(estimator).__name__} does not."
        )
    if prefit:
        check_is_fitted(
            estimator,
            msg="prefit=True needs a fitted estimator; %(name)s is not fitted.",
        )
        return estimator
    estimator = clone(estimator)
    if estimator.get_params().get("random_state", 0) is None:
        # An unseeded model would make results differ between equal seeds.
        estimator.set_params(random_state=rng.randint(np.iinfo(np.int32).max))
    return estimator
