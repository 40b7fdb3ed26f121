"""-o never destroys what it names: devices, FIFOs, sockets and symlinks, the inputs themselves;
compressed output by extension; OS refusals (full disk, file-size limit, read-only folder) and
closed or full standard streams reported as such. Every case runs a real ``python -m vifit``.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import json
import lzma
import os
import resource
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading

import pytest

from conftest import ROOT, SAMPLE, run_subprocess

IRIS = SAMPLE / "iris.csv"
DIGITS = SAMPLE / "digits.csv"
QUICK_FIT = {
    "pca": ["--k", "2"],
    "gmm": ["--k", "2", "--max-iter", "5"],
    "autoencoder": ["--hidden", "3,2", "--epochs", "2"],
    "vae": ["--hidden", "3", "--latent", "2", "--epochs", "2"],
}


def _one_error_line(proc, code: int) -> str:
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert b"bug in vifit" not in proc.stderr and b"Traceback" not in proc.stderr
    return lines[0]


def _bash(command: str, cwd=ROOT):
    """Run a shell line (for `>&-`, `2>&-`, `>> log`) with this python as `vifit`."""
    return subprocess.run(["bash", "-c", command.replace("vifit ", f"{sys.executable} -m vifit ")],
                          capture_output=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def pca_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "pca.json"
    assert run_subprocess(["pca", IRIS, "--k", "2", "--seed", "1", "-q", "-o", path]).returncode == 0
    return path


@pytest.fixture(scope="module")
def pca_stdout():
    """What `vifit pca iris --seed 1` writes to stdout, without its run block."""
    proc = run_subprocess(["pca", IRIS, "--seed", "1", "-q"])
    assert proc.returncode == 0
    return _without_run(proc.stdout)


def _without_run(text: bytes) -> dict:
    document = json.loads(text)
    document.pop("run")
    return document


@contextlib.contextmanager
def _system_entry_restored(path: str):
    """Run a test that names a real /dev entry; should vifit ever replace it again (the bug these
    tests exist for), put it back as it was, so that one failing test cannot break the machine."""
    before = os.lstat(path)
    link = os.readlink(path) if stat.S_ISLNK(before.st_mode) else None
    try:
        yield
    finally:
        after = os.lstat(path)
        if (stat.S_IFMT(after.st_mode), after.st_rdev) != (stat.S_IFMT(before.st_mode), before.st_rdev):
            os.unlink(path)
            if link is not None:
                os.symlink(link, path)
            else:
                os.mknod(path, stat.S_IFMT(before.st_mode) | stat.S_IMODE(before.st_mode), before.st_rdev)
                os.chmod(path, stat.S_IMODE(before.st_mode))  # mknod's mode is masked by the umask


def _full_device(folder) -> str:
    """A full device (like /dev/full: every write fails with ENOSPC) made in a test's folder."""
    path = folder / "full"
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    return str(path)


# ---------------------------------------------------------------- what -o names


def test_fifo_is_written_in_place_not_replaced(tmp_path, pca_stdout):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    proc = run_subprocess(["pca", IRIS, "--seed", "1", "-q", "-o", fifo])
    reader.join(timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert _without_run(received[0]) == pca_stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no temporary file


def test_character_device_is_written_in_place_not_replaced(tmp_path):
    node = tmp_path / "null"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # the null device (tests run as root)
    proc = run_subprocess(["pca", IRIS, "-q", "-o", node])
    assert proc.returncode == 0, proc.stderr
    after = os.lstat(node)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == os.makedev(1, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


def test_dev_null_stays_a_device(pca_model):
    with _system_entry_restored("/dev/null"):
        proc = run_subprocess(["sample", pca_model, "-n", "3", "--seed", "1", "-o", "/dev/null"])
        assert proc.returncode == 0, proc.stderr
        assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_symlink_target_is_replaced_and_link_kept_with_mode_and_owner(tmp_path, pca_stdout):
    target = tmp_path / "real.json"
    target.write_text("old")
    os.chmod(target, 0o640)
    os.chown(target, 65534, 65534)  # nobody: root's atomic replacement keeps the owner too
    link = tmp_path / "link.json"
    link.symlink_to(target.name)
    proc = run_subprocess(["pca", IRIS, "--seed", "1", "-q", "-o", link])
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and os.readlink(link) == "real.json"
    assert _without_run(target.read_bytes()) == pca_stdout
    info = os.stat(target)
    assert stat.S_IMODE(info.st_mode) == 0o640 and (info.st_uid, info.st_gid) == (65534, 65534)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "real.json"]


def test_dev_stdout_is_the_descriptor_and_honours_append(tmp_path, pca_model):
    direct = run_subprocess(["sample", pca_model, "-n", "3", "--seed", "2"])
    log = tmp_path / "log.csv"
    log.write_text("kept\n")
    with _system_entry_restored("/dev/stdout"):
        proc = run_subprocess(["sample", pca_model, "-n", "3", "--seed", "2", "-o", "/dev/stdout"])
        appended = _bash(f"vifit sample {pca_model} -n 3 --seed 2 -o /dev/stdout >> {log}")
    assert proc.returncode == 0 and proc.stdout == direct.stdout and proc.stdout.count(b"\n") == 4
    assert appended.returncode == 0, appended.stderr
    assert log.read_bytes() == b"kept\n" + direct.stdout


def test_unix_socket_is_connected_and_written(tmp_path, pca_model):
    path = tmp_path / "s"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    received = bytearray()

    def serve():
        connection, _ = server.accept()
        with connection:
            while chunk := connection.recv(65536):
                received.extend(chunk)

    thread = threading.Thread(target=serve)
    thread.start()
    proc = run_subprocess(["sample", pca_model, "-n", "4", "--seed", "3", "-o", path])
    thread.join(timeout=60)
    server.close()
    assert proc.returncode == 0, proc.stderr
    assert bytes(received) == run_subprocess(["sample", pca_model, "-n", "4", "--seed", "3"]).stdout
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


# iris with K = 3 takes several sweeps, so a checkpoint is due after each of them
# --init kmeans++: from the default screened start (its candidates ran their sweeps on all 150 rows)
# the fit converges at its first sweep, before any checkpoint is due; these tests need sweeps to save
CHECKPOINTED_FIT = ["gmm", IRIS, "--k", "3", "--max-iter", "20", "--seed", "1", "--progress", "none",
                    "--checkpoint-every", "1e-9", "--init", "kmeans++"]


def test_checkpoint_into_a_device_is_written_in_place(tmp_path):
    node = tmp_path / "null"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    proc = run_subprocess([*CHECKPOINTED_FIT, "--checkpoint", node, "-o", tmp_path / "g.json"])
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISCHR(os.lstat(node).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.json", "null"]


def test_checkpoint_through_a_symlink_replaces_its_target(tmp_path):
    import numpy as np

    target = tmp_path / "real.npz"
    target.write_text("old")
    link = tmp_path / "ck.npz"
    link.symlink_to(target.name)
    proc = run_subprocess([*CHECKPOINTED_FIT, "--checkpoint", link, "-o", tmp_path / "g.json"])
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink()
    with np.load(target, allow_pickle=False) as archive:
        assert "__meta__" in archive.files


# ---------------------------------------------------------------- -o naming an input


def _same_file_variants(tmp_path):
    data = tmp_path / "data.csv"
    shutil.copy(IRIS, data)
    os.link(data, tmp_path / "hard.csv")
    (tmp_path / "soft.csv").symlink_to("data.csv")
    return data


@pytest.mark.parametrize("command", list(QUICK_FIT))
def test_output_naming_data_is_refused_for_every_fit(tmp_path, command):
    data = _same_file_variants(tmp_path)
    before = data.read_bytes()
    line = _one_error_line(run_subprocess([command, data, *QUICK_FIT[command], "-o", data]), 2)
    assert "is the input DATA" in line
    assert data.read_bytes() == before


@pytest.mark.parametrize("how", ["hard-link", "symlink", "stdin"])
def test_output_naming_data_through_another_name_is_refused(tmp_path, how):
    data = _same_file_variants(tmp_path)
    before = data.read_bytes()
    if how == "stdin":
        proc = _bash(f"vifit pca - -o {data} < {data}")
    else:
        proc = run_subprocess(["pca", tmp_path / {"hard-link": "hard.csv", "symlink": "soft.csv"}[how], "-o", data])
    assert "is the input DATA" in _one_error_line(proc, 2)
    assert data.read_bytes() == before


@pytest.mark.parametrize("command,target", [("predict", "DATA"), ("predict", "MODEL"), ("sample", "MODEL"),
                                            ("plot", "DATA"), ("plot", "MODEL")])
def test_predict_sample_plot_refuse_output_naming_their_inputs(tmp_path, pca_model, command, target):
    # named so that -o's extension is one the command writes, and the input check is what refuses
    model = tmp_path / {"predict": "model.csv", "sample": "model.csv", "plot": "model.png"}[command]
    shutil.copy(pca_model, model)
    data = tmp_path / ("data.png" if command == "plot" and target == "DATA" else "data.csv")
    shutil.copy(IRIS, data)
    args = {"predict": [model, data], "sample": [model], "plot": [model, data]}[command]
    victim = data if target == "DATA" else model
    before = victim.read_bytes()
    line = _one_error_line(run_subprocess([command, *args, "-o", victim]), 2)
    assert f"is the input {target}" in line
    assert victim.read_bytes() == before


def test_dask_predict_parts_naming_the_data_are_refused_before_connecting(tmp_path, pca_model):
    (tmp_path / "part-00.csv").write_bytes(IRIS.read_bytes())
    before = (tmp_path / "part-00.csv").read_bytes()
    pattern = str(tmp_path / "part-*.csv")
    proc = run_subprocess(["predict", pca_model, pattern, "--backend", "dask", "-o", pattern])
    assert "is the input DATA" in _one_error_line(proc, 2)
    assert (tmp_path / "part-00.csv").read_bytes() == before


# ---------------------------------------------------------------- format and compression


@pytest.mark.parametrize("suffix,opener", [(".gz", gzip.open), (".bz2", bz2.open), (".xz", lzma.open)])
def test_compressed_csv_output_by_extension(tmp_path, suffix, opener):
    plain = run_subprocess(["pca", IRIS, "--seed", "1", "-q", "--format", "csv"]).stdout
    out = tmp_path / f"pca.csv{suffix}"
    assert run_subprocess(["pca", IRIS, "--seed", "1", "-q", "-o", out]).returncode == 0
    with opener(out, "rb") as stream:
        assert stream.read() == plain


def test_compressed_json_model_is_read_back_by_predict_sample_and_plot(tmp_path, pca_model):
    model = tmp_path / "pca.json.gz"
    assert run_subprocess(["pca", IRIS, "--k", "2", "--seed", "1", "-q", "-o", model]).returncode == 0
    assert _without_run(gzip.decompress(model.read_bytes())) == _without_run(pca_model.read_bytes())
    for args in (["predict", model, IRIS], ["sample", model, "-n", "3", "--seed", "1"]):
        from_gz, from_plain = run_subprocess(args), run_subprocess([args[0], pca_model, *args[2:]])
        assert from_gz.returncode == 0 and from_gz.stdout == from_plain.stdout, from_gz.stderr
    proc = run_subprocess(["plot", model, IRIS, "-o", tmp_path / "pca.png"])
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "pca.png").read_bytes()[:4] == b"\x89PNG"


def test_compressed_output_is_deterministic_and_read_back_as_data(tmp_path, pca_model):
    first, second = tmp_path / "a.csv.gz", tmp_path / "b.csv.gz"
    for out in (first, second):
        assert run_subprocess(["sample", pca_model, "-n", "50", "--seed", "9", "-o", out]).returncode == 0
    assert first.read_bytes() == second.read_bytes()
    raw = first.read_bytes()
    flags, mtime = raw[3], int.from_bytes(raw[4:8], "little")
    assert mtime == 0 and not flags & 0x08  # no timestamp, no file name (FNAME) in the header
    refit = run_subprocess(["pca", first, "--k", "2", "-q"])  # vifit reads its own .csv.gz as DATA
    assert refit.returncode == 0 and json.loads(refit.stdout)["data"]["n_rows"] == 50


@pytest.mark.parametrize("name", ["out.xlsx", "out.txt", "out.parquet", "out.txt.gz"])
def test_extension_naming_no_format_is_refused(tmp_path, name):
    line = _one_error_line(run_subprocess(["pca", IRIS, "-q", "-o", tmp_path / name]), 2)
    ext = "." + name.split(".")[1]
    assert f"cannot tell the format from '{ext}': give --format json|csv" in line
    assert list(tmp_path.iterdir()) == []
    assert run_subprocess(["pca", IRIS, "-q", "--format", "csv", "-o", tmp_path / name]).returncode == 0


def test_predict_and_sample_offer_only_the_format_they_write(tmp_path, pca_model):
    for command in ("predict", "sample"):
        text = run_subprocess([command, "--help"]).stdout.decode()
        assert "[csv]" in text and "json" not in text.split("--format", 1)[1].split("\n  -")[0]
    line = _one_error_line(run_subprocess(["sample", pca_model, "-o", tmp_path / "draws.xlsx"]), 2)
    assert "cannot tell the format from '.xlsx': give --format csv" in line


# ---------------------------------------------------------------- the OS refusing


@contextlib.contextmanager
def _mounted(folder, options: str):
    """A tmpfs mounted on ``folder`` with ``options``, or None when mounting is not permitted."""
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    try:
        yield folder if done.returncode == 0 else None
    finally:
        if done.returncode == 0:
            subprocess.run(["umount", str(folder)], check=True)


def _assert_system_failure(proc, output) -> None:
    line = _one_error_line(proc, 1)
    assert str(output) in line and "internal error" not in line
    return line


def test_full_disk_is_a_system_failure_and_keeps_the_old_file(tmp_path):
    with _mounted(tmp_path / "small", "size=64k") as folder:
        if folder is None:
            pytest.skip("mounting a tmpfs is not permitted here (the full-device test still runs)")
        (folder / "filler").write_bytes(b"\0" * 60_000)  # leaves one 4 KiB page
        out = folder / "pca.json"
        out.write_text("old")
        line = _assert_system_failure(run_subprocess(["pca", DIGITS, "--k", "30", "-q", "-o", out]), out)
        assert "No space left on device" in line
        assert out.read_text() == "old" and sorted(p.name for p in folder.iterdir()) == ["filler", "pca.json"]


def test_full_device_is_a_system_failure(tmp_path):
    full = _full_device(tmp_path)
    line = _assert_system_failure(run_subprocess(["pca", IRIS, "-q", "-o", full]), full)
    assert "No space left on device" in line
    assert stat.S_ISCHR(os.lstat(full).st_mode)
    proc = _bash(f"vifit pca {IRIS} -q > {full}")
    assert "cannot write the result to stdout: No space left on device" in _one_error_line(proc, 1)


def test_file_size_limit_is_a_system_failure_with_no_partial_file(tmp_path):
    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills us instead of EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, 10_000))

    out = tmp_path / "pca.json"
    proc = subprocess.run([sys.executable, "-m", "vifit", "pca", str(DIGITS), "--k", "30", "-q", "-o", str(out)],
                          capture_output=True, cwd=ROOT, preexec_fn=limit_file_size, timeout=300)
    assert "File too large" in _assert_system_failure(proc, out)
    assert list(tmp_path.iterdir()) == []


def test_read_only_folder_is_a_system_failure_before_the_fit(tmp_path):
    with _mounted(tmp_path / "ro", "ro") as folder:
        if folder is None:
            pytest.skip("mounting a read-only tmpfs is not permitted here (root ignores folder modes)")
        out = folder / "gmm.json"
        line = _assert_system_failure(run_subprocess(["gmm", IRIS, "--k", "2", "-o", out]), out)
        assert "Read-only file system" in line


def test_checkpoint_that_cannot_be_written_warns_once_and_the_fit_goes_on(tmp_path):
    with _mounted(tmp_path / "ro", "ro") as folder:
        if folder is None:
            pytest.skip("mounting a read-only tmpfs is not permitted here")
        out = tmp_path / "gmm.json"
        proc = run_subprocess([*CHECKPOINTED_FIT, "--checkpoint", folder / "ck.npz", "-o", out])
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.decode().splitlines() if "checkpoint not written" in line]
    assert len(warnings) == 1 and "Read-only file system" in warnings[0]
    assert json.loads(out.read_text())["model"] == "gmm"


# ---------------------------------------------------------------- closed and full standard streams


@pytest.mark.parametrize("progress", ["plain", "rich", "json"])
def test_closed_stderr_does_not_stop_the_result(tmp_path, progress):
    out = tmp_path / "gmm.json"
    proc = _bash(f"vifit gmm {IRIS} --k 2 --max-iter 5 --progress {progress} -o {out} 2>&-")
    assert proc.returncode == 0
    assert json.loads(out.read_text())["model"] == "gmm"


def test_full_stderr_does_not_stop_the_result(tmp_path):
    out = tmp_path / "gmm.json"
    proc = _bash(f"vifit gmm {IRIS} --k 2 --max-iter 5 --progress rich -o {out} 2>{_full_device(tmp_path)}")
    assert proc.returncode == 0
    assert json.loads(out.read_text())["model"] == "gmm"


def test_closed_stdout_with_output_file_writes_the_result(tmp_path):
    out = tmp_path / "pca.json"
    proc = _bash(f"vifit pca {IRIS} -q -o {out} >&-")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["model"] == "pca"


def test_closed_stdout_without_output_file_is_one_line_exit_1():
    line = _one_error_line(_bash(f"vifit pca {IRIS} -q >&-"), 1)
    assert "cannot write the result to stdout: it is closed" in line


def test_closed_stdin_reads_as_empty():
    line = _one_error_line(_bash("vifit pca - <&-"), 2)
    assert "<stdin>" in line and "empty" in line


def test_plot_writes_to_a_device_or_stdout_with_format(tmp_path, pca_model):
    pytest.importorskip("matplotlib")
    device = tmp_path / "null"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    refused = run_subprocess(["plot", pca_model, IRIS, "-o", device])
    assert refused.returncode == 2 and b"--format" in refused.stderr
    done = run_subprocess(["plot", pca_model, IRIS, "-o", device, "--format", "png"])
    assert done.returncode == 0, done.stderr
    assert stat.S_ISCHR(os.stat(device).st_mode)  # still the device
    with _system_entry_restored("/dev/stdout"):
        shown = run_subprocess(["plot", pca_model, IRIS, "--format", "svg", "-o", "/dev/stdout"])
    assert shown.returncode == 0 and shown.stdout.startswith(b"<?xml"), shown.stderr
