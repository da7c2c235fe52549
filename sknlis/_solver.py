"""L-BFGS-B on a loss that returns its value and gradient together."""

import itertools
from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize

__all__ = ["LbfgsResult", "lbfgs"]

# A trial point whose loss overflows gets this value instead: finite, so the
# line search backtracks from it rather than L-BFGS-B stopping on inf or NaN.
_OVERFLOW_LOSS = 1e300


class LbfgsResult(NamedTuple):
    """What :func:`lbfgs` returns."""

    theta: np.ndarray
    loss: float
    n_iter: int
    converged: bool
    message: str


def _guarded(loss_gradient):
    """``loss_gradient`` with non-finite values replaced by a huge finite loss."""

    def fun(theta):
        with np.errstate(over="ignore", invalid="ignore"):
            loss, grad = loss_gradient(theta)
        if np.isfinite(loss) and np.all(np.isfinite(grad)):
            return loss, grad
        return _OVERFLOW_LOSS, np.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)

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
        If the loss overflows float64 at the start, where no step can
        recover (the data or targets are too large to square).
    """
    fun = _guarded(loss_gradient)
    n_params = theta0.shape[0]
    box = None if bounds is None else [(-bounds, bounds)] * n_params

    iterations = itertools.count(1)

    def report(intermediate_result):
        print(f"Iteration {next(iterations)}, loss = {intermediate_result.fun:.8g}")

    result = minimize(
        fun,
        theta0,
        method="L-BFGS-B",
        jac=True,
        bounds=box,
        callback=report if verbose > 0 else None,
        options={
            "maxiter": max_iter,
            "maxfun": 20 * max_iter + 20,
            "maxls": 50,
            "gtol": tol,
            "ftol": 64 * np.finfo(float).eps,
        },
    )
    if result.fun >= _OVERFLOW_LOSS:
        raise ValueError(
            "The squared loss overflows float64: the features or targets are "
            "too large. Rescale X and y (e.g. with StandardScaler)."
        )
    return LbfgsResult(
        theta=result.x,
        loss=float(result.fun),
        n_iter=max(int(result.nit), 1),
        converged=result.status == 0,
        message=str(result.message),
    )
