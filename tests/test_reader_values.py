"""The whole-table reader's values are the file's numbers, bit for bit, however it is read.

The oracle is Python's own ``float()`` of each cell's text (correctly rounded), applied to the
strings the tests write, so nothing here is computed by the reader under test. The reader
parses in chunks straight into the table's array, and reads a file first without skipping
spaces at the start of fields, then again from the start if one turns up (``table.read_values``):
these tests cover the odd numbers (exponents, negative zero, many digits, integers past 2^53,
NA spellings), spaces first met deep in a file, several chunks before the restart, and the
memory the whole read holds beyond its array.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, run_subprocess
from vifit import data
from vifit.errors import BadInput

MISSING = ("", "NA", "NaN", "nan", "null", "N/A")  # spellings pandas reads as a missing cell


def _cells(rng: np.random.Generator, n: int, d: int) -> list[list[str]]:
    """n x d numbers written in every way a CSV holds them."""
    def one() -> str:
        kind = rng.integers(8)
        if kind == 0:  # many digits
            return repr(float(rng.normal() * 10.0 ** rng.integers(-30, 30)))
        if kind == 1:  # exponents, either case and sign
            return f"{rng.uniform(-9, 9):.{rng.integers(1, 12)}f}{rng.choice(['e', 'E'])}{rng.integers(-300, 300)}"
        if kind == 2:  # negative and positive zero
            return str(rng.choice(["-0", "-0.0", "0.0", "0", "-0e5", "+0.0"]))
        if kind == 3:  # integers, some past 2^53 (not every one is a double)
            return str(int(rng.integers(-(2**62), 2**62)) if rng.random() < 0.5 else int(rng.integers(-999, 999)))
        if kind == 4:  # more digits than a double holds
            digits = "".join(rng.choice(list("0123456789"), rng.integers(18, 30)))
            return f"{rng.choice(['', '-'])}{digits[:3]}.{digits[3:]}"
        if kind == 5:  # subnormal and huge
            return str(rng.choice(["4.9e-324", "2.2250738585072014e-308", "1.7976931348623157e308", "-1e-320"]))
        if kind == 6:  # a leading '+', a leading or trailing '.'
            return str(rng.choice(["+1.5", ".25", "-.5", "3.", "+.75e1"]))
        return f"{rng.normal():.9g}"

    return [[one() for _ in range(d)] for _ in range(n)]


def _write(path, header: list[str], rows: list[list[str]], sep: str = ",") -> None:
    path.write_text(sep.join(header) + "\n" + "".join(sep.join(r) + "\n" for r in rows))


def _expected(rows: list[list[str]]) -> np.ndarray:
    return np.array([[float(v) for v in r] for r in rows], dtype=np.float64).reshape(len(rows), -1)


def _same_bits(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    np.testing.assert_array_equal(a.view(np.int64), b.view(np.int64))  # -0.0 is not 0.0 here


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_values_are_the_numbers_written_bit_for_bit(tmp_path, seed, monkeypatch):
    rng = np.random.default_rng(seed)
    rows = _cells(rng, 3000, 6)
    kept = [True] * len(rows)
    for i in rng.choice(len(rows), 40, replace=False):  # missing cells, dropped by --dropna
        rows[i][int(rng.integers(6))] = str(rng.choice(MISSING))
        kept[i] = False
    path = tmp_path / "odd.csv"
    _write(path, [f"c{j}" for j in range(6)], rows)
    expected = _expected([r for r, k in zip(rows, kept) if k])
    monkeypatch.setattr(data.table, "CHUNK_VALUES", 6 * 100)  # 100 rows a chunk: 30 chunks
    table = data.load_table(str(path), data.ReadOptions(dropna=True))
    assert table.rows_dropped == 40
    _same_bits(table.values, expected)
    monkeypatch.undo()
    _same_bits(data.load_table(str(path), data.ReadOptions(dropna=True)).values, expected)


def test_spaces_first_met_deep_in_the_file_are_skipped_as_at_its_start(tmp_path, monkeypatch):
    """Fields starting with a space past the head and past several chunks: the values, the
    missing cell written ' NA' and the quoted text holding ', ' read as when the spaces are
    met on the first line, and each note is said once."""
    monkeypatch.setattr(data.table, "CHUNK_VALUES", 4 * 256)  # 256 rows a chunk
    rng = np.random.default_rng(5)
    n = 20000  # about 600 KB: the head is the first 64 KiB
    rows = [[f"{v:.12g}" for v in rng.normal(size=3)] + ["label"] for _ in range(n)]
    rows[15000][1] = " " + rows[15000][1]
    rows[16000][3] = '"New York, NY"'
    rows[17000][0] = "   " + rows[17000][0]
    plain = tmp_path / "late.csv"
    _write(plain, ["a", "b", "c", "town"], rows)
    notes: list[str] = []
    readings = []
    first_reading = data.table._read_values
    monkeypatch.setattr(data.table, "_read_values",
                        lambda *a, **k: readings.append(k["watch_spaces"]) or first_reading(*a, **k))
    table = data.load_table(str(plain), note=notes.append)
    assert readings == [True, False]  # read without skipping spaces, then again from the start
    _same_bits(table.values, _expected([r[:3] for r in rows]))
    assert table.columns == ["a", "b", "c"]
    assert notes == ["ignoring non-numeric column 'town' (choose columns with --columns)"]

    rows[18000][2] = " NA"
    _write(plain, ["a", "b", "c", "town"], rows)
    with pytest.raises(BadInput, match=r"late\.csv: row 18001 \(line 18002\), column 'c': missing value"):
        data.load_table(str(plain))
    dropped = data.load_table(str(plain), data.ReadOptions(dropna=True))
    assert dropped.rows_dropped == 1
    _same_bits(dropped.values, _expected([r[:3] for r in rows[:18000] + rows[18001:]]))


def test_a_space_after_the_separator_on_the_first_lines_is_read_as_before(tmp_path):
    """The hand-written style 'a, b' from the first line: no second reading needed, same values."""
    rng = np.random.default_rng(6)
    rows = _cells(rng, 500, 3)
    path = tmp_path / "spaced.csv"
    _write(path, ["a", "b", "c"], rows, sep=", ")
    _same_bits(data.load_table(str(path)).values, _expected(rows))


def test_stdin_with_late_spaces_is_read_once(tmp_path):
    """stdin cannot be read twice: it is parsed with the spaces skipped from the start."""
    rows = [[f"{v:.6f}" for v in r] for r in np.random.default_rng(7).normal(size=(30000, 2))]
    rows[25000][1] = "  " + rows[25000][1]
    text = "a,b\n" + "".join(",".join(r) + "\n" for r in rows)
    out = tmp_path / "pca.json"
    result = run_subprocess(["pca", "-", "--k", "1", "-q", "-o", out, "--seed", "0"], input=text.encode())
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(out.read_text())["data"]["n_rows"] == 30000


_PEAK = """
import json, sys
import numpy as np
from vifit.data import ReadOptions, load_table

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
before = rss()
values = load_table(sys.argv[1], ReadOptions(), require_variation=True).values
with open("/proc/self/status") as f:
    peak = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
print(json.dumps({"over": peak - before, "array": values.nbytes, "rows": values.shape[0]}))
"""


def test_the_whole_read_holds_its_array_and_one_chunk(tmp_path):
    """Beyond the (n, d) array, the read holds one chunk's text, tokens and values (about
    20 MB): not the file (58 MB here), not a DataFrame or a second copy of the array."""
    n, d = 500_000, 10
    path = tmp_path / "big.csv"
    x = np.random.default_rng(8).normal(size=(n, d))
    with open(path, "w") as f:
        f.write(",".join(f"x{j}" for j in range(d)) + "\n")
        for start in range(0, n, 50_000):
            f.write("".join(",".join(f"{v:.9g}" for v in row) + "\n" for row in x[start : start + 50_000]))
    done = subprocess.run([sys.executable, "-c", _PEAK, str(path)], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    assert measured["rows"] == n and measured["array"] == n * d * 8
    assert measured["over"] < measured["array"] + (40 << 20), measured


def test_a_mixed_table_with_late_spaces_codes_its_labels_as_written(tmp_path, monkeypatch):
    """vifit mixture's reading (missing cells kept, a category column) takes the same second
    reading: a late ' NA' is a missing cell, a late quoted label holding ', ' one label."""
    monkeypatch.setattr(data.table, "CHUNK_VALUES", 2 * 128)
    rng = np.random.default_rng(9)
    n = 12000
    a = [f"{v:.10g}" for v in rng.normal(size=n)]
    g = [str(rng.choice(["p", "q"])) for _ in range(n)]
    a[9000], g[9500], g[9600] = " NA", '"x, y"', " q"
    path = tmp_path / "mixed.csv"
    path.write_text("a,g\n" + "".join(f"{x},{y}\n" for x, y in zip(a, g)))
    notes: list[str] = []
    table = data.load_table(str(path), data.ReadOptions(missing=True, text_as_categorical=True), note=notes.append)
    assert table.levels == {"g": ["p", "q", "x, y"]}
    codes = {"p": 0.0, "q": 1.0, '"x, y"': 2.0, " q": 1.0}
    expected = np.array([[np.nan if x == " NA" else float(x), codes[y]] for x, y in zip(a, g)])
    _same_bits(table.values, expected)
    assert len(notes) == len(set(notes))
