"""Issue 23: the cost of the screened start and of the split-merge moves against the fit, and
which optimum each start finds (vifit's old and new defaults, scikit-learn's
BayesianGaussianMixture with its default start).

    python benchmarks/bench_starts.py                       # N = 200,000 and 2,000,000; D = 10, K = 8
    python benchmarks/bench_starts.py --n 200000 --seeds 0 1 --no-sklearn

The data are the issue's: eight equal clusters, centres ~ N(0, 6^2 I), covariances A A^T with
A = I + 0.4 N(0, 1). Each vifit side is ``vifit.GMM(k=8)`` (``vifit gmm --k 8``: BLAS on one
thread, the row threads), in its own child process; the start (``init.initial_stats``: the
screened candidates, or the one k-means++ start on all rows) and the moves
(``inference.moves.improve``) are timed from inside; the rest of the fit is the sweeps. Printed per side and seed: seconds of start / sweeps / moves, the
share of start + moves in the whole fit, the ELBO, the sorted weights and the ARI against the
generating labels. scikit-learn runs ``BayesianGaussianMixture(n_components=8,
random_state=seed)`` with its defaults (init_params="kmeans", n_init=1, max_iter=100); its
weights and ARI say which optimum it found (its lower bound drops constants, so it is not
compared with vifit's ELBO).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

D, K = 10, 8


def make_data(n: int, d: int = D, k: int = K, seed: int = 0):
    """(x (n, d), labels (n,)): the issue's mixture (the same draw as tests/test_starts.py's at its D)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 6.0, size=(k, d))
    mixing = np.eye(d) + 0.4 * rng.standard_normal((k, d, d))
    labels = rng.integers(k, size=n)
    x = rng.standard_normal((n, d))
    for j in range(k):
        rows = labels == j
        x[rows] = x[rows] @ mixing[j].T + centres[j]
    return x, labels


def ari(labels, predicted) -> float:
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(labels, predicted))


def child_vifit(n: int, seed: int, init: str, moves: str) -> dict:
    from vifit.threads import pin_blas

    pin_blas()
    from vifit import GMM
    from vifit.inference import cavi
    from vifit.inference import moves as moves_module

    x, labels = make_data(n)
    # a fit on a few rows first: the modules a fit imports on first use (pandas, scipy.special:
    # about 0.5 s) are the process's start-up, not the fit's time, and would swamp a 200,000-row fit
    GMM(k=K, seed=seed, init=init, moves=moves).fit(x[:4000])
    spent = {"start": 0.0, "moves": 0.0}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - began
        return wrapper

    cavi.initial_stats = timed("start", cavi.initial_stats)  # what cavi.Problem.initial_stats calls
    moves_module.improve = timed("moves", moves_module.improve)
    began = time.perf_counter()
    model = GMM(k=K, seed=seed, init=init, moves=moves).fit(x)
    total = time.perf_counter() - began
    fit = model.document_["fit"]
    return {"total": total, "start": spent["start"], "moves": spent["moves"], "elbo": model.elbo_,
            "n_iter": fit["n_iter"], "weights": sorted(model.weights_.tolist(), reverse=True),
            "ari": ari(labels, model.predict(x)), "accepted": fit.get("moves") or []}


def child_sklearn(n: int, seed: int) -> dict:
    from sklearn.mixture import BayesianGaussianMixture

    x, labels = make_data(n)
    began = time.perf_counter()
    model = BayesianGaussianMixture(n_components=K, random_state=seed).fit(x)
    total = time.perf_counter() - began
    return {"total": total, "n_iter": int(model.n_iter_), "converged": bool(model.converged_),
            "weights": sorted(model.weights_.tolist(), reverse=True), "ari": ari(labels, model.predict(x))}


def run_child(args: list) -> dict:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", json.dumps(args)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[200_000, 2_000_000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--no-sklearn", action="store_true")
    parser.add_argument("--child")
    import contention  # benchmarks/contention.py: --contend N busy processes while measuring

    contention.add_option(parser)
    options = parser.parse_args()
    contention.start(options.contend)
    if options.child:
        which, *rest = json.loads(options.child)
        print(json.dumps(child_vifit(*rest) if which == "vifit" else child_sklearn(*rest)))
        return
    print(f"load average {os.getloadavg()[0]:.2f}", flush=True)
    for n in options.n:
        for seed in options.seeds:
            for init, moves in (("kmeans++", "none"), ("screened", "split-merge")):
                r = run_child(["vifit", n, seed, init, moves])
                share = (r["start"] + r["moves"]) / r["total"]
                print(f"N={n:>9,} seed {seed} vifit --init {init:<8} --moves {moves:<11} "
                      f"total {r['total']:6.2f} s (start {r['start']:5.2f}, moves {r['moves']:5.2f}: "
                      f"{100 * share:4.1f}%) sweeps {r['n_iter']:3d} ELBO {r['elbo']:.8g} ARI {r['ari']:.4f} "
                      f"weights {np.round(r['weights'], 3).tolist()} moves kept {len(r['accepted'])}", flush=True)
            if not options.no_sklearn:
                r = run_child(["sklearn", n, seed])
                print(f"N={n:>9,} seed {seed} sklearn BayesianGaussianMixture default  total {r['total']:6.2f} s "
                      f"iterations {r['n_iter']} converged {r['converged']} ARI {r['ari']:.4f} "
                      f"weights {np.round(r['weights'], 3).tolist()}", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
