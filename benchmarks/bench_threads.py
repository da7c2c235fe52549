"""Is pinning BLAS to one thread during a fit still worth it?

The solver limits BLAS to one thread while L-BFGS-B runs (see
``sknlis._solver._one_blas_thread``). This script times the same fits with the
pin (as shipped) and without it (the limit replaced by a no-op), BLAS left at
the process default otherwise, and prints milliseconds per L-BFGS-B iteration
(best of ``--repeats``) and their ratio (unpinned / pinned: above 1 means the
pin pays). Both columns are measured in this run, on the same data.

Run ``python benchmarks/bench_threads.py``.
"""

import argparse
import contextlib
import time
import warnings

from sklearn.datasets import make_friedman1
from threadpoolctl import threadpool_info

import sknlis._solver
from sknlis import SingleIndexRegressor, TwoLayerReLURegressor


def ms_per_iteration(model, X, y, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)
        best = min(best, (time.perf_counter() - start) / model.n_iter_)
    return 1e3 * best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        "BLAS pools:",
        [(p["internal_api"], p["num_threads"]) for p in threadpool_info()],
    )
    pinned = sknlis._solver._one_blas_thread
    print(f"{'n x d':>12} {'model':>14} {'pinned':>10} {'unpinned':>10} {'ratio':>6}")
    for n, d in ((2_000, 10), (50_000, 10), (200_000, 20)):
        X, y = make_friedman1(n_samples=n, n_features=d, random_state=0)
        for model in (
            SingleIndexRegressor(random_state=0, store_adjoint=False, max_iter=50),
            TwoLayerReLURegressor(random_state=0, store_adjoint=False, max_iter=50),
        ):
            times = []
            for pin in (pinned, contextlib.nullcontext):
                sknlis._solver._one_blas_thread = pin
                times.append(ms_per_iteration(model, X, y, args.repeats))
            sknlis._solver._one_blas_thread = pinned
            name = type(model).__name__.replace("Regressor", "")
            print(
                f"{f'{n} x {d}':>12} {name:>14} {times[0]:>8.3f}ms "
                f"{times[1]:>8.3f}ms {times[1] / times[0]:>6.2f}"
            )
    print(
        "BLAS pools after:",
        [(p["internal_api"], p["num_threads"]) for p in threadpool_info()],
    )


if __name__ == "__main__":
    main()
