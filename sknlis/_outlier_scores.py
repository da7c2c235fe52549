"""Abnormality of rows of a dual matrix: leverage split into model and label parts.

Write the label-aware dual matrix as ``F = [M, c]``: ``M`` holds the adjoint
rows ``r*_i`` (``p`` columns), ``c`` the label column ``r_i(0) = f_i(0) - y_i``.
Since ``r = M theta + c``, the column space of ``F`` is that of ``[M, r]``, and
the projector onto it splits into two orthogonal parts::

    h_i(F) = h_i(M) + e_i**2 / ||e||**2,    e = (I - P_M) c = (I - P_M) r,

where ``h(M)`` is the leverage of the model part (it sums to ``rank(M)``) and
``e`` is the residual left after projecting out the directions the model can
move (for a linear model at its optimum, ``e`` is the residual itself). The
paper's normalized leverage ``h_i(F) / rank(F)`` gives the residual direction
one part in ``rank(M) + 1``: a mislabeled row, abnormal only in ``e``, is
diluted among ``p`` model directions. The rebalanced score gives both parts
the same total weight::

    balanced_i = (h_i(M) / rank(M) + e_i**2 / ||e||**2) / 2.

Each part sums to 1, so each has mean ``1 / n``: a row is scored by how far
its input (through the model's adjoint) and its label (through the residual)
are from typical, on an equal footing.

A new row ``[m, c]`` is scored against the training rows: ``h(m) = ||m K||**2``
with the training factor ``K`` of ``M``, and ``e = c - m . beta`` with the
training coefficients ``beta`` of ``c`` on ``M``. A training row scores the
same in and out of sample. A new row without a label has no ``e`` (nor ``c``):
its label part is set to the training mean, so it is scored on its input
alone, on the same scale.
"""

from dataclasses import dataclass
from functools import partial

import numpy as np

from sknlis._rows import is_lazy, map_rows, reduce_rows, transform_rows
from sknlis._scores import leverage_factor
from sknlis._validation import check_block_size, row_blocks

__all__ = [
    "SCORES",
    "OutlierBasis",
    "fit_outlier_basis",
    "outlier_scores",
    "row_parts",
]

SCORES = ("balanced", "leverage", "norm")

# Per-row parts, the columns of the array ``row_parts`` returns.
_LEVERAGE, _RESIDUAL, _MODEL_SQ, _LABEL_SQ = range(4)


@dataclass(frozen=True)
class OutlierBasis:
    """What scoring needs from the training dual matrix.

    Attributes
    ----------
    K : ndarray of shape (n_model_columns, rank)
        Leverage factor of the model part: ``h_i(M) = ||m_i K||**2``.
    rank : int
        Rank of the model part.
    beta : ndarray of shape (n_model_columns,) or None
        Coefficients of the label column on the model part; ``None`` when
        the basis has no label column (fitted without labels).
    totals : ndarray of shape (4,)
        Training sums of the four row parts: model leverage, squared
        residual ``e**2``, squared model-row norm, squared label entry.
    n_rows : int
        Number of training rows.
    """

    K: np.ndarray
    rank: int
    beta: np.ndarray | None
    totals: np.ndarray
    n_rows: int

    @property
    def labelled(self):
        return self.beta is not None

    @property
    def has_residual(self):
        """Whether the label column adds a direction to the model part.

        It does not when ``||e||`` is at rounding level relative to ``||c||``
        (numpy's ``matrix_rank`` tolerance): a model that fits every label
        exactly, or a label column the model part already spans.
        """
        if not self.labelled:
            return False
        tol = max(self.n_rows, self.K.shape[0] + 1) * np.finfo(float).eps
        return bool(self.totals[_RESIDUAL] > tol**2 * self.totals[_LABEL_SQ])


def fit_outlier_basis(rows, n_rows, n_columns, *, labelled, block_size=None):
    """Training factor and sums of the dual matrix whose rows ``rows`` gives.

    Parameters
    ----------
    rows : callable
        ``rows(start, stop)`` returns rows ``start:stop`` as float64.
    n_rows, n_columns : int
        Shape of the matrix.
    labelled : bool
        Whether the last column is the label column ``c``; otherwise every
        column belongs to the model part.
    block_size : int, default=None
        Rows per block.

    Returns
    -------
    basis : OutlierBasis
    parts : ndarray of shape (n_rows, 4)
        The training rows' parts, for :func:`outlier_scores`.
    """
    block_size = check_block_size(block_size, n_columns)
    n_model = n_columns - 1 if labelled else n_columns
    if n_model == 0:
        raise ValueError("The dual matrix has no model column to score.")

    model_rows = transform_rows(rows, lambda block: block[:, :n_model])
    K, rank = leverage_factor(model_rows, n_rows, n_model, block_size=block_size)
    beta = None
    if labelled:
        beta = np.zeros(n_model)
        # Project c onto span(M) twice: one Gram-Schmidt pass loses digits
        # when c is nearly in the span ("twice is enough").
        for _ in range(2):
            gradient = reduce_rows(
                rows, n_rows, partial(_residual_gradient, beta, block_size)
            )
            beta = beta + K @ (K.T @ gradient)
    first = OutlierBasis(K, rank, beta, np.zeros(4), n_rows)
    parts = row_parts(first, rows, n_rows, labelled=labelled, block_size=block_size)
    totals = parts.sum(axis=0)
    if is_lazy(totals):
        # One pass for the sums; the parts themselves stay lazy.
        totals = totals.compute()
    basis = OutlierBasis(K, rank, beta, totals, n_rows)
    return basis, parts


def _residual_gradient(beta, block_size, rows, start, stop):
    """``M^T (c - M beta)`` over rows ``start:stop``."""
    n_model = beta.shape[0]
    gradient = np.zeros(n_model)
    for first, last in row_blocks(stop, block_size, start):
        block = rows(first, last)
        M = block[:, :n_model]
        gradient += M.T @ (block[:, n_model] - M @ beta)
    return gradient


def row_parts(basis, rows, n_rows, *, labelled, block_size=None):
    """Model leverage, squared residual, squared norms of each row, in blocks.

    ``labelled`` says whether the rows carry the label column. Rows without
    it, scored against a labelled basis, get NaN label parts (see
    :func:`outlier_scores`).
    """
    n_model = basis.K.shape[0]
    block_size = check_block_size(block_size, n_model + 1)

    def kernel(rows, start, stop):
        parts = np.full((stop - start, 4), np.nan)
        for first, last in row_blocks(stop, block_size, start):
            block = rows(first, last)
            M = block[:, :n_model]
            projected = M @ basis.K
            out = parts[first - start : last - start]
            out[:, _LEVERAGE] = np.einsum("ij,ij->i", projected, projected)
            out[:, _MODEL_SQ] = np.einsum("ij,ij->i", M, M)
            if labelled and basis.labelled:
                c = block[:, n_model]
                out[:, _RESIDUAL] = (c - M @ basis.beta) ** 2
                out[:, _LABEL_SQ] = c**2
            elif not basis.labelled:
                out[:, [_RESIDUAL, _LABEL_SQ]] = 0.0
        return parts

    return map_rows(rows, n_rows, kernel, trailing=(4,))


def outlier_scores(basis, parts, score):
    """Normalized abnormality of rows, on the training scale.

    Parameters
    ----------
    basis : OutlierBasis
        From :func:`fit_outlier_basis`.
    parts : ndarray of shape (n_rows, 4)
        From :func:`fit_outlier_basis` (training rows) or :func:`row_parts`.
    score : {"balanced", "leverage", "norm"}
        ``"leverage"``: the paper's ``h_i(F) / rank(F)``; ``"norm"``: the
        paper's ``||f_i||**2 / ||F||_F**2``; ``"balanced"``: the rebalanced
        leverage of the module notes. Without a residual direction (no labels,
        or an exact fit) ``"balanced"`` is the model part's leverage.

    Returns
    -------
    tau : ndarray of shape (n_rows,)
        Non-negative; on the training rows the scores sum to 1, so the mean
        training score is ``1 / n_rows``. Higher is more abnormal.
    """
    totals = basis.totals
    # Rows without labels get the label part of an average training row.
    # (np.where, not assignment: a Dask array of parts stays lazy.)
    residual_sq, label_sq = (
        np.where(
            np.isnan(parts[:, column]), totals[column] / basis.n_rows, parts[:, column]
        )
        for column in (_RESIDUAL, _LABEL_SQ)
    )
    if score == "norm":
        return (parts[:, _MODEL_SQ] + label_sq) / (
            totals[_MODEL_SQ] + totals[_LABEL_SQ]
        )
    model = parts[:, _LEVERAGE]
    if not basis.has_residual:
        return model / basis.rank
    residual = residual_sq / totals[_RESIDUAL]
    if score == "leverage":
        return (model + residual) / (basis.rank + 1)
    # "balanced": the estimator's constraints admit no other name.
    return (model / basis.rank + residual) / 2
