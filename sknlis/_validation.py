"""Input checks shared by the numerical core; every message names its parameter."""

import numbers

import numpy as np
from sklearn.utils import check_array


def check_matrix(F, name="F"):
    """A finite, non-empty 2-D float array (float32 kept, integers promoted).

    Never copies a float array that is already valid: the core only reads it.
    """
    shape = np.shape(F)
    if len(shape) != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, n_columns); "
            f"got an array of shape {shape}."
        )
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"{name} must have at least one row and column; got {shape}.")
    return check_array(
        F, dtype=(np.float64, np.float32), ensure_all_finite=True, input_name=name
    )


def check_scores(scores, name="scores"):
    """A finite, non-negative 1-D float64 vector with a positive sum."""
    scores = np.asarray(scores)
    if scores.ndim != 1 or scores.shape[0] == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D array; got shape {scores.shape}."
        )
    if not np.issubdtype(scores.dtype, np.number) or np.iscomplexobj(scores):
        raise TypeError(f"{name} must be real numbers; got dtype {scores.dtype}.")
    scores = scores.astype(np.float64)
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{name} must be finite; it contains NaN or infinity.")
    if np.any(scores < 0):
        raise ValueError(f"{name} must be non-negative; min is {scores.min()!r}.")
    if not scores.max() > 0:  # the sum may overflow
        raise ValueError(f"{name} must have a positive sum; all are zero.")
    return scores


def check_block_size(block_size, n_columns):
    """Rows per block: the given positive int, or about 8 MiB of float64.

    8 MiB keeps matrix products efficient (thousands of rows) while the
    temporaries of a pass stay a small fraction of any large input.
    """
    if block_size is None:
        return max(1, 2**20 // max(n_columns, 1))
    if (
        isinstance(block_size, bool)
        or not isinstance(block_size, numbers.Integral)
        or block_size < 1
    ):
        raise ValueError(
            f"block_size must be a positive integer or None; got {block_size!r}."
        )
    return int(block_size)


# glibc serves an allocation below its mmap threshold (128 KiB) from the
# heap, reusing freed memory; a larger one gets fresh pages. Dask workers set
# MALLOC_TRIM_THRESHOLD_, which fixes that threshold, so each large
# temporary is page-faulted in again: that cost as much as the arithmetic of
# a single-index dual matrix (benchmarks/bench_dask.py). Per-row work with
# many temporaries runs on pieces that keep each one below it.
_SCRATCH_BYTES = 2**16


def scratch_rows(width):
    """Rows per piece whose temporaries of ``width`` float64 values per row
    stay heap-sized (:data:`_SCRATCH_BYTES`)."""
    return max(1, _SCRATCH_BYTES // (8 * max(width, 1)))


def row_blocks(n_rows, block_size, start=0):
    """``(start, stop)`` pairs that cover ``range(start, n_rows)`` in order."""
    for first in range(start, n_rows, block_size):
        yield first, min(first + block_size, n_rows)


def check_sketch_size(sketch_size, n_columns):
    """A sketch must have at least as many rows as the matrix has columns.

    With fewer, the sketch cannot embed the column space and the factor
    misses directions.
    """
    if sketch_size < n_columns:
        raise ValueError(
            f"sketch_size must be at least the number of columns of F "
            f"({n_columns}); got {sketch_size}."
        )
