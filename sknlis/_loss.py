"""Weighted squared loss of the two model families, with its gradient.

The objective on a flat parameter vector ``theta`` is ::

    L(theta) = (sum_i w_i r_i(theta)**2 + alpha * ||theta||**2) / sum_i w_i

with residuals ``r_i = f(x_i; theta) - y_i``. Dividing by the total weight
does not move the minimizer of ``sum_i w_i r_i**2 + alpha ||theta||**2`` but
makes the value a weighted mean squared error, so that the optimizer's
tolerances mean the same for every ``n`` (and integer weights give exactly the
objective of repeated rows).

The gradient is a Jacobian-transpose-vector product computed from the same
forward pass: the ``n x p`` Jacobian is never formed. Rows are processed in
blocks small enough to stay in cache, so each evaluation reads ``X`` from
memory once (forward and backward products on a block run back to back).
"""

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

from sknlis._models import two_layer_unpack
from sknlis._validation import row_blocks

__all__ = ["SingleIndexLoss", "TwoLayerLoss"]


def _value_and_derivative(phi, z):
    """``phi(z)`` (in a new array or in ``z``) and ``phi'(z)`` (None if 1).

    The swish-type activation shares its sigmoid between the two, which
    halves the elementwise work of the single-index loss.
    """
    if phi.name == "identity":
        return z, None
    if phi.name != "swish":
        return phi(z), phi.derivative(z)
    gap = np.sqrt(phi.c2) - np.sqrt(phi.c1)
    s = expit(phi.zeta * z)
    D = gap * s
    D += np.sqrt(phi.c1)  # D(z) = phi(z) / z
    s *= 1.0 - s
    s *= (gap * phi.zeta) * z
    s += D  # phi'(z) = D(z) + gap * zeta * z * sigmoid' (zeta z)
    D *= z
    return D, s


class _SquaredLoss:
    """The objective ``L`` above; subclasses give one block's contribution.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        float64 data.
    y : ndarray of shape (n_samples,)
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights with a positive sum; ``None`` means all ones.
    alpha : float
        Ridge penalty on every coordinate of ``theta``.
    """

    # Bytes of X per block, so that a block stays in L2 cache between the
    # forward and the backward product (tuned on 2 MiB of L2 per core; the
    # two-layer loss has more temporaries per row, so smaller blocks).
    _block_bytes = 2**19

    def __init__(self, X, y, sample_weight, alpha):
        self.X, self.y, self.sample_weight, self.alpha = X, y, sample_weight, alpha
        n_samples = X.shape[0]
        self.weight_sum = (
            float(n_samples) if sample_weight is None else float(sample_weight.sum())
        )
        if sp.issparse(X):
            self.block_size = max(n_samples, 1)
        else:
            row_bytes = 8 * max(X.shape[1], 1)
            self.block_size = max(64, self._block_bytes // row_bytes)

    def loss_gradient(self, theta):
        """Return ``(L(theta), grad L(theta))``."""
        grad = np.zeros_like(theta)
        total = 0.0
        params = self._unpack(theta)
        sw = self.sample_weight
        n_samples = self.X.shape[0]
        for start, stop in row_blocks(n_samples, self.block_size):
            # A single block is X itself (slicing a sparse matrix copies it).
            X = self.X if stop - start == n_samples else self.X[start:stop]
            total += self._block(
                params,
                X,
                self.y[start:stop],
                None if sw is None else sw[start:stop],
                grad,
            )
        scale = 1.0 / self.weight_sum
        loss = (total + self.alpha * theta @ theta) * scale
        grad *= scale
        if self.alpha:
            grad += (2.0 * self.alpha * scale) * theta
        return loss, grad

    def __call__(self, theta):
        return self.loss_gradient(theta)

    @staticmethod
    def _residual_weights(r, sw):
        """``sum_i w_i r_i**2`` and ``d/df_i`` of it, ``2 w_i r_i``, in ``r``."""
        if sw is not None:
            total = float(r @ (sw * r))
            r *= sw
        else:
            total = float(r @ r)
        r *= 2.0
        return total, r


class SingleIndexLoss(_SquaredLoss):
    """``L`` for ``f(x) = phi(<w, x> + b)``, ``theta = [w; b]``."""

    def __init__(self, X, y, sample_weight, alpha, activation, fit_intercept):
        super().__init__(X, y, sample_weight, alpha)
        self.activation, self.fit_intercept = activation, fit_intercept

    def _unpack(self, theta):
        if self.fit_intercept:
            return theta[:-1], theta[-1]
        return theta, 0.0

    def _block(self, params, X, y, sw, grad):
        w, b = params
        z = X @ w
        if b:
            z += b
        f, dphi = _value_and_derivative(self.activation, z)
        f -= y
        total, g = self._residual_weights(f, sw)
        if dphi is not None:
            g *= dphi
        n_features = X.shape[1]
        grad[:n_features] += X.T @ g
        if self.fit_intercept:
            grad[-1] += g.sum()
        return total


class TwoLayerLoss(_SquaredLoss):
    """``L`` for ``f(x) = sum_j phi(a_j relu(<b_j, [x; 1]>)) + c``."""

    _block_bytes = 2**18

    def __init__(self, X, y, sample_weight, alpha, activation, fit_intercept, n_hidden):
        super().__init__(X, y, sample_weight, alpha)
        self.activation, self.fit_intercept = activation, fit_intercept
        self.n_hidden = n_hidden
        self._ones = np.ones(min(self.block_size, X.shape[0]))

    def _unpack(self, theta):
        n_features = self.X.shape[1]
        a, B, c = two_layer_unpack(theta, n_features, self.n_hidden, self.fit_intercept)
        # Contiguous copies, so the BLAS calls below need no hidden copies.
        return a[:, None].copy(), np.ascontiguousarray(B[:, :-1]), B[:, -1:].copy(), c

    def _block(self, params, X, y, sw, grad):
        # Hidden units along the rows and samples along the fast axis: the
        # elementwise work then runs over long contiguous rows.
        a, W, bias, c = params
        U = W @ X.T
        U += bias
        active = U > 0
        H = np.maximum(U, 0.0, out=U)  # U is not needed past its sign
        phi = self.activation
        if phi.name == "identity":
            f = a[:, 0] @ H
        else:
            V = H * a
            f = phi(V).sum(axis=0)
        f -= y
        if c:
            f += c
        total, g = self._residual_weights(f, sw)
        if phi.name == "identity":
            grad_a = H @ g
            G = np.multiply(active, g)
        else:
            G = phi.derivative(V)
            G *= g  # d/dV of the loss
            grad_a = np.einsum("ji,ji->j", G, H)
            G *= active
        # d/dU of the loss is G * a; the factor a_j is applied to the small
        # products below rather than to every entry of G.
        m, width = self.n_hidden, X.shape[1] + 2
        neurons = grad[: m * width].reshape(m, width)
        neurons[:, 0] += grad_a
        neurons[:, 1:-1] += a * (G @ X)
        neurons[:, -1] += a[:, 0] * (G @ self._ones[: X.shape[0]])
        if self.fit_intercept:
            grad[-1] += g.sum()
        return total
