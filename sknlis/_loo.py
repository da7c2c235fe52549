"""Approximate leave-one-out outputs of a fitted model, from one fit.

A row whose label is wrong pulls the model towards itself, so its in-sample
loss understates how badly the rest of the data disagree with it. Its
leave-one-out loss does not. For the fitted objective
``sum_i l(z_i(theta), y_i) + alpha ||theta||**2``, dropping row ``i`` moves
``theta`` by one Newton step, and by the Sherman-Morrison-Woodbury identity
the row's own raw output moves by ::

    dz_i = (I - V_i W_i)^{-1} V_i g_i,    V_i = J_i H^{-1} J_i^T,

with ``J_i`` the row's Jacobian (``K x p``), ``g_i = dl/dz`` and
``W_i = d2l/dz2`` at ``z_i``, and ``H = sum_j J_j^T W_j J_j + 2 alpha I``
the Gauss-Newton Hessian. ``V_i W_i`` is the row's leverage in the
curvature-weighted Jacobian (the hat-matrix diagonal of a GLM). Two passes
over the rows: one sums ``H`` (the model forms ``J^T W J`` from its own
structure), one forms each row's ``V_i``; no ``n x n`` or ``n x p`` matrix is
held. For a linear model with squared loss ``dz_i`` is exact and gives the
classical ``r_i / (1 - h_ii)``; for logistic regression it is the
approximate leave-one-out of Rad and Maleki (2020).
"""

import numpy as np
import scipy.sparse as sp
from scipy import linalg
from scipy.linalg import lapack

from sknlis._validation import check_block_size, row_blocks

__all__ = ["loo_outputs"]

# A row that alone determines a direction (leverage 1, possible without
# ridge) has an unbounded leave-one-out change; this floor keeps it finite
# and at the top of the ranking.
_MIN_REMAINDER = 1e-8
_NEGLIGIBLE_CURVATURE = 1e-100


def _curvature(loss, z, y):
    """The loss's Gauss-Newton curvature in ``z``, shape (n, K, K).

    Confidently classified rows have curvatures like ``p (1 - p) ~ 1e-300``:
    they add nothing next to the other rows, and subnormal products slow
    BLAS down many times over. They are set to zero.
    """
    W = loss.curvature(z, y)
    W = W[:, None, None] if W.ndim == 1 else W
    W[np.abs(W) < _NEGLIGIBLE_CURVATURE] = 0.0
    return W


def _inverse_hessian(G, ridge):
    """``(G + diag(ridge))^{-1}``, or the pseudo-inverse when that is singular.

    ``ridge`` is a float or one entry per coordinate (``ridge * I`` is then
    ``diag(ridge)``).

    The columns are equilibrated first (the result does not depend on their
    scale); the rank rule is numpy's ``matrix_rank`` tolerance.
    """
    H = G + ridge * np.eye(G.shape[0])
    d = np.sqrt(np.diag(H))
    d[d == 0] = 1.0
    H = H / d[:, None] / d[None, :]
    factor, info = lapack.dpotrf(H, lower=True)
    if info == 0:
        # The inverse from the Cholesky factor: a third of a solve against I.
        inverse, info = lapack.dpotri(factor, lower=True)
        inverse = np.tril(inverse) + np.tril(inverse, -1).T
    if info != 0:
        inverse = linalg.pinvh(H, rtol=H.shape[0] * np.finfo(float).eps)
    return inverse / d[:, None] / d[None, :]


def loo_outputs(model, loss, theta, alpha, X, y, *, block_size=None):
    """Approximate leave-one-out raw outputs of every row of ``(X, y)``.

    Parameters
    ----------
    model, loss
        A model object and a pointwise loss (:mod:`sknlis._models`,
        :mod:`sknlis._losses`) with the fitted ``theta``.
    theta : ndarray of shape (n_params,)
    alpha : float or ndarray of shape (n_params,)
        The fit's ridge penalty (``sum`` scale, as the estimators define it);
        an array gives each coordinate its own (scikit-learn leaves
        intercepts unpenalized).
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        Encoded targets, as the loss takes them.
    block_size : int, default=None
        Rows per block; ``None`` keeps a block's Jacobian products near 8 MiB.

    Returns
    -------
    z : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        ``z_i + dz_i``: what the model fitted without row ``i`` would output
        for it; ``loss.loss(z, y)`` are the leave-one-out losses.
    """
    n, p, K = X.shape[0], model.n_params, model.n_outputs
    block_size = check_block_size(block_size, model.jacobian_width)
    params = model.unpack(theta)

    def blocks():
        for start, stop in row_blocks(n, block_size):
            X_block = X[start:stop]
            X_block = X_block.toarray() if sp.issparse(X_block) else X_block
            z, _ = model.forward(X_block, params)
            yield X_block, y[start:stop], z, start, stop

    G = np.zeros((p, p))
    for X_block, y_block, z, _, _ in blocks():
        G += model.jacobian_gram(X_block, theta, _curvature(loss, z, y_block))
    inverse = _inverse_hessian(G, 2.0 * alpha)

    out = np.empty((n, K))
    for X_block, y_block, z, start, stop in blocks():
        _, g = loss.value_gradient(np.array(z, copy=True), y_block, None)
        V = model.jacobian_quadratic(X_block, theta, inverse)
        remainder = np.eye(K) - np.matmul(V, _curvature(loss, z, y_block))
        step = np.matmul(V, g.reshape(-1, K, 1))
        if K == 1:
            dz = step[:, 0, 0] / np.maximum(remainder[:, 0, 0], _MIN_REMAINDER)
        else:
            dz = np.linalg.solve(remainder, step)[:, :, 0]
        out[start:stop] = (z + dz.reshape(z.shape)).reshape(-1, K)
    return out[:, 0] if K == 1 else out
