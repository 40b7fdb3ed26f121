"""Write the bad-input corpus (run from this folder). Each file is one kind of
broken input; EXPECTED in test_bad_input_corpus.py says what its error must name."""

import bz2
import gzip
import os
import zipfile

GOOD = "a,b,c\n1,2,3\n4,5,6\n7,8,10\n2,2,2\n5,1,4\n"
# many rows of varied numbers, so the compressed stream is long enough to cut short
LONG = "a,b,c\n" + "".join(f"{i % 97},{(i * 7) % 101},{(i * 13) % 89}.{i % 7}\n" for i in range(20000))
FILES = {
    "empty.csv": b"",
    "blank_lines.csv": b"\n\n   \n\n",
    "header_only.csv": b"a,b,c\n",
    "bom_header_only.csv": "\ufeffa,b,c\n".encode(),
    "ragged_long_row.csv": b"a,b,c\n1,2,3\n4,5,6,7\n8,9,10\n",
    "ragged_short_row.csv": b"a,b,c\n1,2,3\n4,5\n8,9,10\n",
    "quoted_comma.csv": b'a,b\n1,2\n"3,5",4\n6,7\n',
    "text_in_numeric.csv": b"a,b,c\n1,2,3\n4,five,6\n7,8,9\n",
    "nan_value.csv": b"a,b\n1,2\n3,nan\n5,6\n",
    "na_value.csv": b"a,b\n1,2\nNA,4\n5,6\n",
    "empty_cell.csv": b"a,b\n1,2\n3,\n5,6\n",
    "inf_value.csv": b"a,b\n1,2\n3,inf\n5,6\n",
    "minus_inf_value.csv": b"a,b\n1,2\n3,-inf\n5,6\n",
    "overflow_1e999.csv": b"a,b\n1,2\n3,1e999\n5,6\n",
    "all_constant.csv": b"a,b\n1,2\n1,2\n1,2\n1,2\n",
    "one_row.csv": b"a,b,c\n1,2,3\n",
    "duplicate_header.csv": b"a,b,a\n1,2,3\n4,5,6\n7,8,9\n",
    "empty_header_name.csv": b"a,,c\n1,2,3\n4,5,6\n7,8,9\n",
    "latin1_bytes.csv": "name,a\ncaf\xe9,1\nth\xe9,2\n".encode("latin-1") + b"x,3\n",
    "binary_garbage.csv": bytes((i * 37 + 11) % 256 for i in range(4096)),
    "nul_bytes.csv": b"a,b\n1,2\n3,\x004\n",
    "no_numeric_columns.csv": b"name,city\nann,oslo\nbob,lima\n",
    "only_delimiters.csv": b",,\n,,\n,,\n",
    "tab_separated.csv": b"a\tb\n1\t2\n3\t4\n5\t6\n",
    "truncated.csv.gz": gzip.compress(LONG.encode())[:3000],
    "not_really.csv.gz": GOOD.encode(),
    "truncated.csv.bz2": bz2.compress(LONG.encode())[:3000],
    "garbage.csv.xz": b"\xfd7zXZ\x00" + bytes(range(200)),
}

for name, content in FILES.items():
    with open(name, "wb") as stream:
        stream.write(content)

with zipfile.ZipFile("two_members.zip", "w") as archive:
    archive.writestr("a.csv", GOOD)
    archive.writestr("b.csv", GOOD)

# Parquet (vifit[arrow]): a file cut short, one that only starts like Parquet, one with no rows,
# and the CSV cases of a cell that is not a number and of an infinite one
import io  # noqa: E402

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402


def _parquet(table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()



PARQUET = {
    "empty.parquet": b"",
    "corrupt.parquet": b"PAR1" + bytes((i * 37 + 11) % 256 for i in range(2048)),
    "truncated.parquet": _parquet(pa.table({"a": list(range(5000)), "b": [i * 0.5 for i in range(5000)]}))[:3000],
    "no_rows.parquet": _parquet(pa.table({"a": pa.array([], pa.float64()), "b": pa.array([], pa.float64())})),
    "text_in_numeric.parquet": _parquet(pa.table({"a": ["1", "4", "7"], "b": ["2", "five", "8"], "c": ["3", "6", "9"]})),
    "inf_value.parquet": _parquet(pa.table({"a": [1.0, 3.0, 5.0], "b": [2.0, float("inf"), 6.0]})),
}

for name, content in PARQUET.items():
    with open(name, "wb") as stream:
        stream.write(content)

os.makedirs("a_directory.csv", exist_ok=True)
with open(os.path.join("a_directory.csv", "README"), "w") as stream:
    stream.write("A directory where a data file is expected.\n")
if not os.path.lexists("dangling_link.csv"):
    os.symlink("does_not_exist.csv", "dangling_link.csv")
