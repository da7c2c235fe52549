"""Command line: ``python -m sknlis demo|scores|sample`` (also ``sknlis ...``)."""

import argparse
import os
import sys

import numpy as np

from sknlis._csv import TableError, read_table, write_table
from sknlis._demo import run_demo, standardize


def _model(args):
    from sknlis import SingleIndexRegressor

    return SingleIndexRegressor(activation=args.activation, random_state=args.seed)


def scores_command(args, out=sys.stdout):
    """Write every row's adjoint and linear importance scores."""
    from sknlis import leverage_scores, norm_scores

    _check_output(args)
    if _streams(args.data):
        from sknlis._dask_cli import read_lazy_table, scores_table

        table = read_lazy_table(args.data, args.target)
        n_rows, r2 = scores_table(table, _model(args), args.output, out)
        print(
            f"Scored {n_rows} rows of {args.data} (swish single-index model fitted "
            f"on up to 100,000 of them, R^2 {r2:.3f} there); scores sum to 1 "
            "per column.",
            file=sys.stderr,
        )
        return
    table = read_table(args.data, args.target)
    X, y = standardize(table.X, table.y)
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

    _check_output(args)
    sampler = NonlinearImportanceResampler(
        _model(args),
        scores=args.scores,
        basis=args.basis,
        n_samples=args.n_samples,
        pilot_size=args.pilot_size,
        replace=not args.no_replace,
        random_state=args.seed,
    )
    if _streams(args.data):
        from sknlis._dask_cli import read_lazy_table, sample_table

        table = read_lazy_table(args.data, args.target)
        n_drawn, n_rows = sample_table(table, sampler, args.output, out)
        _report_sample(args, n_drawn, n_rows)
        return
    table = read_table(args.data, args.target)
    X, y = standardize(table.X, table.y)
    sampler.fit_resample(X, y)
    rows = [
        [i, *table.records[i], f"{w:.10g}"]
        for i, w in zip(sampler.sample_indices_, sampler.sample_weight_)
    ]
    write_table(args.output or out, ["row", *table.header, "sample_weight"], rows)
    _report_sample(args, len(rows), X.shape[0])


def _report_sample(args, n_drawn, n_rows):
    print(
        f"Drew {n_drawn} of {n_rows} rows by {args.basis} {args.scores} "
        "scores; fit on them with sample_weight to estimate the full-data loss.",
        file=sys.stderr,
    )


# A CSV larger than this streams through dask.dataframe when Dask is
# installed; a smaller one is read in memory (its messages name the line).
STREAM_CSV_BYTES = 256 * 2**20


def _streams(path):
    """Read ``path`` through Dask: Parquet always, a CSV when it is large."""
    from sknlis._rows import dask_available

    parquet = os.path.isdir(path) and any(
        name.endswith((".parquet", ".pq")) for name in os.listdir(path)
    )
    parquet = parquet or path.endswith((".parquet", ".pq"))
    if parquet and not dask_available():
        raise TableError(
            f"{path} is Parquet: reading it needs Dask and pyarrow, "
            "pip install 'sknlis[dask]' pyarrow."
        )
    large = os.path.isfile(path) and os.path.getsize(path) > STREAM_CSV_BYTES
    return parquet or (large and dask_available())


def _check_output(args):
    """Refuse to write the output over the input (it would replace the data)."""
    output, data = args.output, args.data
    if output and os.path.exists(output) and os.path.exists(data):
        if os.path.samefile(output, data):
            raise ValueError(
                f"-o {output} is the input file {data}: writing there would "
                "replace the data. Choose another output file."
            )


def _count_or_fraction(text):
    """An int count ("40", "1e3") or a float fraction ("0.1", "1.0": all rows)."""
    try:
        return int(text)
    except ValueError:
        value = float(text)
    return int(value) if value > 1 and value.is_integer() else value


def _at_least(minimum):
    def parse(text):
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}; got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


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
        "demo",
        help="the paper's Figure 1 in small, on the bundled diamonds data",
    )
    demo_parser.add_argument(
        "--repeats", type=_at_least(1), default=11, help="draws per strategy and size"
    )
    demo_parser.add_argument(
        "--top", type=_at_least(0), default=5, help="most important rows to print"
    )
    demo_parser.add_argument(
        "--plot",
        default="sknlis-demo.png",
        help="PNG file for the plot (needs matplotlib); '' for none",
    )
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
            run_demo(repeats=args.repeats, top=args.top, plot=args.plot)
        elif args.command == "scores":
            scores_command(args)
        else:
            sample_command(args)
    except (TableError, ValueError, TypeError, OSError) as error:
        parser.exit(2, f"sknlis {args.command}: error: {error}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
