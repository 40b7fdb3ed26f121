"""Many ``python -m vifit`` command lines as real processes, at the cost of a fork each.

    python tests/forkrun.py CASES.json        (cwd: the checkout, as for ``python -m vifit``)

CASES.json is a list of ``{"id": ..., "argv": [...]}``. This process imports vifit's entry point
once (``vifit.__main__``, which installs the signal handlers before click is imported, as at
a real start) and the libraries the commands load, then for each case forks a child that

- has fd 0 on /dev/null (read only) and fds 1 and 2 on files of its own, so what it writes
  to its standard streams, from Python or from C, is what a process started with
  ``capture_output`` would show;
- runs the real entry point ``vifit.__main__.main`` with ``sys.argv`` set, then ends as the
  interpreter would: SystemExit's code is the status, the exit functions run, the standard
  streams are flushed, and the process ends with that status (``os._exit``).

The parent keeps ``--jobs`` children running, waits for each (at most ``--timeout`` seconds;
then it is killed and its status reported as null) and writes one JSON line per case on
stdout, in the order they end:
``{"id", "returncode", "stdout", "stderr"}``, the streams base64-encoded bytes and
returncode as subprocess gives it (negative: ended by that signal).

Threads: the parent never calls a BLAS routine, so no BLAS worker threads run in it when it
forks (measured: fork after ``import numpy`` with OpenBLAS 0.3.31 does not hang either way,
and OpenBLAS's own fork handler restarts its pool in the child); each child is left to
vifit's thread policy (vifit.threads) exactly as a fresh process is.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time

# Libraries the commands import anyway (predict, sample, plot): loaded once here instead of
# once per case. Every vifit module is imported too: with PYTHONDONTWRITEBYTECODE (set on the
# test machine) each process compiles the sources it imports again, 45 of a refused predict's
# 85 ms. (Leaving scipy out, which no refused model reaches, made no measurable difference.)
# Nothing of them runs but their import.
PRELOAD = ("numpy", "scipy.special", "pandas")


def _import_vifit() -> list:
    """Import every module of the vifit package (an optional extra may be missing: those that
    do not import are left to the children); returns their names."""
    import importlib
    import pkgutil

    import vifit

    left = []
    for info in pkgutil.walk_packages(vifit.__path__, "vifit.", onerror=left.append):
        if info.name == "vifit.__main__":
            continue
        try:
            importlib.import_module(info.name)
        except Exception:
            left.append(info.name)
    return left


def _exit_status(code) -> int:
    """The exit status the interpreter gives for ``SystemExit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        sys.stderr.write(f"{code}\n")
    except Exception:
        pass
    return 1


def _child(argv: list, stdout_path: str, stderr_path: str, entry) -> None:
    """Runs in the forked child; never returns."""
    code = 1
    try:
        fds = [os.open(os.devnull, os.O_RDONLY),
               os.open(stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
               os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)]
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as Python sets it at start-up
        sys.argv = [entry.__file__, *argv]
        try:
            entry.main()
            code = 0
        except SystemExit as exc:
            code = _exit_status(exc.code)
        except BaseException:  # what the interpreter would print for an uncaught exception
            import traceback

            traceback.print_exc()
            code = 1
        import atexit

        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None:
                    stream.flush()
            except Exception:
                code = code or 120  # as Py_FinalizeEx when flushing the standard streams fails
    finally:
        os._exit(code)


def _reap(running: dict):
    """Wait for one of the running children (pid -> (case, slot, deadline, pidfd or None));
    returns (pid, returncode, or None when it was killed at its deadline)."""
    while True:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid:
            return pid, os.waitstatus_to_exitcode(status)
        now = time.monotonic()
        late = [p for p, entry in running.items() if entry[2] <= now]
        if late:
            os.kill(late[0], signal.SIGKILL)
            os.waitpid(late[0], 0)
            return late[0], None
        left = min(entry[2] for entry in running.values()) - now
        pidfds = [entry[3] for entry in running.values() if entry[3] is not None]
        if len(pidfds) == len(running):  # readable once the child has ended
            select.select(pidfds, [], [], left)
        else:
            time.sleep(min(left, 0.001))


def _pidfd(pid: int):
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # before Linux 5.3 / Python 3.9: poll instead
        return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("cases")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per case; then it is killed")
    parser.add_argument("--jobs", type=int, default=1, help="children running at once")
    options = parser.parse_args()
    sys.path[0] = os.getcwd()  # as ``python -m vifit``: the current folder first, not tests/
    with open(options.cases) as stream:
        cases = json.load(stream)
    import gc
    import importlib

    entry = importlib.import_module("vifit.__main__")
    for name in PRELOAD:
        importlib.import_module(name)
    _import_vifit()
    gc.collect()
    gc.freeze()  # what the parent holds is not scanned (nor its pages copied) by each child's collector
    out = sys.stdout
    # mkdtemp, not TemporaryDirectory: a child runs the exit functions it inherits, and
    # TemporaryDirectory's would remove the folder under the parent
    folder = tempfile.mkdtemp(prefix="vifit-forkrun-")
    slots = [(os.path.join(folder, f"stdout{i}"), os.path.join(folder, f"stderr{i}"))
             for i in range(max(1, options.jobs))]
    free, running, pending = list(range(len(slots))), {}, list(reversed(cases))
    try:
        while pending or running:
            while pending and free:
                case, slot = pending.pop(), free.pop()
                out.flush()
                sys.stderr.flush()  # nothing buffered here may be written again by a child
                pid = os.fork()
                if pid == 0:
                    _child([str(a) for a in case["argv"]], *slots[slot], entry)
                running[pid] = (case, slot, time.monotonic() + options.timeout, _pidfd(pid))
            pid, code = _reap(running)
            case, slot, _, pidfd = running.pop(pid)
            if pidfd is not None:
                os.close(pidfd)
            with open(slots[slot][0], "rb") as a, open(slots[slot][1], "rb") as b:
                streams = a.read(), b.read()
            free.append(slot)
            out.write(json.dumps({"id": case["id"], "returncode": code,
                                  "stdout": base64.b64encode(streams[0]).decode(),
                                  "stderr": base64.b64encode(streams[1]).decode()}) + "\n")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    out.flush()


def run_cases(cases: list, *, cwd, jobs: int = 2, timeout: float = 120.0) -> dict:
    """Run ``cases`` ([{"id", "argv"}]) through this harness started with ``cwd`` as its current
    folder; returns {id: (returncode, stdout bytes, stderr bytes)}."""
    import subprocess

    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="vifit-cases-", delete=False) as stream:
        json.dump(cases, stream)
    try:
        done = subprocess.run([sys.executable, os.path.abspath(__file__), stream.name, "--jobs", str(jobs),
                               "--timeout", str(timeout)], cwd=cwd, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout + 60 * (1 + len(cases) // 100))
    finally:
        os.unlink(stream.name)
    if done.returncode != 0:
        raise RuntimeError(f"tests/forkrun.py failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    results = {}
    for line in done.stdout.splitlines():
        record = json.loads(line)
        results[record["id"]] = (record["returncode"], base64.b64decode(record["stdout"]),
                                 base64.b64decode(record["stderr"]))
    return results


if __name__ == "__main__":
    main()
