"""A pointwise loss of a model, summed over weighted rows, with a ridge penalty.

The objective on a flat parameter vector ``theta`` is ::

    L(theta) = (sum_i w_i l(z_i(theta), y_i) + alpha * ||theta||**2) / sum_i w_i

for a model's raw outputs ``z_i`` (:mod:`sknlis._models`) and a pointwise loss
``l`` (:mod:`sknlis._losses`). Dividing by the total weight does not move the
minimizer but makes the value a weighted mean, so that the optimizer's
tolerances mean the same for every ``n`` (and integer weights give exactly
the objective of repeated rows).

The gradient is a vector-Jacobian product from the same forward pass: the
``n x p`` Jacobian is never formed. Rows are processed in blocks small enough
to stay in cache, so each evaluation reads ``X`` from memory once (forward and
backward products on a block run back to back).
"""

import numpy as np
import scipy.sparse as sp

from sknlis._validation import row_blocks

__all__ = ["Objective"]


class Objective:
    """``L`` above, as ``objective(theta) -> (L, grad L)`` for the solver.

    Parameters
    ----------
    model : LinearIndex or TwoLayerReLU
    loss : SquaredError, BinomialLogLoss or MultinomialLogLoss
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        float64 data (sparse only for the linear index).
    y : ndarray of shape (n_samples,)
        Targets, or class codes for the log losses.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights with a positive sum; ``None`` means all ones.
    alpha : float
        Ridge penalty on every coordinate of ``theta``.
    """

    def __init__(self, model, loss, X, y, sample_weight, alpha):
        self.model, self.loss = model, loss
        self.X, self.y, self.sample_weight, self.alpha = X, y, sample_weight, alpha
        n_samples = X.shape[0]
        self.weight_sum = (
            float(n_samples) if sample_weight is None else float(sample_weight.sum())
        )
        if sp.issparse(X):
            self.block_size = max(n_samples, 1)
        else:
            # Bytes of X per block, so that a block stays in L2 cache between
            # the forward and the backward product (tuned on 2 MiB of L2).
            row_bytes = 8 * max(X.shape[1], 1)
            self.block_size = max(64, model.block_bytes // row_bytes)

    def loss_gradient(self, theta):
        """Return ``(L(theta), grad L(theta))``."""
        grad = np.zeros_like(theta)
        total = 0.0
        params = self.model.unpack(theta)
        sw = self.sample_weight
        n_samples = self.X.shape[0]
        for start, stop in row_blocks(n_samples, self.block_size):
            # A single block is X itself (slicing a sparse matrix copies it).
            X = self.X if stop - start == n_samples else self.X[start:stop]
            z, cache = self.model.forward(X, params)
            value, G = self.loss.value_gradient(
                z, self.y[start:stop], None if sw is None else sw[start:stop]
            )
            total += value
            self.model.vjp(X, params, cache, G, grad)
        scale = 1.0 / self.weight_sum
        loss = (total + self.alpha * theta @ theta) * scale
        grad *= scale
        if self.alpha:
            grad += (2.0 * self.alpha * scale) * theta
        return loss, grad

    def __call__(self, theta):
        return self.loss_gradient(theta)
