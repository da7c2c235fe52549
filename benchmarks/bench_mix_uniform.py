"""Should ``mix_uniform`` default to something above 0? Held-out MSE per mixture.

What is measured
----------------
The split and the data are those of ``bench_end_to_end.py`` (80/20, seed 0;
AER Fertility or its synthetic Student-t(3) rows). The final model is
``TwoLayerReLURegressor(n_hidden=m, store_adjoint=False)`` with its default
``max_iter`` unless ``--max-iter`` is given. For each seed, fraction and
scorer, a ``NonlinearImportanceResampler`` scores the rows once (``single
index``: ``estimator=None``; ``2-layer sketch``: the two-layer pilot with
``leverage_method="sketch"``); then, for each ``a`` in ``--mix``, the sample
is drawn from ``(1 - a) tau + a / n`` by
:func:`sknlis.importance_sample` with the same seed for every ``a`` (the same
uniforms through the inverse CDF, so the mixtures are compared on paired
draws), and the model is refitted with the importance weights. ``a = 1`` is
a uniform sample. The scores do not depend on ``a``, which is why they are
computed once: this is the resampler's own procedure, split in two.

Per cell: the median over seeds of the held-out MSE divided by the median
full-fit MSE (full fits at the same seeds), with its min and max; the
median CPU time (``time.process_time``) of scoring plus refit divided by the
median full fit's (CPU time, not wall time: the machine is shared); the
median over seeds of the MSE divided by the same seed's MSE at ``a = 0``
(paired: same pilot, same uniforms); and the median largest importance
weight (the mean weight is ``1 / f``; ``a > 0`` bounds it by ``1 / (f a)``).
``--out`` appends every fit as a JSON line; ``--summarize FILE`` prints the
tables of such a file again.

``--data diamonds`` runs the paper's Figure 1 setting instead, where
leverage matters most: :func:`sknlis._experiment.relative_excess_loss` (the
swish single-index model, ``theta*`` from ``reproduce_paper.py``'s
``fit_optimum``) for ``UN`` and for ``ALS`` (scores at ``theta*``) and ``ALS
pilot`` at each ``a`` in ``--mix``, ``--seeds`` repeats per size; the table
is the median log10 relative excess loss (lower is better) and its bootstrap
standard error.

Run
---
::

    PYTHONPATH=. python benchmarks/bench_mix_uniform.py --data fertility \\
        --hidden 20 100 --seeds 3
    PYTHONPATH=. python benchmarks/bench_mix_uniform.py --data synthetic \\
        --hidden 20 --seeds 3
    PYTHONPATH=. python benchmarks/bench_mix_uniform.py --data diamonds \\
        --mix 0 0.1 0.25 0.5 --seeds 21

(The study for issue 10 ran these, and ``--data synthetic --hidden 100``
with ``--scorers "single index"``, and again with ``--fractions 5 --scorers
"2-layer sketch"``: about 25 minutes of CPU in all.)

BLAS is pinned to one thread with threadpoolctl.
"""

import argparse
import json
import time
import warnings

import numpy as np
from bench_end_to_end import load_fertility, synthetic
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_info, threadpool_limits

from sknlis import (
    NonlinearImportanceResampler,
    TwoLayerReLURegressor,
    importance_sample,
)


def _model(m, max_iter, seed):
    options = {} if max_iter is None else {"max_iter": max_iter}
    return TwoLayerReLURegressor(
        n_hidden=m, store_adjoint=False, random_state=seed, **options
    )


def _timed_fit(model, X, y, X_test, y_test, **fit_params):
    start = time.process_time()
    model.fit(X, y, **fit_params)
    seconds = time.process_time() - start
    return seconds, float(np.mean((model.predict(X_test) - y_test) ** 2))


def study(X, y, m, args, log):
    order = np.random.default_rng(0).permutation(X.shape[0])
    cut = int(0.8 * X.shape[0])
    X_train, y_train = X[order[:cut]], y[order[:cut]]
    X_test, y_test = X[order[cut:]], y[order[cut:]]
    records = []
    for seed in range(args.seeds):
        seconds, mse = _timed_fit(
            _model(m, args.max_iter, seed), X_train, y_train, X_test, y_test
        )
        records.append(dict(row="full fit", seed=seed, cpu=seconds, mse=mse))
        log(records[-1])
    for seed in range(args.seeds):
        for fraction in args.fractions:
            for scorer in args.scorers:
                pilot = (
                    None if scorer == "single index" else _model(m, args.max_iter, seed)
                )
                sampler = NonlinearImportanceResampler(
                    pilot,
                    n_samples=fraction / 100,
                    leverage_method="auto" if pilot is None else "sketch",
                    random_state=seed,
                )
                start = time.process_time()
                sampler.fit(X_train, y_train)
                score_cpu = time.process_time() - start
                count = sampler.sample_indices_.shape[0]
                for mix in args.mix:
                    rows, weights = importance_sample(
                        sampler.scores_,
                        count,
                        mix_uniform=mix,
                        random_state=10_000 + seed,
                    )
                    seconds, mse = _timed_fit(
                        _model(m, args.max_iter, seed),
                        X_train[rows],
                        y_train[rows],
                        X_test,
                        y_test,
                        sample_weight=weights,
                    )
                    records.append(
                        dict(
                            row=scorer,
                            fraction=fraction,
                            mix=mix,
                            seed=seed,
                            score_cpu=score_cpu,
                            cpu=score_cpu + seconds,
                            mse=mse,
                            max_weight=float(weights.max()),
                        )
                    )
                    log(records[-1])
    return records


def _cell(records, scorer, fraction, mix):
    """A cell's records, in seed order."""
    cell = [
        r
        for r in records
        if (r["row"], r.get("fraction"), r.get("mix")) == (scorer, fraction, mix)
    ]
    return sorted(cell, key=lambda r: r["seed"])


def summarize(records, title):
    full = [r for r in records if r["row"] == "full fit"]
    base_cpu = np.median([r["cpu"] for r in full])
    base_mse = np.median([r["mse"] for r in full])
    print(
        f"\n{title}: full fit median CPU {base_cpu:.1f} s, MSE {base_mse:.4f} "
        f"(range {min(r['mse'] for r in full):.4f}-"
        f"{max(r['mse'] for r in full):.4f})"
    )
    header = f"{'scorer':14s} {'f%':>4s} {'mix':>5s}"
    print(f"  {header}  MSE ratio median [min, max]  CPU x  vs mix 0  max weight")
    cells = sorted({(r["row"], r["fraction"], r["mix"]) for r in records if "mix" in r})
    for scorer, fraction, mix in cells:
        cell = _cell(records, scorer, fraction, mix)
        mse = np.array([r["mse"] for r in cell])
        ratio = mse / base_mse
        cpu = np.median([r["cpu"] for r in cell]) / base_cpu
        # Paired: the same seed's pilot and uniforms without the mixture.
        unmixed = _cell(records, scorer, fraction, 0.0)
        paired = (
            f"{np.median(mse / [r['mse'] for r in unmixed]):8.3f}"
            if len(unmixed) == len(cell)
            else f"{'-':>8s}"
        )
        weight = np.median([r["max_weight"] for r in cell])
        print(
            f"  {scorer:14s} {fraction:4g} {mix:5g}  {np.median(ratio):.3f} "
            f"[{ratio.min():.3f}, {ratio.max():.3f}]        {cpu:.3f}  {paired}  "
            f"{weight:10.0f}"
        )


def figure1(args):
    """Figure 1's excess loss on diamonds, per strategy and mixture."""
    from bench_sampling import fit_optimum, median_se

    from sknlis._demo import standardize
    from sknlis._experiment import PAPER_STRATEGIES, relative_excess_loss
    from sknlis.datasets import load_diamonds

    data = load_diamonds()
    X, y = standardize(data.data, data.target)
    strategies = {"UN": PAPER_STRATEGIES["UN"]}
    for name in ("ALS", "ALS pilot"):
        for mix in args.mix:
            strategies[f"{name}, mix {mix:g}"] = dict(
                PAPER_STRATEGIES[name], mix_uniform=mix
            )
    start = time.process_time()
    errors, _ = relative_excess_loss(
        X,
        y,
        sizes=[size / 100 for size in args.sizes],
        repeats=args.seeds,
        strategies=strategies,
        optimum=fit_optimum(X, y),
        progress=lambda message: print(f"  {message}", flush=True),
    )
    print(
        f"\ndiamonds (n = {len(y):,}): median over {args.seeds} repeats of log10 "
        f"relative excess loss (bootstrap SE); {time.process_time() - start:.0f} "
        "s CPU"
    )
    print(f"{'strategy':18s}" + "".join(f"{f'{s:g}%':>14s}" for s in args.sizes))
    for name, table in errors.items():
        cells = [f"{np.median(row):7.2f} ({median_se(row):.2f})" for row in table]
        print(f"{name:18s}" + "".join(f"{cell:>14s}" for cell in cells))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="fertility")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--hidden", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--fractions", type=float, nargs="+", default=[1, 5])
    parser.add_argument("--mix", type=float, nargs="+", default=[0, 0.1, 0.25, 0.5, 1])
    parser.add_argument(
        "--scorers", nargs="+", default=["single index", "2-layer sketch"]
    )
    parser.add_argument("--max-iter", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default=None, help="JSON lines of every fit")
    parser.add_argument(
        "--summarize", default=None, help="print the tables of an --out file"
    )
    parser.add_argument(
        "--sizes", type=float, nargs="+", default=[0.5, 1, 2, 5, 10, 20]
    )
    args = parser.parse_args()
    if args.summarize:
        with open(args.summarize) as lines:
            records = [json.loads(line) for line in lines]
        for table in dict.fromkeys(r["table"] for r in records):
            summarize([r for r in records if r["table"] == table], table)
        return
    warnings.simplefilter("ignore", ConvergenceWarning)
    if args.data == "diamonds":
        with threadpool_limits(limits=1):
            figure1(args)
        return
    if args.data == "fertility":
        X, y = load_fertility()
        title = "AER Fertility"
    else:
        X, y = synthetic(args.rows, args.features)
        title = f"Synthetic Student-t(3) {args.rows:,} x {args.features}"
    out = open(args.out, "a") if args.out else None

    with threadpool_limits(limits=1):
        counts = sorted({pool["num_threads"] for pool in threadpool_info()})
        print(f"BLAS threads: {counts}", flush=True)
        for m in args.hidden:
            name = f"{title}, m = {m}, max_iter = {args.max_iter or 'default'}"

            def log(record, name=name):
                print(f"  {record}", flush=True)
                if out is not None:
                    out.write(json.dumps(dict(record, table=name)) + "\n")
                    out.flush()

            records = study(X, y, m, args, log)
            summarize(records, name)


if __name__ == "__main__":
    main()
