"""Loading a whole CSV table into a float64 array: vifit's reader against pandas and pyarrow, in one run.

Contenders, each in its own child process (so its peak RSS is its own), on the same file:
  vifit           ``vifit.data.load_table`` as the fitting commands call it (``fitflow.run_fit``:
                  default ReadOptions, every rule checked, a contiguous (n, d) float64 array);
  pandas          ``pandas.read_csv(path).to_numpy()`` (the C engine; pandas >= 3.1 parses a large
                  local file in byte ranges on up to 6 threads, here 2);
  pandas-1-thread the same with ``mode.max_threads`` 1: the C parser's own time (pandas >= 3.1);
  pandas-pyarrow  ``pandas.read_csv(path, engine="pyarrow").to_numpy()`` (when pyarrow is installed);
  pyarrow         ``pyarrow.csv.read_csv(path)``, its columns copied into one (n, d) float64 array;
  vifit pca       the whole ``vifit pca DATA --k 2`` command (``--commands``; reading, fit and writing).

Cases (``--cases``, N x D): 2,000,000 x 10 (about 245 MB of text) and 200,000 x 300 (about 720 MB).
The data are normal draws times per-column scales from 10 to 0.1, rounded to 9 significant
digits (as ``%.9g`` writes them), written once into a temporary folder (``--data-dir`` or
BENCH_TMP, else the system's); the file is in the page cache for every contender. Time is the
best of ``--repeats`` children (alternating), wall clock and CPU seconds (all threads:
pyarrow parses on several; on a shared machine CPU time moves less with the load); peak RSS is the child's high-water mark, and
"over the imports" its rise above the RSS just before the load. Every contender's array is
hashed: "same values" says whether it is bit-identical to pandas' C engine.

    python benchmarks/bench_load.py [--repeats 3] [--cases 2000000x10,200000x300] [--commands]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

TOOLS = ("vifit", "pandas", "pandas-1-thread", "pandas-pyarrow", "pyarrow")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def peak_rss_mb() -> float:
    """This process's high-water mark (VmHWM: unlike ru_maxrss, not inherited from the parent
    that forked it)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def has_pyarrow() -> bool:
    try:
        importlib.import_module("pyarrow.csv")
    except ImportError:
        return False
    return True


def threaded(pd) -> bool:
    """Whether this pandas has the ``mode.max_threads`` option (its parallel read_csv)."""
    try:
        pd.get_option("mode.max_threads")
    except Exception:  # pandas' OptionError, whose home moved between versions
        return False
    return True


def write_csv(path: str, n: int, d: int, seed: int = 0) -> None:
    """n x d values with 9 significant digits, a header x1..xd, written block by block."""
    rng = np.random.default_rng(seed)
    scales = np.geomspace(10.0, 0.1, d)
    names = [f"x{j + 1}" for j in range(d)]
    block = max(1, 2_000_000 // d)
    with open(path, "w", newline="") as out:
        out.write(",".join(names) + "\n")
        for start in range(0, n, block):
            x = rng.standard_normal((min(block, n - start), d)) * scales
            if has_pyarrow():  # C++ formatting: ~20x faster than Python's; same digits
                import pyarrow as pa
                import pyarrow.csv as pacsv

                exponent = np.floor(np.log10(np.abs(x)))
                scale = 10.0 ** (8 - exponent)  # exact powers of ten here (|exponent| < 14)
                x = np.round(x * scale) / scale  # the double nearest the 9-digit decimal
                sink = pa.BufferOutputStream()
                pacsv.write_csv(pa.table({name: x[:, j] for j, name in enumerate(names)}), sink,
                                pacsv.WriteOptions(include_header=False))
                out.write(sink.getvalue().to_pybytes().decode())
            else:
                out.write("\n".join(",".join(f"{v:.9g}" for v in row) for row in x) + "\n")


def load(tool: str, path: str) -> np.ndarray:
    if tool == "vifit":
        from vifit.data import ReadOptions, load_table

        return load_table(path, ReadOptions(), min_rows=1, require_variation=True).values
    import pandas as pd

    if tool == "pandas":
        return pd.read_csv(path).to_numpy()
    if tool == "pandas-1-thread":  # pandas >= 3.1 parses a large local file on several threads
        with pd.option_context("mode.max_threads", 1):
            return pd.read_csv(path).to_numpy()
    if tool == "pandas-pyarrow":
        return pd.read_csv(path, engine="pyarrow").to_numpy()
    if tool == "pyarrow":
        import pyarrow.csv as pacsv

        table = pacsv.read_csv(path)
        out = np.empty((table.num_rows, table.num_columns))
        for j, column in enumerate(table.columns):
            out[:, j] = column.to_numpy()
        return out
    raise ValueError(tool)


def worker(tool: str, path: str) -> dict:
    # the libraries each contender needs are imported before the clock and the base RSS
    for module in ["vifit.data"] if tool == "vifit" else ["pandas"] + (["pyarrow.csv"] if "arrow" in tool else []):
        importlib.import_module(module)
    base = rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    values = load(tool, path)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = peak_rss_mb()
    values = np.ascontiguousarray(values, dtype=np.float64)
    return {"seconds": seconds, "cpu": cpu, "peak_mb": peak, "over_mb": peak - base, "shape": list(values.shape),
            "array_mb": values.nbytes / 2**20, "sha1": hashlib.sha1(values).hexdigest()}


def run_child(tool: str, path: str) -> dict:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", tool, path],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{tool} failed on {path}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout)


def command(path: str, target: str, report: str) -> None:
    """Run ``vifit pca DATA --k 2 -o target`` as the console script does, then write this
    process's peak RSS to ``report``."""
    from vifit.__main__ import main as vifit_main

    sys.argv = ["vifit", "pca", path, "--k", "2", "-o", target, "--quiet"]
    try:
        vifit_main()
    finally:
        with open(report, "w") as f:
            json.dump({"peak_mb": peak_rss_mb()}, f)


def run_command(path: str, folder: str) -> dict:
    """The whole ``vifit pca DATA --k 2`` command (interpreter start included): wall time and
    the child's peak RSS."""
    target, report = os.path.join(folder, "pca.json"), os.path.join(folder, "pca-peak.json")
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--command", path, target, report],
                         capture_output=True, text=True, cwd=folder)
    seconds, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if out.returncode != 0:
        raise SystemExit(f"vifit pca failed on {path}:\n{out.stderr[-3000:]}")
    with open(report) as f:
        return {"seconds": seconds, "cpu": cpu, **json.load(f)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", default="2000000x10,200000x300")
    parser.add_argument("--commands", action="store_true", help="also time the whole `vifit pca DATA --k 2`")
    parser.add_argument("--data-dir", help="where the CSV files are written (default: a temporary folder)")
    parser.add_argument("--worker", nargs=2, metavar=("TOOL", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--command", nargs=3, metavar=("PATH", "TARGET", "REPORT"), help=argparse.SUPPRESS)
    import contention  # benchmarks/contention.py: --contend N busy processes while measuring

    contention.add_option(parser)
    args = parser.parse_args()
    contention.start(args.contend)
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    if args.command:
        command(*args.command)
        return
    import pandas as pd

    tools = [t for t in TOOLS if ("arrow" not in t or has_pyarrow()) and (t != "pandas-1-thread" or threaded(pd))]

    versions = f"pandas {pd.__version__}, numpy {np.__version__}"
    if has_pyarrow():
        import pyarrow as pa

        versions += f", pyarrow {pa.__version__} ({pa.cpu_count()} threads)"
    print(f"{versions}; {len(os.sched_getaffinity(0))} usable cores; load average at start "
          f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    with tempfile.TemporaryDirectory(dir=args.data_dir or os.environ.get("BENCH_TMP") or None) as folder:
        for case in args.cases.split(","):
            n, d = (int(v) for v in case.split("x"))
            path = os.path.join(folder, f"table-{n}x{d}.csv")
            started = time.perf_counter()
            write_csv(path, n, d)
            print(f"\n{n:,} x {d}: {os.path.getsize(path) / 2**20:,.0f} MB of text, float64 array "
                  f"{n * d * 8 / 2**20:,.0f} MB (written in {time.perf_counter() - started:.1f} s)")
            results: dict[str, list[dict]] = {tool: [] for tool in tools}
            if args.commands:
                results["vifit pca"] = []
            for _ in range(args.repeats):
                for tool in tools:
                    results[tool].append(run_child(tool, path))
                if args.commands:
                    results["vifit pca"].append(run_command(path, folder))
            best = {tool: min(runs, key=lambda r: r["seconds"]) for tool, runs in results.items()}
            reference = best["pandas"]
            cpu = {tool: min(r.get("cpu", float("nan")) for r in runs) for tool, runs in results.items()}
            print(f"  {'contender':<16}{'seconds':>9}{'/ pandas':>10}{'CPU s':>8}{'/ pandas':>10}{'peak RSS MB':>13}"
                  f"{'/ pandas':>10}{'over imports':>14}  same values as pandas")
            for tool, result in best.items():
                peak = max(r["peak_mb"] for r in results[tool])
                over = max(r.get("over_mb", float("nan")) for r in results[tool])
                same = "" if "sha1" not in result else ("yes" if result["sha1"] == reference["sha1"] else "NO")
                print(f"  {tool:<16}{result['seconds']:>9.3f}{result['seconds'] / reference['seconds']:>9.2f}x"
                      f"{cpu[tool]:>8.3f}{cpu[tool] / cpu['pandas']:>9.2f}x"
                      f"{peak:>13,.0f}{peak / reference['peak_mb']:>9.2f}x{over:>14,.0f}  {same}")
            if "pandas-1-thread" in best:
                one = best["pandas-1-thread"]
                print(f"  vifit / pandas-1-thread: {best['vifit']['seconds'] / one['seconds']:.2f}x time, "
                      f"{cpu['vifit'] / cpu['pandas-1-thread']:.2f}x CPU")
            os.remove(path)
    print(f"\nload average at end {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
