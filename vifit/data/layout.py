"""How a table's lines split into fields, decided once from the start of the input.

:func:`layout_of` reads the head (the header and the rows that came with it) and returns a
:class:`Layout`: the field separator, the decimal mark, a name for every field, and which
fields are not features. The conventions of the tools that write most CSV files live here,
so the whole-table read, the stream and the Dask partitions all get them:

- pandas ``df.to_csv()`` and R ``write.csv``: a first column with an empty header name and
  unique integer or string values is the row index;
- R ``write.table``: a header with one name fewer than the rows have fields names the fields
  after the row names, which are the row index;
- a delimiter ending every line (an empty last column) is not a column;
- no ``--delimiter``: a header holding ``;`` (or, except in a ``.csv`` file, TAB) and no
  comma is split on it; ``--decimal ,`` reads decimal commas;
- a header of numbers only is most likely a row of data: a note says so.

Each rule that refuses a head (empty file, empty or repeated names) has its message here.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from typing import Callable

from vifit.data.source import NON_SPACE, first_line
from vifit.errors import BadInput
from vifit.options import delimiter_problem  # the check the --delimiter option itself makes

# Names given to fields that are not features. NUL never reaches the parser (source.py
# refuses it), so these can be told from any name in a file.
INDEX_FIELD = "\x00row index"
TRAILING_FIELD = "\x00trailing"
SAMPLE_ROWS = 200  # rows of the head the conventions are judged on
COMPRESSED = (".gz", ".bz2", ".xz", ".zip")


@dataclass(frozen=True)
class Layout:
    """sep: the field separator; decimal: the decimal mark; fields: a name for every field of
    a row, in file order (INDEX_FIELD, TRAILING_FIELD for the fields that are not features);
    header_names: the header line's own names, stripped (() without a header)."""

    sep: str
    decimal: str
    fields: tuple
    header_names: tuple = ()

    @property
    def features(self) -> list[str]:
        """The names of the fields that can be columns of the model."""
        return [f for f in self.fields if f not in (INDEX_FIELD, TRAILING_FIELD)]


def empty_file(name: str) -> BadInput:
    return BadInput(f"{name}: file is empty")


def header_only(name: str) -> BadInput:
    return BadInput(f"{name}: no data rows (header only)")


def resolve_delimiter(delimiter: str | None) -> str:
    """The separator --delimiter names (None, not given: a comma)."""
    if delimiter is None:
        return ","
    problem = delimiter_problem(delimiter)
    if problem:
        raise BadInput(f"--delimiter {problem}")
    return "\t" if delimiter in ("\\t", "tab") else delimiter


def sniffed_delimiter(line: str, name: str, note: Callable[[str], None]) -> str:
    """The separator of a line when --delimiter is not given: ',' unless the line holds no
    comma but ';' (Excel's CSV in many locales) or TAB. A TAB-separated file named .csv is
    refused instead (its name says commas: the column error asks for --delimiter)."""
    if "," in line:
        return ","
    base = name.lower()
    for ending in COMPRESSED:
        base = base.removesuffix(ending)
    for sep, said in ((";", "';'"), ("\t", "TAB")):
        if sep in line and not (sep == "\t" and base.endswith(".csv")):
            note(f"the first line holds {said} and no comma: reading fields separated by {said} "
                 f"(give --delimiter to choose another)")
            return sep
    return ","


def split_line(line: str, sep: str) -> list[str]:
    return next(csv.reader([line], delimiter=sep, skipinitialspace=True), [])


def check_header(first: str, name: str, delimiter: str) -> None:
    """Reject empty and repeated column names (pandas would silently rename them)."""
    _checked_names([h.strip() for h in split_line(first, delimiter)], name, skip=())


def _checked_names(names: list[str], name: str, skip) -> None:
    seen: set[str] = set()
    for position, col in enumerate(names, start=1):
        if position in skip:
            continue
        if col == "":
            raise BadInput(f"{name}: header: column {position} has an empty name")
        if col in seen:
            raise BadInput(f"{name}: header: column name {col!r} appears more than once")
        seen.add(col)


def _sample(head: bytes, sep: str, header: bool) -> list[list[str]]:
    """The data rows of the head (up to SAMPLE_ROWS, whole lines only), split into fields."""
    lines = head.decode("utf-8-sig", errors="replace").splitlines(keepends=True)
    if len(head) >= 1 << 16:  # the head may end inside a line: keep whole lines
        lines = lines[:-1]
    try:
        rows = [r for r in csv.reader(lines[: 4 * SAMPLE_ROWS], delimiter=sep, skipinitialspace=True)
                if len(r) > 1 or (r and r[0].strip())]
    except csv.Error:  # what the csv module cannot split, pandas reports in its own words
        return []
    return rows[1 if header else 0:][:SAMPLE_ROWS]


def is_number(text: str) -> bool:
    """Whether Python reads ``text`` as a float (the test of a header name or a decimal-comma value)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_row_index(values: list[str]) -> bool:
    """Row names as pandas and R write them: unique, each an integer or a string (not a
    float, which would be a feature whose name was lost)."""
    values = [v.strip() for v in values]
    if not values or "" in values or len(set(values)) != len(values):
        return False
    return all(re.fullmatch(r"[+-]?\d+", v) or not is_number(v) for v in values)


def layout_of(head: bytes, opts, name: str, note: Callable[[str], None],
              required: list[str] | None = None) -> Layout:
    """The Layout of an input from its head (``source.read_head``); opts: a ReadOptions;
    required: the model's columns (predict, plot), named so by a headerless file."""
    if NON_SPACE.search(head) is None:
        raise empty_file(name)
    line = first_line(head)
    sep = resolve_delimiter(opts.delimiter) if opts.delimiter is not None else sniffed_delimiter(line, name, note)
    decimal = getattr(opts, "decimal", ".") or "."
    if decimal == sep:
        raise BadInput(f"--decimal {decimal!r} is also the field separator: give --delimiter too "
                       f"(e.g. --delimiter ';')")
    first = split_line(line, sep)
    if not opts.header:
        if required is not None:
            if len(first) != len(required):
                raise BadInput(f"{name}: the model needs {len(required)} columns, the data has {len(first)}")
            return Layout(sep, decimal, tuple(required))
        return Layout(sep, decimal, tuple(f"x{i + 1}" for i in range(max(len(first), 1))))
    names = [h.strip() for h in first]
    rows = _sample(head, sep, header=True)
    fields, skip = list(names), set()
    if rows and names and all(len(r) == len(names) + 1 for r in rows):
        # R's write.table: row names have no header entry
        fields = [INDEX_FIELD] + names
        note("the header has one name fewer than the rows have fields (R's write.table): "
             "the first field of each row is read as the row index, not a feature")
    elif names and names[0] == "" and len(names) > 1 and rows and _is_row_index([r[0] for r in rows if r]):
        fields[0], skip = INDEX_FIELD, {1}
        note("column 1 has an empty name and unique values: read as the row index, not a feature")
    ending = [len(r) == len(names) and r[-1].strip() == "" for r in rows]
    if (len(names) > 1 and names[-1] == "" and any(ending) and len(names) not in skip
            and all(e or len(r) == len(names) - 1 for e, r in zip(ending, rows))):  # a row may lack it
        fields[-1] = TRAILING_FIELD
        skip.add(len(names))
        note("every line ends with the delimiter: the empty last column is ignored")
    _checked_names(names, name, skip)
    named = [n for i, n in enumerate(names, start=1) if i not in skip]
    if named and all(is_number(n) for n in named):
        note("the first row looks like data: use --no-header")
    return Layout(sep, decimal, tuple(fields), tuple(names))
