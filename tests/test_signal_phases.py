"""Two signals 20 ms apart end with 130 (SIGINT) / 143 (SIGTERM) wherever they land: while the
data is being read (before any fit), during the fit, and while the result is being written.

Each point is reached deterministically, not by timing: the data is a FIFO whose writer's
open returns only once vifit has opened it (vifit is then reading, its handlers in place);
the fit has printed progress; the result is written to a stdout pipe shrunk to one page, so
once its first byte has arrived the writer is blocked with most of the document still to go.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import ROOT

SIGNALS = [(signal.SIGINT, 130), (signal.SIGTERM, 143)]
IDS = ["INT", "TERM"]


def _start(args):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "vifit", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT, env=env)


def _twice(proc, signum):
    proc.send_signal(signum)
    time.sleep(0.02)
    proc.send_signal(signum)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Rows that need many CAVI sweeps at k = 12 (a document of about 20 KB)."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1.5, size=(12, 4))[rng.integers(0, 12, size=20_000)] + rng.normal(size=(20_000, 4))
    path = tmp_path_factory.mktemp("phases") / "d.csv"
    np.savetxt(path, x, delimiter=",", header="a,b,c,d", comments="", fmt="%.5f")
    return path


def _progress_lines(proc, count):
    seen = 0
    while seen < count:
        line = proc.stderr.readline()
        assert line, "the fit ended before printing progress"
        seen += b'"event": "progress"' in line


@pytest.mark.parametrize("signum,code", SIGNALS, ids=IDS)
@pytest.mark.parametrize("method", ["cavi", "svi"])
def test_while_reading_the_data(tmp_path, signum, code, method):
    fifo = tmp_path / "rows.csv"
    os.mkfifo(fifo)
    out = tmp_path / "fit.json"
    proc = _start(["gmm", fifo, "--k", "2", "--method", method, "-o", out])
    opened = []
    opener = threading.Thread(target=lambda: opened.append(os.open(fifo, os.O_WRONLY)), daemon=True)
    opener.start()
    opener.join(timeout=60)  # returns once vifit has opened the FIFO for reading
    assert opened, "vifit never opened the FIFO"
    os.write(opened[0], b"a,b\n1,2\n")  # a first row, and the rest never comes
    _twice(proc, signum)
    _, stderr = proc.communicate(timeout=60)
    os.close(opened[0])
    assert proc.returncode == code, stderr.decode()
    assert b"Traceback" not in stderr and b"interrupted" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv"]


@pytest.mark.parametrize("signum,code", SIGNALS, ids=IDS)
@pytest.mark.parametrize("method", ["cavi", "svi"])
def test_during_the_fit(tmp_path, data, signum, code, method):
    out = tmp_path / "fit.json"
    extra = ["--max-iter", "100000"] if method == "cavi" else ["--epochs", "1000", "--batch-size", "256"]
    proc = _start(["gmm", data, "--k", "12", "--tol", "0", "--method", method, *extra, "--seed", "1",
                   "--progress", "json", "-o", out])
    _progress_lines(proc, 2)
    _twice(proc, signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr.decode()
    assert b"Traceback" not in stderr
    assert [p.name for p in tmp_path.iterdir()] in ([], ["fit.json"])  # never a temporary file
    if out.exists():  # the loop stopped and wrote before the second signal came
        assert json.loads(out.read_text())["fit"]["status"] == "interrupted"


@pytest.mark.parametrize("signum,code", SIGNALS, ids=IDS)
def test_while_writing_the_result(tmp_path, data, signum, code):
    proc = _start(["gmm", data, "--k", "12", "--tol", "0", "--max-iter", "100000", "--seed", "1",
                   "--progress", "json"])
    fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, 4096)
    _progress_lines(proc, 2)
    proc.send_signal(signum)  # the loop stops and writes the best result to stdout
    assert proc.stdout.read(1) == b"{"  # writing has begun; about 20 KB of it cannot fit the pipe
    _twice(proc, signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr.decode()
    assert b"Traceback" not in stderr and b"second signal" in stderr


@pytest.mark.parametrize("signum,code", SIGNALS, ids=IDS)
@pytest.mark.parametrize("delay", [0.1, 0.3, 0.6, 1.2])
@pytest.mark.parametrize("command", ["vae", "sample"])
def test_two_signals_at_any_moment_of_start_up_or_fit_exit_with_the_signals_code(data, tmp_path, signum, code,
                                                                               delay, command):
    """vae runs with numpy's BLAS worker threads (gmm pins BLAS to one): a late signal delivered
    to one of them during Python's shutdown, where the default actions are back, used to kill
    the process by the signal (-2 / -15). sample has no fit at all."""
    if command == "sample":
        model = tmp_path / "pca.json"
        assert subprocess.run([sys.executable, "-m", "vifit", "pca", data, "--k", "2", "-q", "-o", model],
                              cwd=ROOT).returncode == 0
        args = ["sample", model, "-n", 50_000_000, "--seed", 1, "-o", tmp_path / "s.csv"]
    else:
        args = ["vae", data, "--epochs", 5000, "--patience", 2000, "--seed", 1, "-q", "-o", tmp_path / "v.json"]
    proc = _start(args)
    time.sleep(delay)
    _twice(proc, signum)
    _, stderr = proc.communicate(timeout=120)
    assert b"Traceback" not in stderr and b"internal error" not in stderr, stderr.decode()
    if proc.returncode == -signum:
        # only a signal that came before Python reached vifit's first line (a very slow start
        # on a loaded machine) may act by default: then vifit has printed nothing at all
        assert stderr == b"", stderr.decode()
    else:
        assert proc.returncode == code, stderr.decode()
    assert not list(tmp_path.glob(".*.tmp")), "a partial file was left behind"


def test_deferred_holds_a_signal_until_the_block_ends(monkeypatch):
    """deferred() is a flag the handler reads, not a per-thread signal mask (a signal can reach
    a BLAS worker thread, and Python then runs the handler in the main thread at once)."""
    from vifit import interrupt

    monkeypatch.setattr(interrupt._state, "phase", "start")
    monkeypatch.setattr(interrupt._state, "installed", False)
    reached = []
    with pytest.raises(SystemExit) as stopped:
        with interrupt.deferred():
            interrupt._handler(signal.SIGTERM, None)  # as if delivered inside the block
            reached.append("end of block")
    assert reached == ["end of block"] and stopped.value.code == 143
    assert not interrupt._state.holding and interrupt._state.held_signum is None


_IN_A_CALLBACK = """
import os, signal, sys
from vifit import interrupt
interrupt.install()
temporary = sys.argv[1]
open(temporary, "w").close()
interrupt.holding_temporary(temporary)

class Dropped:
    def __del__(self):  # Python cannot raise from here: it calls sys.unraisablehook
        interrupt._handler(signal.{name}, None)

Dropped()
print("went on", flush=True)
"""


@pytest.mark.parametrize("name,code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_handled_where_python_cannot_raise_still_exits_with_its_code(tmp_path, name, code):
    """The handler's exit raised inside a callback (a __del__ here; an import lock's weakref
    callback in a real start-up, seen once in this file's two-signal test): no 'Exception
    ignored' traceback, the signal's code, the writer's temporary file removed, and the program
    does not go on."""
    temporary = tmp_path / ".out.json.123.tmp"
    done = subprocess.run([sys.executable, "-c", _IN_A_CALLBACK.replace("{name}", name), str(temporary)],
                          capture_output=True, cwd=ROOT, timeout=60)
    assert done.returncode == code, done.stderr
    assert b"Traceback" not in done.stderr and b"Exception ignored" not in done.stderr, done.stderr
    assert b"interrupted" in done.stderr and b"went on" not in done.stdout
    assert not temporary.exists()
