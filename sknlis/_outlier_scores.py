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
from scipy import linalg

from sknlis._rows import (
    column_subset,
    is_lazy,
    map_rows,
    reduce_rows,
    transform_rows,
)
from sknlis._scores import (
    _exact_factor,
    leverage_factor,
    leverage_plan,
    sketched_factors,
)
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
    exponents : ndarray of shape (n_model_columns,) or None
        Powers of two that the model columns are scaled by before ``K`` and
        ``beta`` apply, when a column is so small (or large) that ``K`` in
        the columns' own units would overflow; ``None`` otherwise.
    """

    K: np.ndarray
    rank: int
    beta: np.ndarray | None
    totals: np.ndarray
    n_rows: int
    exponents: np.ndarray | None = None

    def model_part(self, M):
        """``M`` in the units ``K`` and ``beta`` apply to."""
        return M if self.exponents is None else np.ldexp(M, self.exponents)

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


def fit_outlier_basis(
    rows, n_rows, n_columns, *, labelled, block_size=None, method="exact", rng=None
):
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
    method : {"auto", "exact", "sketch"}, default="exact"
        How the model part's leverage is computed (see
        :func:`sknlis.leverage_scores`). With the sketch, the coefficients of
        ``c`` come from the same preconditioned iteration, preconditioned by
        the sketch's factor instead of the exact one.
    rng : RandomState, default=None
        The sketch's randomness.

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
    model_rows = transform_rows(rows, column_subset(np.arange(n_columns) < n_model))
    if is_lazy(rows) or hasattr(rows, "reduce_ranges"):
        return _fit_chunked_basis(
            rows, model_rows, n_rows, n_model, labelled, block_size
        )

    method, sketch_size, n_projections = leverage_plan(method, n_rows, n_model)
    if n_rows < n_model:
        # Wide: the n x n side is exact and cheaper than any sketch, as in
        # leverage_scores.
        method = "exact"
    if method == "sketch":
        precondition, K, rank, scaled = sketched_factors(
            model_rows,
            n_rows,
            n_model,
            sketch_size=sketch_size,
            n_projections=n_projections,
            block_size=block_size,
            rng=rng,
        )
    exponents = None
    if n_rows < n_model:
        # Wide: the n x n side (issue: a 50 x 2,000 fit took 9 s on k x k).
        K, rank = _wide_factor(model_rows(0, n_rows))
    elif method != "sketch" or scaled is not model_rows:
        # Exact; also when the column scales are too far apart to fold into
        # the sketch's factor.
        K, rank, exponents = _exact_factor(model_rows, n_rows, n_model, 0.0, block_size)
        if exponents is not None:
            unscaled_rows = rows

            def rows(start, stop):
                block = unscaled_rows(start, stop).copy()
                block[:, :n_model] = np.ldexp(block[:, :n_model], exponents)
                return block

    beta = None
    if labelled and method == "sketch":
        beta = _label_coefficients(rows, n_rows, n_model, precondition, block_size)
    elif labelled:
        beta = np.zeros(n_model)
        # Project c onto span(M) twice: one Gram-Schmidt pass loses digits
        # when c is nearly in the span ("twice is enough").
        for _ in range(2):
            gradient = _residual_gradient(beta, block_size, rows, 0, n_rows)
            beta = beta + K @ (K.T @ gradient)
    if exponents is not None:
        rows = unscaled_rows  # the parts take the caller's rows
    return _with_totals(K, rank, beta, rows, n_rows, labelled, block_size, exponents)


def _fit_chunked_basis(rows, model_rows, n_rows, n_model, labelled, block_size):
    """:func:`fit_outlier_basis` on Dask chunks: exact leverage, reductions."""
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
    return _with_totals(K, rank, beta, rows, n_rows, labelled, block_size, None)


def _with_totals(K, rank, beta, rows, n_rows, labelled, block_size, exponents):
    """The basis with its training sums, and the training rows' parts."""
    first = OutlierBasis(K, rank, beta, np.zeros(4), n_rows, exponents)
    parts = row_parts(first, rows, n_rows, labelled=labelled, block_size=block_size)
    totals = parts.sum(axis=0)
    if is_lazy(totals):
        # One pass for the sums; the parts themselves stay lazy.
        totals = totals.compute()
    return OutlierBasis(K, rank, beta, totals, n_rows, exponents), parts


def _residual_gradient(beta, block_size, rows, start, stop):
    """``M^T (c - M beta)`` over rows ``start:stop``."""
    n_model = beta.shape[0]
    gradient = np.zeros(n_model)
    for first, last in row_blocks(stop, block_size, start):
        block = rows(first, last)
        M = block[:, :n_model]
        gradient += M.T @ (block[:, n_model] - M @ beta)
    return gradient


def _wide_factor(M):
    """``K = M^T V Lambda^{-1}`` from ``M M^T = V Lambda V^T``, for ``n < k``.

    ``M K = V`` on the training rows, and ``K K^T = (M^T M)^+`` for new rows
    and the label coefficients; only ``n x n`` and ``k x n`` arrays. Rank by
    numpy's ``matrix_rank`` rule on the singular values ``sqrt(Lambda)``.
    """
    eigval, eigvec = linalg.eigh(M @ M.T)
    sigma_max = np.sqrt(max(eigval[-1], 0.0))
    tol = max(M.shape) * np.finfo(float).eps * sigma_max
    keep = eigval > tol**2
    return M.T @ (eigvec[:, keep] / eigval[keep]), int(keep.sum())


# Preconditioned conjugate gradients stop when the normal-equation residual
# M^T (c - M beta) is this small relative to M^T c: about ten passes with
# the sketch's preconditioner.
_CG_TOLERANCE = 1e-12
_CG_MAX_ITER = 100


def _label_coefficients(rows, n_rows, n_model, precondition, block_size):
    """Coefficients of the label column ``c`` on the model part ``M``, sketched.

    Conjugate gradients on ``M^T M beta = M^T c``, preconditioned by the
    sketch's ``K K^T`` (an approximation of ``(M^T M)^+``): one pass over the
    rows per iteration, and convergence however far the sketch's distortion
    is from 1, where a plain preconditioned iteration diverges once it
    exceeds 2. (The exact factor needs no iteration but the two projections
    that restore the digits one loses, done by the caller.)
    """

    def normal_product(vector, with_label):
        out = np.zeros(n_model)
        for start, stop in row_blocks(n_rows, block_size):
            block = rows(start, stop)
            M = block[:, :n_model]
            out += M.T @ ((block[:, n_model] if with_label else 0.0) - M @ vector)
        return out

    beta = np.zeros(n_model)
    residual = normal_product(beta, True)
    target = np.linalg.norm(residual)
    step = precondition @ (precondition.T @ residual)
    direction, rz = step, residual @ step
    for _ in range(_CG_MAX_ITER):
        if not np.linalg.norm(residual) > _CG_TOLERANCE * target or rz <= 0:
            break
        product = -normal_product(direction, False)  # M^T M direction
        curvature = direction @ product
        if not curvature > 0:
            break
        alpha = rz / curvature
        beta += alpha * direction
        residual -= alpha * product
        step = precondition @ (precondition.T @ residual)
        rz, rz_old = residual @ step, rz
        direction = step + (rz / rz_old) * direction
    return beta


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
            scaled = basis.model_part(M)
            projected = scaled @ basis.K
            out = parts[first - start : last - start]
            out[:, _LEVERAGE] = np.einsum("ij,ij->i", projected, projected)
            out[:, _MODEL_SQ] = np.einsum("ij,ij->i", M, M)
            if labelled and basis.labelled:
                c = block[:, n_model]
                out[:, _RESIDUAL] = (c - scaled @ basis.beta) ** 2
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
    # Sketched leverage is biased up by a common factor (about
    # r1 / (r1 - k) for a sketch of r1 rows); rescaling the training total to
    # the rank removes it and leaves exact leverage as it is.
    model = parts[:, _LEVERAGE] * (basis.rank / totals[_LEVERAGE])
    if not basis.has_residual:
        return model / basis.rank
    residual = residual_sq / totals[_RESIDUAL]
    if score == "leverage":
        return (model + residual) / (basis.rank + 1)
    # "balanced": the estimator's constraints admit no other name.
    return (model / basis.rank + residual) / 2
