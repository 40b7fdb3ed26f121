"""Reading tables of numbers: one place for every rule about input data.

``load_table`` turns a path (plain or ``.gz``/``.bz2``/``.xz``/``.zip``) or ``-``
(stdin) into a :class:`Table` of finite floats, or raises :class:`BadInput`
with one sentence naming the file, the row or column, and the problem.

Row numbers in messages count data rows from 1 (the header is not a row); the
file line is given too, since that is what an editor shows.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from vifit.blocks import (DECOMPRESSION_ERRORS, NON_SPACE, Chain, GrowingRows, display_name, first_line,  # noqa: F401
                          open_bytes, open_checked, read_bytes, read_head)
from vifit.errors import BadInput
from vifit.options import delimiter_problem  # the check the --delimiter option itself makes
from vifit.preprocess import apply_preprocessing, check_dtype_range, standardization
from vifit.ragged import LazyRowFields, RowFields, check_short_rows, ragged_message

DTYPES = {"float64": np.float64, "float32": np.float32}


@dataclass(frozen=True)
class ReadOptions:
    """How to read a table; mirrors the shared ``data_options`` of the CLI."""

    columns: str | None = None
    header: bool = True
    delimiter: str = ","
    dropna: bool = False
    standardize: bool = False
    dtype: str = "float64"


@dataclass
class Table:
    """A numeric table ready for a model.

    values: (n, d) array of finite floats in the requested dtype, after any
    standardisation; columns: the d column names; preprocessing: what was done
    to the raw values, stored in the model so ``predict`` can redo it.
    """

    values: np.ndarray
    columns: list[str]
    source: str
    rows_dropped: int = 0
    preprocessing: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.values.shape[1])

    def describe(self) -> dict:
        """The ``data`` block of the output document."""
        return {
            "source": self.source,
            "n_rows": self.n_rows,
            "n_features": self.n_features,
            "columns": list(self.columns),
            "rows_dropped": self.rows_dropped,
            "preprocessing": self.preprocessing,
        }


# ---------------------------------------------------------------- parsing


def resolve_delimiter(delimiter: str) -> str:
    problem = delimiter_problem(delimiter)
    if problem:
        raise BadInput(f"--delimiter {problem}")
    return "\t" if delimiter in ("\\t", "tab") else delimiter


def csv_options(opts: ReadOptions) -> dict:
    """Keyword arguments for pandas.read_csv shared by whole-file and chunked reads."""
    return {"sep": resolve_delimiter(opts.delimiter), "header": 0 if opts.header else None,
            "skipinitialspace": True}


def check_header(first_line: str, name: str, delimiter: str) -> None:
    """Reject empty and repeated column names (pandas would silently rename them)."""
    first = next(csv.reader(io.StringIO(first_line), delimiter=delimiter), [])
    seen: set[str] = set()
    for position, col in enumerate((h.strip() for h in first), start=1):
        if col == "":
            raise BadInput(f"{name}: header: column {position} has an empty name")
        if col in seen:
            raise BadInput(f"{name}: header: column name {col!r} appears more than once")
        seen.add(col)


def name_columns(frame: pd.DataFrame, header: bool) -> None:
    """String column names: the header's, or x1, x2, ... without one."""
    if header:
        frame.columns = [str(c).strip() for c in frame.columns]
    else:
        frame.columns = [f"x{i + 1}" for i in range(frame.shape[1])]


def line_of(row_index: int, header: bool) -> str:
    """'row r (line l)' for a 0-based data row index (counted over the whole file)."""
    row = row_index + 1
    return f"row {row} (line {row + 1 if header else row})"


# ---------------------------------------------------------------- columns


def select_columns(
    frame: pd.DataFrame, spec: str | None, name: str, note: Callable[[str], None]
) -> list[str]:
    """Resolve ``--columns`` (names, 1-based indices, ranges ``a-b``) to names.

    Without a spec, every numeric-looking column is used and text columns are
    dropped with a note.
    """
    names = list(frame.columns)
    if spec is None or spec.strip() == "":
        chosen, dropped = [], []
        for col in names:
            (dropped if _is_text_column(frame[col]) else chosen).append(col)
        for col in dropped:
            note(f"ignoring non-numeric column {col!r} (choose columns with --columns)")
        if not chosen:
            raise BadInput(f"{name}: no numeric columns found{delimiter_hint(names)}")
        return chosen
    chosen = []
    for token in (t.strip() for t in spec.split(",")):
        if token == "":
            raise BadInput(f"--columns {spec!r}: empty entry")
        if token in names:
            chosen.append(token)
            continue
        span = re.fullmatch(r"(\d+)(?:-(\d+))?", token)
        if not span:
            raise BadInput(f"{name}: --columns: no column named {token!r} (columns: {', '.join(names)})")
        lo = int(span.group(1))
        hi = int(span.group(2)) if span.group(2) else lo
        if hi < lo:
            raise BadInput(f"{name}: --columns: range {token!r} is empty (it counts up: write {hi}-{lo})")
        if lo < 1 or hi > len(names):
            raise BadInput(
                f"{name}: --columns: {token!r} is outside columns 1-{len(names)} (indices count from 1)"
            )
        chosen.extend(names[lo - 1 : hi])
    duplicates = sorted({c for c in chosen if chosen.count(c) > 1})
    if duplicates:
        raise BadInput(f"--columns: column {duplicates[0]!r} chosen more than once")
    return chosen


def delimiter_hint(names: list[str]) -> str:
    """A hint to add to a column error when the header looks split on the wrong character."""
    if any(sep in col for col in names for sep in ("\t", ";", "|")):
        return "; the header looks delimited by another character: try --delimiter"
    return ""


def check_required_columns(names: list[str], required: list[str], name: str) -> None:
    """predict and plot: the data must hold every column the model was fitted on."""
    missing = [c for c in required if c not in names]
    if missing:
        raise BadInput(f"{name}: the model needs column {missing[0]!r}, which the data lacks"
                       f"{delimiter_hint(names)}")


def _is_text_column(series: pd.Series) -> bool:
    """A column is text when none of its non-empty values parse as numbers."""
    if pd.api.types.is_numeric_dtype(series.dtype):
        return False
    values = series.dropna()
    if len(values) == 0:
        return False
    parsed = pd.to_numeric(values.astype(str).str.strip(), errors="coerce")
    return bool(parsed.isna().all())


def to_numeric_block(frame: pd.DataFrame, columns: list[str], name: str, header: bool,
                     row_offset: int = 0) -> np.ndarray:
    """(n, d) float64 array of the chosen columns; names the first non-numeric cell.

    row_offset: rows of the file before this frame (for chunked reads)."""
    block = np.empty((len(frame), len(columns)), dtype=np.float64)
    for j, col in enumerate(columns):
        series = frame[col]
        if pd.api.types.is_bool_dtype(series.dtype) or not pd.api.types.is_numeric_dtype(series.dtype):
            text = series.astype("string").str.strip()
            parsed = pd.to_numeric(text, errors="coerce")
            bad = parsed.isna() & text.notna() & (text != "")
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise BadInput(
                    f"{name}: {line_of(row_offset + i, header)}, column {col!r}: {text.iloc[i]!r} is not a number"
                )
            series = parsed
        block[:, j] = series.to_numpy(dtype=np.float64, na_value=np.nan)
    return block


def check_finite(block: np.ndarray, columns: list[str], name: str, header: bool, dropna: bool,
                 row_offset: int = 0):
    """Drop or reject rows holding NaN/inf. Returns (block, rows_dropped)."""
    finite = np.isfinite(block)
    if finite.all():
        return block, 0
    bad_rows = ~finite.all(axis=1)
    if dropna:
        return block[~bad_rows], int(bad_rows.sum())
    i = int(np.flatnonzero(bad_rows)[0])
    j = int(np.flatnonzero(~finite[i])[0])
    what = "missing value (empty or NaN)" if np.isnan(block[i, j]) else "infinite value"
    raise BadInput(
        f"{name}: {line_of(row_offset + i, header)}, column {columns[j]!r}: {what}; "
        f"use --dropna to skip such rows"
    )


# ---------------------------------------------------------------- entry points


CHUNK_VALUES = 1 << 21  # values per parsed chunk (16 MiB as float64), whatever the width


def read_values(source: str, opts: ReadOptions, note: Callable[[str], None],
                required_columns: list[str] | None) -> tuple[np.ndarray, list[str], int]:
    """(values (n, d) float64 of the chosen columns, the column names, rows dropped by --dropna).

    The input is parsed in chunks as its bytes arrive (checked block by block), each chunk
    converted and checked, and appended to one array that is refused, with the estimate of
    the whole table, before it outgrows the memory left; the columns are chosen from the
    header and the first chunk."""
    name = display_name(source)
    delimiter = resolve_delimiter(opts.delimiter)
    reader, progress, reopen = open_checked(source)

    def row_fields():  # a second reading of the text, made only for a chunk with a suspect row
        stream = io.TextIOWrapper(reopen(), encoding="utf-8-sig", errors="replace", newline="")
        return RowFields(_lines_until_damage(stream), delimiter, opts.header), stream

    with reader, LazyRowFields(row_fields) as fields:
        head = read_head(reader, name)
        if NON_SPACE.search(head) is None:
            raise BadInput(f"{name}: file is empty")
        line = first_line(head)
        if opts.header:
            check_header(line, name, delimiter)
        width = max(len(next(csv.reader([line], delimiter=delimiter), [])), 1)
        try:
            chunks = pd.read_csv(Chain(head, reader), encoding="utf-8", chunksize=max(CHUNK_VALUES // width, 64),
                                 **csv_options(opts))
            columns, rows, offset, dropped = None, None, 0, 0
            for frame in chunks:
                if columns is None:
                    if len(frame) == 0:
                        raise BadInput(f"{name}: no data rows (header only)")
                    columns = _chosen_columns(frame, opts, name, note, required_columns)
                    rows = GrowingRows(len(columns), name, progress)
                elif required_columns is not None and not opts.header:
                    frame.columns = required_columns
                else:
                    name_columns(frame, opts.header)
                check_short_rows(frame, fields.get, name, row_offset=offset)
                block = to_numeric_block(frame, columns, name, opts.header, row_offset=offset)
                block, lost = check_finite(block, columns, name, opts.header, opts.dropna, row_offset=offset)
                del frame
                rows.append(block)
                offset, dropped = offset + block.shape[0] + lost, dropped + lost
        except pd.errors.EmptyDataError:
            raise BadInput(f"{name}: file is empty") from None
        except pd.errors.ParserError as exc:
            raise BadInput(f"{name}: {ragged_message(str(exc), opts.header)}") from None
    if offset == 0:
        raise BadInput(f"{name}: no data rows (header only)")
    return rows.finish(), columns, dropped


def _chosen_columns(frame: pd.DataFrame, opts: ReadOptions, name: str, note, required: list[str] | None):
    """The columns to read, from the first chunk: --columns (or every numeric one), or the
    model's (predict, plot)."""
    if required is None:
        name_columns(frame, opts.header)
        return select_columns(frame, opts.columns, name, note)
    if opts.header:
        name_columns(frame, opts.header)
        check_required_columns(list(frame.columns), required, name)
    elif frame.shape[1] != len(required):
        raise BadInput(f"{name}: the model needs {len(required)} columns, the data has {frame.shape[1]}")
    else:
        frame.columns = required
    return list(required)


def _lines_until_damage(stream):
    """The lines of ``stream``, ending quietly where compressed data is damaged (the main
    reading reports it)."""
    try:
        yield from stream
    except DECOMPRESSION_ERRORS:
        return


def load_table(
    source: str,
    opts: ReadOptions = ReadOptions(),
    *,
    min_rows: int = 1,
    note: Callable[[str], None] = lambda message: None,
    required_columns: Iterable[str] | None = None,
    require_variation: bool = False,
) -> Table:
    """Read ``source`` into a :class:`Table`.

    min_rows: the fewest rows the model can use (after --dropna).
    required_columns: when given (``predict``), exactly these columns are read,
    in this order, instead of ``opts.columns``.
    require_variation: reject a table in which every column is constant (nothing
    to fit); single constant columns are fine.
    """
    name = display_name(source)
    if opts.dtype not in DTYPES:
        raise BadInput(f"--dtype must be one of {', '.join(DTYPES)}, got {opts.dtype!r}")
    block, columns, dropped = read_values(source, opts, note,
                                          None if required_columns is None else list(required_columns))
    return table_of(block, columns, name, opts, rows_dropped=dropped, min_rows=min_rows, note=note,
                    require_variation=require_variation)


def table_of(block: np.ndarray, columns: list[str], name: str, opts: ReadOptions = ReadOptions(), *,
             rows_dropped: int = 0, min_rows: int = 1, note: Callable[[str], None] = lambda message: None,
             require_variation: bool = False) -> Table:
    """A :class:`Table` of finite float64 values (n, d) as read: the row count checked, then
    ``opts.standardize`` and ``opts.dtype`` applied, for a file and a caller's array alike."""
    dropped = rows_dropped
    if dropped:
        note(f"dropped {dropped} row(s) with missing or infinite values (--dropna)")
    if block.shape[0] < min_rows:
        raise BadInput(
            f"{name}: {block.shape[0]} usable row(s), but this model needs at least {min_rows}"
        )
    if require_variation and block.shape[0] > 1 and (block == block[0]).all():
        raise BadInput(f"{name}: every column is constant ({block.shape[0]} identical rows); there is nothing to fit")
    preprocessing: dict = {}
    if opts.standardize:
        preprocessing = standardization(block, note, columns)
        block = apply_preprocessing(block, preprocessing)
    check_dtype_range(block, columns, name, DTYPES[opts.dtype])
    values = np.ascontiguousarray(block, dtype=DTYPES[opts.dtype])
    return Table(values=values, columns=columns, source=name, rows_dropped=dropped, preprocessing=preprocessing)
