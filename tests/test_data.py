"""The data loader: sources, compression, column choice, missing values, preprocessing."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile

import numpy as np
import pandas as pd
import pytest

from conftest import SAMPLE, invoke
from vifit.data import ReadOptions, load_table
from vifit.errors import BadInput

IRIS = pd.read_csv(SAMPLE / "iris.csv")
NUMERIC = IRIS.select_dtypes("number")


def test_text_columns_dropped_with_note():
    notes = []
    table = load_table(str(SAMPLE / "iris.csv"), note=notes.append)
    assert table.columns == list(NUMERIC.columns)
    np.testing.assert_array_equal(table.values, NUMERIC.to_numpy())
    assert any("species" in n for n in notes)


@pytest.mark.parametrize("suffix,opener", [
    (".gz", gzip.open), (".bz2", bz2.open), (".xz", lzma.open), (".zip", None)])
def test_compressed_inputs(tmp_path, suffix, opener):
    raw = (SAMPLE / "iris.csv").read_bytes()
    path = tmp_path / f"iris.csv{suffix}"
    if opener is None:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("iris.csv", raw)
    else:
        with opener(path, "wb") as stream:
            stream.write(raw)
    np.testing.assert_array_equal(load_table(str(path)).values, NUMERIC.to_numpy())


def test_stdin_source(monkeypatch):
    result = invoke(["pca", "-", "--k", "1", "-q"], input=(SAMPLE / "iris.csv").read_text())
    assert result.exit_code == 0, result.stderr
    assert '"source": "<stdin>"' in result.stdout


@pytest.mark.parametrize("spec,expected", [
    ("sepal_width,petal_length", ["sepal_width", "petal_length"]),
    ("2-3", ["sepal_width", "petal_length"]),
    ("1,3-4", ["sepal_length", "petal_length", "petal_width"]),
    ("petal_width, 1", ["petal_width", "sepal_length"]),
])
def test_column_specs(spec, expected):
    table = load_table(str(SAMPLE / "iris.csv"), ReadOptions(columns=spec))
    assert table.columns == expected
    np.testing.assert_array_equal(table.values, IRIS[expected].to_numpy())


def test_no_header_and_delimiter(tmp_path):
    path = tmp_path / "semi.txt"
    path.write_text("1;2\n3;4\n5;7\n")
    table = load_table(str(path), ReadOptions(header=False, delimiter=";"))
    assert table.columns == ["x1", "x2"]
    np.testing.assert_array_equal(table.values, [[1, 2], [3, 4], [5, 7]])
    tabbed = tmp_path / "tab.tsv"
    tabbed.write_text("a\tb\n1\t2\n3\t4\n")
    assert load_table(str(tabbed), ReadOptions(delimiter="tab")).columns == ["a", "b"]


def test_dropna_drops_and_counts(tmp_path):
    path = tmp_path / "holes.csv"
    path.write_text("a,b\n1,2\n,3\n4,inf\n5,6\nNA,1\n")
    notes = []
    table = load_table(str(path), ReadOptions(dropna=True), note=notes.append)
    np.testing.assert_array_equal(table.values, [[1, 2], [5, 6]])
    assert table.rows_dropped == 3 and table.describe()["rows_dropped"] == 3
    assert any("dropped 3" in n for n in notes)


def test_standardize_stores_mean_and_scale(tmp_path):
    path = tmp_path / "const.csv"
    path.write_text("a,b\n1,5\n2,5\n3,5\n")
    notes = []
    table = load_table(str(path), ReadOptions(standardize=True), note=notes.append)
    spec = table.preprocessing["standardize"]
    np.testing.assert_allclose(spec["mean"], [2, 5])
    np.testing.assert_allclose(spec["scale"], [np.std([1, 2, 3]), 1.0])
    np.testing.assert_allclose(table.values[:, 0], (np.array([1, 2, 3]) - 2) / np.std([1, 2, 3]))
    np.testing.assert_array_equal(table.values[:, 1], 0.0)
    assert any("constant" in n for n in notes)


def test_float32_dtype():
    table = load_table(str(SAMPLE / "iris.csv"), ReadOptions(dtype="float32"))
    assert table.values.dtype == np.float32
    assert load_table(str(SAMPLE / "iris.csv")).values.dtype == np.float64


def test_bom_and_quoted_fields_are_read(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeff\"a\",\"b\"\n\"1\",2\n3,\"4\"\n".encode("utf-8"))
    table = load_table(str(path))
    assert table.columns == ["a", "b"]
    np.testing.assert_array_equal(table.values, [[1, 2], [3, 4]])


def test_required_columns_are_taken_by_name_in_model_order():
    table = load_table(str(SAMPLE / "iris.csv"), required_columns=["petal_width", "sepal_length"])
    np.testing.assert_array_equal(table.values, IRIS[["petal_width", "sepal_length"]].to_numpy())


def test_mostly_numeric_column_with_a_typo_is_an_error_not_dropped(tmp_path):
    path = tmp_path / "typo.csv"
    path.write_text("a,b\n1,2\n3,4\n5,six\n")
    with pytest.raises(BadInput, match=r"row 3 \(line 4\), column 'b': 'six' is not a number"):
        load_table(str(path))


# ---------------------------------------------------------------- short (ragged) rows

# row 33 is short; row 2's empty last field and the quoted fields (a delimiter and a newline
# inside quotes) are not; the blank line is skipped like pandas skips it
SHORT_ROW = ("a,b,c\n1,2,3\n4,5,\n\n" + "1,2,3\n" * 29 + '"x\ny",2,3\n' + '"1,5",2\n' + "7,8,9\n")
SHORT_ROW_MESSAGE = r"row 33 \(line 36\): has 2 fields, expected 3 \(ragged rows\)"


def _read_whole(path, opts, monkeypatch):
    return load_table(str(path), opts).values


def _read_streamed(path, opts, monkeypatch):
    from vifit.data.stream import TableStream

    return np.vstack(list(TableStream(str(path), opts, chunk_rows=7).chunks()))


def _read_streamed_stdin(path, opts, monkeypatch):
    import io
    import sys

    from vifit.data.stream import TableStream

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(path.read_bytes())))
    return np.vstack(list(TableStream("-", opts, chunk_rows=7).chunks()))


READERS = {"whole": _read_whole, "streamed": _read_streamed, "streamed-stdin": _read_streamed_stdin}


@pytest.mark.parametrize("dropna", [False, True], ids=["plain", "dropna"])
@pytest.mark.parametrize("reader", sorted(READERS))
def test_short_row_is_ragged_with_or_without_dropna(tmp_path, monkeypatch, reader, dropna):
    path = tmp_path / "short.csv"
    path.write_text(SHORT_ROW)
    # columns a,b: the short row lacks only column c, which is not even chosen
    opts = ReadOptions(columns="b,c" if dropna else "b", dropna=dropna)
    with pytest.raises(BadInput, match=SHORT_ROW_MESSAGE) as error:
        READERS[reader](path, opts, monkeypatch)
    assert str(error.value).startswith(f"{path}:" if reader != "streamed-stdin" else "<stdin>:")


@pytest.mark.parametrize("reader", sorted(READERS))
def test_empty_last_field_is_missing_not_ragged(tmp_path, monkeypatch, reader):
    """The same file without its short row: empty values stay missing values (--dropna drops them)."""
    path = tmp_path / "holes.csv"
    path.write_text(SHORT_ROW.replace('"1,5",2\n', ""))
    with pytest.raises(BadInput, match=r"row 2 \(line 3\), column 'c': missing value"):
        READERS[reader](path, ReadOptions(columns="b,c"), monkeypatch)
    values = READERS[reader](path, ReadOptions(columns="b,c", dropna=True), monkeypatch)
    expected = pd.read_csv(path)[["b", "c"]].dropna().to_numpy()
    np.testing.assert_array_equal(values, expected)


def test_short_row_without_header(tmp_path):
    path = tmp_path / "bare.csv"
    path.write_text("1,2,3\n4,5,6\n7,8\n")
    with pytest.raises(BadInput, match=r"row 3 \(line 3\): has 2 fields, expected 3"):
        load_table(str(path), ReadOptions(header=False, dropna=True))


def test_short_row_through_the_cli_with_dropna(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text(SHORT_ROW)
    target = tmp_path / "out.json"
    result = invoke(["pca", path, "--k", "1", "--dropna", "-q", "-o", target])
    assert result.exit_code == 2
    assert "ragged" in result.stderr and not target.exists()
