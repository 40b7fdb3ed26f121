"""Bernoulli mixture CAVI sweep vs the two bare GEMMs of its size and a plain numpy EM.

    python benchmarks/bench_mixture.py                     # N = 1,000,000 x D = 100 binary, K = 10
    python benchmarks/bench_mixture.py --n 200000 --iters 5

Each side runs in its own child process (peak RSS is its own), on the same data (drawn from a
K-component Bernoulli mixture with a fixed seed):

- vifit: ``cavi.step`` on a ``models.product`` Bernoulli mixture (Beta(1, 1) priors, Dirichlet
  weights) from the same hard start, BLAS on one thread and vifit's row threads, as
  ``vifit mixture`` runs it; the time per sweep includes the ELBO.
- GEMMs: theta (K, p) @ T (p, N) and T @ R^T (N, K) with p = D + 1, numpy's default BLAS threads:
  the arithmetic a sweep cannot avoid (the issue's target: a sweep within 2x of this).
- numpy EM: maximum-likelihood EM written the obvious way (x @ log p^T + (1 - x) @ log(1 - p)^T,
  logsumexp, responsibilities, r^T x), default BLAS threads: what a user would write instead.

Printed: median ms per iteration of each, the ratios, and peak RSS over the data array.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

D, K = 100, 10


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(x (n, D) of 0/1 floats, start labels (n,)): rows of a K-component Bernoulli mixture, and
    labels of a fixed random start (the same for every side)."""
    rng = np.random.default_rng(seed)
    prototypes = rng.beta(0.5, 0.5, size=(K, D))
    x = np.empty((n, D))
    for start in range(0, n, 65536):
        stop = min(start + 65536, n)
        labels = rng.integers(K, size=stop - start)
        x[start:stop] = rng.random((stop - start, D)) < prototypes[labels]
    return x, np.random.default_rng(seed + 1).integers(K, size=n)


def peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child_vifit(n: int, iters: int) -> dict:
    from vifit.inference import cavi
    from vifit.models import product

    x, labels = make_data(n)
    model = product.build(x, [("bernoulli", list(range(D)))], k=K)
    problem = cavi.Problem(model, x)
    state = cavi.initial_state(problem, "random-resp", None, labels)
    times = []
    for _ in range(iters):
        started = time.perf_counter()
        state = cavi.step(problem, state)
        times.append(time.perf_counter() - started)
    problem.rows.close()
    return {"ms": 1000 * float(np.median(times)), "peak_mb": peak_rss_mb(), "data_mb": x.nbytes / 2**20,
            "n_stats": model.n_stats, "elbo": problem.data_units(state.elbo), "row_threads": problem.workers}


def child_gemms(n: int, iters: int) -> dict:
    x, _ = make_data(n)
    features = np.ascontiguousarray(np.vstack([np.ones((1, n)), x.T]))  # T (p, n), as vifit lays it out
    theta = np.random.default_rng(2).normal(size=(K, D + 1))
    resp = np.empty((K, n))
    times = []
    for _ in range(iters):
        started = time.perf_counter()
        np.matmul(theta, features, out=resp)
        _ = features @ resp.T
        times.append(time.perf_counter() - started)
    return {"ms": 1000 * float(np.median(times)), "peak_mb": peak_rss_mb(), "data_mb": x.nbytes / 2**20}


def child_numpy_em(n: int, iters: int) -> dict:
    from scipy.special import logsumexp

    x, labels = make_data(n)
    resp = np.zeros((n, K))
    resp[np.arange(n), labels] = 1.0
    times = []
    for _ in range(iters):
        started = time.perf_counter()
        counts = resp.sum(axis=0)
        p = np.clip((resp.T @ x) / counts[:, None], 1e-10, 1 - 1e-10)
        log_w = np.log(counts / n)
        log_joint = x @ np.log(p).T + (1.0 - x) @ np.log1p(-p).T + log_w
        norm = logsumexp(log_joint, axis=1, keepdims=True)
        resp = np.exp(log_joint - norm)
        times.append(time.perf_counter() - started)
    return {"ms": 1000 * float(np.median(times)), "peak_mb": peak_rss_mb(), "data_mb": x.nbytes / 2**20,
            "loglik": float(norm.sum())}


CHILDREN = {"vifit": child_vifit, "gemms": child_gemms, "numpy-em": child_numpy_em}


def run_child(which: str, n: int, iters: int, blas_threads: str | None) -> dict:
    env = dict(os.environ)
    if blas_threads is not None:
        env["OPENBLAS_NUM_THREADS"] = blas_threads
    out = subprocess.run([sys.executable, __file__, "--child", which, "--n", str(n), "--iters", str(iters)],
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1, help="runs per side, alternating; the fastest is kept")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    import contention  # benchmarks/contention.py: --contend N busy processes while measuring

    contention.add_option(parser)
    args = parser.parse_args()
    contention.start(args.contend)
    if args.child:
        print(json.dumps(CHILDREN[args.child](args.n, args.iters)))
        return
    runs = {name: [] for name in CHILDREN}
    for _ in range(args.repeat):
        runs["vifit"].append(run_child("vifit", args.n, args.iters, "1"))  # as `vifit mixture` pins BLAS
        runs["gemms"].append(run_child("gemms", args.n, args.iters, None))
        runs["numpy-em"].append(run_child("numpy-em", args.n, args.iters, None))
    best = {name: min(results, key=lambda r: r["ms"]) for name, results in runs.items()}
    ours = best["vifit"]
    print(f"Bernoulli mixture: N = {args.n:,}, D = {D}, K = {K}; median of {args.iters} iterations, fastest of "
          f"{args.repeat} run(s); {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    print(f"  vifit CAVI sweep {ours['ms']:9.1f} ms  (p = {ours['n_stats']}, {ours['row_threads']} row threads)  "
          f"peak RSS {ours['peak_mb']:.0f} MB (data {ours['data_mb']:.0f} MB)  ELBO {ours['elbo']:.8g}")
    for name, words in (("gemms", "two bare GEMMs  "), ("numpy-em", "numpy EM step   ")):
        theirs = best[name]
        print(f"  {words} {theirs['ms']:9.1f} ms  peak RSS {theirs['peak_mb']:.0f} MB   "
              f"sweep / this = {ours['ms'] / theirs['ms']:.2f}x")


if __name__ == "__main__":
    main()
