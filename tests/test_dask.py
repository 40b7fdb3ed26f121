"""``vifit gmm --backend dask``: the same posterior and ELBO as the single-machine fit (1e-10
relative) on a LocalCluster of 2 worker processes, worker-side initialisation, connection
options and errors. One cluster, shared by the module."""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, STRICT, invoke
from gmm_helpers import blobs

distributed = pytest.importorskip("distributed")
pytest.importorskip("dask")

from vifit.data import ReadOptions, load_table  # noqa: E402
from vifit.distributed import cluster, gmm as dask_runner  # noqa: E402
from vifit.distributed.cavi import DaskProblem  # noqa: E402
from vifit.models.gmm_model import GaussianMixture  # noqa: E402
from vifit.progress import Reporter  # noqa: E402
from vifit.api import gmm_fit as local_runner  # noqa: E402

RTOL = 1e-10
PARTS = 4


@pytest.fixture(scope="module")
def address():
    local = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        yield local.scheduler_address
    finally:
        local.close()


@pytest.fixture(scope="module")
def client(address):
    with cluster.connect(address) as connected:
        yield connected


def _text(x, columns="a,b,c"):
    return columns + "\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in x)


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """3000 rows of 3 blobs in 4 gzip parts of unequal size, and the same rows in one file."""
    folder = tmp_path_factory.mktemp("parts")
    x = blobs(3000, 3, 3, seed=5)
    for i, block in enumerate(np.array_split(x, [500, 1400, 2100])):
        with gzip.open(folder / f"part-{i}.csv.gz", "wt") as handle:
            handle.write(_text(block))
    (folder / "all.csv").write_text(_text(x))
    return folder, x


def _close(a, b, what):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = max(np.abs(b).max(), 1e-300)
    assert np.abs(a - b).max() <= RTOL * scale, f"{what}: {np.abs(a - b).max() / scale:.3g} relative"


def _same_fit(local_doc_fit, local_params, dask_doc_fit, dask_params):
    _close(dask_doc_fit["elbo"], local_doc_fit["elbo"], "elbo")
    for key in local_params["variational"]:
        _close(dask_params["variational"][key], local_params["variational"][key], key)
    for key in ("weights", "means", "covariances"):
        _close(dask_params["summary"][key], local_params["summary"][key], key)


@pytest.mark.parametrize("covariance,weights", [("full", "dirichlet"), ("diag", "dp")])
def test_same_posterior_and_elbo_as_local_from_the_same_responsibilities(client, parts, covariance, weights):
    folder, x = parts
    labels = np.random.default_rng(1).integers(3, size=x.shape[0])
    options = dict(k=3, covariance=covariance, weights=weights, tol=1e-9, max_iter=200, resp0=labels)
    quiet = Reporter("none")
    table = load_table(str(folder / "all.csv"), ReadOptions(), min_rows=2)
    local = local_runner.fit(table, seed=0, reporter=quiet, policy=STRICT, **options)
    dask_table = dask_runner.load_table(client, str(folder / "part-*.csv.gz"), ReadOptions(), quiet.note)
    assert dask_table.partitions.lengths == [500, 900, 700, 900]
    remote = dask_runner.fit(dask_table, seed=0, reporter=quiet, policy=STRICT, **options)
    assert remote.n_iter == local.n_iter and remote.status == local.status == "converged"
    _close(remote.elbo, local.elbo, "elbo")
    _close([v for _, v in remote.trace], [v for _, v in local.trace], "trace")
    for key, value in local.params["variational"].items():
        _close(remote.params["variational"][key], value, key)
    _close(remote.params["summary"]["covariances"], local.params["summary"]["covariances"], "covariances")
    assert remote.fit_extra["partitions"] == PARTS and remote.fit_extra["workers"] == 2


def test_a_plain_file_cut_in_blocks_gives_the_local_fit(client, parts, monkeypatch):
    """all.csv in ~20 KB blocks: about 9 partitions that split lines at their byte edges; every
    row is read once, in order, and the fit is the local one."""
    from vifit.distributed import reading

    folder, x = parts
    monkeypatch.setattr(reading, "BLOCKSIZE", 20000)  # plan() runs on the client
    labels = np.random.default_rng(2).integers(3, size=x.shape[0])
    options = dict(k=3, tol=1e-9, max_iter=200, resp0=labels)
    quiet = Reporter("none")
    local = local_runner.fit(load_table(str(folder / "all.csv"), ReadOptions(), min_rows=2), seed=0,
                             reporter=quiet, policy=STRICT, **options)
    table = dask_runner.load_table(client, str(folder / "all.csv"), ReadOptions(), quiet.note)
    size = (folder / "all.csv").stat().st_size
    assert len(table.partitions) == -(-size // 20000) and sum(table.partitions.lengths) == 3000
    rows = np.concatenate(table.partitions.gather(table.partitions.futures))
    np.testing.assert_array_equal(rows, np.loadtxt(folder / "all.csv", delimiter=",", skiprows=1))
    remote = dask_runner.fit(table, seed=0, reporter=quiet, policy=STRICT, **options)
    assert remote.n_iter == local.n_iter
    _close(remote.elbo, local.elbo, "elbo")
    for key, value in local.params["variational"].items():
        _close(remote.params["variational"][key], value, key)


def test_workers_read_without_importing_dask_dataframe(client, parts):
    """dask.dataframe costs each worker about 25 MB; the reader does not need it."""
    folder, _ = parts
    dask_runner.load_table(client, str(folder / "part-*.csv.gz"), ReadOptions(), lambda m: None)
    imported = client.run(lambda: ["dask.dataframe" in sys.modules, "pandas" in sys.modules])
    assert len(imported) == 2 and all(flags == [False, True] for flags in imported.values())


def test_no_header_delimiter_and_columns_by_index(address, parts, tmp_path):
    _, x = parts
    text = "".join(";".join(repr(float(v)) for v in row) + "\n" for row in x)
    (tmp_path / "p.csv").write_text(text)
    common = ["--no-header", "--delimiter", ";", "--columns", "3,1", "--k", "2", "--seed", "3", "--tol", "1e-9", "-q"]
    local = invoke(["gmm", tmp_path / "p.csv", *common])
    remote = invoke(["gmm", tmp_path / "p.csv", *common, "--backend", "dask", "--scheduler", address])
    assert local.exit_code == 0 and remote.exit_code == 0, remote.stderr
    a, b = json.loads(local.stdout), json.loads(remote.stdout)
    assert b["data"]["columns"] == a["data"]["columns"] == ["x3", "x1"]
    _same_fit(a["fit"], a["params"], b["fit"], b["params"])


@pytest.mark.parametrize("extra", [[], ["--standardize", "--init", "random", "--restarts", "2"]],
                         ids=["kmeans++", "standardize-random-restarts"])
def test_cli_same_answer_with_the_same_seed(address, parts, extra):
    """At most SAMPLE_ROWS rows: the worker-side sample is every row, so the seeded
    initialisation, and so the whole fit, is the local one."""
    folder, _ = parts
    common = ["--k", "3", "--seed", "7", "--tol", "1e-9", "-q", *extra]
    local = invoke(["gmm", folder / "all.csv", *common])
    remote = invoke(["gmm", str(folder / "part-*.csv.gz"), *common, "--backend", "dask", "--scheduler", address])
    assert local.exit_code == 0 and remote.exit_code == 0, remote.stderr
    a, b = json.loads(local.stdout), json.loads(remote.stdout)
    _same_fit(a["fit"], a["params"], b["fit"], b["params"])
    assert b["fit"]["backend"] == "dask" and b["data"]["n_rows"] == 3000
    assert b["data"]["preprocessing"].keys() == a["data"]["preprocessing"].keys()


@pytest.mark.parametrize("extra", [[], ["--standardize"]], ids=["raw", "standardize"])
def test_float32_partitions_give_the_local_float32_fit(client, address, parts, extra):
    folder, x = parts
    base = ["--k", "3", "--seed", "7", "--tol", "1e-9", "-q", *extra]
    common = [*base, "--dtype", "float32"]
    local = invoke(["gmm", folder / "all.csv", *common])
    remote = invoke(["gmm", str(folder / "part-*.csv.gz"), *common, "--backend", "dask", "--scheduler", address])
    assert local.exit_code == 0 and remote.exit_code == 0, remote.stderr
    a, b = json.loads(local.stdout), json.loads(remote.stdout)
    assert b["config"]["dtype"] == "float32"
    _same_fit(a["fit"], a["params"], b["fit"], b["params"])
    float64 = json.loads(invoke(["gmm", folder / "all.csv", *base]).stdout)
    # float64 partitions would miss the local float32 fit by more than the tolerance
    assert abs(float64["fit"]["elbo"] - a["fit"]["elbo"]) > 3 * RTOL * abs(a["fit"]["elbo"])
    table = dask_runner.load_table(client, str(folder / "part-*.csv.gz"), ReadOptions(dtype="float32",
                                   standardize=bool(extra)), lambda m: None)
    rows = np.concatenate(table.partitions.gather(table.partitions.futures))
    assert rows.dtype == np.float32 and rows.shape == x.shape


def test_scheduler_file_and_progress(address, parts, tmp_path):
    folder, _ = parts
    scheduler_file = tmp_path / "scheduler.json"
    scheduler_file.write_text(json.dumps({"address": address}))
    result = invoke(["gmm", str(folder / "part-*.csv.gz"), "--k", "2", "--seed", "1", "--max-iter", "3",
                     "--backend", "dask", "--scheduler-file", scheduler_file, "--progress", "json"])
    assert result.exit_code == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    steps = [e["step"] for e in events if e.get("event") == "progress"]
    assert steps == list(range(len(steps))) and len(steps) >= 2
    assert all(np.isfinite(e["elbo"]) for e in events if e.get("event") == "progress")
    assert events[-1]["event"] == "finish"
    assert f"connected to the Dask scheduler at {address}" in result.stderr


def test_initialisation_samples_on_the_workers(client, parts):
    """Above SAMPLE_ROWS rows only a sample of about that size reaches the client; it is the
    same for the same seed, and the fit from it is close to the local fit."""
    folder, _ = parts
    quiet = Reporter("none")
    table = dask_runner.load_table(client, str(folder / "part-*.csv.gz"), ReadOptions(), quiet.note)
    shape_only = GaussianMixture(local_runner.gmm.Spec(3, 3), None, None)  # sampling needs no prior or frame
    problem = DaskProblem(shape_only, table.partitions, rows=table.partitions, sample_rows=300)
    first = problem.sample(np.random.default_rng(3))
    assert 300 <= first.shape[0] <= 300 + PARTS
    np.testing.assert_array_equal(first, problem.sample(np.random.default_rng(3)))
    assert not np.array_equal(first, problem.sample(np.random.default_rng(4)))


def test_unreachable_scheduler_is_exit_2_naming_the_address(monkeypatch, parts):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 1.0)
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    result = invoke(["gmm", parts[0] / "all.csv", "--backend", "dask", "--scheduler", address])
    assert result.exit_code == 2
    assert address in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args,message", [
    (["--scheduler-file", "/nonexistent/scheduler.json"], "no such file"),
    (["--scheduler", "tcp://127.0.0.1:1", "--scheduler-file", "x.json"], "not both"),
    (["--method", "svi", "--no-stream"], "--no-stream"),
])
def test_option_errors_are_exit_2(address, parts, args, message):
    args = [a.format(address=address) for a in args]
    result = invoke(["gmm", parts[0] / "all.csv", "--backend", "dask", *args])
    assert result.exit_code == 2 and message in result.stderr, result.stderr


def test_scheduler_without_backend_dask_is_a_usage_error(parts):
    result = invoke(["gmm", parts[0] / "all.csv", "--scheduler", "tcp://127.0.0.1:1"])
    assert result.exit_code == 2 and "--backend dask" in result.stderr


@pytest.mark.parametrize("value,message", [("30", "--worker-wait need --backend dask"),
                                           ("0", "Invalid value for '--worker-wait'")])
def test_worker_wait_needs_backend_dask_and_a_positive_number(parts, value, message):
    result = invoke(["gmm", parts[0] / "all.csv", "--worker-wait", value])
    assert result.exit_code == 2 and message in result.stderr, result.stderr


def test_missing_values_and_no_files(address, tmp_path):
    path = tmp_path / "gap.csv"
    path.write_text("a,b\n1,2\n3,\n5,7\n8,1\n")
    base = ["--backend", "dask", "--scheduler", address, "--k", "1", "-q"]
    # a missing cell is the model's (marginalised, as by a local fit); an infinite one is still an error
    kept = invoke(["gmm", path, *base])
    assert kept.exit_code == 0, kept.stderr
    local = invoke(["gmm", path, "--k", "1", "-q"])
    assert json.loads(kept.stdout)["fit"]["elbo"] == pytest.approx(json.loads(local.stdout)["fit"]["elbo"], rel=1e-10)
    infinite = tmp_path / "inf.csv"
    infinite.write_text("a,b\n1,2\n3,inf\n5,7\n8,1\n")
    failed = invoke(["gmm", infinite, *base])
    assert failed.exit_code == 2 and "infinite value" in failed.stderr and "'b'" in failed.stderr
    dropped = invoke(["gmm", path, *base, "--dropna"])
    assert dropped.exit_code == 0, dropped.stderr
    assert json.loads(dropped.stdout)["data"]["rows_dropped"] == 1
    none = invoke(["gmm", str(tmp_path / "nothing-*.csv"), *base])
    assert none.exit_code == 2 and "no files match" in none.stderr


def test_missing_extra_is_exit_2_naming_it(monkeypatch, parts):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    result = invoke(["gmm", parts[0] / "all.csv", "--backend", "dask"])
    assert result.exit_code == 2 and "vifit[dask]" in result.stderr


def test_local_backend_never_imports_dask():
    code = ("import sys; from click.testing import CliRunner; from vifit.cli import cli; "
            "r = CliRunner().invoke(cli, ['gmm', 'sample_data/iris.csv', '--k', '2', '-q', '--max-iter', '2']); "
            "assert r.exit_code == 0, r.output; "
            "assert not {'dask', 'distributed'} & set(sys.modules), 'dask imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)


def test_predict_writes_one_file_per_partition_equal_to_local_predict(address, parts, tmp_path):
    folder, _ = parts
    model = tmp_path / "gmm.json"
    assert invoke(["gmm", folder / "all.csv", "--k", "3", "--seed", "2", "--standardize", "-q", "-o", model]).exit_code == 0
    local = invoke(["predict", model, folder / "all.csv"])
    assert local.exit_code == 0
    (tmp_path / "pred").mkdir()
    pattern = str(tmp_path / "pred" / "part-*.csv")
    remote = invoke(["predict", model, str(folder / "part-*.csv.gz"), "--backend", "dask", "--scheduler", address,
                     "-o", pattern])
    assert remote.exit_code == 0, remote.stderr
    files = sorted((tmp_path / "pred").glob("part-*.csv"))
    assert [f.name for f in files] == [f"part-{i:02d}.csv" for i in range(PARTS)]
    header, *rows = local.stdout.splitlines()
    written = [line for f in files for line in f.read_text().splitlines()[1:]]
    assert files[0].read_text().splitlines()[0] == header
    _close(np.loadtxt(written, delimiter=","), np.loadtxt(rows, delimiter=","), "predictions")
    no_star = invoke(["predict", model, folder / "all.csv", "--backend", "dask", "--scheduler", address])
    assert no_star.exit_code == 2 and "'*'" in no_star.stderr


@pytest.mark.parametrize("memo", [[], ["--memoized"]], ids=["svi", "memoized"])
def test_svi_over_partitions_is_reproducible_and_near_cavi(address, parts, memo):
    folder, _ = parts
    data = str(folder / "part-*.csv.gz")
    common = ["--k", "3", "--seed", "4", "-q", "--backend", "dask", "--scheduler", address]
    cavi = json.loads(invoke(["gmm", data, *common]).stdout)
    runs = [invoke(["gmm", data, *common, "--method", "svi", "--epochs", "20", *memo]) for _ in range(2)]
    assert all(r.exit_code == 0 for r in runs), runs[0].stderr
    first, second = (json.loads(r.stdout) for r in runs)
    assert first["fit"]["trace"] == second["fit"]["trace"]
    assert first["method"] == ("memoized" if memo else "svi") and first["fit"]["partitions"] == PARTS
    assert first["fit"]["batch_size"] == 750  # ceil(3000 / 4): a partition per step
    # the split-merge check runs on the partitions too (tree-summed passes): its list is recorded
    assert first["config"]["moves"] == "split-merge" and isinstance(first["fit"]["moves"], list)
    assert abs(first["fit"]["elbo"] - cavi["fit"]["elbo"]) <= 2e-3 * abs(cavi["fit"]["elbo"])


def _a_sweep(client, parts, seed):
    """(partitions, the arguments of tasks.local_stats after x, their summed statistics now)
    for the gzip parts and random coefficients."""
    from vifit.distributed import tasks
    from vifit.models import gmm

    folder, _ = parts
    table = dask_runner.load_table(client, str(folder / "part-*.csv.gz"), ReadOptions(), lambda m: None)
    spec = gmm.Spec(3, 3)
    frame = table.accumulator.moments(spec).frame
    theta = np.random.default_rng(seed).normal(size=(spec.k, spec.n_stats)) * 0.1
    args = (GaussianMixture(spec, None, frame), theta, 256)  # the local step needs no prior
    return table.partitions, args, table.partitions.map_sum(tasks.local_stats, *args)


def test_a_lost_worker_costs_a_recomputation_not_a_different_answer(client, parts):
    """Restarting a worker loses the partitions it held; the next sweep reads them again and
    gives the same statistics, bit for bit (the tree sum's order does not depend on placement)."""
    from vifit.distributed import tasks

    partitions, args, before = _a_sweep(client, parts, 0)
    holders = client.who_has(partitions.futures)
    victim = next(iter(holders[partitions.futures[0].key]))
    client.restart_workers([victim])
    lost = [f for f in partitions.futures if victim in holders[f.key]]
    assert lost and all(victim not in client.who_has([f])[f.key] for f in lost)
    after = partitions.map_sum(tasks.local_stats, *args)
    np.testing.assert_array_equal(after.t, before.t)
    assert after.neg_entropy == before.neg_entropy and after.rows == before.rows == 3000


def test_a_worker_lost_during_a_sweep_is_retried_with_the_same_answer(client, parts):
    """A worker killed while the sweep's tasks run: its running tasks and the partitions it held
    are recomputed elsewhere (Dask retries), and the sweep's statistics are unchanged, bit for bit."""
    import threading
    import time

    from vifit.distributed import tasks

    partitions, args, before = _a_sweep(client, parts, 1)

    def slow_local_stats(x, *args):  # a nested function: pickled by value for the workers
        time.sleep(1.0)
        return tasks.local_stats(x, *args)

    results = []
    sweep = threading.Thread(target=lambda: results.append(
        partitions.map_sum(slow_local_stats, *args)))
    sweep.start()
    deadline = time.monotonic() + 10
    while not any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.02)
    busy = [worker for worker, keys in client.processing().items() if keys]
    assert busy, "no task started within 10 s"
    client.restart_workers(busy[:1])  # kills the process mid-task
    sweep.join(timeout=60)
    assert not sweep.is_alive() and results
    np.testing.assert_array_equal(results[0].t, before.t)
    assert results[0].neg_entropy == before.neg_entropy and results[0].rows == before.rows == 3000


def test_bad_input_is_one_line_from_a_local_cluster_with_no_worker_traceback(tmp_path):
    """A short row is ragged (not a missing value, so not dropped by --dropna), and bad input
    read on a worker comes back as the one error line: no retries, no worker log."""
    from conftest import run_subprocess

    path = tmp_path / "short.csv"
    path.write_text("a,b\n1,2\n3\n5,6\n7,8\n")
    for extra in ([], ["--dropna"]):
        done = run_subprocess(["gmm", path, "--backend", "dask", "--k", "1", "-q", "-o", tmp_path / "o.json",
                               *extra])
        stderr = done.stderr.decode()
        assert done.returncode == 2, stderr
        assert stderr.strip().splitlines() == [
            f"vifit: error: {path} (partition 1): row 2 (line 3): has 1 fields, expected 2 (ragged rows)"], stderr
        assert not (tmp_path / "o.json").exists()


def test_a_long_row_is_exit_2_on_a_local_cluster_as_locally(tmp_path):
    """A row with more fields than the header: the workers read only the chosen columns, and
    this row must not pass for a good one there (the local readers reject it). Row 1500 is
    past the head the client reads to choose the columns, so a worker finds it."""
    from conftest import run_subprocess

    path = tmp_path / "long.csv"
    rows = [f"{i},{i % 7},{i % 5}" for i in range(2000)]
    rows[1499] += ",9"
    path.write_text("a,b,c\n" + "\n".join(rows) + "\n")
    local = run_subprocess(["gmm", path, "--k", "1", "-q", "-o", tmp_path / "o.json"])
    done = run_subprocess(["gmm", path, "--backend", "dask", "--columns", "a,c", "--k", "1", "-q",
                           "-o", tmp_path / "o.json"])
    assert local.returncode == done.returncode == 2, done.stderr.decode()
    message = "row 1500 (line 1501): has 4 fields, expected 3 (ragged rows)"
    assert local.stderr.decode().strip() == f"vifit: error: {path}: {message}"
    assert done.stderr.decode().strip().splitlines() == [f"vifit: error: {path} (partition 1): {message}"]
    assert not (tmp_path / "o.json").exists()


def test_a_long_row_in_the_head_read_to_choose_columns_is_bad_input(tmp_path):
    from vifit.distributed.partitions import choose_columns
    from vifit.errors import BadInput

    path = tmp_path / "long.csv"
    path.write_text("a,b,c\n1,2,3\n4,5,6,7\n8,9,10\n")
    with pytest.raises(BadInput, match=r"long\.csv: row 2 \(line 3\): has 4 fields, expected 3 \(ragged rows\)$"):
        choose_columns(str(path), ReadOptions(), str(path), lambda message: None)


def test_losing_every_worker_ends_the_fit_with_one_line_after_the_wait(parts, tmp_path):
    """With no worker left nothing can run (the partitions went with them): after --worker-wait
    seconds without one the fit ends with one line, exit 1 (not a bug, not bad input), nothing
    written. Before, it waited for ever."""
    import logging
    import os

    folder, _ = parts
    own = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                   silence_logs=logging.CRITICAL)
    try:
        out = tmp_path / "fit.json"
        proc = subprocess.Popen([sys.executable, "-m", "vifit", "gmm", str(folder / "part-*.csv.gz"), "--backend",
                                 "dask", "--scheduler", own.scheduler_address, "--worker-wait", "2", "--k", "3",
                                 "--tol", "0", "--max-iter", "100000", "--progress", "json", "-o", str(out)],
                                stderr=subprocess.PIPE, cwd=ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        while b'"event": "progress"' not in proc.stderr.readline():
            assert proc.poll() is None, "the fit ended before its first progress line"
        own.scale(0)
        _, stderr = proc.communicate(timeout=120)
    finally:
        own.close()
    errors = [line for line in stderr.decode().splitlines() if line.startswith("vifit: error")]
    assert proc.returncode == 1, stderr.decode()
    assert errors == [f"vifit: error: the Dask cluster at {own.scheduler_address} has had no worker for 2 s: the "
                      f"workers were lost, and their partitions with them, so the fit cannot go on (start workers "
                      f"again and rerun, or give --worker-wait more seconds to wait for them)"], stderr.decode()
    assert b"bug" not in stderr and b"Traceback" not in stderr and not out.exists()


@pytest.mark.parametrize("method", [[], ["--method", "svi", "--epochs", "3"]], ids=["cavi", "svi"])
def test_the_api_on_a_cluster_writes_the_clis_document(address, parts, tmp_path, method):
    """GMM(backend="dask", scheduler=...) is the same road as `vifit gmm --backend dask`: the
    same document, byte for byte apart from run."""
    import vifit

    folder, _ = parts
    data = str(folder / "part-*.csv.gz")
    cli = tmp_path / "cli.json"
    result = invoke(["gmm", data, "--k", "3", "--seed", "2", "-q", "--backend", "dask", "--scheduler", address,
                     *method, "-o", cli])
    assert result.exit_code == 0, result.stderr
    params = {"method": "svi", "epochs": 3} if method else {}
    model = vifit.GMM(k=3, seed=2, backend="dask", scheduler=address, **params).fit(data)
    model.save(tmp_path / "api.json")
    a, b = (json.loads(path.read_text()) for path in (cli, tmp_path / "api.json"))
    a.pop("run"), b.pop("run")
    assert a == b and b["config"]["backend"] == "dask" and b["fit"]["backend"] == "dask"
    with pytest.raises(ValueError, match="pass the path"):
        vifit.GMM(k=3, backend="dask", scheduler=address).fit(np.zeros((10, 3)))


@pytest.fixture(scope="module")
def holes(tmp_path_factory):
    """The blobs with 15% of cells missing and a 0..3 weight column, in 3 parts and in one file."""
    folder = tmp_path_factory.mktemp("holes")
    rng = np.random.default_rng(11)
    x = blobs(3000, 3, 3, seed=6)
    x[rng.random(x.shape) < 0.15] = np.nan
    x = x[~np.isnan(x).all(axis=1)]
    w = rng.integers(0, 4, size=x.shape[0])

    def text(rows, weights):
        return "a,b,c,w\n" + "".join(",".join("" if np.isnan(v) else repr(float(v)) for v in row) + f",{int(c)}\n"
                                     for row, c in zip(rows, weights))
    for i, (block, weights) in enumerate(zip(np.array_split(x, 3), np.array_split(w, 3))):
        (folder / f"part-{i}.csv").write_text(text(block, weights))
    (folder / "all.csv").write_text(text(x, w))
    return folder, x, w


@pytest.mark.parametrize("extra", [["--columns", "a,b,c"], ["--row-weights", "w"],
                                   ["--row-weights", "w", "--method", "svi", "--memoized", "--epochs", "60"]],
                         ids=["missing", "missing-weighted", "missing-weighted-memoized"])
def test_missing_cells_and_row_weights_on_the_cluster_reach_the_local_optimum(address, holes, extra):
    """Missing cells (marginalised) and --row-weights on partitions: the bound, N (fit.weight_total)
    and the posterior of the local CAVI fit of the same rows. The local fit sorts its rows by
    pattern and starts from them, the partitions do not, so each reaches the one optimum of these
    well-separated blobs on its own: compared at the convergence tolerance, not bit for bit."""
    folder, x, w = holes
    common = ["-k", "3", "--seed", "2", "--tol", "1e-10", "--max-iter", "2000", "-q"]
    weights = ["--row-weights", "w"] if "--row-weights" in extra else ["--columns", "a,b,c"]
    local = invoke(["gmm", folder / "all.csv", *common, *weights])
    remote = invoke(["gmm", str(folder / "part-*.csv"), *common, *extra, "--backend", "dask", "--scheduler", address])
    assert local.exit_code == 0 and remote.exit_code == 0, remote.stderr
    a, b = json.loads(local.stdout), json.loads(remote.stdout)
    assert b["data"]["n_rows"] == x.shape[0] and b["data"]["columns"] == ["a", "b", "c"]
    if "--row-weights" in extra:
        assert b["fit"]["weight_total"] == a["fit"]["weight_total"] == w.sum()
    assert b["fit"]["elbo"] == pytest.approx(a["fit"]["elbo"], rel=1e-7)
    order_a = np.argsort(np.asarray(a["params"]["summary"]["means"])[:, 0])
    order_b = np.argsort(np.asarray(b["params"]["summary"]["means"])[:, 0])
    np.testing.assert_allclose(np.asarray(b["params"]["summary"]["means"])[order_b],
                               np.asarray(a["params"]["summary"]["means"])[order_a], rtol=1e-5, atol=1e-5)


def _predict_local_and_on_partitions(address, model, folder, tmp_path) -> list:
    """predict of folder/all.csv locally and of folder/part-*.csv on the cluster (one file per
    partition): the same header, and the rows concatenated equal to 1e-10; the rows written."""
    local = invoke(["predict", model, folder / "all.csv"])
    assert local.exit_code == 0, local.stderr
    (tmp_path / "pred").mkdir()
    remote = invoke(["predict", model, str(folder / "part-*.csv"), "--backend", "dask", "--scheduler", address,
                     "-o", str(tmp_path / "pred" / "part-*.csv")])
    assert remote.exit_code == 0, remote.stderr
    header, *rows = local.stdout.splitlines()
    files = sorted((tmp_path / "pred").glob("part-*.csv"))
    assert files[0].read_text().splitlines()[0] == header
    written = [line for f in files for line in f.read_text().splitlines()[1:]]
    _close(np.loadtxt(written, delimiter=","), np.loadtxt(rows, delimiter=","), "predictions")
    return written


def test_predict_scores_rows_with_missing_cells_as_local_predict(address, holes, tmp_path):
    """A row with missing cells is scored on the workers by its observed cells, as locally."""
    folder, x, _ = holes
    model = tmp_path / "gmm.json"
    assert invoke(["gmm", folder / "all.csv", "-k", "3", "--seed", "2", "--columns", "a,b,c", "-q",
                   "-o", model]).exit_code == 0
    written = _predict_local_and_on_partitions(address, model, folder, tmp_path)
    assert len(written) == x.shape[0]
    impute = invoke(["predict", model, str(folder / "part-*.csv"), "--impute", "--backend", "dask",
                     "--scheduler", address, "-o", str(tmp_path / "pred" / "i-*.csv")])
    assert impute.exit_code == 2 and "--impute" in impute.stderr


@pytest.fixture(scope="module")
def mixed_parts(tmp_path_factory):
    """A mixed table (gaussian, 0/1, counts, text with a level only in the last part, missing cells,
    a weight column) in 3 parts and in one file."""
    folder = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(3)
    n = 900
    z = rng.integers(0, 2, size=n)
    region = np.where(z, "north", "east").astype(object)
    region[rng.random(n) < 0.2] = "south"
    region[850:] = np.where(rng.random(50) < 0.5, "west", region[850:])  # a level the first parts never hold
    table = {"age": np.round(rng.normal(np.where(z, 60.0, 30.0), 5.0), 1).astype(object),
             "smoker": (rng.random(n) < np.where(z, 0.8, 0.1)).astype(int).astype(object),
             "visits": rng.poisson(np.where(z, 9.0, 1.0)).astype(object), "region": region,
             "w": rng.integers(0, 4, size=n).astype(object)}
    for name in ("age", "smoker", "visits", "region"):
        table[name][rng.random(n) < 0.1] = ""
    lines = [",".join(str(table[c][i]) for c in table) for i in range(n)]
    head = ",".join(table) + "\n"
    for i, (a, b) in enumerate([(0, 300), (300, 620), (620, n)]):
        (folder / f"part-{i}.csv").write_text(head + "\n".join(lines[a:b]) + "\n")
    (folder / "all.csv").write_text(head + "\n".join(lines) + "\n")
    return folder


@pytest.mark.parametrize("extra", [["--columns", "age,smoker,visits,region"], ["--row-weights", "w"]],
                         ids=["mixed", "mixed-weighted"])
def test_mixture_on_partitions_is_the_local_fit(address, mixed_parts, extra):
    """vifit mixture --backend dask: the categories coded by the union of every part's labels
    (sorted once), the families and priors from the merged column summaries, CAVI's local step on
    the workers: with at most SAMPLE_ROWS rows the start is the local one, so the fit is too."""
    folder = mixed_parts
    common = ["-k", "2", "--seed", "4", "--tol", "1e-9", "-q", *extra]
    local = invoke(["mixture", folder / "all.csv", *common])
    remote = invoke(["mixture", str(folder / "part-*.csv"), *common, "--backend", "dask", "--scheduler", address])
    assert local.exit_code == 0 and remote.exit_code == 0, remote.stderr
    a, b = json.loads(local.stdout), json.loads(remote.stdout)
    assert b["data"]["preprocessing"]["levels"] == a["data"]["preprocessing"]["levels"]
    assert a["data"]["preprocessing"]["levels"]["region"] == ["east", "north", "south", "west"]
    assert b["fit"]["families"] == a["fit"]["families"] and b["fit"]["missing_cells"] == a["fit"]["missing_cells"]
    assert b["fit"].get("weight_total") == a["fit"].get("weight_total")
    assert b["fit"]["backend"] == "dask" and b["config"]["backend"] == "dask"
    _close(b["fit"]["elbo"], a["fit"]["elbo"], "elbo")
    for fa, fb in zip(a["params"]["families"], b["params"]["families"]):
        for key in ("prior", "posterior"):
            for name in fa[key]:
                _close(fb[key][name], fa[key][name], f"{fa['family']} {key} {name}")


def test_mixture_on_partitions_refuses_what_it_cannot_do(address, mixed_parts, tmp_path):
    folder = mixed_parts
    base = ["mixture", str(folder / "part-*.csv"), "-k", "2", "--backend", "dask", "--scheduler", address]
    svi = invoke([*base, "--method", "svi", "--no-stream"])
    assert svi.exit_code == 2 and "--no-stream does not apply" in svi.stderr
    several = invoke(["mixture", str(folder / "part-*.csv"), "-k", "2-3", "--backend", "dask", "--scheduler", address])
    assert several.exit_code == 2 and "several values" in several.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "part-0.csv").write_text("a,b\n1,0\n2,1\n")
    (bad / "part-1.csv").write_text("a,b\n3,1\n4,inf\n")
    result = invoke(["mixture", str(bad / "part-*.csv"), "-k", "2", "--backend", "dask", "--scheduler", address])
    assert result.exit_code == 2 and "partition 2" in result.stderr and "infinite" in result.stderr


def test_mixture_svi_on_partitions_reaches_the_local_optimum(address, mixed_parts):
    """--method svi --memoized over partitions (each one minibatch): memoized VB's exact global
    steps end at the local CAVI optimum of the same weighted rows."""
    folder = mixed_parts
    common = ["-k", "2", "--seed", "4", "-q", "--row-weights", "w"]
    local = invoke(["mixture", folder / "all.csv", *common, "--tol", "1e-10"])
    remote = invoke(["mixture", str(folder / "part-*.csv"), *common, "--method", "svi", "--memoized", "--epochs", "60",
                     "--backend", "dask", "--scheduler", address])
    assert local.exit_code == 0 and remote.exit_code == 0, remote.stderr
    a, b = json.loads(local.stdout), json.loads(remote.stdout)
    assert b["method"] == "memoized" and b["fit"]["partitions"] == 3 and b["config"]["stream"] is True
    assert b["fit"]["weight_total"] == a["fit"]["weight_total"]
    assert b["fit"]["elbo"] == pytest.approx(a["fit"]["elbo"], rel=1e-6)


def test_predict_of_a_mixture_on_partitions_is_local_predict(address, mixed_parts, tmp_path):
    """Each partition codes its labels with the model's levels and is scored by the mixture's
    predict on its worker: the rows, concatenated, are local predict's."""
    folder = mixed_parts
    model = tmp_path / "mixture.json"
    assert invoke(["mixture", folder / "all.csv", "-k", "2", "--seed", "4", "--columns", "age,smoker,visits,region",
                   "-q", "-o", model]).exit_code == 0
    _predict_local_and_on_partitions(address, model, folder, tmp_path)
    unseen = tmp_path / "unseen"
    unseen.mkdir()
    (unseen / "part-0.csv").write_text("age,smoker,visits,region\n30,1,2,east\n41,0,3,mars\n")
    result = invoke(["predict", model, str(unseen / "part-*.csv"), "--backend", "dask", "--scheduler", address,
                     "-o", str(tmp_path / "pred" / "u-*.csv")])
    assert result.exit_code == 2 and "'mars' is not one of the levels" in result.stderr
