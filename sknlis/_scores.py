"""Leverage and row-norm scores, in row blocks.

Leverage of row ``i`` is ``||U_i||^2`` for an orthonormal basis ``U`` of the
column space. Three routes share one row-block interface (``rows(start,
stop)`` returns float64 rows), so a matrix that is expensive to hold, a wide
dual matrix, is recomputed block by block and never stored.

Exact, tall (``n >= k``)
    Householder QR gives ``U`` stably but slowly on tall, skinny matrices
    (its panels are matrix-vector work). Here every pass over ``F`` is a
    matrix-matrix product on a block of rows, and ``U`` is never stored: only
    a small factor ``K`` with ``U = F K``.

    1. One pass forms the Gram matrix ``G = F^T F``. Columns are equilibrated
       (leverage does not change under column scaling) and ``G`` is
       diagonalised, ``G = V Lambda V^T``. If ``cond(G) <= _DIRECT_COND``,
       ``K = V Lambda^(-1/2)`` is accurate to about ``cond(G) * eps``.
    2. Otherwise the eigenvalues split at ``_SPLIT * lambda_max``. Directions
       above it are resolved by ``G`` to ``eps / _SPLIT`` relative accuracy,
       so ``A = F V_big Lambda_big^(-1/2)`` is orthonormal to within that and
       one Gram pass over ``[A, C]``, ``C = F V_small``, makes it exact (the
       idea of CholeskyQR2). ``C`` minus its projection on ``A`` holds what
       ``G`` could not resolve; its own Gram (from the same pass, at its own
       scale) is treated the same way, recursively.
    3. A direction whose singular value is at most ``max(n, k) * eps *
       sigma_max`` (numpy's ``matrix_rank`` rule, on the equilibrated matrix)
       is dropped: the rank is decided where it can be resolved.

    Well-conditioned input takes two passes over ``F``, ill-conditioned or
    rank-deficient input one more per level of the recursion (usually one).
    Extra memory is ``O(k**2 + block_size * k)``.

Exact, wide (``n < k``)
    The ``n x n`` Gram ``F F^T`` is formed from pairs of row blocks; never a
    ``k x k`` one. Full row rank makes every leverage 1. If that Gram is
    ill-conditioned it cannot decide the rank (it resolves singular values
    only down to about ``sqrt(eps) * sigma_max``), so the equilibrated
    ``F^T`` is copied once and the rank is decided on the singular values of
    its Householder ``R`` (``n x n``). Ridge leverage uses the push-through
    identity ``F (F^T F + lambda I)^-1 F^T = G (G + lambda I)^-1``.

Sketched (Drineas, Magdon-Ismail, Mahoney & Woodruff, JMLR 2012)
    One pass applies a sparse sign embedding ``S`` (``r1 x n``, a few ``+-1``
    per row of ``F``) to every block and records the column maxima; ``K``
    comes from the equilibrated ``S F`` exactly as above (or from its
    Cholesky factor when it is well conditioned), and a second pass returns
    ``||f_i K Pi||^2`` for a Gaussian ``Pi`` with ``r2`` columns. Cost
    ``O(n k (nnz + r2) + r1 k^2 + k^3)`` instead of ``O(n k^2)``.

Scaling: columns are brought to unit size by powers of two (``ldexp``), which
are exact and representable even when ``1 / max|column|`` overflows.
"""

from numbers import Integral, Real

import numpy as np
from scipy import linalg
from scipy.linalg import blas
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from sknlis._embedding import (
    SKETCH_NONZEROS,
    factored_block_rows,
    sketch_dense,
    sketch_units,
    sparse_sign_block,
    unit_column_bound,
)
from sknlis._rows import (
    block_reader,
    is_lazy,
    map_rows,
    reduce_rows,
    transform_rows,
)
from sknlis._validation import (
    check_block_size,
    check_matrix,
    check_sketch_size,
    row_blocks,
    scratch_rows,
)

__all__ = ["leverage_scores", "norm_scores"]

# Leverage from one Gram has relative error about cond(G) * eps.
_DIRECT_COND = 1e4
# Eigenvalues of G above this fraction of the largest are accurate to
# eps / _SPLIT relative: enough to precondition for one corrective pass.
_SPLIT = 1e-8
# Column squared norms below this have lost digits to underflow.
_SQUARE_UNDERFLOW = 1e-280
# Column scalings 2**e with |e| above this are applied to the rows; smaller
# ones are folded into the factor, which they cannot overflow.
_FOLD_EXPONENT = 900
# Defaults chosen by benchmarks/bench_scores.py (sketch section): sketch rows
# per column of F, and Gaussian projections for the row norms.
_SKETCH_ROWS_PER_COLUMN = 1.5
_SKETCH_MARGIN = 1000
_DEFAULT_PROJECTIONS = 256
# The sketch's factor may carry this relative error (Cholesky's, about
# cond(G) k eps): its scores already differ from exact by a few percent (the
# embedding and the projections), which this does not visibly add to. Exact
# leverage instead takes Cholesky only below _DIRECT_COND.
_SKETCH_FACTOR_ERROR = 1e-3
# Projected scores may be computed in float32 when the estimated rounding,
# sqrt(k) eps32 cond(R), is below this, and every column scale is within
# 2**+-_SINGLE_EXPONENT (float32 spans 2**+-126).
_SINGLE_ERROR = 1e-2
_SINGLE_EXPONENT = 100
# "auto" sketches only when its estimated flops are below this fraction of
# the exact route's: the approximation must buy a large saving. The flop
# model undercounts the sketch's sparse pass and its second read of F:
# measured CPU ratios were 1.4-1.7x the model's (bench_scores.py), so 0.15
# here means about a quarter of the exact time.
_AUTO_RATIO = 0.15
# Each chunk's k x k Gram is kept (for its score total) up to this many bytes
# in all: 64 MiB is 17,000 chunks of a 22-column dual matrix.
_CHUNK_GRAMS_BYTES = 64 * 2**20


def _gram(rows, n_rows, n_columns, block_size, K=None, extra=None, per_chunk=False):
    """``(F K)^T (F K) + (E K)^T (E K)`` over row blocks (no ``K``: identity).

    ``per_chunk=True`` returns ``(G, grams)`` with each chunk's own Gram
    (without ``E``): see :func:`reduce_rows`.
    """
    width = n_columns if K is None else K.shape[1]

    def kernel(rows, start, stop):
        G = np.zeros((width, width))
        rows = block_reader(rows)
        for first, last in row_blocks(stop, block_size, start):
            block = rows(first, last)
            if K is not None:
                block = block @ K
            _add_gram(G, block)
        return _symmetrized(G)

    # Overflow and non-finite input are detected (and handled) by the caller.
    with np.errstate(over="ignore", invalid="ignore"):
        G = reduce_rows(rows, n_rows, kernel, per_chunk=per_chunk)
    if per_chunk:
        G, grams = G
    if extra is not None:
        extra_K = extra if K is None else extra @ K
        # Not in place: G may be a chunk's own Gram.
        G = G + extra_K.T @ extra_K
    return (G, grams) if per_chunk else G


def _add_gram(G, block):
    """``G += block^T block`` on the upper triangle, in place.

    BLAS ``syrk`` accumulates into ``G``: no ``k x k`` temporary per block.
    Both transposes are the Fortran-ordered views BLAS takes without a copy.
    """
    block = np.asarray(block, dtype=np.float64)
    if not block.flags.c_contiguous:
        block = np.ascontiguousarray(block)
    blas.dsyrk(1.0, block.T, beta=1.0, c=G.T, lower=1, overwrite_c=1)


def _symmetrized(G):
    """``G`` with its lower triangle copied from the upper one, in place."""
    step = 512
    for start in range(step, len(G), step):
        stop = min(start + step, len(G))
        G[start:stop, :start] = G[:start, start:stop].T
    for start in range(0, len(G), step):
        stop = min(start + step, len(G))
        square = G[start:stop, start:stop]
        square[...] = np.triu(square) + np.triu(square, 1).T
    return G


def _exact_factor(rows, n_rows, n_columns, ridge, block_size, per_chunk=False):
    """``(K, rank, exponents)``: leverage ``||ldexp(f_i, exponents) K||^2``.

    ``exponents`` is None when the rows are used as they are. With
    ``per_chunk`` a fourth item is each chunk's Gram of the rows so scaled.
    """
    G = _gram(rows, n_rows, n_columns, block_size, per_chunk=per_chunk)
    if per_chunk:
        G, grams = G
    ridge_diag = np.full(n_columns, ridge)
    exponents = None
    if not np.all(np.isfinite(G)) or np.any(np.diag(G) < _SQUARE_UNDERFLOW):
        col_max = _column_max_abs(rows, n_rows, n_columns, block_size)
        underflow = (np.diag(G) < _SQUARE_UNDERFLOW) & (col_max > 0)
        if not np.all(np.isfinite(G)) or np.any(underflow):
            # Squares overflowed or underflowed. Scale each column to about 1
            # and factor again: leverage does not change, and the ridge
            # becomes diag(ridge * 4**exponents) in these units.
            exponents = _column_exponents(col_max)
            rows = _scaled_rows(rows, exponents)
            ridge_diag = _scaled_ridge(ridge, exponents)
            G = _gram(rows, n_rows, n_columns, block_size, per_chunk=per_chunk)
            if per_chunk:
                G, grams = G
    live, norms = _live_columns(np.diag(G), ridge_diag)
    D = np.eye(n_columns)[:, live] / norms[live]
    extra = np.diag(np.sqrt(ridge_diag)) if ridge > 0 else None
    G_scaled = D.T @ G @ D
    if extra is not None:
        G_scaled += (D.T * ridge_diag) @ D
    K, rank = _orthonormalizing_factor(
        rows, n_rows, block_size, D, G_scaled, extra, m=n_rows
    )
    return (K, rank, exponents, grams) if per_chunk else (K, rank, exponents)


def _live_columns(squared_norms, ridge_diag):
    """Columns that carry leverage, and the norms that equilibrate them.

    ``ridge_diag`` is modified: a column so small that the ridge swamps it
    (its scaled ridge overflowed) adds nothing, and is dropped.
    """
    swamped = ~np.isfinite(ridge_diag)
    ridge_diag[swamped] = 0.0
    norms = np.sqrt(squared_norms + ridge_diag)
    if not np.any(norms > 0):
        raise ValueError("F has no nonzero entry: its leverage scores are undefined.")
    # Zero columns span nothing: they get zero rows in K.
    return (norms > 0) & ~swamped, norms


def leverage_factor(rows, n_rows, n_columns, *, ridge=0.0, block_size=None):
    """Factor ``K`` with leverage ``h_i = ||f_i K||^2`` and the rank it spans.

    ``rows(start, stop)`` returns rows ``start:stop`` of ``F`` as float64. It
    is called two to four times per block, so a matrix that is expensive to
    hold (a wide dual matrix) can be recomputed block by block instead.

    Returns ``(K, rank)``. Without ridge, ``h_i`` is the diagonal of the
    orthogonal projector ``F F^+`` and sums to ``rank``; with ridge ``lambda``
    it is ``f_i^T (F^T F + lambda I)^{-1} f_i``, the leverage of ``F``'s rows
    in the augmented matrix ``[F; sqrt(lambda) I]``.

    Raises ValueError when a column is so small (largest entry near the
    subnormal range) that ``K`` in ``F``'s own units would overflow;
    :func:`blocked_leverage_scores` has no such limit.
    """
    block_size = check_block_size(block_size, n_columns)
    K, rank, exponents = _exact_factor(
        rows, n_rows, n_columns, float(ridge), block_size
    )
    if exponents is None:
        return K, rank
    with np.errstate(over="ignore"):
        K = np.ldexp(K, exponents[:, None])
    if not np.all(np.isfinite(K)):
        raise ValueError(
            "F has a column so small (its largest entry near the subnormal "
            "range) that its leverage factor overflows in F's units. Rescale "
            "that column (leverage does not depend on column scaling)."
        )
    return K, rank


def _orthonormalizing_factor(rows, n_rows, block_size, K, G, extra, tol=None, m=None):
    """``K_out`` such that ``F K_out`` is orthonormal and spans ``range(F K)``.

    ``G`` is the Gram matrix of ``F K`` (with the ridge rows ``extra``);
    directions with singular value at most ``tol`` are dropped; by default
    ``tol = max(m, k) * eps * sigma_max`` (numpy's ``matrix_rank`` rule for an
    ``m x k`` matrix). ``K=None`` stands for the identity (saves ``k^3``
    products on a held sketch).
    """

    def times_K(M):
        return M if K is None else K @ M

    # MRRR: as fast as divide and conquer here, with O(k) workspace instead
    # of 2 k^2. G is always the caller's scratch; its Fortran-ordered
    # transpose is overwritten instead of copied (G is symmetric).
    eigval, eigvec = linalg.eigh(
        G.T, driver="evr", overwrite_a=True, check_finite=False
    )
    if tol is None:
        tol = max(m, len(G)) * np.finfo(float).eps * np.sqrt(max(eigval[-1], 0.0))
    if eigval[-1] <= tol**2:
        return times_K(np.zeros((len(G), 0))), 0
    if eigval[0] >= eigval[-1] / _DIRECT_COND:
        keep = eigval > tol**2
        return times_K(eigvec[:, keep] / np.sqrt(eigval[keep])), int(keep.sum())
    # Resolved and above the rank tolerance: deeper levels have small
    # eigenvalues, and noise there must not pass for a direction.
    # The eigenvalues ascend: the big ones are the last columns, scaled in
    # place, so that eigvec is [small, precondition] without a k x k copy.
    n_small = int(np.sum((eigval <= eigval[-1] * _SPLIT) | (eigval <= tol**2)))
    eigvec[:, n_small:] /= np.sqrt(eigval[n_small:])
    small, precondition = eigvec[:, :n_small], eigvec[:, n_small:]
    n_big = precondition.shape[1]
    joint = _gram(rows, n_rows, len(G), block_size, times_K(eigvec), extra)
    G_CC, G_AC, G_AA = (
        joint[:n_small, :n_small],
        joint[n_small:, :n_small],
        joint[n_small:, n_small:],
    )
    # G_AA = I + O(eps / _SPLIT): its Cholesky factor finishes the job
    # (CholeskyQR2) at a fraction of an eigensolver's cost.
    R_A = linalg.cholesky(G_AA, check_finite=False)
    K_A = times_K(
        linalg.solve_triangular(R_A, precondition.T, trans="T", check_finite=False).T
    )
    if not small.shape[1]:
        return K_A, n_big
    # C minus its projection on A: the part of range(F K) that G blurred.
    coefficients = linalg.cho_solve((R_A, False), G_AC, check_finite=False)
    K_C = times_K(small - precondition @ coefficients)
    G_C = G_CC - G_AC.T @ coefficients
    K_rest, rank_rest = _orthonormalizing_factor(
        rows, n_rows, block_size, K_C, (G_C + G_C.T) / 2, extra, tol
    )
    return np.hstack([K_A, K_rest]), n_big + rank_rest


def _column_max_abs(rows, n_rows, n_columns, block_size):
    """Largest magnitude in each column; raises on NaN or infinity."""

    def kernel(rows, start, stop):
        out = np.zeros(n_columns)
        rows = block_reader(rows)
        for first, last in row_blocks(stop, block_size, start):
            block = rows(first, last)
            # No |block| temporary: the largest and the negated smallest entry.
            np.maximum(out, block.max(axis=0), out=out)
            np.maximum(out, -block.min(axis=0), out=out)
        return out

    out = reduce_rows(rows, n_rows, kernel, np.maximum)
    if not np.all(np.isfinite(out)):
        # Row callables (dual matrices computed on the fly) skip array checks.
        raise ValueError("F contains NaN or infinity: its scores are undefined.")
    return out


def _column_exponents(col_max):
    """Integers ``e`` with ``col_max * 2**e`` in ``[0.5, 1)`` (0 for zeros).

    Powers of two scale exactly, and ``np.ldexp`` applies them even where
    ``2**e`` itself (or ``1 / col_max``, for a subnormal column) overflows.
    """
    return np.where(col_max > 0, -np.frexp(col_max)[1], 0)


def _scaled_rows(rows, exponents):
    return transform_rows(
        rows, lambda block, out=None: np.ldexp(block, exponents, out=out)
    )


def _scaled_ridge(ridge, exponents):
    """``ridge * 4**exponents`` (inf where it overflows)."""
    with np.errstate(over="ignore"):
        return np.ldexp(np.full(len(exponents), ridge), 2 * exponents)


def row_norms_squared(rows, n_rows, n_columns, K=None, block_size=None):
    """``||f_i K||^2`` (or ``||f_i||^2``) for every row, in blocks."""
    block_size = check_block_size(block_size, n_columns)

    def kernel(rows, start, stop):
        out = np.empty(stop - start)
        rows = block_reader(rows)
        for first, last in row_blocks(stop, block_size, start):
            norms = out[first - start : last - start]
            block = rows(first, last)
            if K is None:
                np.einsum("ij,ij->i", block, block, out=norms)
            else:
                _projected_norms(block, K, norms)
        return out

    return map_rows(rows, n_rows, kernel)


def _projected_norms(block, K, out):
    """``out[i] = ||block_i K||^2``, a few rows at a time.

    The product of each piece goes to one small buffer (reused), not to a
    block-sized temporary. A float32 ``K`` (a safe projection) takes the
    rows converted to float32, piece by piece too.
    """
    step = max(1, min(scratch_rows(max(block.shape[1], K.shape[1])), block.shape[0]))
    product = np.empty((step, K.shape[1]), dtype=K.dtype)
    cast = None if block.dtype == K.dtype else np.empty((step, block.shape[1]), K.dtype)
    for start, stop in row_blocks(block.shape[0], step):
        rows = block[start:stop]
        if cast is not None:
            rows = cast[: stop - start]
            np.copyto(rows, block[start:stop], casting="same_kind")
        piece = np.matmul(rows, K, out=product[: stop - start])
        np.einsum("ij,ij->i", piece, piece, out=out[start:stop])


# ----------------------------------------------------------------------------
# Wide matrices: the n x n side
# ----------------------------------------------------------------------------


def _row_gram(rows, n_rows, block_size):
    """``F F^T`` from pairs of row blocks (``n x n``; ``F`` is never held)."""
    G = np.empty((n_rows, n_rows))
    blocks = list(row_blocks(n_rows, block_size))
    for i, (start, stop) in enumerate(blocks):
        block = rows(start, stop)
        G[start:stop, start:stop] = block @ block.T
        for other_start, other_stop in blocks[:i]:
            cross = block @ rows(other_start, other_stop).T
            G[start:stop, other_start:other_stop] = cross
            G[other_start:other_stop, start:stop] = cross.T
    return G


def _wide_leverage(rows, n_rows, n_columns, ridge, block_size):
    """Unnormalized (ridge) leverage of a matrix with fewer rows than columns."""
    col_max = _column_max_abs(rows, n_rows, n_columns, block_size)
    if not np.any(col_max > 0):
        raise ValueError("F has no nonzero entry: its leverage scores are undefined.")
    if ridge > 0:
        # The push-through identity needs the ridge to stay a multiple of I:
        # one power of two for all columns.
        exponent = _column_exponents(col_max[[col_max.argmax()]])
        scaled = _scaled_rows(rows, exponent)
        eigval, eigvec = linalg.eigh(_row_gram(scaled, n_rows, block_size))
        return (eigvec**2) @ _ridge_weights(eigval, _scaled_ridge(ridge, exponent)[0])
    scaled = _scaled_rows(rows, _column_exponents(col_max))
    norms = np.zeros(n_columns)
    for start, stop in row_blocks(n_rows, block_size):
        block = scaled(start, stop)
        norms += np.einsum("ij,ij->j", block, block)
    norms = np.sqrt(norms)
    weights = np.divide(1.0, norms, out=np.zeros(n_columns), where=norms > 0)

    def equilibrated(start, stop):
        block = scaled(start, stop)  # a new array: scaled in place
        block *= weights
        return block

    eigval, eigvec = linalg.eigh(_row_gram(equilibrated, n_rows, block_size))
    if eigval[0] >= eigval[-1] / _DIRECT_COND:
        return np.einsum("ij,ij->i", eigvec, eigvec)
    # Decide the rank on singular values of F^T's R factor (F^T = Q R, so
    # F = R^T Q^T and F's left singular vectors are R's right ones).
    copy = np.empty((n_rows, n_columns))
    for start, stop in row_blocks(n_rows, block_size):
        copy[start:stop] = equilibrated(start, stop)
    R = linalg.qr(copy.T, mode="r", overwrite_a=True, check_finite=False)[0]
    _, sing, Vt = linalg.svd(R[:n_rows], check_finite=False)
    keep = sing > max(n_rows, n_columns) * np.finfo(float).eps * sing[0]
    return np.einsum("ij,ij->j", Vt[keep], Vt[keep])


def _ridge_weights(eigval, ridge):
    """``lambda_j / (lambda_j + ridge)``, up to a common factor, overflow-free."""
    mu = np.clip(eigval / eigval[-1], 0.0, None)
    rho = ridge / eigval[-1]
    if rho > 1:
        # Large (even infinite) ridge: the weights tend to mu (norm scores).
        return mu / (mu / rho + 1.0)
    return np.divide(mu * (1.0 + rho), mu + rho, out=np.zeros_like(mu), where=mu > 0)


# ----------------------------------------------------------------------------
# Sketched leverage
# ----------------------------------------------------------------------------


def _sketch_pass(rows, n_rows, n_columns, block_size, seed, n_groups):
    """``(S F, column maxima)`` in one pass over the rows.

    A source with a ``factors(start, stop)`` method (a two-layer network's
    dual matrix, :func:`sknlis._protocol.adjoint_rows`) is sketched from its
    factors, in blocks large enough for its per-bucket products; its column
    maxima are then bounds, which is all the column scaling needs.
    """
    factors = getattr(rows, "factors", None)
    # The factors give every column; such a source may keep only some (a
    # boolean mask over them).
    columns = getattr(rows, "columns", None)
    width = n_columns if columns is None else len(columns)
    if factors is not None:
        block_size = factored_block_rows(n_groups, block_size)

    def kernel(rows, start, stop):
        SF = np.zeros((SKETCH_NONZEROS * n_groups, width))
        col_max = np.zeros(width)
        for first, last in row_blocks(stop, block_size, start):
            embedding = sparse_sign_block(seed, first, last, n_groups)
            if factors is None:
                block = np.ascontiguousarray(rows(first, last))
                np.maximum(col_max, np.abs(block).max(axis=0), out=col_max)
                sketch_dense(SF, block, embedding)
            else:
                block = factors(first, last)
                np.maximum(col_max, unit_column_bound(block), out=col_max)
                sketch_units(SF, block, embedding)
        return SF, col_max

    # Non-finite input is detected from col_max by the caller.
    with np.errstate(over="ignore", invalid="ignore"):
        SF, col_max = reduce_rows(rows, n_rows, kernel, _add_and_max)
    if not np.all(np.isfinite(col_max)):
        raise ValueError("F contains NaN or infinity: its scores are undefined.")
    if factors is not None and columns is not None:
        return _kept_columns(SF, columns), col_max[columns]
    return SF, col_max


def _kept_columns(A, columns):
    """``A[:, columns]`` for a boolean mask ``columns``, in ``A``'s own memory.

    Row ``i`` moves to offset ``i * width``, never past its own start or
    into a row not yet read: no second copy of the sketch.
    """
    flat, width = A.reshape(-1), int(np.count_nonzero(columns))
    for i in range(A.shape[0]):
        flat[i * width : (i + 1) * width] = A[i, columns]
    return flat[: A.shape[0] * width].reshape(A.shape[0], width)


def _add_and_max(first, second):
    return first[0] + second[0], np.maximum(first[1], second[1])


def _sketch_factor(sketch, extra, n_rows):
    """``(K, rank, rcond)``: ``[A; extra] K`` orthonormal, its rank (rule of
    §4), and the reciprocal condition of the Gram that Cholesky factored (0
    on the rank-revealing route).

    ``sketch`` is a one-item list holding ``A``, so that this function can
    drop the last reference to it. A Gram that Cholesky resolves to
    ``_SKETCH_FACTOR_ERROR`` is factored by it (``K = R^-1``, every direction
    kept, as the eigen route would), in place, and the sketch is dropped
    before ``R^-1`` is formed: at ``k = 5,202`` each ``k x k`` array is
    216 MB, and this route holds one besides the sketch. Otherwise the
    exact route's rank-revealing factor is applied to the sketch, which is
    held.
    """
    A = sketch[0]

    def gram():
        G = A.T @ A
        if extra is not None:
            G += extra.T @ extra
        return G

    G = gram()
    norm = linalg.lapack.dlange("1", G.T)  # without a k x k |G|
    # G is symmetric: its transpose is the Fortran-ordered array LAPACK
    # factors in place (a C-ordered one would be copied).
    R, info = linalg.lapack.dpotrf(G.T, lower=False, overwrite_a=True)
    if info == 0:
        rcond, _ = linalg.lapack.dpocon(R, norm)
        if rcond >= len(R) * np.finfo(float).eps / _SKETCH_FACTOR_ERROR:
            sketch.clear()
            del A
            # R^-1 in place of R. dpotrf left a positive diagonal, so dtrtri
            # cannot fail, and it leaves the zeroed lower triangle alone.
            R_inv, _ = linalg.lapack.dtrtri(R, lower=False, overwrite_c=True)
            return R_inv, len(R_inv), rcond
    # Cholesky overwrote G: the rank-revealing route needs it again.
    del R, G
    K, rank = _orthonormalizing_factor(
        _array_rows(A),
        A.shape[0],
        check_block_size(None, A.shape[1]),
        None,
        gram(),
        extra,
        m=n_rows,
    )
    return K, rank, 0.0


def sketched_factors(
    rows,
    n_rows,
    n_columns,
    *,
    ridge=0.0,
    sketch_size,
    n_projections,
    block_size,
    rng,
    full=True,
    single=False,
):
    """Factors of the sketched leverage: ``(K_full, K, rank, rows)``.

    ``K_full`` orthonormalizes the sketch (``||f K_full||^2`` is the
    leverage up to the embedding's distortion, and ``K_full K_full^T``
    approximates ``(F^T F)^+``); ``K`` is ``K_full`` times a
    Johnson-Lindenstrauss projection, so ``||f K||^2`` estimates the same
    leverage in ``O(k n_projections)`` per row. Both apply to the returned
    ``rows``, which are ``rows`` rescaled only when the column scales are too
    far apart to fold into the factors. ``full=False`` returns ``None`` for
    ``K_full`` when ``K`` is projected, which saves a ``k x k`` array.
    ``single=True`` returns a projected ``K`` in float32 when that is safe
    (:func:`_single_is_safe`): the rows are then projected in float32.
    """
    n_groups = -(-sketch_size // SKETCH_NONZEROS)
    seed = np.uint64(rng.randint(np.iinfo(np.int64).max, dtype=np.int64))
    SF, col_max = _sketch_pass(rows, n_rows, n_columns, block_size, seed, n_groups)
    exponents = _column_exponents(col_max)
    if np.abs(exponents).max() > _FOLD_EXPONENT:
        # Folding 2**e into the factor could overflow it: scale the rows.
        rows = _scaled_rows(rows, exponents)
        del SF
        SF, _ = _sketch_pass(rows, n_rows, n_columns, block_size, seed, n_groups)
        fold = None
    else:
        np.ldexp(SF, exponents, out=SF)
        fold = exponents
    ridge_diag = _scaled_ridge(ridge, exponents)
    live, norms = _live_columns(np.einsum("ij,ij->j", SF, SF), ridge_diag)
    if np.all(live):
        A = SF  # equilibrated in place: the sketch is the largest array held
        A /= norms
    else:
        A = SF[:, live] / norms[live]
    del SF
    extra = np.diag(np.sqrt(ridge_diag[live]) / norms[live]) if ridge > 0 else None
    projected = None
    if n_projections < A.shape[1]:
        # Johnson-Lindenstrauss: ||f K P||^2 estimates ||f K||^2 without bias
        # for a Gaussian P. P = W^T Pi with W = [A; extra] K orthonormal and
        # Pi Gaussian on the sketch's rows is one, and unlike a P drawn in
        # K's own basis (which eigh picks arbitrarily within clusters of
        # eigenvalues), it gives the same scores for the same sketch. A^T Pi
        # is formed first, so that the sketch can go before K is.
        Pi = rng.standard_normal((A.shape[0], n_projections))
        projected = A.T @ Pi
        if extra is not None:
            Pi_extra = rng.standard_normal((extra.shape[0], n_projections))
            projected += extra.T @ Pi_extra
        del Pi
    sketch = [A]
    del A
    K_live, rank, rcond = _sketch_factor(sketch, extra, n_rows)
    del sketch
    K_projected = K_live
    if projected is not None and n_projections < rank:
        K_projected = K_live @ (K_live.T @ projected) / np.sqrt(n_projections)

    def unscaled(K_part):
        if np.all(live):
            K = K_part  # a factor of our own: rescaled in place
            K /= norms[:, None]
        else:
            K = np.zeros((n_columns, K_part.shape[1]))
            K[live] = K_part / norms[live][:, None]
        return K if fold is None else np.ldexp(K, fold[:, None], out=K)

    if K_projected is K_live:
        K_full = unscaled(K_live)
        return K_full, K_full, rank, rows
    K_projected = unscaled(K_projected)
    if single and _single_is_safe(rcond, rank, fold):
        K_projected = K_projected.astype(np.float32)
    return (unscaled(K_live) if full else None), K_projected, rank, rows


def _single_is_safe(rcond, rank, fold):
    """Whether projecting in float32 keeps the scores' rounding below 1%.

    The projected scores already spread by ``sqrt(2 / n_projections)``
    (9% at 256) around the leverage; float32 products add about
    ``sqrt(k) eps32 cond(R)``, ``cond(R) = rcond**-1/2`` for the Cholesky
    factor of the equilibrated sketch's Gram (measured: 1e-4 at most on a
    two-layer dual matrix with rcond 2e-7). Float32 halves the projection's
    cost, its largest. Column scales folded into the factor must stay far
    inside float32's range; the rank-revealing route (rcond 0) never does
    this.
    """
    eps32 = float(np.finfo(np.float32).eps)
    return (
        fold is not None
        and np.abs(fold).max() <= _SINGLE_EXPONENT
        and rcond >= rank * eps32**2 / _SINGLE_ERROR**2
    )


def _sketch_leverage(
    rows, n_rows, n_columns, ridge, sketch_size, n_projections, block_size, rng
):
    """Unnormalized sketched (ridge) leverage; see the module's notes."""
    _, K, _, rows = sketched_factors(
        rows,
        n_rows,
        n_columns,
        ridge=ridge,
        sketch_size=sketch_size,
        n_projections=n_projections,
        block_size=block_size,
        rng=rng,
        full=False,
        single=True,
    )
    return row_norms_squared(rows, n_rows, n_columns, K, block_size)


def leverage_plan(method, n_rows, n_columns, sketch_size=None, n_projections=None):
    """``(method, sketch_size, n_projections)`` with the defaults filled in.

    ``"auto"`` becomes ``"exact"`` or ``"sketch"`` by estimated cost; the
    resampler and the detector make the same choice through this function.
    """
    sketch_size, n_projections = _sketch_defaults(n_columns, sketch_size, n_projections)
    check_sketch_size(sketch_size, n_columns)
    if method == "auto":
        method = _choose_method(n_rows, n_columns, sketch_size, n_projections)
    return method, sketch_size, n_projections


def _sketch_defaults(n_columns, sketch_size, n_projections):
    if sketch_size is None:
        # Per-row distortion has relative spread about sqrt(2 / (r1 - k)):
        # the margin over k keeps it below the projections' for small k.
        sketch_size = int(_SKETCH_ROWS_PER_COLUMN * n_columns) + _SKETCH_MARGIN
    if n_projections is None:
        n_projections = _DEFAULT_PROJECTIONS
    return sketch_size, n_projections


def _choose_method(n_rows, n_columns, sketch_size, n_projections):
    """``"exact"`` or ``"sketch"`` by estimated flops (``"auto"``).

    Exact: a Gram pass and a scoring pass, ``4 n k^2``. Sketch: the
    embedding and the projected norms, ``2 n k (nnz + r2)``, plus the Gram of
    the sketch, ``2 r1 k^2``. The ``k^3`` eigensolve is common to both.
    """
    exact = 4.0 * n_rows * n_columns**2
    sketch = (
        2.0 * n_rows * n_columns * (SKETCH_NONZEROS + min(n_projections, n_columns))
        + 2.0 * sketch_size * n_columns**2
    )
    return "sketch" if sketch <= _AUTO_RATIO * exact else "exact"


_LEVERAGE_PARAMETERS = {
    "method": [StrOptions({"auto", "exact", "sketch"})],
    "ridge": [Interval(Real, 0, None, closed="left")],
    "sketch_size": [Interval(Integral, 1, None, closed="left"), None],
    "n_projections": [Interval(Integral, 1, None, closed="left"), None],
    "block_size": [Interval(Integral, 1, None, closed="left"), None],
    "random_state": ["random_state"],
}


@validate_params(
    {
        "rows": [callable],
        "n_rows": [Interval(Integral, 1, None, closed="left")],
        "n_columns": [Interval(Integral, 1, None, closed="left")],
        **_LEVERAGE_PARAMETERS,
        "normalize": ["boolean"],
        "chunk_totals": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def blocked_leverage_scores(
    rows,
    n_rows,
    n_columns,
    *,
    method="auto",
    ridge=0.0,
    sketch_size=None,
    n_projections=None,
    block_size=None,
    random_state=None,
    normalize=True,
    chunk_totals=False,
):
    """:func:`leverage_scores` of the matrix whose rows ``rows(start, stop)`` gives.

    ``rows`` is called two to four times per block (exact) or twice
    (sketch), so the matrix is never held. ``rows`` may also be a chunked
    source (:mod:`sknlis._rows`): the scores are then a lazy Dask array.
    ``normalize=False`` returns them up to a common factor (a sampler that
    sums them per chunk anyway saves a pass).

    ``chunk_totals=True`` (with ``normalize=False``) returns ``(scores,
    totals)``: the sum of the scores over each chunk of a chunked source (one
    chunk in memory), without a pass of their own. The exact route keeps each
    chunk's Gram ``G_c`` from its Gram pass, and a chunk's scores
    ``||f_i K||^2`` sum to ``trace(K^T G_c K)``, to rounding that grows as
    ``cond(F)**2 * eps``: a caller checks them against the sums it meets
    later. ``totals`` is None when the route has no such identity (sketch,
    wide) or the chunks' Grams would take more than ``_CHUNK_GRAMS_BYTES``.
    """
    if chunk_totals and normalize:
        raise ValueError("chunk_totals=True needs normalize=False.")
    ridge = float(ridge)
    totals = None
    block_size = check_block_size(block_size, n_columns)
    if n_rows < n_columns:
        # The n x n side is cheaper than any sketch of the k x k one.
        scores = _wide_leverage(rows, n_rows, n_columns, ridge, block_size)
    else:
        method, sketch_size, n_projections = leverage_plan(
            method, n_rows, n_columns, sketch_size, n_projections
        )
        if method == "sketch":
            scores = _sketch_leverage(
                rows,
                n_rows,
                n_columns,
                ridge,
                sketch_size,
                n_projections,
                block_size,
                check_random_state(random_state),
            )
        else:
            n_chunks = len(getattr(rows, "chunks", (n_rows,)))
            per_chunk = (
                chunk_totals and 8 * n_chunks * n_columns**2 <= _CHUNK_GRAMS_BYTES
            )
            K, _, exponents, *grams = _exact_factor(
                rows, n_rows, n_columns, ridge, block_size, per_chunk
            )
            if exponents is not None:
                rows = _scaled_rows(rows, exponents)
            scores = row_norms_squared(rows, n_rows, n_columns, K, block_size)
            if per_chunk:
                totals = np.array([np.sum((G @ K) * K) for G in grams[0]])
    if chunk_totals:
        return scores, totals
    # Without ridge the sum is the rank up to rounding (cond(F) * eps at most);
    # dividing by the computed sum makes the scores an exact probability vector.
    return _normalized(scores) if normalize else scores


def blocked_norm_scores(rows, n_rows, n_columns, *, block_size=None, normalize=True):
    """:func:`norm_scores` of the matrix whose rows ``rows(start, stop)`` gives.

    ``normalize=False`` returns the squared row norms up to a common factor.
    """
    block_size = check_block_size(block_size, n_columns)
    max_abs = _column_max_abs(rows, n_rows, n_columns, block_size).max()
    if max_abs == 0:
        raise ValueError("F has no nonzero entry: its norm scores are undefined.")
    # Dividing by the largest entry keeps the squares from overflowing.
    scores = row_norms_squared(
        transform_rows(
            rows, lambda block, out=None: np.divide(block, max_abs, out=out)
        ),
        n_rows,
        n_columns,
        None,
        block_size,
    )
    return _normalized(scores) if normalize else scores


def _normalized(scores):
    """``scores / scores.sum()``: in place in memory, lazily on Dask."""
    if _in_memory(scores):
        scores /= scores.sum()
        return scores
    return scores / scores.sum()


def _matrix_rows(F):
    """``(rows, n_rows, n_columns)``: numpy blocks, or a Dask array's chunks.

    Neither is converted whole: blocks become float64 one at a time.
    """
    if is_lazy(F):
        from sknlis._dask import array_rows

        return array_rows(F)
    F = check_matrix(F)
    return _array_rows(F), *F.shape


def _in_memory(scores):
    return isinstance(scores, np.ndarray)


def _array_rows(F):
    def rows(start, stop):
        return np.asarray(F[start:stop], dtype=np.float64)

    return rows


@validate_params(
    {"F": ["array-like"], **_LEVERAGE_PARAMETERS},
    prefer_skip_nested_validation=True,
)
def leverage_scores(
    F,
    *,
    method="auto",
    ridge=0.0,
    sketch_size=None,
    n_projections=None,
    block_size=None,
    random_state=None,
):
    """Normalized leverage scores of the rows of ``F`` (Definition 3.3).

    ``tau_i = [F F^+]_ii / rank(F)``: the squared norm of row ``i`` of an
    orthonormal basis of the column space, divided by the rank, so the scores
    sum to 1. The rank is decided, as by :func:`numpy.linalg.matrix_rank`, on
    singular values above ``max(n, k) * eps * sigma_max`` after the columns are
    scaled to unit norm, which makes the scores exactly invariant to column
    scaling.

    Parameters
    ----------
    F : {array-like, dask.array.Array} of shape (n_samples, n_columns)
        Any matrix: a data matrix, or a dual matrix ``adjoint_matrix_``. A
        Dask array (chunked along its rows only) is scored chunk by chunk
        where it lives, and the scores are returned as a lazy Dask array.
    method : {"auto", "exact", "sketch"}, default="auto"
        How to compute the scores of a tall ``F`` (``n_samples >=
        n_columns``; a wide one is always exact, through its
        ``n_samples x n_samples`` Gram, which is cheaper than a sketch).

        - ``"exact"``: to rounding, in ``O(n_samples * n_columns**2)``.
        - ``"sketch"``: the fast approximation of Drineas et al. (2012): a
          sparse sign embedding of ``sketch_size`` rows, a rank-revealing
          factor of it, and ``n_projections`` Gaussian projections for the
          row norms, in ``O(n_samples * n_columns * (4 + n_projections) +
          sketch_size * n_columns**2)``. The scores are random (see
          ``random_state``). With the defaults, measured on two-layer dual
          matrices and on random, coherent and rank-deficient matrices
          (``benchmarks/bench_scores.py``): total-variation distance to the
          exact scores 0.037-0.039 (0.051 with 128 projections, 0.014-0.030
          with 512), and every row within ``[0.5, 2]`` times its exact
          score. At ``n_samples = 10**6`` and ``n_columns = 5,202`` (a
          two-layer network with 100 hidden units on 50 features) it took
          about 0.04x the exact time. Sampling stays unbiased (the
          weights use the scores actually drawn from); only its variance
          grows, by at most the worst ratio.
        - ``"auto"``: ``"sketch"`` when its estimated cost is below about a
          quarter of the exact one, which needs ``n_columns`` of at least
          about 900 with the defaults and ``n_samples`` several times
          ``sketch_size``; ``"exact"`` otherwise, so small matrices get exact
          scores.
    ridge : float, default=0.0
        With ``ridge > 0``, ridge leverage
        ``tau_i proportional to f_i^T (F^T F + ridge I)^{-1} f_i``, normalized to
        sum 1. It is defined when ``n_samples < n_columns`` too and shrinks the
        influence of directions that few rows span. The sketch handles it by
        factoring ``[S F; sqrt(ridge) I]``.
    sketch_size : int, default=None
        Rows of the embedding, at least ``n_columns``. Default:
        ``int(1.5 * n_columns) + 1000``. Each row's score is distorted with relative
        standard deviation about ``sqrt(2 / (sketch_size - rank))``.
    n_projections : int, default=None
        Gaussian projections for the row norms. Default: 256. Each row's
        squared norm is estimated with relative standard deviation about
        ``sqrt(2 / n_projections)``; when it is at least the rank, the
        norms are taken without projection.
    block_size : int, default=None
        Rows per block. Default: about 8 MiB of float64 per block.
    random_state : int, RandomState instance or None, default=None
        Draws the embedding and the projections of ``"sketch"``; the same
        seed gives the same scores. Unused by the exact route.

    Returns
    -------
    scores : ndarray or dask.array.Array of shape (n_samples,)
        Non-negative, summing to 1; lazy for a Dask ``F``.

    See Also
    --------
    norm_scores : The cheaper row-norm scores.

    Notes
    -----
    Extra memory of the exact route is ``O(n_columns**2 + block_size *
    n_columns)``; well-conditioned matrices take two passes of matrix-matrix
    products, the rest one or two more. A wide, rank-deficient or
    ill-conditioned ``F`` is copied once (the ``n x n`` Gram cannot decide its
    rank). The sketch holds ``sketch_size x n_columns`` and reads ``F``
    twice. See the module's notes.

    References
    ----------
    P. Drineas, M. Magdon-Ismail, M. W. Mahoney and D. P. Woodruff, "Fast
    approximation of matrix coherence and statistical leverage", JMLR 13
    (2012).

    Examples
    --------
    >>> import numpy as np
    >>> from sknlis import leverage_scores
    >>> F = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    >>> leverage_scores(F).round(3)
    array([0.5 , 0.25, 0.25])
    >>> rng = np.random.default_rng(0)
    >>> F = rng.standard_normal((20_000, 60))
    >>> approx = leverage_scores(F, method="sketch", random_state=0)
    >>> exact = leverage_scores(F, method="exact")
    >>> bool(0.5 * np.abs(approx - exact).sum() < 0.05)
    True
    """
    rows, n_rows, n_columns = _matrix_rows(F)
    scores = blocked_leverage_scores(
        rows,
        n_rows,
        n_columns,
        method=method,
        ridge=ridge,
        sketch_size=sketch_size,
        n_projections=n_projections,
        block_size=block_size,
        random_state=random_state,
    )
    # The wide route gathers its few rows: a Dask F still gets a Dask result.
    return rows.lazy(scores) if hasattr(rows, "lazy") and _in_memory(scores) else scores


@validate_params(
    {
        "F": ["array-like"],
        "block_size": [Interval(Integral, 1, None, closed="left"), None],
    },
    prefer_skip_nested_validation=True,
)
def norm_scores(F, *, block_size=None):
    """Normalized row-norm scores ``||f_i||^2 / ||F||_F^2`` (Definition 3.4).

    Parameters
    ----------
    F : {array-like, dask.array.Array} of shape (n_samples, n_columns)
        A Dask array (chunked along its rows only) gives lazy scores.
    block_size : int, default=None
        Rows per block.

    Returns
    -------
    scores : ndarray or dask.array.Array of shape (n_samples,)
        Non-negative, summing to 1; lazy for a Dask ``F``.

    Examples
    --------
    >>> import numpy as np
    >>> from sknlis import norm_scores
    >>> norm_scores(np.array([[3.0, 4.0], [0.0, 0.0], [0.0, 5.0]]))
    array([0.5, 0. , 0.5])
    """
    return blocked_norm_scores(*_matrix_rows(F), block_size=block_size)
