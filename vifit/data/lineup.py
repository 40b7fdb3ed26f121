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


def _csv_layout(source: str, opts, table):
    name = display_name(source)
    reader, _, _ = open_checked(source)
    with reader:
        head = read_head(reader, name)
        return layout_of(head, opts, name, lambda message: None, None if opts.header else list(table.columns))


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


def lined_up(source: str, opts, table, keep: str | None, id_column: str | None,
             note=lambda message: None) -> Lineup | None:
    """The id and kept columns of ``table``'s rows (read from ``source`` with ``opts``, the
    ReadOptions the table was read with, and ``load_table(..., row_numbers=True)``), or None
    when predict writes only its results. keep: ``all`` or a column spec; id_column: one
    column, by name or 1-based index."""
    name = display_name(source)
    if arrow.is_arrow(source):
        layout = arrow.layout_of(arrow.ArrowFile(source), opts, lambda message: None)
    else:
        layout = _csv_layout(source, opts, table)
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
    fields = ([id_field] if id_field is not None else []) + kept
    if not fields:
        text = {}
    elif arrow.is_arrow(source):
        text = arrow.read_text(source, fields, opts)[1]
    else:
        text = _csv_text(source, layout, fields, opts)
    rows = table.row_numbers
    columns = [text[f][rows] for f in fields]
    if id_field is None and id_name is not None:  # the data row number, counted from 1
        columns.insert(0, np.array([str(r + 1) for r in rows], dtype=object))
    elif id_column is not None and len(columns[0]):
        values, counts = np.unique(columns[0].astype(str), return_counts=True)
        if (counts > 1).any():
            note(f"--id-column {id_name!r} has repeated values (e.g. {values[counts > 1][0]!r}): "
                 f"a join on it is ambiguous")
    names = ([id_name] if id_name is not None else []) + kept
    values = np.empty((len(rows), len(names)), dtype=object)
    for j, column in enumerate(columns):
        values[:, j] = column
    return Lineup(names, values)
