"""Weighted importance sampling of rows (MATH.md section 5).

With replacement, ``s`` i.i.d. draws from ``tau`` each weigh ``1 / (s tau_i)``;
without, row ``i`` is included with probability ``pi_i = min(1, c tau_i)``
(``sum pi = s``) and weighs ``1 / pi_i``. Either way the weighted sample sum
``sum_draws w_i g_i`` is an unbiased estimate of ``sum_i g_i`` for every ``g``
that vanishes wherever ``tau`` does.
"""

import numbers

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, RealNotInt, validate_params

from sknlis._validation import check_scores

__all__ = ["importance_sample", "resolve_n_samples", "inclusion_probabilities"]


def resolve_n_samples(n_samples, n_rows, *, replace=True, name="n_samples"):
    """Turn an int, or a fraction in (0, 1], into a positive row count."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Real):
        raise TypeError(
            f"{name} must be an int or a float in (0, 1]; got {n_samples!r}."
        )
    if isinstance(n_samples, numbers.Integral):
        count = int(n_samples)
        if count < 1:
            raise ValueError(f"{name} must be at least 1; got {n_samples!r}.")
    else:
        if not 0 < n_samples <= 1:
            raise ValueError(
                f"{name} as a fraction must be in (0, 1]; got {n_samples!r}. "
                "Pass an int for an absolute number of rows."
            )
        count = int(round(n_samples * n_rows))
        if count < 1:
            raise ValueError(
                f"{name}={n_samples!r} of {n_rows} rows rounds to 0 rows; "
                "ask for a larger fraction or an int."
            )
    if not replace and count > n_rows:
        raise ValueError(
            f"{name}={n_samples!r} asks for {count} rows without replacement, "
            f"but there are only {n_rows}."
        )
    return count


def _mixed_probabilities(scores, mix_uniform):
    # Divided by the largest score first, the sum cannot overflow (scores
    # near 1e308) and tiny scores keep their precision.
    tau = scores / scores.max()
    tau /= tau.sum()
    return (1.0 - mix_uniform) * tau + mix_uniform / tau.shape[0]


def inclusion_probabilities(tau, n_samples):
    """``pi_i = min(1, c tau_i)`` with ``c`` chosen so that ``sum pi = n_samples``.

    Rows with the largest ``tau`` are capped at 1 one at a time until the rest,
    scaled to fill the remaining count, stay below 1.
    """
    n_positive = int(np.count_nonzero(tau))
    if n_samples > n_positive:
        raise ValueError(
            f"n_samples={n_samples} exceeds the {n_positive} rows with a positive "
            "score: without replacement they cannot all be drawn. Lower n_samples "
            "or set mix_uniform > 0."
        )
    order = np.argsort(tau)[::-1]
    sorted_tau = tau[order]
    # tail[m] = sum of tau over the rows left uncapped when the m largest are.
    tail = np.cumsum(sorted_tau[::-1])[::-1]
    n_capped = water_filling(sorted_tau, tail, n_samples)
    pi = np.empty_like(tau)
    pi[order[:n_capped]] = 1.0
    rest = order[n_capped:]
    pi[rest] = np.minimum(1.0, (n_samples - n_capped) * tau[rest] / tail[n_capped])
    return pi


def water_filling(sorted_tau, tail, n_samples):
    """How many of the largest scores are capped at inclusion probability 1.

    ``sorted_tau`` holds (at least) the ``n_samples`` largest scores in
    decreasing order and ``tail[m]`` the sum of all scores but the ``m``
    largest. The level of the rest is ``(n_samples - m) / tail[m]``.
    """
    capped = np.arange(n_samples)
    with np.errstate(divide="ignore", invalid="ignore"):
        fits = (n_samples - capped) * sorted_tau[capped] <= tail[capped] * (1 + 1e-12)
    return int(np.argmax(fits)) if fits.any() else n_samples


def _systematic_sample(pi, n_samples, rng):
    """Exactly ``n_samples`` rows, row ``i`` with probability ``pi_i``.

    Rows with ``pi_i = 1`` are taken outright; the others are laid end to end in
    random order on ``[0, n_samples')`` and every unit-spaced point from a
    uniform start picks the row it lands in (randomised systematic sampling).
    """
    certain = np.flatnonzero(pi >= 1.0)
    # Rows that cannot be drawn stay out of the line, so rounding at its end
    # can never land on one.
    uncertain = np.flatnonzero((pi > 0.0) & (pi < 1.0))
    n_left = n_samples - certain.shape[0]
    if n_left == 0:
        return certain
    order = uncertain[rng.permutation(uncertain.shape[0])]
    edges = np.cumsum(pi[order])
    edges *= n_left / edges[-1]
    points = rng.uniform() + np.arange(n_left)
    picked = np.minimum(
        np.searchsorted(edges, points, side="right"), order.shape[0] - 1
    )
    return np.concatenate([certain, order[picked]])


@validate_params(
    {
        "scores": ["array-like"],
        "n_samples": [
            Interval(numbers.Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="right"),
        ],
        "replace": ["boolean"],
        "mix_uniform": [Interval(numbers.Real, 0, 1, closed="both")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def importance_sample(
    scores, n_samples, *, replace=True, mix_uniform=0.0, random_state=None
):
    """Draw rows by importance and return them with unbiasing weights.

    Parameters
    ----------
    scores : array-like of shape (n_rows,)
        Non-negative importance scores with a positive sum, e.g. from
        :func:`leverage_scores`; normalized here to ``tau``.
    n_samples : int or float
        Number of draws (int), or a fraction of ``n_rows`` in (0, 1].
    replace : bool, default=True
        With replacement: ``n_samples`` i.i.d. draws from ``tau'``, each with
        weight ``1 / (n_samples * tau'_i)``; a row drawn twice appears twice.
        Without: each row at most once, with inclusion probability
        ``pi_i = min(1, c * tau'_i)`` such that ``sum pi = n_samples``, and
        weight ``1 / pi_i``.
    mix_uniform : float, default=0.0
        Sample from ``tau' = (1 - mix_uniform) * tau + mix_uniform / n_rows``.
        Any positive value bounds every weight by
        ``n_rows / (n_samples * mix_uniform)`` and lets every row be drawn.
    random_state : int, RandomState instance or None, default=None
        Seed of the draw.

    Returns
    -------
    indices : ndarray of shape (n_samples,)
        The drawn rows, in increasing order.
    weights : ndarray of shape (n_samples,)
        The importance weight of each drawn row: ``sum(weights * g[indices])``
        is an unbiased estimate of ``sum(g)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sknlis import importance_sample
    >>> idx, w = importance_sample([0.5, 0.25, 0.25], 4, random_state=1)
    >>> idx
    array([0, 0, 0, 1])
    >>> w
    array([0.5, 0.5, 0.5, 1. ])
    """
    scores = check_scores(scores)
    tau = _mixed_probabilities(scores, mix_uniform)
    n_rows = tau.shape[0]
    count = resolve_n_samples(n_samples, n_rows, replace=replace)
    rng = check_random_state(random_state)
    if replace:
        cdf = np.cumsum(tau)
        cdf /= cdf[-1]
        try:
            uniforms = rng.uniform(size=count)
        except MemoryError:
            raise ValueError(
                f"n_samples={n_samples!r} draws do not fit in memory (the "
                "indices and weights take 16 bytes per draw)."
            ) from None
        draws = np.searchsorted(cdf, uniforms, side="right")
        indices = np.sort(np.minimum(draws, n_rows - 1))
        return indices, 1.0 / (count * tau[indices])
    pi = inclusion_probabilities(tau, count)
    indices = np.sort(_systematic_sample(pi, count, rng))
    return indices, 1.0 / pi[indices]
