"""
Bring your own MLP: its dual matrix, its scores, its weighted refit
===================================================================

A fitted :class:`~sklearn.neural_network.MLPRegressor` has a dual matrix
like any model of sknlis: :func:`sknlis.adjoint_matrix` computes it, in
closed form for one hidden layer of ReLU units and by Gauss-Legendre
quadrature along the ray ``t theta`` for deeper or smoother networks. This
example checks the identity ``F @ [theta; 1] = predict(X) - y`` for both,
and then lets :class:`~sknlis.NonlinearImportanceResampler` sample the
diabetes data by an MLP's own dual matrix, the MLP refitted on the sample
with the importance weights.
"""

# %%
# The identity, exact and by quadrature
# -------------------------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler

from sknlis import NonlinearImportanceResampler, adjoint_matrix, parameter_vector
from sknlis.pipeline import Pipeline

warnings.simplefilter("ignore", ConvergenceWarning)
X, y = load_diabetes(return_X_y=True)
X = StandardScaler().fit_transform(X)
y = (y - y.mean()) / y.std()

relu = MLPRegressor(hidden_layer_sizes=(20,), solver="lbfgs", random_state=0)
tanh = MLPRegressor(
    hidden_layer_sizes=(10, 10), activation="tanh", solver="lbfgs", random_state=0
)
residuals = {}
for name, mlp in {"relu (20,)": relu, "tanh (10, 10)": tanh}.items():
    mlp.fit(X, y)
    errors = []
    for n_nodes in (2, 4, 8, 16):
        F, error = adjoint_matrix(mlp, X, y, n_nodes=n_nodes, return_error=True)
        errors.append(error.max() / np.abs(mlp.predict(X) - y).max())
    residuals[name] = errors
    theta = parameter_vector(mlp)
    print(f"{name}: dual matrix {F.shape}, theta {theta.shape}")

fig, ax = plt.subplots(figsize=(5, 4))
for name, errors in residuals.items():
    # A zero residual is drawn at rounding level, 1e-16.
    ax.semilogy((2, 4, 8, 16), np.maximum(errors, 1e-16), "o-", label=name)
ax.set_xlabel("Gauss-Legendre nodes (n_nodes)")
ax.set_ylabel("identity residual / largest residual")
ax.set_title("One ReLU layer is exact; tanh converges fast")
ax.legend()

# %%
# Sample by the MLP's own dual matrix
# -----------------------------------
# The resampler fits a pilot MLP (a clone, seeded) on a uniform sample, scores
# every row by the leverage of the pilot's dual matrix, and draws. The
# pipeline passes the importance weights to the final MLP's ``fit``.


def mlp():
    return MLPRegressor(
        hidden_layer_sizes=(20,), solver="lbfgs", max_iter=100, random_state=0
    )


full = mlp().fit(X, y)
best = np.mean((full.predict(X) - y) ** 2)
strategies = {
    "uniform": {"scores": "uniform"},
    "linear leverage": {"basis": "linear"},
    "MLP dual leverage": {"basis": "adjoint"},
}
excess = {name: [] for name in strategies}
for seed in range(3):
    for name, params in strategies.items():
        sampler = NonlinearImportanceResampler(
            mlp(), n_samples=150, random_state=seed, **params
        )
        pipe = Pipeline([("sample", sampler), ("model", mlp())]).fit(X, y)
        loss = np.mean((pipe.predict(X) - y) ** 2)
        excess[name].append((loss - best) / best)

fig, ax = plt.subplots(figsize=(5, 4))
ax.boxplot(list(excess.values()), tick_labels=list(excess))
ax.set_ylabel("(L(sample fit) - L(full fit)) / L(full fit), all rows")
ax.set_title("150 of 442 rows, 3 seeds")
for name, values in excess.items():
    print(f"{name:18s} median excess loss {np.median(values):.3f}")
plt.show()
