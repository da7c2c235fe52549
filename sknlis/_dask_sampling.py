"""Importance sampling from lazy scores, without gathering the n scores.

One pass sums each chunk's scores (and, without replacement, keeps its
largest ``n_samples``); the draw is then planned on the client from these
summaries, and a second pass lets each chunk invert its own part of it.

With replacement the draw is the in-memory one (``importance_sample``) for
the same random state: the same sorted uniforms are split at the chunks'
cumulative score totals, and each chunk searches its own cumulative sums.
Indices are equal; weights equal to rounding.

Without replacement the inclusion probabilities ``min(1, c tau_i)`` are the
in-memory ones: the level ``c`` needs only the ``n_samples`` largest scores
and the total. The systematic sample lays the rows on the line chunk after
chunk (each chunk in its own random order) instead of in one global random
order, so the draw differs from the in-memory one; each row's inclusion
probability does not.
"""

import dask
import numpy as np

from sknlis._sampling import water_filling

__all__ = ["chunked_importance_sample"]


def _summary(block, top):
    block = np.asarray(block, dtype=np.float64)
    if not np.all(np.isfinite(block)) or np.any(block < 0):
        raise ValueError("scores must be finite and non-negative.")
    largest = -np.sort(-block)[:top] if top else None
    return float(block.sum()), int(np.count_nonzero(block)), largest


def _probabilities(block, scale, shift):
    """``tau'`` of a chunk: ``(1 - mix) s / S + mix / n``."""
    return np.asarray(block, dtype=np.float64) * scale + shift


def _draw_with_replacement(block, uniforms, cdf_start, total, scale, shift, count):
    tau = _probabilities(block, scale, shift)
    cdf = cdf_start + np.cumsum(tau) / total
    local = np.minimum(np.searchsorted(cdf, uniforms, side="right"), tau.shape[0] - 1)
    return local, 1.0 / (count * tau[local])


def _draw_without_replacement(
    block, scale, shift, points, level, seed, start, line_start, stretch
):
    tau = _probabilities(block, scale, shift)
    pi = np.minimum(1.0, level * tau)
    certain = np.flatnonzero(pi >= 1.0)
    uncertain = np.flatnonzero((pi > 0.0) & (pi < 1.0))
    picked = np.empty(0, dtype=np.intp)
    if points.shape[0]:
        order = uncertain[
            np.random.default_rng([seed, start]).permutation(len(uncertain))
        ]
        edges = line_start + np.cumsum(pi[order]) * stretch
        where = np.searchsorted(edges, points, side="right")
        picked = order[np.minimum(where, order.shape[0] - 1)]
    local = np.sort(np.concatenate([certain, picked]))
    return local, 1.0 / pi[local]


def chunked_importance_sample(scores, count, *, replace, mix_uniform, rng):
    """``(indices, weights)`` as :func:`sknlis.importance_sample` draws them.

    ``scores`` is a lazy 1-D Dask array of non-negative scores (any common
    factor); ``count`` the number of draws; ``rng`` a ``RandomState``.
    Returns in-memory arrays and the chunks' score totals.
    """
    chunks = scores.chunks[0]
    n_rows = int(sum(chunks))
    starts = np.concatenate([[0], np.cumsum(chunks)[:-1]]).astype(np.int64)
    blocks = list(scores.to_delayed().ravel())
    top = 0 if replace else count
    summaries = dask.compute(*[dask.delayed(_summary)(b, top) for b in blocks])
    totals = np.array([s[0] for s in summaries])
    total = totals.sum()
    if not total > 0:
        raise ValueError("scores must have a positive sum; all are zero.")
    scale, shift = (1.0 - mix_uniform) / total, mix_uniform / n_rows
    mass = totals * scale + shift * np.asarray(chunks)
    if replace:
        uniforms = np.sort(rng.uniform(size=count))
        edges = np.cumsum(mass)
        edges /= edges[-1]
        cuts = [0, *np.searchsorted(uniforms, edges[:-1], side="left"), count]
        cdf_starts = np.concatenate([[0.0], edges[:-1]])
        draw = dask.delayed(_draw_with_replacement, pure=False)
        tasks = [
            draw(
                b,
                uniforms[cuts[i] : cuts[i + 1]],
                cdf_starts[i],
                mass.sum(),
                scale,
                shift,
                count,
            )
            for i, b in enumerate(blocks)
            if cuts[i + 1] > cuts[i]
        ]
        chosen = [i for i in range(len(blocks)) if cuts[i + 1] > cuts[i]]
    else:
        n_positive = n_rows if mix_uniform > 0 else sum(s[1] for s in summaries)
        if count > n_positive:
            raise ValueError(
                f"n_samples={count} exceeds the {n_positive} rows with a positive "
                "score: without replacement they cannot all be drawn. Lower "
                "n_samples or set mix_uniform > 0."
            )
        largest = np.concatenate([s[2] for s in summaries]) * scale + shift
        owner = np.repeat(np.arange(len(blocks)), [len(s[2]) for s in summaries])
        order = np.argsort(-largest, kind="stable")
        largest, owner = largest[order], owner[order]
        grand = mass.sum()
        tail = grand - np.concatenate([[0.0], np.cumsum(largest)])
        n_capped = water_filling(largest, tail, count)
        level = (count - n_capped) / tail[n_capped]
        capped = level * largest >= 1.0
        # The uncertain rows' share of the line: the chunk's mass minus its
        # capped rows (all among the largest scores).
        line = level * (mass - np.bincount(owner[capped], largest[capped], len(blocks)))
        n_left = count - int(capped.sum())
        stretch = n_left / line.sum() if n_left else 0.0
        line_starts = np.concatenate([[0.0], np.cumsum(line)[:-1]]) * stretch
        seed = int(rng.randint(np.iinfo(np.int32).max))
        points = rng.uniform() + np.arange(n_left)
        cuts = [0, *np.searchsorted(points, line_starts[1:], side="left"), n_left]
        draw = dask.delayed(_draw_without_replacement, pure=False)
        tasks = [
            draw(
                b,
                scale,
                shift,
                points[cuts[i] : cuts[i + 1]],
                level,
                seed,
                int(starts[i]),
                line_starts[i],
                stretch,
            )
            for i, b in enumerate(blocks)
        ]
        chosen = list(range(len(blocks)))
    pieces = dask.compute(*tasks)
    indices = np.concatenate(
        [local + starts[i] for i, (local, _) in zip(chosen, pieces)]
    )
    weights = np.concatenate([w for _, w in pieces])
    return indices, weights, totals
