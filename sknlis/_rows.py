"""Where rows come from: numpy row blocks or Dask chunks, behind one interface.

The scores read a matrix ``F`` only through passes of two kinds: reductions
(a Gram matrix, column maxima, a sketch: one small array per range of rows,
then summed) and maps (row norms: one value per row). A pass is written once,
as a *kernel* ``kernel(rows, start, stop)`` that walks rows ``start:stop``
(global indices) in blocks through ``rows(a, b)``, which returns rows
``a:b`` as float64 (a kernel done with each block before it asks for the
next reads through :func:`block_reader`, which lets a source that can write
rows into given memory, ``rows.fill(a, b, out)``, reuse one block's). A
*row source* decides where the kernel runs:

- a plain callable ``rows(start, stop)`` (numpy data, or a dual matrix
  recomputed block by block): the kernel runs once, on ``0:n_rows``;
- a chunked source (:class:`sknlis._dask.ChunkedRows`, duck-typed by its
  ``reduce_ranges`` and ``map_ranges`` methods): the kernel runs on every
  chunk where that chunk lives, reductions are combined on the client and
  maps stay lazy.

Only global row indices reach a kernel, so a pass that depends on the row
(the sketch's hash) gives the same result however the rows are chunked.
This module imports no Dask: the core works without it.
"""

import functools
import sys

import numpy as np

__all__ = [
    "block_reader",
    "chunkwise",
    "column_subset",
    "is_lazy",
    "map_rows",
    "reduce_rows",
    "transform_rows",
    "transformed_rows",
]


def is_lazy(data):
    """Whether ``data`` is a Dask collection (without importing Dask)."""
    # A Dask collection cannot exist unless Dask has been imported.
    dask = sys.modules.get("dask")
    return dask is not None and dask.is_dask_collection(data)


def dask_available():
    """Whether the optional ``sknlis[dask]`` extra is installed."""
    import importlib.util

    return all(
        importlib.util.find_spec(name) is not None for name in ("dask", "pandas")
    )


def reduce_rows(rows, n_rows, kernel, combine=np.add, *, per_chunk=False):
    """``kernel`` over all rows, its per-chunk results combined pairwise.

    ``per_chunk=True`` returns ``(combined, parts)``, the list of per-chunk
    results too (one chunk for an in-memory source): a pass that must know
    each chunk's share of a sum then needs no pass of its own.
    """
    if hasattr(rows, "reduce_ranges"):
        return rows.reduce_ranges(kernel, combine, per_chunk=per_chunk)
    result = kernel(rows, 0, n_rows)
    return (result, [result]) if per_chunk else result


def map_rows(rows, n_rows, kernel, trailing=()):
    """``kernel``'s per-row results (shape ``(n_rows, *trailing)``); lazy on Dask."""
    if hasattr(rows, "map_ranges"):
        return rows.map_ranges(kernel, trailing)
    return kernel(rows, 0, n_rows)


def block_reader(rows):
    """``rows`` for a kernel that is done with each block before it asks for
    the next: every block is written into the first one's memory when the
    source can fill given memory (``rows.fill(start, stop, out)``).

    A new block-sized array per block costs fresh pages wherever freed memory
    goes back to the system (Dask workers: :func:`sknlis._validation.scratch_rows`).
    """
    fill = getattr(rows, "fill", None)
    if fill is None:
        return rows
    first = None

    def read(start, stop):
        nonlocal first
        if first is None or first.shape[0] < stop - start:
            first = rows(start, stop)
            return first
        return fill(start, stop, first[: stop - start])

    return read


def transform_rows(rows, function):
    """The source whose blocks are ``function(block)``.

    ``function(block, out=None)`` is row-wise and writes into ``out`` when
    given it: the source then fills given memory too, and reads ``rows``
    into one block of its own, reused (:func:`block_reader`).
    """
    if hasattr(rows, "transform"):
        return rows.transform(function)
    return transformed_rows(rows, function)


def transformed_rows(rows, function):
    """:func:`transform_rows` of an in-memory source (or a chunk's)."""

    def transformed(start, stop):
        return function(rows(start, stop))

    if hasattr(rows, "fill"):
        read = block_reader(rows)

        def fill(start, stop, out):
            return function(read(start, stop), out=out)

        transformed.fill = fill
    return transformed


def column_subset(keep):
    """The row-wise function that takes the columns ``keep`` (a mask)."""
    columns = np.flatnonzero(keep)

    def subset(block, out=None):
        # mode="raise" (the default, and compress's) writes to a temporary
        # and then copies to ``out``; the indices are in range anyway.
        return np.take(block, columns, axis=1, out=out, mode="clip")

    return subset


def chunkwise(row_shape):
    """Decorate a row-wise method so that Dask input gives a lazy result.

    On Dask input (``X``, and ``y`` when the method takes it) the method runs
    on every chunk where it lives, as the in-memory method; ``row_shape(self)``
    gives ``(shape of one row of the result, dtype)`` of the fitted estimator,
    known without computing a row. Other input goes to the method unchanged.
    """

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, X, *args, **kwargs):
            y = args[0] if args else kwargs.get("y")
            if not (is_lazy(X) or is_lazy(y)):
                return method(self, X, *args, **kwargs)
            from sklearn.utils.validation import check_is_fitted

            from sknlis._dask import map_row_chunks

            check_is_fitted(self)
            kwargs.pop("y", None)
            shape, dtype = row_shape(self)
            return map_row_chunks(
                functools.partial(method, self, **kwargs),
                X,
                y,
                trailing=shape,
                dtype=dtype,
            )

        return wrapper

    return decorate
