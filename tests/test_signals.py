"""Signals and checkpoints with real processes.

SIGINT/SIGTERM stop a fit at the end of the current iteration or epoch, write the best
result so far marked "interrupted" (exit 130 / 143); a second signal exits at once with no
partial file; --resume continues from a checkpoint to the same result as an uninterrupted
run with the same seed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ROOT

from vifit import checkpoint

# command -> options for a fit long enough to be interrupted (but bounded)
LONG_FIT = {
    "gmm": ["--k", "12", "--tol", "0", "--max-iter", "400", "--covariance", "full"],
    "gmm-svi": ["--k", "12", "--method", "svi", "--batch-size", "256", "--epochs", "400", "--tol", "0"],
    "autoencoder": ["--hidden", "16,4", "--epochs", "400", "--batch-size", "64"],
    "vae": ["--hidden", "16", "--latent", "2", "--epochs", "400", "--batch-size", "64"],
}
# command -> options for a resumable run that finishes in a few seconds (SVI: its own test below)
RESUMABLE = {
    "gmm": ["--k", "12", "--tol", "0", "--max-iter", "60"],
    "vae": ["--hidden", "16", "--latent", "2", "--epochs", "12", "--batch-size", "64"],
}
# 40,000 rows in batches of 512: 78 steps an epoch, a checkpoint at each epoch's end
SVI_RESUMABLE = ["--k", "12", "--method", "svi", "--batch-size", "512", "--epochs", "6", "--tol", "0"]
SVI_STEPS_PER_EPOCH = 40_000 // 512


def _command(name):
    return name.split("-")[0]


@pytest.fixture(scope="module")
def overlapping(tmp_path_factory):
    """Rows from 15 overlapping clusters: CAVI needs many sweeps, networks many epochs."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1.5, size=(15, 6))
    labels = rng.integers(0, 15, size=40_000)
    x = centres[labels] + rng.normal(size=(40_000, 6))
    path = tmp_path_factory.mktemp("signals") / "overlap.csv"
    np.savetxt(path, x, delimiter=",", header=",".join(f"c{j}" for j in range(6)), comments="", fmt="%.6f")
    return path


def _start(args, tmp_path):
    # cwd is tmp_path, so the checkout's vifit comes first through PYTHONPATH (not whatever
    # copy an editable install points at): the resumed run, from ROOT, must run the same code
    path = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=path)
    return subprocess.Popen([sys.executable, "-m", "vifit", *map(str, args), "--progress", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, env=env)


def _wait_for_progress(proc, steps):
    """Read stderr until `steps` progress events were seen; returns the lines read."""
    seen, lines = 0, []
    deadline = time.monotonic() + 120
    while seen < steps and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if b'"event": "progress"' in line:
            seen += 1
    assert seen >= steps, b"".join(lines).decode()
    return lines


def _available(name):
    from vifit.cli import _available as present

    return present(_command(name))


@pytest.mark.parametrize("name", sorted(LONG_FIT))
@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["INT", "TERM"])
def test_first_signal_writes_best_result_marked_interrupted(tmp_path, overlapping, name, signum, code):
    if not _available(name):
        pytest.fail(f"command {_command(name)} is missing")
    out = tmp_path / "fit.json"
    proc = _start([_command(name), overlapping, *LONG_FIT[name], "--seed", "1", "-o", out], tmp_path)
    _wait_for_progress(proc, 3)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr.decode()
    document = json.loads(out.read_text())
    assert document["fit"]["status"] == "interrupted" and document["fit"]["converged"] is False
    assert b"Traceback" not in stderr and b"interrupted" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.json"]


@pytest.mark.parametrize("name", ["gmm", "autoencoder"])
@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["INT", "TERM"])
def test_second_signal_exits_at_once_without_a_file(tmp_path, overlapping, name, signum, code):
    out = tmp_path / "fit.json"
    previous = b"an earlier result, to be left alone\n"
    out.write_bytes(previous)
    proc = _start([_command(name), overlapping, *LONG_FIT[name], "--seed", "1", "-o", out], tmp_path)
    _wait_for_progress(proc, 2)
    proc.send_signal(signum)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr.decode()
    assert b"Traceback" not in stderr
    # no temporary file left beside the output
    assert [p.name for p in tmp_path.iterdir()] == ["fit.json"]
    # the two signals may straddle the end of an iteration: then the complete result was
    # written before the second arrived; otherwise the existing file is untouched. Never partial.
    if out.read_bytes() != previous:
        assert json.loads(out.read_text())["fit"]["status"] == "interrupted"
    else:
        assert b"second signal" in stderr


@pytest.mark.parametrize("name", sorted(RESUMABLE))
def test_resume_gives_the_uninterrupted_result(tmp_path, overlapping, name):
    if not _available(name):
        pytest.fail(f"command {_command(name)} is missing")
    args = [_command(name), overlapping, *RESUMABLE[name], "--seed", "4"]
    reference = subprocess.run([sys.executable, "-m", "vifit", *map(str, args), "-q"], capture_output=True,
                               cwd=ROOT, timeout=300)
    assert reference.returncode == 0, reference.stderr.decode()

    ckpt, partial = tmp_path / "fit.ckpt", tmp_path / "partial.json"
    proc = _start([*args, "-o", partial, "--checkpoint", ckpt, "--checkpoint-every", "0.000001"], tmp_path)
    _wait_for_progress(proc, 3)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode == 143 and ckpt.exists()

    resumed = subprocess.run([sys.executable, "-m", "vifit", *map(str, args), "-q", "--resume", ckpt],
                             capture_output=True, cwd=ROOT, timeout=300)
    assert resumed.returncode == 0, resumed.stderr.decode()
    first, second = json.loads(reference.stdout), json.loads(resumed.stdout)
    first.pop("run"), second.pop("run")
    assert first == second


def _outside_run_block(text: bytes) -> bytes:
    """The output document without its "run" block (start time, seconds: differ between runs)."""
    cut, count = re.subn(rb'\n  "run": \{\n(?:    .*\n)*  \}', b"", text)
    assert count == 1, text[-400:]
    return cut


def test_svi_resume_continues_from_a_later_epoch_to_the_uninterrupted_result(tmp_path, overlapping):
    """SVI checkpoints at epoch ends: interrupt after one, so the resumed run starts later."""
    args = ["gmm", overlapping, *SVI_RESUMABLE, "--seed", "4"]
    reference = subprocess.run([sys.executable, "-m", "vifit", *map(str, args), "-q"], capture_output=True,
                               cwd=ROOT, timeout=300)
    assert reference.returncode == 0, reference.stderr.decode()

    ckpt, partial = tmp_path / "fit.ckpt", tmp_path / "partial.json"
    proc = _start([*args, "-o", partial, "--checkpoint", ckpt, "--checkpoint-every", "0.000001"], tmp_path)
    lines = []
    while not any(b'"exact_elbo"' in line for line in lines):  # the first epoch's end
        lines += _wait_for_progress(proc, 1)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode == 143 and ckpt.exists()
    saved = checkpoint.load(str(ckpt), "gmm-svi")["state"]
    assert saved["epoch"] >= 1 and saved["step"] == saved["epoch"] * SVI_STEPS_PER_EPOCH

    resumed = subprocess.run([sys.executable, "-m", "vifit", *map(str, args), "--progress", "json",
                              "--resume", ckpt], capture_output=True, cwd=ROOT, timeout=300)
    assert resumed.returncode == 0, resumed.stderr.decode()
    progress = [json.loads(line) for line in resumed.stderr.splitlines() if line.startswith(b"{")]
    steps = [event["step"] for event in progress if event.get("event") == "progress"]
    assert steps[0] == saved["step"] + 1  # not a fresh run from step 1
    assert _outside_run_block(resumed.stdout) == _outside_run_block(reference.stdout)


def test_resume_refuses_a_checkpoint_of_another_command_line(tmp_path, overlapping):
    ckpt = tmp_path / "fit.ckpt"
    proc = _start(["gmm", overlapping, *RESUMABLE["gmm"], "--seed", "4", "--checkpoint", ckpt,
                   "--checkpoint-every", "0.000001", "-o", tmp_path / "a.json"], tmp_path)
    _wait_for_progress(proc, 3)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    other = subprocess.run([sys.executable, "-m", "vifit", "gmm", str(overlapping), *RESUMABLE["gmm"], "--seed", "5",
                            "--resume", str(ckpt), "-o", str(tmp_path / "b.json")], capture_output=True, timeout=120)
    assert other.returncode == 2 and b"same command line" in other.stderr
    assert not (tmp_path / "b.json").exists()


def _pool_workers(pid: int) -> list[int]:
    """The pids of the spawned multiprocessing workers whose parent is ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read()
        except (OSError, ValueError, IndexError):
            continue
        if parent == pid and b"spawn_main" in command:
            found.append(int(entry))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the pool's workers")
@pytest.mark.parametrize("signum,code,target", [(signal.SIGINT, 130, "group"), (signal.SIGTERM, 143, "group"),
                                                (signal.SIGTERM, 143, "parent")],
                         ids=["INT-group", "TERM-group", "TERM-parent"])
def test_a_jobs_grid_stops_at_once_on_a_signal(tmp_path, overlapping, signum, code, target):
    """--jobs 2: a Ctrl-C (SIGINT to the terminal's process group), a batch system's SIGTERM to the
    job's processes, or a SIGTERM to vifit alone stops the fits under way after their current
    sweep, and the best result so far is written marked interrupted, with no worker left. Before,
    the workers ignored SIGINT and the run went on until every candidate was fitted (a grid of
    ~100 s ended 197 s after the signal on the benchmark file), and a SIGTERM to the group
    killed a worker and left the pool waiting for its task for ever."""
    out = tmp_path / "grid.json"
    path = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=path)
    # four candidates of 10 restarts on two jobs: about 60 s if nothing stops them (8 s with one restart)
    proc = subprocess.Popen([sys.executable, "-m", "vifit", "gmm", str(overlapping), "--k", "9-12", "--jobs", "2",
                             "--tol", "0", "--max-iter", "3000", "--restarts", "10", "--seed", "1", "--progress", "none",
                             "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, env=env,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while len(_pool_workers(proc.pid)) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    workers = _pool_workers(proc.pid)
    assert len(workers) == 2
    time.sleep(3)  # the workers import vifit and start their fits
    assert proc.poll() is None
    sent = time.monotonic()
    if target == "group":
        os.killpg(proc.pid, signum)
    else:
        proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr.decode()
    assert time.monotonic() - sent < 15, stderr.decode()  # a sweep here takes milliseconds
    assert b"Traceback" not in stderr and b"interrupted" in stderr
    document = json.loads(out.read_text())
    assert document["fit"]["status"] == "interrupted"
    assert [p.name for p in tmp_path.iterdir()] == ["grid.json"]
    for worker in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(worker, 0)
