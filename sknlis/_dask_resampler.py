"""``NonlinearImportanceResampler.fit_resample`` on Dask collections.

The steps of the in-memory path, each where its data are (SCALE.md):
the pilot rows (a uniform sample, sorted global indices) are gathered and
the model fitted in memory; every chunk computes its own dual matrix from
its rows and ``theta``; the scores stay lazy; the draw is planned from
per-chunk summaries (:mod:`sknlis._dask_sampling`), and each chunk hands
over its drawn rows as it draws them. The random state is consumed in the
in-memory order, so with replacement the sample is the in-memory one for
the same seed.
"""

import dask.array as da
import numpy as np
from sklearn.utils import check_random_state

from sknlis._dask import chunked_input, dual_rows, join_rows
from sknlis._dask_sampling import chunked_importance_sample
from sknlis._protocol import classifies, leverage_rows
from sknlis._rows import is_lazy
from sknlis._sampling import resolve_n_samples
from sknlis._scores import blocked_leverage_scores, blocked_norm_scores

__all__ = ["fit_resample_chunked"]


def fit_resample_chunked(sampler, X, y):
    """Score and draw as ``sampler.fit_resample`` does, chunk by chunk."""
    if y is None:
        raise ValueError("fit_resample needs y; got None.")
    classify = classifies(sampler.estimator, y)
    if classify and is_lazy(y) and sampler.scores != "uniform":
        raise ValueError(
            "Class labels in a Dask collection are not supported (the pilot "
            "needs every class, found by a scan of y): pass y as a numpy "
            "array with X as a Dask collection, or use a regressor."
        )
    chunks = chunked_input(sampler, X, y, reset=True)
    n_rows = chunks.n_rows
    rng = check_random_state(sampler.random_state)
    count = resolve_n_samples(sampler.n_samples, n_rows, replace=sampler.replace)
    sampler.estimator_ = None
    sampler.pilot_indices_ = None
    raw, totals = _raw_scores(sampler, chunks, y, rng, count, classify)
    indices, weights, totals, taken = chunked_importance_sample(
        raw,
        count,
        replace=sampler.replace,
        mix_uniform=sampler.mix_uniform,
        rng=rng,
        totals=totals,
        parts=chunks.parts,
    )
    sampler.scores_ = raw / totals.sum()
    sampler.sample_indices_ = indices
    sampler.sample_weight_ = weights
    return join_rows(taken)


def _raw_scores(sampler, chunks, y, rng, count, classify):
    """Lazy scores up to a common factor, and their chunk totals if known
    without a pass (else None: the draw sums them)."""
    n_rows = chunks.n_rows
    if sampler.scores == "uniform":
        return da.ones(n_rows, chunks=(chunks.chunks,)), np.asarray(chunks.chunks)
    estimator = None
    if sampler.basis == "adjoint":
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
    rows, n_columns = dual_rows(
        chunks, estimator, sampler.block_size, y_numeric=not classify
    )
    totals = None
    if sampler.scores == "norm":
        scores = blocked_norm_scores(
            rows,
            n_rows,
            n_columns,
            block_size=sampler.block_size,
            normalize=False,
        )
    else:
        if estimator is not None and sampler.ridge == 0:
            rows, n_columns = leverage_rows(estimator, rows, n_columns)
        scores, totals = blocked_leverage_scores(
            rows,
            n_rows,
            n_columns,
            method=sampler.leverage_method,
            ridge=sampler.ridge,
            block_size=sampler.block_size,
            random_state=rng,
            normalize=False,
            chunk_totals=True,
        )
    # The wide route (fewer rows than columns) computes in memory.
    return (scores if is_lazy(scores) else rows.lazy(scores)), totals
