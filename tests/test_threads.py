"""The thread policy: decided from the environment at the command edge (vifit.threads), passed
to the row passes as a number (inference.passes.default_workers reads no environment)."""

from __future__ import annotations

from vifit import threads
from vifit.inference.passes import MAX_WORKERS, default_workers


def _clear(monkeypatch):
    for var in (*threads.BLAS_VARIABLES, threads.PINNED_MARK):
        monkeypatch.delenv(var, raising=False)


def test_default_workers_takes_the_count_it_is_given(monkeypatch):
    _clear(monkeypatch)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # not read here: only the argument counts
    assert default_workers(1) == 1
    assert default_workers(100) == MAX_WORKERS
    assert default_workers(None) == default_workers(0) >= 1


def test_requested_threads_skips_vifits_own_blas_pin(monkeypatch):
    _clear(monkeypatch)
    assert threads.requested_threads() is None
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert threads.requested_threads() == 1  # the user's setting
    monkeypatch.setenv(threads.PINNED_MARK, "1")
    assert threads.requested_threads() is None  # vifit gmm's pin, not the user's
    monkeypatch.setenv("MKL_NUM_THREADS", "2")
    assert threads.requested_threads() == 2 and threads.row_threads() == 2


# --- the cores this process may use -------------------------------------------------------------

def _write(folder, files: dict):
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def test_cgroup_v2_quota_in_cores(tmp_path):
    assert threads.cgroup_cpu_limit(_write(tmp_path / "a", {"cpu.max": "max 100000\n"}), tmp_path / "x") is None
    assert threads.cgroup_cpu_limit(_write(tmp_path / "b", {"cpu.max": "150000 100000\n"}), tmp_path / "x") == 1.5
    assert threads.cgroup_cpu_limit(_write(tmp_path / "c", {"cpu.max": "400000 100000\n"}), tmp_path / "x") == 4.0


def test_cgroup_v2_quota_of_this_process_own_cgroup(tmp_path):
    root = _write(tmp_path / "fs", {"cpu.max": "max 100000\n", "job.slice/step.scope/cpu.max": "200000 100000\n"})
    proc = _write(tmp_path, {"cgroup": "0::/job.slice/step.scope\n"}) / "cgroup"
    assert threads.cgroup_cpu_limit(root, proc) == 2.0
    assert threads.cgroup_cpu_limit(root, tmp_path / "no-proc") is None  # the root's: unlimited


def test_cgroup_v1_quota_in_cores(tmp_path):
    v1 = _write(tmp_path / "v1", {"cpu/cpu.cfs_quota_us": "250000\n", "cpu/cpu.cfs_period_us": "100000\n"})
    assert threads.cgroup_cpu_limit(v1) == 2.5
    unlimited = _write(tmp_path / "u", {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"})
    assert threads.cgroup_cpu_limit(unlimited) is None
    assert threads.cgroup_cpu_limit(tmp_path / "nothing-here") is None


def test_usable_cores_is_the_smallest_of_affinity_quota_and_slurm(tmp_path):
    quota = _write(tmp_path / "q", {"cpu.max": "150000 100000\n"})  # 1.5 cores: 1 thread
    none = tmp_path / "none"
    assert threads.usable_cores({}, none, affinity=8) == 8
    assert threads.usable_cores({}, quota, affinity=8) == 1
    assert threads.usable_cores({"SLURM_CPUS_PER_TASK": "3"}, none, affinity=8) == 3
    assert threads.usable_cores({"SLURM_CPUS_PER_TASK": "16"}, none, affinity=4) == 4  # the mask binds
    assert threads.usable_cores({"SLURM_CPUS_PER_TASK": "junk"}, none, affinity=4) == 4


def test_usable_cores_follows_the_affinity_mask():
    import os

    mask = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(mask)})
        assert threads.usable_cores({}, "/nonexistent") == 1
    finally:
        os.sched_setaffinity(0, mask)
    assert threads.usable_cores({}, "/nonexistent") == len(mask)


def test_plan_user_variables_win_over_cores_and_load():
    # PCA: BLAS on the cores when quiet, on 1 thread when busy, on the user's count always
    assert threads.plan("gemm", environ={}, cores=2, load=0.2).blas == 2
    busy = threads.plan("gemm", environ={}, cores=2, load=2.5)
    assert (busy.blas, busy.source) == (1, "busy")
    assert threads.plan("gemm", environ={"OMP_NUM_THREADS": "2"}, cores=2, load=5.0).blas == 2
    assert threads.plan("gemm", environ={"VIFIT_THREADS": "3", "OMP_NUM_THREADS": "2"}, cores=2, load=0).blas == 3
    assert threads.plan("gemm", threads=4, environ={"VIFIT_THREADS": "3"}, cores=2, load=0).blas == 4
    # the networks: 1 BLAS thread whatever the load (their weights depend on it), unless asked
    assert threads.plan("networks", environ={}, cores=4, load=0.0).blas == 1
    assert threads.plan("networks", environ={"MKL_NUM_THREADS": "2"}, cores=4, load=9.0).blas == 2
    # the mixtures: BLAS on 1 thread, row threads on the cores or the user's count
    rows = threads.plan("rows", environ={}, cores=2, load=9.0)
    assert (rows.rows, rows.blas) == (2, 1)
    assert threads.plan("rows", environ={"VIFIT_THREADS": "1"}, cores=2).rows == 1
    pinned = {"OPENBLAS_NUM_THREADS": "1", threads.PINNED_MARK: "1"}  # vifit gmm's own pin: not the user's
    assert threads.plan("rows", environ=pinned, cores=2).rows == 2


# --- the BLAS, through its own API ----------------------------------------------------------------

def test_blas_thread_count_round_trips_through_ctypes():
    from vifit import blas

    found = blas.loaded()
    assert found is not None and found.name in ("openblas", "mkl")
    before = blas.get_threads()
    try:
        assert blas.set_threads(1) == before
        assert blas.get_threads() == 1
        with blas.limited(2):
            assert blas.get_threads() == 2
        assert blas.get_threads() == 1
    finally:
        blas.set_threads(before)
    assert blas.get_threads() == before


def test_running_sets_and_restores_the_blas():
    from vifit import blas

    before = blas.get_threads()
    with threads.running(threads.ThreadPlan(cores=2, rows=2, blas=1, source="user")):
        assert blas.get_threads() == 1 and threads.row_threads() == 2
        assert threads.record()["blas"]["threads"] == 1
    assert blas.get_threads() == before and threads.active() is None


# --- the run block ------------------------------------------------------------------------------

def _run_block(tmp_path, *args, env=None):
    import json

    from conftest import SAMPLE, run_subprocess

    out = tmp_path / "fit.json"
    done = run_subprocess([*args[:1], SAMPLE / args[1], *args[2:], "-q", "-o", out], env=env)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return json.loads(out.read_text())["run"]


def test_run_block_records_threads_and_blas_of_a_gmm_fit(tmp_path):
    run = _run_block(tmp_path, "gmm", "iris.csv", "--k", "2", "--seed", "1", env={"VIFIT_THREADS": "1"})
    assert run["threads"] == 1 and run["thread_plan"]["rows"] == 1 and run["thread_plan"]["source"] == "user"
    # the mixtures keep BLAS on 1 thread (set through its API: pin_blas leaves VIFIT_THREADS alone)
    assert run["blas"]["name"] == "openblas" and run["blas"]["threads"] == 1
    assert run["blas"]["version"]


def test_run_block_records_threads_and_blas_of_a_vae_fit(tmp_path):
    run = _run_block(tmp_path, "vae", "digits.csv", "--scale", "minmax", "--epochs", "1", "--hidden", "8",
                     "--seed", "1", "--threads", "1")
    assert run["threads"] == 1 and run["thread_plan"] == {"cores": run["thread_plan"]["cores"], "rows": 1,
                                                          "blas": 1, "source": "user"}
    # OpenBLAS started on the cores (nothing set a variable): its 1 thread was set through its own API
    assert run["blas"]["name"] == "openblas" and run["blas"]["threads"] == 1


def test_the_api_fit_runs_on_its_plan_and_leaves_the_sessions_blas_alone():
    import numpy as np

    import vifit
    from vifit import blas

    before = blas.set_threads(2)  # the session's count, which the fit must give back
    try:
        x = np.random.default_rng(0).random((200, 6))
        model = vifit.VAE(hidden="8", latent=2, epochs=1, seed=1, threads=1).fit(x)
        run = model.document_["run"]
        assert run["thread_plan"]["source"] == "user" and run["blas"]["threads"] == 1
        assert blas.get_threads() == 2  # restored after the fit
    finally:
        blas.set_threads(before)


def test_numpy_first_puts_numpys_own_copy_before_scipys():
    from vifit import blas

    # /proc/self/maps lists by address: scipy's wheel copy can come before numpy's
    maps = ["/venv/site-packages/scipy.libs/libscipy_openblas-6cdc.so",
            "/venv/site-packages/numpy.libs/libscipy_openblas64_-32a4.so",
            "/usr/lib/libopenblas.so.0"]
    ordered = blas.numpy_first(maps, "/venv/site-packages/numpy")
    assert ordered == [maps[1], maps[0], maps[2]]
    assert blas.numpy_first(maps[::2], "/venv/site-packages/numpy") == maps[::2]  # none of numpy's: as mapped


def test_loaded_is_numpys_blas_even_after_scipy_and_every_copy_follows_the_count():
    import os

    import numpy
    import scipy.linalg  # noqa: F401  (maps scipy's own OpenBLAS copy, where its wheel has one)
    from vifit import blas

    every = blas._find_all()
    numpy_dir = os.path.dirname(os.path.abspath(numpy.__file__))
    if any(b.path.startswith((numpy_dir + os.sep, numpy_dir + ".libs" + os.sep)) for b in every):
        assert blas.loaded().path.startswith((numpy_dir + os.sep, numpy_dir + ".libs" + os.sep))
    # numpy's build config names the version its GEMMs run on; the loaded copy reports the same
    config = numpy.__config__.CONFIG["Build Dependencies"]["blas"]
    if config.get("name") == "scipy-openblas" and blas.loaded().version:
        assert config["version"].startswith(blas.loaded().version)
    before = blas.set_threads(1)
    try:
        assert all(b.get_threads() == 1 for b in every)
        with blas.limited(2):
            assert all(b.get_threads() == 2 for b in every)
        assert all(b.get_threads() == 1 for b in every)
    finally:
        blas.set_threads(before)
