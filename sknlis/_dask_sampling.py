"""Importance sampling from lazy scores, without gathering the n scores.

One pass sums each chunk's scores (and, without replacement, keeps its
largest ``n_samples``); the draw is then planned on the client from these
summaries, and a second pass lets each chunk invert its own part of it and
take its drawn rows, which it holds at that moment (no pass to gather them).
With replacement the chunks' totals may come from elsewhere (the Gram pass
of exact leverage knows them, :func:`sknlis._scores.blocked_leverage_scores`):
the first pass is then skipped, and every chunk returns its own total so
that a plan made from totals that are off by more than rounding is redone
with the true ones.

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

# Chunk totals known in advance must match the drawn chunks' own sums to this
# fraction of the grand total (rounding of a trace against a sum: ~1e-13).
_TOTALS_RTOL = 1e-10


def _checked(block):
    block = np.asarray(block, dtype=np.float64)
    if not np.all(np.isfinite(block)) or np.any(block < 0):
        raise ValueError("scores must be finite and non-negative.")
    return block


def _summary(block, top):
    block = _checked(block)
    largest = -np.sort(-block)[:top] if top else None
    return float(block.sum()), int(np.count_nonzero(block)), largest


def _taken(part, local):
    if part is None:
        return None
    from sknlis._dask import take_rows

    return take_rows(part, local)


def _draw_with_replacement(
    block, part, uniforms, cdf_start, total, scale, shift, count
):
    block = _checked(block)
    tau = block * scale + shift
    cdf = cdf_start + np.cumsum(tau) / total
    local = np.minimum(np.searchsorted(cdf, uniforms, side="right"), tau.shape[0] - 1)
    return local, 1.0 / (count * tau[local]), float(block.sum()), _taken(part, local)


def _draw_without_replacement(
    block, part, scale, shift, points, level, seed, start, line_start, stretch
):
    tau = _checked(block) * scale + shift
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
    return local, 1.0 / pi[local], None, _taken(part, local)


def _positive(total):
    if not total > 0:
        raise ValueError("scores must have a positive sum; all are zero.")


def _with_replacement(blocks, parts, totals, uniforms, chunks, mix_uniform):
    """Every chunk draws the sorted ``uniforms`` that fall in its share."""
    total = totals.sum()
    _positive(total)
    scale, shift = (1.0 - mix_uniform) / total, mix_uniform / sum(chunks)
    mass = totals * scale + shift * np.asarray(chunks)
    edges = np.cumsum(mass)
    edges /= edges[-1]
    count = uniforms.shape[0]
    cuts = [0, *np.searchsorted(uniforms, edges[:-1], side="left"), count]
    cdf_starts = np.concatenate([[0.0], edges[:-1]])
    draw = dask.delayed(_draw_with_replacement, pure=False)
    # Every chunk, even one without draws: its total checks the plan.
    return dask.compute(
        *[
            draw(
                block,
                part,
                uniforms[cuts[i] : cuts[i + 1]],
                cdf_starts[i],
                mass.sum(),
                scale,
                shift,
                count,
            )
            for i, (block, part) in enumerate(zip(blocks, parts))
        ]
    )


def _without_replacement(blocks, parts, summaries, chunks, count, mix_uniform, rng):
    """Each chunk's share of the systematic sample (``min(1, c tau_i)``)."""
    n_rows = sum(chunks)
    totals = np.array([s[0] for s in summaries])
    total = totals.sum()
    _positive(total)
    n_positive = n_rows if mix_uniform > 0 else sum(s[1] for s in summaries)
    if count > n_positive:
        raise ValueError(
            f"n_samples={count} exceeds the {n_positive} rows with a positive "
            "score: without replacement they cannot all be drawn. Lower "
            "n_samples or set mix_uniform > 0."
        )
    scale, shift = (1.0 - mix_uniform) / total, mix_uniform / n_rows
    mass = totals * scale + shift * np.asarray(chunks)
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
    starts = np.concatenate([[0], np.cumsum(chunks)[:-1]])
    draw = dask.delayed(_draw_without_replacement, pure=False)
    return dask.compute(
        *[
            draw(
                block,
                part,
                scale,
                shift,
                points[cuts[i] : cuts[i + 1]],
                level,
                seed,
                int(starts[i]),
                line_starts[i],
                stretch,
            )
            for i, (block, part) in enumerate(zip(blocks, parts))
        ]
    )


def chunked_importance_sample(
    scores, count, *, replace, mix_uniform, rng, totals=None, parts=None
):
    """``(indices, weights)`` as :func:`sknlis.importance_sample` draws them.

    ``scores`` is a lazy 1-D Dask array of non-negative scores (any common
    factor); ``count`` the number of draws; ``rng`` a ``RandomState``.
    ``totals``: each chunk's sum of ``scores``, if known (used with
    replacement). ``parts``: each chunk's data (delayed ``(X_i, y_i)``),
    whose drawn rows the drawing task takes. Returns in-memory arrays,
    the chunks' score totals, and the rows taken from each chunk (a list in
    chunk order; None without ``parts``).
    """
    chunks = scores.chunks[0]
    blocks = list(scores.to_delayed().ravel())
    parts = [None] * len(blocks) if parts is None else list(parts)
    if replace:
        if totals is None:
            summaries = dask.compute(*[dask.delayed(_summary)(b, 0) for b in blocks])
            totals = np.array([s[0] for s in summaries])
        # A trace of a chunk of zero scores may round below zero.
        totals = np.maximum(totals, 0.0)
        uniforms = np.sort(rng.uniform(size=count))
        pieces = _with_replacement(blocks, parts, totals, uniforms, chunks, mix_uniform)
        actual = np.array([piece[2] for piece in pieces])
        if np.any(np.abs(actual - totals) > _TOTALS_RTOL * actual.sum()):
            totals = actual
            pieces = _with_replacement(
                blocks, parts, totals, uniforms, chunks, mix_uniform
            )
    else:
        summaries = dask.compute(*[dask.delayed(_summary)(b, count) for b in blocks])
        totals = np.array([s[0] for s in summaries])
        pieces = _without_replacement(
            blocks, parts, summaries, chunks, count, mix_uniform, rng
        )
    starts = np.concatenate([[0], np.cumsum(chunks)[:-1]]).astype(np.int64)
    indices = np.concatenate([piece[0] + start for piece, start in zip(pieces, starts)])
    weights = np.concatenate([piece[1] for piece in pieces])
    taken = None if parts[0] is None else [piece[3] for piece in pieces]
    return indices, weights, totals, taken
