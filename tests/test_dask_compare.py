"""``vifit compare --backend dask``: each candidate one task on a Dask cluster, the document the
local ``--jobs 1`` run writes (bit for bit, apart from run); bad input refused before connecting,
or, raised on a worker, one line. One LocalCluster of 2 worker processes, shared by the module
(as tests/test_dask.py's)."""

from __future__ import annotations

import json

import pytest

from conftest import SAMPLE, invoke, run_subprocess

distributed = pytest.importorskip("distributed")
pytest.importorskip("dask")

from vifit.distributed import cluster  # noqa: E402

IRIS = SAMPLE / "iris.csv"
# a mixture, a PPCA and a float32 network: every kind of score, and BLAS in both precisions
MODELS = "gmm:k=1-2:covariance=full,diag;pca:k=1,2;vae:latent=2:hidden=8:epochs=3"


@pytest.fixture(scope="module")
def address():
    local = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                     scheduler_kwargs={"dashboard_address": ":0"})  # not 8787: it may be taken
    try:
        yield local.scheduler_address
    finally:
        local.close()


def _document(args):
    result = invoke(["compare", IRIS, "--models", MODELS, "--seed", "4", "--standardize", "-q", *args])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_compare_on_the_cluster_is_the_local_jobs_1_document(address):
    local = _document(["--jobs", "1"])
    remote = _document(["--backend", "dask", "--scheduler", address])
    local_run, remote_run = local.pop("run"), remote.pop("run")
    assert remote == local  # every figure equal as floats, so equal to the last bit
    assert [entry["name"] for entry in remote["candidates"]] == [entry["name"] for entry in local["candidates"]]
    assert len(remote["candidates"]) == 7 and remote["best"] is not None
    assert remote_run["backend"] == "dask" and remote_run["workers"] == 2 and "jobs" not in remote_run
    assert set(remote_run["candidate_seconds"]) == set(local_run["candidate_seconds"])
    assert local_run["jobs"] == 1 and "backend" not in local_run


def test_the_python_compare_on_the_cluster_is_the_local_one(address):
    import pandas as pd

    import vifit

    frame = pd.read_csv(IRIS).drop(columns="species")
    local = vifit.compare(frame, "pca:k=1,2", seed=4)
    remote = vifit.compare(frame, "pca:k=1,2", seed=4, backend="dask", scheduler=address)
    assert remote.pop("run")["backend"] == "dask" and local.pop("run")["jobs"] == 1
    assert remote == local
    with pytest.raises(ValueError, match="need --backend dask"):
        vifit.compare(frame, "pca:k=1", scheduler=address)


def test_a_bad_candidate_option_is_refused_before_connecting(address, monkeypatch, tmp_path):
    def no_connection(*args, **kwargs):
        raise AssertionError("connected before the candidates were checked")

    monkeypatch.setattr(cluster, "connect", no_connection)
    out = tmp_path / "ranking.json"
    result = invoke(["compare", IRIS, "--models", "pca:k=2;gmm:kk=2", "--backend", "dask", "--scheduler", address,
                     "-o", out])
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert "gmm has no option 'kk'" in result.stderr and not out.exists()


def test_bad_input_raised_on_a_worker_is_one_line_and_exit_2(address, tmp_path):
    """pca:k=9 passes the candidates' check (it needs the data) and fails in the worker's fit:
    the BadInput comes back as itself, one line naming the candidate, nothing written."""
    out = tmp_path / "ranking.json"
    done = run_subprocess(["compare", IRIS, "--models", "pca:k=1;pca:k=9", "--backend", "dask",
                           "--scheduler", address, "-q", "-o", out])
    stderr = done.stderr.decode()
    assert done.returncode == 2, stderr
    assert len(stderr.strip().splitlines()) == 1 and stderr.startswith("vifit: error: pca:k=9: "), stderr
    assert "Traceback" not in stderr and not out.exists()


def test_losing_every_worker_mid_comparison_is_one_line_exit_1(tmp_path):
    """The workers go while a candidate is being fitted, and the rows sent to them with them:
    nothing can recompute scattered rows, so the run ends at once (not after --worker-wait) with
    one line naming the cluster, exit 1 as the Dask commands' lost workers, nothing written."""
    import logging
    import os
    import subprocess
    import sys

    from conftest import ROOT

    own = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                   scheduler_kwargs={"dashboard_address": ":0"}, silence_logs=logging.CRITICAL)
    try:
        out = tmp_path / "ranking.json"
        proc = subprocess.Popen([sys.executable, "-m", "vifit", "compare", str(IRIS), "--models",
                                 "vae:latent=2:hidden=8:epochs=100000:patience=100000:tol=0", "--backend", "dask",
                                 "--scheduler", own.scheduler_address, "-o", str(out)],
                                stderr=subprocess.PIPE, cwd=ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        while b"sent the rows to 1 worker(s)" not in proc.stderr.readline():
            assert proc.poll() is None, "compare ended before its task was submitted"
        own.scale(0)
        _, stderr = proc.communicate(timeout=120)
    finally:
        own.close()
    errors = [line for line in stderr.decode().splitlines() if line.startswith("vifit: error")]
    assert proc.returncode == 1, stderr.decode()
    assert errors == [f"vifit: error: the Dask cluster at {own.scheduler_address} lost every worker holding the "
                      f"rows sent to it, and the rows with them, so the comparison cannot go on (start workers "
                      f"again and rerun)"], stderr.decode()
    assert b"Traceback" not in stderr and not out.exists()


def test_a_task_whose_workers_kept_dying_is_a_system_failure_naming_the_cluster():
    from types import SimpleNamespace

    from distributed import KilledWorker

    from vifit.distributed.candidates import _lost
    from vifit.errors import BadInput, SystemFailure

    client = SimpleNamespace(scheduler=SimpleNamespace(address="tcp://10.0.0.1:8786"))
    lost = _lost(KilledWorker("fit_and_score-1", None, 3), client)
    assert isinstance(lost, SystemFailure) and "the Dask cluster at tcp://10.0.0.1:8786" in str(lost)
    bad = BadInput("pca:k=9: too many components")
    assert _lost(bad, client) is bad  # bad input stays itself: exit 2
