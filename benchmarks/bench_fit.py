"""Fit speed and quality of the sknlis regressors against their baselines.

Two tables, every number measured in this run with BLAS pinned to one thread:

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

Both fits use ``store_adjoint=False``: the table times the optimizer. The time
to compute the dual matrix afterwards is printed separately.

Run ``python benchmarks/bench_fit.py`` for the issue's sizes, or e.g.
``python benchmarks/bench_fit.py --n-mlp 10000 --n-single 100000 --seeds 1``
for a quick check.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_diabetes, make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

from sknlis import SingleIndexRegressor, TwoLayerReLURegressor
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


def timed_fit(model, X, y):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    seconds = time.perf_counter() - start
    mse = float(np.mean((model.predict(X) - y) ** 2))
    return seconds, model.n_iter_, mse


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
    args = parser.parse_args(argv)

    with threadpool_limits(1):
        threads = [info["num_threads"] for info in threadpool_info()]
        print(f"BLAS/OpenMP threads: {threads}")
        seeds = range(args.seeds)
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


if __name__ == "__main__":
    main()
