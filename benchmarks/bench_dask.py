"""vifit gmm --backend dask vs single-process vifit vs scikit-learn: time per CAVI sweep, peak memory.

    python benchmarks/bench_dask.py                        # 10,000,000 x 10 in 20 CSV parts, K = 8
    python benchmarks/bench_dask.py --n 2000000 --iters 5  # smaller

The data (a K = 8, D = 10 Gaussian mixture, as in bench_gmm.py) are written once as 20 CSV
files (``--data-dir``, reused when present). Each side runs in its own child process with
BLAS on one thread, as ``vifit gmm`` runs:

- dask: a LocalCluster of 2 single-threaded worker processes reads the 20 files with the
  ``--backend dask`` loader (``distributed.gmm.load_table``: ``partitions.read_partitions``, each file
  parsed on a worker in chunks by ``distributed.reading``), then ``iters`` CAVI sweeps
  (``DaskProblem``); peak RSS per worker (VmHWM from /proc on each worker) against the bytes of the
  partitions it holds, and the client's peak RSS;
- vifit: the same rows drawn in memory (no CSV parse), ``iters`` sweeps of the local backend
  (its own 2 row threads);
- sklearn: BayesianGaussianMixture(full, K = 8, tol = 0) for ``iters`` iterations on the same
  in-memory rows (init from random rows), time per iteration; skipped with ``--no-sklearn``.

Time per sweep is the median over the timed sweeps (after one warm-up sweep).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
D, K, PARTS = 10, 8, 20


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM; unlike getrusage's ru_maxrss it is not inherited across exec)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def make_data(n: int) -> np.ndarray:
    from bench_gmm import make_data as draw

    return draw(n, seed=0)


def write_parts(n: int, folder: str) -> None:
    """20 CSV files part-00.csv .. part-19.csv of the rows (9 significant digits)."""
    os.makedirs(folder, exist_ok=True)
    marker = os.path.join(folder, f"rows-{n}")
    if os.path.exists(marker):
        return
    import pandas as pd

    x = make_data(n)
    header = [f"x{j + 1}" for j in range(D)]
    for i, block in enumerate(np.array_split(x, PARTS)):
        pd.DataFrame(block, columns=header).to_csv(os.path.join(folder, f"part-{i:02d}.csv"), index=False,
                                                   float_format="%.9g")
    open(marker, "w").close()


def time_sweeps(problem, iters: int) -> tuple[list, float]:
    from vifit.inference import cavi

    state = cavi.initial_state(problem, "random", np.random.default_rng(1))
    times = []
    for _ in range(iters + 1):
        start = time.perf_counter()
        state = cavi.step(problem, state)
        times.append(time.perf_counter() - start)
    return times[1:], problem.data_units(state.elbo)


def side_vifit(n: int, iters: int) -> dict:
    from vifit.data import Table
    from vifit.api import gmm_fit as runner

    x = make_data(n)
    before = peak_rss_mb()
    problem, _, _ = runner.prepare(Table(x, [f"x{j + 1}" for j in range(D)], "bench"), k=K)
    times, elbo = time_sweeps(problem, iters)
    problem.rows.close()
    return {"sweep_s": float(np.median(times)), "peak_mb": peak_rss_mb(), "data_mb": x.nbytes / 2**20,
            "before_fit_mb": before, "elbo": elbo, "threads": problem.rows.workers}


def worker_peak_mb():
    return peak_rss_mb()


def worker_rss_mb():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def side_dask(n: int, iters: int, folder: str) -> dict:
    import distributed

    from vifit.data import ReadOptions
    from vifit.api import gmm_fit
    from vifit.distributed import gmm as runner
    from vifit.distributed.cavi import DaskProblem
    from vifit.models import gmm
    from vifit.models.gmm_model import GaussianMixture
    from vifit.progress import Reporter

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    idle = client.run(worker_rss_mb)
    start = time.perf_counter()
    table = runner.load_table(client, os.path.join(folder, "part-*.csv"), ReadOptions(), Reporter("none").note)
    load_s = time.perf_counter() - start
    spec = gmm.Spec(K, D)
    moments = table.accumulator.moments(spec)
    prior, _ = gmm_fit.resolve_prior(spec, moments, {}, lambda m: None)
    parts = table.partitions
    problem = DaskProblem(GaussianMixture(spec, gmm.to_frame(prior, spec, moments.frame), moments.frame), parts, rows=parts)
    times, elbo = time_sweeps(problem, iters)
    held = {}
    for future, length in zip(parts.futures, parts.lengths):
        for worker in client.who_has([future])[future.key]:
            held[worker] = held.get(worker, 0.0) + length * D * 8 / 2**20
    peaks, now = client.run(worker_peak_mb), client.run(worker_rss_mb)
    workers = [{"partitions_mb": held.get(w, 0.0), "peak_mb": peaks[w], "rss_mb": now[w], "idle_mb": idle[w]}
               for w in sorted(peaks)]
    client.close()
    cluster.close()
    return {"sweep_s": float(np.median(times)), "load_s": load_s, "client_peak_mb": peak_rss_mb(),
            "workers": workers, "elbo": elbo, "partitions": len(parts)}


def side_sklearn(n: int, iters: int) -> dict:
    import warnings

    from sklearn.mixture import BayesianGaussianMixture

    x = make_data(n)
    before = peak_rss_mb()
    model = BayesianGaussianMixture(n_components=K, covariance_type="full", max_iter=iters, tol=0.0,
                                    init_params="random_from_data", random_state=0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x)
    elapsed = time.perf_counter() - start
    return {"sweep_s": elapsed / model.n_iter_, "peak_mb": peak_rss_mb(), "before_fit_mb": before,
            "data_mb": x.nbytes / 2**20}


def child(args) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env.update(OPENBLAS_NUM_THREADS="1", VIFIT_PINNED_BLAS="1")  # as vifit gmm pins BLAS
    out = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--data-dir", default="/tmp/vifit-bench-dask")
    parser.add_argument("--no-sklearn", action="store_true")
    parser.add_argument("--side", choices=["vifit", "dask", "sklearn"], help=argparse.SUPPRESS)
    import contention  # benchmarks/contention.py: --contend N busy processes while measuring

    contention.add_option(parser)
    args = parser.parse_args()
    contention.start(args.contend)
    folder = os.path.join(args.data_dir, str(args.n))
    if args.side:
        result = {"vifit": lambda: side_vifit(args.n, args.iters),
                  "dask": lambda: side_dask(args.n, args.iters, folder),
                  "sklearn": lambda: side_sklearn(args.n, args.iters)}[args.side]()
        print(json.dumps(result))
        return
    start = time.perf_counter()
    write_parts(args.n, folder)
    print(f"data: {args.n:,} x {D} in {PARTS} CSV files under {folder} ({time.perf_counter() - start:.0f} s)")
    common = ["--n", str(args.n), "--iters", str(args.iters), "--data-dir", args.data_dir]
    dask_result = child(["--side", "dask", *common])
    local = child(["--side", "vifit", *common])
    sk = None if args.no_sklearn else child(["--side", "sklearn", *common])
    print(json.dumps({"dask": dask_result, "vifit": local, "sklearn": sk}, indent=1))
    ratio = dask_result["sweep_s"] / local["sweep_s"]
    print(f"\n| side | s/sweep | vs vifit | peak RSS |\n| --- | --- | --- | --- |")
    print(f"| vifit, 1 process ({local['threads']} row threads) | {local['sweep_s']:.3f} | 1.00 | "
          f"{local['peak_mb']:.0f} MB (data {local['data_mb']:.0f} MB) |")
    for i, w in enumerate(dask_result["workers"]):
        over = w["peak_mb"] - w["partitions_mb"]
        print(f"| dask worker {i + 1} | | | {w['peak_mb']:.0f} MB = partitions {w['partitions_mb']:.0f} MB "
              f"+ {over:.0f} MB (idle worker {w['idle_mb']:.0f} MB) |")
    print(f"| dask, 2 workers (client) | {dask_result['sweep_s']:.3f} | **{ratio:.2f}** | "
          f"client {dask_result['client_peak_mb']:.0f} MB; read {dask_result['load_s']:.1f} s |")
    if sk is not None:
        print(f"| scikit-learn, 1 thread | {sk['sweep_s']:.3f} | {sk['sweep_s'] / local['sweep_s']:.2f} | "
              f"{sk['peak_mb']:.0f} MB |")
    print(f"\nELBO after the timed sweeps: vifit {local['elbo']:.10g}, dask {dask_result['elbo']:.10g}")


if __name__ == "__main__":
    main()
