"""L-BFGS-B on a loss that returns its value and gradient together."""

import functools
import itertools
from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import ThreadpoolController

__all__ = ["LbfgsResult", "lbfgs"]

# A trial point whose loss overflows gets this multiple of (1 + the starting
# loss) with a zero gradient: larger than any loss the descent can reach, yet
# moderate enough that the line search's interpolation backtracks by a normal
# factor. (inf or NaN stop L-BFGS-B; a value like 1e300 makes it shrink the
# step to nothing and report a false convergence.)
_OVERFLOW_FACTOR = 1e4


# Correction pairs L-BFGS-B keeps (scipy's default is 10). On the two-layer
# network, more pairs reached lower losses at the same iteration count (median
# over 9 seeds on RAND HIE and Friedman #1, for 10, 20, 30 and 50 pairs), for
# O(50 * n_params) more work per iteration: small beside a loss evaluation
# on n >> 50 rows.
_MEMORY = 50


@functools.cache
def _threadpools():
    # Inspecting the loaded libraries takes about a millisecond: do it once.
    return ThreadpoolController()


class LbfgsResult(NamedTuple):
    """What :func:`lbfgs` returns."""

    theta: np.ndarray
    loss: float
    n_iter: int
    converged: bool
    message: str


def _guarded(loss_gradient):
    """``loss_gradient`` that never returns inf or NaN to the optimizer.

    A non-finite loss or gradient at the first point raises ``ValueError``:
    no step can recover from it. Later, it becomes a large finite loss.
    """
    start = []

    def fun(theta):
        with np.errstate(over="ignore", invalid="ignore"):
            loss, grad = loss_gradient(theta)
        finite = np.isfinite(loss) and np.all(np.isfinite(grad))
        if not start:
            if not finite:
                raise ValueError(
                    "The squared loss overflows float64 at the initial "
                    "parameters: the features or targets are too large. Rescale "
                    "X and y (e.g. with StandardScaler)."
                )
            start.append(abs(float(loss)))
        if finite:
            return loss, grad
        return _OVERFLOW_FACTOR * (1.0 + start[0]), np.zeros_like(theta)

    return fun


def lbfgs(loss_gradient, theta0, *, max_iter, tol, bounds=None, verbose=0):
    """Minimize ``loss_gradient`` from ``theta0`` with scipy's L-BFGS-B.

    Parameters
    ----------
    loss_gradient : callable
        ``loss_gradient(theta)`` returns ``(loss, gradient)``.
    theta0 : ndarray of shape (n_params,)
        Start; must be inside ``bounds``.
    max_iter : int
        Maximum number of L-BFGS-B iterations.
    tol : float
        Stop when the largest entry of the projected gradient is at most
        ``tol``.
    bounds : float or None, default=None
        ``|theta_j| <= bounds`` for every coordinate, or no bounds.
    verbose : int, default=0
        Print the loss after every iteration when positive.

    Returns
    -------
    result : LbfgsResult
        The best ``theta``, its ``loss``, ``n_iter`` (at least 1),
        ``converged`` (False when the iteration or evaluation budget ran out
        or the line search failed: the caller decides whether to warn) and
        scipy's ``message``.

    Raises
    ------
    ValueError
        If the loss or its gradient is not finite at ``theta0``, where no
        step can recover (the data or targets are too large to square).
    """
    fun = _guarded(loss_gradient)
    n_params = theta0.shape[0]
    box = None if bounds is None else [(-bounds, bounds)] * n_params

    iterations = itertools.count(1)

    def report(intermediate_result):
        print(f"Iteration {next(iterations)}, loss = {intermediate_result.fun:.8g}")

    # One BLAS thread: every BLAS call in a fit is small (L-BFGS-B's own
    # vector work, and the losses' cache-sized row blocks), where threads only
    # add synchronization. On a busy 2-core machine L-BFGS-B's internal BLAS
    # with 2 threads made small fits 25 times slower.
    with _threadpools().limit(limits=1, user_api="blas"):
        result = minimize(
            fun,
            theta0,
            method="L-BFGS-B",
            jac=True,
            bounds=box,
            callback=report if verbose > 0 else None,
            options={
                "maxiter": max_iter,
                "maxcor": _MEMORY,
                "maxfun": 20 * max_iter + 20,
                "maxls": 50,
                "gtol": tol,
                "ftol": 64 * np.finfo(float).eps,
            },
        )
    return LbfgsResult(
        theta=result.x,
        loss=float(result.fun),
        n_iter=max(int(result.nit), 1),
        converged=result.status == 0,
        message=str(result.message),
    )
