"""``--contend N`` for every benchmark: N busy processes competing for the cores while it measures.

Batch jobs share nodes, so a figure measured on a quiet machine says little about the speed a user
sees when a neighbour wakes up (issue 22: a VAE epoch 18x slower with one other busy process,
OpenBLAS's threads spin-waiting for a core that was taken). Each script calls::

    contention.add_option(parser)
    args = parser.parse_args()
    contention.start(args.contend)

and both sides (vifit and its peer, each in its own child process) then run against the same
N pure-Python spin loops. The spinners are stopped when the script ends however it ends: normal
exit, an exception, Ctrl-C (atexit; the spinners, in the same process group, also get the
terminal's SIGINT) or SIGTERM (turned into SystemExit so atexit runs). If the script is killed
outright, each spinner notices its parent is gone (its parent pid changes) and exits within a
fraction of a second, so none is left spinning. A child started by the script (a side) sees
VIFIT_BENCH_CONTENDED and starts no spinners of its own.

The load average and the spinners are reported on stderr at the start and at the end, so a
side's last stdout line stays its JSON result.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import time

MARK = "VIFIT_BENCH_CONTENDED"
# Spin, and leave once re-parented: the benchmark died without stopping us. The parent's pid comes
# as the argument (asking os.getppid() at start would race a parent that died while we started).
SPIN = ("import os, sys\nparent = int(sys.argv[1])\nwhile os.getppid() == parent:\n"
        "    for _ in range(200000):\n        pass\n")


def spinner_command() -> list[str]:
    return [sys.executable, "-c", SPIN, str(os.getpid())]


def add_option(parser) -> None:
    parser.add_argument("--contend", type=int, default=0, metavar="N",
                        help="run N busy processes (pure-Python spin loops) while measuring; "
                             "default 0 (see benchmarks/contention.py)")


def load() -> str:
    try:
        return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


def _say(text: str) -> None:
    print(f"[contention] {text}", file=sys.stderr, flush=True)


def _stop(spinners: list) -> None:
    for process in spinners:
        if process.poll() is None:
            process.terminate()
    for process in spinners:
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def contended(n: int):
    """N spinning processes inside the block (none when n <= 0 or inside a contended run)."""
    if n <= 0 or os.environ.get(MARK):
        yield []
        return
    spinners = []
    saved = os.environ.get(MARK)
    os.environ[MARK] = str(n)  # the sides, started below with this environment, do not contend again
    try:
        spinners.extend(subprocess.Popen(spinner_command(), stdin=subprocess.DEVNULL) for _ in range(n))
        time.sleep(1.0)  # let the spinners reach the run queue before the clock starts
        _say(f"{n} busy process(es) {[p.pid for p in spinners]} started; {load()}")
        yield spinners
    finally:
        _stop(spinners)
        if saved is None:
            os.environ.pop(MARK, None)
        _say(f"{len(spinners)} busy process(es) stopped; {load()}")


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


def start(n: int) -> None:
    """Contend with N processes until this script exits (the whole run is the measurement)."""
    if os.environ.get(MARK):
        return
    if n <= 0:
        _say(f"no contention; {load()}")
        return
    stack = contextlib.ExitStack()
    stack.enter_context(contended(n))
    atexit.register(stack.close)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate)
