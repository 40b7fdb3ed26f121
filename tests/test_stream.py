"""Chunked reading gives what the whole-file loader gives, with the same errors."""

from __future__ import annotations

import gzip
import sys

import numpy as np
import pytest

from conftest import SAMPLE
from vifit.data import ReadOptions, load_table
from vifit.errors import BadInput
from vifit.data.stream import TableStream


def _all(stream):
    return np.concatenate(list(stream.chunks()))


@pytest.mark.parametrize("name", ["iris.csv", "wine.csv", "digits.csv"])
@pytest.mark.parametrize("chunk_rows", [7, 64, 100000])
def test_chunks_equal_whole_file(name, chunk_rows):
    whole = load_table(str(SAMPLE / name))
    stream = TableStream(str(SAMPLE / name), chunk_rows=chunk_rows)
    assert stream.columns == whole.columns
    np.testing.assert_array_equal(_all(stream), whole.values)
    assert stream.n_rows == whole.n_rows
    np.testing.assert_array_equal(_all(stream), whole.values)  # a file can be read again


def test_gzip_and_options(tmp_path):
    path = tmp_path / "d.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("1;2;x\n3;;y\n5;6;z\n7;8;w\n")
    opts = ReadOptions(header=False, delimiter=";", dropna=True, columns="1-2")
    stream = TableStream(str(path), opts, chunk_rows=2)
    np.testing.assert_array_equal(_all(stream), [[1, 2], [5, 6], [7, 8]])
    assert stream.rows_dropped == 1 and stream.columns == ["x1", "x2"]


def test_standardization_matches_load_table():
    opts = ReadOptions(standardize=True)
    whole = load_table(str(SAMPLE / "wine.csv"), opts)
    stream = TableStream(str(SAMPLE / "wine.csv"), ReadOptions(), chunk_rows=50)
    stream.fit_standardization()
    np.testing.assert_allclose(stream.preprocessing["standardize"]["mean"],
                               whole.preprocessing["standardize"]["mean"], rtol=1e-12)
    np.testing.assert_allclose(stream.preprocessing["standardize"]["scale"],
                               whole.preprocessing["standardize"]["scale"], rtol=1e-10)
    np.testing.assert_allclose(_all(stream), whole.values, atol=1e-10)


def test_errors_name_rows_in_later_chunks(tmp_path):
    path = tmp_path / "late.csv"
    rows = [f"{i},{i + 1}" for i in range(100)]
    rows[73] = "73,oops"
    path.write_text("a,b\n" + "\n".join(rows) + "\n")
    with pytest.raises(BadInput, match=r"row 74 \(line 75\), column 'b': 'oops' is not a number"):
        _all(TableStream(str(path), chunk_rows=10))
    rows[73] = "73,74,75"
    path.write_text("a,b\n" + "\n".join(rows) + "\n")
    with pytest.raises(BadInput, match=r"row 74 \(line 75\): has 3 fields, expected 2"):
        _all(TableStream(str(path), chunk_rows=10))


def test_stdin_reads_once(monkeypatch):
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO((SAMPLE / "iris.csv").read_bytes())))
    stream = TableStream("-", chunk_rows=40)
    assert len(_all(stream)) == 150
    with pytest.raises(BadInput, match="only once"):
        _all(stream)
    with pytest.raises(BadInput, match="stdin"):
        stream.fit_standardization()


@pytest.mark.parametrize("name", ["empty.csv", "header_only.csv", "binary_garbage.csv", "truncated.csv.gz",
                                  "latin1_bytes.csv", "duplicate_header.csv", "a_directory.csv"])
def test_corpus_errors_are_bad_input(name):
    from test_bad_input_corpus import CORPUS

    with pytest.raises(BadInput):
        _all(TableStream(str(CORPUS / name), chunk_rows=16))


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_bad_utf8_far_into_a_streamed_file_names_its_line(tmp_path, suffix):
    """The decoder reads blocks; the message must still count lines from the file's start."""
    import gzip

    bad_line = 123_457  # far past the first block the reader peeks at, and many decoder blocks in
    body = b"a,b\n" + b"".join(b"1,caf\xe9\n" if i == bad_line else b"%d,%d\n" % (i, i) for i in range(2, 200_000))
    path = tmp_path / f"data{suffix}"
    path.write_bytes(gzip.compress(body) if suffix.endswith(".gz") else body)
    with pytest.raises(BadInput, match=f"line {bad_line}: bytes are not valid UTF-8"):
        _all(TableStream(str(path), chunk_rows=4096))
