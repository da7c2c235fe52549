"""Leverage and row-norm scores of tall matrices, in row blocks.

Leverage of row ``i`` is ``||U_i||^2`` for an orthonormal basis ``U`` of the
column space. Householder QR gives ``U`` stably but slowly on tall, skinny
matrices (its panels are matrix-vector work). Here every pass over ``F`` is a
matrix-matrix product on a block of rows, and ``U`` is never stored: only a
small factor ``K`` with ``U = F K``.

1. One pass forms the Gram matrix ``G = F^T F``. Columns are equilibrated
   (leverage does not change under column scaling) and ``G`` is
   diagonalised, ``G = V Lambda V^T``. If ``cond(G) <= _DIRECT_COND``,
   ``K = V Lambda^(-1/2)`` is accurate to about ``cond(G) * eps``.
2. Otherwise the eigenvalues split at ``_SPLIT * lambda_max``. Directions
   above it are resolved by ``G`` to ``eps / _SPLIT`` relative accuracy, so
   ``A = F V_big Lambda_big^(-1/2)`` is orthonormal to within that and one
   Gram pass over ``[A, C]``, ``C = F V_small``, makes it exact (the idea of
   CholeskyQR2). ``C`` minus its projection on ``A`` holds what ``G`` could
   not resolve; its own Gram (from the same pass, at its own scale) is
   treated the same way, recursively.
3. A direction whose singular value is at most ``max(n, k) * eps *
   sigma_max`` (numpy's ``matrix_rank`` rule, on the equilibrated matrix) is
   dropped: the rank is decided where it can be resolved.

Well-conditioned input takes two passes over ``F``, ill-conditioned or
rank-deficient input one more per level of the recursion (usually one).
Extra memory is ``O(n_columns**2 + block_size * n_columns)``: no ``n x n``
and no ``n x k`` matrix is ever formed.
"""

import numbers

import numpy as np
from scipy import linalg

from sknlis._validation import check_block_size, check_matrix, row_blocks

__all__ = ["leverage_scores", "norm_scores"]

# Leverage from one Gram has relative error about cond(G) * eps.
_DIRECT_COND = 1e4
# Eigenvalues of G above this fraction of the largest are accurate to
# eps / _SPLIT relative: enough to precondition for one corrective pass.
_SPLIT = 1e-8
# Column squared norms below this have lost digits to underflow.
_SQUARE_UNDERFLOW = 1e-280


def _gram(rows, n_rows, n_columns, block_size, K=None, extra=None):
    """``(F K)^T (F K) + (E K)^T (E K)`` over row blocks (no ``K``: identity)."""
    width = n_columns if K is None else K.shape[1]
    G = np.zeros((width, width))
    # Overflow and non-finite input are detected (and handled) by the caller.
    with np.errstate(over="ignore", invalid="ignore"):
        for start, stop in row_blocks(n_rows, block_size):
            block = rows(start, stop)
            if K is not None:
                block = block @ K
            G += block.T @ block
    if extra is not None:
        extra_K = extra if K is None else extra @ K
        G += extra_K.T @ extra_K
    return G


def leverage_factor(rows, n_rows, n_columns, *, ridge=0.0, block_size=None):
    """Factor ``K`` with leverage ``h_i = ||f_i K||^2`` and the rank it spans.

    ``rows(start, stop)`` returns rows ``start:stop`` of ``F`` as float64. It
    is called two to four times per block, so a matrix that is expensive to
    hold (a wide dual matrix) can be recomputed block by block instead.

    Returns ``(K, rank)``. Without ridge, ``h_i`` is the diagonal of the
    orthogonal projector ``F F^+`` and sums to ``rank``; with ridge ``lambda``
    it is ``f_i^T (F^T F + lambda I)^{-1} f_i``, the leverage of ``F``'s rows
    in the augmented matrix ``[F; sqrt(lambda) I]``.
    """
    block_size = check_block_size(block_size, n_columns)
    G = _gram(rows, n_rows, n_columns, block_size)
    ridge_diag = np.full(n_columns, float(ridge))
    scale = None
    if not np.all(np.isfinite(G)) or np.any(np.diag(G) < _SQUARE_UNDERFLOW):
        col_max = _column_max_abs(rows, n_rows, n_columns, block_size)
        if not np.all(np.isfinite(col_max)):
            raise ValueError("F contains NaN or infinity: leverage is undefined.")
        underflow = (np.diag(G) < _SQUARE_UNDERFLOW) & (col_max > 0)
        if not np.all(np.isfinite(G)) or np.any(underflow):
            # Squares overflowed or underflowed. Scale each column by its
            # largest entry and factor again: leverage does not change, and
            # the ridge becomes diag(ridge * scale**2) in these units.
            scale = np.divide(1.0, col_max, out=np.zeros(n_columns), where=col_max > 0)
            if ridge > 0:
                with np.errstate(over="ignore"):
                    # A column so small that the ridge swamps it adds nothing.
                    scale[~np.isfinite(ridge * scale**2)] = 0.0
                ridge_diag = ridge * scale**2
            unscaled = rows

            def rows(start, stop):
                return unscaled(start, stop) * scale

            G = _gram(rows, n_rows, n_columns, block_size)

    norms = np.sqrt(np.diag(G) + ridge_diag)
    if not np.any(norms > 0):
        raise ValueError("F has no nonzero entry: its leverage scores are undefined.")
    # Zero columns span nothing: they get zero rows in K.
    live = norms > 0
    D = np.eye(n_columns)[:, live] / norms[live]
    extra = np.diag(np.sqrt(ridge_diag)) if ridge > 0 else None
    G_scaled = D.T @ G @ D
    if extra is not None:
        G_scaled += (D.T * ridge_diag) @ D
    sigma_max = np.sqrt(linalg.eigvalsh(G_scaled)[-1])
    tol = max(n_rows, n_columns) * np.finfo(float).eps * sigma_max
    K, rank = _orthonormalizing_factor(
        rows, n_rows, block_size, D, G_scaled, extra, tol
    )
    return (K if scale is None else scale[:, None] * K), rank


def _orthonormalizing_factor(rows, n_rows, block_size, K, G, extra, tol):
    """``K_out`` such that ``F K_out`` is orthonormal and spans ``range(F K)``.

    ``G`` is the Gram matrix of ``F K`` (with the ridge rows ``extra``);
    directions with singular value at most ``tol`` are dropped.
    """
    eigval, eigvec = linalg.eigh(G)
    if eigval[-1] <= tol**2:
        return K[:, :0], 0
    if eigval[0] >= eigval[-1] / _DIRECT_COND:
        keep = eigval > tol**2
        return K @ (eigvec[:, keep] / np.sqrt(eigval[keep])), int(keep.sum())
    # Resolved and above the rank tolerance: deeper levels have small
    # eigenvalues, and noise there must not pass for a direction.
    big = (eigval > eigval[-1] * _SPLIT) & (eigval > tol**2)
    precondition = eigvec[:, big] / np.sqrt(eigval[big])
    small = eigvec[:, ~big]
    n_big = precondition.shape[1]
    both = K @ np.hstack([precondition, small])
    joint = _gram(rows, n_rows, K.shape[0], block_size, both, extra)
    G_AA, G_AC, G_CC = (
        joint[:n_big, :n_big],
        joint[:n_big, n_big:],
        joint[n_big:, n_big:],
    )
    eigval_A, eigvec_A = linalg.eigh(G_AA)
    K_A = K @ precondition @ (eigvec_A / np.sqrt(eigval_A))
    if not small.shape[1]:
        return K_A, n_big
    # C minus its projection on A: the part of range(F K) that G blurred.
    coefficients = linalg.solve(G_AA, G_AC, assume_a="pos")
    K_C = K @ (small - precondition @ coefficients)
    G_C = G_CC - G_AC.T @ coefficients
    K_rest, rank_rest = _orthonormalizing_factor(
        rows, n_rows, block_size, K_C, (G_C + G_C.T) / 2, extra, tol
    )
    return np.hstack([K_A, K_rest]), n_big + rank_rest


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
        Rows per block. Default: about 8 MiB of float64 per block.

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
