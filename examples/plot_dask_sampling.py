"""
Sampling a Dask array without holding it
========================================

When the rows do not fit in memory, keep them in a Dask collection: the
resampler gathers only a uniform pilot sample and the drawn rows, and every
chunk computes its own dual matrix and scores where it lives. With
replacement the sample is the one the in-memory path draws for the same seed.

This example runs on a small array and Dask's synchronous scheduler, so it
takes seconds; the same code runs on a ``distributed`` cluster and on data
read lazily from Parquet or zarr (see the user guide page "Data larger than
memory").
"""

# %%
# The data: a Dask array chunked along its rows
# ---------------------------------------------
# Every chunk must hold whole rows (chunk along axis 0 only). Here 20,000 rows
# in 8 chunks, with a target from a single-index model.
import dask
import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import Ridge

from sknlis import NonlinearImportanceResampler, SingleIndexRegressor, leverage_scores
from sknlis.pipeline import Pipeline

dask.config.set(scheduler="synchronous")

rng = np.random.default_rng(0)
X_memory = rng.standard_normal((20_000, 6)).astype(np.float32)
w = rng.standard_normal(6)
y_memory = np.tanh(X_memory @ w) + 0.1 * rng.standard_normal(20_000)
X = da.from_array(X_memory, chunks=(2_500, -1))
y = da.from_array(y_memory, chunks=(2_500,))
X

# %%
# Draw 1% of the rows
# -------------------
# The result is in memory (numpy for Dask arrays, pandas for Dask data
# frames), with global row indices and importance weights. The scores of all
# rows stay lazy: ``scores_`` is a Dask array.
sampler = NonlinearImportanceResampler(
    SingleIndexRegressor(random_state=0), n_samples=0.01, random_state=0
)
X_sample, y_sample = sampler.fit_resample(X, y)
print(type(X_sample).__name__, X_sample.shape, type(sampler.scores_).__name__)

in_memory = NonlinearImportanceResampler(
    SingleIndexRegressor(random_state=0), n_samples=0.01, random_state=0
)
in_memory.fit_resample(X_memory, y_memory)
print(
    "same rows as in memory:",
    np.array_equal(sampler.sample_indices_, in_memory.sample_indices_),
)

# %%
# Where the sample comes from
# ---------------------------
# Each chunk drew in proportion to its share of the scores; computing
# ``scores_`` chunk by chunk never holds more than a chunk of the dual matrix.
scores = sampler.scores_.compute()
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(np.sort(scores)[::-1] * len(scores), lw=1)
ax.set(
    xlabel="rows, by decreasing score",
    ylabel="score x n",
    yscale="log",
    title="Adjoint leverage scores of the Dask array",
)
fig.tight_layout()

# %%
# The whole workflow in a pipeline
# --------------------------------
# :class:`sknlis.pipeline.Pipeline` runs the sampling step on the Dask
# collection and fits the final step, an ordinary in-memory estimator, on the
# weighted sample.
pipeline = Pipeline(
    [
        ("sample", NonlinearImportanceResampler(n_samples=0.01, random_state=0)),
        ("model", Ridge()),
    ]
).fit(X, y)
print("refit on", pipeline.sample_weight_.shape[0], "weighted rows")

# %%
# Lazy scores of any matrix
# -------------------------
# :func:`sknlis.leverage_scores` accepts a Dask array too and returns a lazy
# one, equal to the in-memory scores to rounding.
lazy = leverage_scores(X)
print(np.abs(lazy.compute() - leverage_scores(X_memory)).max())
