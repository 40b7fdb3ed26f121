"""vifit GMM: CAVI to convergence vs SVI vs memoized VB; streaming from disk vs in memory.

    python benchmarks/bench_svi.py                  # N = 2,000,000, D = 10, K = 8 (bench_gmm's data)
    python benchmarks/bench_svi.py --n 200000       # a quicker look
    python benchmarks/bench_svi.py --init random --no-disk
    python benchmarks/bench_svi.py --init shared     # one start for every side, the methods timed alone

Every side runs in its own child process, so its peak RSS is its own.

In memory (the data drawn in the child; seconds are the fit alone):
  cavi      ``api.gmm_fit.fit`` with the CLI defaults (kmeans++, tol 1e-6): the reference ELBO;
  svi-1     SVI with the defaults (M = 1024, kappa 0.7, tau0 1) bounded to one epoch;
  svi       SVI with the defaults (stops when the ELBO estimate stops improving, at most 10 epochs);
  memoized  memoized online VB with the defaults.
Each SVI side reports epochs, seconds and the exact full-data ELBO of its final factors,
as a gap relative to CAVI's (target: within 0.5%, i.e. 99.5% of CAVI's ELBO), and the
time it took to *reach* that target: the global factors are copied every few steps during
the run (and once before the first step), and their exact full-data ELBOs are computed after
the run, outside the clock.

``--init random`` starts every side from random rows instead of the CLI's kmeans++: on
these well-separated clusters kmeans++ alone lands within 0.02% of CAVI's final ELBO, so
only a poorer start shows how fast each method climbs.

From a CSV on disk (the whole ``vifit gmm`` command, seconds include parsing):
  stream    ``--method svi`` (default: streamed, one pass per epoch plus one for the ELBO);
  no-stream ``--method svi --no-stream`` (the table loaded whole first);
  stream at N/10, to show that streaming peak memory does not grow with N.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_gmm import D, K, make_data, rss_now_mb  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_memory(which: str, n: int, init: str, cavi_elbo: float | None = None) -> dict:
    from vifit.data import Table
    from vifit.inference import svi
    from vifit.progress import Reporter
    from vifit.api import gmm_fit as runner
    from vifit.api import gmm_svi

    x = make_data(n)
    base = rss_now_mb()
    columns = [f"x{j + 1}" for j in range(D)]
    reporter = Reporter("none")
    started = time.perf_counter()
    if which == "cavi":
        result = runner.fit(Table(x, columns, "bench"), seed=0, reporter=reporter, k=K, init=init)
    else:
        settings = svi.Settings(memoized=which == "memoized", epochs=1 if which == "svi-1" else 10)
        loaded = gmm_svi.Loaded(svi.ArraySource(x), lambda: {"columns": columns})
        snapshots = record_steps(which == "memoized", started)
        result = gmm_svi.fit(loaded, seed=0, reporter=reporter, settings=settings, k=K, init=init)
    seconds = time.perf_counter() - started
    side = {"side": which, "seconds": seconds, "elbo": result.elbo, "status": result.status,
            "iterations": result.n_iter, "epochs": result.fit_extra.get("epochs"),
            "trace": result.trace[-12:], "peak_mb": peak_rss_mb(), "over_data_mb": peak_rss_mb() - base,
            "data_mb": x.nbytes / 2**20, "means": result.params["summary"]["means"].tolist()}
    if which != "cavi":
        side["reach"] = first_within(snapshots, cavi_elbo, n, settings.batch_size)
    return side


SHARED_START_SEED = 7


def child_shared(which: str, n: int, cavi_elbo: float | None = None) -> dict:
    """CAVI, SVI or memoized VB from one shared start: the global factors of the hard assignment
    of every row to the nearest of K random rows (``init.initial_stats(..., "random", ...)`` with
    a fixed seed, in the working frame of the data's moments, as ``vifit gmm`` uses). The clock
    starts once those factors exist, so it times the methods, not their initialisations."""
    from vifit.data import Table
    from vifit.inference import cavi, svi
    from vifit.models import gmm
    from vifit.api import gmm_fit as runner

    x = make_data(n)
    problem, _, _ = runner.prepare(Table(x, [f"x{j + 1}" for j in range(D)], "bench"), k=K)
    stats0 = problem.initial_stats("random", np.random.default_rng(SHARED_START_SEED))
    lam0 = problem.model.global_step(stats0.t)
    started = time.perf_counter()
    if which == "cavi":
        stamps = []
        stats, value = cavi.local_pass(problem, lam0)
        state = cavi.State(lam=lam0, stats=stats, elbo=value, trace=[(0, problem.data_units(value))])
        stamps.append(time.perf_counter() - started)
        state, status = cavi.run(problem, state, tol=1e-6, max_iter=500,
                                 after_sweep=lambda s: stamps.append(time.perf_counter() - started))
        seconds = time.perf_counter() - started
        final = state.trace[-1][1]
        reach = next((stamps[i] for i, (_, e) in enumerate(state.trace) if (final - e) / abs(final) <= TARGET_GAP),
                     None)
        return {"side": which, "seconds": seconds, "elbo": final, "status": status, "iterations": state.iteration,
                "reach_seconds": reach, "sweep_seconds": (seconds - stamps[0]) / max(1, state.iteration)}
    settings = svi.Settings(memoized=which == "memoized")
    svi_problem = svi.Problem(problem.model, svi.ArraySource(x))
    snapshots = record_steps(settings.memoized, started)
    rng = np.random.default_rng(SHARED_START_SEED + 1)
    if settings.memoized:  # as gmm_svi.fit: at most MAX_MEMO_BATCHES per-batch statistics
        from vifit.api.gmm_svi import MAX_MEMO_BATCHES
        settings = svi.Settings(memoized=True, batch_size=max(settings.batch_size, -(-n // MAX_MEMO_BATCHES)))
    result = svi.run(svi_problem, svi.State(lam=lam0), settings, rng, n_rows=n)
    seconds = time.perf_counter() - started
    side = {"side": which, "seconds": seconds, "elbo": result.elbo, "status": result.status,
            "iterations": result.state.step, "epochs": result.state.step * settings.batch_size / n}
    side["reach"] = first_within(snapshots, cavi_elbo, n, settings.batch_size)
    return side


RECORD_EVERY = 4  # steps between snapshots of the global factors (and one of the initial factors)
TARGET_GAP = 0.005  # the 99.5% of CAVI's final ELBO


def record_steps(memoized: bool, started: float) -> list:
    """Wrap the SVI (or memoized) step to keep (seconds since start, step, lam, problem) every
    RECORD_EVERY steps; copying lam (p x k) costs microseconds, so the clock is not disturbed."""
    from vifit.inference import memoized as memo_module
    from vifit.inference import svi

    module = memo_module if memoized else svi
    original, snapshots = module.step, []

    def recording(problem, state, *args, **kwargs):
        if state.step == 0:  # the initialisation itself: is it already within the target?
            snapshots.append((time.perf_counter() - started, 0, state.lam.copy(), problem))
        new_state, estimate = original(problem, state, *args, **kwargs)
        if new_state.step % RECORD_EVERY == 0:
            snapshots.append((time.perf_counter() - started, new_state.step, new_state.lam.copy(), problem))
        return new_state, estimate

    module.step = recording
    return snapshots


def first_within(snapshots: list, reference: float, n: int, batch_size: int) -> dict | None:
    """The first snapshot whose exact full-data ELBO is within TARGET_GAP of reference (found on a
    coarse grid of snapshots, then refined inside the first window that crosses), after the run."""
    from vifit.inference import svi

    def gap(i):
        _, _, lam, problem = snapshots[i]
        _, value, rows = svi.full_pass(problem, lam)
        return (reference - problem.data_units(value, rows)) / abs(reference)

    coarse = list(range(0, len(snapshots), 16))
    hit = next((i for i in coarse if gap(i) <= TARGET_GAP), None)
    if hit is None:
        return None
    low = max(0, hit - 15)
    first = next(i for i in range(low, hit + 1) if gap(i) <= TARGET_GAP)
    seconds, steps, _, _ = snapshots[first]
    return {"seconds": seconds, "steps": steps, "epochs": steps * batch_size / n, "gap": gap(first)}


def child_cli(which: str, path: str, output: str) -> dict:
    from vifit.cli import main as vifit_main

    args = ["gmm", path, "--k", str(K), "--method", "svi", "--seed", "0", "-q", "-o", output]
    if which == "no-stream":
        args.append("--no-stream")
    started = time.perf_counter()
    try:
        vifit_main(args)
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code
    seconds = time.perf_counter() - started
    with open(output) as f:
        fit = json.load(f)["fit"]
    return {"side": which, "seconds": seconds, "elbo": fit["elbo"], "status": fit["status"],
            "iterations": fit["n_iter"], "epochs": fit["epochs"], "peak_mb": peak_rss_mb()}


def shared_start(n: int) -> None:
    """Print CAVI vs SVI vs memoized from one shared start (see child_shared)."""
    cavi = run_child("cavi", n, "shared")
    print(f"\none shared start (hard assignment to {K} random rows, seed {SHARED_START_SEED}); clocks start at "
          f"the shared factors")
    print(f"  cavi      {cavi['seconds']:6.2f} s to convergence ({cavi['iterations']} sweeps, "
          f"{cavi['sweep_seconds']:.3f} s each), ELBO {cavi['elbo']:.10g}; within {100 * TARGET_GAP:g}% of its "
          f"final ELBO after {cavi['reach_seconds']:.2f} s")
    for which in ("svi", "memoized"):
        side = run_child(which, n, "shared", repr(cavi["elbo"]))
        gap = (cavi["elbo"] - side["elbo"]) / abs(cavi["elbo"])
        reach = side["reach"]
        reached = ("never within the target" if reach is None else
                   f"within {100 * TARGET_GAP:g}% of CAVI's final ELBO after {reach['seconds']:.2f} s = "
                   f"{reach['seconds'] / cavi['seconds']:.3f} x CAVI's time ({reach['steps']} steps, "
                   f"{reach['epochs']:.3f} epochs)")
        print(f"  {which:9s} {side['seconds']:6.2f} s ({side['epochs']:.2f} epochs, {side['status']}), final gap "
              f"{100 * gap:.4f}%; {reached}")


def run_child(*args) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *map(str, args)], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_csv(x: np.ndarray, path: str) -> None:
    with open(path, "w") as f:
        f.write(",".join(f"x{j + 1}" for j in range(D)) + "\n")
        for start in range(0, x.shape[0], 100_000):
            np.savetxt(f, x[start:start + 100_000], fmt="%.17g", delimiter=",")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2_000_000)
    parser.add_argument("--init", default="kmeans++", choices=["kmeans++", "random", "random-resp", "shared"],
                        help="every side's initialisation (the CLI default is kmeans++); shared: one start "
                             "(hard assignment to K random rows) given to every side, clocks starting there")
    parser.add_argument("--no-disk", action="store_true", help="skip the CSV-on-disk runs")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    import contention  # benchmarks/contention.py: --contend N busy processes while measuring

    contention.add_option(parser)
    args = parser.parse_args()
    contention.start(args.contend)
    if args.child:
        which = args.child[0]
        if which in ("stream", "no-stream"):
            print(json.dumps(child_cli(which, args.child[1], args.child[2])))
        elif args.child[2] == "shared":
            reference = float(args.child[3]) if len(args.child) > 3 else None
            print(json.dumps(child_shared(which, int(args.child[1]), reference)))
        else:
            reference = float(args.child[3]) if len(args.child) > 3 else None
            print(json.dumps(child_memory(which, int(args.child[1]), args.child[2], reference)))
        return
    n = args.n
    threads = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "default"
    print(f"N = {n:,}, D = {D}, K = {K}, full covariance, Dirichlet weights; each side in its own process; "
          f"BLAS threads: {threads}; numpy {np.__version__}; --init {args.init} on every side")
    if args.init == "shared":
        shared_start(n)
        return
    cavi = run_child("cavi", n, args.init)
    sides = {"cavi": cavi, **{which: run_child(which, n, args.init, repr(cavi["elbo"]))
                              for which in ("svi-1", "svi", "memoized")}}
    print(f"\nin memory (data {cavi['data_mb']:.0f} MB; seconds of the fit alone)")
    print(f"  {'side':9s} {'seconds':>8s} {'x CAVI':>7s} {'epochs':>7s} {'steps':>6s} {'ELBO':>20s} "
          f"{'gap to CAVI':>11s} {'peak RSS':>9s} {'over data':>9s}  status")
    for which, side in sides.items():
        gap = (cavi["elbo"] - side["elbo"]) / abs(cavi["elbo"])
        epochs = "-" if side["epochs"] is None else f"{side['epochs']:.2f}"
        print(f"  {which:9s} {side['seconds']:8.2f} {side['seconds'] / cavi['seconds']:7.3f} {epochs:>7s} "
              f"{side['iterations']:6d} {side['elbo']:20.10g} {100 * gap:10.4f}% {side['peak_mb']:7.0f}MB "
              f"{side['over_data_mb']:7.0f}MB  {side['status']}")
    print(f"\n  time to reach {100 * (1 - TARGET_GAP):g}% of CAVI's final ELBO (exact full-data ELBO of "
          f"snapshots taken every {RECORD_EVERY} steps, evaluated after the run; CAVI: {cavi['seconds']:.2f} s "
          f"to convergence)")
    for which in ("svi-1", "svi", "memoized"):
        reach = sides[which]["reach"]
        if reach is None:
            print(f"  {which:9s} never within {100 * TARGET_GAP:g}%")
            continue
        print(f"  {which:9s} {reach['seconds']:8.2f} s = {reach['seconds'] / cavi['seconds']:.3f} x CAVI   "
              f"after {reach['steps']} steps ({reach['epochs']:.3f} epochs), gap {100 * reach['gap']:.4f}%")
    means = np.array(cavi["means"])
    for which in ("svi-1", "svi", "memoized"):
        other = np.array(sides[which]["means"])
        worst = max(np.min(np.linalg.norm(other - m, axis=1)) for m in means)
        print(f"  {which}: largest distance from a CAVI mean to the nearest {which} mean: {worst:.3g}")
    if args.no_disk:
        return
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as folder:
        rows = {}
        for size in (n, n // 10):
            path = os.path.join(folder, f"data{size}.csv")
            started = time.perf_counter()
            write_csv(make_data(size), path)
            rows[size] = (path, os.path.getsize(path) / 2**20, time.perf_counter() - started)
        print(f"\nfrom a CSV on disk ({rows[n][1]:.0f} MB; written in {rows[n][2]:.0f} s; whole command, parsing included)")
        runs = [("stream", n), ("no-stream", n), ("stream", n // 10)]
        for which, size in runs:
            side = run_child(which, rows[size][0], os.path.join(folder, "out.json"))
            gap = (cavi["elbo"] - side["elbo"]) / abs(cavi["elbo"]) if size == n else float("nan")
            print(f"  {which:9s} N = {size:>9,}  {side['seconds']:8.2f} s  epochs {side['epochs']:.2f}  "
                  f"steps {side['iterations']}  peak RSS {side['peak_mb']:6.0f} MB  ELBO {side['elbo']:.10g}  "
                  f"gap to CAVI {100 * gap:.4f}%  {side['status']}")


if __name__ == "__main__":
    main()
