"""Rows that line up: the input columns ``vifit predict`` writes before its results.

predict writes one row per row it scored. What lets that output be joined back to its input
is written first: the row id, then the columns ``--keep-columns`` copies, each cell as the
input wrote it (text, never re-formatted, so an id such as ``007`` stays ``007``). The row id
is, in this order of preference: ``--id-column``; the row index of a pandas ``to_csv()`` or R
``write.csv`` / ``write.table`` export (``layout.INDEX_FIELD``, written under its own empty
header name, so pandas reads it back with ``index_col=0``); with ``--dropna``, the data row
number (``row``, counted from 1 as the messages count rows), so the rows --dropna left out do
not shift the others.

They are read by a second pass over the input (the caller makes stdin re-readable with
``source.spooled``) and taken at the rows the table kept (``Table.row_numbers``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from vifit.data import arrow
from vifit.data.csv import frames, select_columns
from vifit.data.layout import INDEX_FIELD, layout_of
from vifit.data.source import Chain, display_name, open_checked, read_head
from vifit.errors import BadInput

ROW_NUMBER = "row"  # the id column's name when the rows are numbered (--dropna, no other id)
CHUNK_ROWS = 1 << 16


@dataclass(frozen=True)
class Lineup:
    """names: the id column (if any), then the kept columns; values: (n, len(names)) object
    array of text, one row per row of the table."""

    names: list[str]
    values: np.ndarray

    def joined(self, names: list[str], rows) -> tuple[list[str], list[list]]:
        """(header, rows) of the output: these columns first, then the results ``rows``
        (n, len(names)); BadInput when a kept column has the name of a result column."""
        clash = [n for n in self.names if n in names]
        if clash:
            raise BadInput(f"--keep-columns: column {clash[0]!r} has the name of a result column of predict; "
                           f"keep fewer columns (results: {', '.join(names)})")
        return self.names + list(names), [list(kept) + list(row) for kept, row in zip(self.values, rows)]


def _chosen(spec: str, option: str, layout, name: str) -> list[str]:
    """The fields a column spec names (``--columns``' parser), its messages naming ``option``."""
    if spec.strip() == "":
        raise BadInput(f"{option}: empty; give column names, 1-based indices or ranges (e.g. 'id,name' or '1-3')")
    try:
        return select_columns(pd.DataFrame(columns=list(layout.fields)), spec, name, lambda message: None, layout)
    except BadInput as exc:
        raise BadInput(str(exc).replace("--columns", option)) from None


def _csv_layout(source: str, opts, required: list[str]):
    name = display_name(source)
    reader, _, _ = open_checked(source)
    with reader:
        head = read_head(reader, name)
        return layout_of(head, opts, name, lambda message: None, None if opts.header else list(required))


def _csv_text(source: str, layout, fields: list[str], opts) -> dict:
    """{field: object array of every row's cell, as written}."""
    name = display_name(source)
    parts = {f: [] for f in fields}
    reader, _, _ = open_checked(source)
    with reader:
        head = read_head(reader, name)
        for frame in frames(Chain(head, reader), layout, CHUNK_ROWS, name, header_line=opts.header,
                            usecols=fields, text=True):
            for f in fields:
                parts[f].append(frame[f].to_numpy(dtype=object))
    return {f: np.concatenate(parts[f]) if parts[f] else np.empty(0, dtype=object) for f in fields}


@dataclass(frozen=True)
class Wanted:
    """What predict writes before its results, resolved from the head of the input before its
    rows are read (a bad spec costs no reading): id_field, the input field of the row id (None:
    the row number, or no id); id_name, its output name (None: no id); kept, the kept fields."""

    source: str
    opts: object
    layout: object
    id_field: str | None
    id_name: str | None
    kept: list


def wanted(source: str, opts, required: list[str], keep: str | None, id_column: str | None) -> Wanted | None:
    """The id and kept columns predict writes for ``source`` read with ``opts`` (required: the
    model's columns, naming a headerless file's), or None when it writes only its results.
    keep: ``all`` or a column spec; id_column: one column, by name or 1-based index."""
    name = display_name(source)
    if arrow.is_arrow(source):
        layout = arrow.layout_of(arrow.open_table(source), opts, lambda message: None)
    else:
        layout = _csv_layout(source, opts, required)
    id_field, id_name = None, None
    if id_column is not None:
        chosen = _chosen(id_column, "--id-column", layout, name)
        if len(chosen) != 1:
            raise BadInput(f"--id-column {id_column!r}: names {len(chosen)} columns; give one column")
        id_field = id_name = chosen[0]
    elif INDEX_FIELD in layout.fields:
        id_field, id_name = INDEX_FIELD, ""
    elif opts.dropna:
        id_name = ROW_NUMBER
    if keep is None:
        kept = []
    elif keep.strip().lower() == "all":
        kept = list(layout.features)
    else:
        kept = _chosen(keep, "--keep-columns", layout, name)
    kept = [f for f in kept if f != id_field]  # the id is written once, first
    if id_name is None and not kept:
        return None
    return Wanted(source, opts, layout, id_field, id_name, kept)


def lined_up(want: Wanted, table, note=lambda message: None) -> Lineup:
    """The id and kept columns of ``table``'s rows (read from ``want.source`` with
    ``load_table(..., row_numbers=True)``), read by a second pass over the input."""
    fields = fields_of(want)
    if not fields:
        text = {}
    elif arrow.is_arrow(want.source):
        text = arrow.read_text(want.source, fields, want.opts)[1]
    else:
        text = _csv_text(want.source, want.layout, fields, want.opts)
    return lineup_of(want, text, table.row_numbers, note=note)


def fields_of(want: Wanted) -> list:
    """The input fields whose text is written: the id's (unless the rows are numbered), the kept ones."""
    return ([want.id_field] if want.id_field is not None else []) + want.kept


def lineup_of(want: Wanted, text: dict, rows, first_number: int = 0, note=lambda message: None) -> Lineup:
    """The Lineup of the rows ``rows`` (n,) (0-based data rows of the input ``text`` was read
    from: {field: (rows read,) object array}, every field of :func:`fields_of`); first_number:
    the data rows before that input (a Dask partition's), added to the row numbers written."""
    fields = fields_of(want)
    rows = np.asarray(rows, dtype=np.int64)
    columns = [text[f][rows] for f in fields]
    if want.id_field is None and want.id_name is not None:  # the data row number, counted from 1
        columns.insert(0, np.array([str(r + 1 + first_number) for r in rows], dtype=object))
    elif want.id_field not in (None, INDEX_FIELD) and len(columns[0]):
        values, counts = np.unique(columns[0].astype(str), return_counts=True)
        if (counts > 1).any():
            note(f"--id-column {want.id_name!r} has repeated values (e.g. {values[counts > 1][0]!r}): "
                 f"a join on it is ambiguous")
    names = ([want.id_name] if want.id_name is not None else []) + want.kept
    values = np.empty((len(rows), len(names)), dtype=object)
    for j, column in enumerate(columns):
        values[:, j] = column
    return Lineup(names, values)
