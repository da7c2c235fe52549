"""Dask arrays and data frames as row sources: every chunk scored where it lives.

Imported only when an input is a Dask collection (so Dask is installed and
already imported). Rows must not be split across chunks: a chunk is a range
of whole rows, and every pass of the scores runs its numpy kernel on each
chunk (see :mod:`sknlis._rows`). Reductions are combined pairwise on the
client (each result is ``k x k`` or smaller); maps return lazy arrays.
"""

import copy
import functools
import uuid
from functools import partial

import dask
import dask.array as da
import numpy as np
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph
from dask.utils import funcname
from sklearn.utils import _safe_indexing, check_array

from sknlis._rows import transformed_rows

__all__ = [
    "ChunkedRows",
    "DataChunks",
    "array_rows",
    "data_chunks",
    "map_row_chunks",
]


def _bounds(lengths):
    stops = np.cumsum(lengths, dtype=np.int64)
    return [(int(stop - n), int(stop)) for stop, n in zip(stops, lengths)]


def _run_kernel(make_rows, transforms, kernel, part, start, stop):
    """``kernel`` on one chunk, with global row indices."""
    local = make_rows(part)
    for function in transforms:
        local = transformed_rows(local, function)

    def rows(first, last):
        return local(first - start, last - start)

    if hasattr(local, "fill"):

        def fill(first, last, out):
            return local.fill(first - start, last - start, out)

        rows.fill = fill
    return kernel(rows, start, stop)


def _tree(tasks, combine):
    """Combine delayed results pairwise: the client holds two at a time."""
    combine = dask.delayed(combine)
    while len(tasks) > 1:
        paired = [combine(a, b) for a, b in zip(tasks[::2], tasks[1::2])]
        tasks = paired + tasks[len(paired) * 2 :]
    return tasks[0]


class ChunkedRows:
    """Rows of a matrix computed chunk by chunk on a Dask scheduler.

    Parameters
    ----------
    parts : list
        One (delayed) payload per chunk: a block of ``F``, or a chunk of
        ``(X, y)`` from which a dual matrix is computed.
    bounds : list of (int, int)
        Global rows ``start:stop`` of each chunk.
    make_rows : callable
        ``make_rows(part)`` returns a callable ``rows(a, b)`` giving the
        chunk's rows ``a:b`` (local indices) as float64.
    n_columns : int
    transforms : tuple of callables
        Row-wise functions applied to every block, in order.
    """

    def __init__(self, parts, bounds, make_rows, n_columns, transforms=()):
        self.parts = list(parts)
        self.bounds = list(bounds)
        # One key that every task shares: the model is sent once per worker,
        # not once per task.
        if not isinstance(make_rows, Delayed):
            make_rows = dask.delayed(make_rows, pure=False)
        self.make_rows = make_rows
        self.n_columns = n_columns
        self.transforms = tuple(transforms)

    @property
    def n_rows(self):
        return self.bounds[-1][1]

    @property
    def chunks(self):
        return tuple(stop - start for start, stop in self.bounds)

    def _calls(self, kernel):
        """The arguments of ``_run_kernel`` for every chunk."""
        return [
            (self.make_rows, self.transforms, kernel, part, start, stop)
            for part, (start, stop) in zip(self.parts, self.bounds)
        ]

    def _tasks(self, kernel):
        run = dask.delayed(_run_kernel, pure=False)
        return [run(*call) for call in self._calls(kernel)]

    def reduce_ranges(self, kernel, combine, per_chunk=False):
        if per_chunk:
            parts = list(dask.compute(*self._tasks(kernel)))
            return functools.reduce(combine, parts), parts
        return _tree(self._tasks(kernel), combine).compute()

    def map_ranges(self, kernel, trailing=()):
        return _stacked_calls(_run_kernel, self._calls(kernel), self.chunks, trailing)

    def transform(self, function):
        return ChunkedRows(
            self.parts,
            self.bounds,
            self.make_rows,
            self.n_columns,
            (*self.transforms, function),
        )

    def __call__(self, start, stop):
        """Rows ``start:stop`` in memory: only the wide route (``n < k``,
        few rows) reads rows this way."""
        overlapping = [
            (part, (s, e), (max(s, start), min(e, stop)))
            for part, (s, e) in zip(self.parts, self.bounds)
            if s < stop and start < e
        ]
        run = dask.delayed(_run_kernel, pure=False)
        tasks = [
            run(self.make_rows, self.transforms, _reader(first, last), part, s, e)
            for part, (s, e), (first, last) in overlapping
        ]
        return np.concatenate(dask.compute(*tasks))

    def lazy(self, values):
        """An in-memory result of one value per row, chunked as the rows."""
        return da.from_array(values, chunks=(self.chunks, *values.shape[1:]))


def _reader(first, last):
    def kernel(rows, start, stop):
        return rows(first, last)

    return kernel


def check_row_chunks(data, name, numeric=True):
    """A Dask array chunked along rows only, with known chunk sizes."""
    if data.ndim not in (1, 2):
        raise ValueError(
            f"{name} must be a 1-D or 2-D Dask array; got {data.ndim} dimensions."
        )
    if any(np.isnan(n) for n in data.shape) or any(np.isnan(n) for n in data.chunks[0]):
        raise ValueError(
            f"{name} is a Dask array with unknown chunk sizes: call "
            f"{name}.compute_chunk_sizes() first (its rows must be counted "
            "to index them)."
        )
    if data.ndim == 2 and len(data.chunks[1]) > 1:
        raise ValueError(
            f"{name} is chunked along its columns ({len(data.chunks[1])} column "
            f"chunks): a row must lie in one chunk. Rechunk it with "
            f"{name}.rechunk({{1: -1}})."
        )
    if numeric and data.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers; got dtype {data.dtype}.")
    if min(data.shape) == 0:
        raise ValueError(f"{name} must have at least one row and column.")


def array_rows(F, name="F"):
    """``(rows, n_rows, n_columns)`` of a Dask array ``F``, chunk by chunk."""
    from sknlis._scores import _array_rows

    check_row_chunks(F, name)
    if F.ndim != 2:
        raise ValueError(f"{name} must be 2-D; got shape {F.shape}.")
    parts = F.to_delayed().ravel()
    rows = ChunkedRows(parts, _bounds(F.chunks[0]), _array_rows, F.shape[1])
    return rows, F.shape[0], F.shape[1]


class DataChunks:
    """Aligned chunks of ``X`` (Dask array or data frame) and ``y``.

    ``parts[i]`` is ``(X_i, y_i)``: delayed partitions of X and of y (a slice
    of y when y is in memory, ``None`` without y).
    """

    def __init__(self, X, y=None):
        # Graphs unoptimized (optimize_graph=False) below: optimized one by
        # one, X and y taken from one array would each fuse their own copy
        # of the read of a chunk, and every pass would read it twice.
        self.frame = _is_frame(X)
        joint = self.frame and _is_frame(y) and y.ndim == 1
        if joint:
            # Columns of one frame are partitioned alike only when optimized
            # together: Dask may merge the partitions of a narrow selection.
            try:
                X_y = X.assign(**{_TARGET: y})
            except (ValueError, TypeError, NotImplementedError) as error:
                raise ValueError(
                    "X and y must be partitioned alike (the same rows in each "
                    f"chunk): Dask cannot align them ({error}). Take both from "
                    "one data frame."
                ) from None
            lengths = np.asarray(X_y.map_partitions(len).compute())
            split = dask.delayed(_split_target, pure=True)
            X_parts = [split(part, y.name) for part in X_y.to_delayed()]
        elif self.frame:
            lengths = np.asarray(X.map_partitions(len).compute())
            X_parts = X.to_delayed()
        elif is_dask_array(X):
            check_row_chunks(X, "X")
            if X.ndim != 2:
                raise ValueError(
                    f"X must be 2-D (n_samples, n_features); got shape {X.shape}."
                )
            lengths = X.chunks[0]
            X_parts = list(X.to_delayed(optimize_graph=False).ravel())
        else:
            raise TypeError(
                "With Dask input X must be a dask.array or dask.dataframe "
                f"collection; got {type(X).__name__}."
            )
        self.bounds = _bounds(lengths)
        self.n_rows = self.bounds[-1][1] if self.bounds else 0
        self.n_features = X.shape[1]
        self.columns = list(X.columns) if self.frame else None
        if joint:
            self.parts = X_parts  # each part is already (X_i, y_i)
            return
        self.parts = list(zip(X_parts, self._y_parts(y)))

    def _y_parts(self, y):
        if y is None:
            return [None] * len(self.bounds)
        if _is_frame(y) or is_dask_array(y):
            if is_dask_array(y):
                check_row_chunks(y, "y", numeric=False)
                if y.ndim != 1:
                    raise ValueError(f"y must be 1-D; got shape {y.shape}.")
                lengths = y.chunks[0]
                parts = list(y.to_delayed(optimize_graph=False).ravel())
            else:
                lengths = np.asarray(y.map_partitions(len).compute())
                parts = y.to_delayed()
            if tuple(lengths) != self.chunks:
                raise ValueError(
                    "X and y must be partitioned alike (the same rows in each "
                    f"chunk); got row chunks {self.chunks[:5]}... for X and "
                    f"{tuple(lengths)[:5]}... for y. Rechunk y to X's chunks, "
                    "e.g. y.rechunk((X.chunks[0],)), or build both from one "
                    "data frame."
                )
            return parts
        y = np.asarray(y)
        if y.shape[0] != self.n_rows:
            raise ValueError(
                f"X has {self.n_rows} rows but y has {y.shape[0]}: one target "
                "per row is needed."
            )
        return [y[start:stop] for start, stop in self.bounds]

    @property
    def chunks(self):
        return tuple(stop - start for start, stop in self.bounds)

    @property
    def shape(self):
        return self.n_rows, self.n_features

    def rows(self, make_rows, n_columns):
        """A :class:`ChunkedRows` over these chunks; ``make_rows(X_i, y_i)``."""
        return ChunkedRows(self.parts, self.bounds, _Unpack(make_rows), n_columns)

    def take(self, indices):
        """Rows ``indices`` (sorted, global) of X and y, gathered to memory."""
        cuts = np.searchsorted(indices, [start for start, _ in self.bounds])
        cuts = [*cuts, len(indices)]
        take = dask.delayed(take_rows, pure=False)
        tasks = [
            take(part, indices[cuts[i] : cuts[i + 1]] - start)
            for i, (part, (start, _)) in enumerate(zip(self.parts, self.bounds))
            if cuts[i + 1] > cuts[i]
        ]
        return join_rows(dask.compute(*tasks))


def join_rows(pieces):
    """``(X, y)`` in memory from the ``(X_i, y_i)`` rows taken from chunks."""
    # Chunks that gave no row add nothing (pandas warns on empty frames).
    pieces = [piece for piece in pieces if len(piece[0])] or pieces[:1]
    X_parts, y_parts = zip(*pieces)
    return _concatenate(X_parts), _concatenate(y_parts)


_TARGET = "__sknlis_target__"


def _split_target(part, name):
    return part.drop(columns=_TARGET), part[_TARGET].rename(name)


class _Unpack:
    def __init__(self, make_rows):
        self.make_rows = make_rows

    def __call__(self, part):
        return self.make_rows(*part)


def take_rows(part, local):
    """Rows ``local`` (indices within the chunk) of a chunk ``(X_i, y_i)``."""
    X, y = part
    return (
        _safe_indexing(X, local),
        None if y is None else _safe_indexing(y, local),
    )


def _concatenate(pieces):
    if pieces[0] is None:
        return None
    if hasattr(pieces[0], "iloc"):
        import pandas as pd

        return pd.concat(pieces)
    return np.concatenate(pieces)


def is_dask_array(data):
    return isinstance(data, da.Array)


def _is_frame(data):
    """A dask.dataframe DataFrame or Series."""
    return not is_dask_array(data) and hasattr(data, "map_partitions")


def data_chunks(X, y=None):
    """:class:`DataChunks` of a Dask ``X`` (and ``y``, Dask or in memory)."""
    return DataChunks(X, y)


def map_row_chunks(function, X, y=None, *, trailing=(), dtype=np.float64):
    """``function(X_i, y_i)`` on every chunk, as one lazy array of rows."""
    chunks = data_chunks(X, y)
    calls = [(function, part) for part in chunks.parts]
    return _stacked_calls(_apply, calls, chunks.chunks, trailing, dtype)


def _stacked_calls(function, calls, lengths, trailing=(), dtype=np.float64):
    """The lazy array whose chunk ``i`` (``lengths[i]`` rows) is
    ``function(*calls[i])``, each call keyed as its chunk.

    ``from_delayed`` and ``concatenate`` would add two alias tasks per
    chunk, and every task costs the scheduler and a worker a few
    milliseconds of CPU, as much as scoring thousands of rows.
    """
    name = f"{funcname(function)}-{uuid.uuid4().hex}"
    run = dask.delayed(function, pure=False)
    zeros = (0,) * len(trailing)
    tasks = [
        run(*call, dask_key_name=(name, i, *zeros)) for i, call in enumerate(calls)
    ]
    layer = {task.key: task.dask[task.key] for task in tasks}
    graph = HighLevelGraph.from_collections(name, layer, dependencies=tasks)
    chunks = (tuple(lengths), *((width,) for width in trailing))
    return da.Array(graph, name, chunks=chunks, dtype=dtype)


def _apply(function, part):
    X, y = part
    return function(X) if y is None else function(X, y)


def chunked_input(estimator, X, y, *, reset):
    """:class:`DataChunks` of Dask input, checked as ``validate_data`` would.

    Sets (``reset``) or checks ``n_features_in_`` and ``feature_names_in_``.
    """
    if not is_dask_array(X) and not _is_frame(X):
        raise TypeError(
            "y is a Dask collection but X is not: pass X as a dask.array or "
            "dask.dataframe too (chunked alike), or y in memory."
        )
    chunks = DataChunks(X, y)
    name = type(estimator).__name__
    if reset:
        if chunks.n_rows < 2:
            raise ValueError(f"X has {chunks.n_rows} row(s); {name} needs 2.")
        estimator.n_features_in_ = chunks.n_features
        names = chunks.columns
        if names is not None and all(isinstance(c, str) for c in names):
            estimator.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    elif chunks.n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {chunks.n_features} features, but {name} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    return chunks


def dual_rows(chunks, estimator, block_size, *, y_numeric=True):
    """``(rows, n_columns)``: the estimator's dual matrix chunk by chunk, or
    the data matrix ``[X, 1]`` when ``estimator`` is None."""
    from sknlis._protocol import n_adjoint_columns

    if estimator is None:
        return chunks.rows(_linear_chunk_rows, chunks.n_features + 1), (
            chunks.n_features + 1
        )
    n_columns = n_adjoint_columns(estimator)
    make = partial(_adjoint_chunk_rows, _lean(estimator), block_size, y_numeric)
    return chunks.rows(make, n_columns), n_columns


def _lean(estimator):
    """The estimator without its stored training dual matrix, which every
    task would otherwise carry (19 MB for a pilot of 110,000 rows)."""
    if getattr(estimator, "adjoint_matrix_", None) is None:
        return estimator
    lean = copy.copy(estimator)
    del lean.adjoint_matrix_
    return lean


def _linear_chunk_rows(X, y):
    from sknlis._protocol import linear_rows

    X = check_array(X, dtype=(np.float64, np.float32), input_name="X")
    return linear_rows(X)[0]


def _adjoint_chunk_rows(estimator, block_size, y_numeric, X, y):
    from sknlis._protocol import adjoint_rows

    # The model validates X block by block (finite, its feature names), and
    # converts float32 X and y a piece at a time.
    if y is not None and y_numeric:
        y = check_array(
            y, ensure_2d=False, dtype=(np.float64, np.float32), input_name="y"
        )
    return adjoint_rows(estimator, X, y, block_size)[0]
