"""Tables as pandas, R, Excel and shells write them fit as the clean CSV does.

Each file holds the same numbers as ``clean.csv`` (``df.to_csv(index=False)``), written as a
tool writes it: pandas ``df.to_csv()`` (the index as an unnamed first column), R's
``write.csv`` (quoted header and row names, header "" for them) and ``write.table`` (space
separated, quoted, no header entry for the row names: read with ``--delimiter ' '``), Excel's
"CSV (semicolon)" with decimal commas, a TSV, a file whose lines end with the delimiter, and
a headerless file. Each fits through a real subprocess with the right columns and notes, and
its fitted parameters equal the clean file's, for gmm CAVI, gmm SVI (streamed) and pca.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import run_subprocess

COLUMNS = ["a", "b", "c"]


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(-2, 0.5, size=(30, 3)), rng.normal(2, 0.5, size=(30, 3))])
    return pd.DataFrame(np.round(x, 3), columns=COLUMNS)  # 3 decimals: every writer below is exact


def _numbers(row, decimal=".") -> list[str]:
    return [repr(float(v)).replace(".", decimal) for v in row]


def _r_write_csv(df) -> str:
    """R: write.csv(df) -- quote = TRUE, row names as the first column with header ""."""
    lines = [",".join(['""'] + [f'"{c}"' for c in df.columns])]
    lines += [",".join([f'"{i + 1}"'] + _numbers(row)) for i, row in enumerate(df.to_numpy())]
    return "\n".join(lines) + "\n"


def _r_write_table(df) -> str:
    """R: write.table(df) -- sep = " ", quote = TRUE, row names with no header entry."""
    lines = [" ".join(f'"{c}"' for c in df.columns)]
    lines += [" ".join([f'"{i + 1}"'] + _numbers(row)) for i, row in enumerate(df.to_numpy())]
    return "\n".join(lines) + "\n"


def _excel_semicolon(df) -> str:
    """Excel's "CSV (semicolon)" in a locale with decimal commas (CRLF line ends)."""
    lines = [";".join(df.columns)] + [";".join(_numbers(row, ",")) for row in df.to_numpy()]
    return "\r\n".join(lines) + "\r\n"


# name -> (file name, text, extra options, words the notes must hold, columns read)
CASES = {
    "pandas-index": ("pandas_index.csv", lambda df: df.to_csv(), [],
                     ["column 1 has an empty name and unique values: read as the row index"], COLUMNS),
    "r-write-csv": ("r_write.csv", _r_write_csv, [],
                    ["column 1 has an empty name and unique values: read as the row index"], COLUMNS),
    "r-write-table": ("r_write_table.txt", _r_write_table, ["--delimiter", " "],
                      ["one name fewer than the rows have fields (R's write.table)"], COLUMNS),
    "excel-semicolon": ("excel.csv", _excel_semicolon, ["--decimal", ","],
                        ["reading fields separated by ';'"], COLUMNS),
    "tsv": ("data.tsv", lambda df: df.to_csv(sep="\t", index=False), [],
            ["reading fields separated by TAB"], COLUMNS),
    "trailing-delimiter": ("trailing.csv", lambda df: df.to_csv(index=False).replace("\n", ",\n"), [],
                           ["the empty last column is ignored"], COLUMNS),
    "headerless": ("headerless.csv", lambda df: df.to_csv(index=False, header=False), ["--no-header"], [],
                   ["x1", "x2", "x3"]),
}

FITS = {
    "gmm": ["gmm", "--k", "2", "--seed", "0"],
    "svi": ["gmm", "--k", "2", "--seed", "0", "--method", "svi", "--epochs", "2", "--batch-size", "20"],
    "pca": ["pca", "--k", "2"],
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("conventions")
    df = _frame()
    paths = {"clean": folder / "clean.csv"}
    paths["clean"].write_text(df.to_csv(index=False))
    for case, (name, write, *_) in CASES.items():
        paths[case] = folder / name
        paths[case].write_text(write(df), newline="")
    return paths


@pytest.fixture(scope="module")
def clean_fits(files):
    fits = {}
    for fit, args in FITS.items():
        result = run_subprocess([*args[:1], files["clean"], *args[1:], "--progress", "none"])
        assert result.returncode == 0, result.stderr.decode()
        fits[fit] = json.loads(result.stdout)
    return fits


@pytest.mark.parametrize("fit", FITS)
@pytest.mark.parametrize("case", CASES)
def test_a_tools_table_fits_as_the_clean_csv(files, clean_fits, case, fit):
    _, _, extra, notes, columns = CASES[case]
    args = FITS[fit]
    result = run_subprocess([*args[:1], files[case], *args[1:], *extra, "--progress", "none"])
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    for words in notes:
        assert words in stderr
    assert "Traceback" not in stderr
    document, clean = json.loads(result.stdout), clean_fits[fit]
    assert document["data"]["columns"] == columns
    assert document["data"]["n_rows"] == clean["data"]["n_rows"] == 60
    assert json.dumps(document["params"], sort_keys=True) == json.dumps(clean["params"], sort_keys=True)
    if fit == "svi":
        assert document["config"]["stream"] is True


def test_a_header_of_numbers_gets_a_note_and_no_header_names_x1_to_xd(files):
    result = run_subprocess(["pca", files["headerless"], "--k", "2", "--progress", "none"])
    assert result.returncode == 0, result.stderr.decode()
    assert "the first row looks like data: use --no-header" in result.stderr.decode()
    assert json.loads(result.stdout)["data"]["n_rows"] == 59  # the first row was read as the header


def test_decimal_commas_without_decimal_say_to_add_it(files):
    result = run_subprocess(["pca", files["excel-semicolon"], "--k", "2", "--delimiter", ";"])
    stderr = result.stderr.decode()
    assert result.returncode == 2 and len(stderr.strip().splitlines()) == 1, stderr
    assert "no numeric columns found" in stderr and "add --decimal ," in stderr


def test_columns_count_the_row_index_and_refuse_it(files):
    result = run_subprocess(["pca", files["pandas-index"], "--k", "2", "--columns", "2-4", "--progress", "none"])
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout)["data"]["columns"] == COLUMNS
    result = run_subprocess(["pca", files["pandas-index"], "--k", "2", "--columns", "1-3"])
    assert result.returncode == 2
    assert "column 1 is the row index, not a feature" in result.stderr.decode()


def test_a_tab_separated_file_named_csv_still_asks_for_delimiter(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a\tb\n1\t2\n3\t4\n5\t6\n")
    result = run_subprocess(["pca", path, "--k", "1"])
    assert result.returncode == 2 and "--delimiter" in result.stderr.decode()


@pytest.mark.parametrize("case", ["pandas-index", "r-write-table", "excel-semicolon", "trailing-delimiter"])
def test_the_dask_pieces_read_the_conventions_too(files, case):
    """The client's head read gives the workers' layout; a piece reads the clean rows."""
    from vifit.data import ReadOptions
    from vifit.distributed import partitions, reading

    _, _, extra, _, _ = CASES[case]
    delimiter = " " if "--delimiter" in extra else None
    opts = ReadOptions(delimiter=delimiter, decimal="," if "--decimal" in extra else ".")
    notes = []
    columns, layout, weight = partitions.choose_columns(str(files[case]), opts, "DATA", notes.append)
    assert columns == COLUMNS and notes and weight is None
    header = layout.sep.join(layout.header_names)
    x, dropped = reading.read_piece(reading.plan([str(files[case])])[0], list(layout.fields), columns, header,
                                    layout.sep, False, "float64", layout.decimal)
    np.testing.assert_array_equal(x, _frame().to_numpy())


def test_stdin_gets_the_conventions(files, clean_fits):
    result = run_subprocess(["pca", "-", "--k", "2", "--progress", "none"], input=files["pandas-index"].read_bytes())
    assert result.returncode == 0, result.stderr.decode()
    assert "read as the row index" in result.stderr.decode()
    assert json.loads(result.stdout)["params"] == clean_fits["pca"]["params"]


def test_a_row_lacking_only_the_trailing_delimiter_is_read_a_shorter_one_is_ragged(tmp_path):
    from vifit.data import ReadOptions, TableStream, load_table
    from vifit.errors import BadInput

    path = tmp_path / "t.csv"
    path.write_text("a,b,\n1,2,\n3,4\n5,6,\n")
    notes = []
    table = load_table(str(path), ReadOptions(), note=notes.append)
    assert table.columns == ["a", "b"] and table.values.tolist() == [[1, 2], [3, 4], [5, 6]]
    assert any("empty last column is ignored" in n for n in notes)
    stream = TableStream(str(path), ReadOptions(), chunk_rows=2)
    assert np.concatenate(list(stream.chunks())).tolist() == [[1, 2], [3, 4], [5, 6]]
    path.write_text("a,b,\n" + "1,2,\n" * 300 + "3\n")  # past the rows the layout is judged on
    with pytest.raises(BadInput, match=r"row 301 \(line 302\): has 1 fields, expected 2 \(ragged rows\)"):
        load_table(str(path))


def test_an_empty_named_first_column_that_is_not_an_index_is_still_refused(tmp_path):
    from vifit.data import load_table
    from vifit.errors import BadInput

    path = tmp_path / "t.csv"
    path.write_text(",a\n1.5,2\n1.5,3\n")  # floats, repeated: a feature that lost its name
    with pytest.raises(BadInput, match="header: column 1 has an empty name"):
        load_table(str(path))


@pytest.mark.parametrize("case", ["pandas-index", "excel-semicolon", "tsv", "trailing-delimiter"])
def test_predict_reads_the_tools_tables_as_the_clean_csv(files, clean_fits, case, tmp_path):
    """predict takes the same --delimiter (sniffed) and --decimal as the fits: scoring a tool's
    export writes the rows scoring the clean CSV writes."""
    model = tmp_path / "pca.json"
    model.write_text(json.dumps(clean_fits["pca"]))
    clean = run_subprocess(["predict", model, files["clean"], "-q"])
    assert clean.returncode == 0, clean.stderr.decode()
    _, _, extra, _, _ = CASES[case]
    other = run_subprocess(["predict", model, files[case], *extra, "-q"])
    assert other.returncode == 0, other.stderr.decode()
    if case == "pandas-index":  # the row index is the row id, written first under its empty name
        header, *rows = clean.stdout.decode().splitlines()
        expected = ["," + header] + [f"{i},{row}" for i, row in enumerate(rows)]
        assert other.stdout.decode().splitlines() == expected
    else:
        assert other.stdout == clean.stdout
