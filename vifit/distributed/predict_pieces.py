"""What a worker runs for ``vifit predict --backend dask``: one partition scored and written.

A partition's output file holds its rows in order, as local ``vifit predict`` writes them (the
same ``kind.predict``, ``render_table`` and ``parquet_pieces``), so the files concatenated in
name order are the local output of the same rows. With ``--keep-columns`` / ``--id-column``
(``data.lineup``) the worker reads the text of those columns from the partition's own piece (a
CSV block or file, a Parquet row group, an Arrow file) and takes it at the rows the read kept
(``Partitions.row_numbers``); the row number written without an id column is the data row's
number across all of DATA, counted from 1 (``first_number``: the data rows of the pieces before).
"""

from __future__ import annotations

import numpy as np

from vifit.data import arrow
from vifit.data.csv import frames
from vifit.data.lineup import fields_of, lineup_of
from vifit.data.source import CheckedReader
from vifit.distributed.arrow_pieces import RowGroup
from vifit.distributed.reading import CHUNK_ROWS, _open

TEXT_ROWS = 1 << 16  # rows of a Parquet / Arrow piece converted to text at a time


def piece_text(piece, want) -> dict:
    """{field: (rows of the piece,) object array of its cells as written} for the fields
    ``lineup.fields_of(want)``, from the piece alone (``reading.Piece`` or ``arrow_pieces.RowGroup``)."""
    fields = fields_of(want)
    if not fields:
        return {}
    if isinstance(piece, RowGroup):
        groups = None if piece.group is None else [piece.group]
        return arrow.read_text(piece.path, fields, want.opts, TEXT_ROWS, groups)[1]
    name = piece.name()
    parts = {f: [] for f in fields}
    header_line = bool(want.opts.header) and piece.offset == 0  # the file's first block starts with the header
    with CheckedReader(_open(piece), name) as stream:
        for frame in frames(stream, want.layout, CHUNK_ROWS, name, header_line=header_line, usecols=fields,
                            text=True):
            for f in fields:
                parts[f].append(frame[f].to_numpy(dtype=object))
    return {f: np.concatenate(parts[f]) if parts[f] else np.empty(0, dtype=object) for f in fields}


def predict_partition(x: np.ndarray, document: dict, model_file: str, columns: list, names: list, output: str,
                      fmt: str, rows=None, piece=None, want=None, first_number: int = 0) -> int:
    """Score the partition x (n, d) and write it to output (fmt: csv or parquet), atomically;
    the rows written. names: the result columns (the client's, so an empty partition writes
    the same header); rows (n,), piece, want: the lineup (see the module doc), or None."""
    from vifit.data import Table
    from vifit.documents import model_kind
    from vifit.documents.outputs import computed
    from vifit.output import render_table, write_text

    if x.shape[0]:
        kind = model_kind(document["model"], model_file)
        names, results = computed(kind.predict, document, model_file,
                                  Table(values=x, columns=list(columns), source=model_file))
    else:  # a partition --dropna emptied: a header alone
        results = []
    if want is not None:
        lineup = lineup_of(want, piece_text(piece, want), rows, first_number)
        names, results = lineup.joined(names, results)
    if fmt == "parquet":
        from vifit.data.arrow import parquet_pieces

        write_text(parquet_pieces([(names, results)], output), output, compress=False)
    else:
        write_text(render_table(names, results), output)
    return int(x.shape[0])
