"""Full-covariance GMM with missing cells: a CAVI sweep against the complete-data sweep and scikit-learn.

    python benchmarks/bench_gmm_missing.py                  # N = 200,000, D = 10, K = 8, 10% cells missing
    python benchmarks/bench_gmm_missing.py --n 50000 --iters 3

Same data as bench_gmm.py (its make_data and start labels). Each side in its own child process:

- vifit, missing: 10% of the cells deleted completely at random (seeded); rows with a missing cell
  go through models/gmm_missing.py (grouped by pattern, q(z_M | c)); BLAS on one thread as
  ``vifit gmm`` runs it.
- vifit, complete: the same table without deletions (the issue's target: missing <= 3x this).
- scikit-learn BayesianGaussianMixture on the rows with no missing cell (what a user of it has to
  do), same start labels, tol = 0, its default BLAS threads.

Printed: median ms per sweep of each, the ratios, peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from bench_gmm import K, initial_labels, make_data, peak_rss_mb, sklearn_iterations  # noqa: E402


def holed(x: np.ndarray, fraction: float, seed: int = 5) -> np.ndarray:
    x = x.copy()
    mask = np.random.default_rng(seed).random(x.shape) < fraction
    mask[mask.all(axis=1), 0] = False
    x[mask] = np.nan
    return x


def child_vifit(n: int, iters: int, fraction: float) -> dict:
    from vifit.inference import cavi
    from vifit.models import gmm, gmm_patterns
    from vifit.models.gmm_model import GaussianMixture
    from vifit.models.gmm_prior import build_prior, data_moments

    x = make_data(n)
    labels = initial_labels(x)
    if fraction:  # sorted by pattern of missing cells, as api.gmm_fit.prepare orders them
        x = holed(x, fraction)
        order = gmm_patterns.row_order(np.isnan(x))
        x, labels = x[order], labels[order]
    spec = gmm.Spec(K, x.shape[1], "full", "dirichlet")
    moments = data_moments(spec, x)
    prior = build_prior(spec, weight_concentration=1.0 / K, mean=moments.mean, mean_precision=1.0,
                        dof=x.shape[1], scale_inv=moments.cov)
    model = GaussianMixture(spec, gmm.to_frame(prior, spec, moments.frame), moments.frame, missing=bool(fraction))
    problem = cavi.Problem(model, x)  # the default chunk, as vifit gmm chunks it
    state = cavi.initial_state(problem, "kmeans++", np.random.default_rng(0), resp0=labels)
    times = []
    for _ in range(iters):
        started = time.perf_counter()
        state = cavi.step(problem, state)
        times.append(time.perf_counter() - started)
    return {"ms": 1000 * float(np.median(times)), "peak_mb": peak_rss_mb(), "elbo": problem.data_units(state.elbo),
            "rows": n, "missing_rows": int(np.isnan(x).any(axis=1).sum())}


def child_sklearn(n: int, iters: int, fraction: float) -> dict:
    x = make_data(n)
    labels = initial_labels(x)
    keep = ~np.isnan(holed(x, fraction)).any(axis=1)
    times, _ = sklearn_iterations(x[keep], labels[keep], iters)
    return {"ms": 1000 * float(np.median(times)), "peak_mb": peak_rss_mb(), "rows": int(keep.sum())}


def run_child(which: str, n: int, iters: int, fraction: float, blas_threads: str | None) -> dict:
    env = dict(os.environ)
    if blas_threads is not None:
        env["OPENBLAS_NUM_THREADS"] = blas_threads
    out = subprocess.run([sys.executable, __file__, "--child", which, "--n", str(n), "--iters", str(iters),
                          "--missing", str(fraction)], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--missing", type=float, default=0.1, help="fraction of cells deleted at random")
    parser.add_argument("--child", choices=["vifit", "sklearn"], help=argparse.SUPPRESS)
    import contention  # benchmarks/contention.py: --contend N busy processes while measuring

    contention.add_option(parser)
    args = parser.parse_args()
    contention.start(args.contend)
    if args.child:
        child = child_vifit if args.child == "vifit" else child_sklearn
        print(json.dumps(child(args.n, args.iters, args.missing)))
        return
    holes = run_child("vifit", args.n, args.iters, args.missing, "1")
    whole = run_child("vifit", args.n, args.iters, 0.0, "1")
    theirs = run_child("sklearn", args.n, args.iters, args.missing, None)
    print(f"full-covariance GMM, N = {args.n:,}, D = 10, K = {K}, {args.missing:.0%} of cells missing "
          f"({holes['missing_rows']:,} rows with a missing cell); median of {args.iters} sweeps; "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    print(f"  vifit, missing cells   {holes['ms']:8.1f} ms/sweep  peak RSS {holes['peak_mb']:.0f} MB")
    print(f"  vifit, complete data   {whole['ms']:8.1f} ms/sweep  peak RSS {whole['peak_mb']:.0f} MB   "
          f"missing / complete = {holes['ms'] / whole['ms']:.2f}x")
    print(f"  sklearn, {theirs['rows']:,} complete rows {theirs['ms']:8.1f} ms/iter   peak RSS {theirs['peak_mb']:.0f} MB   "
          f"vifit (missing) / sklearn = {holes['ms'] / theirs['ms']:.2f}x")


if __name__ == "__main__":
    main()
