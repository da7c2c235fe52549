"""Command line: ``python -m sknlis demo`` (also the ``sknlis`` script)."""

import argparse
import sys

import numpy as np

from sknlis._csv import TableError, read_table, write_table


def _load_demo_data():
    """scikit-learn's bundled diabetes data, standardized."""
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    X = (data.data - data.data.mean(axis=0)) / data.data.std(axis=0)
    y = (data.target - data.target.mean()) / data.target.std()
    return X, y, list(data.feature_names)


def demo(top=10, out=sys.stdout):
    """Score the diabetes rows under a swish single-index model; print the top."""
    from sknlis import SingleIndexRegressor, leverage_scores

    X, y, names = _load_demo_data()
    n = X.shape[0]
    model = SingleIndexRegressor(activation="swish").fit(X, y)
    adjoint = leverage_scores(model.adjoint_matrix_)
    linear = leverage_scores(np.column_stack([X, np.ones(n)]))
    residual = model.predict(X) - y
    print(
        f"sknlis demo: diabetes data, {n} rows x {X.shape[1]} features; "
        f"swish single-index model, training R^2 = {model.score(X, y):.3f}",
        file=out,
    )
    print(
        f"Most important rows by adjoint leverage (x n: 1 = average row):\n"
        f"{'row':>5} {'adjoint':>8} {'linear':>8} {'residual':>9}  largest |feature|",
        file=out,
    )
    for i in np.argsort(adjoint)[::-1][:top]:
        j = int(np.argmax(np.abs(X[i])))
        print(
            f"{i:>5} {adjoint[i] * n:>8.2f} {linear[i] * n:>8.2f} "
            f"{residual[i]:>9.2f}  {names[j]} = {X[i, j]:+.1f} sd",
            file=out,
        )
    return adjoint


def _standardized(table):
    """Features and target scaled to unit variance: the fit is then well posed."""
    X = table.X - table.X.mean(axis=0)
    scale = X.std(axis=0)
    X /= np.where(scale > 0, scale, 1.0)
    y = table.y - table.y.mean()
    return X, y / (y.std() or 1.0)


def _model(args):
    from sknlis import SingleIndexRegressor

    return SingleIndexRegressor(activation=args.activation, random_state=args.seed)


def scores_command(args, out=sys.stdout):
    """Write every row's adjoint and linear importance scores."""
    from sknlis import leverage_scores, norm_scores

    table = read_table(args.data, args.target)
    X, y = _standardized(table)
    model = _model(args).fit(X, y)
    design = np.column_stack([X, np.ones(X.shape[0])])
    columns = {
        "adjoint_leverage": leverage_scores(model.adjoint_matrix_),
        "adjoint_norm": norm_scores(model.adjoint_matrix_),
        "linear_leverage": leverage_scores(design),
        "linear_norm": norm_scores(design),
    }
    rows = [
        [i] + [f"{values[i]:.10g}" for values in columns.values()]
        for i in range(X.shape[0])
    ]
    write_table(args.output or out, ["row", *columns], rows)
    print(
        f"Scored {X.shape[0]} rows of {args.data} (swish single-index model, "
        f"training R^2 {model.score(X, y):.3f}); scores sum to 1 per column.",
        file=sys.stderr,
    )


def sample_command(args, out=sys.stdout):
    """Write an importance sample of the rows with a weight column."""
    from sknlis import NonlinearImportanceResampler

    table = read_table(args.data, args.target)
    X, y = _standardized(table)
    sampler = NonlinearImportanceResampler(
        _model(args),
        scores=args.scores,
        basis=args.basis,
        n_samples=args.n_samples,
        pilot_size=args.pilot_size,
        replace=not args.no_replace,
        random_state=args.seed,
    )
    sampler.fit_resample(X, y)
    rows = [
        [i, *table.records[i], f"{w:.10g}"]
        for i, w in zip(sampler.sample_indices_, sampler.sample_weight_)
    ]
    write_table(args.output or out, ["row", *table.header, "sample_weight"], rows)
    print(
        f"Drew {len(rows)} of {X.shape[0]} rows by {args.basis} {args.scores} "
        "scores; fit on them with sample_weight to estimate the full-data loss.",
        file=sys.stderr,
    )


def _count_or_fraction(text):
    value = float(text)
    return int(value) if value >= 1 and value.is_integer() else value


def _pilot(text):
    if text.lower() in ("none", "auto"):
        return None if text.lower() == "none" else "auto"
    return _count_or_fraction(text)


def _parser():
    parser = argparse.ArgumentParser(
        prog="sknlis", description="Importance sampling for nonlinear models."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser(
        "demo", help="score a bundled data set and print its most important rows"
    )
    demo_parser.add_argument("--top", type=int, default=10, help="rows to print")
    for name, help_text in (
        ("scores", "write each row's importance scores as CSV"),
        ("sample", "write a weighted importance sample of the rows as CSV"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("data", help="CSV file with a header line, numeric columns")
        sub.add_argument("--target", required=True, help="name of the target column")
        sub.add_argument("-o", "--output", help="output CSV (default: stdout)")
        sub.add_argument("--activation", default="swish", help="model activation")
        sub.add_argument("--seed", type=int, default=0, help="random seed")
    sample = commands.choices["sample"]
    sample.add_argument(
        "--n-samples",
        type=_count_or_fraction,
        default=0.1,
        help="rows to draw: a count, or a fraction in (0, 1] (default 0.1)",
    )
    sample.add_argument(
        "--scores", choices=["leverage", "norm", "uniform"], default="leverage"
    )
    sample.add_argument("--basis", choices=["adjoint", "linear"], default="adjoint")
    sample.add_argument(
        "--pilot-size",
        type=_pilot,
        default="auto",
        help="rows for the pilot fit: a count, a fraction, 'auto' (as many as "
        "the sample) or 'none' to fit on all rows (default auto)",
    )
    sample.add_argument(
        "--no-replace", action="store_true", help="draw each row at most once"
    )
    return parser


def main(argv=None):
    """Entry point of ``python -m sknlis`` and the ``sknlis`` script."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            demo(top=args.top)
        elif args.command == "scores":
            scores_command(args)
        else:
            sample_command(args)
    except (TableError, ValueError, TypeError) as error:
        parser.exit(2, f"sknlis {args.command}: error: {error}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
