"""vifit CAVI vs scikit-learn BayesianGaussianMixture: same data, prior, init and iterations.

    python benchmarks/bench_gmm.py                 # N = 200,000 and 1,000,000; D = 10, K = 8
    python benchmarks/bench_gmm.py --n 200000 --iters 10

Each side runs in its own child process (so peak RSS is its own; vifit with BLAS on one
thread as ``vifit gmm`` runs it, scikit-learn with its default BLAS threads and with one,
keeping its faster run): the child draws the
data, builds the same initial hard assignment (nearest of K rows picked with a fixed seed),
and times ``iters`` sweeps. scikit-learn gets reg_covar=0 and tol=0 so both run exactly the
same iterations from the same responsibilities; its E- and M-steps are timed from inside.
Printed: ms per iteration, the ratio, peak RSS over the data array, and the final ELBO
(vifit, full bound) / lower bound (scikit-learn, constants dropped), and the largest
difference between the two posteriors' means.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

D, K = 10, 8


def make_data(n: int, seed: int = 0) -> np.ndarray:
    """n rows of a K-component, D-dimensional Gaussian mixture, written in place in chunks."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 4.0, size=(K, D))
    mixing = [np.linalg.cholesky(np.cov(rng.normal(size=(D, 3 * D)))) for _ in range(K)]
    x = np.empty((n, D))
    for start in range(0, n, 65536):
        stop = min(start + 65536, n)
        labels = rng.integers(K, size=stop - start)
        noise = rng.standard_normal((stop - start, D))
        for k in range(K):
            rows = labels == k
            x[start:stop][rows] = centres[k] + noise[rows] @ mixing[k].T
    return x


def initial_labels(x: np.ndarray, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = x[rng.choice(x.shape[0], size=K, replace=False)]
    labels = np.empty(x.shape[0], dtype=np.int64)
    for start in range(0, x.shape[0], 65536):
        block = x[start:start + 65536]
        d2 = (block**2).sum(1)[:, None] - 2 * block @ centres.T + (centres**2).sum(1)
        labels[start:start + 65536] = d2.argmin(1)
    return labels


def rss_now_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak() -> None:
    """Reset the kernel's high-water mark (VmHWM) so the peak measures the fit alone."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_vifit(n: int, iters: int) -> dict:
    from vifit.inference import cavi
    from vifit.models import gmm
    from vifit.models.gmm_model import GaussianMixture
    from vifit.models.gmm_prior import build_prior, data_moments

    x = make_data(n)
    labels = initial_labels(x)
    base = rss_now_mb()
    reset_peak()
    spec = gmm.Spec(K, D, "full", "dirichlet")
    moments = data_moments(spec, x)
    prior = build_prior(spec, weight_concentration=1.0 / K, mean=moments.mean, mean_precision=1.0, dof=D,
                        scale_inv=moments.cov)
    problem = cavi.Problem(GaussianMixture(spec, gmm.to_frame(prior, spec, moments.frame), moments.frame), x)
    state = cavi.initial_state(problem, "kmeans++", np.random.default_rng(0), resp0=labels)
    times = []
    for _ in range(iters):
        started = time.perf_counter()
        state = cavi.step(problem, state)
        times.append(time.perf_counter() - started)
    q = gmm.from_frame(problem.model.variational(state.lam), spec, moments.frame)
    return {"ms_per_iter": 1000 * float(np.median(times)), "ms_min": 1000 * float(np.min(times)),
            "peak_over_base_mb": peak_rss_mb() - base, "peak_mb": peak_rss_mb(), "data_mb": x.nbytes / 2**20,
            "elbo": problem.data_units(state.elbo), "means": q.means.tolist()}


def sklearn_iterations(x: np.ndarray, labels: np.ndarray, iters: int):
    """scikit-learn's BayesianGaussianMixture from the hard start labels, tol = 0 so it runs exactly
    ``iters`` iterations: (seconds of each E- plus M-step, the fitted model)."""
    from sklearn.mixture import BayesianGaussianMixture

    times = []

    class Timed(BayesianGaussianMixture):
        def _initialize_parameters(self, X, random_state, xp=None):
            resp = np.zeros((X.shape[0], K))
            resp[np.arange(X.shape[0]), labels] = 1.0
            self._initialize(X, resp)

        def _e_step(self, X, xp=None):
            self._t0 = time.perf_counter()
            return super()._e_step(X)

        def _m_step(self, X, log_resp, xp=None):
            super()._m_step(X, log_resp)
            times.append(time.perf_counter() - self._t0)

    model = Timed(n_components=K, covariance_type="full", weight_concentration_prior_type="dirichlet_distribution",
                  weight_concentration_prior=1.0 / K, reg_covar=0.0, tol=0.0, max_iter=iters, random_state=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x)
    return times, model


def child_sklearn(n: int, iters: int) -> dict:
    x = make_data(n)
    labels = initial_labels(x)
    base = rss_now_mb()
    reset_peak()
    times, model = sklearn_iterations(x, labels, iters)
    return {"ms_per_iter": 1000 * float(np.median(times)), "ms_min": 1000 * float(np.min(times)),
            "peak_over_base_mb": peak_rss_mb() - base, "peak_mb": peak_rss_mb(), "data_mb": x.nbytes / 2**20,
            "lower_bound": float(model.lower_bound_), "means": model.means_.tolist()}


def run_child(which: str, n: int, iters: int, blas_threads: str | None = None) -> dict:
    env = dict(os.environ)
    if blas_threads is not None:
        env["OPENBLAS_NUM_THREADS"] = blas_threads
    out = subprocess.run([sys.executable, __file__, "--child", which, "--n", str(n), "--iters", str(iters)],
                         capture_output=True, text=True, check=True, env=env)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["blas_threads"] = blas_threads or "default"
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, action="append", help="rows (repeatable); default 200000 and 1000000")
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each side this many times, alternating, and keep its fastest run "
                             "(the machine is shared; contention only ever slows a run down)")
    parser.add_argument("--child", choices=["vifit", "sklearn"], help=argparse.SUPPRESS)
    import contention  # benchmarks/contention.py: --contend N busy processes while measuring

    contention.add_option(parser)
    args = parser.parse_args()
    contention.start(args.contend)
    sizes = args.n or [200_000, 1_000_000]
    if args.child:
        result = (child_vifit if args.child == "vifit" else child_sklearn)(sizes[0], args.iters)
        print(json.dumps(result))
        return
    print(f"D = {D}, K = {K}, full covariance, Dirichlet weights, {args.iters} iterations, same init; "
          f"median time per iteration of each side's fastest run; {os.cpu_count()} cores")
    for n in sizes:
        # vifit as `vifit gmm` runs it (BLAS pinned to one thread, its own row threads);
        # scikit-learn both with its default BLAS threads and with one, keeping its faster
        ours_runs, their_runs = [], []
        for _ in range(args.repeat):
            ours_runs.append(run_child("vifit", n, args.iters, blas_threads="1"))
            their_runs.append(run_child("sklearn", n, args.iters))
            their_runs.append(run_child("sklearn", n, args.iters, blas_threads="1"))
        ours = min(ours_runs, key=lambda r: r["ms_per_iter"])
        theirs = min(their_runs, key=lambda r: r["ms_per_iter"])
        diff = float(np.max(np.abs(np.array(ours["means"]) - np.array(theirs["means"]))))
        print(f"\nN = {n:,}  (data array {ours['data_mb']:.0f} MB)")
        print(f"  vifit   {ours['ms_per_iter']:8.1f} ms/iter (min {ours['ms_min']:.1f})  peak RSS {ours['peak_mb']:7.0f} MB "
              f"(+{ours['peak_over_base_mb']:.0f} MB = {ours['peak_over_base_mb'] / ours['data_mb']:.2f}x data "
              f"incl. init labels)  ELBO {ours['elbo']:.10g}")
        print(f"  sklearn {theirs['ms_per_iter']:8.1f} ms/iter (min {theirs['ms_min']:.1f})  peak RSS {theirs['peak_mb']:7.0f} MB "
              f"(+{theirs['peak_over_base_mb']:.0f} MB = {theirs['peak_over_base_mb'] / theirs['data_mb']:.2f}x data)"
              f"  lower bound {theirs['lower_bound']:.10g}  (BLAS threads: {theirs['blas_threads']})")
        print(f"  speed-up {theirs['ms_per_iter'] / ours['ms_per_iter']:.1f}x   "
              f"max |means difference| {diff:.2e}")


if __name__ == "__main__":
    main()
