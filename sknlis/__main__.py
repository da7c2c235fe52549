"""Command line: ``python -m sknlis demo`` (also the ``sknlis`` script)."""

import argparse
import sys

import numpy as np


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


def main(argv=None):
    """Entry point of ``python -m sknlis`` and the ``sknlis`` script."""
    parser = argparse.ArgumentParser(
        prog="sknlis", description="Importance sampling for nonlinear models."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser(
        "demo", help="score a bundled data set and print its most important rows"
    )
    demo_parser.add_argument("--top", type=int, default=10, help="rows to print")
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo(top=args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
