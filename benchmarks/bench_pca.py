"""vifit PCA vs scikit-learn PCA on the same data, in one run.

Cases: 1,000,000 x 50 (k = 5) and 200,000 x 300 (k = 10), float64, correlated
Gaussian data. Each side runs in its own subprocess (same seed, same data) so
its peak RSS is its own; the data array is built in place, so "extra" memory
is the peak RSS minus the RSS once the data exist. Times are the best of
--repeats fits. Also reports the largest principal angle between the two
subspaces, and the time of fit + per-row PPCA log-likelihood (what
`vifit pca` does; scikit-learn: fit + score).

    python benchmarks/bench_pca.py [--repeats 3] [--cases 1000000x50x5,200000x300x10]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def make_data(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) / np.sqrt(d)
    scales = np.geomspace(10.0, 0.1, d)
    x = np.empty((n, d))
    for start in range(0, n, 50_000):  # in place, so the data array is the only large allocation
        stop = min(start + 50_000, n)
        x[start:stop] = (rng.standard_normal((stop - start, d)) * scales) @ mixing + 3.0
    return x


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def worker(tool: str, n: int, d: int, k: int, repeats: int) -> dict:
    x = make_data(n, d)
    base = rss_mb()
    if tool == "vifit":
        from vifit.models import pca as model

        def fit():
            return model.fit(x, k).components

        def fit_and_score():
            f = model.fit(x, k)
            return model.log_likelihood(x, f.mean, f.components, f.explained_variance, f.noise_variance).mean()
    else:
        from sklearn.decomposition import PCA

        def fit():
            return PCA(n_components=k).fit(x).components_

        def fit_and_score():
            return PCA(n_components=k).fit(x).score(x)

    times, components = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        components = fit()
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    score = float(fit_and_score())
    with_score = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": min(times), "with_score": with_score, "score": score, "peak_mb": peak,
            "extra_mb": peak - base, "data_mb": x.nbytes / 2**20, "components": np.asarray(components).tolist()}


def largest_angle_degrees(a: np.ndarray, b: np.ndarray) -> float:
    qa, _ = np.linalg.qr(a.T)
    qb, _ = np.linalg.qr(b.T)
    cosines = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return float(np.degrees(np.arccos(np.clip(cosines.min(), -1, 1))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", default="1000000x50x5,200000x300x10")
    parser.add_argument("--worker", nargs=5, metavar=("TOOL", "N", "D", "K", "REPEATS"), help=argparse.SUPPRESS)
    import contention  # benchmarks/contention.py: --contend N busy processes while measuring

    contention.add_option(parser)
    args = parser.parse_args()
    contention.start(args.contend)
    if args.worker:
        tool, n, d, k, repeats = args.worker
        print(json.dumps(worker(tool, int(n), int(d), int(k), int(repeats))))
        return
    import threadpoolctl  # installed with scikit-learn

    print(f"threads (BLAS): {threadpoolctl.threadpool_info()[0].get('num_threads')}")
    for case in args.cases.split(","):
        n, d, k = (int(v) for v in case.split("x"))
        results = {}
        for tool in ("vifit", "sklearn"):
            out = subprocess.run([sys.executable, __file__, "--worker", tool, str(n), str(d), str(k),
                                  str(args.repeats)], capture_output=True, text=True, check=True)
            results[tool] = json.loads(out.stdout)
        v, s = results["vifit"], results["sklearn"]
        angle = largest_angle_degrees(np.asarray(v["components"]), np.asarray(s["components"]))
        print(f"\n{n:,} x {d} (k = {k}), data {v['data_mb']:.0f} MB")
        print(f"  fit            vifit {v['seconds'] * 1e3:8.1f} ms   sklearn {s['seconds'] * 1e3:8.1f} ms"
              f"   ratio {v['seconds'] / s['seconds']:.2f}")
        print(f"  fit + loglik   vifit {v['with_score'] * 1e3:8.1f} ms   sklearn {s['with_score'] * 1e3:8.1f} ms"
              f"   ratio {v['with_score'] / s['with_score']:.2f}")
        print(f"  peak RSS       vifit {v['peak_mb']:8.0f} MB   sklearn {s['peak_mb']:8.0f} MB"
              f"   (beyond the data: {v['extra_mb']:.0f} MB vs {s['extra_mb']:.0f} MB)")
        print(f"  mean loglik    vifit {v['score']:.10g}   sklearn {s['score']:.10g}")
        print(f"  largest principal angle between subspaces: {angle:.2e} degrees")


if __name__ == "__main__":
    main()
