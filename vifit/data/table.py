"""The whole table and its rows: a :class:`Table` of finite floats read through the block parser.

``load_table`` turns a path (plain or ``.gz``/``.bz2``/``.xz``/``.zip``) or ``-`` (stdin)
into a :class:`Table`, or raises :class:`BadInput` with one sentence naming the file, the row
or column, and the problem (the rules are ``layout`` and ``csv``'s). ``table_of`` makes the
same Table from a caller's array; ``read_column`` gives one column's raw values (labels).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from vifit.data import arrow, mixed
from vifit.data.csv import (SpaceStartsField, WatchedForSpaces, checked_block, choose_columns, frames, reject_short,
                            space_starts_field)
from vifit.data.layout import header_only, layout_of
from vifit.data.rows import GrowingRows
from vifit.data.ragged import LazyRowFields, RowFields
from vifit.data.source import DECOMPRESSION_ERRORS, Chain, display_name, open_checked, read_head, read_once
from vifit.errors import BadInput
from vifit.preprocess import apply_preprocessing, check_dtype_range, standardization

DTYPES = {"float64": np.float64, "float32": np.float32}


@dataclass(frozen=True)
class ReadOptions:
    """How to read a table; mirrors the shared ``data_options`` of the CLI."""

    columns: str | None = None
    header: bool = True
    delimiter: str | None = None  # None: ',' unless the first line says ';' or TAB (layout.sniffed_delimiter)
    decimal: str = "."
    dropna: bool = False
    standardize: bool = False
    dtype: str = "float64"
    # mixed tables (data.mixed): missing cells kept as NaN, category columns coded, a weight column
    missing: bool = False
    categorical: str | None = None
    text_as_categorical: bool = False
    row_weights: str | None = None
    levels: dict | None = None  # {column: labels} fixing category codes (predict)


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
    weights: np.ndarray | None = None  # (n,) frequency weights (--row-weights), or None
    levels: dict = field(default_factory=dict)  # {column: labels} of category columns (codes 0..C-1)
    row_numbers: np.ndarray | None = None  # (n,) the input's 0-based data row of each row (load_table asked)

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


# ---------------------------------------------------------------- entry points


# Values per parsed chunk, whatever the width: 4 MiB as float64, with pandas' tokens for them
# (about 20 MiB at 12 characters a value) the whole-table read's memory beyond its array.
CHUNK_VALUES = 1 << 19


def parsed_frames(source: str, opts: ReadOptions, note: Callable[[str], None], required_columns: list[str] | None,
                  watch_spaces: bool = False):
    """(frame, layout, progress, row_fields) for each parsed chunk of ``source``, with its bytes
    checked as they arrive; row_fields() gives the reader of a second look at suspect rows.

    watch_spaces: when no field of the head starts with a space, pandas is told not to skip
    such spaces (much faster), and the rest of the bytes are watched: SpaceStartsField
    (before the parser sees them) when one does, for the caller to read again without it."""
    if arrow.is_arrow(source):  # Parquet / Arrow: record batches as frames, the same checks after
        yield from arrow.parsed_frames(source, opts, note, required_columns, CHUNK_VALUES)
        return
    name = display_name(source)
    reader, progress, reopen = open_checked(source)
    with reader:
        head = read_head(reader, name)
        layout = layout_of(head, opts, name, note, required_columns)

        def row_fields():  # a second reading of the text, made only for a chunk with a suspect row
            stream = io.TextIOWrapper(reopen(), encoding="utf-8-sig", errors="replace", newline="")
            return RowFields(lines_until_damage(stream), layout.sep, opts.header), stream

        watched = watch_spaces and not space_starts_field(head, layout.sep, None)
        rest = WatchedForSpaces(reader, layout.sep, head[-1:]) if watched else reader
        with LazyRowFields(row_fields) as fields:
            for frame in frames(Chain(head, rest), layout, max(CHUNK_VALUES // len(layout.fields), 64), name,
                                header_line=opts.header, whole_chunks=True, no_initial_spaces=watched):
                yield frame, layout, progress, fields.get


def read_values(source: str, opts: ReadOptions, note: Callable[[str], None],
                required_columns: list[str] | None, kept: list | None = None) -> tuple[np.ndarray, list[str], int]:
    """(values (n, d) float64 of the chosen columns, the column names, rows dropped by --dropna).

    The input is parsed in chunks as its bytes arrive (checked block by block), each chunk
    converted and checked, and written into one array that is refused, with the estimate of
    the whole table, before it outgrows the memory left; the columns are chosen from the
    header and the first chunk. A file (not stdin or a pipe, which cannot be read again) is
    first read on the assumption that no field starts with a space; if one does, it is read
    again from the start with the spaces skipped, each note said once. kept: receives the row
    numbers of the rows read (csv.check_finite)."""
    return _watching_spaces(lambda said, watch: _read_values(source, opts, said, required_columns, watch_spaces=watch,
                                                             kept=kept),
                            source, note)


def _watching_spaces(read: Callable, source: str, note: Callable[[str], None]):
    """read(note, watch_spaces) for a file, and once more without the watch if a field starts
    with a space (each note said once); stdin and pipes, which cannot be read again, are read
    with the spaces skipped from the start."""
    if read_once(source):
        return read(note, False)
    said: list[str] = []

    def note_once(message: str) -> None:
        if message not in said:
            said.append(message)
            note(message)

    try:
        return read(note_once, True)
    except SpaceStartsField:
        pass  # outside the handler, so that the first reading's rows are let go first
    return read(note_once, False)


def _read_values(source: str, opts: ReadOptions, note: Callable[[str], None], required_columns: list[str] | None,
                 watch_spaces: bool, kept: list | None = None) -> tuple[np.ndarray, list[str], int]:
    if kept is not None:
        kept.clear()  # a second reading (a field starting with a space) lists the rows afresh
    name = display_name(source)
    columns, rows, offset, dropped = None, None, 0, 0
    for frame, layout, progress, row_fields in parsed_frames(source, opts, note, required_columns, watch_spaces):
        if columns is None:
            if len(frame) == 0:
                raise header_only(name)
            columns = choose_columns(frame, layout, opts.columns, name, note, required_columns)
            rows = GrowingRows(len(columns), name, progress)
        reserved = rows.reserve(len(frame))  # the values go straight into the table's rows
        block, lost = checked_block(frame, layout, columns, name, header_line=opts.header, dropna=opts.dropna,
                                    row_fields=row_fields, row_offset=offset, out=reserved, kept=kept)
        offset, dropped = offset + len(frame), dropped + lost
        rows.commit(block, reserved)
        del frame, block, reserved  # views of the array, which the next rows may move
    if offset == 0:
        raise header_only(name)
    return rows.finish(), columns, dropped


def read_column(source: str, column: str, opts: ReadOptions) -> np.ndarray:
    """The raw values (strings, as written) of one column of a table, e.g. labels to colour
    points by; BadInput when there is no such column."""
    if arrow.is_arrow(source):
        return arrow.read_column(source, column, opts)
    name = display_name(source)
    reader, _, _ = open_checked(source)
    with reader:
        head = read_head(reader, name)
        layout = layout_of(head, opts, name, lambda message: None)
        if column not in layout.features:
            raise BadInput(f"--color-by {column}: no such column in {name}")
        parts = [frame[column].to_numpy() for frame in frames(Chain(head, reader), layout, CHUNK_VALUES, name,
                                                              header_line=opts.header, usecols=[column], text=True)]
    return np.concatenate(parts) if parts else np.empty(0, dtype=object)


def lines_until_damage(stream):
    """The lines of ``stream``, ending quietly where compressed data is damaged (the main
    reading reports it)."""
    try:
        yield from stream
    except DECOMPRESSION_ERRORS:
        return


@arrow.rows_not_lines(lambda source, *args, **kwargs: source)
def load_table(
    source: str,
    opts: ReadOptions = ReadOptions(),
    *,
    min_rows: int = 1,
    note: Callable[[str], None] = lambda message: None,
    required_columns: Iterable[str] | None = None,
    require_variation: bool = False,
    row_numbers: bool = False,
) -> Table:
    """Read ``source`` into a :class:`Table`.

    min_rows: the fewest rows the model can use (after --dropna).
    required_columns: when given (``predict``), exactly these columns are read,
    in this order, instead of ``opts.columns``.
    require_variation: reject a table in which every column is constant (nothing
    to fit); single constant columns are fine.
    row_numbers: set ``Table.row_numbers``, the input row of each row kept (predict's output
    lines up with the input through it).
    """
    name = display_name(source)
    if opts.dtype not in DTYPES:
        raise BadInput(f"--dtype must be one of {', '.join(DTYPES)}, got {opts.dtype!r}")
    required = None if required_columns is None else list(required_columns)
    kept = [] if row_numbers else None
    if mixed.active(opts):
        block, columns, dropped, levels, weights = read_mixed(source, opts, note, required, kept)
        if levels and opts.standardize:
            raise BadInput(f"{name}: --standardize does not apply to category columns "
                           f"({', '.join(map(repr, levels))})")
        table = table_of(block, columns, name, opts, rows_dropped=dropped, min_rows=min_rows, note=note,
                         require_variation=require_variation)
        table.levels, table.weights = levels, weights
        if levels:
            table.preprocessing = {**table.preprocessing, "levels": levels}
    else:
        block, columns, dropped = read_values(source, opts, note, required, kept)
        table = table_of(block, columns, name, opts, rows_dropped=dropped, min_rows=min_rows, note=note,
                         require_variation=require_variation)
    if kept is not None:
        table.row_numbers = np.concatenate(kept) if kept else np.empty(0, dtype=np.int64)
    return table


def read_mixed(source: str, opts: ReadOptions, note: Callable[[str], None], required_columns: list[str] | None,
               kept: list | None = None):
    """:func:`read_values` with the rules of ``data.mixed``: (values, columns, rows dropped,
    levels {column: labels}, weights (n,) or None)."""
    return _watching_spaces(lambda said, watch: _read_mixed(source, opts, said, required_columns, watch, kept),
                            source, note)


def _read_mixed(source: str, opts: ReadOptions, note: Callable[[str], None], required_columns: list[str] | None,
                watch_spaces: bool, kept: list | None = None):
    if kept is not None:
        kept.clear()  # a second reading (a field starting with a space) lists the rows afresh
    name = display_name(source)
    plan, rows, coder, weights, offset, dropped = None, None, None, [], 0, 0
    for frame, layout, progress, row_fields in parsed_frames(source, opts, note, required_columns, watch_spaces):
        if plan is None:
            if len(frame) == 0:
                raise header_only(name)
            plan = mixed.plan_columns(frame, layout, opts, name, note, required_columns)
            rows = GrowingRows(len(plan.features), name, progress)
            coder = mixed.Coder(sorted(plan.categories), opts.levels, name, opts.header)
        reject_short(frame, layout, plan.features + ([plan.weight] if plan.weight else []), name, row_fields, offset)
        block, w, lost = mixed.convert(frame, plan, layout, opts, name, coder, offset, kept)
        offset, dropped = offset + len(frame), dropped + lost
        rows.append(block)
        if w is not None:
            weights.append(w)
    if offset == 0:
        raise header_only(name)
    values = rows.finish()
    levels = coder.finish(values, plan.features)
    row_weights = np.concatenate(weights) if plan.weight is not None else None
    mixed.check_weights(row_weights, name, plan.weight)
    if opts.missing and not opts.dropna and len(values):
        empty = np.isnan(values).all(axis=1)
        if empty.any():
            note(f"{int(empty.sum())} row(s) have no value in any chosen column")
    return values, plan.features, dropped, levels, row_weights


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
    if require_variation and block.shape[0] > 1 and _constant(block):
        raise BadInput(f"{name}: every column is constant ({block.shape[0]} identical rows); there is nothing to fit")
    preprocessing: dict = {}
    if opts.standardize:
        preprocessing = standardization(block, note, columns)
        block = apply_preprocessing(block, preprocessing)
    check_dtype_range(block, columns, name, DTYPES[opts.dtype])
    values = np.ascontiguousarray(block, dtype=DTYPES[opts.dtype])
    return Table(values=values, columns=columns, source=name, rows_dropped=dropped, preprocessing=preprocessing)


def _constant(block: np.ndarray) -> bool:
    """Whether every row of block (n, d) equals the first, compared a slice of rows at a time
    (a whole-table comparison would hold n x d booleans beside the table)."""
    step = max(CHUNK_VALUES // max(block.shape[1], 1), 1)
    return all((block[start : start + step] == block[0]).all() for start in range(0, block.shape[0], step))
