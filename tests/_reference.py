"""Independent reference formulas for the models, written the slow, plain way.

The package computes outputs and Jacobians with blocked, fused products; the
tests compare against these loops over rows and units instead.
"""

import numpy as np


def augment(X, fit_intercept=True):
    return np.hstack([X, np.ones((X.shape[0], 1))]) if fit_intercept else X


def two_layer_n_params(n_features, n_hidden, fit_intercept=True):
    return n_hidden * (n_features + 2) + int(fit_intercept)


def single_index_output(X, theta, phi, fit_intercept=True):
    return phi(augment(X, fit_intercept) @ theta)


def single_index_jacobian(X, theta, phi, fit_intercept=True):
    Xa = augment(X, fit_intercept)
    return phi.derivative(Xa @ theta)[:, None] * Xa


def two_layer_output(X, theta, n_hidden, phi, fit_intercept=True):
    """``sum_j phi(a_j relu(<b_j, [x; 1]>)) + c``, one unit at a time."""
    width = X.shape[1] + 2
    out = np.full(X.shape[0], theta[-1] if fit_intercept else 0.0)
    for j in range(n_hidden):
        a, b = theta[j * width], theta[j * width + 1 : (j + 1) * width]
        out += phi(a * np.maximum(augment(X) @ b, 0.0))
    return out


def two_layer_jacobian(X, theta, n_hidden, phi, fit_intercept=True):
    """Per-sample gradients of :func:`two_layer_output`, columns as ``theta``."""
    width = X.shape[1] + 2
    Xa = augment(X)
    J = np.zeros((X.shape[0], theta.shape[0]))
    for j in range(n_hidden):
        a, b = theta[j * width], theta[j * width + 1 : (j + 1) * width]
        u = Xa @ b
        dphi = phi.derivative(a * np.maximum(u, 0.0))
        J[:, j * width] = dphi * np.maximum(u, 0.0)
        J[:, j * width + 1 : (j + 1) * width] = (dphi * a * (u > 0))[:, None] * Xa
    if fit_intercept:
        J[:, -1] = 1.0
    return J
