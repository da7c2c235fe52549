"""Nonlinear adjoints and dual matrices (Definition 3.1, Proposition 3.1).

The augmented adjoint row of sample ``i`` is ``[r*_i(theta); r_i(0)]`` with
``r*_i(theta) = int_0^1 grad r_i(t theta) dt``. Its defining property, tested
throughout, is the exact identity ``r_i(theta) = <[theta; 1], row_i>``.

Without labels (``y=None``) the rows are those of the model output ``f``: only
the last column changes, from ``f_i(0) - y_i`` to ``f_i(0)``.
"""

from numbers import Integral

import numpy as np
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, validate_params

from sknlis._activations import make_activation
from sknlis._losses import SquaredError
from sknlis._models import LinearIndex, TwoLayerReLU

__all__ = ["single_index_adjoint", "two_layer_adjoint", "quadrature_adjoint"]


def single_index_adjoint(X, theta, activation, *, y=None, fit_intercept=True):
    """Dual matrix of the single-index model ``phi(<w, x> + b)``.

    Row ``i`` is ``[D(z_i) [x_i; 1]; phi(0) - y_i]`` with ``z_i = <w, x_i> + b``
    and ``D(z) = (phi(z) - phi(0)) / z``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    theta : ndarray of shape (n_features + fit_intercept,)
        ``[w; b]``, or ``w`` alone without intercept.
    activation : Activation
        See :func:`make_activation`.
    y : ndarray of shape (n_samples,), default=None
        Targets. Without them the rows represent the output, not the residual.
    fit_intercept : bool, default=True

    Returns
    -------
    F : ndarray of shape (n_samples, len(theta) + 1)
        ``F @ np.append(theta, 1)`` is the residual (or the output).

    Examples
    --------
    >>> import numpy as np
    >>> from sknlis import make_activation, single_index_adjoint
    >>> X = np.array([[0.5, -1.0], [2.0, 0.0]])
    >>> theta = np.array([1.0, 2.0, 0.1])
    >>> phi = make_activation("tanh")
    >>> F = single_index_adjoint(X, theta, phi)
    >>> np.allclose(F @ np.append(theta, 1), np.tanh(X @ [1.0, 2.0] + 0.1))
    True
    """
    model = LinearIndex(X.shape[1], fit_intercept=fit_intercept)
    return model.adjoint(X, theta, SquaredError(activation), y)


def two_layer_adjoint(X, theta, n_hidden, activation, *, y=None, fit_intercept=True):
    """Dual matrix of the two-layer ReLU network of Example 3.2.

    Each neuron ``(a_j, b_j)`` is homogeneous of degree 2, so its block is
    ``D(v_j) / 2 * [relu(u_j); a_j 1{u_j > 0} [x; 1]]`` with
    ``u_j = <b_j, [x; 1]>`` and ``v_j = a_j relu(u_j)``; the output bias
    contributes 1 and the last column is ``m phi(0) - y``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    theta : ndarray of shape (n_hidden * (n_features + 2) + fit_intercept,)
        ``[a_1, b_1, ..., a_m, b_m, c]``.
    n_hidden : int
    activation : Activation
        The output activation ``phi`` applied to each neuron's term.
    y : ndarray of shape (n_samples,), default=None
    fit_intercept : bool, default=True
        Whether ``theta`` ends with the output bias ``c``.

    Returns
    -------
    F : ndarray of shape (n_samples, len(theta) + 1)

    Examples
    --------
    >>> import numpy as np
    >>> from sknlis import make_activation, two_layer_adjoint
    >>> rng = np.random.default_rng(0)
    >>> X, theta = rng.normal(size=(4, 3)), rng.normal(size=2 * 5 + 1)
    >>> F = two_layer_adjoint(X, theta, 2, make_activation("identity"))
    >>> F.shape
    (4, 12)
    """
    model = TwoLayerReLU(
        X.shape[1], n_hidden, activation=activation, fit_intercept=fit_intercept
    )
    return model.adjoint(X, theta, SquaredError(make_activation("identity")), y)


# Gauss-Legendre with this many nodes integrates polynomials of degree 1999
# exactly; more cannot help in double precision, and leggauss builds an
# n_nodes x n_nodes matrix (74 GiB for 10**5 nodes).
_MAX_NODES = 1000


@validate_params(
    {
        "jacobian": [callable],
        "theta": ["array-like"],
        "residual": [callable],
        "n_nodes": [Interval(Integral, 1, _MAX_NODES, closed="both")],
        "return_error": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def quadrature_adjoint(jacobian, theta, residual, *, n_nodes=8, return_error=False):
    """Dual matrix of any differentiable model by Gauss-Legendre quadrature.

    Approximates ``r*(theta) = int_0^1 grad r(t theta) dt`` by
    ``sum_k w_k J(t_k theta)``, where ``J(t_k theta)`` is the Jacobian
    *evaluated at the point* ``t_k theta``. (The derivative of
    ``theta -> r(t theta)`` would carry an extra factor ``t`` and break the
    adjoint identity.)

    Parameters
    ----------
    jacobian : callable
        ``jacobian(theta)`` returns the per-sample gradients of the residuals
        (or outputs), an array of shape (n_samples, n_params).
    theta : ndarray of shape (n_params,)
    residual : callable
        ``residual(theta)`` returns the residuals (or outputs), shape
        (n_samples,). It supplies the last column ``r(0)`` and the error.
    n_nodes : int, default=8
        Number of Gauss-Legendre nodes on [0, 1], from 1 to 1000. Exact for
        integrands that are polynomials of degree ``2 * n_nodes - 1`` in ``t``.
    return_error : bool, default=False
        Also return ``|<[theta; 1], row_i> - r_i(theta)|``, the per-sample
        violation of the adjoint identity: the quadrature error users can see.

    Returns
    -------
    F : ndarray of shape (n_samples, n_params + 1)
    error : ndarray of shape (n_samples,)
        Only when ``return_error`` is true.

    Examples
    --------
    >>> import numpy as np
    >>> from sknlis import quadrature_adjoint
    >>> X = np.array([[1.0, 2.0], [3.0, -1.0]])
    >>> F, err = quadrature_adjoint(
    ...     lambda t: (1 - np.tanh(X @ t) ** 2)[:, None] * X,
    ...     np.array([0.3, -0.2]),
    ...     lambda t: np.tanh(X @ t),
    ...     return_error=True,
    ... )
    >>> bool(err.max() < 1e-10)
    True
    """
    if isinstance(n_nodes, bool):
        raise TypeError(f"n_nodes must be an int, not a bool; got {n_nodes!r}.")
    if np.iscomplexobj(theta):
        raise TypeError("theta must be real; got complex values.")
    theta = check_array(
        theta,
        ensure_2d=False,
        ensure_min_samples=0,
        ensure_min_features=0,
        input_name="theta",
    )
    if theta.ndim != 1 or theta.size == 0:
        raise ValueError(
            f"theta must be a non-empty 1-D array; got shape {theta.shape}."
        )
    at_zero = _called(residual, "residual", np.zeros_like(theta), None)
    shape = (at_zero.shape[0], theta.shape[0])
    nodes, weights = np.polynomial.legendre.leggauss(n_nodes)
    nodes, weights = (nodes + 1.0) / 2.0, weights / 2.0
    rows = sum(
        w * _called(jacobian, "jacobian", t * theta, shape)
        for t, w in zip(nodes, weights)
    )
    F = np.hstack([rows, at_zero[:, None]])
    if not return_error:
        return F
    r = _called(residual, "residual", theta, at_zero.shape)
    return F, np.abs(F @ np.append(theta, 1.0) - r)


def _called(function, name, theta, shape):
    """``function(theta)`` as a finite float array of ``shape``, or a clear error.

    ``shape=None`` asks for a non-empty 1-D array of any length.
    """
    value = function(theta)
    try:
        value = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name}(theta) must return an array of numbers; got "
            f"{type(value).__name__}."
        ) from None
    expected = "a non-empty 1-D array" if shape is None else f"shape {shape}"
    if (value.shape != shape) if shape else (value.ndim != 1 or value.size == 0):
        raise ValueError(
            f"{name}(theta) must return {expected} (n_samples, n_params = "
            f"len(theta)); got shape {value.shape}."
        )
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{name}(theta) returned NaN or infinity.")
    return value
