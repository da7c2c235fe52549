"""
The adjoint identity made visible
=================================

A nonlinear model's outputs are inner products: for every row ``x_i``, the
output ``f(x_i; theta)`` equals ``<[theta; 1], row_i>``, where ``row_i`` is the
row of the model's *nonlinear dual matrix*. This is exact, not a linear
approximation: the rows depend on ``theta``, and the identity holds at every
``theta``.

This example checks it on scikit-learn's diabetes data, first for a
single-index model (where the rows have a closed form), then for a two-layer
ReLU network, where it compares the closed form with the general-purpose
quadrature of :func:`sknlis.quadrature_adjoint`.
"""

# %%
# A single-index model on the diabetes data
# -----------------------------------------
# We standardize the features and the target, and fit
# ``f(x) = phi(<w, x> + b)`` with the paper's swish-type activation ``phi``.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from sknlis import (
    SingleIndexRegressor,
    TwoLayerReLURegressor,
    make_activation,
    quadrature_adjoint,
    two_layer_adjoint,
)

X, y = load_diabetes(return_X_y=True)
X = StandardScaler().fit_transform(X)
y = (y - y.mean()) / y.std()

model = SingleIndexRegressor(activation="swish", random_state=0).fit(X, y)
print(f"training R^2 = {model.score(X, y):.3f}")

# %%
# The dual matrix without labels (``y=None``) represents the model's output:
# its product with ``[theta; 1]`` should give back ``predict(X)``.
F = model.adjoint_matrix(X)
theta_hat = np.append(model.theta_, 1.0)
as_inner_products = F @ theta_hat
predicted = model.predict(X)

error = np.abs(as_inner_products - predicted)
print(f"dual matrix shape: {F.shape}  (n_samples, n_params + 1)")
print(f"largest |F @ [theta; 1] - predict(X)| = {error.max():.1e}")

fig, (ax_diag, ax_err) = plt.subplots(1, 2, figsize=(10, 4.2))
ax_diag.scatter(predicted, as_inner_products, s=10, alpha=0.6)
lims = [predicted.min(), predicted.max()]
ax_diag.plot(lims, lims, color="black", lw=0.8, label="y = x")
ax_diag.set_xlabel("predict(X)")
ax_diag.set_ylabel("adjoint_matrix(X) @ [theta; 1]")
ax_diag.set_title("Outputs as inner products")
ax_diag.legend(loc="upper left")

# Rows where the error is exactly 0 are drawn at a floor, to fit a log axis.
floor = np.finfo(float).eps * np.abs(predicted).max() / 10
ax_err.semilogy(np.maximum(error, floor), ".", ms=4)
ax_err.axhline(np.finfo(float).eps, color="gray", ls="--", lw=0.8, label="eps")
ax_err.set_xlabel("row i")
ax_err.set_ylabel("absolute error")
ax_err.set_title("Per-row error: rounding only")
ax_err.legend(loc="upper right")
fig.tight_layout()

# %%
# With the labels, the same product gives the residuals, and the squared norm
# of the residual vector is the training loss. Only the last column changes:
# it becomes ``phi(0) - y_i`` instead of ``phi(0)``.
F_y = model.adjoint_matrix(X, y)
residuals = F_y @ theta_hat
print(f"max |residual error| = {np.abs(residuals - (predicted - y)).max():.1e}")
print(
    f"||F_y @ [theta; 1]||^2 / n = {residuals @ residuals / len(y):.6f}, "
    f"training MSE = {np.mean((predicted - y) ** 2):.6f}"
)

# %%
# A two-layer ReLU network: closed form against quadrature
# --------------------------------------------------------
# When a model has no closed-form adjoint, the defining integral
# ``r*(theta) = int_0^1 grad r(t theta) dt`` can be computed by Gauss-Legendre
# quadrature from the per-sample gradients. The gradient must be evaluated *at
# the point* ``t theta``; differentiating ``theta -> r(t theta)`` instead would
# add a factor ``t`` and break the identity.
#
# The network is ``f(x) = sum_j phi(a_j relu(<b_j, [x; 1]>)) + c``. We write
# its per-sample gradients by hand, in the layout of ``theta``:
# ``[a_1, b_1, ..., a_m, b_m, c]``.
n_hidden = 8
X_tilde = np.hstack([X, np.ones((X.shape[0], 1))])


def network(phi):
    """The network's output and per-sample gradients as functions of theta."""

    def hidden(theta):
        neurons = theta[:-1].reshape(n_hidden, X.shape[1] + 2)
        a, B = neurons[:, 0], neurons[:, 1:]
        U = X_tilde @ B.T  # pre-activations u_j, shape (n_samples, n_hidden)
        return a, U, np.maximum(U, 0.0)

    def output(theta):
        a, _, H = hidden(theta)
        return phi(a * H).sum(axis=1) + theta[-1]

    def jacobian(theta):
        a, U, H = hidden(theta)
        dphi = phi.derivative(a * H)
        d_a = dphi * H
        d_b = (dphi * a * (U > 0))[:, :, None] * X_tilde[:, None, :]
        blocks = np.concatenate([d_a[:, :, None], d_b], axis=2)
        return np.hstack([blocks.reshape(len(X), -1), np.ones((len(X), 1))])

    return output, jacobian


# %%
# Two networks: the usual one (``phi`` the identity) and one with ``tanh``
# applied to each unit's term. The identity holds at every ``theta``,
# converged or not, so a short fit is enough here: we silence the
# ``ConvergenceWarning`` it raises.
nets = {}
for name in ["identity", "tanh"]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        nets[name] = TwoLayerReLURegressor(
            n_hidden=n_hidden, activation=name, max_iter=300, random_state=0
        ).fit(X, y)
    print(f"phi = {name}: training R^2 = {nets[name].score(X, y):.3f}")

# %%
# For each network, we compare the quadrature dual matrix with the closed form
# as the number of nodes grows.
node_counts = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64]
fig, ax = plt.subplots(figsize=(6.4, 4.2))
for name, net in nets.items():
    phi = make_activation(name)
    output, jacobian = network(phi)
    assert np.allclose(output(net.theta_), net.predict(X))  # the same model
    closed = two_layer_adjoint(X, net.theta_, n_hidden, phi)
    scale = np.abs(closed).max()
    gaps = []
    for n_nodes in node_counts:
        F_quad = quadrature_adjoint(jacobian, net.theta_, output, n_nodes=n_nodes)
        gaps.append(np.abs(F_quad - closed).max() / scale)
    print(f"phi = {name}: relative gap {gaps[0]:.1e} (1 node), {gaps[-1]:.1e} (64)")
    # A gap of exactly 0 is drawn at 1e-17, to fit the log axis.
    ax.loglog(node_counts, np.maximum(gaps, 1e-17), "o-", label=f"phi = {name}")

ax.axhline(np.finfo(float).eps, color="gray", ls="--", lw=0.8, label="eps")
ax.set_xlabel("Gauss-Legendre nodes")
ax.set_ylabel("max |F_quadrature - F_closed| / max |F_closed|")
ax.set_title("Quadrature against the closed form")
ax.legend()
fig.tight_layout()
# sphinx_gallery_thumbnail_number = 2

# %%
# With ``phi`` the identity, each unit's gradient is linear in ``t`` along the
# ray ``t theta`` (the ReLU pattern does not change for ``t > 0``), so a single
# node is already exact. With ``tanh`` the integrand is smooth but not a
# polynomial in ``t``; where a unit's term ``a_j relu(u_j)`` is large, ``tanh``
# saturates sharply along the ray and more nodes are needed. The closed form,
# when there is one, costs one gradient evaluation instead of ``n_nodes``.
#
# :func:`~sknlis.quadrature_adjoint` also reports the per-row violation of the
# identity, which needs no closed form at all: a check a user can run on any
# model.
output, jacobian = network(make_activation("tanh"))
for n_nodes in [2, 8, 32]:
    _, violation = quadrature_adjoint(
        jacobian, nets["tanh"].theta_, output, n_nodes=n_nodes, return_error=True
    )
    print(f"{n_nodes:2d} nodes: largest identity violation {violation.max():.1e}")

plt.show()
