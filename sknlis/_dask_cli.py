"""The command line on tables larger than memory, through ``dask.dataframe``.

``sknlis scores`` and ``sknlis sample`` read a Parquet file or directory, or
a large CSV, lazily: the columns are checked from the schema, standardized
from two reductions, scored chunk by chunk and the output written one chunk
at a time to a temporary file renamed at the end.
"""

import os
import sys

import dask
import numpy as np

from sknlis._csv import TableError, check_header, replaced_atomically
from sknlis._dask import data_chunks, dual_rows
from sknlis._scores import blocked_leverage_scores, blocked_norm_scores

__all__ = ["read_lazy_table", "scores_table", "sample_table"]

# The model of ``sknlis scores`` is fitted on at most this many uniformly
# drawn rows: the fit is in memory (and a pilot this large scores as well as
# the full-data optimum on the paper's data, bench_sampling.py).
PILOT_ROWS = 100_000


class LazyTable:
    """A lazily read table: raw frame, header, standardized X and y."""

    def __init__(self, frame, header, target):
        self.frame, self.header, self.target = frame, header, target
        self.features = [name for name in header if name != target]
        X, y = frame[self.features], frame[target]
        self.X, self.y = _standardized(X), _standardized(y)


def read_lazy_table(path, target):
    """Read ``path`` lazily; the messages of :func:`sknlis._csv.read_table`."""
    import dask.dataframe as dd

    if not os.path.exists(path):
        raise TableError(f"No such file: {path}")
    try:
        if os.path.isdir(path) or path.endswith((".parquet", ".pq")):
            frame = dd.read_parquet(path)
        else:
            frame = dd.read_csv(path, blocksize="64MB", encoding="utf-8-sig")
    except (ValueError, OSError) as error:
        raise TableError(f"Cannot read {path}: {error}") from None
    header = [str(name) for name in frame.columns]
    check_header(path, header, target)
    if len(header) < 2:
        raise TableError(f"{path} has no feature column besides {target!r}.")
    for name, dtype in frame.dtypes.items():
        if dtype.kind not in "iuf":
            raise TableError(
                f"Column {name!r} is not numeric (dtype {dtype}). Encode "
                "categories as numbers and fill or drop missing values first."
            )
    return LazyTable(frame, header, target)


def _standardized(data):
    """As :func:`sknlis._demo.standardize`, from two lazy reductions."""
    peak, bad = dask.compute(abs(data).max(), (~np.isfinite(data)).sum())
    bad = np.atleast_1d(np.asarray(bad))
    if bad.any():
        name = data.columns[np.flatnonzero(bad)[0]] if bad.size > 1 else data.name
        raise TableError(
            f"Column {name!r} holds missing or infinite values: fill or drop "
            "them first."
        )
    # Per partition, with the statistics as pandas objects: arithmetic
    # between Dask collections would align (repartition) them.
    scaled = data.map_partitions(_affine, _nonzero(peak), 0.0)
    mean, scale = dask.compute(scaled.mean(), scaled.std(ddof=0))
    return scaled.map_partitions(_affine, _nonzero(scale), mean)


def _affine(part, scale, shift):
    return (part - shift) / scale


def _nonzero(values):
    """Zeros (constant columns) replaced by ones; a pandas Series stays one
    (it aligns with the frame's columns)."""
    if hasattr(values, "where"):
        return values.where(values > 0, 1.0)
    return values if values > 0 else 1.0


def scores_table(table, model, output, out=sys.stdout):
    """Write four score columns per row; returns the number of rows."""
    chunks = data_chunks(table.X, table.y)
    if chunks.n_rows == 0:
        raise TableError("The table has a header but no rows.")
    rng = np.random.RandomState(model.random_state)
    n_pilot = min(chunks.n_rows, PILOT_ROWS)
    pilot = np.sort(rng.choice(chunks.n_rows, n_pilot, replace=False))
    model.fit(*chunks.take(pilot))
    raw = {}
    for basis, estimator in (("adjoint", model), ("linear", None)):
        rows, n_columns = dual_rows(chunks, estimator, None)
        n = chunks.n_rows
        raw[f"{basis}_leverage"] = blocked_leverage_scores(
            rows, n, n_columns, normalize=False
        )
        raw[f"{basis}_norm"] = blocked_norm_scores(rows, n, n_columns, normalize=False)
    totals = dask.compute(*[scores.sum() for scores in raw.values()])
    blocks = [scores.to_delayed().ravel() for scores in raw.values()]

    def write(handle):
        handle.write(",".join(["row", *raw]) + "\n")
        for i, (start, _) in enumerate(chunks.bounds):
            columns = dask.compute(*[column[i] for column in blocks])
            values = np.column_stack(columns) / np.asarray(totals)
            for j, row in enumerate(values, start=start):
                handle.write(f"{j}," + ",".join(f"{v:.10g}" for v in row) + "\n")

    _write(output or out, write)
    return chunks.n_rows, model.score(*chunks.take(pilot))


def sample_table(table, sampler, output, out=sys.stdout):
    """Write the sampled rows as read, with their weights."""
    sampler.fit_resample(table.X, table.y)
    indices = sampler.sample_indices_
    raw, _ = data_chunks(table.frame).take(indices)

    def write(handle):
        handle.write(",".join(["row", *table.header, "sample_weight"]) + "\n")
        for i, record, weight in zip(
            indices, raw[table.header].itertuples(index=False), sampler.sample_weight_
        ):
            fields = [str(i), *(str(value) for value in record), f"{weight:.10g}"]
            handle.write(",".join(fields) + "\n")

    _write(output or out, write)
    return len(indices), sampler.scores_.shape[0]


def _write(path_or_file, write):
    if hasattr(path_or_file, "write"):
        write(path_or_file)
        return
    with replaced_atomically(path_or_file) as temporary:
        with open(temporary, "w", newline="") as handle:
            write(handle)
