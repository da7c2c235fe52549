"""Scores and a 0.1% importance sample of data larger than the workers' memory.

Data: ``n x 20`` float32 and a target in one ``.npy`` file, written chunk by
chunk (by a subprocess, so this process never holds it), at least four times
the total memory given to the workers. Dask reads it chunk by chunk (42 MB
chunks of whole rows, one read call each) on ``LocalCluster(n_workers=2,
threads_per_worker=1, memory_limit=...)``, the file's pages dropped from the
page cache before each run; the resampler fits its pilot, scores every row
by its adjoint leverage (dual matrix per chunk) and draws 0.1% of the rows,
end to end. ``--scorer`` picks the model: the single-index regressor (the
cheapest dual matrix, so reading weighs most) or a two-layer network with
five units.

Measured: wall time, rows per CPU-second, peak RSS of this client and of
each worker (and whether any worker restarted), against the in-memory numpy
path on a size that fits (same script, same run, one core, BLAS pinned to
one thread; timed twice before and twice after the Dask runs, the median
kept), without and with loading its data from the same file (``np.load``;
the goal is judged against the former). The workers' CPU is split by task
kind (Dask's span metrics). Passes are counted: reads of each chunk (the
``_load`` tasks) and rows whose dual matrix is computed, divided by n. With
the single-index scorer Dask runs twice: with its default worker environment
(``MALLOC_TRIM_THRESHOLD_=65536``, which returns freed memory to the system,
so a large temporary array is page-faulted in again) and with glibc's own
trimming. A smaller check confirms both paths draw the same sample from the
same data. ``--directory`` keeps the data there and reuses it on the next
run. Usage::

    python benchmarks/bench_dask.py            # 8.6 GiB on disk, ~8 minutes
    python benchmarks/bench_dask.py --scorer two-layer   # ~8 minutes
    python benchmarks/bench_dask.py --chunk-rows 1000000 # 84 MB chunks
    python benchmarks/bench_dask.py --quick    # ~0.2 GB, under a minute
"""

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

# One BLAS thread everywhere: the workers inherit this environment.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import numpy as np  # noqa: E402

N_FEATURES = 20
CHUNK_ROWS = 500_000  # 42 MB of float32 per chunk
SAMPLE = 0.001


def write_data(directory, n_rows, chunk_rows):
    """Write ``[X, y]`` (n x 21 float32) chunk by chunk; never all in memory.

    Written under a temporary name and renamed when complete: a later run
    reuses ``Xy.npy``, so it must never be half-written.
    """
    path = os.path.join(directory, "Xy.npy")
    partial = path + ".partial"
    data = np.lib.format.open_memmap(
        partial, "w+", np.float32, (n_rows, N_FEATURES + 1)
    )
    w = np.random.default_rng(0).standard_normal(N_FEATURES).astype(np.float32)
    w /= np.linalg.norm(w)
    for start in range(0, n_rows, chunk_rows):
        stop = min(start + chunk_rows, n_rows)
        rng = np.random.default_rng([1, start])
        block = rng.standard_normal((stop - start, N_FEATURES), dtype=np.float32)
        z = block @ w
        data[start:stop, :N_FEATURES] = block
        data[start:stop, N_FEATURES] = z / (1 + np.exp(-z)) + 0.1 * (
            rng.standard_normal(stop - start, dtype=np.float32)
        )
        data.flush()
    del data
    os.replace(partial, path)


def _load(path, start, stop):
    """Rows ``start:stop`` of the ``.npy`` file, in one read (as a Parquet or
    zarr reader would; a copy out of a memory map page-faults every page)."""
    with open(path, "rb") as file:
        if np.lib.format.read_magic(file) == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(file)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(file)
        row = shape[1] * dtype.itemsize
        file.seek(start * row, os.SEEK_CUR)
        return np.fromfile(file, dtype, (stop - start) * shape[1]).reshape(-1, shape[1])


def lazy_data(directory, n_rows, chunk_rows):
    """X and y of one lazy array: one read per chunk serves both."""
    import dask
    import dask.array as da

    path = os.path.join(directory, "Xy.npy")
    load = dask.delayed(_load, pure=True)
    data = da.concatenate(
        [
            da.from_delayed(
                load(path, start, min(start + chunk_rows, n_rows)),
                (min(start + chunk_rows, n_rows) - start, N_FEATURES + 1),
                np.float32,
            )
            for start in range(0, n_rows, chunk_rows)
        ]
    )
    return data[:, :N_FEATURES], data[:, N_FEATURES]


# The scorers: the cheapest (the single-index model's dual matrix has 22
# columns, so reading the data weighs most) and a small two-layer network.
SCORERS = ("single-index", "two-layer")


def sampler(scorer="single-index"):
    from sknlis import (
        NonlinearImportanceResampler,
        SingleIndexRegressor,
        TwoLayerReLURegressor,
    )

    if scorer == "two-layer":
        model = TwoLayerReLURegressor(n_hidden=5, random_state=0)
    else:
        model = SingleIndexRegressor(random_state=0)
    return NonlinearImportanceResampler(model, n_samples=SAMPLE, random_state=0)


def count_dual_rows():
    """The counter of rows whose dual matrix this process computed.

    Installed on first call by wrapping the models' one block routine.
    """
    from sknlis._base import BaseNonlinearModel

    method = BaseNonlinearModel._adjoint_in_blocks
    if not hasattr(method, "rows"):

        def counted(self, X, y, block_size, *args):
            counted.rows += X.shape[0]
            return method(self, X, y, block_size, *args)

        counted.rows = 0
        BaseNonlinearModel._adjoint_in_blocks = counted
    return BaseNonlinearModel._adjoint_in_blocks


def dual_rows_computed():
    return count_dual_rows().rows


def peak_rss_mib():
    """Peak RSS of this process since it started its program.

    ru_maxrss survives execve: a worker spawned by a client that has grown
    would report the client's size. Linux's VmHWM starts afresh.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # KiB
    except OSError:
        pass
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def evict(path):
    """Drop the file's pages from the page cache, so that every Dask run
    reads it from disk (the first run would otherwise pay for the others)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def reset_peak_rss():
    """Start this process's VmHWM afresh (Linux: ``clear_refs``), so that
    the client's peak is not the in-memory baseline's."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass


def blas_threads():
    from threadpoolctl import threadpool_info

    return sorted({pool["num_threads"] for pool in threadpool_info()})


def task_cpu_seconds(client, span_id):
    """The workers' thread CPU-seconds in the span's tasks, by kind: reads
    (``load``), dual-matrix passes (``run_kernel``), the draw, and every
    other task (slicing X and y out of a chunk, taking the pilot rows)."""
    time.sleep(2)  # the workers send their metrics with their heartbeats
    metrics = client.run_on_scheduler(
        lambda dask_scheduler: dict(
            dask_scheduler.extensions["spans"].spans[span_id].cumulative_worker_metrics
        )
    )
    seconds = {}
    for key, value in metrics.items():
        if key[0] != "execute" or key[2:] != ("thread-cpu", "seconds"):
            continue
        name = key[1]
        if name.startswith("run_kernel"):
            kind = "dual passes"
        elif name.startswith("load"):
            kind = "reads"
        else:
            kind = "draw" if "draw" in name else "other"
        seconds[kind] = seconds.get(kind, 0.0) + value
    return seconds


def run_dask(directory, n_rows, chunk_rows, memory_limit, trim=True, scorer=None):
    """``trim=False`` drops Dask's ``MALLOC_TRIM_THRESHOLD_`` from the workers."""
    import dask
    from dask.utils import key_split
    from distributed import Client, LocalCluster, get_task_stream, span

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    if not trim:
        environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    config = {
        "distributed.worker.daemon": False,
        "distributed.nanny.pre-spawn-environ": environ,
    }
    with (
        dask.config.set(config),
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            memory_limit=memory_limit,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        pids = client.run(os.getpid)
        threads = client.run(blas_threads)
        X, y = lazy_data(directory, n_rows, chunk_rows)
        evict(os.path.join(directory, "Xy.npy"))
        # Warm up: the workers import sknlis before the clock starts.
        client.run(sampler, scorer)
        client.run(count_dual_rows)
        workers_cpu = sum(client.run(time.process_time).values())
        reset_peak_rss()
        client_cpu = time.process_time()
        start = time.perf_counter()
        with get_task_stream(client) as stream, span("sknlis") as span_id:
            resampler = sampler(scorer)
            X_sample, _ = resampler.fit_resample(X, y)
        elapsed = time.perf_counter() - start
        client_cpu = time.process_time() - client_cpu
        client_peak = peak_rss_mib()
        workers_cpu = sum(client.run(time.process_time).values()) - workers_cpu
        worker_peaks = client.run(peak_rss_mib)
        restarted = client.run(os.getpid) != pids
        dual_rows = sum(client.run(dual_rows_computed).values())
        tasks = task_cpu_seconds(client, span_id)
        # key_split names _load "load", and "load-..." fused with what follows.
        names = [key_split(task["key"]) for task in stream.data]
        reads = sum(name == "load" or name.startswith("load-") for name in names)
    return {
        "reads": reads / -(-n_rows // chunk_rows),
        "dual_passes": dual_rows / n_rows,
        "environ": environ.get("MALLOC_TRIM_THRESHOLD_", "glibc default"),
        "seconds": elapsed,
        "cpu_seconds": workers_cpu + client_cpu,
        "client_cpu_seconds": client_cpu,
        "client_peak": client_peak,
        "workers_cpu_seconds": workers_cpu,
        "drawn": X_sample.shape[0],
        "indices": resampler.sample_indices_,
        "weights": resampler.sample_weight_,
        "worker_peaks": sorted(worker_peaks.values()),
        "worker_threads": sorted(threads.values()),
        "restarted": restarted,
        "tasks": tasks,
    }


def run_numpy(directory, n_rows, scorer=None, repeats=1):
    """The in-memory path, timed ``repeats`` times (the median is kept)."""
    import tracemalloc

    from threadpoolctl import threadpool_limits

    # The load: the same file, read into memory as Dask's chunks are.
    load_cpu, start = time.process_time(), time.perf_counter()
    data = np.load(os.path.join(directory, "Xy.npy"), mmap_mode="r")[:n_rows]
    X, y = data[:, :N_FEATURES].copy(), data[:, N_FEATURES].copy()
    load_seconds = time.perf_counter() - start
    load_cpu = time.process_time() - load_cpu
    with threadpool_limits(1):
        times = []
        for _ in range(repeats):
            dual_rows = dual_rows_computed()
            cpu, start = time.process_time(), time.perf_counter()
            resampler = sampler(scorer)
            resampler.fit_resample(X, y)
            times.append((time.process_time() - cpu, time.perf_counter() - start))
            dual_rows = dual_rows_computed() - dual_rows
        cpu, elapsed = (float(np.median(column)) for column in zip(*times))
        tracemalloc.start()
        sampler(scorer).fit_resample(X, y)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "load_seconds": load_seconds,
        "load_cpu_seconds": load_cpu,
        "dual_passes": dual_rows / n_rows,
        "indices": resampler.sample_indices_,
        "weights": resampler.sample_weight_,
        "extra_memory": peak / (X.nbytes + y.nbytes),
        "input_mib": (X.nbytes + y.nbytes) / 2**20,
        "cpu_each": [cpu for cpu, _ in times],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, ~1 min")
    parser.add_argument("--directory", help="where to write the data (default: tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the data files")
    parser.add_argument(
        "--scorer",
        choices=SCORERS,
        default=SCORERS[0],
        help="the resampler's model (default: %(default)s)",
    )
    parser.add_argument(
        "--chunk-rows",
        type=int,
        help=f"rows per Dask chunk (default: {CHUNK_ROWS:,}; --quick: 250,000)",
    )
    args = parser.parse_args()
    if args.quick:
        n_rows, chunk_rows, memory_limit, n_numpy = 2_000_000, 250_000, 2**30, 1_000_000
    else:
        # 9.24e9 bytes on disk: 4.3 times the workers' 2 x 1 GiB.
        n_rows, chunk_rows, memory_limit, n_numpy = (
            110_000_000,
            CHUNK_ROWS,
            2**30,
            10**7,
        )
    chunk_rows = args.chunk_rows or chunk_rows
    directory = args.directory or tempfile.mkdtemp(prefix="sknlis-bench-dask-")
    os.makedirs(directory, exist_ok=True)
    scorer = args.scorer
    # The two-layer scorer runs in Dask's default worker environment only.
    trims = (True, False) if scorer == "single-index" else (True,)
    try:
        on_disk = n_rows * (N_FEATURES + 1) * 4
        path = os.path.join(directory, "Xy.npy")
        print(f"Data: {n_rows:,} x {N_FEATURES} float32 + target in {directory} ")
        print(
            f"  {on_disk / 2**30:.2f} GiB on disk; workers: 2 x "
            f"{memory_limit / 2**30:.2f} GiB ({on_disk / (2 * memory_limit):.1f}x)"
        )
        if not _holds(path, n_rows):
            # A subprocess writes, so that this process's peak RSS is the client's.
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--write",
                    directory,
                    str(n_rows),
                    str(chunk_rows),
                ],
                check=True,
            )
        print(f"Scorer: {scorer}. BLAS threads: client {blas_threads()}", end="")
        # The baseline is timed before and after the Dask runs (a shared
        # machine's speed drifts over minutes); the median of all is used.
        before = run_numpy(directory, n_numpy, scorer, repeats=2)
        results = [
            run_dask(directory, n_rows, chunk_rows, memory_limit, trim, scorer)
            for trim in trims
        ]
        client_peak = max(result["client_peak"] for result in results)
        print(f", workers {results[0]['worker_threads']}")
        check = run_dask(
            directory, n_numpy, chunk_rows // 4, memory_limit, scorer=scorer
        )
        baseline = run_numpy(directory, n_numpy, scorer, repeats=2)
        baseline["cpu_each"] = before["cpu_each"] + baseline["cpu_each"]
        baseline["cpu_seconds"] = float(np.median(baseline["cpu_each"]))
    finally:
        if not args.keep and not args.directory:
            shutil.rmtree(directory, ignore_errors=True)
    report(n_rows, n_numpy, memory_limit, results, baseline, check, client_peak)


def _holds(path, n_rows):
    """Whether ``path`` already holds the data (``--directory`` run again)."""
    try:
        data = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return False
    return data.shape == (n_rows, N_FEATURES + 1) and data.dtype == np.float32


def report(n_rows, n_numpy, memory_limit, results, baseline, check, client_peak):
    numpy_rate = n_numpy / baseline["cpu_seconds"]
    loaded = baseline["cpu_seconds"] + baseline["load_cpu_seconds"]
    print()
    print(
        "Rows per CPU-second (client, its scheduler thread and the workers: "
        "fair on a shared machine). Ratio: against the in-memory path with "
        "its data already in memory (the goal's baseline); in brackets, "
        "against the same path timed with the load of its data."
    )
    print(
        "| path | rows | seconds | CPU-seconds | rows/CPU-s | ratio | "
        "reads per chunk | dual-matrix passes |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| numpy, in memory, data loaded (baseline) | {n_numpy:,} | "
        f"{baseline['seconds']:.1f} | {baseline['cpu_seconds']:.1f} | "
        f"{numpy_rate:,.0f} | 1.00 | 0 | {baseline['dual_passes']:.2f} |"
    )
    print(
        f"| numpy, in memory, with np.load of the file (context) | {n_numpy:,} | "
        f"{baseline['seconds'] + baseline['load_seconds']:.1f} | {loaded:.1f} | "
        f"{n_numpy / loaded:,.0f} | {n_numpy / loaded / numpy_rate:.2f} | 1 | "
        f"{baseline['dual_passes']:.2f} |"
    )
    for result in results:
        rate = n_rows / result["cpu_seconds"]
        print(
            f"| Dask, from disk, 2 workers, MALLOC_TRIM_THRESHOLD_="
            f"{result['environ']} | {n_rows:,} | {result['seconds']:.1f} | "
            f"{result['cpu_seconds']:.1f} | {rate:,.0f} | {rate / numpy_rate:.2f} "
            f"({rate * loaded / n_numpy:.2f}) | {result['reads']:.2f} | "
            f"{result['dual_passes']:.2f} |"
        )
    print()
    print("| process | peak RSS (MiB) | limit (MiB) |")
    print("|---|---:|---:|")
    print(f"| client (its fit_resample calls) | {client_peak:.0f} | 1024 (goal) |")
    for result in results:
        for i, peak in enumerate(result["worker_peaks"]):
            print(
                f"| worker {i}, MALLOC_TRIM_THRESHOLD_={result['environ']} | "
                f"{peak:.0f} | {memory_limit / 2**20:.0f} |"
            )
    for result in results:
        print(
            f"MALLOC_TRIM_THRESHOLD_={result['environ']}: workers restarted: "
            f"{result['restarted']}; drawn {result['drawn']:,} rows."
        )
    same = np.array_equal(check["indices"], baseline["indices"])
    close = same and np.allclose(check["weights"], baseline["weights"], rtol=1e-10)
    print(
        f"Same sample as numpy on the first {n_numpy:,} rows: indices {same}, "
        f"weights to 1e-10 {close}."
    )
    print(
        f"numpy path, float32 input of {baseline['input_mib']:.0f} MiB: peak extra "
        f"memory of the resampler {baseline['extra_memory']:.2f}x the input."
    )
    print()
    print(
        "Where the CPU-seconds went: the workers' thread CPU in tasks, by "
        "kind; the rest of the workers' CPU (Dask's own work: messages, "
        "bookkeeping); the client (the pilot fit, the scheduler, planning "
        "the draw)."
    )
    print("| run | reads | dual passes | draw | other tasks | workers' rest | client |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for result in results:
        tasks = result["tasks"]
        rest = result["workers_cpu_seconds"] - sum(tasks.values())
        print(
            f"| MALLOC_TRIM_THRESHOLD_={result['environ']} | "
            f"{tasks.get('reads', 0):.1f} | {tasks.get('dual passes', 0):.1f} | "
            f"{tasks.get('draw', 0):.1f} | {tasks.get('other', 0):.1f} | "
            f"{rest:.1f} | {result['client_cpu_seconds']:.1f} |"
        )
    each = ", ".join(f"{cpu:.2f}" for cpu in baseline["cpu_each"])
    print(f"Baseline CPU-seconds, before and after the Dask runs: {each}.")
    print(f"Load average (1, 5, 15 min): {os.getloadavg()}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--write":
        write_data(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
