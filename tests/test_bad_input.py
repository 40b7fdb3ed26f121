"""Every bad input: exit 2, exactly one stderr line naming the problem, no traceback,
no output file, and an existing output file left byte for byte as it was."""

from __future__ import annotations

import gzip
import json

import pytest

from conftest import SAMPLE, invoke, run_subprocess

GOOD = "a,b,c\n1,2,3\n4,5,6\n7,8,10\n2,2,2\n"


def _write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def _gzip_truncated(tmp_path):
    whole = gzip.compress((GOOD * 200).encode())
    return _write(tmp_path, "cut.csv.gz", whole[: len(whole) // 2])


# name -> (builder(tmp_path) -> args before -o, words the message must contain)
CASES = {
    "missing file": (lambda t: ["pca", t / "absent.csv"], ["absent.csv", "no such file"]),
    "empty file": (lambda t: ["pca", _write(t, "empty.csv", "")], ["empty"]),
    "blank lines only": (lambda t: ["pca", _write(t, "blank.csv", "\n\n  \n")], ["empty"]),
    "header only": (lambda t: ["pca", _write(t, "head.csv", "a,b,c\n")], ["no data rows"]),
    "ragged long row": (lambda t: ["pca", _write(t, "rag.csv", "a,b\n1,2\n3,4,5\n6,7\n")], ["row 2", "fields"]),
    "ragged short row": (lambda t: ["pca", _write(t, "short.csv", "a,b,c\n1,2,3\n4,5\n6,7,8\n")],
                         ["row 2", "line 3", "2 fields, expected 3", "ragged"]),
    "text in numeric column": (
        lambda t: ["pca", _write(t, "text.csv", "a,b\n1,2\n3,x7\n5,6\n7,9\n")], ["row 2", "line 3", "'b'", "x7"]),
    "text in chosen text column": (
        lambda t: ["pca", SAMPLE / "iris.csv", "--columns", "sepal_length,species"], ["'species'", "not a number"]),
    "nan": (lambda t: ["pca", _write(t, "nan.csv", "a,b\n1,2\nnan,4\n5,6\n7,1\n")], ["row 2", "'a'", "--dropna"]),
    "empty cell": (lambda t: ["pca", _write(t, "hole.csv", "a,b\n1,2\n3,\n5,6\n7,1\n")], ["row 2", "'b'"]),
    "inf": (lambda t: ["pca", _write(t, "inf.csv", "a,b\n1,2\n3,inf\n5,6\n7,1\n")], ["row 2", "infinite"]),
    "overflow": (lambda t: ["pca", _write(t, "big.csv", "a,b\n1,2\n3,1e999\n5,6\n7,1\n")], ["infinite"]),
    "too few rows": (lambda t: ["pca", _write(t, "one.csv", "a,b\n1,2\n")], ["1 usable row", "at least 2"]),
    "ragged short row with dropna": (
        lambda t: ["pca", _write(t, "short2.csv", "a,b,c\n1,2,3\n4,5\n6,7,8\n9,9,1\n"), "--dropna"], ["row 2", "ragged"]),
    "too few rows after dropna": (
        lambda t: ["pca", _write(t, "nan2.csv", "a,b\n1,2\nnan,4\n"), "--dropna"], ["at least 2"]),
    "unknown column": (lambda t: ["pca", SAMPLE / "iris.csv", "--columns", "petal_area"], ["petal_area"]),
    "column index out of range": (lambda t: ["pca", SAMPLE / "iris.csv", "--columns", "2-9"], ["2-9", "1-5"]),
    "binary garbage": (lambda t: ["pca", _write(t, "bin.csv", bytes(range(256)) * 8)], ["binary"]),
    "latin-1 bytes": (lambda t: ["pca", _write(t, "latin.csv", "a,b\n1,2\n3,4\n".encode() + "caf\xe9,1\n".encode("latin-1"))],
                      ["UTF-8", "line 4"]),
    "truncated gzip": (lambda t: ["pca", _gzip_truncated(t)], ["damaged or truncated"]),
    "directory": (lambda t: ["pca", t], ["directory"]),
    "duplicate header": (lambda t: ["pca", _write(t, "dup.csv", "a,a\n1,2\n3,4\n")], ["'a'", "more than once"]),
    "no numeric columns": (lambda t: ["pca", _write(t, "words.csv", "a,b\nx,y\nz,w\n")], ["no numeric columns"]),
    "k larger than data": (lambda t: ["pca", SAMPLE / "iris.csv", "--k", "7"], ["--k 7"]),
    "k zero": (lambda t: ["pca", SAMPLE / "iris.csv", "--k", "0"], ["--k"]),
    "unknown option": (lambda t: ["pca", SAMPLE / "iris.csv", "--kk", "2"], ["--kk"]),
    "bad delimiter": (lambda t: ["pca", SAMPLE / "iris.csv", "--delimiter", ";;"], ["--delimiter"]),
    "model not json": (lambda t: ["predict", _write(t, "m.json", "hello"), SAMPLE / "iris.csv"], ["not a vifit model"]),
    "model other schema": (
        lambda t: ["predict", _write(t, "m.json", json.dumps({"schema": "vifit.fit/99"})), SAMPLE / "iris.csv"],
        ["vifit.fit/99"]),
    "model missing field": (
        lambda t: ["predict", _write(t, "m.json", json.dumps(
            {"schema": "vifit.fit/1", "model": "pca", "config": {}, "data": {"columns": ["sepal_length"]},
             "params": {"summary": {}}, "fit": {}})), SAMPLE / "iris.csv"], ["params.summary.mean"]),
    "model columns missing from data": (lambda t: ["predict", _pca_model(t), _write(t, "other.csv", "u,v\n1,2\n")],
                                        ["sepal_length"]),
    "sample from missing model": (lambda t: ["sample", t / "none.json"], ["no such model file"]),
}


def _pca_model(tmp_path):
    path = tmp_path / "pca.json"
    result = invoke(["pca", SAMPLE / "iris.csv", "--k", "2", "-q", "-o", path])
    assert result.exit_code == 0
    return path


def _plain_progress(command: str) -> list[str]:
    """--progress plain for commands that report progress (sample has no such option)."""
    from vifit.cli import cli

    offered = {opt for p in cli.get_command(None, command).params for opt in getattr(p, "opts", [])}
    return ["--progress", "plain"] if "--progress" in offered else []


def _target_for(tmp_path, command: str):
    """An output path with the extension the command writes (predict and sample: CSV only)."""
    return tmp_path / ("result.csv" if command in ("predict", "sample") else "result.json")


def _check(code, stderr, words, target, before):
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, stderr
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("vifit: error: ")
    for word in words:
        assert word in lines[0], (word, lines[0])
    if before is None:
        assert not target.exists()
    else:
        assert target.read_bytes() == before
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("existing", [False, True], ids=["no-output", "existing-output"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_in_process(tmp_path, case, existing):
    build, words = CASES[case]
    args = build(tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = _target_for(out_dir, args[0])
    before = None
    if existing:
        before = b'{"precious": true}\n'
        target.write_bytes(before)
    result = invoke([*args, "-o", target, *_plain_progress(args[0])])
    _check(result.exit_code, result.stderr, words, target, before)
    assert result.stdout == ""


# run as a real `python -m vifit` process too: every bad input issue 3 lists, plus a few more
# (one process each, on files of a few rows)
REAL_PROCESS_CASES = [
    "missing file", "empty file", "header only", "ragged long row", "ragged short row",
    "ragged short row with dropna", "text in numeric column", "nan", "empty cell", "inf", "overflow",
    "too few rows", "too few rows after dropna", "unknown column", "binary garbage", "truncated gzip",
    "k zero", "model not json", "latin-1 bytes",
]


@pytest.mark.parametrize("case", REAL_PROCESS_CASES)
def test_bad_input_real_process(tmp_path, case):
    build, words = CASES[case]
    args = build(tmp_path)
    target = _target_for(tmp_path / "out", args[0])
    target.parent.mkdir()
    before = b"old result\n"
    target.write_bytes(before)
    proc = run_subprocess([*args, "-o", target])
    _check(proc.returncode, proc.stderr.decode(), words, target, before)
    assert proc.stdout == b""


def test_bad_rows_from_stdin_name_stdin():
    result = invoke(["pca", "-"], input="a,b\n1,2\n3,oops\n4,5\n")
    assert result.exit_code == 2
    assert "<stdin>: row 2 (line 3), column 'b'" in result.stderr


def test_debug_shows_traceback_only_for_internal_errors(monkeypatch):
    from vifit.api import pca_fit as runner

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(runner, "fit", broken)
    quiet = invoke(["pca", SAMPLE / "iris.csv", "-q"])
    assert quiet.exit_code == 1
    assert "Traceback" not in quiet.stderr and "boom" in quiet.stderr and "--debug" in quiet.stderr
    loud = invoke(["pca", SAMPLE / "iris.csv", "-q", "--debug"])
    assert loud.exit_code == 1 and "Traceback" in loud.stderr


def _data_commands():
    """Every command that reads a DATA file (found from the CLI, so new ones are covered)."""
    from vifit.cli import cli

    return [name for name in cli.list_commands(None)
            if any(p.name == "data" for p in cli.get_command(None, name).params)]


def _reading_runs(command, data, model):
    """Argument lists that make ``command`` read ``data`` (several where it has several readers)."""
    from test_bad_input_corpus import QUICK_FIT

    if command in ("predict", "score"):
        return [[command, model, data]]
    if command == "plot":
        return [["plot", model, data]]
    if command == "compare":
        return [["compare", data, "--models", "pca:k=1"]]
    runs = [[command, data, *QUICK_FIT[command]]]
    if command == "gmm":
        runs.append(["gmm", data, "--k", "2", "--method", "svi", "--epochs", "1"])  # the chunked reader
    return runs


@pytest.mark.parametrize("command", _data_commands())
def test_unreadable_data_file(tmp_path, monkeypatch, command):
    """Tests run as root, where chmod 000 does not stop reading: the open itself is made to fail."""
    import builtins
    import os

    model = _pca_model(tmp_path)
    data = tmp_path / "locked.csv"
    data.write_bytes((SAMPLE / "iris.csv").read_bytes())
    real_open = builtins.open

    def refusing_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.fspath(file) == str(data):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing_open)
    runs = _reading_runs(command, data, model)
    assert runs, command
    for args in runs:
        out_dir = tmp_path / "out"
        out_dir.mkdir(exist_ok=True)
        target = out_dir / ("figure.png" if command == "plot" else _target_for(out_dir, command).name)
        result = invoke([*args, "-o", target])
        _check(result.exit_code, result.stderr, [str(data), "permission"], target, None)
        assert result.stdout == ""
