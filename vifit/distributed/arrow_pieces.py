"""Parquet and Arrow files as Dask partitions: one per Parquet row group, one per Arrow file, one
per part file of a Parquet dataset folder (``data.arrow_dataset``, whose "row groups" are its parts).

The CSV road (``reading``) cuts files into byte blocks; a Parquet file is already cut, into row
groups, which a worker reads by their number with only the chosen columns (an Arrow / Feather
file, which has no such index of its own here, is one partition). The rules are the one
reader's: the columns are chosen from the first file's first rows (``data.arrow`` turns its
batches into the frames ``data.csv.choose_columns`` takes), every later file must have the first
one's columns, and each batch goes through ``data.csv.checked_block`` (numbers, finite values,
--dropna), or, for a fit that keeps missing cells or reads --row-weights, ``data.mixed.convert``
(the weight as the partition's last column). Messages name the partition's file and row group,
and the row within the group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vifit.data import arrow, mixed
from vifit.data.csv import checked_block, choose_columns
from vifit.data.layout import header_only
from vifit.data.source import display_name
from vifit.distributed.reading import joined_rows
from vifit.errors import BadInput

CHUNK_ROWS = 16384  # rows converted at a time on a worker
HEAD_ROWS = 1000  # rows the columns are chosen from


@dataclass(frozen=True)
class RowGroup:
    """Row group ``group`` of a Parquet file (None: the whole Arrow file), or part ``group`` of a
    dataset folder (``part``: its file); index: the partition's number."""

    path: str
    group: int | None
    index: int
    part: str | None = None

    def name(self) -> str:
        where = f"partition {self.index + 1}"
        if self.part is not None:
            return f"{display_name(self.part)} ({where}: rows counted from the part's start)"
        if self.group is not None:
            where += f": row group {self.group + 1}, rows counted from its start"
        return f"{display_name(self.path)} ({where})"


def plan(files: list[str], opts, name: str, note):
    """(columns, layout of the first file, the RowGroups of every file in order, the --row-weights
    column or None)."""
    first = arrow.open_table(files[0])
    layout = arrow.layout_of(first, opts, note)
    head = next(first.batches(HEAD_ROWS), None)
    if head is None:
        raise header_only(first.name)
    weight = None
    if mixed.active(opts):
        column_plan = mixed.plan_columns(arrow.frame_of(head, layout), layout, opts, name, note, None)
        if column_plan.categories:
            raise BadInput(f"{name}: category columns ({', '.join(sorted(column_plan.categories))}) are not read "
                           f"by --backend dask for gmm; choose numeric columns with --columns")
        columns, weight = column_plan.features, column_plan.weight
    else:
        columns = choose_columns(arrow.frame_of(head, layout), layout, opts.columns, name, note)
    pieces = []
    for path in files:
        file = first if path == files[0] else arrow.open_table(path)
        if file.names != first.names:
            raise BadInput(f"{file.name}: columns {', '.join(file.names)} differ from the first file's "
                           f"({', '.join(first.names)}); the files of DATA must have the same columns")
        groups = [None] if file.row_groups is None else range(file.row_groups)
        parts = getattr(file, "parts", None)  # a dataset folder: a partition per part file
        pieces += [RowGroup(path, g, len(pieces) + i, None if parts is None else parts[g])
                   for i, g in enumerate(groups)]
    return columns, layout, pieces, weight


def read_piece(piece: RowGroup, layout, columns: list[str], dropna: bool, dtype: str = "float64",
               weight: str | None = None, opts=None, kept: list | None = None):
    """(x (n, d) C-ordered finite values of dtype, rows dropped) of one row group (or Arrow file);
    with a mixed read's opts (missing cells kept, --row-weights) NaN cells stay and the weight
    column is x's last, (n, d + 1). kept: receives the piece's 0-based rows that x holds."""
    name = piece.name()
    file = arrow.open_table(piece.path)
    read = list(columns) + ([weight] if weight is not None else [])
    names = [file.names[layout.fields.index(c)] for c in read]
    mixed_read = opts is not None and mixed.active(opts)
    column_plan = mixed.ColumnPlan(list(columns), set(), weight) if mixed_read else None
    coder = mixed.Coder([], None, name, False) if mixed_read else None
    blocks, offset, dropped = [], 0, 0
    for table in file.batches(CHUNK_ROWS, names, None if piece.group is None else [piece.group]):
        frame = arrow.frame_of(table, layout, read)
        if mixed_read:
            block, weights, lost = mixed.convert(frame, column_plan, layout, opts, name, coder, offset, kept)
            if weights is not None:
                block = np.column_stack([block, weights])
        else:
            block, lost = checked_block(frame, layout, columns, name, header_line=False, dropna=dropna,
                                        row_fields=lambda: arrow.NO_SHORT_ROWS, row_offset=offset, kept=kept)
        offset, dropped = offset + len(frame), dropped + lost
        blocks.append(block)
    x = np.concatenate(blocks) if blocks else np.empty((0, len(read)))
    return np.ascontiguousarray(x, dtype=dtype), dropped


def read_piece_or_problem(piece: RowGroup, layout, columns: list[str], dropna: bool, dtype: str = "float64",
                          weight: str | None = None, opts=None, row_numbers: bool = False):
    """read_piece's (x, rows dropped, None, rows), or (empty x, 0, message, None) for bad input
    (the client raises it: see ``reading.read_piece_or_problem``, whose rows these are)."""
    kept = [] if row_numbers else None
    try:
        x, dropped = read_piece(piece, layout, columns, dropna, dtype, weight, opts, kept)
    except BadInput as exc:
        return (np.empty((0, len(columns) + (weight is not None)), dtype=dtype), 0, arrow.without_lines(str(exc)),
                None)
    return x, dropped, None, joined_rows(kept)


def submit_reads(client, files: list[str], opts, name: str, note, dtype: str, retries: int,
                 row_numbers: bool = False):
    """(columns, futures of read_piece_or_problem, one per partition in order, the weight column
    or None, the RowGroups, the layout)."""
    columns, layout, pieces, weight = plan(files, opts, name, note)
    return columns, [client.submit(read_piece_or_problem, piece, layout, columns, opts.dropna, dtype, weight, opts,
                                   row_numbers, retries=retries) for piece in pieces], weight, pieces, layout
