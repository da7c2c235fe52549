"""Leverage and row-norm scores of tall matrices, in row blocks.

Leverage of row ``i`` is ``||U_i||^2`` for an orthonormal basis ``U`` of the
column space. Householder QR gives ``U`` stably but slowly on tall, skinny
matrices (its panels are matrix-vector work). Here every pass over ``F`` is a
matrix-matrix product on a block of rows, and ``U`` is never stored:

1. One pass forms the Gram matrix ``G = F^T F`` (plus ``ridge * I``).
2. Columns are equilibrated (leverage does not change under column scaling),
   and ``G`` is diagonalised. If its condition number is at most
   ``_DIRECT_COND`` the factor ``K = D V Lambda^(-1/2)`` is already accurate:
   leverage is ``||f_i K||^2`` with relative error about ``cond(G) * eps``.
3. Otherwise, if ``cond(G) <= _REFINE_COND``, ``A = F K`` is nearly
   orthonormal and one more Gram pass over ``A`` corrects ``K`` to full
   accuracy (the idea of CholeskyQR2).
4. Otherwise (rank-deficient or very ill-conditioned), a Householder QR of
   stacked row blocks gives the ``R`` factor stably and an SVD of ``R`` reveals
   the rank with numpy's ``matrix_rank`` tolerance.

Extra memory is ``O(n_columns**2 + block_size * n_columns)``: no ``n x n`` and
no ``n x k`` matrix is ever formed.
"""

import numbers

import numpy as np
from scipy import linalg

from sknlis._validation import check_block_size, check_matrix, row_blocks

__all__ = ["leverage_scores", "norm_scores"]

# Leverage from one Gram has relative error about cond(G) * eps.
_DIRECT_COND = 1e4
# CholeskyQR2 restores full accuracy while cond(G) * eps << 1.
_REFINE_COND = 1e12


def _gram(rows, n_rows, n_columns, block_size, K=None):
    """``sum_b (F_b K)^T (F_b K)`` over row blocks (``K=None`` means identity)."""
    width = n_columns if K is None else K.shape[1]
    G = np.zeros((width, width))
    for start, stop in row_blocks(n_rows, block_size):
        block = rows(start, stop)
        if K is not None:
            block = block @ K
        # Overflow is detected (and repaired) by the caller.
        with np.errstate(over="ignore", invalid="ignore"):
            G += block.T @ block
    return G


def _stacked_r(rows, n_rows, n_columns, block_size, scale, extra_rows):
    """R factor of ``[F D; extra_rows]`` by Householder QR of stacked blocks."""
    R = np.zeros((0, n_columns))
    for start, stop in row_blocks(n_rows, block_size):
        stacked = np.vstack([R, rows(start, stop) * scale])
        R = linalg.qr(stacked, mode="r", check_finite=False)[0][:n_columns]
    if extra_rows is not None:
        R = linalg.qr(np.vstack([R, extra_rows]), mode="r", check_finite=False)[0]
    return R[:n_columns]


def leverage_factor(rows, n_rows, n_columns, *, ridge=0.0, block_size=None):
    """Factor ``K`` with leverage ``h_i = ||f_i K||^2`` and the rank it spans.

    ``rows(start, stop)`` returns rows ``start:stop`` of ``F`` as float64. It
    is called two or three times per block, so a matrix that is expensive to
    hold (a wide dual matrix) can be recomputed block by block instead.

    Returns ``(K, rank)``. Without ridge, ``h_i`` is the diagonal of the
    orthogonal projector ``F F^+`` and sums to ``rank``; with ridge ``lambda``
    it is ``f_i^T (F^T F + lambda I)^{-1} f_i`` and ``rank`` is ``n_columns``.
    """
    block_size = check_block_size(block_size, n_columns)
    G = _gram(rows, n_rows, n_columns, block_size)
    if not np.all(np.isfinite(G)):
        scale = _column_max_abs(rows, n_rows, n_columns, block_size)
        if not np.all(np.isfinite(scale)):
            raise ValueError("F contains NaN or infinity: leverage is undefined.")
        # F is finite, so the squares overflowed: rescale the columns.
        scale = np.where(scale > 0, 1.0 / scale, 0.0)
        K, rank = leverage_factor(
            lambda a, b: rows(a, b) * scale,
            n_rows,
            n_columns,
            ridge=ridge,
            block_size=block_size,
        )
        return scale[:, None] * K, rank

    norms = np.sqrt(np.diag(G) + ridge)
    if not np.any(norms > 0):
        raise ValueError("F has no nonzero entry: its leverage scores are undefined.")
    # Zero columns span nothing; they get zero rows in K.
    D = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0)
    live = norms > 0
    G_live = (G + ridge * np.eye(n_columns))[np.ix_(live, live)]
    D_live = D[live]
    eigval, eigvec = linalg.eigh(D_live[:, None] * G_live * D_live)
    cond = eigval[-1] / eigval[0] if eigval[0] > 0 else np.inf

    K = np.zeros((n_columns, 0))
    if cond <= _REFINE_COND:
        K_live = D_live[:, None] * eigvec / np.sqrt(eigval)
        if cond > _DIRECT_COND:
            K_live = _refine(rows, n_rows, live, K_live, ridge, block_size)
        K = np.zeros((n_columns, K_live.shape[1]))
        K[live] = K_live
        return K, int(live.sum())

    extra = np.sqrt(ridge) * np.diag(D) if ridge > 0 else None
    R = _stacked_r(rows, n_rows, n_columns, block_size, D, extra)
    _, sing, Vt = linalg.svd(R, check_finite=False)
    if ridge > 0:
        rank = n_columns
    else:
        tol = sing[0] * max(n_rows, n_columns) * np.finfo(float).eps
        rank = int(np.sum(sing > tol))
    K = D[:, None] * (Vt[:rank].T / sing[:rank])
    return K, rank


def _refine(rows, n_rows, live, K, ridge, block_size):
    """One CholeskyQR2 step: re-orthonormalise ``A = F K`` from its own Gram."""
    full = np.zeros((live.shape[0], K.shape[1]))
    full[live] = K
    G_A = _gram(rows, n_rows, live.shape[0], block_size, full)
    if ridge > 0:
        G_A += ridge * K.T @ K
    eigval, eigvec = linalg.eigh(G_A)
    return K @ (eigvec / np.sqrt(eigval))


def _column_max_abs(rows, n_rows, n_columns, block_size):
    out = np.zeros(n_columns)
    for start, stop in row_blocks(n_rows, block_size):
        np.maximum(out, np.abs(rows(start, stop)).max(axis=0), out=out)
    return out


def row_norms_squared(rows, n_rows, n_columns, K=None, block_size=None):
    """``||f_i K||^2`` (or ``||f_i||^2``) for every row, in blocks."""
    block_size = check_block_size(block_size, n_columns)
    out = np.empty(n_rows)
    for start, stop in row_blocks(n_rows, block_size):
        block = rows(start, stop)
        if K is not None:
            block = block @ K
        out[start:stop] = np.einsum("ij,ij->i", block, block)
    return out


def _check_ridge(ridge):
    if (
        isinstance(ridge, bool)
        or not isinstance(ridge, numbers.Real)
        or not np.isfinite(ridge)
        or ridge < 0
    ):
        raise ValueError(f"ridge must be a finite number >= 0; got {ridge!r}.")
    return float(ridge)


def blocked_leverage_scores(rows, n_rows, n_columns, *, ridge=0.0, block_size=None):
    """:func:`leverage_scores` of the matrix whose rows ``rows(start, stop)`` gives."""
    ridge = _check_ridge(ridge)
    K, _ = leverage_factor(rows, n_rows, n_columns, ridge=ridge, block_size=block_size)
    scores = row_norms_squared(rows, n_rows, n_columns, K, block_size)
    # Without ridge the sum is the rank up to rounding (cond(F) * eps at most);
    # dividing by the computed sum makes the scores an exact probability vector.
    scores /= scores.sum()
    return scores


def blocked_norm_scores(rows, n_rows, n_columns, *, block_size=None):
    """:func:`norm_scores` of the matrix whose rows ``rows(start, stop)`` gives."""
    block_size = check_block_size(block_size, n_columns)
    max_abs = _column_max_abs(rows, n_rows, n_columns, block_size).max()
    if not np.isfinite(max_abs):
        raise ValueError("F contains NaN or infinity: its norm scores are undefined.")
    if max_abs == 0:
        raise ValueError("F has no nonzero entry: its norm scores are undefined.")
    # Dividing by the largest entry keeps the squares from overflowing.
    scores = row_norms_squared(
        lambda a, b: rows(a, b) / max_abs, n_rows, n_columns, None, block_size
    )
    scores /= scores.sum()
    return scores


def _array_rows(F):
    def rows(start, stop):
        return np.asarray(F[start:stop], dtype=np.float64)

    return rows


def leverage_scores(F, *, ridge=0.0, block_size=None):
    """Normalized leverage scores of the rows of ``F`` (Definition 3.3).

    ``tau_i = [F F^+]_ii / rank(F)``: the squared norm of row ``i`` of an
    orthonormal basis of the column space, divided by the rank, so the scores
    sum to 1. The rank is decided, as by :func:`numpy.linalg.matrix_rank`, on
    singular values above ``max(n, k) * eps * sigma_max`` after the columns are
    scaled to unit norm, which makes the scores exactly invariant to column
    scaling.

    Parameters
    ----------
    F : array-like of shape (n_samples, n_columns)
        Any matrix: a data matrix, or a dual matrix ``adjoint_matrix_``.
    ridge : float, default=0.0
        With ``ridge > 0``, ridge leverage
        ``tau_i proportional to f_i^T (F^T F + ridge I)^{-1} f_i``, normalized to
        sum 1. It is defined when ``n_samples < n_columns`` too and shrinks the
        influence of directions that few rows span.
    block_size : int, default=None
        Rows per block. Default: about 16 MiB of float64 per block.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        Non-negative, summing to 1.

    See Also
    --------
    norm_scores : The cheaper row-norm scores.

    Notes
    -----
    Extra memory is ``O(n_columns**2 + block_size * n_columns)``. Well-
    conditioned matrices take two passes of matrix-matrix products; the rest
    take one or two more (see the module's notes).

    Examples
    --------
    >>> import numpy as np
    >>> from sknlis import leverage_scores
    >>> F = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    >>> leverage_scores(F).round(3)
    array([0.5 , 0.25, 0.25])
    """
    ridge = _check_ridge(ridge)
    F = check_matrix(F)
    return blocked_leverage_scores(
        _array_rows(F), *F.shape, ridge=ridge, block_size=block_size
    )


def norm_scores(F, *, block_size=None):
    """Normalized row-norm scores ``||f_i||^2 / ||F||_F^2`` (Definition 3.4).

    Parameters
    ----------
    F : array-like of shape (n_samples, n_columns)
    block_size : int, default=None
        Rows per block.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        Non-negative, summing to 1.

    Examples
    --------
    >>> import numpy as np
    >>> from sknlis import norm_scores
    >>> norm_scores(np.array([[3.0, 4.0], [0.0, 0.0], [0.0, 5.0]]))
    array([0.5, 0. , 0.5])
    """
    F = check_matrix(F)
    return blocked_norm_scores(_array_rows(F), *F.shape, block_size=block_size)
