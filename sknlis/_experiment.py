"""The paper's Figure 1 experiment, shared by the demo, benchmarks and reproduction.

For a strategy and a sample size ``s``, draw ``s`` rows by importance, refit
the model on them with the importance weights (``theta_S``) and record::

    log10((L(theta_S) - L(theta*)) / L(theta*)),   L(theta) = sum_i r_i(theta)**2

with both losses on all rows, unweighted; ``theta*`` is the full-data fit.
The strategies are the paper's (MATH.md section 6): uniform (UN), leverage or
row norm of ``[X, 1]`` (LLS, LRN) and of the dual matrix at ``theta*`` (ALS,
ARN); a strategy with a ``pilot_size`` is the practical mode, its dual matrix
taken at a pilot fit instead of ``theta*``.

Leverage is exact, as in the paper. A strategy may force the sketch
(``leverage_method="sketch"``): its scores are then random, so at ``theta*``
they are recomputed for every repeat, with a seed derived from the repeat's
(:func:`_scoring_seed`), and the draw keeps the repeat's own seed. Repeat
``r`` of a sketched strategy thus draws with the same random numbers as
repeat ``r`` of its exact twin (inverse CDF: they pick mostly the same rows
on a few hundred rows; on tens of thousands the scores' errors add up along
the CDF and the rows drawn differ, so the comparison is then unpaired). A
pilot strategy's resampler draws the pilot, the sketch and the sample from
the repeat's seed in turn: its pilot is the exact twin's, its sample is not.
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sknlis._regressors import SingleIndexRegressor
from sknlis._resampler import NonlinearImportanceResampler
from sknlis._sampling import importance_sample

__all__ = ["PAPER_STRATEGIES", "paper_model", "full_loss", "relative_excess_loss"]

PAPER_STRATEGIES = {
    "UN": {"scores": "uniform"},
    "LLS": {"scores": "leverage", "basis": "linear", "leverage_method": "exact"},
    "LRN": {"scores": "norm", "basis": "linear"},
    "ALS": {"scores": "leverage", "basis": "adjoint", "leverage_method": "exact"},
    "ARN": {"scores": "norm", "basis": "adjoint"},
    "ALS pilot": {
        "scores": "leverage",
        "basis": "adjoint",
        "pilot_size": "auto",
        "leverage_method": "exact",
    },
}


def paper_model(random_state=0):
    """The swish single-index model of the paper's regressions, fitted tightly.

    An under-converged fit would add optimization error to the sampling error
    being measured, hence the small tolerance.
    """
    return SingleIndexRegressor(
        activation="swish",
        c1=1.0,
        c2=2.0,
        tol=1e-10,
        max_iter=10_000,
        store_adjoint=False,
        random_state=random_state,
    )


def full_loss(model, X, y):
    """``L(theta) = sum_i (f(x_i) - y_i)**2`` on all rows, unweighted."""
    residual = model.predict(X) - y
    return float(residual @ residual)


def _log_excess(excess):
    if excess > 0:
        return np.log10(excess)
    return -np.inf if excess == 0 else np.nan


def _sampler(params, optimum, make_model, count, seed):
    params = dict(params)
    if "pilot_size" in params:
        estimator, prefit = make_model(seed), False
    else:
        estimator, prefit = optimum, True
    return NonlinearImportanceResampler(
        estimator, prefit=prefit, n_samples=count, random_state=seed, **params
    )


def _random_scores(sampler):
    """Whether the scores depend on the seed (sketched leverage may)."""
    return sampler.scores == "leverage" and sampler.leverage_method != "exact"


def _scoring_seed(seed):
    """The seed of repeat ``seed``'s scores: a stream apart from its draw's."""
    return int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])


def relative_excess_loss(
    X,
    y,
    *,
    sizes,
    repeats,
    strategies=PAPER_STRATEGIES,
    make_model=paper_model,
    optimum=None,
    progress=None,
):
    """Log10 relative excess loss of weighted refits, per strategy, size, repeat.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    sizes : sequence of float
        Sample sizes as fractions of the rows.
    repeats : int
        Independent draws per strategy and size (seeds ``0 .. repeats - 1``).
    strategies : dict of str -> dict, default=PAPER_STRATEGIES
        Resampler parameters per strategy; one with ``pilot_size`` is refitted
        from a pilot each time, the others score at ``optimum`` (once, or
        every repeat if their scores are random: see the module's notes).
    make_model : callable, default=paper_model
        ``make_model(seed)`` returns an unfitted model.
    optimum : fitted model, default=None
        ``theta*``; fitted here by ``make_model(0)`` when None.
    progress : callable, default=None
        Called with a short message after each strategy and size.

    Returns
    -------
    errors : dict of str -> ndarray of shape (len(sizes), repeats)
        ``-inf`` where a refit matched ``L(theta*)`` exactly, NaN where one
        beat it (then ``theta*`` was not the minimizer and the medians show
        it rather than hide it).
    optimum : fitted model
    """
    optimum = make_model(0).fit(X, y) if optimum is None else optimum
    loss_star = full_loss(optimum, X, y)
    n_rows = X.shape[0]
    errors = {}
    with warnings.catch_warnings():
        # A refit on a tiny sample may stop at max_iter; its loss still counts.
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, params in strategies.items():
            errors[name] = np.empty((len(sizes), repeats))
            sampler = None
            for j, size in enumerate(sizes):
                count = max(1, int(round(size * n_rows)))
                for seed in range(repeats):
                    if "pilot_size" in params:
                        sampler = _sampler(params, optimum, make_model, count, seed)
                        sampler.fit_resample(X, y)
                        rows, weights = sampler.sample_indices_, sampler.sample_weight_
                    else:
                        if sampler is None or _random_scores(sampler):
                            sampler = _sampler(
                                params, optimum, make_model, count, _scoring_seed(seed)
                            )
                            sampler.fit_resample(X, y)
                        # Exact scores at theta* do not change between draws:
                        # the draw alone is repeated, as the resampler makes it.
                        rows, weights = importance_sample(
                            sampler.scores_,
                            count,
                            replace=sampler.replace,
                            mix_uniform=sampler.mix_uniform,
                            random_state=seed,
                        )
                    model = make_model(seed).fit(
                        X[rows], y[rows], sample_weight=weights
                    )
                    excess = (full_loss(model, X, y) - loss_star) / loss_star
                    errors[name][j, seed] = _log_excess(excess)
                if progress is not None:
                    progress(f"{name} at {size:.1%}")
    return errors, optimum
