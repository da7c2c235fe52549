"""Finding planted label errors: sknlis against cleanlab and simple baselines.

The benchmark of issue 9, item 5. Every number is measured in this run, with
BLAS pinned to one thread (threadpoolctl); the versions and thread count are
printed first.

Tasks
-----
Features are standardized with a ``StandardScaler`` fitted on all rows of the
task (label-free, so no label information leaks into the features). For
every seed the rows are shuffled first, then the flips are planted, then the
methods run (any cross-validation sees shuffled rows).

* binary: digit pairs 1/7, 3/8, 4/9, 5/6 from ``load_digits`` (about 360 8x8
  images each; class 0 is the first digit) and breast cancer (569 x 30;
  class 0 = malignant, 1 = benign);
* multiclass: wine (178 x 13, 3 classes) and all ten digits (1,797 x 64).

Noise
-----
``round(0.05 * n)`` rows get a wrong label (the planted truth):

* ``uniform``: rows drawn uniformly; each gets another class drawn uniformly.
* ``class-cond``: a fixed class-to-class map ``PARTNER``. Binary tasks flip
  one way only, class 0 to class 1 (digit a labelled b; malignant labelled
  benign): the rows are drawn from class 0. Multiclass tasks relabel a row
  of class ``c`` as ``PARTNER[c]``, the class most confused with ``c``
  (either way) by 5-fold out-of-fold ``LogisticRegression`` on the clean
  data, summed over 5 splits: measured once and fixed here (digits
  0->2, 1->8, 2->3, 3->5, 4->1, 5->9, 6->1, 7->4, 8->1, 9->5; wine 0->1,
  1->2, 2->1). Such flips are between similar classes: harder than uniform.

Methods
-------
Each method is a function ``(X, y, seed) -> (scores, flagged)`` in the dict
``METHODS``: ``scores`` per row, higher = more likely mislabeled;
``flagged`` a boolean mask of the rows it calls label errors, or ``None``.
Its wall time covers everything it does, cross-validation included.

* ``cleanlab-LR``, ``cleanlab-MLP``: ``1 - cleanlab.rank.
  get_label_quality_scores`` (self-confidence) on 5-fold out-of-fold
  ``predict_proba`` (``StratifiedKFold(shuffle=True, random_state=seed)``) of
  ``LogisticRegression(max_iter=5000)`` (default ``C=1``) or
  ``MLPClassifier(hidden_layer_sizes=(32,), max_iter=500,
  random_state=seed)`` (adam, scikit-learn's default solver; it often stops
  at ``max_iter``, counted in the notes); flagged by ``cleanlab.filter.
  find_label_issues`` on the same probabilities (``n_jobs=1``). Measured
  while choosing: adam with 2,000 iterations ranked no better, and lbfgs
  (``alpha=1e-4``) overfits the flips (binary P@k 0.66 against 0.78 on
  4 tasks x 2 seeds).
* ``residual-LR``: ``1 - p(given label)`` of a ``LogisticRegression`` fitted
  in-sample on all rows; flagged where the given label is not the most
  probable. (The out-of-fold version, ``sum |onehot - p|``, is
  ``2 * (1 - p(given label))``: it ranks rows exactly as ``cleanlab-LR``.)
* ``iforest``: ``IsolationForest(random_state=seed)`` on ``X`` alone, label
  blind; flagged by its ``predict == -1``.
* ``sknlis-today``: ``AdjointOutlierDetector(random_state=seed)``, today's
  default (a regression model on the 0/1 label): ``-decision_function(X, y)``
  and flagged where it is negative (``predict == -1``). Binary tasks only;
  skipped on multiclass tasks with the reason printed.
* ``sknlis-insample``: the in-sample log loss of the fit that ``sknlis-loo``
  corrects, ``-decision_function(X, y)`` of ``AdjointOutlierDetector(
  SingleIndexClassifier())`` (training rows scored as new data); flagged
  where the fitted model gives the label less than even odds. It measures
  what the leave-one-out correction adds.

Add a method with one line, before ``main()`` runs (or in a script that
imports this module), e.g.::

    METHODS["sknlis-2L"] = lambda X, y, seed: detector_scores(
        AdjointOutlierDetector(TwoLayerReLUClassifier(random_state=seed)), X, y
    )
    METHODS["cleanlab-2L"] = lambda X, y, seed: cleanlab_scores(
        TwoLayerReLUClassifier(random_state=seed), X, y, seed
    )

A method raises ``Skipped(reason)`` for tasks it cannot handle.

Metrics
-------
Per (task, noise, seed, method): ROC-AUC of the scores against the planted
rows; precision at k (k = the number of planted rows; ties at the k-th score
shared out in expectation); the precision and recall of the flagged set (a
method that flags nothing gets precision 0 and a note); wall seconds.
The summary averages over tasks and seeds, binary and multiclass apart, and
counts the paired runs where each method beats, ties or loses to
``cleanlab-LR`` in precision at k; ``time x`` is its total time over the
same runs as a multiple of ``cleanlab-LR``'s.

Run
---
::

    PYTHONPATH=. python benchmarks/bench_label_errors.py           # ~2 min
    PYTHONPATH=. python benchmarks/bench_label_errors.py --quick   # < 30 s
    PYTHONPATH=. python benchmarks/bench_label_errors.py --seeds 5 --csv out.csv

The helpers' doctests run first on every invocation (a fraction of a second).
"""

import argparse
import csv
import doctest
import os
import platform
import sys
import tempfile
import time
import warnings

import cleanlab
import numpy as np
import scipy
import sklearn
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

import sknlis
from sknlis import (
    AdjointOutlierDetector,
    SingleIndexClassifier,
    TwoLayerReLUClassifier,
)

FLIP_FRACTION = 0.05
N_FOLDS = 5
BASELINE = "cleanlab-LR"
NOISES = ("uniform", "class-cond")
PAIRS = ((1, 7), (3, 8), (4, 9), (5, 6))
# PARTNER[c]: the class a class-conditional flip gives to a row of class c;
# -1: rows of c are never flipped (see the module docstring).
BINARY_PARTNER = (1, -1)
DIGITS_PARTNER = (2, 8, 3, 5, 1, 9, 1, 4, 1, 5)
WINE_PARTNER = (1, 2, 1)


# %% Tasks: standardized X, labels 0..K-1, class-conditional partner map.


def digit_pair(a, b):
    images, digits = load_digits(return_X_y=True)
    keep = np.isin(digits, (a, b))
    return images[keep], (digits[keep] == b).astype(int), BINARY_PARTNER


def breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return X, y, BINARY_PARTNER


def wine():
    X, y = load_wine(return_X_y=True)
    return X, y, WINE_PARTNER


def digits10():
    X, y = load_digits(return_X_y=True)
    return X, y, DIGITS_PARTNER


TASKS = {
    **{f"digits {a}/{b}": (lambda a=a, b=b: digit_pair(a, b)) for a, b in PAIRS},
    "breast cancer": breast_cancer,
    "wine": wine,
    "digits 0-9": digits10,
}
QUICK_TASKS = ("digits 1/7", "wine")


def load_task(name):
    X, y, partner = TASKS[name]()
    return StandardScaler().fit_transform(X), y, np.asarray(partner)


# %% Planted flips and metrics.


def plant_flips(y, noise, partner, rng, fraction=FLIP_FRACTION):
    """Relabel ``round(fraction * n)`` rows with a wrong class.

    Returns the noisy labels (a new array) and the boolean mask of the
    flipped rows. ``noise="uniform"``: rows and new classes drawn uniformly;
    ``"class-cond"``: rows drawn among the classes ``c`` with
    ``partner[c] >= 0`` and relabelled ``partner[c]``.

    >>> y = np.repeat([0, 1, 2], 20)
    >>> rng = np.random.default_rng(0)
    >>> noisy, flipped = plant_flips(y, "uniform", np.array([1, 2, 1]), rng)
    >>> int(flipped.sum()), bool(np.all((noisy != y) == flipped))
    (3, True)
    >>> noisy, flipped = plant_flips(y, "class-cond", np.array([1, -1, -1]), rng)
    >>> y[flipped].tolist(), noisy[flipped].tolist()
    ([0, 0, 0], [1, 1, 1])
    >>> bool(np.all(noisy[~flipped] == y[~flipped]))
    True
    """
    n_classes = len(partner)
    n_flips = round(fraction * len(y))
    if noise == "uniform":
        candidates = np.arange(len(y))
    elif noise == "class-cond":
        candidates = np.flatnonzero(partner[y] >= 0)
    else:
        raise ValueError(f"noise must be one of {NOISES}, got {noise!r}.")
    if not 0 < n_flips <= candidates.size:
        raise ValueError(
            f"fraction={fraction} asks for {n_flips} flips among "
            f"{candidates.size} candidate rows."
        )
    rows = rng.choice(candidates, n_flips, replace=False)
    noisy = y.copy()
    if noise == "uniform":  # a shift in 1..K-1 is uniform over the other classes
        noisy[rows] = (y[rows] + rng.integers(1, n_classes, n_flips)) % n_classes
    else:
        noisy[rows] = partner[y[rows]]
    flipped = np.zeros(len(y), bool)
    flipped[rows] = True
    return noisy, flipped


def precision_at_k(planted, scores):
    """Fraction of planted rows among the ``k = planted.sum()`` top scores.

    Rows tied with the k-th score share its remaining places in expectation
    (as if ties were broken at random), so the row order cannot matter.

    >>> planted = np.array([True, False, True, False])
    >>> precision_at_k(planted, np.array([0.9, 0.8, 0.7, 0.1]))  # top 2: 1 hit
    0.5
    >>> # all four tie: 2 places, 2 planted among 4 rows -> 1 hit expected
    >>> precision_at_k(planted, np.ones(4))
    0.5
    >>> # rows 0-2 tie for 2 places, one of them planted -> 2/3 hit in 2
    >>> precision_at_k(np.array([True, False, False, True]), np.array([1, 1, 1, 0]))
    0.333...
    """
    k = int(planted.sum())
    threshold = np.sort(scores)[::-1][k - 1]
    above, tied = scores > threshold, scores == threshold
    hits = planted[above].sum() + (k - above.sum()) * planted[tied].mean()
    return float(hits / k)


def flag_metrics(planted, flagged):
    """Precision and recall of a flagged set; precision 0 if it is empty.

    >>> planted = np.array([True, True, False, False])
    >>> flag_metrics(planted, np.array([True, False, True, True]))
    (0.333..., 0.5)
    >>> flag_metrics(planted, np.zeros(4, bool))
    (0.0, 0.0)
    """
    hits = int(np.sum(planted & flagged))
    precision = hits / flagged.sum() if flagged.any() else 0.0
    return float(precision), hits / int(planted.sum())


# %% Methods: (X, y, seed) -> (scores, flagged or None); higher = mislabeled.


class Skipped(Exception):
    """Raised by a method that does not apply to a task; the message says why."""


def out_of_fold_proba(classifier, X, y, seed):
    folds = StratifiedKFold(N_FOLDS, shuffle=True, random_state=seed)
    return cross_val_predict(classifier, X, y, cv=folds, method="predict_proba")


def cleanlab_scores(classifier, X, y, seed):
    """cleanlab's self-confidence ranking and its pruned flagged set."""
    proba = out_of_fold_proba(classifier, X, y, seed)
    quality = get_label_quality_scores(y, proba)
    return 1 - quality, find_label_issues(y, proba, n_jobs=1)


def in_sample_residual(X, y, seed):
    proba = LogisticRegression(max_iter=5000).fit(X, y).predict_proba(X)
    return 1 - proba[np.arange(len(y)), y], proba.argmax(axis=1) != y


def isolation_forest(X, y, seed):
    forest = IsolationForest(random_state=seed).fit(X)
    return -forest.score_samples(X), forest.predict(X) == -1


def detector_scores(detector, X, y):
    """Fit an outlier detector on ``(X, y)``; ``decision_function < 0`` flags."""
    decision = detector.fit(X, y).decision_function(X, y)
    return -decision, decision < 0


def sknlis_detector(estimator, **params):
    """An ``AdjointOutlierDetector`` method: its training scores and flags.

    The training rows' scores are ``scores_`` and their flags ``fit_predict``
    (the leave-one-out score of a training row differs from the loss of the
    same row scored as new data by ``decision_function``).
    """

    def method(X, y, seed):
        detector = AdjointOutlierDetector(estimator(seed), **params)
        flagged = detector.fit_predict(X, y) == -1
        return detector.scores_, flagged

    return method


def sknlis_today(X, y, seed):
    if y.max() > 1:
        raise Skipped(
            "today's detector fits a regression model to the label: binary 0/1 only"
        )
    return detector_scores(
        AdjointOutlierDetector(random_state=seed), X, y.astype(float)
    )


METHODS = {
    "cleanlab-LR": lambda X, y, seed: cleanlab_scores(
        LogisticRegression(max_iter=5000), X, y, seed
    ),
    "cleanlab-MLP": lambda X, y, seed: cleanlab_scores(
        MLPClassifier(hidden_layer_sizes=(32,), max_iter=500, random_state=seed),
        X,
        y,
        seed,
    ),
    "residual-LR": in_sample_residual,
    "iforest": isolation_forest,
    "sknlis-today": sknlis_today,
    "sknlis-loo": sknlis_detector(lambda seed: SingleIndexClassifier()),
    "sknlis-loo-a3": sknlis_detector(lambda seed: SingleIndexClassifier(alpha=3.0)),
    "sknlis-insample": lambda X, y, seed: detector_scores(
        AdjointOutlierDetector(SingleIndexClassifier()), X, y
    ),
    "sknlis-loo-2L": sknlis_detector(
        lambda seed: TwoLayerReLUClassifier(n_hidden=10, alpha=1.0, random_state=seed)
    ),
    "sknlis-leverage": sknlis_detector(
        lambda seed: SingleIndexClassifier(), scores="leverage"
    ),
}


# %% The run.


def run_method(method, X, y, seed):
    """Scores, flags, seconds and ConvergenceWarnings of one method on a task."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        scores, flagged = METHODS[method](X, y, seed)
        seconds = time.perf_counter() - start
    scores = np.asarray(scores, dtype=float)
    if scores.shape != y.shape or not np.all(np.isfinite(scores)):
        raise ValueError(f"method {method!r} returned non-finite or misshapen scores")
    n_warned = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    return scores, flagged, seconds, n_warned


def evaluate(task, noise, seed, methods, skipped):
    X, y, partner = load_task(task)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    X, y = X[order], y[order]
    noisy, planted = plant_flips(y, noise, partner, rng)
    rows = []
    for method in methods:
        try:
            scores, flagged, seconds, n_warned = run_method(method, X, noisy, seed)
        except Skipped as reason:
            skipped[method, task] = str(reason)
            continue
        row = {
            "task": task,
            "kind": "binary" if len(partner) == 2 else "multiclass",
            "noise": noise,
            "seed": seed,
            "method": method,
            "n": len(y),
            "k": int(planted.sum()),
            "roc_auc": roc_auc_score(planted, scores),
            "p_at_k": precision_at_k(planted, scores),
            "flag_precision": "",
            "flag_recall": "",
            "n_flagged": "",
            "seconds": seconds,
            "convergence_warnings": n_warned,
        }
        if flagged is not None:
            flagged = np.asarray(flagged, bool)
            row["flag_precision"], row["flag_recall"] = flag_metrics(planted, flagged)
            row["n_flagged"] = int(flagged.sum())
        rows.append(row)
    return rows


# %% Reporting.


def fmt(value, digits=3):
    return "—" if value == "" or value is None else f"{value:.{digits}f}"


def mean_of(rows, key):
    values = [r[key] for r in rows if r[key] != ""]
    return np.mean(values) if values else ""


def markdown(header, lines):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(map(str, line)) + " |" for line in lines]
    return "\n".join(out)


def per_task_table(results, methods):
    lines = []
    for task in dict.fromkeys(r["task"] for r in results):
        for noise in NOISES:
            for method in methods:
                rows = [
                    r
                    for r in results
                    if (r["task"], r["noise"], r["method"]) == (task, noise, method)
                ]
                if rows:
                    lines.append(
                        [
                            task,
                            noise,
                            method,
                            fmt(mean_of(rows, "roc_auc")),
                            fmt(mean_of(rows, "p_at_k")),
                            fmt(mean_of(rows, "flag_precision")),
                            fmt(mean_of(rows, "flag_recall")),
                            fmt(mean_of(rows, "n_flagged"), 1),
                            fmt(mean_of(rows, "seconds"), 2),
                        ]
                    )
    header = ["task", "noise", "method", "ROC-AUC", "P@k", "flag P", "flag R"]
    return markdown(header + ["n flagged", "seconds"], lines)


def paired(results, method):
    """Wins, ties, losses in P@k and the time ratio against the baseline."""
    key = ("task", "noise", "seed")
    base = {tuple(r[c] for c in key): r for r in results if r["method"] == BASELINE}
    pairs = [
        (r, base[tuple(r[c] for c in key)])
        for r in results
        if r["method"] == method and tuple(r[c] for c in key) in base
    ]
    # P@k is a multiple of 1/k (or of a tie share): 1e-12 only absorbs rounding.
    diff = np.array([r["p_at_k"] - b["p_at_k"] for r, b in pairs])
    win, loss = np.sum(diff > 1e-12), np.sum(diff < -1e-12)
    wins = f"{win}/{len(diff) - win - loss}/{loss}"
    ratio = sum(r["seconds"] for r, _ in pairs) / sum(b["seconds"] for _, b in pairs)
    return wins, ratio


def summary_table(results, methods):
    lines = []
    for kind in ("binary", "multiclass"):
        for method in methods:
            rows = [r for r in results if (r["kind"], r["method"]) == (kind, method)]
            if not rows:
                continue
            wins, ratio = paired([r for r in results if r["kind"] == kind], method)
            lines.append(
                [
                    kind,
                    method,
                    len(rows),
                    fmt(mean_of(rows, "roc_auc")),
                    fmt(mean_of(rows, "p_at_k")),
                    fmt(mean_of(rows, "flag_precision")),
                    fmt(mean_of(rows, "flag_recall")),
                    fmt(mean_of(rows, "seconds"), 3),
                    f"{ratio:.2f}",
                    wins,
                ]
            )
    header = ["tasks", "method", "runs", "ROC-AUC", "P@k", "flag P", "flag R"]
    header += ["mean s", "time x", f"P@k vs {BASELINE} W/T/L"]
    return markdown(header, lines)


def print_notes(results, methods):
    for method in methods:
        rows = [r for r in results if r["method"] == method]
        warned = sum(r["convergence_warnings"] > 0 for r in rows)
        empty = sum(r["n_flagged"] == 0 for r in rows)
        if warned:
            print(f"- {method}: ConvergenceWarning in {warned} of {len(rows)} runs")
        if empty:
            print(
                f"- {method}: flagged nothing in {empty} of {len(rows)} runs "
                "(flag precision counted as 0)"
            )


def write_csv(results, path):
    """Write the raw rows to ``path`` through a temporary file and a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".csv.tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(results[0]))
            writer.writeheader()
            writer.writerows(results)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def print_environment():
    versions = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "cleanlab": cleanlab.__version__,
        "sknlis": f"{sknlis.__version__} ({os.path.dirname(sknlis.__file__)})",
    }
    print(", ".join(f"{name} {version}" for name, version in versions.items()))
    threads = {(i["internal_api"], i["num_threads"]) for i in threadpool_info()}
    print(
        "BLAS/OpenMP threads: "
        + ", ".join(f"{api}={n}" for api, n in sorted(threads))
        + f" (machine: {os.cpu_count()} cores)"
    )


def parse_list(value, known, what):
    names = [name.strip() for name in value.split(",")] if value else list(known)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"unknown {what} {unknown}; choose from {list(known)}")
    return names


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per task (3)")
    parser.add_argument("--quick", action="store_true", help="2 tasks, 1 seed")
    parser.add_argument("--csv", help="write the raw results to this CSV file")
    parser.add_argument("--methods", help="comma-separated subset of METHODS")
    parser.add_argument("--tasks", help="comma-separated subset of TASKS")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    if doctest.testmod(sys.modules[__name__], optionflags=flags).failed:
        raise SystemExit("the helpers' self-check failed")
    methods = parse_list(args.methods, METHODS, "methods")
    tasks = parse_list(args.tasks or ",".join(QUICK_TASKS * args.quick), TASKS, "tasks")
    seeds = range(1 if args.quick else args.seeds)
    if BASELINE not in methods:
        raise SystemExit(f"--methods must include the baseline {BASELINE!r}")

    start = time.perf_counter()
    results, skipped = [], {}
    with threadpool_limits(limits=1):
        print_environment()
        # Warm-up, discarded: first calls pay for lazy imports and caches.
        evaluate(tasks[0], NOISES[0], 0, methods, {})
        for task in tasks:
            for noise in NOISES:
                for seed in seeds:
                    results += evaluate(task, noise, seed, methods, skipped)
            print(f"  {task}: done ({time.perf_counter() - start:.0f} s)", flush=True)

    print(f"\n## Per task (mean over {len(seeds)} seed(s))\n")
    print(per_task_table(results, methods))
    print(f"\n## Summary (mean over tasks and seeds; noise {' and '.join(NOISES)})\n")
    print(summary_table(results, methods))
    print(
        f"\n`time x`: total seconds over the paired runs / {BASELINE}'s. "
        f"W/T/L: runs where P@k beats, ties or loses to {BASELINE}'s."
    )
    for (method, task), reason in skipped.items():
        print(f"- skipped {method} on {task}: {reason}")
    print_notes(results, methods)
    if args.csv:
        write_csv(results, args.csv)
        print(f"raw results: {args.csv}")
    print(f"({time.perf_counter() - start:.0f} s in all)")


if __name__ == "__main__":
    main()
