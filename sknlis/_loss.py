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

from sknlis._models import two_layer_unpack
from sknlis._validation import row_blocks

__all__ = ["SingleIndexLoss", "TwoLayerLoss"]

# About 256 KiB of float64 X per block: it stays in L2 cache between the
# forward and the backward product (measured fastest on 2 MiB of L2 per core).
_BLOCK_BYTES = 2**18


def _loss_block_size(X):
    if sp.issparse(X):
        return max(X.shape[0], 1)
    return max(64, _BLOCK_BYTES // (8 * max(X.shape[1], 1)))


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

    def __init__(self, X, y, sample_weight, alpha):
        self.X, self.y, self.sample_weight, self.alpha = X, y, sample_weight, alpha
        n_samples = X.shape[0]
        self.weight_sum = (
            float(n_samples) if sample_weight is None else float(sample_weight.sum())
        )
        self.block_size = _loss_block_size(X)

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
        """``sum_i w_i r_i**2`` and ``d/df_i`` of it, ``2 w_i r_i``."""
        wr = r if sw is None else sw * r
        return float(wr @ r), 2.0 * wr


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
        phi = self.activation
        if phi.name == "identity":
            r = z
            r -= y
            total, g = self._residual_weights(r, sw)
        else:
            total, g = self._residual_weights(phi(z) - y, sw)
            g *= phi.derivative(z)
        n_features = X.shape[1]
        grad[:n_features] += X.T @ g
        if self.fit_intercept:
            grad[-1] += g.sum()
        return total


class TwoLayerLoss(_SquaredLoss):
    """``L`` for ``f(x) = sum_j phi(a_j relu(<b_j, [x; 1]>)) + c``."""

    def __init__(self, X, y, sample_weight, alpha, activation, fit_intercept, n_hidden):
        super().__init__(X, y, sample_weight, alpha)
        self.activation, self.fit_intercept = activation, fit_intercept
        self.n_hidden = n_hidden

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
            f = a.T @ H
            f = f[0]
            f += c - y
            total, g = self._residual_weights(f, sw)
            grad_a = H @ g
            G = np.multiply(active, g)
        else:
            V = H * a
            f = phi(V).sum(axis=0)
            f += c - y
            total, g = self._residual_weights(f, sw)
            G = phi.derivative(V)
            G *= g  # d/dV of the loss
            grad_a = np.einsum("ji,ji->j", G, H)
            G *= active
        G *= a  # d/dU of the loss
        m, width = self.n_hidden, X.shape[1] + 2
        neurons = grad[: m * width].reshape(m, width)
        neurons[:, 0] += grad_a
        neurons[:, 1:-1] += G @ X
        neurons[:, -1] += G.sum(axis=1)
        if self.fit_intercept:
            grad[-1] += g.sum()
        return total
