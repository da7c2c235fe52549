"""The sparse sign embedding of the sketched scores, applied to row blocks.

``S`` has ``SKETCH_NONZEROS`` groups of ``n_groups`` rows; row ``i`` of ``F``
goes to one bucket of each group, with a random sign, both drawn from a hash
of ``(seed, i)``. The embedding therefore depends on global row indices
only: any split into blocks or chunks gives the same ``S F``.

Two ways to apply it to a block of rows:

- :func:`sketch_dense` takes the rows themselves;
- :func:`sketch_units` takes a two-layer network's rows unassembled
  (:class:`sknlis._models.UnitFactors`). Its unit part is a row-wise
  Kronecker product ``q_i (x) [x_i; 1]``, so a bucket's sum of rows is one
  small matrix product ``Q_b^T diag(s_b) [X_b, 1]``: matrix-matrix work on
  the ``n x (m + d)`` factors instead of building rows of width ``m (d + 2)``
  and adding each into ``SKETCH_NONZEROS`` rows of the ``r1 x k`` sketch,
  which is memory traffic of ``SKETCH_NONZEROS * n * k`` entries.
"""

import numpy as np
from scipy.sparse._sparsetools import csr_matvecs

__all__ = [
    "SKETCH_NONZEROS",
    "factored_block_rows",
    "sketch_dense",
    "sketch_units",
    "sparse_sign_block",
    "unit_column_bound",
]

# Nonzeros per row of F in the sparse sign embedding. Martinsson & Tropp
# (Acta Numerica 2020, section 9.2) suggest up to 8; 4 measured as accurate on
# coherent and dual matrices (bench_scores.py) at half the cost of a pass.
SKETCH_NONZEROS = 4
# Rows per bucket that make a bucket's product worth a BLAS call: factored
# blocks hold this many rows per bucket on average.
_ROWS_PER_BUCKET = 8


def _splitmix64(x):
    """A bijective 64-bit mixer (Steele, Lea & Flood 2014): a hash per entry."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def sparse_sign_block(seed, start, stop, n_groups):
    """Columns ``start:stop`` of the embedding, as CSR arrays.

    Row ``i`` of ``F`` goes to one bucket in each of ``SKETCH_NONZEROS``
    groups of ``n_groups`` sketch rows, with a random sign: distinct buckets,
    drawn from a hash of ``(seed, i)``, so the embedding does not depend on
    the block size. Returns ``(indptr, indices, data)`` of the
    ``(nnz * n_groups) x (stop - start)`` block in CSR form.
    """
    nnz = SKETCH_NONZEROS
    slots = np.arange(start, stop, dtype=np.uint64)[:, None] * np.uint64(nnz)
    hashes = _splitmix64(slots + np.arange(nnz, dtype=np.uint64) + seed).ravel()
    buckets = (hashes >> np.uint64(1)) % np.uint64(n_groups)
    buckets = buckets.astype(np.intp) + np.tile(n_groups * np.arange(nnz), stop - start)
    order = np.argsort(buckets, kind="stable")
    indptr = np.zeros(nnz * n_groups + 1, dtype=np.intp)
    np.cumsum(np.bincount(buckets, minlength=nnz * n_groups), out=indptr[1:])
    columns = np.repeat(np.arange(stop - start, dtype=np.intp), nnz)[order]
    signs = np.where(hashes[order] & np.uint64(1), 1.0, -1.0) / np.sqrt(nnz)
    return indptr, columns, signs


def sketch_dense(SF, block, embedding):
    """``SF += S_block @ block`` for a C-contiguous float64 ``block``."""
    indptr, columns, signs = embedding
    # The kernel behind scipy's csr_array @ ndarray, accumulating in place:
    # `SF[touched] += S @ block` would gather and scatter the touched rows,
    # three times slower.
    csr_matvecs(
        SF.shape[0],
        block.shape[0],
        block.shape[1],
        indptr,
        columns,
        signs,
        block.ravel(),
        SF.ravel(),
    )


def factored_block_rows(n_groups, dense_rows):
    """Rows per block for :func:`sketch_units`: enough rows per bucket."""
    return max(dense_rows, _ROWS_PER_BUCKET * n_groups)


def sketch_units(SF, factors, embedding):
    """``SF += S_block @ F_block`` from the block's :class:`UnitFactors`.

    ``SF`` has the dual matrix's column order. The unit entries ``P`` and
    the tail are dense and go through :func:`sketch_dense`. The Kronecker
    part takes, per group of buckets, one batched product of every bucket's
    rows of ``Q`` with its signed rows of ``[0, x, 1]`` (zeros in the ``K``
    columns of ``P``, so that the products land on whole unit blocks).
    """
    P, Q, X, tail = factors
    n, m, K = P.shape
    d = X.shape[1]
    width = K + d + 1
    dense = np.hstack([P.reshape(n, m * K), tail])
    dense_sketch = np.zeros((SF.shape[0], dense.shape[1]))
    sketch_dense(dense_sketch, dense, embedding)
    units = SF[:, : m * width]
    units.reshape(-1, m, width)[:, :, :K] += dense_sketch[:, : m * K].reshape(-1, m, K)
    SF[:, m * width :] += dense_sketch[:, m * K :]
    # A last zero row: padding slots gather it.
    Q_padded = np.vstack([Q, np.zeros((1, m))])
    inputs = np.zeros((n + 1, width))
    inputs[:n, K : K + d] = X
    inputs[:n, -1] = 1.0
    indptr, columns, signs = embedding
    n_groups = (len(indptr) - 1) // SKETCH_NONZEROS
    for group in range(SKETCH_NONZEROS):
        # A row lands in each group once. Each bucket's rows go to slots
        # 0, 1, ... of a zero-padded stack, one matrix per bucket.
        first = group * n_groups
        start = indptr[first]
        counts = np.diff(indptr[first : first + n_groups + 1])
        longest = counts.max()
        bucket = np.repeat(np.arange(n_groups), counts)
        slots = (
            np.arange(len(bucket)) + bucket * longest - (indptr[first:][bucket] - start)
        )
        source = np.full(n_groups * longest, n)
        source[slots] = columns[start : start + len(bucket)]
        sign = np.zeros(n_groups * longest)
        sign[slots] = signs[start : start + len(bucket)]
        signed_inputs = np.take(inputs, source, axis=0)
        signed_inputs *= sign[:, None]
        products = np.matmul(
            np.take(Q_padded, source, axis=0)
            .reshape(n_groups, longest, m)
            .transpose(0, 2, 1),
            signed_inputs.reshape(n_groups, longest, width),
        )
        units[first : first + n_groups] += products.reshape(n_groups, m * width)


def unit_column_bound(factors):
    """``max_i |F_ij|`` over the block for the dense columns, a bound for the rest.

    The Kronecker entries' maxima are bounded by ``max|Q_j| * max|[x; 1]_l|``:
    the column scaling only needs their order of magnitude. NaN or infinity in
    the factors shows in the result.
    """
    P, Q, X, tail = factors
    _, m, K = P.shape
    d = X.shape[1]
    bound = np.empty((m, K + d + 1))
    bound[:, :K] = np.abs(P).max(axis=0)
    input_max = np.append(np.abs(X).max(axis=0), 1.0)
    bound[:, K:] = np.abs(Q).max(axis=0)[:, None] * input_max
    return np.concatenate([bound.ravel(), np.abs(tail).max(axis=0)])
