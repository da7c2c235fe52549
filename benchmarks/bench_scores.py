"""Benchmark ``sknlis.leverage_scores``: speed, peak memory and accuracy.

What it measures (issue 2)
--------------------------
1. Speed, on Gaussian ``F`` of shape ``(n, k)`` (float64), best of 3 runs:

   * ``leverage_scores(F)``;
   * the baseline ``scipy.linalg.qr(F, mode="economic")`` followed by the
     squared row norms of ``Q`` (Householder QR, what a careful user writes);
   * ``OLSInfluence(OLS(y, F).fit()).hat_matrix_diag`` from statsmodels, the
     tool a user would otherwise reach for. Its cost is first measured at a
     smaller ``n`` and extrapolated linearly in ``n``; it is skipped, with the
     reason printed, when that estimate exceeds ``--sm-max-seconds`` or half
     of the available memory.

2. Peak extra memory, with ``tracemalloc`` (numpy reports its buffers to it):
   the peak traced during the call minus what was traced before, divided by
   ``F.nbytes``. It includes the returned scores. OpenBLAS's own preallocated
   buffers are not traced.

3. Accuracy on ill-conditioned matrices: random Gaussian, coherent (5 rows
   scaled by 1e6), exactly rank-deficient (a column is a combination of others
   and another column is zero), near-collinear (a column is another plus
   1e-7 * noise) and badly column-scaled (columns scaled by 10**U(-8, 8)).
   The error is ``max_i |tau_i - tau_ref_i| * n`` (target: <= 1e-8). Two
   references are reported:

   * ``svd``: ``diag(F F^+) / rank`` from ``numpy.linalg.svd(F)`` keeping the
     singular values above numpy's ``matrix_rank`` tolerance
     ``max(n, k) * eps * sigma_max``, the reference named in the issue;
   * ``exact``: the same SVD formula applied to a well-conditioned matrix with,
     in exact arithmetic, the same column space as ``F`` (or, for the coherent
     case, a Householder QR with rows sorted by decreasing norm, which is
     row-wise backward stable). Any backward-stable method applied to ``F``
     itself, the ``svd`` reference included, errs by about ``eps * cond(F)``;
     for the near-collinear case that exceeds 1e-8 / n, and for the column-
     scaled case numpy's tolerance on the unscaled columns drops a dozen
     directions that ``F`` does span. The verdict uses ``exact``.

Targets: at n = 300,000 and 1,000,000 with k = 50, ``leverage_scores`` takes
at most 0.35x the QR baseline's time and at most 0.5x ``F.nbytes`` of peak
extra memory, and its error is at most 1e-8 / n on every case.

4. Sketched leverage (``method="sketch"``, issue 10), against
   ``method="exact"`` in the same run, on a two-layer ReLU dual matrix
   (``m = 100`` hidden units, ``d = 50`` Student-t(3) features, ``k = 5,202``
   columns) whose rows are generated block by block from ``X`` by
   ``two_layer_adjoint``: the ``n x k`` matrix is never held (it would be
   41.6 GB at n = 1e6). Time and peak extra memory (tracemalloc) of both;
   the exact time at large ``n`` is estimated from a least-squares line
   ``a + b n`` through exact runs at smaller ``n`` (its cost is
   ``O(n k^2)`` plus a fixed ``O(k^3)``), and the table says so. Accuracy:
   total-variation distance to the exact scores and the fraction of rows
   within ``[0.5, 2]`` times their exact score, on that dual matrix and on
   random, coherent (20 rows scaled by 100) and rank-deficient (rank k/2)
   Gaussian matrices, for the default and other ``n_projections``.

   Targets: sketch time <= 0.05x exact at n = 1e6, k ~ 5,000; TV <= 0.05 and
   >= 95% of rows within [0.5, 2] with the defaults.

BLAS threads are pinned with ``threadpoolctl`` (``--threads``, default 1) and
the BLAS libraries, their kernels and thread counts are printed. If
``OPENBLAS_CORETYPE`` or ``OPENBLAS_L2_SIZE`` is set, the script re-executes
itself without them, so that OpenBLAS picks its kernel from the CPU.

How to run (from the repository root; the full run takes several minutes)::

    PYTHONPATH=. python benchmarks/bench_scores.py
    PYTHONPATH=. python benchmarks/bench_scores.py --quick
    PYTHONPATH=. python benchmarks/bench_scores.py --n 300000 --k 50 --no-accuracy
    PYTHONPATH=. python benchmarks/bench_scores.py --sketch-only   # ~40 min
"""

import argparse
import gc
import os
import sys
import time
import tracemalloc
import warnings

import numpy as np
from scipy import linalg
from threadpoolctl import threadpool_info, threadpool_limits

import sknlis._scores as scores_module
from sknlis import leverage_scores, make_activation, two_layer_adjoint
from sknlis._embedding import SKETCH_NONZEROS

OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
BASELINE_NAME = 'scipy.linalg.qr(F, mode="economic") + row norms of Q'
CASES = ("random", "coherent", "rank-deficient", "near-collinear", "col-scaled")
TIME_TARGET = 0.35
MEMORY_TARGET = 0.5
ERROR_TARGET = 1e-8
TARGET_K = 50
TARGET_N = (300_000, 1_000_000)
SKETCH_TIME_TARGET = 0.05
SKETCH_TV_TARGET = 0.05
SKETCH_BAND_TARGET = 0.95


# ----------------------------------------------------------------------------
# Environment
# ----------------------------------------------------------------------------


def reexec_without_openblas_overrides():
    """Restart the interpreter without OpenBLAS kernel overrides, if any is set.

    OpenBLAS reads them when it is loaded, so unsetting them in a running
    process would have no effect.
    """
    present = [name for name in OPENBLAS_OVERRIDES if name in os.environ]
    if not present:
        print(f"{', '.join(OPENBLAS_OVERRIDES)}: not set")
        return
    for name in present:
        print(f"{name}={os.environ[name]!r} is set: re-executing without it")
    env = {key: value for key, value in os.environ.items() if key not in present}
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def print_blas_info():
    """Print every BLAS library loaded, its kernel and its thread count."""
    for lib in threadpool_info():
        print(
            f"  {lib['user_api']}: {lib['internal_api']} {lib.get('version') or ''}, "
            f"kernel={lib.get('architecture', '?')}, threads={lib['num_threads']}, "
            f"{os.path.basename(lib['filepath'])}"
        )


def print_load(when):
    """Load average: timings are only comparable on an otherwise idle machine."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average {when} (1, 5, 15 min): {load} on {os.cpu_count()} CPUs")


def available_memory_bytes():
    """MemAvailable from /proc/meminfo, or total physical memory elsewhere."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


# ----------------------------------------------------------------------------
# Measurements
# ----------------------------------------------------------------------------


def best_time(func, repeats=3):
    """Best wall-clock time of ``repeats`` calls, in seconds."""
    best = np.inf
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def peak_extra_bytes(func):
    """Peak bytes traced by ``tracemalloc`` during ``func()``, above the start."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = func()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    return peak - before


def qr_baseline(F):
    """Leverage / k from the economic Householder QR: the timing baseline."""
    Q = linalg.qr(F, mode="economic")[0]
    return np.einsum("ij,ij->i", Q, Q) / F.shape[1]


def statsmodels_hat(F, y):
    """Hat-matrix diagonal the way a statsmodels user gets it."""
    from statsmodels.regression.linear_model import OLS
    from statsmodels.stats.outliers_influence import OLSInfluence

    with warnings.catch_warnings():
        # Rank-deficient test matrices are intended; statsmodels warns on them.
        warnings.simplefilter("ignore")
        return OLSInfluence(OLS(y, F).fit()).hat_matrix_diag


def gram_passes(F):
    """How many Gram passes over ``F`` leverage_scores made (for the report).

    1 means the direct path; each more is one level of refinement. The final
    pass that computes the scores is not counted.
    """
    calls = []
    original = scores_module._gram

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    scores_module._gram = counting
    try:
        leverage_scores(F)
    finally:
        scores_module._gram = original
    return len(calls)


# ----------------------------------------------------------------------------
# References and test matrices
# ----------------------------------------------------------------------------


def svd_reference(F):
    """``diag(F F^+) / rank`` with numpy's ``matrix_rank`` tolerance."""
    U, sing, _ = np.linalg.svd(F, full_matrices=False)
    tol = sing[0] * max(F.shape) * np.finfo(F.dtype).eps
    rank = int(np.sum(sing > tol))
    U = U[:, :rank]
    return np.einsum("ij,ij->i", U, U) / rank


def row_sorted_qr_reference(F):
    """Leverage from Householder QR on rows sorted by decreasing norm.

    Row sorting makes Householder QR row-wise backward stable (Cox & Higham,
    1998), so rows of very different scales each get small relative errors.
    """
    order = np.argsort(-np.einsum("ij,ij->i", F, F))
    Q = np.linalg.qr(F[order])[0]
    tau = np.empty(F.shape[0])
    tau[order] = np.einsum("ij,ij->i", Q, Q) / F.shape[1]
    return tau


def make_case(name, n, k, rng):
    """``(F, exact_reference)`` for one test matrix; see the module docstring."""
    G = rng.standard_normal((n, k))
    if name == "random":
        return G, lambda: svd_reference(G)
    if name == "coherent":
        F = G.copy()
        F[rng.choice(n, 5, replace=False)] *= 1e6
        return F, lambda: row_sorted_qr_reference(F)
    if name == "rank-deficient":
        F = G.copy()
        F[:, -2] = G[:, : k - 2] @ rng.standard_normal(k - 2)
        F[:, -1] = 0.0
        # Numerically, F spans the column space of its first k - 2 columns.
        return F, lambda: svd_reference(G[:, : k - 2])
    if name == "near-collinear":
        F = G.copy()
        F[:, -1] = F[:, 0] + 1e-7 * rng.standard_normal(n)
        # span(a, c) = span(a, c - a); the subtraction is exact (Sterbenz) or
        # has relative error eps in a now well-conditioned column.
        E = F.copy()
        E[:, -1] = F[:, -1] - F[:, 0]
        return F, lambda: svd_reference(E)
    if name == "col-scaled":
        # Leverage is invariant to column scaling: G has the same scores.
        return G * 10.0 ** rng.uniform(-8, 8, k), lambda: svd_reference(G)
    raise ValueError(f"unknown case {name!r}")


# ----------------------------------------------------------------------------
# Benchmarks
# ----------------------------------------------------------------------------


def statsmodels_plan(n, k, rng, probe_n, max_seconds):
    """Probe statsmodels at ``probe_n`` rows; return (repeats, reason, mem ratio).

    ``repeats == 0`` means skip; ``reason`` says why.
    """
    m = min(n, probe_n)
    F = rng.standard_normal((m, k))
    y = rng.standard_normal(m)
    probe_time = best_time(lambda: statsmodels_hat(F, y), repeats=1)
    mem_ratio = peak_extra_bytes(lambda: statsmodels_hat(F, y)) / F.nbytes
    est_time = probe_time * n / m
    est_mem = mem_ratio * n * k * 8
    if est_time > max_seconds:
        return 0, f"est. {est_time:.0f} s > {max_seconds:.0f} s", mem_ratio
    if est_mem > 0.5 * available_memory_bytes():
        return 0, f"est. {est_mem / 2**30:.1f} GiB > half of free RAM", mem_ratio
    return (3 if 3 * est_time <= max_seconds else 1), "", mem_ratio


def bench_size(n, k, rng, args):
    """Time, memory and random-case accuracy at one size; returns a row dict."""
    F = rng.standard_normal((n, k))
    y = rng.standard_normal(n)
    row = {"n": n, "k": k, "mb": F.nbytes / 2**20}
    row["t_lev"] = best_time(lambda: leverage_scores(F), args.repeats)
    row["t_qr"] = best_time(lambda: qr_baseline(F), args.repeats)
    row["mem_lev"] = peak_extra_bytes(lambda: leverage_scores(F)) / F.nbytes
    row["mem_qr"] = peak_extra_bytes(lambda: qr_baseline(F)) / F.nbytes

    repeats, reason, row["mem_sm"] = statsmodels_plan(
        n, k, rng, args.sm_probe_n, args.sm_max_seconds
    )
    if repeats:
        row["t_sm"] = best_time(lambda: statsmodels_hat(F, y), repeats)
        row["sm_note"] = f"best of {repeats}"
    else:
        row["t_sm"] = None
        row["sm_note"] = "skipped: " + reason

    svd_seconds = row["t_qr"] * args.svd_over_qr
    if svd_seconds <= args.ref_max_seconds:
        row["err"] = np.max(np.abs(leverage_scores(F) - svd_reference(F))) * n
    else:
        row["err"] = None
    return row


def accuracy_case(name, n, k, rng, args):
    """Errors, time ratio and memory of one ill-conditioned case."""
    F, exact_reference = make_case(name, n, k, rng)
    tau = leverage_scores(F)
    row = {"case": name, "n": n, "k": k, "passes": gram_passes(F)}
    row["err_svd"] = np.max(np.abs(tau - svd_reference(F))) * n
    exact = exact_reference()
    row["err_exact"] = np.max(np.abs(tau - exact)) * n
    if n <= args.sm_accuracy_max_n:
        hat = statsmodels_hat(F, rng.standard_normal(n))
        row["err_sm"] = np.max(np.abs(hat / hat.sum() - exact)) * n
    else:
        row["err_sm"] = None
    row["t_lev"] = best_time(lambda: leverage_scores(F), args.repeats)
    row["t_qr"] = best_time(lambda: qr_baseline(F), args.repeats)
    row["mem_lev"] = peak_extra_bytes(lambda: leverage_scores(F)) / F.nbytes
    return row


# ----------------------------------------------------------------------------
# Reporting
# ----------------------------------------------------------------------------


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def print_speed_table(rows):
    print(f"\nSpeed and memory (Gaussian F, float64). Baseline QR = {BASELINE_NAME}")
    print(
        "| n | k | F MiB | lev s | QR s | lev/QR | statsmodels s | sm/QR "
        "| lev mem/F | QR mem/F | sm mem/F* | err*n vs svd |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        t_sm = r["t_sm"]
        sm = f"{t_sm:.3f} ({r['sm_note']})" if t_sm is not None else r["sm_note"]
        print(
            f"| {r['n']:,} | {r['k']} | {r['mb']:.0f} | {r['t_lev']:.4f} "
            f"| {r['t_qr']:.3f} | {r['t_lev'] / r['t_qr']:.3f} | {sm} "
            f"| {fmt(t_sm and t_sm / r['t_qr'], '.2f')} | {r['mem_lev']:.3f} "
            f"| {r['mem_qr']:.2f} | {r['mem_sm']:.2f} | {fmt(r['err'], '.1e')} |"
        )
    print(
        "* statsmodels memory measured at the probe size (its ratio to F.nbytes "
        "does not depend on n). err*n: max |tau - tau_svd| * n."
    )


def print_accuracy_table(rows):
    print(
        "\nAccuracy: max |tau - tau_ref| * n (target <= 1e-8); passes = Gram "
        "passes over F before the scoring pass (1 = direct, more = refinement)"
    )
    print(
        "| case | n | k | passes | err vs svd | err vs exact | statsmodels err "
        "vs exact | lev s | QR s | lev/QR | lev mem/F |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['case']} | {r['n']:,} | {r['k']} | {r['passes']} "
            f"| {r['err_svd']:.1e} | {r['err_exact']:.1e} "
            f"| {fmt(r['err_sm'], '.1e')} | {r['t_lev']:.4f} | {r['t_qr']:.3f} "
            f"| {r['t_lev'] / r['t_qr']:.3f} | {r['mem_lev']:.3f} |"
        )


def print_verdict(speed_rows, accuracy_rows):
    """PASS/FAIL per target, over the rows at the target sizes."""

    def at_target(rows):
        return [r for r in rows if r["k"] == TARGET_K and r["n"] in TARGET_N]

    print("\nVerdict (targets at n in {300,000, 1,000,000}, k = 50):")
    timed = at_target(speed_rows) + at_target(accuracy_rows)
    checks = [
        ("time lev/QR", [r["t_lev"] / r["t_qr"] for r in timed], TIME_TARGET),
        ("peak extra memory / F", [r["mem_lev"] for r in timed], MEMORY_TARGET),
        (
            "error * n vs exact (all sizes)",
            [r["err_exact"] for r in accuracy_rows]
            + [r["err"] for r in speed_rows if r["err"] is not None],
            ERROR_TARGET,
        ),
    ]
    for label, values, target in checks:
        if not values:
            print(f"  {label}: not measured at the target sizes")
            continue
        worst = max(values)
        status = "PASS" if worst <= target else "FAIL"
        print(f"  {label}: worst {worst:.3g} (target <= {target:g}) {status}")


# ----------------------------------------------------------------------------
# Sketched leverage
# ----------------------------------------------------------------------------


class TwoLayerRows:
    """Rows of a two-layer ReLU dual matrix, computed block by block.

    Only ``X`` (``n x d``) and ``y`` are held. ``theta`` is random with the
    usual fan-in scaling; the features are heavy-tailed (Student t, 3 dof).
    """

    def __init__(self, n, d, m, seed):
        rng = np.random.default_rng(seed)
        self.X = rng.standard_t(3, size=(n, d))
        self.y = rng.standard_t(3, size=n)
        self.theta = rng.standard_normal(m * (d + 2) + 1) / np.sqrt(d)
        self.m = m
        self.activation = make_activation("identity")
        self.shape = (n, m * (d + 2) + 2)

    def __call__(self, start, stop):
        return two_layer_adjoint(
            self.X[start:stop],
            self.theta,
            self.m,
            self.activation,
            y=self.y[start:stop],
        )


def timed_peak(func):
    """``(CPU seconds, wall seconds, peak extra bytes, result)`` of one call.

    With BLAS on one thread, the process's CPU time is the work done, and
    unlike wall time it does not grow when other jobs share the cores: the
    ratios use it. tracemalloc is on during the call.
    """
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        start, start_cpu = time.perf_counter(), time.process_time()
        result = func()
        cpu = time.process_time() - start_cpu
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return cpu, seconds, peak - before, result


def dual_scores(rows, method, **kwargs):
    return scores_module.blocked_leverage_scores(
        rows, *rows.shape, method=method, **kwargs
    )


def sketch_accuracy(exact, approx):
    """Total-variation distance and fraction of rows within [0.5, 2]x."""
    positive = exact > 0
    ratio = approx[positive] / exact[positive]
    within = np.mean((ratio >= 0.5) & (ratio <= 2.0))
    return 0.5 * np.abs(approx - exact).sum(), within


def sketch_timing(args):
    """Exact at small n (fitted), sketch at large n; returns rows and accuracy."""
    exact_runs, accuracy_rows = [], []
    for n in args.sketch_exact_n:
        rows = TwoLayerRows(n, args.sketch_d, args.sketch_m, args.seed)
        print(f"  exact  n={n:,} k={rows.shape[1]:,} ...", flush=True)
        cpu, seconds, peak, exact = timed_peak(lambda: dual_scores(rows, "exact"))
        exact_runs.append((n, cpu, seconds, peak))
        last = (rows, exact)
    slope, intercept = np.polyfit(*zip(*[(n, cpu) for n, cpu, _, _ in exact_runs]), 1)
    rows, exact = last
    for n_projections in args.sketch_projections:
        for seed in range(args.sketch_seeds):
            approx = dual_scores(
                rows, "sketch", n_projections=n_projections, random_state=seed
            )
            tv, within = sketch_accuracy(exact, approx)
            accuracy_rows.append(
                ("two-layer dual", *rows.shape, n_projections, seed, tv, within)
            )
    table = []
    measured = {n: (cpu, wall, peak) for n, cpu, wall, peak in exact_runs}
    for n in sorted({max(args.sketch_exact_n), *args.sketch_n}):
        rows = TwoLayerRows(n, args.sketch_d, args.sketch_m, args.seed)
        print(f"  sketch n={n:,} ...", flush=True)
        cpu, seconds, peak, _ = timed_peak(
            lambda: dual_scores(rows, "sketch", random_state=0)
        )
        exact_t, exact_wall, exact_peak = measured.get(n, (None, None, None))
        table.append(
            {
                "n": n,
                "k": rows.shape[1],
                "sketch_s": cpu,
                "sketch_wall": seconds,
                "exact_wall": exact_wall,
                "sketch_mib": peak / 2**20,
                "exact_s": exact_t,
                "exact_est_s": intercept + slope * n,
                "exact_mib": exact_peak and exact_peak / 2**20,
                "dual_gib": n * rows.shape[1] * 8 / 2**30,
            }
        )
    return table, accuracy_rows, (intercept, slope, args.sketch_exact_n)


def sketch_case(name, n, k, rng):
    """In-memory matrices for the accuracy table."""
    if name == "two-layer dual (small)":
        return TwoLayerRows(n, 48, k // 50, 0)(0, n)
    G = rng.standard_normal((n, k))
    if name == "coherent":
        G[rng.choice(n, 20, replace=False)] *= 100.0
    elif name == "rank-deficient":
        G = G[:, : k // 2] @ rng.standard_normal((k // 2, k))
    return G


def sketch_accuracy_cases(args, rng):
    out = []
    n, k = args.sketch_case_n, args.sketch_case_k
    for name in ("random", "coherent", "rank-deficient", "two-layer dual (small)"):
        print(f"  sketch accuracy {name} n={n:,} ...", flush=True)
        F = sketch_case(name, n, k, rng)
        exact = leverage_scores(F, method="exact")
        for n_projections in args.sketch_projections:
            for seed in range(args.sketch_seeds):
                approx = leverage_scores(
                    F, method="sketch", n_projections=n_projections, random_state=seed
                )
                out.append(
                    (
                        name,
                        *F.shape,
                        n_projections,
                        seed,
                        *sketch_accuracy(exact, approx),
                    )
                )
    return out


def print_sketch_tables(table, accuracy_rows, fit):
    intercept, slope, fit_n = fit
    print(
        "\nSketched vs exact leverage on a two-layer dual matrix generated block "
        "by block (baseline: method='exact', same run)"
    )
    print(
        f"exact CPU time = {intercept:.1f} s + {slope * 1e6:.1f} s per 1e6 rows: "
        f"a least-squares line through the exact runs at n = "
        f"{', '.join(f'{n:,}' for n in fit_n)} (est. = estimated from it)"
    )
    print(
        "| n | k | dual matrix GiB (never held) | sketch CPU s | exact CPU s | "
        "sketch/exact | sketch wall s | exact wall s | sketch peak MiB "
        "| exact peak MiB |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in table:
        exact = r["exact_s"]
        shown = (
            f"{exact:.1f}" if exact is not None else f"{r['exact_est_s']:.0f} (est.)"
        )
        ratio = r["sketch_s"] / (exact if exact is not None else r["exact_est_s"])
        print(
            f"| {r['n']:,} | {r['k']:,} | {r['dual_gib']:.1f} | {r['sketch_s']:.1f} "
            f"| {shown} | {ratio:.3f} | {r['sketch_wall']:.1f} "
            f"| {fmt(r['exact_wall'], '.1f')} | {r['sketch_mib']:.0f} "
            f"| {fmt(r['exact_mib'], '.0f')} |"
        )
    print(
        "\nAccuracy of the sketch (defaults: sketch_size = int(1.5 k) + 1000, "
        f"{SKETCH_NONZEROS} nonzeros per row)"
    )
    print("| matrix | n | k | n_projections | seed | TV to exact | rows in [0.5, 2]x |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, n, k, r2, seed, tv, within in accuracy_rows:
        print(f"| {name} | {n:,} | {k:,} | {r2} | {seed} | {tv:.4f} | {within:.4f} |")


def print_sketch_verdict(table, accuracy_rows):
    print("\nVerdict (sketch):")
    large = [r for r in table if r["n"] >= 1_000_000]
    if large:
        worst = max(r["sketch_s"] / r["exact_est_s"] for r in large)
        status = "PASS" if worst <= SKETCH_TIME_TARGET else "FAIL"
        print(
            f"  time sketch/exact(est.) at n >= 1e6: {worst:.3f} "
            f"(target <= {SKETCH_TIME_TARGET}) {status}"
        )
    default = [r for r in accuracy_rows if r[3] == scores_module._DEFAULT_PROJECTIONS]
    if default:
        tv = max(r[5] for r in default)
        within = min(r[6] for r in default)
        print(
            f"  default n_projections: worst TV {tv:.4f} (target <= "
            f"{SKETCH_TV_TARGET}) {'PASS' if tv <= SKETCH_TV_TARGET else 'FAIL'}; "
            f"worst fraction in [0.5, 2] {within:.4f} (target >= "
            f"{SKETCH_BAND_TARGET}) "
            f"{'PASS' if within >= SKETCH_BAND_TARGET else 'FAIL'}"
        )


def run_sketch_section(args, rng):
    accuracy_rows = sketch_accuracy_cases(args, rng)
    table, dual_accuracy, fit = sketch_timing(args)
    accuracy_rows = dual_accuracy + accuracy_rows
    print_sketch_tables(table, accuracy_rows, fit)
    print_sketch_verdict(table, accuracy_rows)


# ----------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--n", type=int, nargs="+", default=[300_000, 1_000_000])
    parser.add_argument("--k", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads")
    parser.add_argument("--repeats", type=int, default=3, help="timing: best of")
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: a smoke test in seconds"
    )
    parser.add_argument(
        "--accuracy-n",
        type=int,
        nargs="+",
        default=None,
        help="sizes for the ill-conditioned cases (default: 20000 and --n)",
    )
    parser.add_argument("--accuracy-k", type=int, default=TARGET_K)
    parser.add_argument("--no-accuracy", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sm-max-seconds", type=float, default=60.0)
    parser.add_argument("--sm-probe-n", type=int, default=50_000)
    parser.add_argument(
        "--sm-accuracy-max-n",
        type=int,
        default=300_000,
        help="largest n at which statsmodels' accuracy is checked",
    )
    parser.add_argument(
        "--ref-max-seconds",
        type=float,
        default=120.0,
        help="skip the SVD reference of the speed runs beyond this estimate",
    )
    parser.add_argument(
        "--svd-over-qr",
        type=float,
        default=1.5,
        help="estimated SVD time / QR baseline time, to decide on the reference",
    )
    sketch = parser.add_argument_group("sketch section")
    sketch.add_argument("--sketch-only", action="store_true")
    sketch.add_argument("--no-sketch", action="store_true")
    sketch.add_argument("--sketch-n", type=int, nargs="+", default=[1_000_000])
    sketch.add_argument(
        "--sketch-exact-n", type=int, nargs="+", default=[10_000, 20_000, 40_000]
    )
    sketch.add_argument("--sketch-m", type=int, default=100, help="hidden units")
    sketch.add_argument("--sketch-d", type=int, default=50, help="features")
    sketch.add_argument(
        "--sketch-projections", type=int, nargs="+", default=[128, 256, 512]
    )
    sketch.add_argument("--sketch-seeds", type=int, default=2)
    sketch.add_argument("--sketch-case-n", type=int, default=50_000)
    sketch.add_argument("--sketch-case-k", type=int, default=602)
    args = parser.parse_args(argv)
    if args.quick:
        args.sketch_n, args.sketch_exact_n = [60_000], [3_000, 6_000]
        args.sketch_m, args.sketch_case_n, args.sketch_case_k = 10, 6_000, 302
        args.sketch_seeds = 1
        args.n, args.k = [20_000, 60_000], [10, 50]
        args.sm_probe_n = 5_000
        if args.accuracy_n is None:
            args.accuracy_n = [5_000, 20_000]
    if args.accuracy_n is None:
        args.accuracy_n = sorted({20_000, *args.n})
    return args


def main(argv=None):
    args = parse_args(argv)
    reexec_without_openblas_overrides()
    rng = np.random.default_rng(args.seed)
    with threadpool_limits(args.threads):
        print(f"numpy {np.__version__}; BLAS threads pinned to {args.threads}:")
        print_blas_info()
        print_load("at start")
        if not args.no_sketch:
            run_sketch_section(args, rng)
            print_load("after the sketch section")
        if args.sketch_only:
            return
        speed_rows = []
        for n in args.n:
            for k in args.k:
                print(f"  timing n={n:,} k={k} ...", flush=True)
                speed_rows.append(bench_size(n, k, rng, args))
        print_speed_table(speed_rows)

        accuracy_rows = []
        if not args.no_accuracy:
            for n in args.accuracy_n:
                for case in CASES:
                    print(f"  accuracy {case} n={n:,} ...", flush=True)
                    accuracy_rows.append(
                        accuracy_case(case, n, args.accuracy_k, rng, args)
                    )
            print_accuracy_table(accuracy_rows)
        print_load("at end")
        print_verdict(speed_rows, accuracy_rows)


if __name__ == "__main__":
    main()
