"""Reading a table in chunks, for data larger than memory (SVI, streaming CAVI).

:class:`TableStream` applies the same rules as :func:`vifit.data.load_table`
(column choice, numeric check naming row and column, NaN/inf, ``--dropna``,
compression, UTF-8) but holds only ``chunk_rows`` rows at a time. A regular file can
be read any number of times (one pass per epoch); stdin (``-``) and any other input that is
not a regular file (a named pipe, process substitution's ``/dev/fd/63``) only once: they are
read exactly as stdin is (see :func:`read_once`).
"""

from __future__ import annotations

import collections
import contextlib
import csv
import io
import os
import stat
import sys
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from vifit.data import (
    DECOMPRESSION_ERRORS,
    DTYPES,
    ReadOptions,
    check_finite,
    check_header,
    check_required_columns,
    display_name,
    open_bytes,
    resolve_delimiter,
    select_columns,
    to_numeric_block,
)
from vifit.errors import BadInput, DataChanged
from vifit.filestamp import Unchanged
from vifit.preprocess import apply_preprocessing
from vifit.ragged import LazyRowFields, RowFields, check_short_rows, ragged_message

CHUNK_ROWS = 65536


def read_once(source: str) -> bool:
    """True for stdin and for any DATA that is not a regular file (a FIFO, a pipe's
    ``/dev/fd/N``, a character device): opening it again would block for a writer that
    never comes, or find it empty, so it is read once, as stdin is. A missing path is
    a regular file's to report (``data.open_bytes``)."""
    if source == "-":
        return True
    try:
        mode = os.stat(source).st_mode
    except (OSError, ValueError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))  # a folder is open_bytes' to report


@contextlib.contextmanager
def spooled(source: str):
    """A path DATA can be read from any number of times: DATA itself when it is a regular file,
    else a temporary copy of its bytes (compressed as they came: the name keeps DATA's
    ending), removed on leaving. For commands that read DATA twice; BadInput naming the
    copy is reworded to name DATA."""
    if not read_once(source):
        yield source
        return
    import shutil
    import tempfile

    name = display_name(source)
    ending = os.path.basename(source)[-8:] if source != "-" else ".csv"
    with tempfile.TemporaryDirectory(prefix="vifit-spool-") as folder:
        path = os.path.join(folder, "data" + ending)
        raw = sys.stdin.buffer if source == "-" else open(source, "rb")
        try:
            with open(path, "wb") as copy:
                shutil.copyfileobj(raw, copy, 1 << 20)
        finally:
            if raw is not sys.stdin.buffer:
                raw.close()
        try:
            yield path
        except BadInput as exc:
            raise BadInput(str(exc).replace(path, name)) from None


def once_name(name: str) -> str:
    """How messages say what can be read only once: stdin, or the pipe's name."""
    return "stdin" if name == "<stdin>" else f"{name} (not a regular file)"


class TableStream:
    """Chunks (m, d) of finite floats from ``source``.

    columns: resolved from the header and the first chunk (or given, for predict).
    After a complete pass, ``n_rows`` and ``rows_dropped`` hold that pass's counts.
    preprocessing: set by :meth:`fit_standardization` (files only), then applied
    to every chunk.
    """

    def __init__(self, source: str, opts: ReadOptions = ReadOptions(), *, chunk_rows: int = CHUNK_ROWS,
                 note: Callable[[str], None] = lambda message: None, required_columns=None):
        if opts.dtype not in DTYPES:
            raise BadInput(f"--dtype must be one of {', '.join(DTYPES)}, got {opts.dtype!r}")
        self.source, self.name, self.opts = source, display_name(source), opts
        self.chunk_rows = int(chunk_rows)
        self.repeatable = not read_once(source)
        self.passes = 0
        self.n_rows: int | None = None
        self.rows_dropped = 0
        self.preprocessing: dict = {}
        self._note = note
        self._required = list(required_columns) if required_columns is not None else None
        self.columns: list[str] | None = self._required if not opts.header and self._required else None
        self._pending: Iterator | None = None
        # A file is read once per epoch: it must be the same file, with the same rows, each time
        self._unchanged = Unchanged(source, self.name) if self.repeatable else None
        if self.columns is None or opts.header:
            # Resolve the columns now, from the header and the first chunk, keeping the
            # open reader so stdin's first pass is not lost.
            self._pending = self._frames()
            self._first = next(self._pending, None)
            if self._first is None:
                raise BadInput(f"{self.name}: no data rows (header only)")
            self.columns = self._resolve_columns(self._first)

    # ------------------------------------------------------------ passes

    def chunks(self) -> Iterator[np.ndarray]:
        """One pass over the data: arrays (m, d) in the requested dtype."""
        if self.passes > 0 and not self.repeatable:
            raise BadInput(f"{once_name(self.name)} can be read only once")
        if self.passes > 0:
            self.check_unchanged()
        self.passes += 1
        if self._pending is not None:
            frames, first = self._pending, self._first
            self._pending, self._first = None, None
        else:
            frames = self._frames()
            first = next(frames, None)
        offset, dropped = 0, 0
        dtype = DTYPES[self.opts.dtype]
        row_fields = LazyRowFields(self._row_fields)
        try:
            while first is not None:
                self.check_unchanged()
                check_short_rows(first, row_fields.get, self.name, row_offset=offset)
                if not self.repeatable:
                    # stdin's text is kept until read again; reading to the chunk's end lets it go
                    row_fields.get().first_short([offset + len(first) - 1], expected=0)
                block, lost = self._finite_block(first, offset)
                offset += len(first)
                dropped += lost
                if block.shape[0]:
                    yield np.ascontiguousarray(apply_preprocessing(block, self.preprocessing), dtype=dtype)
                first = next(frames, None)
            if self._unchanged is not None:
                self._unchanged.check(rows=offset)
        except DataChanged:
            raise
        except BadInput:
            self.check_unchanged()  # a file cut short mid-line reads as damage: report the change instead
            raise
        finally:
            row_fields.close()
        self.n_rows, self.rows_dropped = offset - dropped, dropped
        if offset == 0:
            raise BadInput(f"{self.name}: no data rows (header only)")

    def check_unchanged(self) -> None:
        """DataChanged when the file is no longer the one the first pass read (files only)."""
        if self._unchanged is not None:
            self._unchanged.check()

    def _finite_block(self, frame: pd.DataFrame, offset: int):
        """(block, rows dropped) of one chunk: numeric check, then NaN/inf."""
        block = to_numeric_block(frame, self.columns, self.name, self.opts.header, row_offset=offset)
        return check_finite(block, self.columns, self.name, self.opts.header, self.opts.dropna, row_offset=offset)

    def _row_fields(self):
        """(RowFields for the raw lines of this pass, the stream to close): a second reading
        of a file, made only when a chunk has a suspect row; stdin's recorded text."""
        delimiter = resolve_delimiter(self.opts.delimiter)
        if not self.repeatable:
            header_lines = 1 if self.opts.header else 0
            return RowFields(self._recorder, delimiter, header=False, lines_before=header_lines), None
        # Undecodable bytes and damage past the rows asked for are the main reading's to
        # report; here they must not fail early (the decoder reads ahead by blocks).
        stream = io.TextIOWrapper(open_bytes(self.source), encoding="utf-8-sig", errors="replace", newline="")
        return RowFields(_lines_until_damage(stream), delimiter, self.opts.header), stream

    def fit_standardization(self) -> dict:
        """One pass for the column means and population standard deviations (files only)."""
        if not self.repeatable:
            raise BadInput(f"--standardize needs an extra pass over the data, which {once_name(self.name)} "
                           f"cannot give; save the data to a file first")
        self.preprocessing = {}
        count, total, squares = 0, 0.0, 0.0
        shift = None
        for block in self.chunks():
            block = block.astype(np.float64, copy=False)
            shift = block[0] if shift is None else shift  # shifted sums avoid cancellation
            centred = block - shift
            count += block.shape[0]
            total = total + centred.sum(axis=0)
            squares = squares + np.einsum("ij,ij->j", centred, centred)
        mean_shifted = total / count
        variance = np.maximum(squares / count - mean_shifted**2, 0.0)
        scale = np.sqrt(variance)
        for j in np.flatnonzero(~(scale > 0)):
            self._note(f"column {self.columns[j]!r} is constant; --standardize leaves its scale at 1")
        scale = np.where(scale > 0, scale, 1.0)
        self.preprocessing = {"standardize": {"mean": (shift + mean_shifted).tolist(), "scale": scale.tolist()}}
        return self.preprocessing

    def describe(self) -> dict:
        """The ``data`` block of the output document (after at least one pass)."""
        return {
            "source": self.name,
            "n_rows": self.n_rows,
            "n_features": len(self.columns),
            "columns": list(self.columns),
            "rows_dropped": self.rows_dropped,
            "preprocessing": self.preprocessing,
        }

    # ------------------------------------------------------------ internals

    def _resolve_columns(self, frame: pd.DataFrame) -> list[str]:
        if self._required is None:
            return select_columns(frame, self.opts.columns, self.name, self._note)
        check_required_columns(list(frame.columns), self._required, self.name)
        return self._required

    def _frames(self) -> Iterator[pd.DataFrame]:
        """DataFrames of up to chunk_rows rows, with errors turned into BadInput."""
        raw = sys.stdin.buffer if self.source == "-" else open_bytes(self.source)
        try:
            buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw)
            try:
                head = buffered.peek(1 << 16)[: 1 << 16]
            except DECOMPRESSION_ERRORS as exc:
                raise BadInput(f"{self.name}: compressed data is damaged or truncated ({exc})") from None
            if b"\x00" in head:
                raise BadInput(f"{self.name}: looks like binary data (NUL bytes), not a CSV text file")
            counted = _LineCounter(buffered, self.name)
            text = io.TextIOWrapper(counted, encoding="utf-8-sig", newline="")
            delimiter = resolve_delimiter(self.opts.delimiter)
            try:
                first_line = text.readline()
                if not first_line.strip():
                    raise BadInput(f"{self.name}: file is empty")
                names = next(csv.reader(io.StringIO(first_line), delimiter=delimiter))
                if self.opts.header:
                    check_header(first_line, self.name, delimiter)
                    names = [n.strip() for n in names]
                    lines = text
                else:
                    lines = _Prepend(first_line, text)
                    names = [f"x{i + 1}" for i in range(len(names))] if self._required is None else self._required
                if not self.repeatable:
                    lines = self._recorder = _Recorder(lines)
                reader = pd.read_csv(lines, sep=delimiter, header=None, names=names, skipinitialspace=True,
                                     chunksize=self.chunk_rows, index_col=False)
                for frame in reader:
                    yield frame
            except UnicodeDecodeError as exc:
                raise BadInput(f"{self.name}: line {counted.line_of(exc)}: bytes are not valid UTF-8 text; "
                               f"convert the file to UTF-8 (for example with iconv -f latin1 -t utf-8)") from None
            except DECOMPRESSION_ERRORS as exc:
                if isinstance(exc, BadInput):
                    raise
                raise BadInput(f"{self.name}: compressed data is damaged or truncated ({exc})") from None
            except pd.errors.EmptyDataError:
                raise BadInput(f"{self.name}: no data rows (header only)") from None
            except pd.errors.ParserError as exc:
                header = self.opts.header
                raise BadInput(f"{self.name}: {ragged_message(str(exc), header, 1 if header else 0)}") from None
        finally:
            if raw is not sys.stdin.buffer:
                raw.close()


class _LineCounter(io.BufferedIOBase):
    """The byte stream under the text decoder, counting the newlines it has handed over, so that a
    decoding error can name its line (the decoder works block by block, and its error only
    knows the offset within the block it was decoding)."""

    def __init__(self, stream, name: str):
        self._stream, self._name = stream, name
        self._newlines_before = 0  # newlines in the blocks before the latest one
        self._latest = b""

    def readable(self):
        return True

    def _handed(self, block: bytes) -> bytes:
        if b"\x00" in block:  # in every block, not only the first: NULs after a few rows are a bomb too
            raise BadInput(f"{self._name}: looks like binary data (NUL bytes), not a CSV text file")
        self._newlines_before += self._latest.count(b"\n")
        self._latest = block
        return block

    def read(self, size=-1):
        return self._handed(self._stream.read(size))

    def read1(self, size=-1):
        return self._handed(self._stream.read1(size))

    def line_of(self, error: UnicodeDecodeError) -> int:
        """The 1-based line of the byte the decoder rejected. The decoder's input is the latest
        block, after at most a few bytes of an unfinished character carried from the one before
        (never a newline), so the newlines before error.start in it are the latest block's."""
        return self._newlines_before + error.object[: error.start].count(b"\n") + 1


class _Prepend(io.TextIOBase):
    """A text stream that yields ``first`` and then the rest of ``stream``."""

    def __init__(self, first: str, stream):
        self._first, self._stream = first, stream

    def readable(self):
        return True

    def read(self, size=-1):
        if self._first:
            head, self._first = self._first, ""
            return head + (self._stream.read(size) if size is None or size < 0 else "")
        return self._stream.read(size)

    def readline(self, size=-1):
        if self._first:
            head, self._first = self._first, ""
            return head
        return self._stream.readline(size)


def _lines_until_damage(stream) -> Iterator[str]:
    """The lines of ``stream``, ending quietly where compressed data is damaged."""
    try:
        yield from stream
    except DECOMPRESSION_ERRORS:
        return


class _Recorder(io.TextIOBase):
    """The text stream pandas reads stdin from, keeping what it hands over as lines until
    they are taken by iterating (for RowFields: stdin cannot be read a second time).

    Iteration stops (for now) at the end of what pandas has read; it resumes after more
    is read, so only rows pandas has already parsed may be asked for."""

    def __init__(self, stream):
        self._stream = stream
        self._lines: collections.deque[str] = collections.deque()
        self._partial = ""  # an unfinished last line
        self._ended = False

    def readable(self):
        return True

    def read(self, size=-1):
        block = self._stream.read(size)
        if not block:
            self._ended = True
        *complete, self._partial = (self._partial + block).split("\n")
        self._lines.extend(line + "\n" for line in complete)
        return block

    def __iter__(self):
        return self

    def __next__(self):
        if self._lines:
            return self._lines.popleft()
        if self._ended and self._partial:
            line, self._partial = self._partial, ""
            return line
        raise StopIteration
