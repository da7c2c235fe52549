"""Finding planted label errors and out-of-distribution rows, by score.

What is measured
----------------
Each task is a data set with a planted truth: a known set of bad rows. Every
method scores every row (higher = more abnormal) and is judged by

* ROC-AUC of the scores against the planted truth (0.5 = chance, 1 = the
  planted rows all score above all clean rows), and
* precision at the true contamination: the fraction of planted rows among
  the ``k`` top-scoring rows, ``k`` = the number of planted rows.

Both are averaged over ``--repeats`` seeds (a seed draws the subsample, the
planted rows and the random labels; it also seeds the model and the forests).

Tasks
-----
* ``digits a/b flip``: binary digit pairs (1 vs 7, 3 vs 8, 4 vs 9, about 360
  8x8 images each) from ``sklearn.datasets.load_digits`` with 5% of the
  labels flipped: label errors, a correct input with a wrong target.
* ``digits a/b ood``: the same pairs with 50 images of one other digit (drawn
  at random per seed) mixed in under random labels: out-of-distribution
  inputs.
* ``diamonds target``: 2,000 diamonds (:func:`sknlis.datasets.load_diamonds`,
  ggplot2's data, grades coded worst first) with 5% of the targets replaced
  by the log price of another diamond drawn at random (a misaligned record;
  some land close to the truth by chance).
* ``diamonds feature``: 2,000 diamonds with two of the six numeric features
  of 5% of the rows replaced by those of another random diamond, the target
  kept: corrupted inputs that break the features' joint structure.
  The diamonds data also hold a few genuinely impossible rows (zero or
  60 mm dimensions); they count as clean here, so every method pays for
  finding them.

Models: digits use ``SingleIndexRegressor("logistic")`` on standardized
pixels, targets 0/1 (a single-index logistic model fitted by least squares,
``alpha=0`` unless ``--alpha``); diamonds use ``SingleIndexRegressor()``
(the paper's swish-type activation) on standardized features and the
standardized log price.

Methods
-------
* ``balanced``, ``leverage``, ``norm``: :class:`sknlis.AdjointOutlierDetector`
  with that ``scores`` option, on the fitted model (``prefit=True``).
* ``|residual|``: the absolute residual ``|f(x_i) - y_i|`` of the same model.
* ``linear lev``: leverage of the data matrix ``[X, 1]`` (the paper's
  linear baseline).
* ``iforest``, ``lof``: :class:`~sklearn.ensemble.IsolationForest` and
  :class:`~sklearn.neighbors.LocalOutlierFactor` (default settings) on the
  standardized ``[X, y]``.

A second table shows what ``contamination="auto"`` flags with the default
score: the planted and flagged fractions of rows and the fraction of flagged
rows that are planted.

The verdict line checks the issue's goal for the default score: the highest
mean ROC-AUC over the whole suite, above every baseline, and the worst method
on no task.

Run
---
::

    PYTHONPATH=. python benchmarks/bench_outliers.py             # ~1 min
    PYTHONPATH=. python benchmarks/bench_outliers.py --quick     # smoke run
    PYTHONPATH=. python benchmarks/bench_outliers.py --alpha 1   # ridge model
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import LocalOutlierFactor
from sklearn.preprocessing import StandardScaler

from sknlis import AdjointOutlierDetector, SingleIndexRegressor, leverage_scores
from sknlis.datasets import load_diamonds

PAIRS = ((1, 7), (3, 8), (4, 9))
DETECTOR_SCORES = ("balanced", "leverage", "norm")
BASELINES = ("|residual|", "linear lev", "iforest", "lof")
METHODS = DETECTOR_SCORES + BASELINES
DEFAULT = "balanced"
FLIP_FRACTION = 0.05
N_OOD = 50
N_DIAMONDS = 2000
NUMERIC = ("carat", "depth", "table", "x", "y", "z")


# %% Tasks: each returns X, y, the planted mask and the model's activation.


def digits_task(pair, kind, rng):
    images, digits = load_digits(return_X_y=True)
    a, b = pair
    keep = np.isin(digits, pair)
    X, y = images[keep], (digits[keep] == b).astype(float)
    planted = np.zeros(len(y), bool)
    if kind == "flip":
        bad = rng.choice(len(y), round(FLIP_FRACTION * len(y)), replace=False)
        y[bad] = 1 - y[bad]
        planted[bad] = True
    else:
        other = rng.choice([d for d in range(10) if d not in pair])
        extra = rng.choice(np.flatnonzero(digits == other), N_OOD, replace=False)
        X = np.vstack([X, images[extra]])
        y = np.concatenate([y, rng.integers(0, 2, N_OOD).astype(float)])
        planted = np.concatenate([planted, np.ones(N_OOD, bool)])
    return StandardScaler().fit_transform(X), y, planted, "logistic"


def diamonds():
    data = load_diamonds()
    numeric = [data.feature_names.index(name) for name in NUMERIC]
    return data.data, data.target, numeric


def diamonds_task(data, kind, rng):
    X_all, y_all, numeric = data
    rows = rng.choice(len(y_all), N_DIAMONDS, replace=False)
    X, y = X_all[rows].copy(), y_all[rows].copy()
    bad = rng.choice(N_DIAMONDS, round(FLIP_FRACTION * N_DIAMONDS), replace=False)
    if kind == "target":
        y[bad] = y_all[rng.choice(len(y_all), bad.size)]
    else:
        for i in bad:
            columns = rng.choice(numeric, 2, replace=False)
            X[i, columns] = X_all[rng.integers(len(y_all)), columns]
    planted = np.zeros(N_DIAMONDS, bool)
    planted[bad] = True
    y = (y - y.mean()) / y.std()
    return StandardScaler().fit_transform(X), y, planted, "swish"


# %% Methods: abnormality (higher = more abnormal) of every row.


def score_rows(X, y, activation, alpha, seed):
    model = SingleIndexRegressor(activation, alpha=alpha, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    out = {}
    for scores in DETECTOR_SCORES:
        detector = AdjointOutlierDetector(model, scores=scores, prefit=True)
        flagged = detector.fit_predict(X, y) == -1
        out[scores] = detector.scores_
        if scores == DEFAULT:
            auto_flagged = flagged  # contamination="auto"
    out["|residual|"] = np.abs(model.predict(X) - y)
    out["linear lev"] = leverage_scores(np.column_stack([X, np.ones(len(X))]))
    Z = StandardScaler().fit_transform(np.column_stack([X, y]))
    forest = IsolationForest(random_state=seed).fit(Z)
    out["iforest"] = -forest.score_samples(Z)
    out["lof"] = -LocalOutlierFactor().fit(Z).negative_outlier_factor_
    return out, auto_flagged


def precision_at_contamination(planted, abnormal):
    top = np.argsort(-abnormal, kind="stable")[: planted.sum()]
    return planted[top].mean()


def run_task(make, repeats, alpha):
    auc = {m: [] for m in METHODS}
    precision = {m: [] for m in METHODS}
    auto = []  # planted fraction, flagged fraction, precision of the flags
    for seed in range(repeats):
        X, y, planted, activation = make(np.random.default_rng(seed))
        scores, flagged = score_rows(X, y, activation, alpha, seed)
        for method, abnormal in scores.items():
            auc[method].append(roc_auc_score(planted, abnormal))
            precision[method].append(precision_at_contamination(planted, abnormal))
        auto.append((planted.mean(), flagged.mean(), planted[flagged].mean()))
    mean = {m: (np.mean(auc[m]), np.mean(precision[m])) for m in METHODS}
    return mean, np.mean(auto, axis=0)


def tasks(quick):
    out = [
        (f"digits {a}/{b} {kind}", lambda rng, p=(a, b), k=kind: digits_task(p, k, rng))
        for a, b in (PAIRS[:1] if quick else PAIRS)
        for kind in ("flip", "ood")
    ]
    data = diamonds()
    out += [
        (f"diamonds {kind}", lambda rng, k=kind: diamonds_task(data, k, rng))
        for kind in (("target",) if quick else ("target", "feature"))
    ]
    return out


def print_table(results):
    width = max(len(name) for name in results) + 2
    header = "".join(f"{m:>12s}" for m in METHODS)
    print("\nROC-AUC / precision at the true contamination (mean over seeds)")
    print(f"{'task':<{width}s}{header}")
    for name, row in results.items():
        cells = "".join(f"{row[m][0]:6.3f}/{row[m][1]:.2f}".rjust(12) for m in METHODS)
        print(f"{name:<{width}s}{cells}")
    means = {m: np.mean([row[m][0] for row in results.values()]) for m in METHODS}
    precisions = {m: np.mean([row[m][1] for row in results.values()]) for m in METHODS}
    cells = "".join(f"{means[m]:6.3f}/{precisions[m]:.2f}".rjust(12) for m in METHODS)
    print(f"{'mean':<{width}s}{cells}")
    return means


def print_auto(auto):
    width = max(len(name) for name in auto) + 2
    print(f"\ncontamination='auto' with scores='{DEFAULT}' (the 2 p / n rule)")
    print(f"{'task':<{width}s}{'planted':>10s}{'flagged':>10s}{'precision':>11s}")
    for name, (planted, flagged, precision) in auto.items():
        print(f"{name:<{width}s}{planted:10.3f}{flagged:10.3f}{precision:11.2f}")


def verdict(results, means):
    best = max(means, key=means.get)
    above = all(means[DEFAULT] > means[b] for b in BASELINES)
    worst_on = [
        name
        for name, row in results.items()
        if row[DEFAULT][0] <= min(row[m][0] for m in METHODS)
    ]
    ok = best == DEFAULT and above and not worst_on
    print(
        f"\nVERDICT: {'MET' if ok else 'NOT MET'}: default '{DEFAULT}' mean ROC-AUC "
        f"{means[DEFAULT]:.3f}; best method {best!r} ({means[best]:.3f}); "
        f"above every baseline: {'yes' if above else 'no'} (best baseline "
        f"{max(BASELINES, key=means.get)!r} {max(means[b] for b in BASELINES):.3f}); "
        f"worst on: {', '.join(worst_on) if worst_on else 'no task'}."
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="seeds per task")
    parser.add_argument("--alpha", type=float, default=0.0, help="model ridge")
    parser.add_argument("--quick", action="store_true", help="3 tasks, 1 seed")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    start = time.perf_counter()
    results, auto = {}, {}
    for name, make in tasks(args.quick):
        results[name], auto[name] = run_task(make, repeats, args.alpha)
        print(f"  {name}: done ({time.perf_counter() - start:.0f} s)", flush=True)
    means = print_table(results)
    print_auto(auto)
    verdict(results, means)
    print(
        f"({repeats} seed(s) per task, model alpha={args.alpha}, "
        f"{time.perf_counter() - start:.0f} s)"
    )


if __name__ == "__main__":
    main()
