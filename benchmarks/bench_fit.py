"""Fit speed and quality of the sknlis estimators against their baselines.

Four tables, every number measured in this run with BLAS pinned to one thread:

1. ``TwoLayerReLURegressor(n_hidden=10)`` against
   ``MLPRegressor(hidden_layer_sizes=(10,), solver="lbfgs", alpha=0)`` at the
   same ``max_iter``, on a synthetic set (Friedman #1, ``n`` x ``d``) and on a
   real ones (the bundled diamonds, target log10 price, and statsmodels'
   RAND HIE, target ``mdvis``, both standardized; scikit-learn's diabetes
   with ``--real diabetes``). Per seed: time per
   iteration (fit seconds / ``n_iter_``) and final training MSE; the table
   shows medians over seeds and their ratios (sknlis / MLP; targets: time
   ratio <= 0.5, MSE ratio <= 1).
2. ``SingleIndexRegressor`` (swish, c1=1, c2=2) on a synthetic ``n`` x ``d``
   set: seconds to converge and time per iteration as a multiple of one
   ``X @ w`` (the floor: every iteration must read ``X``).

3. ``SingleIndexClassifier`` against ``LogisticRegression(solver="lbfgs")``,
   same ``tol`` and ``max_iter``: unpenalized (``alpha=0`` against
   ``C=1e8``; goal: training log loss within 1% of LogisticRegression's) and
   with the same ridge objective (``alpha=1`` against ``C=0.5``, the
   intercept as a column of ones so that both penalize it).
4. ``TwoLayerReLUClassifier(n_hidden=m)`` against
   ``MLPClassifier(hidden_layer_sizes=(m,), solver="lbfgs")`` at the same
   ``max_iter`` and ``tol`` (goals: training log loss at most MLP's, time per
   iteration at most half of MLP's). MLPClassifier's ``alpha`` is ``a`` (default
   0) and ours ``a / 2``: then the weights' penalties agree, but ours also
   penalizes the biases.

The classification data: digits 3 vs 8, breast cancer, the ten digits, and
``make_classification`` sets (``n`` x 20, 2 and 5 classes, 5% flipped
labels), all standardized. Training log loss is computed the same way for every
model, from its logits (no clipping of probabilities). Times per iteration
are fit seconds over ``n_iter_``, medians over seeds (the seed of each fit's
start; LogisticRegression is deterministic).

All fits use ``store_adjoint=False``: the tables time the optimizer. The time
to compute the dual matrix afterwards is printed separately.

Run ``python benchmarks/bench_fit.py`` for the issue's sizes (a few minutes on
two shared cores), ``--quick`` for a check in well under a minute, or e.g.
``--only classifiers`` for the last two tables.
"""

import argparse
import time
import warnings

import numpy as np
import scipy
import sklearn
from scipy.special import log_softmax
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    make_classification,
    make_friedman1,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

import sknlis
from sknlis import (
    SingleIndexClassifier,
    SingleIndexRegressor,
    TwoLayerReLUClassifier,
    TwoLayerReLURegressor,
)
from sknlis.datasets import load_diamonds


def real_data(name):
    if name == "diabetes":
        X, y = load_diabetes(return_X_y=True)
    elif name == "diamonds":
        data = load_diamonds()
        X, y = data.data, data.target
    else:
        import statsmodels.api as sm

        data = sm.datasets.randhie.load_pandas().data
        y = data["mdvis"].to_numpy(dtype=float)
        X = data.drop(columns="mdvis").to_numpy(dtype=float)
    X = StandardScaler().fit_transform(X)
    return X, (y - y.mean()) / y.std()


def training_mse(model, X, y):
    return float(np.mean((model.predict(X) - y) ** 2))


def timed_fit(model, X, y, quality=training_mse):
    """Fit seconds, iterations and ``quality(model, X, y)`` of one fit."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    seconds = time.perf_counter() - start
    # LogisticRegression reports its iterations as an array.
    return seconds, int(np.max(model.n_iter_)), quality(model, X, y)


def compare_two_layer(name, X, y, seeds, max_iter):
    rows = {"sknlis": [], "MLP": []}
    for seed in seeds:
        ours = TwoLayerReLURegressor(
            n_hidden=10, max_iter=max_iter, store_adjoint=False, random_state=seed
        )
        mlp = MLPRegressor(
            hidden_layer_sizes=(10,),
            solver="lbfgs",
            alpha=0.0,
            max_iter=max_iter,
            random_state=seed,
        )
        for key, model in (("sknlis", ours), ("MLP", mlp)):
            seconds, n_iter, mse = timed_fit(model, X, y)
            rows[key].append((seconds / n_iter, n_iter, mse))
    med = {k: np.median(np.array(v), axis=0) for k, v in rows.items()}
    per_seed = {k: [f"{mse:.5f}" for *_, mse in v] for k, v in rows.items()}
    start = time.perf_counter()
    ours.adjoint_matrix(X, y)
    adjoint_seconds = time.perf_counter() - start
    n, d = X.shape
    print(
        f"| {name} | {n} x {d} | {med['sknlis'][0] * 1e3:.2f} "
        f"| {med['MLP'][0] * 1e3:.2f} | {med['sknlis'][0] / med['MLP'][0]:.2f} "
        f"| {med['sknlis'][1]:.0f} / {med['MLP'][1]:.0f} "
        f"| {med['sknlis'][2]:.5g} | {med['MLP'][2]:.5g} "
        f"| {med['sknlis'][2] / med['MLP'][2]:.4f} | {adjoint_seconds:.2f} |"
    )
    ours, theirs = per_seed["sknlis"], per_seed["MLP"]
    return f"{name}: training MSE per seed, sknlis {ours}, MLP {theirs}"


def bench_single_index(n, d, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w = rng.normal(size=d) / np.sqrt(d)
    z = X @ w + 0.1
    y = z * (1.0 + (np.sqrt(2.0) - 1.0) / (1.0 + np.exp(-z))) + rng.normal(size=n)
    repeats = 5
    start = time.perf_counter()
    for _ in range(repeats):
        X @ w
    matvec = (time.perf_counter() - start) / repeats
    model = SingleIndexRegressor(store_adjoint=False, random_state=seed)
    seconds, n_iter, mse = timed_fit(model, X, y)
    per_iter = seconds / n_iter
    print(
        f"| {n} x {d} | {seconds:.2f} | {n_iter} | {per_iter * 1e3:.1f} "
        f"| {matvec * 1e3:.1f} | {per_iter / matvec:.2f} | {mse:.4f} |"
    )


def run_regressors(args, seeds):
    print(
        f"\nTwoLayerReLURegressor(n_hidden=10) vs MLPRegressor(lbfgs), "
        f"max_iter={args.max_iter}, medians over {args.seeds} seeds\n"
    )
    print(
        "| data | n x d | ms/iter sknlis | ms/iter MLP | time ratio "
        "| iters | MSE sknlis | MSE MLP | MSE ratio | dual matrix (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    X, y = make_friedman1(
        n_samples=args.n_mlp, n_features=args.d_mlp, noise=1.0, random_state=0
    )
    y = (y - y.mean()) / y.std()
    details = [compare_two_layer("Friedman #1", X, y, seeds, args.max_iter)]
    for name in args.real:
        X, y = real_data(name)
        details.append(compare_two_layer(name, X, y, seeds, args.max_iter))
    print("", *details, sep="\n")

    print("\nSingleIndexRegressor(swish, c1=1, c2=2), default tol/max_iter\n")
    print("| n x d | fit (s) | iters | ms/iter | ms per X @ w | ratio | MSE |")
    print("|---|---|---|---|---|---|---|")
    bench_single_index(args.n_single, args.d_single, seed=0)


def classification_sets(n_synthetic):
    """Standardized ``(name, X, y)``: real binary and multiclass, then synthetic."""
    digits = load_digits()
    pair = np.isin(digits.target, (3, 8))
    sets = [
        ("digits 3 vs 8", digits.data[pair], digits.target[pair]),
        ("breast cancer", *load_breast_cancer(return_X_y=True)),
        ("digits, 10 classes", digits.data, digits.target),
    ]
    for n_classes in (2, 5):
        X, y = make_classification(
            n_samples=n_synthetic,
            n_features=20,
            n_informative=10,
            n_classes=n_classes,
            flip_y=0.05,
            random_state=0,
        )
        sets.append((f"synthetic, {n_classes} classes", X, y))
    return [(name, StandardScaler().fit_transform(X), y) for name, X, y in sets]


def mlp_logits(mlp, X):
    """The output layer's input: MLPClassifier exposes only probabilities."""
    (W1, W2), (b1, b2) = mlp.coefs_, mlp.intercepts_
    return np.maximum(X @ W1 + b1, 0.0) @ W2 + b2


def logits(model, X):
    if isinstance(model, MLPClassifier):
        return mlp_logits(model, X)
    return model.decision_function(X)


def training_log_loss(model, X, y):
    """Mean log loss from the logits, the same way for every model."""
    Z = logits(model, X)
    codes = np.searchsorted(model.classes_, y)
    if Z.ndim == 2 and Z.shape[1] == 1:
        Z = Z[:, 0]
    if Z.ndim == 1:
        return float(np.mean(np.logaddexp(0.0, np.where(codes == 1, -Z, Z))))
    return float(-np.mean(log_softmax(Z, axis=1)[np.arange(len(y)), codes]))


def with_ones(X):
    return np.hstack([X, np.ones((X.shape[0], 1))])


def ridge_objective(alpha):
    """Quality: mean log loss + ``alpha * ||theta||**2 / n``, sknlis's objective.

    For LogisticRegression without intercept, ``theta`` is ``coef_``.
    """

    def quality(model, X, y):
        theta = model.theta_ if hasattr(model, "theta_") else model.coef_.ravel()
        return training_log_loss(model, X, y) + alpha * theta @ theta / X.shape[0]

    return quality


def median_fits(make_models, X, y, seeds, quality=training_log_loss):
    """Median ``(s/iter, iterations, quality, fit s)`` of each named model.

    ``make_models(seed)`` gives ``{name: (model, X_for_it)}``; the models of
    one seed are fitted back to back so that they see the same machine load.
    """
    rows = {}
    for seed in seeds:
        for key, (model, X_model) in make_models(seed).items():
            seconds, n_iter, loss = timed_fit(model, X_model, y, quality)
            rows.setdefault(key, []).append((seconds / n_iter, n_iter, loss, seconds))
    return {key: np.median(np.array(v), axis=0) for key, v in rows.items()}


def compare_single_index(name, X, y, seeds, penalized):
    """One row of table 3: ours against LogisticRegression on one objective."""
    n, d = X.shape
    n_classes = np.unique(y).shape[0]

    def make_models(seed):
        if penalized:
            # Same objective: C = 1 / (2 alpha) and the intercept as a
            # penalized column of ones.
            ours = SingleIndexClassifier(
                alpha=1.0, store_adjoint=False, random_state=seed
            )
            lr = LogisticRegression(C=0.5, fit_intercept=False, max_iter=1000)
            return {"sknlis": (ours, X), "LR": (lr, with_ones(X))}
        ours = SingleIndexClassifier(alpha=0.0, store_adjoint=False, random_state=seed)
        return {
            "sknlis": (ours, X),
            "LR": (LogisticRegression(C=1e8, max_iter=1000), X),
        }

    quality = ridge_objective(1.0) if penalized else training_log_loss
    med = median_fits(make_models, X, y, seeds, quality)
    ours, lr = med["sknlis"], med["LR"]
    setting = "alpha=1 / C=0.5 (objective)" if penalized else "alpha=0 / C=1e8"
    print(
        f"| {name} | {n} x {d} | {n_classes} | {setting} "
        f"| {ours[2]:.6g} | {lr[2]:.6g} | {ours[2] / lr[2]:.4f} "
        f"| {ours[1]:.0f} / {lr[1]:.0f} | {ours[0] * 1e3:.2f} | {lr[0] * 1e3:.2f} "
        f"| {ours[0] / lr[0]:.2f} | {ours[3] / lr[3]:.2f} |"
    )
    return lr[2]


def compare_two_layer_classifier(name, X, y, seeds, args):
    """One row of table 4: ours against MLPClassifier(lbfgs), same budget."""
    n, d = X.shape
    n_classes = np.unique(y).shape[0]

    def make_models(seed):
        ours = TwoLayerReLUClassifier(
            n_hidden=args.hidden,
            alpha=args.alpha_mlp / 2.0,
            max_iter=args.max_iter,
            tol=args.tol,
            store_adjoint=False,
            random_state=seed,
        )
        mlp = MLPClassifier(
            hidden_layer_sizes=(args.hidden,),
            solver="lbfgs",
            alpha=args.alpha_mlp,
            max_iter=args.max_iter,
            tol=args.tol,
            random_state=seed,
        )
        return {"sknlis": (ours, X), "MLP": (mlp, X)}

    med = median_fits(make_models, X, y, seeds)
    ours, mlp = med["sknlis"], med["MLP"]
    print(
        f"| {name} | {n} x {d} | {n_classes} "
        f"| {ours[2]:.6g} | {mlp[2]:.6g} | {ours[2] / mlp[2]:.4f} "
        f"| {ours[1]:.0f} / {mlp[1]:.0f} | {ours[0] * 1e3:.2f} | {mlp[0] * 1e3:.2f} "
        f"| {ours[0] / mlp[0]:.2f} |"
    )
    return mlp[2]


def separable_note(baseline_losses, baseline):
    """Which rows' ratios compare two nearly-zero losses."""
    tiny = [name for name, loss in baseline_losses if loss < 1e-3]
    if tiny:
        print(
            f"\n{baseline}'s training log loss is below 1e-3 on: "
            f"{', '.join(sorted(set(tiny)))}. The classes are (nearly) separable "
            "there, the loss tends to 0 and its ratio says where each optimizer "
            "stopped (tol), not which model is better."
        )


def run_classifiers(args, seeds):
    sets = classification_sets(args.n_synthetic)
    print(
        f"\nSingleIndexClassifier vs LogisticRegression(lbfgs), tol=1e-4, "
        f"max_iter=1000, medians over {len(seeds)} seeds; goal: log loss "
        "ratio <= 1.01\n"
    )
    print(
        "Rows marked (objective) minimize the same ridge objective and compare "
        "its value, mean log loss + ||theta||^2 / n.\n"
    )
    print(
        "| data | n x d | classes | penalty (ours / LR) | log loss sknlis "
        "| log loss LR | log loss ratio | iters | ms/iter sknlis | ms/iter LR "
        "| time/iter ratio | fit time ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    baseline = []
    for penalized in (False, True):
        for name, X, y in sets:
            loss = compare_single_index(name, X, y, seeds, penalized)
            if not penalized:
                baseline.append((name, loss))
    separable_note(baseline, "LogisticRegression(C=1e8)")

    print(
        f"\nTwoLayerReLUClassifier(n_hidden={args.hidden}, "
        f"alpha={args.alpha_mlp / 2:g}) vs MLPClassifier(({args.hidden},), "
        f"lbfgs, alpha={args.alpha_mlp:g}), max_iter={args.max_iter}, "
        f"tol={args.tol:g}, medians over {len(seeds)} seeds; goals: log loss "
        "ratio <= 1, time/iter ratio <= 0.5\n"
    )
    print(
        "| data | n x d | classes | log loss sknlis | log loss MLP "
        "| log loss ratio | iters | ms/iter sknlis | ms/iter MLP "
        "| time/iter ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    baseline = [
        (name, compare_two_layer_classifier(name, X, y, seeds, args))
        for name, X, y in sets
    ]
    separable_note(baseline, "MLPClassifier")
    if args.alpha_mlp:
        print(
            "Penalties: MLP minimizes mean log loss + alpha/(2n) ||weights||^2, "
            "sknlis (sum of log losses + alpha ||theta||^2) / n with theta "
            "including the biases; alpha_sknlis = alpha_MLP / 2 matches the "
            "weights' penalties."
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-mlp", type=int, default=100_000)
    parser.add_argument("--d-mlp", type=int, default=20)
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--real",
        nargs="+",
        choices=["diamonds", "randhie", "diabetes"],
        default=["diamonds", "randhie"],
    )
    parser.add_argument("--n-single", type=int, default=1_000_000)
    parser.add_argument("--d-single", type=int, default=50)
    parser.add_argument(
        "--n-synthetic",
        type=int,
        default=100_000,
        help="rows of the synthetic classification sets",
    )
    parser.add_argument("--hidden", type=int, default=10)
    parser.add_argument(
        "--alpha-mlp",
        type=float,
        default=0.0,
        help="MLPClassifier's alpha; the two-layer classifier gets half of it",
    )
    parser.add_argument(
        "--tol", type=float, default=1e-5, help="tol of both two-layer classifiers"
    )
    parser.add_argument(
        "--only", choices=["regressors", "classifiers"], help="run one half"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes and budgets: a check, not a measurement",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.n_mlp, args.n_single, args.n_synthetic = 10_000, 100_000, 10_000
        args.max_iter = 50
        args.real = ["diabetes"]

    with threadpool_limits(1):
        threads = [info["num_threads"] for info in threadpool_info()]
        print(f"BLAS/OpenMP threads: {threads}")
        print(
            f"numpy {np.__version__}, scipy {scipy.__version__}, "
            f"scikit-learn {sklearn.__version__}, sknlis {sknlis.__version__}; "
            + ", ".join(
                f"{info['internal_api']} {info['version']}"
                for info in threadpool_info()
            )
        )
        seeds = range(args.seeds)
        if args.only != "classifiers":
            run_regressors(args, seeds)
        if args.only != "regressors":
            run_classifiers(args, seeds)


if __name__ == "__main__":
    main()
