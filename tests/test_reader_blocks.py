"""The whole-table reader on hostile and odd inputs, through a real ``python -m vifit``:
decompression and NUL bombs (under an address-space limit, so a failure cannot take the
machine down), CR-only and mixed line endings, encrypted zip members, and plot labels
holding '$'."""

from __future__ import annotations

import gzip
import io
import json
import resource
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from conftest import ROOT, invoke, run_subprocess

LIMIT = 1 << 30  # bytes of address space for a bomb's run (the interpreter and libraries map ~400 MB)


def _limited():
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def _run_limited(args, stdin=None):
    return subprocess.run([sys.executable, "-m", "vifit", *map(str, args)], stdin=stdin, capture_output=True,
                          cwd=ROOT, preexec_fn=_limited, timeout=120)


def _bomb(path, head: bytes, block: bytes, repeats: int):
    """A gzip of ``head`` and then ``block`` ``repeats`` times: one compressed member per
    block, written once and copied, so a bomb of hundreds of MiB costs a fraction of a second."""
    member = gzip.compress(block, compresslevel=9)
    with open(path, "wb") as stream:
        stream.write(gzip.compress(head))
        for _ in range(repeats):
            stream.write(member)
    return path


def _one_error_line(result, *words):
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr, stderr
    for word in words:
        assert word in stderr, stderr
    return stderr


@pytest.mark.parametrize("command", [["pca"], ["gmm", "--k", "2"]])
def test_rows_bomb_is_refused_with_the_estimate(tmp_path, command):
    # 256 MiB of text -> 16,777,216 rows x 8 columns = 1 GiB as float64, above what the
    # 1 GiB address space leaves after the interpreter and its libraries
    rows = 1 << 20
    path = _bomb(tmp_path / "rows.csv.gz", b"a,b,c,d,e,f,g,h\n", b"1,2,3,4,5,6,7,8\n" * rows, 16)
    out = tmp_path / "out.json"
    result = _run_limited([command[0], path, *command[1:], "-q", "-o", out])
    stderr = _one_error_line(result, "rows.csv.gz", "would need", "as float64", "x 8 columns", "available")
    assert "GiB" in stderr or "MiB" in stderr
    assert not out.exists()


def test_nul_bomb_stops_at_the_first_nul_block(tmp_path):
    # 100 KB of good rows (past any first-block sniffing), then 2 GiB of NUL bytes
    head = b"a,b\n" + b"1,2\n3,4\n" * 12_500
    path = _bomb(tmp_path / "nul.csv.gz", head, b"\0" * (16 << 20), 128)
    for command in (["pca"], ["gmm", "--k", "2"], ["gmm", "--k", "2", "--method", "svi"]):
        result = _run_limited([command[0], path, *command[1:], "-q"])
        _one_error_line(result, "nul.csv.gz", "NUL bytes")


def test_nul_bomb_on_stdin(tmp_path):
    head = b"a,b\n" + b"1,2\n3,4\n" * 12_500
    path = _bomb(tmp_path / "nul.csv.gz", head, b"\0" * (16 << 20), 128)
    source = subprocess.Popen(["gzip", "-dc", str(path)], stdout=subprocess.PIPE)
    try:
        result = _run_limited(["pca", "-", "-q"], stdin=source.stdout)
    finally:
        source.stdout.close()
        source.kill()
        source.wait()
    _one_error_line(result, "<stdin>", "NUL bytes")


def _table(rows=40, seed=0):
    x = np.random.default_rng(seed).normal(size=(rows, 3)) * [1.0, 2.0, 0.5]
    return "a,b,c\n" + "".join(",".join(f"{v:.6f}" for v in row) + "\n" for row in x)


def _converted(text, ending):
    if ending != "mixed":
        return text.replace("\n", ending)
    lines = text.splitlines(keepends=True)
    return "".join(line.replace("\n", ("\r", "\r\n", "\n")[i % 3]) for i, line in enumerate(lines))


@pytest.mark.parametrize("ending", ["\r", "\r\n", "mixed"])
def test_line_endings_read_like_newlines(tmp_path, ending):
    from vifit.data import load_table

    text = _table()
    reference = tmp_path / "lf.csv"
    reference.write_text(text)
    odd = tmp_path / "odd.csv"
    odd.write_bytes(_converted(text, ending).encode())
    expected = load_table(str(reference)).values
    np.testing.assert_array_equal(load_table(str(odd)).values, expected)
    result = invoke(["pca", "-", "--k", "2", "-q"], input=_converted(text, ending).encode())
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["data"]["n_rows"] == expected.shape[0]


def test_cr_only_file_through_the_cli(tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes(_table().replace("\n", "\r").encode())
    result = run_subprocess(["pca", path, "--k", "2", "-q"])
    assert result.returncode == 0, result.stderr.decode()
    document = json.loads(result.stdout)
    assert document["data"]["n_rows"] == 40 and document["data"]["columns"] == ["a", "b", "c"]


def test_cr_only_short_row_is_named(tmp_path):
    path = tmp_path / "short.csv"
    path.write_bytes(b"a,b,c\r1,2,3\r4,5\r6,7,8\r")
    result = run_subprocess(["pca", path, "-q"])
    _one_error_line(result, "row 2", "2 fields, expected 3")


def test_blank_lines_before_the_header_then_a_repeated_name(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("\n\na,a\n1,2\n3,4\n")
    _one_error_line(run_subprocess(["pca", path, "-q"]), "'a'", "more than once")


def test_encrypted_zip_member(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("d.csv", _table())
    data = bytearray(buffer.getvalue())
    # zipfile cannot write encryption; set the "encrypted" flag in both headers, as a
    # password-protected member has it (the bytes need not decrypt: they are never read)
    data[6] |= 1
    central = data.find(b"PK\x01\x02")
    data[central + 8] |= 1
    path = tmp_path / "locked.zip"
    path.write_bytes(bytes(data))
    _one_error_line(run_subprocess(["pca", path, "-q"]), "locked.zip", "encrypted zip members are not supported")


def test_plot_draws_dollar_column_names_as_text(tmp_path):
    pytest.importorskip("matplotlib")
    x = np.random.default_rng(1).normal(size=(30, 3)) + np.repeat([[0, 0, 0], [6, 6, 6]], 15, axis=0)
    data = tmp_path / "d.csv"
    names = ["$x$", "$\\frac{a$", "$" * 501]  # mathtext: a syntax error, and a deep recursion
    data.write_text(",".join(names) + "\n" + "".join(",".join(f"{v:.5f}" for v in row) + "\n" for row in x))
    model = tmp_path / "m.json"
    assert invoke(["gmm", data, "--k", "2", "--seed", "0", "-q", "-o", model]).exit_code == 0
    for dims in ("1,2", "2,3"):
        figure = tmp_path / "m.png"
        result = run_subprocess(["plot", model, data, "--dims", dims, "-o", figure])
        assert result.returncode == 0, result.stderr.decode()
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_many_chunks_read_like_one(tmp_path, monkeypatch):
    """Rows split over many parsed chunks and array growths come out as pandas reads them,
    and errors deep in the file name the file's own row and line."""
    import pandas as pd

    from vifit import data
    from vifit.errors import BadInput

    monkeypatch.setattr(data.table, "CHUNK_VALUES", 3 * 64)  # 64 rows a chunk
    x = np.random.default_rng(2).normal(size=(2000, 3))
    text = "a,b,c\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in x)
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    np.testing.assert_array_equal(data.load_table(str(path)).values, pd.read_csv(path).to_numpy())
    lines = text.splitlines(keepends=True)
    lines[1501] = "1,,3\n"  # data row 1501
    path.write_bytes(gzip.compress("".join(lines).encode()))
    with pytest.raises(BadInput, match=r"row 1501 \(line 1502\), column 'b'"):
        data.load_table(str(path))
    table = data.load_table(str(path), data.ReadOptions(dropna=True))
    assert table.rows_dropped == 1
    np.testing.assert_array_equal(table.values, np.delete(x, 1500, axis=0))
    lines[1501] = "1,3\n"
    path.write_bytes(gzip.compress("".join(lines).encode()))
    with pytest.raises(BadInput, match=r"row 1501 \(line 1502\): has 2 fields, expected 3"):
        data.load_table(str(path))
