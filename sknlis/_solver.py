"""L-BFGS-B on a loss that returns its value and gradient together."""

import contextlib
import functools
import itertools
import threading
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

# A loss or squared gradient norm above this counts as an overflow: L-BFGS-B
# squares gradient (differences) and multiplies them with steps, which turned
# a finite gradient of norm 1e154 into a NaN step and NaN parameters.
_LARGEST = 1e300


# Correction pairs L-BFGS-B keeps (scipy's default is 10). On the two-layer
# network, more pairs reached lower losses at the same iteration count (median
# over 9 seeds on RAND HIE and Friedman #1, for 10, 20, 30 and 50 pairs), for
# O(50 * n_params) more work per iteration: small beside a loss evaluation
# on n >> 50 rows.
_MEMORY = 50


# A coordinate whose gradient L-BFGS-B left above this share of its value at
# the start was never worked on: its curvature is checked (see _unresolved).
_UNREDUCED = 1e-2

# Forward-difference step for that curvature check, relative to max(1, |theta_j|):
# large enough that the gradient change of a coordinate with curvature 1e-14
# (features scaled by 1e-7) stays far above rounding, small enough to be local
# for unit-scale data.
_PROBE_STEP = 1e-3

# Runs at most: the first, then reruns with unresolved coordinates rescaled
# or with the loss in new units (see lbfgs).
_RUNS = 3

# A run that ends with the loss below this share of where it started is redone
# in the new units: scipy's tests (absolute below 1) were that much looser.
_RESTART_BELOW = 1e-4


@functools.cache
def _threadpools():
    # Inspecting the loaded libraries takes about a millisecond: do it once.
    return ThreadpoolController()


# The BLAS limit in place during fits, if any, and the lock that guards it.
_pinned = []
_pin_lock = threading.Lock()


@contextlib.contextmanager
def _one_blas_thread():
    """One BLAS thread during a fit, then as before.

    Every BLAS call in a fit is small (L-BFGS-B's own vector work, and the
    losses' cache-sized row blocks), where threads only add synchronization:
    benchmarks/bench_threads.py measured iterations 1.7 to 58 times faster
    pinned, on 2 cores (the small fits gain most). The limit is
    process-global, and OpenBLAS ignores a raise of its thread count from a
    thread other than the one that lowered it: so the fit that finds no limit
    in place sets it and restores it itself, and fits that overlap it share
    it (one still running after it left continues unpinned, only slower).
    Whatever the order in which threads finish, the process ends as it was.
    """
    with _pin_lock:
        owner = not _pinned
        if owner:
            _pinned.append(_threadpools().limit(limits=1, user_api="blas"))
    try:
        yield
    finally:
        if owner:
            with _pin_lock:
                _pinned.pop().restore_original_limits()


class LbfgsResult(NamedTuple):
    """What :func:`lbfgs` returns."""

    theta: np.ndarray
    loss: float
    n_iter: int
    converged: bool
    message: str


def _guarded(loss_gradient):
    """``loss_gradient`` that never returns inf, NaN or near-overflow values.

    A non-finite loss or gradient at the first point raises ``ValueError``:
    no step can recover from it. Later, it becomes a large finite loss.
    """
    start = []

    def fun(theta):
        with np.errstate(over="ignore", invalid="ignore"):
            loss, grad = loss_gradient(theta)
            finite = abs(loss) < _LARGEST and grad @ grad < _LARGEST
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

    The stopping tests do not depend on the scale of the data. Each run
    measures the loss in units of its value at the run's start when that is
    below 1 (scipy's tests are absolute below 1), and a run that ends far
    below its start is redone in the new units: targets scaled by 1e-8 fit
    as the unscaled ones. After a run, a coordinate whose gradient was barely
    reduced gets a one-sided curvature estimate; when a Newton step along it
    would still lower the loss by more than ``tol``, the next run works on
    that coordinate rescaled to unit curvature: features scaled by 1e-7 make
    the gradient tiny without the fit being done. At most ``_RUNS`` runs.

    Parameters
    ----------
    loss_gradient : callable
        ``loss_gradient(theta)`` returns ``(loss, gradient)``.
    theta0 : ndarray of shape (n_params,)
        Start; must be inside ``bounds``.
    max_iter : int
        Maximum number of L-BFGS-B iterations in all.
    tol : float
        Stop when the largest entry of the projected gradient is at most
        ``tol`` (in the loss units above).
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
    problem = _Problem(fun, bounds, verbose)
    theta, scale, n_iter, converged = theta0, np.ones_like(theta0), 0, False
    with _one_blas_thread():
        for _ in range(_RUNS):
            grad = problem.start(theta)
            run = problem.minimize(theta, scale, max_iter - n_iter, tol)
            n_iter += run.nit
            theta, message = run.x, str(run.message)
            # A rerun in smaller loss units that ends in a failed line search
            # (at the level of rounding) leaves the previous run's convergence.
            converged = run.status == 0 or (converged and run.status == 2)
            if run.status != 0 or n_iter >= max_iter:
                break
            rescaled = _unresolved(problem, theta, grad, tol, scale)
            if rescaled is None and run.fun > _RESTART_BELOW:
                break
            scale = scale if rescaled is None else rescaled
    return LbfgsResult(
        theta=theta,
        loss=float(run.fun) * problem.loss_scale,
        n_iter=max(n_iter, 1),
        converged=converged,
        message=message,
    )


class _Problem:
    """L-BFGS-B on ``loss / loss_scale`` over ``u = theta / scale``."""

    def __init__(self, fun, bounds, verbose):
        self.fun, self.bounds, self.loss_scale = fun, bounds, 1.0
        self.iterations = itertools.count(1) if verbose > 0 else None

    def start(self, theta):
        """Set the loss units at ``theta``; return the projected gradient there."""
        self.loss_scale = 1.0
        loss, grad = self.value_gradient(theta)
        self.loss_scale = min(1.0, abs(float(loss))) or 1.0
        return self.projected(theta, grad / self.loss_scale)

    def value_gradient(self, theta):
        loss, grad = self.fun(theta)
        return loss / self.loss_scale, grad / self.loss_scale

    def projected(self, theta, grad):
        """The gradient with the entries that push out of the box zeroed."""
        if self.bounds is None:
            return grad
        blocked = ((theta >= self.bounds) & (grad < 0)) | (
            (theta <= -self.bounds) & (grad > 0)
        )
        return np.where(blocked, 0.0, grad)

    def report(self, intermediate_result):
        loss = intermediate_result.fun * self.loss_scale
        print(f"Iteration {next(self.iterations)}, loss = {loss:.8g}")

    def minimize(self, theta0, scale, max_iter, tol):
        def scaled(u):
            loss, grad = self.value_gradient(u * scale)
            return loss, grad * scale

        box = None
        if self.bounds is not None:
            box = [(-b, b) for b in self.bounds / scale]
        result = minimize(
            scaled,
            theta0 / scale,
            method="L-BFGS-B",
            jac=True,
            bounds=box,
            callback=None if self.iterations is None else self.report,
            options={
                "maxiter": max_iter,
                "maxcor": _MEMORY,
                "maxfun": 20 * max_iter + 20,
                "maxls": 50,
                "gtol": tol,
                "ftol": 64 * np.finfo(float).eps,
            },
        )
        result.x = result.x * scale
        return result


def _unresolved(problem, theta, grad0, tol, scale):
    """Per-coordinate scale for another run, or None when none is needed.

    Only coordinates whose projected gradient kept more than ``_UNREDUCED`` of
    its starting value are checked, one gradient evaluation each: along
    coordinate ``j``, a Newton step lowers the loss by ``g_j**2 / (2 h_jj)``.
    Where that exceeds ``tol``, ``1 / sqrt(h_jj)`` is the coordinate's scale.
    """
    grad = problem.projected(theta, problem.value_gradient(theta)[1])
    scale = scale.copy()
    flagged = False
    unreduced = np.abs(grad) > _UNREDUCED * np.abs(grad0)
    for j in np.flatnonzero(unreduced & (grad != 0)):
        step = _PROBE_STEP * max(1.0, abs(theta[j]))
        if problem.bounds is not None and theta[j] + step > problem.bounds:
            step = -step
        probe = theta.copy()
        probe[j] += step
        curvature = (problem.value_gradient(probe)[1][j] - grad[j]) / step
        if curvature > 0 and grad[j] ** 2 / (2 * curvature) > tol:
            scale[j], flagged = 1 / np.sqrt(curvature), True
    return scale if flagged else None
