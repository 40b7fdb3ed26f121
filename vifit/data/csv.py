"""The block parser: a table's bytes into checked blocks of numbers, every rule once.

Whatever reads a table (``table.read_values`` for the whole file, ``stream.TableStream`` for
SVI, ``distributed.reading`` on a Dask worker, ``table.read_column`` for ``plot --color-by``)
opens its bytes with ``source`` (NUL bytes, UTF-8, damaged compression are refused there),
takes its ``layout.Layout`` from the head, and then parses here: :func:`frames` is the one
call of ``pandas.read_csv``, :func:`choose_columns` picks the columns from the first frame,
and :func:`checked_block` turns each frame into an (m, d) float64 block after the ragged-row,
numeric and finite checks.

Row numbers in messages count data rows from 1 (the header is not a row); the file line is
given too, since that is what an editor shows.
"""

from __future__ import annotations

import re
from typing import Callable

import numpy as np
import pandas as pd

from vifit.data.layout import INDEX_FIELD, TRAILING_FIELD, Layout, is_number
from vifit.data.ragged import RowFields, ragged_message, reject_short_rows
from vifit.data.source import ReadStream
from vifit.errors import BadInput


def line_of(row_index: int, header: bool) -> str:
    """'row r (line l)' for a 0-based data row index (counted over the whole file)."""
    row = row_index + 1
    return f"row {row} (line {row + 1 if header else row})"


def frames(stream, layout: Layout, chunk_rows: int, name: str, *, header_line: bool, usecols=None,
           typed=None, text: bool = False, whole_chunks: bool = False, no_initial_spaces: bool = False):
    """DataFrames of up to chunk_rows rows of a binary stream, columns named ``layout.fields``
    (the header line, when ``header_line``, skipped); none when it holds no row.

    usecols: the fields to parse (default all); typed: fields pandas parses as float64 (a
    ValueError for a non-number: the Dask worker's fast path); text: every value a string,
    as written (``plot --color-by``); whole_chunks: each chunk tokenized at once (pandas'
    ``low_memory=False``), for callers whose chunks are small: pandas otherwise tokenizes a
    chunk in slices of about 2^20 fields and concatenates their columns, which cost the
    whole-table read a tenth of its time. Either way a chunk's columns are typed from all
    of its rows, so the values are the same. no_initial_spaces: the caller knows that no field
    of the stream starts with a space (:class:`WatchedForSpaces`), so pandas need not skip them:
    its tokenizer then takes its SIMD lane, a fifth of the whole-table read's time."""
    options = dict(sep=layout.sep, decimal=layout.decimal, header=0 if header_line else None,
                   names=list(layout.fields), index_col=False, skipinitialspace=not no_initial_spaces,
                   encoding="utf-8-sig",
                   chunksize=max(int(chunk_rows), 1), low_memory=not whole_chunks)
    if usecols is not None:
        options["usecols"] = list(usecols)
    if typed:
        options["dtype"] = {c: np.float64 for c in typed}
    if text:
        options.update(dtype=str, keep_default_na=False)
    try:
        reader = pd.read_csv(stream, **options)
    except pd.errors.EmptyDataError:
        return
    try:
        # a plain loop, not ``yield from``: a generator left early (a caller's BadInput) must
        # not have pandas flush a stream its caller has closed first
        for frame in reader:
            yield frame
    except pd.errors.EmptyDataError:
        return
    except pd.errors.ParserError as exc:
        raise BadInput(f"{name}: {ragged_message(str(exc), header_line)}") from None
    finally:
        try:
            reader.close()
        except (OSError, ValueError):  # the stream was closed before this generator
            pass


class SpaceStartsField(Exception):
    """A field of the input starts with a space: parse it again with pandas skipping them."""


_BOM = b"\xef\xbb\xbf"


def space_starts_field(data: bytes, sep: str, before: bytes | None) -> bool:
    """Whether a space in ``data`` may be the first character of a field: it follows the
    separator, a line end, or the start of the input (before None; else the byte before
    data). Quotes are not followed: a space after a separator inside a quoted field counts too."""
    if b" " not in data:  # memchr: most tables hold no space at all
        return False
    if before is None and (data.startswith(b" ") or data.startswith(_BOM + b" ")):
        return True
    codes = np.frombuffer(data, dtype=np.uint8)
    at = np.flatnonzero(codes == 32)
    previous = codes[at[at > 0] - 1]
    if np.isin(previous, np.frombuffer(f"{sep}\n\r".encode(), dtype=np.uint8)).any():
        return True
    return at[0] == 0 and before is not None and before in (sep.encode(), b"\n", b"\r")


class WatchedForSpaces(ReadStream):
    """The bytes of ``stream``, raising :class:`SpaceStartsField` in the read that would hand
    the parser a field starting with a space. before: the byte before the stream (None: the
    stream starts the input)."""

    def __init__(self, stream, sep: str, before: bytes | None):
        self._stream, self._sep, self._before = stream, sep, before

    def read(self, size=-1) -> bytes:
        data = self._stream.read(size)
        if data and space_starts_field(data, self._sep, self._before):
            raise SpaceStartsField()
        if data:
            self._before = data[-1:]
        return data


# ---------------------------------------------------------------- columns


def select_columns(frame: pd.DataFrame, spec: str | None, name: str, note: Callable[[str], None],
                   layout: Layout | None = None) -> list[str]:
    """Resolve ``--columns`` (names, 1-based indices, ranges ``a-b``) to names.

    Indices count the fields of a row, a row index included. Without a spec, every
    numeric-looking column is used and text columns are dropped with a note.
    """
    fields = list(frame.columns) if layout is None else list(layout.fields)
    # decimal commas are worth a hint only where commas do not separate the fields
    commas = layout is not None and layout.decimal == "." and layout.sep != ","
    names = [f for f in fields if f not in (INDEX_FIELD, TRAILING_FIELD)]
    if spec is None or spec.strip() == "":
        chosen, dropped = [], []
        for col in names:
            (dropped if _is_text_column(frame[col]) else chosen).append(col)
        for col in dropped:
            if commas and _decimal_commas(frame[col]):
                note(f"ignoring non-numeric column {col!r} (its values read as numbers with --decimal ,)")
            else:
                note(f"ignoring non-numeric column {col!r} (choose columns with --columns)")
        if not chosen:
            hint = delimiter_hint(names)
            if not hint and commas and any(_decimal_commas(frame[c]) for c in dropped):
                hint = "; the values have decimal commas: add --decimal ,"
            raise BadInput(f"{name}: no numeric columns found{hint}")
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
        if lo < 1 or hi > len(fields):
            raise BadInput(
                f"{name}: --columns: {token!r} is outside columns 1-{len(fields)} (indices count from 1)"
            )
        for position in range(lo, hi + 1):
            field = fields[position - 1]
            if field == INDEX_FIELD:
                raise BadInput(f"{name}: --columns: column {position} is the row index, not a feature")
            if field == TRAILING_FIELD:
                raise BadInput(f"{name}: --columns: column {position} is the empty field after the "
                               f"delimiter that ends every line, not a feature")
            chosen.append(field)
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


def choose_columns(frame: pd.DataFrame, layout: Layout, spec: str | None, name: str, note,
                   required: list[str] | None = None) -> list[str]:
    """The columns to read, from the first frame: --columns (or every numeric one), or the
    model's (predict, plot)."""
    if required is None:
        return select_columns(frame, spec, name, note, layout)
    check_required_columns(layout.features, required, name)
    return list(required)


def _is_text_column(series: pd.Series) -> bool:
    """A column is text when none of its non-empty values parse as numbers."""
    if pd.api.types.is_numeric_dtype(series.dtype):
        return False
    values = series.dropna()
    if len(values) == 0:
        return False
    parsed = pd.to_numeric(values.astype(str).str.strip(), errors="coerce")
    return bool(parsed.isna().all())


def _decimal_commas(series: pd.Series) -> bool:
    """Whether a text column's values are numbers written with a decimal comma."""
    values = series.dropna().astype(str).str.strip()
    values = values[values != ""]
    if len(values) == 0 or not values.str.contains(",", regex=False).any():
        return False
    return bool(pd.to_numeric(values.str.replace(",", ".", regex=False), errors="coerce").notna().all())


# ---------------------------------------------------------------- values


WIDE = 64  # columns beyond which a frame of numbers is converted whole, not column by column


def to_numeric_block(frame: pd.DataFrame, columns: list[str], name: str, header: bool, row_offset: int = 0,
                     decimal: str = ".", sep: str = ",", out: np.ndarray | None = None) -> np.ndarray:
    """(n, d) float64 array of the chosen columns; names the first non-numeric cell.

    row_offset: rows of the file before this frame (for chunked reads); decimal, sep: the
    layout's (a value with a decimal comma, fields not split on commas: the hint to say so);
    out: an (n, d) float64 array to fill and return (the whole table's next rows), else a new one."""
    block = np.empty((len(frame), len(columns)), dtype=np.float64) if out is None else out
    if len(columns) > WIDE:
        chosen = frame if list(frame.columns) == columns else frame[columns]
        if all(pd.api.types.is_numeric_dtype(kind) and not pd.api.types.is_bool_dtype(kind) for kind in chosen.dtypes):
            # every column parsed as numbers: one conversion, not one Series per column (which
            # cost a 300-column table a third of its read; a narrow one, less than this copy)
            block[:] = chosen.to_numpy(dtype=np.float64)
            return block
    for j, col in enumerate(columns):
        series = frame[col]
        if pd.api.types.is_bool_dtype(series.dtype) or not pd.api.types.is_numeric_dtype(series.dtype):
            text = series.astype("string").str.strip()
            readable = text.str.replace(",", ".", regex=False) if decimal == "," else text
            parsed = pd.to_numeric(readable, errors="coerce")
            bad = parsed.isna() & text.notna() & (text != "")
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                value = text.iloc[i]
                hint = ""
                if decimal == "." and sep != "," and "," in value and is_number(value.replace(",", ".")):
                    hint = " (with a decimal comma: add --decimal ,)"
                raise BadInput(
                    f"{name}: {line_of(row_offset + i, header)}, column {col!r}: {value!r} is not a number{hint}"
                )
            series = parsed
        block[:, j] = series.to_numpy(dtype=np.float64, na_value=np.nan)
    return block


def check_finite(block: np.ndarray, columns: list[str], name: str, header: bool, dropna: bool,
                 row_offset: int = 0, kept: list | None = None):
    """Drop or reject rows holding NaN/inf. Returns (block, rows_dropped); kept, when given,
    receives the file's 0-based row numbers of the rows returned (predict's rows that line up)."""
    finite = np.isfinite(block)
    if finite.all():
        if kept is not None:
            kept.append(np.arange(row_offset, row_offset + block.shape[0]))
        return block, 0
    bad_rows = ~finite.all(axis=1)
    if dropna:
        if kept is not None:
            kept.append(np.flatnonzero(~bad_rows) + row_offset)
        return block[~bad_rows], int(bad_rows.sum())
    i = int(np.flatnonzero(bad_rows)[0])
    j = int(np.flatnonzero(~finite[i])[0])
    what = "missing value (empty or NaN)" if np.isnan(block[i, j]) else "infinite value"
    raise BadInput(
        f"{name}: {line_of(row_offset + i, header)}, column {columns[j]!r}: {what}; "
        f"use --dropna to skip such rows"
    )


def reject_short(frame: pd.DataFrame, layout: Layout, columns: list[str], name: str,
                 row_fields: Callable[[], RowFields], row_offset: int = 0) -> None:
    """Reject a row with fewer fields than the layout's (ragged). pandas reads a short row's
    missing fields as NaN, exactly as it reads empty fields, so the rows with NaN in the last
    field are re-read (row_fields makes the reader on first need); with only some fields
    parsed (the Dask pieces), those with NaN in a chosen column. A row may lack just the
    delimiter that ends the others (the empty trailing field, never read)."""
    fields = list(layout.fields)
    if fields[-1] == TRAILING_FIELD and len(fields) > 1:
        fields.pop()
    if fields[-1] in frame.columns:
        suspects = np.flatnonzero(frame[fields[-1]].isna().to_numpy())  # one Series: no frame copied
    else:
        watched = list(dict.fromkeys([*columns, frame.columns[-1]]))
        suspects = np.flatnonzero(frame[watched].isna().to_numpy().any(axis=1))
    reject_short_rows(suspects, row_fields, len(fields), name, row_offset)


def checked_block(frame: pd.DataFrame, layout: Layout, columns: list[str], name: str, *, header_line: bool,
                  dropna: bool, row_fields: Callable[[], RowFields], row_offset: int = 0,
                  out: np.ndarray | None = None, kept: list | None = None):
    """(block (m', d) float64 of finite values, rows dropped by dropna) of one frame of
    ``frames``: ragged rows, then numbers, then NaN/inf. row_offset: the file's rows before it;
    out: an (m, d) float64 array the values are written to (the block is ``out`` itself unless
    dropna dropped rows); kept: see check_finite."""
    reject_short(frame, layout, columns, name, row_fields, row_offset)
    block = to_numeric_block(frame, columns, name, header_line, row_offset, layout.decimal, layout.sep, out)
    return check_finite(block, columns, name, header_line, dropna, row_offset, kept)
