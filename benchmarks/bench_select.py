"""The selection grid: vifit's K x covariance grid with --jobs 2 against --jobs 1, and against
scikit-learn's GaussianMixture BIC grid over the same K x covariance (the loop mclust users port).

    python benchmarks/bench_select.py                        # 200,000 x 10 rows, --k 1-9, full,diag,spherical
    python benchmarks/bench_select.py --rows 20000           # scaled down
    python benchmarks/bench_select.py --rows 20000 --validation 0.2

Each side runs in its own child process on the same synthetic data (bench_gmm.make_data: a
K = 8 Gaussian mixture with full covariances, D = 10): vifit as ``vifit.GMM(k="1-9",
covariance="full,diag,spherical", jobs=J)`` (the road ``vifit gmm DATA --k 1-9 --covariance
full,diag,spherical --jobs J`` takes, without the CSV parse), each candidate at vifit's defaults
(screened start, split-merge moves, --tol 1e-6, at most 500 sweeps); scikit-learn as the loop
``GaussianMixture(n_components=k, covariance_type=c).fit(x).bic(x)`` at its defaults (k-means
start, tol 1e-3, at most 100 EM steps). They do not stop at the same point, so the ratio is that
of the two grids as users run them, not of equal work. Printed: wall seconds of each grid, the
ratios, the candidate each chooses, peak RSS (for --jobs 2 the parent's and the largest worker's,
each a process of its own) and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_gmm import make_data, peak_rss_mb, reset_peak, rss_now_mb  # noqa: E402

KS = list(range(1, 10))
COVARIANCES = ["full", "diag", "spherical"]


def child_vifit(rows: int, jobs: int, ks: list, validation: float | None) -> dict:
    import vifit

    x = make_data(rows)
    base = rss_now_mb()
    reset_peak()
    started = time.perf_counter()
    model = vifit.GMM(k=",".join(map(str, ks)), covariance=",".join(COVARIANCES), seed=0, jobs=jobs,
                      validation=validation).fit(x)
    seconds = time.perf_counter() - started
    selection = model.document_["fit"]["selection"]
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest worker's peak
    return {"seconds": seconds, "peak_mb": peak_rss_mb(), "peak_over_base_mb": peak_rss_mb() - base,
            "worker_peak_mb": workers, "data_mb": x.nbytes / 2**20, "chosen": selection["chosen"],
            "criterion": selection["select"], "elbos": [c["elbo"] for c in selection["candidates"]]}


def child_sklearn(rows: int, ks: list) -> dict:
    import warnings

    from sklearn.mixture import GaussianMixture

    x = make_data(rows)
    base = rss_now_mb()
    reset_peak()
    started = time.perf_counter()
    best = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter: part of what users see, not timed
        for k in ks:
            for covariance in COVARIANCES:
                bic = GaussianMixture(n_components=k, covariance_type=covariance, random_state=0).fit(x).bic(x)
                if best is None or bic < best[0]:
                    best = (bic, k, covariance)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_mb": peak_rss_mb(), "peak_over_base_mb": peak_rss_mb() - base,
            "data_mb": x.nbytes / 2**20, "chosen": {"k": best[1], "covariance": best[2]}}


def run_child(args: list, blas_threads: str | None = None) -> dict:
    env = dict(os.environ)
    if blas_threads is not None:
        env["OPENBLAS_NUM_THREADS"] = blas_threads
    out = subprocess.run([sys.executable, os.path.abspath(__file__), *args], capture_output=True, text=True,
                         check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--k", default="1-9", help="K candidates as --k takes them (default 1-9)")
    parser.add_argument("--validation", type=float, default=None,
                        help="vifit only: hold out this fraction (the choice is then by held-out density)")
    parser.add_argument("--child", choices=["vifit", "sklearn"], help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, default=1, help=argparse.SUPPRESS)
    import contention  # benchmarks/contention.py: --contend N busy processes while measuring

    contention.add_option(parser)
    args = parser.parse_args()
    contention.start(args.contend)
    from vifit.api.gmm_select import parse_k

    ks = parse_k(args.k)
    if args.child == "vifit":
        print(json.dumps(child_vifit(args.rows, args.jobs, ks, args.validation)))
        return
    if args.child == "sklearn":
        print(json.dumps(child_sklearn(args.rows, ks)))
        return
    common = ["--rows", str(args.rows), "--k", args.k] + (["--validation", str(args.validation)]
                                                          if args.validation else [])
    load = os.getloadavg()
    print(f"{args.rows:,} x 10 rows (bench_gmm.make_data, true K = 8); grid K = {args.k} x {','.join(COVARIANCES)} "
          f"({len(ks) * len(COVARIANCES)} candidates); {os.cpu_count()} cores; load before {load[0]:.2f} "
          f"{load[1]:.2f} {load[2]:.2f}")
    one = run_child(["--child", "vifit", "--jobs", "1"] + common, blas_threads="1")  # as `vifit gmm` pins BLAS
    two = run_child(["--child", "vifit", "--jobs", "2"] + common, blas_threads="1")
    theirs = run_child(["--child", "sklearn"] + common)
    same = one["elbos"] == two["elbos"] and one["chosen"] == two["chosen"]
    print(f"  vifit --jobs 1  {one['seconds']:8.1f} s  peak RSS {one['peak_mb']:6.0f} MB "
          f"(+{one['peak_over_base_mb']:.0f} MB; data {one['data_mb']:.0f} MB)  chose {one['chosen']} "
          f"by {one['criterion']}")
    print(f"  vifit --jobs 2  {two['seconds']:8.1f} s  peak RSS {two['peak_mb']:6.0f} MB parent, "
          f"{two['worker_peak_mb']:.0f} MB largest worker  chose {two['chosen']}  "
          f"(identical to --jobs 1: {'yes' if same else 'NO'})")
    print(f"  sklearn BIC     {theirs['seconds']:8.1f} s  peak RSS {theirs['peak_mb']:6.0f} MB "
          f"(+{theirs['peak_over_base_mb']:.0f} MB)  chose {theirs['chosen']} by lowest BIC")
    print(f"  --jobs 2 speed-up over --jobs 1: {one['seconds'] / two['seconds']:.2f}x;  "
          f"scikit-learn / vifit --jobs 2: {theirs['seconds'] / two['seconds']:.2f}x  "
          f"(/ vifit --jobs 1: {theirs['seconds'] / one['seconds']:.2f}x)")
    load = os.getloadavg()
    print(f"  load after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
