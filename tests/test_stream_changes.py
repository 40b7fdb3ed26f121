"""A file that changes under a streamed SVI fit (rows appended, cut short mid-line, replaced)
is exit 2 naming the file, with the last complete epoch written as "interrupted".

Deterministic without hooks: the fit prints its first exact ELBO (the end of epoch 1) with
--progress json; the test then stops the process (SIGSTOP), changes the file, and lets it go
on (SIGCONT), so the change always lands while the fit still has epochs to read."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

ROWS = 150_000


@pytest.fixture(scope="module")
def rows_text(tmp_path_factory):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 3, size=(3, 2))[rng.integers(0, 3, size=ROWS)] + rng.normal(size=(ROWS, 2))
    path = tmp_path_factory.mktemp("changes") / "rows.csv"
    np.savetxt(path, x, delimiter=",", header="a,b", comments="", fmt="%.4f")
    return path.read_bytes()


def _append(path):
    with open(path, "ab") as handle:
        handle.write(b"1.0,2.0\n" * 1000)


def _truncate_mid_line(path):
    size = os.path.getsize(path)
    text = path.read_bytes()
    cut = text.index(b"\n", size // 3) - 3  # inside a line
    os.truncate(path, cut)


def _replace(path):
    other = path.with_name("other.csv")
    other.write_bytes(path.read_bytes())
    os.replace(other, path)


def _fit_until(path, out, event):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "vifit", "gmm", str(path), "--k", "3", "--method", "svi",
                             "--batch-size", "256", "--epochs", "50", "--tol", "0", "--seed", "1",
                             "--progress", "json", "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env)
    while True:
        line = proc.stderr.readline()
        assert line, "the fit ended before the event"
        if event(line):
            return proc


@pytest.mark.parametrize("change", [_append, _truncate_mid_line, _replace], ids=["append", "truncate", "replace"])
def test_a_change_after_the_first_epoch_is_exit_2_with_that_epoch_written(tmp_path, rows_text, change):
    path, out = tmp_path / "rows.csv", tmp_path / "fit.json"
    path.write_bytes(rows_text)
    proc = _fit_until(path, out, lambda line: b'"exact_elbo"' in line)
    proc.send_signal(signal.SIGSTOP)
    change(path)
    proc.send_signal(signal.SIGCONT)
    _, stderr = proc.communicate(timeout=120)
    errors = [line for line in stderr.decode().splitlines() if line.startswith("vifit: error")]
    assert proc.returncode == 2, stderr.decode()
    assert len(errors) == 1 and errors[0].startswith(f"vifit: error: {path}: the file changed while the fit was "
                                                     f"reading it"), stderr.decode()
    assert "Traceback" not in stderr.decode()
    document = json.loads(out.read_text())
    fit = document["fit"]
    assert fit["status"] == "interrupted" and fit["converged"] is False
    # the last complete epoch of the file as it was: whole epochs, the original rows, its exact ELBO
    assert document["data"]["n_rows"] == ROWS and fit["epochs"] >= 1 and fit["epochs"] == int(fit["epochs"])
    assert fit["trace"][-1] == [fit["n_iter"], fit["elbo"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.json", "rows.csv"]


def test_a_change_in_the_first_epoch_writes_nothing_or_that_epoch(tmp_path, rows_text):
    """Before the first exact ELBO no result can be kept (exit 2, nothing written); the stop may
    land after it (then that epoch is written), but never an exit 0."""
    path, out = tmp_path / "rows.csv", tmp_path / "fit.json"
    path.write_bytes(rows_text)
    proc = _fit_until(path, out, lambda line: b'"event": "progress"' in line)
    proc.send_signal(signal.SIGSTOP)
    _append(path)
    proc.send_signal(signal.SIGCONT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2 and f"{path}: the file changed" in stderr.decode(), stderr.decode()
    if out.exists():
        assert json.loads(out.read_text())["fit"]["status"] == "interrupted"


def test_a_change_in_a_later_restart_keeps_the_best_earlier_one(tmp_path, rows_text):
    path, out = tmp_path / "rows.csv", tmp_path / "fit.json"
    path.write_bytes(rows_text)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "vifit", "gmm", str(path), "--k", "3", "--method", "svi",
                             "--batch-size", "256", "--epochs", "2", "--restarts", "2", "--tol", "0", "--seed", "1",
                             "--progress", "json", "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env)
    while b'"task": "gmm svi restart 2/2"' not in proc.stderr.readline():
        assert proc.poll() is None, "the fit ended before its second restart"
    proc.send_signal(signal.SIGSTOP)
    _append(path)
    proc.send_signal(signal.SIGCONT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2 and f"{path}: the file changed" in stderr.decode(), stderr.decode()
    fit = json.loads(out.read_text())["fit"]
    assert fit["status"] == "interrupted" and fit["best_restart"] == 0 and len(fit["restart_elbos"]) == 1
