"""Parquet, Feather and Arrow IPC files: their record batches as the frames the block parser checks.

A DATA path ending in ``.parquet``, ``.feather`` or ``.arrow`` is read with pyarrow (the optional
extra ``vifit[arrow]``; without it, one line says what to install); a folder is a Parquet dataset
(``arrow_dataset``, opened by :func:`open_table` as one table). A Feather v1 file (old pandas and
R ``feather``; ``FEA1`` first) has no record batches: pyarrow reads it whole, as one table. There is no second set of
rules: each batch becomes the pandas frame the CSV parser would have made, its columns named by a
:class:`layout.Layout`, and goes through the same checks (``csv.choose_columns``,
``csv.checked_block``, ``mixed.convert``): column choice, numbers, finite values, missing cells,
categories (a dictionary or string column), row weights. What a file format settles by itself is
settled here: column names come from the schema (empty and repeated ones refused as a header's
are), the index ``df.to_parquet()`` stores (pandas' metadata) is the row index, and no row can be
ragged. Messages name the row without a line, since a columnar file has none.

Batches are cut to exactly the rows a caller asks for (the CSV parser's chunk sizes), whatever
the file's row groups, so a stream gives the same blocks from either format; a Parquet file is
read a row group at a time (memory bounded by the largest row group).
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import re
from typing import Callable

from vifit.data.layout import INDEX_FIELD, Layout, _checked_names, empty_file
from vifit.data.source import _check_readable, display_name
from vifit.errors import BadInput

ENDINGS = (".parquet", ".feather", ".arrow")
INSTALL = "pip install 'vifit[arrow]'"
FEATHER_V1 = b"FEA1"  # the first bytes of a Feather v1 file (v2 is the Arrow IPC file format: ARROW1)


def is_arrow(source) -> bool:
    """Whether DATA names a Parquet / Feather / Arrow file (by its ending) or a folder (a Parquet
    dataset, ``arrow_dataset``)."""
    return isinstance(source, str) and (source.lower().endswith(ENDINGS) or (source != "-" and os.path.isdir(source)))


def pyarrow(name: str, doing: str = "reading Parquet and Arrow files"):
    """The pyarrow module (with .parquet and .ipc loaded), or BadInput saying which extra to install."""
    try:
        import pyarrow as pa
        import pyarrow.ipc  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise BadInput(f"{name}: {doing} needs pyarrow: {INSTALL}") from None
    return pa


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class ArrowFile:
    """An open Parquet, Feather or Arrow IPC file.

    names: the schema's column names; n_rows: its rows (None for an Arrow stream, known at its
    end only); index: the column pandas stored its index in (or None)."""

    def __init__(self, source: str):
        self.name = display_name(source)
        _check_readable(source)
        if os.path.getsize(source) == 0:
            raise empty_file(self.name)
        self.pa = pa = pyarrow(self.name)
        self.source, self._reader, self._table = source, None, None
        kind = "Parquet" if source.lower().endswith(".parquet") else "Arrow"
        try:
            if kind == "Parquet":
                # no pre-buffering: it holds far more than the row group being read
                self._parquet = pa.parquet.ParquetFile(source, pre_buffer=False)
                schema, self.n_rows = self._parquet.schema_arrow, self._parquet.metadata.num_rows
            else:
                self._parquet = None
                schema, self.n_rows = self._open_ipc(pa)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise BadInput(f"{self.name}: not a readable {kind} file (damaged or truncated?): {_reason(exc)}") from None
        self.kind, self.schema = kind, schema
        self.names = [str(n) for n in schema.names]
        self.index = _pandas_index(schema)

    def _open_ipc(self, pa):
        """(schema, rows) of a Feather v2 / Arrow IPC file, of an Arrow IPC stream, or of a Feather v1 file."""
        with open(self.source, "rb") as handle:
            magic = handle.read(4)
        if magic == FEATHER_V1:  # old pandas / R feather: no record batches; pyarrow reads it whole, as a table
            self._table = _feather_v1(pa, self.source)
            return self._table.schema, self._table.num_rows
        try:
            self._reader = pa.ipc.open_file(pa.memory_map(self.source))
            rows = sum(self._reader.get_batch(i).num_rows for i in range(self._reader.num_record_batches))
            return self._reader.schema, rows
        except pa.ArrowInvalid:
            self._reader = None  # not the file format: the stream format, read from the start each time
            return pa.ipc.open_stream(pa.memory_map(self.source)).schema, None

    @property
    def row_groups(self) -> int | None:
        """A Parquet file's row groups (None for an Arrow file)."""
        return None if self._parquet is None else self._parquet.num_row_groups

    def raw(self, columns: list[str] | None = None, row_groups: list[int] | None = None, rows: int = 1 << 16):
        """Record batches of any sizes (of at most ``rows`` from a Parquet row group), in file order
        (of the given Parquet row groups only), of the given columns; BadInput for data damaged
        past the footer."""
        pa = self.pa
        try:
            if self._parquet is not None:  # a row group at a time: memory bounded by the largest
                groups = range(self._parquet.num_row_groups) if row_groups is None else row_groups
                raw = (batch for group in groups
                       for batch in self._parquet.read_row_group(group, columns=columns, use_pandas_metadata=False)
                       .to_batches(max_chunksize=rows))
            elif self._table is not None:
                raw = iter(self._table.to_batches(max_chunksize=rows))
            elif self._reader is not None:
                raw = (self._reader.get_batch(i) for i in range(self._reader.num_record_batches))
            else:
                raw = iter(pa.ipc.open_stream(pa.memory_map(self.source)))
            for batch in raw:
                yield batch if columns is None or self._parquet is not None else batch.select(columns)
        except (pa.ArrowException, OSError) as exc:
            raise BadInput(f"{self.name}: {self.kind} data is damaged or truncated: {_reason(exc)}") from None

    def batches(self, rows: int, columns: list[str] | None = None, row_groups: list[int] | None = None):
        """pyarrow Tables of exactly ``rows`` rows (the last one fewer), in file order (of the
        given Parquet row groups only); BadInput for data damaged past the footer."""
        yield from _exactly(self.pa, self.raw(columns, row_groups, rows), rows, None)


def _feather_v1(pa, source: str):
    """The table of a Feather v1 file (pyarrow warns that v1 is deprecated: said once in the docs, not per read)."""
    import warnings

    import pyarrow.feather

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pyarrow.feather.read_table(source, memory_map=True)


def open_table(source: str):
    """The reader of a DATA path: an ArrowFile, or for a folder an ``arrow_dataset.Dataset``."""
    if os.path.isdir(source):
        from vifit.data.arrow_dataset import Dataset

        return Dataset(source)
    return ArrowFile(source)


def _exactly(pa, batches, rows: int, columns):
    """Tables of exactly ``rows`` rows from record batches of any sizes (columns: those kept)."""
    pending, count = [], 0
    for batch in batches:
        if columns is not None:
            batch = batch.select(columns)
        while batch.num_rows:
            take = min(rows - count, batch.num_rows)
            pending.append(batch.slice(0, take))
            count, batch = count + take, batch.slice(take)
            if count == rows:
                yield pa.Table.from_batches(pending)
                pending, count = [], 0
    if count:
        yield pa.Table.from_batches(pending)


def _pandas_index(schema) -> str | None:
    """The column ``df.to_parquet()`` / ``to_feather()`` stored a (one-level) index in, else None."""
    try:
        meta = json.loads((schema.metadata or {}).get(b"pandas", b"{}"))
    except (ValueError, TypeError):
        return None
    index = [c for c in meta.get("index_columns", []) if isinstance(c, str)] if isinstance(meta, dict) else []
    return index[0] if len(index) == 1 and index[0] in schema.names else None


def layout_of(file: ArrowFile, opts, note: Callable[[str], None]) -> Layout:
    """The Layout of the file's columns: the schema's names, pandas' index as the row index."""
    name = file.name
    if not opts.header:
        raise BadInput(f"{name}: --no-header does not apply to a {file.kind} file (its columns are named)")
    if opts.delimiter is not None or (getattr(opts, "decimal", ".") or ".") != ".":
        option = "--delimiter" if opts.delimiter is not None else "--decimal"
        raise BadInput(f"{name}: {option} does not apply to a {file.kind} file (its values are typed)")
    skip = set()
    fields = list(file.names)
    if file.index is not None:
        position = fields.index(file.index)
        fields[position], skip = INDEX_FIELD, {position + 1}
        note(f"the pandas index (column {file.index!r}) is read as the row index, not a feature")
    _checked_names(file.names, name, skip)
    return Layout(",", ".", tuple(fields), tuple(file.names))


def frame_of(table, layout: Layout, columns: list[str] | None = None):
    """The pandas frame of a pyarrow Table, named by the layout's fields (as the CSV parser names
    its frames): numbers as float64 / int64, text and dictionaries (categories) as pandas gives them."""
    frame = table.to_pandas(ignore_metadata=True)  # pandas' index stays a column: the layout's row index
    frame.columns = list(layout.fields) if columns is None else list(columns)
    return frame


class _NoShortRows:
    """What ``ragged.RowFields`` answers for a columnar file: no row has too few fields."""

    def first_short(self, rows, expected):
        return None


NO_SHORT_ROWS = _NoShortRows()


class _Progress:
    """The fraction of the file's rows read (``rows.GrowingRows`` extrapolates the table from it)."""

    def __init__(self, total: int | None):
        self.total, self.read = total, 0

    def fraction(self) -> float | None:
        return min(self.read / self.total, 1.0) if self.total else None


def parsed_frames(source: str, opts, note, required_columns, chunk_values: int):
    """``table.parsed_frames`` for a Parquet / Arrow file: (frame, layout, progress, row_fields)."""
    file = open_table(source)
    layout = layout_of(file, opts, note)
    progress = _Progress(file.n_rows)
    for table in file.batches(max(chunk_values // max(len(layout.fields), 1), 64)):
        progress.read += table.num_rows
        yield frame_of(table, layout), layout, progress, lambda: NO_SHORT_ROWS


def stream_frames(source: str, opts, note, chunk_rows: int):
    """(layout, frames of chunk_rows rows) for ``stream.TableStream``'s passes."""
    file = open_table(source)
    layout = layout_of(file, opts, note)
    return layout, (frame_of(table, layout) for table in file.batches(chunk_rows))


def read_text(source: str, fields: list[str], opts, chunk_rows: int = 1 << 16, row_groups: list[int] | None = None):
    """(layout, {field: object array of each row's value as text}) of some fields (``lineup``,
    ``plot --color-by``; of some Parquet row groups only: a Dask partition's): numbers as Python
    writes them, a missing value as ''."""
    import numpy as np

    file = open_table(source)
    layout = layout_of(file, opts, lambda message: None)
    names = [file.names[layout.fields.index(f)] for f in fields] if fields else []
    parts = {f: [] for f in fields}
    if fields:
        for table in file.batches(chunk_rows, names, row_groups):
            frame = frame_of(table, layout, fields)
            for f in fields:
                parts[f].append(np.array([_text(v) for v in frame[f].to_numpy(dtype=object)], dtype=object))
    return layout, {f: np.concatenate(parts[f]) if parts[f] else np.empty(0, dtype=object) for f in fields}


def _text(value) -> str:
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def read_column(source: str, column: str, opts):
    """``table.read_column`` for a Parquet / Arrow file: one column's values as text."""
    file = open_table(source)
    if column not in layout_of(file, opts, lambda message: None).features:
        raise BadInput(f"--color-by {column}: no such column in {file.name}")
    return read_text(source, [column], opts)[1][column]


_LINE = re.compile(r"(row \d+) \(line \d+\)")


def without_lines(message: str) -> str:
    """A block check's message with its 'row r (line l)' as 'row r' (a columnar file has no lines)."""
    return _LINE.sub(r"\1", message)


def rows_not_lines(source_of: Callable):
    """Decorate a reading function (or generator) so that, for a Parquet / Arrow source
    (``source_of(*args, **kwargs)``), the block checks' 'row r (line l)' reads 'row r'."""

    def reworded(exc: BadInput) -> BadInput:
        text = without_lines(str(exc))
        return exc if text == str(exc) or type(exc) is not BadInput else BadInput(text)

    def decorate(function):
        if inspect.isgeneratorfunction(function):
            @functools.wraps(function)
            def generator(*args, **kwargs):
                if not is_arrow(source_of(*args, **kwargs)):
                    return (yield from function(*args, **kwargs))
                try:
                    return (yield from function(*args, **kwargs))
                except BadInput as exc:
                    raise reworded(exc) from None
            return generator

        @functools.wraps(function)
        def plain(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except BadInput as exc:
                if not is_arrow(source_of(*args, **kwargs)):
                    raise
                raise reworded(exc) from None
        return plain

    return decorate


# ---------------------------------------------------------------- writing (predict, sample -o x.parquet)


class _Drain:
    """A write-only file that hands over what was written (``take``) and counts it (``tell``),
    so a Parquet file is produced piece by piece for the atomic writer (``writing.write_text``)."""

    closed = False

    def __init__(self):
        self._parts, self._position = [], 0

    def write(self, data) -> int:
        data = bytes(data)
        self._parts.append(data)
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def parquet_pieces(tables, name: str):
    """The bytes of a Parquet file, in pieces, from ``(names, rows)`` tables (the rows of one
    file, in order; the first table's types for all). Each column is typed as its cells in the
    CSV output read (the CSV text parsed by pyarrow: integers, exact floats, text; an empty cell
    is null), so ``pd.read_parquet`` gives what ``pd.read_csv`` gives of the CSV output; an
    empty-named first column, a row index (predict's id of a pandas export), is stored as
    pandas stores its index."""
    from vifit.output import render_table

    pa = pyarrow(name, "writing Parquet files")
    from pyarrow import csv as arrow_csv

    drain, writer, schema = _Drain(), None, None
    for names, rows in tables:
        table = arrow_csv.read_csv(pa.py_buffer(render_table(names, rows).encode("utf-8")),
                                   convert_options=arrow_csv.ConvertOptions(strings_can_be_null=False))
        if names and names[0] == "":  # the row index, as df.to_parquet() stores an index
            frame = table.to_pandas().set_index("")
            frame.index.name = None
            table = pa.Table.from_pandas(frame, preserve_index=True)
        if writer is None:
            schema = table.schema
            writer = pa.parquet.ParquetWriter(pa.PythonFile(drain, mode="w"), schema)
        writer.write_table(table.cast(schema))
        yield drain.take()
    if writer is not None:
        writer.close()
    yield drain.take()
