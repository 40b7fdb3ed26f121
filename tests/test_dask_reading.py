"""``distributed.reading``: files cut into pieces, each read in chunks into one float64 array.

No cluster is needed: the functions the workers run are called here directly, with small
blocks and chunks so every boundary case (a line across a block edge, a header, a chunk
edge, blank lines, a last line without a newline) is met."""

from __future__ import annotations

import gzip
import re

import numpy as np
import pytest

from vifit.distributed import reading
from vifit.errors import BadInput


def _write(path, text: str):
    path.write_bytes(text.encode())
    return str(path)


def _read_all(files, names, columns, header, sep=",", dropna=False, blocksize=None):
    """The pieces of the files read and stacked in order; (x, dropped, piece count)."""
    pieces = reading.plan(files, blocksize)
    parts = [reading.read_piece(p, names, columns, header, sep, dropna) for p in pieces]
    for x, _ in parts:
        assert x.dtype == np.float64 and x.flags.c_contiguous and x.shape[1] == len(columns)
    return np.concatenate([x for x, _ in parts]), sum(d for _, d in parts), len(pieces)


@pytest.fixture
def table(tmp_path):
    """250 rows of 3 columns with values of varied width, as CSV with a header."""
    x = np.round(np.random.default_rng(0).normal(size=(250, 3)) * 10 ** np.arange(3), 4)
    text = "a,b,c\n" + "".join(",".join(repr(float(v)) for v in r) + "\n" for r in x)
    return tmp_path, x, text


@pytest.mark.parametrize("blocksize", [None, 1, 7, 64, 1000])
@pytest.mark.parametrize("chunk_rows", [1, 16, 65536])
def test_every_row_once_in_order_for_any_block_and_chunk_size(table, monkeypatch, blocksize, chunk_rows):
    folder, x, text = table
    monkeypatch.setattr(reading, "CHUNK_ROWS", chunk_rows)
    path = _write(folder / "t.csv", text)
    got, dropped, count = _read_all([path], ["a", "b", "c"], ["a", "b", "c"], "a,b,c", blocksize=blocksize)
    np.testing.assert_array_equal(got, x)
    assert dropped == 0
    assert count == (1 if blocksize is None else -(-len(text) // blocksize))


def test_columns_reordered_and_subset_crlf_blank_lines_and_no_final_newline(tmp_path, monkeypatch):
    monkeypatch.setattr(reading, "CHUNK_ROWS", 2)
    path = _write(tmp_path / "t.csv", "a, b ,c\r\n1,2,3\r\n\r\n4, 5,6\r\n7,8,9")
    for blocksize in (None, 5):
        got, _, _ = _read_all([path], ["a", "b", "c"], ["c", "a"], "a,b,c", blocksize=blocksize)
        np.testing.assert_array_equal(got, [[3, 1], [6, 4], [9, 7]])


def test_no_header_other_delimiter_and_several_files_in_order(tmp_path):
    first = _write(tmp_path / "p0.csv", "1;2\n3;4\n")
    second = _write(tmp_path / "p1.csv", "5;6\n")
    got, _, count = _read_all([first, second], ["x1", "x2"], ["x2"], None, sep=";", blocksize=3)
    np.testing.assert_array_equal(got, [[2], [4], [6]])
    assert count == 5  # p0.csv in 3-byte blocks 0-3, 3-6, 6-8 (the last owns no line), p1.csv 0-3, 3-4


def test_compressed_file_is_one_piece_read_in_chunks(tmp_path, monkeypatch, table):
    _, x, text = table
    monkeypatch.setattr(reading, "CHUNK_ROWS", 16)
    path = tmp_path / "t.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(text)
    got, _, count = _read_all([str(path)], ["a", "b", "c"], ["a", "b", "c"], "a,b,c", blocksize=10)
    np.testing.assert_array_equal(got, x)
    assert count == 1


def test_dropna_drops_rows_across_chunks_and_counts_them(tmp_path, monkeypatch):
    monkeypatch.setattr(reading, "CHUNK_ROWS", 2)
    path = _write(tmp_path / "t.csv", "a,b\n1,2\n3,\nnan,4\n5,6\n7,inf\n8,9\n")
    got, dropped, _ = _read_all([path], ["a", "b"], ["a", "b"], "a,b", dropna=True)
    np.testing.assert_array_equal(got, [[1, 2], [5, 6], [8, 9]])
    assert dropped == 3


def test_missing_value_names_the_partition_row_and_column(tmp_path, monkeypatch):
    monkeypatch.setattr(reading, "CHUNK_ROWS", 2)
    path = _write(tmp_path / "t.csv", "a,b\n1,2\n3,4\n5,inf\n")
    with pytest.raises(BadInput) as error:
        _read_all([path], ["a", "b"], ["a", "b"], "a,b")
    assert str(error.value).endswith("t.csv (partition 1): row 3 (line 4), column 'b': infinite value; "
                                     "use --dropna to skip such rows")


def test_a_block_names_its_byte_range(tmp_path):
    path = _write(tmp_path / "t.csv", "a,b\n1,2\n3,4\n7,8\n5,\n")  # block 2 owns the lines after byte 8's
    with pytest.raises(BadInput, match=r"t\.csv \(partition 2: bytes 12-19 of the file, rows counted from there\): "
                                       r"row 2 \(line 2\), column 'b': missing value"):
        _read_all([path], ["a", "b"], ["a", "b"], "a,b", blocksize=8)


def test_text_value_is_bad_input_naming_the_value(tmp_path):
    path = _write(tmp_path / "t.csv", "a,b\n1,2\n3,x7\n")
    # the whole-table reader's message: the row, line, column and value
    with pytest.raises(BadInput, match=r"t\.csv \(partition 1\): row 2 \(line 3\), column 'b': 'x7' is not a number"):
        _read_all([path], ["a", "b"], ["a", "b"], "a,b")


def test_other_header_in_a_later_file_and_empty_file_are_bad_input(tmp_path):
    first = _write(tmp_path / "p0.csv", "a,b\n1,2\n")
    other = _write(tmp_path / "p1.csv", "b,a\n3,4\n")
    with pytest.raises(BadInput, match=r"p1\.csv: header 'b,a' differs from the first file's \('a,b'\)"):
        _read_all([first, other], ["a", "b"], ["a", "b"], "a,b")
    empty = _write(tmp_path / "p2.csv", "")
    with pytest.raises(BadInput, match=r"p2\.csv: file is empty"):
        reading.plan([first, empty])


def test_header_only_file_and_a_block_inside_one_line_hold_no_rows(tmp_path):
    only = _write(tmp_path / "h.csv", "a,b\n")
    x, dropped = reading.read_piece(reading.plan([only])[0], ["a", "b"], ["a", "b"], "a,b", ",", False)
    assert x.shape == (0, 2) and dropped == 0
    wide = _write(tmp_path / "w.csv", "a,b\n" + "1" * 50 + ",2\n")
    got, _, count = _read_all([wide], ["a", "b"], ["a", "b"], "a,b", blocksize=10)
    assert count == 6 and got.shape == (1, 2) and got[0, 1] == 2


def test_lines_ended_by_a_lone_carriage_return_still_read(tmp_path):
    path = _write(tmp_path / "t.csv", "a,b\r1,2\r3,4\r5,6\r")
    got, _, _ = _read_all([path], ["a", "b"], ["a", "b"], "a,b")
    np.testing.assert_array_equal(got, [[1, 2], [3, 4], [5, 6]])


def test_truncated_compressed_file_is_bad_input(tmp_path, table):
    _, _, text = table
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(text.encode())[:-200])
    with pytest.raises(BadInput, match=r"t\.csv\.gz \(partition 1\): compressed data is damaged or truncated"):
        _read_all([str(path)], ["a", "b", "c"], ["a", "b", "c"], "a,b,c")


def test_a_piece_is_read_without_a_copy_of_its_rows(tmp_path, monkeypatch):
    """numpy reports its allocations to tracemalloc: reading a 6.4 MB partition peaks at the
    partition plus the count and read buffers (1 MiB each) and one chunk, not at twice it."""
    import tracemalloc

    monkeypatch.setattr(reading, "CHUNK_ROWS", 4096)
    x = np.random.default_rng(1).normal(size=(200_000, 4))
    path = tmp_path / "big.csv"
    np.savetxt(path, x, delimiter=",", header="a,b,c,d", comments="", fmt="%.17g")
    piece = reading.plan([str(path)])[0]
    tracemalloc.start()
    try:
        got, _ = reading.read_piece(piece, list("abcd"), list("abcd"), "a,b,c,d", ",", False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(got, x)
    assert peak <= got.nbytes + 3 * 2**20, f"peak {peak / 2**20:.1f} MB for {got.nbytes / 2**20:.1f} MB of rows"


def test_a_file_the_worker_cannot_see_is_bad_input(tmp_path):
    path = _write(tmp_path / "t.csv", "a,b\n1,2\n3,4\n")
    pieces = reading.plan([path], 4)
    (tmp_path / "t.csv").unlink()  # as on a worker without the client's file system
    for piece in pieces:
        with pytest.raises(BadInput, match=r"t\.csv: cannot open on a worker \(No such file or directory\); "
                                           r"DATA must be on a file system every worker sees"):
            reading.read_piece(piece, ["a", "b"], ["a", "b"], "a,b", ",", False)


def test_a_short_row_is_ragged_even_with_dropna_but_an_empty_field_is_missing(tmp_path):
    """Rows with a missing chosen value are re-read (a short row whose missing fields are all
    in columns not chosen does not change the data and is not looked at)."""
    path = _write(tmp_path / "s.csv", "a,b,c\n1,2,3\n4,5,\n6,7\n8,9,10\n")
    piece = reading.plan([path])[0]
    for dropna in (False, True):
        with pytest.raises(BadInput, match=r"row 3 \(line 4\): has 2 fields, expected 3 \(ragged rows\)"):
            reading.read_piece(piece, list("abc"), list("ac"), "a,b,c", ",", dropna)
    fine = _write(tmp_path / "f.csv", "a,b,c\n1,2,3\n4,5,\n8,9,10\n")
    x, dropped = reading.read_piece(reading.plan([fine])[0], list("abc"), list("abc"), "a,b,c", ",", True)
    assert dropped == 1 and x.tolist() == [[1, 2, 3], [8, 9, 10]]


@pytest.mark.parametrize("text,where", [
    ("a,b,c\n1,2,3\n4,5,6,7\n8,9,10\n", "row 2 (line 3)"),
    ("a,b,c\r\n1,2,3\r\n\r\n4,5,6,\r\n8,9,10\r\n", "row 3 (line 4)"),  # a trailing delimiter is a field
    ("a,b,c\r1,2,3\r4,5,6\r8,9,10,11", "row 3 (line 4)"),
    ('"a","b","c"\n1,2,3\n4,5,6,7\n', "row 2 (line 3)"),  # quotes in the header only: still counted
    ('a,b,c\n1,"2",3\n4,5,6,7\n', "row 2 (line 3)"),  # quoted fields: pandas parses every field
], ids=["lf", "crlf-trailing-delimiter", "cr", "quoted-header", "quoted-fields"])
def test_a_long_row_is_ragged_though_only_some_columns_are_read(tmp_path, text, where):
    """pandas reading only the chosen columns (usecols) drops a row's extra fields silently;
    the local readers reject such a row, and so do the workers, with the same words."""
    from vifit.data import load_table

    path = _write(tmp_path / "long.csv", text)
    local = None
    if "\r" not in text.replace("\r\n", ""):  # the in-memory reader's CR-only lines: another issue
        with pytest.raises(BadInput) as local:
            load_table(path)
        assert f"{where}: has 4 fields, expected 3 (ragged rows)" in str(local.value)
    with pytest.raises(BadInput, match=rf"{re.escape(where)}: has 4 fields, expected 3 \(ragged rows\)"):
        reading.read_piece(reading.plan([path])[0], list("abc"), ["c", "a"], "a,b,c", ",", False)


def test_a_long_row_is_found_across_count_blocks_and_in_a_later_block(tmp_path, monkeypatch):
    monkeypatch.setattr(reading, "COUNT_BYTES", 7)
    monkeypatch.setattr(reading, "SCAN_BYTES", 3)
    path = _write(tmp_path / "long.csv", "a,b,c\r\n" + "1,2,3\r\n" * 40 + "4,5,6,7\r\n")
    # 7-byte lines: the second block of 200 bytes starts at byte 203, its 13th line is the long one
    for blocksize, where in ((None, "row 41 (line 42)"), (200, "row 13 (line 13)")):
        pieces = reading.plan([path], blocksize)
        with pytest.raises(BadInput, match=re.escape(f"{where}: has 4 fields")):
            for piece in pieces:
                reading.read_piece(piece, list("abc"), ["a"], "a,b,c", ",", False)
