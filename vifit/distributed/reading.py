"""CSV files cut into partitions, and one partition read into an array on a worker.

:func:`plan` cuts DATA's files into :class:`Piece` s on the client without reading them: a
plain file into blocks of ``BLOCKSIZE`` bytes (64 MiB, as ``dask.dataframe.read_csv`` cuts
them), a compressed file (``.gz``, ``.bz2``, ``.xz``, ``.zip``) whole, since it cannot be
entered in the middle. A block owns the lines that start after the first newline at or after
its first byte (the file's first block: from byte 0) up to the first newline at or after its
last byte, so every line belongs to exactly one block, as with ``dask.bytes.read_block``.

:func:`read_piece` runs on a worker and returns (x (n, d) C-ordered float64, or float32 for
``--dtype float32``; rows dropped). It is written for the worker's peak memory, the reason
``dask.dataframe.read_csv`` is not used (the target: a worker holds its partitions plus
200 MB at most). Through dask.dataframe a 60 MB partition was parsed whole: its text,
pandas' tokenizer buffers, the DataFrame, the column selection and the C-ordered copy were
alive at once, about 200 MB over the partitions already held, and importing dask.dataframe
cost each worker another 25 MB; the benchmark's worker peaked at its partitions + 298 MB
(``benchmarks/README.md``, "GMM on Dask"; + 155 MB with this reader). Here the piece is
read twice: once to count its lines (1 MiB at a time) so the result is allocated once at its
final size, then parsed ``CHUNK_ROWS`` rows at a time with ``pandas.read_csv(chunksize=...)``,
each chunk written into its rows of the result. At any time the worker holds the partitions,
the result and one chunk's text, tokens and columns (a few MB at d = 10). The tasks that
follow walk the partition in chunks too (``tasks.moments``, ``tasks.local_stats``).

Rules are those of the one reader, ``vifit/data/``: a piece is parsed by ``data.csv.frames``
and checked by its ragged-row and finite checks, under the ``data.layout.Layout`` the client
took from the first file's head (separator, decimal mark, a row index or trailing empty field
left out); the first file's header names the columns (a later
file with another header is BadInput), values must be numbers, NaN/inf is BadInput unless
``dropna`` (rows dropped). A row with fewer fields than the header is BadInput (ragged) even with
``dropna``; it is found by re-reading the lines of rows whose chosen values came out NaN, so a
short row missing only columns that were not chosen goes unnoticed (it changes nothing read). A row
with more fields is BadInput too, found while the lines are counted (``count_rows``: pandas,
reading only the chosen columns, would drop the extra fields silently). Messages name the piece (``part-3.csv (partition 4)``, or the
byte range of a block of a larger file) and the row within it.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass

import numpy as np

from vifit.data import DECOMPRESSION_ERRORS, check_finite, display_name, empty_file, open_bytes
from vifit.data.csv import frames, reject_short, to_numeric_block
from vifit.data.mixed import check_weight_values
from vifit.data.layout import Layout
from vifit.data.ragged import LazyRowFields, RowFields, field_count_message
from vifit.data.source import CheckedReader
from vifit.errors import BadInput

BLOCKSIZE = 64 * 2**20  # bytes of a plain file per partition
CHUNK_ROWS = 16384  # rows parsed at a time on a worker: about 2 MB of text at d = 10 (as fast as more)
COUNT_BYTES = 2**20  # bytes read at a time to count lines
SCAN_BYTES = 2**16  # bytes whose delimiters are counted at a time (temporaries of 5 bytes per byte)
COMPRESSED = (".gz", ".bz2", ".xz", ".zip")


@dataclass(frozen=True)
class Piece:
    """Bytes [offset, offset + length) of path, widened to whole lines; length None: the whole file."""

    path: str
    offset: int
    length: int | None
    index: int  # partition number, from 0

    def name(self) -> str:
        """How messages name the piece; rows in them count from the piece's first line."""
        where = f"partition {self.index + 1}"
        if self.length is not None and self.length < os.path.getsize(self.path):
            start, stop = _bounds(self)
            where += f": bytes {start}-{stop} of the file, rows counted from there"
        return f"{display_name(self.path)} ({where})"


def plan(files: list[str], blocksize: int | None = None) -> list[Piece]:
    """The pieces of the files, in file order then byte order (the partitions' fixed order);
    blocksize: bytes of a plain file per piece (default ``BLOCKSIZE``)."""
    blocksize = blocksize or BLOCKSIZE
    pieces = []
    for path in files:
        size = os.path.getsize(path)
        if size == 0:
            raise empty_file(display_name(path))
        if path.lower().endswith(COMPRESSED):
            pieces.append(Piece(path, 0, None, len(pieces)))
            continue
        for offset in range(0, size, blocksize):
            pieces.append(Piece(path, offset, min(blocksize, size - offset), len(pieces)))
    return pieces


def read_piece(piece: Piece, names: list, columns: list, header: str | None, sep: str, dropna: bool,
               dtype: str = "float64", decimal: str = ".", weight: str | None = None, missing: bool = False,
               kept: list | None = None):
    """(x (n, d) C-ordered with finite entries, rows dropped) of the piece's lines.

    names: every column of the files, in order; columns: the d to keep, in the order wanted;
    header: the first file's header line (stripped names joined by sep), None without one;
    dtype: of x, float64 or float32 (parsed as float64, then rounded as ``data.load_table`` does);
    decimal: the decimal mark; weight: the --row-weights column, read as x's last column
    (x is then (n, d + 1)); missing: an empty or NaN cell stays NaN (``data.mixed``'s rule)
    unless dropna; kept: receives arrays of the piece's 0-based data rows that x holds (as
    ``data.csv.check_finite``'s kept), so predict can line its output up with the piece."""

    layout = Layout(sep, decimal, tuple(names))

    header_line = header is not None and piece.offset == 0  # the piece starts with the header line
    block = None
    name = display_name(piece.path)
    try:
        name = piece.name()
        rows, quoted = count_rows(piece, header is not None, sep, len(names))
        read = list(columns) + ([weight] if weight is not None else [])
        out = np.empty((rows, len(read)), dtype=dtype)
        filled = dropped = 0
        if header_line:
            _check_header(piece, header, sep)
        with CheckedReader(_open(piece), name) as stream, \
                LazyRowFields(lambda: _raw_lines(piece, sep, header_line)) as raw_lines:
            # quoted: every field is parsed (not only the columns'), so that pandas rejects a
            # row with more fields than the header, which count_rows could not count
            chunks = frames(stream, layout, CHUNK_ROWS, name, header_line=header_line,
                            usecols=None if quoted else read, typed=read) if rows else ()
            for frame in chunks:
                m = len(frame)
                if filled + m > rows:  # only with line ends mixing \n and a lone \r (count_rows' bound fails)
                    rows = max(2 * rows, filled + m)
                    out.resize((rows, len(read)), refcheck=False)
                block = out[filled:filled + m]
                for j, column in enumerate(read):  # frame's columns are in file order, not in columns'
                    block[:, j] = frame[column].to_numpy()
                reject_short(frame, layout, read, name, raw_lines.get, filled + dropped)
                if weight is not None:
                    check_weight_values(block[:, -1], name, weight, header_line, filled + dropped)
                if missing and not dropna:  # NaN cells are the model's; an infinite value is still an error
                    features = block[:, :len(columns)]
                    check_finite(np.where(np.isnan(features), 0.0, features), columns, name, header_line, False,
                                 filled + dropped, kept)
                    lost = 0
                else:
                    lost = _drop_nonfinite(block, columns, name, header_line, dropna, filled + dropped, kept)
                filled, dropped = filled + m - lost, dropped + lost
        del block
    except BadInput:
        raise
    except ValueError as exc:
        _name_the_text_cell(piece, layout, columns, header_line, name)  # the local reader's message
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInput(f"{name}: a value is not a number ({reason}); choose numeric columns with --columns") from None
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        raise BadInput(f"{display_name(piece.path)}: cannot open on a worker ({exc.strerror}); DATA must be on a "
                       f"file system every worker sees") from None
    except DECOMPRESSION_ERRORS as exc:
        raise BadInput(f"{name}: compressed data is damaged or truncated ({exc})") from None
    if filled < rows:  # blank lines or dropped rows: shrink in place (realloc), no copy of the rows kept
        out.resize((filled, len(read)), refcheck=False)
    return out, dropped


def _name_the_text_cell(piece: Piece, layout: Layout, columns: list, header_line: bool, name: str) -> None:
    """After the typed parse failed on a text cell: read the piece again as text and raise the
    whole-table reader's BadInput for the first cell that is not a number (row, line, column,
    value), so a worker says what a local fit says; returns when none is found."""
    with CheckedReader(_open(piece), name) as stream:
        offset = 0
        for frame in frames(stream, layout, CHUNK_ROWS, name, header_line=header_line, usecols=columns):
            to_numeric_block(frame, columns, name, header_line, offset, layout.decimal, layout.sep)
            offset += len(frame)


def read_piece_or_problem(piece: Piece, names: list, columns: list, header: str | None, sep: str, dropna: bool,
                          dtype: str = "float64", decimal: str = ".", weight: str | None = None,
                          missing: bool = False, row_numbers: bool = False):
    """read_piece's (x, rows dropped, None, rows), or (empty x, 0, message, None) for bad input;
    rows: (n,) the piece's 0-based data row of each row of x with row_numbers, else None.

    The task that reads on a worker: bad input comes back as a value, so the scheduler
    neither retries the task nor has the worker log a traceback for what is the user's
    one-line error, which the client raises."""
    kept = [] if row_numbers else None
    try:
        x, dropped = read_piece(piece, names, columns, header, sep, dropna, dtype, decimal, weight, missing, kept)
    except BadInput as exc:
        return np.empty((0, len(columns) + (weight is not None)), dtype=dtype), 0, str(exc), None
    return x, dropped, None, joined_rows(kept)


def joined_rows(kept: list | None):
    """(n,) int64 of kept's arrays end to end (None stays None)."""
    if kept is None:
        return None
    return np.concatenate(kept).astype(np.int64) if kept else np.empty(0, dtype=np.int64)


def _raw_lines(piece: Piece, sep: str, header_line: bool):
    """(RowFields over the piece's lines, the stream to close): a second reading of the piece."""
    stream = io.TextIOWrapper(_open(piece), encoding="utf-8-sig", errors="replace", newline="")
    return RowFields(stream, sep, header_line), stream


def _drop_nonfinite(block: np.ndarray, columns: list, name: str, header: bool, dropna: bool,
                    row_offset: int, kept: list | None = None) -> int:
    """Rows of block (m, d) holding NaN/inf in its first len(columns) columns (the features; a
    weight column may follow): BadInput naming the first (``data.check_finite``), or (dropna)
    moved out by shifting the finite rows up in place; the rows dropped.
    (float32: a value beyond its range became inf.) kept: receives the data rows kept."""
    features = block[:, :len(columns)]
    finite = np.isfinite(features).all(axis=1)
    if kept is not None:
        kept.append(np.flatnonzero(finite) + row_offset)
    if finite.all():
        return 0
    check_finite(features, columns, name, header, dropna, row_offset)  # BadInput unless dropna
    kept = block[finite]
    block[:kept.shape[0]] = kept
    return int(block.shape[0] - kept.shape[0])


def _check_header(piece: Piece, header: str, sep: str) -> None:
    """BadInput unless the file's first line names the columns as the first file's does."""
    import csv
    import re

    with _open(piece) as stream:
        line = stream.readline(1 << 20)
    text = re.split(r"[\r\n]", line.decode("utf-8-sig", errors="replace"), maxsplit=1)[0]
    names = [n.strip() for n in next(csv.reader([text], delimiter=sep), [])]
    if sep.join(names) != header:
        raise BadInput(f"{display_name(piece.path)}: header {text!r} differs from the first file's "
                       f"({header!r}); the files of DATA must have the same columns")


def count_rows(piece: Piece, header: bool, sep: str = ",", fields: int | None = None) -> tuple[int, bool]:
    """(lines of the piece less the header line: an upper bound on its rows, whether the
    piece quotes fields). A last line without a newline counts; blank lines are not rows.

    fields (the header's count): a line with more is BadInput (ragged rows), found here by
    counting delimiters: pandas, reading only the columns chosen (usecols), would drop the
    extra fields without a word. Counting is exact for lines without quotes; a piece with a
    quote character after its header line is reported as quoted instead, and its reader
    parses every field, so that pandas itself rejects a long row."""
    newlines = returns = 0
    last = b"\n"
    header_line = header and piece.offset == 0
    lines = _LongLines(sep, fields, header_line) if fields is not None and len(sep.encode()) == 1 else None
    with _open(piece) as stream:
        while True:
            data = stream.read(COUNT_BYTES)
            if not data:
                break
            newlines, returns = newlines + data.count(b"\n"), returns + data.count(b"\r")
            last = data[-1:]
            if lines is not None:
                lines.add(data)
    if lines is not None:
        lines.end()
        if lines.long is not None:
            line, saw = lines.long
            raise BadInput(f"{piece.name()}: {field_count_message(line - header_line, line, saw, fields)}")
    count = max(newlines, returns) + (last not in b"\r\n")  # \n, \r\n or a lone \r ends a line
    return max(0, count - header_line), lines is None or lines.quoted


class _LongLines:
    """The first line with more than ``fields`` fields, from blocks of bytes in order, by
    counting delimiters per line with numpy (lines end at \\n, \\r\\n or a lone \\r); stops
    counting (``quoted``) at a quote character after the header line, where a delimiter may
    be inside a field. long: (1-based line, fields) or None."""

    def __init__(self, sep: str, fields: int, header_line: bool):
        self.sep, self.fields = sep.encode()[0], fields
        self.long: tuple[int, int] | None = None
        self.quoted = False
        self._skip_header = header_line
        self._lines = 0  # lines ended before the current block
        self._carry = 0  # delimiters on the unfinished line so far
        self._after_cr = False  # the previous block ended with \r (a \n first here ends no line)

    def add(self, data: bytes) -> None:
        if self.long is not None or self.quoted:
            return
        body = data
        if self._skip_header:  # the header's own quotes do not make the rows quoted
            end = re.search(rb"[\r\n]", data)
            body = data[end.end():] if end else b""
            self._skip_header = end is None
        if b'"' in body:
            self.quoted = True
            return
        for start in range(0, len(data), SCAN_BYTES):  # small slices: a few hundred KB of temporaries
            self._count(np.frombuffer(data, dtype=np.uint8, count=min(SCAN_BYTES, len(data) - start),
                                      offset=start))
            if self.long is not None:
                return

    def _count(self, x: np.ndarray) -> None:
        newline, ret = x == 10, x == 13
        ends = newline.copy()
        ends[:-1] |= ret[:-1] & ~newline[1:]
        ends[-1] |= ret[-1]
        if self._after_cr and newline[0]:
            ends[0] = False
        self._after_cr = bool(ret[-1])
        cum = np.cumsum(x == self.sep, dtype=np.int32)
        where = np.flatnonzero(ends)
        if where.size:
            per_line = np.diff(np.concatenate([[0], cum[where]]))
            per_line[0] += self._carry
            over = np.flatnonzero(per_line >= self.fields)
            if over.size:
                self.long = (self._lines + int(over[0]) + 1, int(per_line[over[0]]) + 1)
                return
            self._lines += where.size
            self._carry = int(cum[-1] - cum[where[-1]])
        else:
            self._carry += int(cum[-1])

    def end(self) -> None:
        """The last line, when it has no line end."""
        if self.long is None and not self.quoted and self._carry >= self.fields:
            self.long = (self._lines + 1, self._carry + 1)


def _open(piece: Piece) -> io.BufferedIOBase:
    """A binary stream of the piece's whole lines (decompressed for a compressed file)."""
    if piece.length is None:
        return open_bytes(piece.path)
    start, stop = _bounds(piece)
    handle = open(piece.path, "rb")
    handle.seek(start)
    return io.BufferedReader(_Range(handle, stop - start), buffer_size=1 << 20)


def _bounds(piece: Piece) -> tuple[int, int]:
    """[start, stop): the bytes of the whole lines a block of a plain file owns."""
    with open(piece.path, "rb") as handle:
        return _line_start(handle, piece.offset), _line_start(handle, piece.offset + piece.length)


def _line_start(handle, offset: int) -> int:
    """The first line start at or after offset as dask.bytes.read_block finds it: 0 at 0, else
    just past the first newline at or after offset (the file's end when there is none)."""
    if offset == 0:
        return 0
    handle.seek(offset)
    position = offset
    while True:
        data = handle.read(1 << 16)
        if not data:
            return position
        found = data.find(b"\n")
        if found >= 0:
            return position + found + 1
        position += len(data)


class _Range(io.RawIOBase):
    """The next ``length`` bytes of an open binary file; closing it closes the file."""

    def __init__(self, handle, length: int):
        self._handle, self._left = handle, length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[:self._left]
        n = self._handle.readinto(view)
        self._left -= n
        return n

    def close(self) -> None:
        self._handle.close()
        super().close()
