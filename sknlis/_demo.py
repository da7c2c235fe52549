"""``sknlis demo``: a compact version of the paper's Figure 1 on the bundled data."""

import sys
import time

import numpy as np

from sknlis._csv import replaced_atomically
from sknlis._experiment import PAPER_STRATEGIES, relative_excess_loss
from sknlis._scores import leverage_scores
from sknlis.datasets import load_diamonds

DEMO_STRATEGIES = {
    "uniform (UN)": PAPER_STRATEGIES["UN"],
    "linear leverage (LLS)": PAPER_STRATEGIES["LLS"],
    "adjoint leverage at theta* (ALS)": PAPER_STRATEGIES["ALS"],
    "adjoint leverage, pilot fit": PAPER_STRATEGIES["ALS pilot"],
}


def standardize(X, y):
    """Features and target to zero mean and unit variance (constant ones to 0)."""
    return _standardize(X), _standardize(y[:, None])[:, 0]


def _standardize(A):
    # Divided by its largest magnitude first, a column's squares cannot
    # overflow (values near 1e200) or vanish (subnormal ones): the result
    # does not depend on that scale.
    peak = np.abs(A).max(axis=0)
    A = A / np.where(peak > 0, peak, 1.0)
    A -= A.mean(axis=0)
    scale = A.std(axis=0)
    A /= np.where(scale > 0, scale, 1.0)
    return A


class _Progress:
    """One status line on a terminal, rewritten in place as steps finish."""

    def __init__(self, total, stream):
        self.total, self.done, self.stream = total, 0, stream
        self.start = time.perf_counter()

    def __call__(self, message):
        self.done += 1
        elapsed = time.perf_counter() - self.start
        line = f"  [{self.done}/{self.total}] {message} ({elapsed:.0f} s)"
        end = "\n" if self.done == self.total or not self.stream.isatty() else ""
        print(f"\r{line:<72}", end=end, file=self.stream, flush=True)


def run_demo(
    *,
    sizes=(0.005, 0.01, 0.02, 0.05),
    repeats=11,
    top=5,
    plot="sknlis-demo.png",
    out=sys.stdout,
    status=sys.stderr,
):
    """Run the demo, print its tables, save the plot; return the error table."""
    data = load_diamonds()
    X, y = standardize(data.data, data.target)
    print(
        f"sknlis demo: the paper's diamonds data ({X.shape[0]} rows, "
        f"{X.shape[1]} features, target log price), swish single-index model.\n"
        "Each strategy draws a weighted sample, refits on it, and the refit's "
        "loss on ALL rows\nis compared with the full fit's: "
        "log10((L(theta_S) - L(theta*)) / L(theta*)), lower is better.",
        file=out,
    )
    errors, optimum = relative_excess_loss(
        X,
        y,
        sizes=sizes,
        repeats=repeats,
        strategies=DEMO_STRATEGIES,
        progress=_Progress(len(DEMO_STRATEGIES) * len(sizes), status),
    )
    medians = {name: np.median(table, axis=1) for name, table in errors.items()}
    header = "".join(f"{size:>8.1%}" for size in sizes)
    print(f"\nmedian over {repeats} draws\n{'strategy':<34}{header}", file=out)
    for name, row in medians.items():
        print(f"{name:<34}{''.join(f'{v:8.2f}' for v in row)}", file=out)
    uniform, adjoint = medians["uniform (UN)"][-1], medians[list(medians)[2]][-1]
    print(
        f"\nAt {sizes[-1]:.0%} of the rows, a refit on the adjoint leverage sample "
        f"is {100 * 10**adjoint:.2g}% above the full-data loss; on a uniform "
        f"sample, {100 * 10**uniform:.3g}% above.",
        file=out,
    )
    if top:
        _print_top_rows(optimum, X, y, data, top, out)
    if plot:
        _plot(medians, sizes, repeats, plot, out)
    return errors


def _print_top_rows(optimum, X, y, data, top, out):
    scores = leverage_scores(optimum.adjoint_matrix(X, y)) * X.shape[0]
    names = ["carat", "x", "y", "z"]
    columns = [data.feature_names.index(name) for name in names]
    print(
        f"\nThe {top} rows the fitted model depends on most (adjoint leverage, "
        "x n: 1 = an average row):\n"
        f"{'row':>6}{'leverage':>10}  " + "".join(f"{n:>7}" for n in names),
        file=out,
    )
    for i in np.argsort(scores)[::-1][:top]:
        values = "".join(f"{data.data[i, j]:7.2f}" for j in columns)
        print(f"{i:>6}{scores[i]:10.0f}  {values}", file=out)


def _plot(medians, sizes, repeats, path, out):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\n(matplotlib is not installed: no plot)", file=out)
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, row in medians.items():
        ax.plot([100 * s for s in sizes], row, marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xticks([100 * s for s in sizes], [f"{100 * s:g}%" for s in sizes])
    ax.minorticks_off()
    ax.set_xlabel("sample size (share of the rows)")
    ax.set_ylabel(f"log10 relative excess loss (median of {repeats})")
    ax.set_title("Diamonds: importance-sampled refits vs. the full fit")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with replaced_atomically(path) as temporary:
        fig.savefig(temporary, dpi=110, format="png")
    plt.close(fig)
    print(f"\nplot saved to {path}", file=out)
