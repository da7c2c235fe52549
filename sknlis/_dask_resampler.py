"""``NonlinearImportanceResampler.fit_resample`` on Dask collections.

The steps of the in-memory path, each where its data are (SCALE.md):
the pilot rows (a uniform sample, sorted global indices) are gathered and
the model fitted in memory; every chunk computes its own dual matrix from
its rows and ``theta``; the scores stay lazy; the draw is planned from
per-chunk summaries (:mod:`sknlis._dask_sampling`); the drawn rows are
gathered. The random state is consumed in the in-memory order, so with
replacement the sample is the in-memory one for the same seed.
"""

from functools import partial

import dask.array as da
import numpy as np
from sklearn.utils import check_array, check_random_state

from sknlis._dask import data_chunks
from sknlis._dask_sampling import chunked_importance_sample
from sknlis._protocol import adjoint_rows, linear_rows, n_adjoint_columns
from sknlis._rows import is_lazy
from sknlis._sampling import resolve_n_samples
from sknlis._scores import blocked_leverage_scores, blocked_norm_scores

__all__ = ["fit_resample_chunked"]


def _checked_y(y, classify):
    if y is None or classify:
        return y
    return check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")


def _linear_chunk_rows(X, y):
    X = check_array(X, dtype=(np.float64, np.float32), input_name="X")
    return linear_rows(X)[0]


def _adjoint_chunk_rows(estimator, block_size, classify, X, y):
    # The model validates X block by block (finite, its feature names).
    return adjoint_rows(estimator, X, _checked_y(y, classify), block_size)[0]


def _classifies(estimator, y):
    from sklearn.base import is_classifier

    if estimator is not None:
        return is_classifier(estimator)
    return y.dtype.kind not in "iuf"


def fit_resample_chunked(sampler, X, y):
    """Score and draw as ``sampler.fit_resample`` does, chunk by chunk."""
    if not is_lazy(X):
        raise TypeError(
            "y is a Dask collection but X is not: pass X as a dask.array or "
            "dask.dataframe too (chunked alike), or y in memory."
        )
    if y is None:
        raise ValueError("fit_resample needs y; got None.")
    classify = _classifies(sampler.estimator, y)
    if classify and is_lazy(y) and sampler.scores != "uniform":
        raise ValueError(
            "Class labels in a Dask collection are not supported (the pilot "
            "needs every class, found by a scan of y): pass y as a numpy "
            "array with X as a Dask collection, or use a regressor."
        )
    chunks = data_chunks(X, y)
    n_rows = chunks.n_rows
    if n_rows < 2:
        raise ValueError(f"X has {n_rows} row(s); fit_resample needs at least 2.")
    sampler.n_features_in_ = chunks.n_features
    if chunks.columns is not None and all(isinstance(c, str) for c in chunks.columns):
        sampler.feature_names_in_ = np.asarray(chunks.columns, dtype=object)
    rng = check_random_state(sampler.random_state)
    count = resolve_n_samples(sampler.n_samples, n_rows, replace=sampler.replace)
    sampler.estimator_ = None
    sampler.pilot_indices_ = None
    raw = _raw_scores(sampler, chunks, y, rng, count, classify)
    indices, weights, totals = chunked_importance_sample(
        raw,
        count,
        replace=sampler.replace,
        mix_uniform=sampler.mix_uniform,
        rng=rng,
    )
    sampler.scores_ = raw / totals.sum()
    sampler.sample_indices_ = indices
    sampler.sample_weight_ = weights
    return chunks.take(indices)


def _raw_scores(sampler, chunks, y, rng, count, classify):
    """Lazy scores up to a common factor (the draw sums them per chunk)."""
    n_rows = chunks.n_rows
    if sampler.scores == "uniform":
        return da.ones(n_rows, chunks=(chunks.chunks,))
    if sampler.basis == "linear":
        rows = chunks.rows(_linear_chunk_rows, chunks.n_features + 1)
    else:
        if sampler.pilot_size is None and not sampler.prefit:
            raise ValueError(
                "pilot_size=None fits the model on every row, which a Dask "
                "collection does not hold in memory: give a pilot_size (or "
                "'auto'), or a fitted estimator with prefit=True."
            )
        estimator = sampler._fitted_estimator(
            None, y, rng, count, classify, n_rows, chunks.take
        )
        sampler.estimator_ = estimator
        rows = chunks.rows(
            partial(_adjoint_chunk_rows, estimator, sampler.block_size, classify),
            n_adjoint_columns(estimator),
        )
    if sampler.scores == "norm":
        scores = blocked_norm_scores(
            rows,
            n_rows,
            rows.n_columns,
            block_size=sampler.block_size,
            normalize=False,
        )
    else:
        scores = blocked_leverage_scores(
            rows,
            n_rows,
            rows.n_columns,
            ridge=sampler.ridge,
            block_size=sampler.block_size,
            normalize=False,
        )
    # The wide route (fewer rows than columns) computes in memory.
    return scores if is_lazy(scores) else rows.lazy(scores)
