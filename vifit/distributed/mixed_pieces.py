"""Pieces of a mixed table read on the workers (``vifit mixture --backend dask``).

The mixed reader's rules (``data.mixed``: category columns coded, missing cells kept, a weight
column) applied to one piece of ``reading.plan``, so that every partition codes its categories
alike: a first task per piece returns the labels it holds (checking every row, as any reading
does), the client sorts their union once (``mixed.sorted_labels``), and a second task per piece
reads it with those levels. A partition is (n, d) float64, with the rows' weight as a last column
when ``--row-weights`` names one. Bad input comes back as a message (``read_piece_or_problem``'s
convention), which the client raises.
"""

from __future__ import annotations

import numpy as np

from vifit.data import DECOMPRESSION_ERRORS, display_name, mixed
from vifit.data.csv import frames, reject_short
from vifit.data.layout import Layout
from vifit.data.ragged import LazyRowFields
from vifit.data.source import CheckedReader
from vifit.distributed.reading import CHUNK_ROWS, Piece, _check_header, _open, _raw_lines, joined_rows
from vifit.errors import BadInput


def _blocks(piece: Piece, names: list, header: str | None, sep: str, decimal: str, plan, opts, coder,
            kept: list | None = None):
    """(block (m, d) or (m, d + 1) with the weight last, rows dropped) of each parsed chunk of the
    piece; kept: receives the piece's 0-based data rows of the blocks' rows."""
    layout = Layout(sep, decimal, tuple(names))
    header_line = header is not None and piece.offset == 0
    name = piece.name()
    if header_line:
        _check_header(piece, header, sep)
    read = plan.features + ([plan.weight] if plan.weight else [])
    offset = 0
    with CheckedReader(_open(piece), name) as stream, \
            LazyRowFields(lambda: _raw_lines(piece, sep, header_line)) as raw_lines:
        for frame in frames(stream, layout, CHUNK_ROWS, name, header_line=header_line):
            reject_short(frame, layout, read, name, raw_lines.get, offset)
            block, weights, lost = mixed.convert(frame, plan, layout, opts, name, coder, offset, kept)
            offset += len(frame)
            yield (block if weights is None else np.column_stack([block, weights])), lost


def _guarded(work, piece: Piece, empty):
    """work()'s value with None, or (empty, message) for bad input (see the module doc)."""
    try:
        return work(), None
    except BadInput as exc:
        return empty, str(exc)
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        return empty, (f"{display_name(piece.path)}: cannot open on a worker ({exc.strerror}); DATA must be on a "
                       f"file system every worker sees")
    except DECOMPRESSION_ERRORS as exc:
        return empty, f"{piece.name()}: compressed data is damaged or truncated ({exc})"


def piece_labels(piece: Piece, names: list, header: str | None, sep: str, decimal: str, plan, opts):
    """({category column: the labels the piece holds, in first-seen order}, message or None)."""
    def work():
        coder = mixed.Coder(sorted(plan.categories), None, piece.name(), header is not None and piece.offset == 0)
        for _ in _blocks(piece, names, header, sep, decimal, plan, opts, coder):
            pass
        return {column: list(table) for column, table in coder.seen.items()}

    return _guarded(work, piece, {})


def read_mixed_piece(piece: Piece, names: list, header: str | None, sep: str, decimal: str, plan, opts,
                     levels: dict, row_numbers: bool = False):
    """((x (n, d [+ 1]) float64, rows dropped, rows), message or None): the piece read with the
    given levels; rows: (n,) the piece's 0-based data row of each row of x (row_numbers), else None."""
    width = len(plan.features) + (plan.weight is not None)

    def work():
        coder = mixed.Coder(sorted(plan.categories), levels or None, piece.name(),
                            header is not None and piece.offset == 0)
        parts, dropped, kept = [], 0, [] if row_numbers else None
        for block, lost in _blocks(piece, names, header, sep, decimal, plan, opts, coder, kept):
            parts.append(block)
            dropped += lost
        x = np.concatenate(parts) if parts else np.empty((0, width))
        return np.ascontiguousarray(x), dropped, joined_rows(kept)

    return _guarded(work, piece, (np.empty((0, width)), 0, None))


def first_of(pair):
    return pair[0][0]


def dropped_of(pair):
    return pair[0][1]


def rows_of(pair):
    return pair[0][2]
