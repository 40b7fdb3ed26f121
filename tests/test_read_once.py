"""DATA that can be read only once (a named FIFO, bash's process substitution ``<(...)``) is
read as stdin is: SVI streams it once (one online pass, its rows spooled for the exact ELBO)
and gives stdin's result; commands that read DATA twice copy it first; what needs a second
pass over the data, or a path for Dask workers, is exit 2 naming the input."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import ROOT, run_subprocess

SVI = ["gmm", "--k", "3", "--method", "svi", "--batch-size", "200", "--seed", "3", "-q"]


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory):
    rng = np.random.default_rng(2)
    x = rng.normal(0, 3, size=(3, 2))[rng.integers(0, 3, size=2000)] + rng.normal(size=(2000, 2))
    path = tmp_path_factory.mktemp("once") / "d.csv"
    np.savetxt(path, x, delimiter=",", header="a,b", comments="", fmt="%.6f")
    return path


def _fit_part(stdout: bytes) -> dict:
    document = json.loads(stdout)
    return {"params": document["params"], "fit": document["fit"], "n_rows": document["data"]["n_rows"]}


def _fifo_feeding(tmp_path, payload: bytes):
    """A FIFO and the thread that writes payload into it once a reader opens it."""
    fifo = tmp_path / "rows.csv"
    os.mkfifo(fifo)

    def feed():
        with open(fifo, "wb") as writer:  # blocks until vifit opens the FIFO
            writer.write(payload)

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return fifo, thread


def _bash(command_line: str):
    return subprocess.run(["bash", "-c", command_line], capture_output=True, cwd=ROOT, timeout=300)


def _vifit(*args) -> str:
    return " ".join([shlex.quote(sys.executable), "-m", "vifit", *args])


def test_svi_on_a_fifo_is_read_once_and_gives_the_stdin_result(tmp_path, csv_file):
    reference = run_subprocess([SVI[0], "-", *SVI[1:]], input=csv_file.read_bytes())
    assert reference.returncode == 0, reference.stderr.decode()
    fifo, feeder = _fifo_feeding(tmp_path, csv_file.read_bytes())
    done = run_subprocess([SVI[0], fifo, *SVI[1:]])
    feeder.join(timeout=10)
    assert done.returncode == 0, done.stderr.decode()
    assert _fit_part(done.stdout) == _fit_part(reference.stdout)
    assert _fit_part(done.stdout)["n_rows"] == 2000


def test_svi_on_process_substitution_gives_the_stdin_result(csv_file):
    reference = run_subprocess([SVI[0], "-", *SVI[1:]], input=csv_file.read_bytes())
    done = _bash(_vifit(SVI[0], f"<(cat {shlex.quote(str(csv_file))})", *SVI[1:]))
    assert done.returncode == 0, done.stderr.decode()
    assert _fit_part(done.stdout) == _fit_part(reference.stdout)


@pytest.mark.parametrize("args", [["pca", "--k", "1"], ["gmm", "--k", "2", "--max-iter", "20"],
                                  ["gmm", "--k", "2", "--method", "svi", "--no-stream", "--epochs", "2"]],
                         ids=["pca", "gmm", "svi-in-memory"])
def test_fits_from_process_substitution_equal_the_file_fit(csv_file, args):
    quoted = shlex.quote(str(csv_file))
    from_file = run_subprocess([args[0], csv_file, *args[1:], "--seed", "1", "-q"])
    done = _bash(_vifit(args[0], f"<(cat {quoted})", *args[1:], "--seed", "1", "-q"))
    assert done.returncode == from_file.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["params"] == json.loads(from_file.stdout)["params"]


def test_predict_and_plot_colour_read_process_substitution(tmp_path, csv_file):
    pytest.importorskip("matplotlib")
    model = tmp_path / "gmm.json"
    assert run_subprocess(["gmm", csv_file, "--k", "2", "--seed", "1", "-q", "-o", model]).returncode == 0
    quoted, model_q = shlex.quote(str(csv_file)), shlex.quote(str(model))
    predicted = _bash(_vifit("predict", model_q, f"<(cat {quoted})"))
    assert predicted.returncode == 0, predicted.stderr.decode()
    assert predicted.stdout == run_subprocess(["predict", model, csv_file]).stdout
    figure = tmp_path / "fig.png"
    # --color-by reads DATA twice; it applies to a pca (a gmm plot colours by cluster)
    model = tmp_path / "pca.json"
    assert run_subprocess(["pca", csv_file, "--k", "2", "-q", "-o", model]).returncode == 0
    model_q = shlex.quote(str(model))
    plotted = _bash(_vifit("plot", model_q, f"<(cat {quoted})", "--color-by", "a", "-o", shlex.quote(str(figure))))
    assert plotted.returncode == 0, plotted.stderr.decode()
    assert figure.read_bytes().startswith(b"\x89PNG")
    figure.unlink()
    from_stdin = run_subprocess(["plot", model, "-", "--color-by", "a", "-o", figure], input=csv_file.read_bytes())
    assert from_stdin.returncode == 0, from_stdin.stderr.decode()
    assert figure.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("extra,message", [
    (["--method", "svi", "--standardize"], "--standardize needs an extra pass over the data, which {} "
                                           "(not a regular file) cannot give"),
    (["--method", "svi", "--restarts", "2"], "--restarts needs a regular file: {} (not a regular file) "
                                             "can be read only once"),
    (["--backend", "dask"], "{}: --backend dask reads DATA on the workers by its path"),
], ids=["standardize", "restarts", "dask"])
def test_what_needs_a_second_pass_is_exit_2_naming_the_fifo(tmp_path, csv_file, extra, message):
    fifo, feeder = _fifo_feeding(tmp_path, csv_file.read_bytes())
    out = tmp_path / "fit.json"
    done = run_subprocess(["gmm", fifo, "--k", "2", *extra, "-o", out])
    if feeder.is_alive():  # vifit refused before opening the FIFO: let the feeder go
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and message.format(fifo) in lines[0], lines
    assert not out.exists()
