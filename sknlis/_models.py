"""The two model families of the paper, as pure functions of a flat ``theta``.

Single-index model (Example 3.1)::

    f(x; theta) = phi(<w, x> + b),            theta = [w; b]

Two-layer ReLU network (Example 3.2), hidden biases inside ``b_j``::

    f(x; theta) = sum_j phi(a_j * relu(<b_j, [x; 1]>)) + c,
    theta = [a_1, b_1, ..., a_m, b_m, c]

``b`` and ``c`` are present only when ``fit_intercept`` is true. Each function
returns the model output ``f`` (never the residual) and, for the Jacobians, the
per-sample gradients ``d f_i / d theta`` of shape ``(n_samples, n_params)``.
"""

import numpy as np

__all__ = [
    "single_index_n_params",
    "single_index_output",
    "single_index_jacobian",
    "two_layer_n_params",
    "two_layer_unpack",
    "two_layer_output",
    "two_layer_jacobian",
]


def _augment(X, fit_intercept):
    """``[X, 1]`` when the model has an intercept, else ``X``."""
    if not fit_intercept:
        return X
    return np.hstack([X, np.ones((X.shape[0], 1), dtype=X.dtype)])


def single_index_n_params(n_features, fit_intercept=True):
    return n_features + int(fit_intercept)


def single_index_output(X, theta, activation, fit_intercept=True):
    """``phi(<w, x_i> + b)`` for every row of ``X``."""
    return activation(_linear_index(X, theta, fit_intercept))


def _linear_index(X, theta, fit_intercept):
    if fit_intercept:
        return X @ theta[:-1] + theta[-1]
    return X @ theta


def single_index_jacobian(X, theta, activation, fit_intercept=True):
    """Per-sample gradients ``phi'(z_i) [x_i; 1]``."""
    z = _linear_index(X, theta, fit_intercept)
    return activation.derivative(z)[:, None] * _augment(X, fit_intercept)


def two_layer_n_params(n_features, n_hidden, fit_intercept=True):
    return n_hidden * (n_features + 2) + int(fit_intercept)


def two_layer_unpack(theta, n_features, n_hidden, fit_intercept=True):
    """Split ``theta`` into ``a`` (m,), ``B`` (m, d + 1) and ``c`` (float).

    ``B[j]`` is ``b_j``: the hidden weights then the hidden bias.
    """
    neurons = theta[: n_hidden * (n_features + 2)].reshape(n_hidden, n_features + 2)
    c = float(theta[-1]) if fit_intercept else 0.0
    return neurons[:, 0], neurons[:, 1:], c


def _hidden(X, theta, n_hidden, fit_intercept):
    n_features = X.shape[1]
    a, B, c = two_layer_unpack(theta, n_features, n_hidden, fit_intercept)
    U = X @ B[:, :-1].T + B[:, -1]
    return a, c, U, np.maximum(U, 0.0)


def two_layer_output(X, theta, n_hidden, activation, fit_intercept=True):
    """``sum_j phi(a_j relu(<b_j, [x_i; 1]>)) + c`` for every row of ``X``."""
    a, c, _, H = _hidden(X, theta, n_hidden, fit_intercept)
    return activation(H * a).sum(axis=1) + c


def two_layer_jacobian(X, theta, n_hidden, activation, fit_intercept=True):
    """Per-sample gradients, columns in the order of ``theta``."""
    a, _, U, H = _hidden(X, theta, n_hidden, fit_intercept)
    dphi = activation.derivative(H * a)
    return _neuron_blocks(X, dphi * H, dphi * a * (U > 0), fit_intercept)


def _neuron_blocks(X, scale_a, scale_b, fit_intercept):
    """Rows ``[s_a_j, s_b_j * [x; 1]]`` for each neuron ``j``, then ``c``'s 1.

    Both the Jacobian and the adjoint of the two-layer network have this
    layout; only the per-neuron scales differ.
    """
    n_samples, n_features = X.shape
    n_hidden = scale_a.shape[1]
    blocks = np.empty((n_samples, n_hidden, n_features + 2))
    blocks[:, :, 0] = scale_a
    blocks[:, :, 1:-1] = scale_b[:, :, None] * X[:, None, :]
    blocks[:, :, -1] = scale_b
    out = blocks.reshape(n_samples, -1)
    if fit_intercept:
        out = np.hstack([out, np.ones((n_samples, 1))])
    return out
