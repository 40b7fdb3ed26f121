"""Reading a table in chunks, for data larger than memory (SVI, streaming CAVI).

:class:`TableStream` reads through the same block parser as ``table.load_table`` (``layout``
for the head, ``csv`` for the checked blocks: column choice, numbers naming row and column,
NaN/inf, ``--dropna``, compression, UTF-8) but holds only ``chunk_rows`` rows at a time. A
regular file can be read any number of times (one pass per epoch); stdin (``-``) and any
other input that is not a regular file (a named pipe, process substitution's ``/dev/fd/63``)
only once, as their bytes arrive (``source.open_once``).
"""

from __future__ import annotations

import collections
import codecs
import io
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from vifit.data import arrow, mixed
from vifit.data.csv import checked_block, choose_columns, frames, reject_short
from vifit.data.layout import header_only, layout_of
from vifit.data.ragged import LazyRowFields, RowFields
from vifit.data.source import Chain, display_name, once_name, open_checked, open_once, read_head, read_once
from vifit.data.table import DTYPES, ReadOptions, lines_until_damage
from vifit.errors import BadInput, DataChanged
from vifit.filestamp import Unchanged
from vifit.preprocess import apply_preprocessing

CHUNK_ROWS = 65536


class TableStream:
    """Chunks (m, d) of finite floats from ``source``.

    columns: resolved from the header and the first chunk (or given, for predict).
    After a complete pass, ``n_rows`` and ``rows_dropped`` hold that pass's counts.
    preprocessing: set by :meth:`fit_standardization` (files only), then applied
    to every chunk.

    With the options of a mixed read (``data.mixed``: missing cells kept, --row-weights) the
    chunks are that module's blocks: NaN where a cell is missing, and when ``weighted`` the
    row's weight as a last column (m, d + 1), which ``preprocessing`` leaves alone. Category
    columns are coded by their sorted levels: given (``opts.levels``), or read by
    :meth:`collect_levels`, one pass of a file before the chunks are used (``levels``).
    """

    @arrow.rows_not_lines(lambda self, source, *args, **kwargs: source)
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
        self._layout = None  # the parser's layout.Layout, from the head of the first pass
        self._plan = None  # mixed.ColumnPlan of a mixed read (missing cells kept, a weight column)
        self.weighted = False
        self.levels: dict = dict(opts.levels or {})  # {category column: its labels, sorted}
        self.needs_levels = False  # category columns whose levels collect_levels must read first
        # A file is read once per epoch: it must be the same file, with the same rows, each time
        self._unchanged = Unchanged(source, self.name) if self.repeatable else None
        if self.columns is None or opts.header:
            # Resolve the columns now, from the header and the first chunk, keeping the
            # open reader so stdin's first pass is not lost.
            self._pending = self._frames()
            self._first = next(self._pending, None)
            if self._first is None:
                raise header_only(self.name)
            self.columns = self._resolve_columns(self._first)

    # ------------------------------------------------------------ passes

    @arrow.rows_not_lines(lambda self: self.source)
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
                block, weights, lost = self._block(first, row_fields.get, offset)
                if not self.repeatable:
                    # stdin's text is kept until read again; reading to the chunk's end lets it go
                    row_fields.get().first_short([offset + len(first) - 1], expected=0)
                offset += len(first)
                dropped += lost
                if block.shape[0]:
                    block = apply_preprocessing(block, self.preprocessing)
                    if weights is not None:
                        block = np.column_stack([block, weights])
                    yield np.ascontiguousarray(block, dtype=dtype)
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
            raise header_only(self.name)

    def _block(self, frame: pd.DataFrame, row_fields, offset: int):
        """(block (m', d), weights (m',) or None, rows dropped) of one parsed frame."""
        if self._plan is None:
            block, lost = checked_block(frame, self._layout, self.columns, self.name, header_line=self.opts.header,
                                        dropna=self.opts.dropna, row_fields=row_fields, row_offset=offset)
            return block, None, lost
        plan = self._plan
        reject_short(frame, self._layout, plan.features + ([plan.weight] if plan.weight else []), self.name,
                     row_fields, offset)
        return mixed.convert(frame, plan, self._layout, self.opts, self.name, self._coder, offset)

    def collect_levels(self) -> dict:
        """One pass reading the category columns' labels (checking every row as any pass does);
        then the chunks code them by their sorted levels (``data.mixed.Coder``'s order)."""
        if self.needs_levels:
            for _ in self.chunks():  # provisional codes, in the order labels are first seen
                pass
            self.levels = self._coder.sorted_levels()
            self._coder = mixed.Coder(sorted(self._plan.categories), self.levels, self.name, self.opts.header)
            self.needs_levels = False
        return self.levels

    def features(self, block: np.ndarray) -> np.ndarray:
        """The feature columns of a chunk (without its weight column)."""
        return block[:, :-1] if self.weighted else block

    def check_unchanged(self) -> None:
        """DataChanged when the file is no longer the one the first pass read (files only)."""
        if self._unchanged is not None:
            self._unchanged.check()

    def _row_fields(self):
        """(RowFields for the raw lines of this pass, the stream to close): a second reading
        of a file, made only when a chunk has a suspect row; stdin's recorded text."""
        if arrow.is_arrow(self.source):  # a columnar file has no short rows
            return arrow.NO_SHORT_ROWS, None
        if not self.repeatable:
            return RowFields(self._recorder, self._layout.sep, self.opts.header), None
        # Undecodable bytes and damage past the rows asked for are the main reading's to
        # report; here they must not fail early (the decoder reads ahead by blocks).
        stream = io.TextIOWrapper(self._reopen(), encoding="utf-8-sig", errors="replace", newline="")
        return RowFields(lines_until_damage(stream), self._layout.sep, self.opts.header), stream

    def fit_standardization(self) -> dict:
        """One pass for the column means and population standard deviations (files only)."""
        if not self.repeatable:
            raise BadInput(f"--standardize needs an extra pass over the data, which {once_name(self.name)} "
                           f"cannot give; save the data to a file first")
        self.preprocessing = {}
        count, total, squares = 0, 0.0, 0.0
        shift = None
        for block in self.chunks():
            block = self.features(block).astype(np.float64, copy=False)
            if shift is None:  # shifted sums avoid cancellation
                shift = block[0]
            if np.isnan(shift).any():  # a missing cell in the first row: the column's first observed value
                seen = ~np.isnan(block)
                first = np.where(seen.any(axis=0), block[seen.argmax(axis=0), np.arange(block.shape[1])], np.nan)
                shift = np.where(np.isnan(shift), first, shift)
            centred = block - np.where(np.isnan(shift), 0.0, shift)
            if np.isnan(centred).any():  # missing cells (kept as NaN): each column counts its observed cells
                observed = ~np.isnan(centred)
                count = count + observed.sum(axis=0)
                centred = np.where(observed, centred, 0.0)
            else:
                count = count + block.shape[0]
            total = total + centred.sum(axis=0)
            squares = squares + np.einsum("ij,ij->j", centred, centred)
        shift = np.where(np.isnan(shift), 0.0, shift)
        count = np.maximum(count, 1)
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
        preprocessing = {**self.preprocessing, "levels": self.levels} if self.levels else self.preprocessing
        return {
            "source": self.name,
            "n_rows": self.n_rows,
            "n_features": len(self.columns),
            "columns": list(self.columns),
            "rows_dropped": self.rows_dropped,
            "preprocessing": preprocessing,
        }

    # ------------------------------------------------------------ internals

    def _resolve_columns(self, frame: pd.DataFrame) -> list[str]:
        if not mixed.active(self.opts):
            return choose_columns(frame, self._layout, self.opts.columns, self.name, self._note, self._required)
        self._plan = mixed.plan_columns(frame, self._layout, self.opts, self.name, self._note, self._required)
        if self._plan.categories and not self.opts.levels:
            if not self.repeatable:
                raise BadInput(f"{self.name}: category columns ({', '.join(sorted(self._plan.categories))}) need "
                               f"a file when streamed (their levels are read in a first pass); save the rows to a "
                               f"file, or load them in memory (--no-stream)")
            self.needs_levels = True
        self._coder = mixed.Coder(sorted(self._plan.categories), self.opts.levels, self.name, self.opts.header)
        self.weighted = self._plan.weight is not None
        return self._plan.features

    def _frames(self) -> Iterator[pd.DataFrame]:
        """DataFrames of up to chunk_rows rows of one pass (every rule is the parser's)."""
        if arrow.is_arrow(self.source):  # Parquet / Arrow: by row groups, as the same frames
            note = self._note if self._layout is None else (lambda message: None)
            self._layout, batches = arrow.stream_frames(self.source, self.opts, note, self.chunk_rows)
            yield from batches
            return
        if self.repeatable:
            reader, _, self._reopen = open_checked(self.source)
        else:
            reader = open_once(self.source)
        with reader:
            head = read_head(reader, self.name)
            # the head's notes once, not once per epoch
            note = self._note if self._layout is None else (lambda message: None)
            self._layout = layout_of(head, self.opts, self.name, note, self._required)
            stream = Chain(head, reader)
            if not self.repeatable:
                stream = self._recorder = _Recorder(stream)
            yield from frames(stream, self._layout, self.chunk_rows, self.name, header_line=self.opts.header)


class _Recorder(io.RawIOBase):
    """The bytes pandas reads from an input read once, kept as text lines until they are
    taken by iterating (for RowFields: stdin cannot be read a second time).

    Iteration stops (for now) at the end of what pandas has read; it resumes after more
    is read, so only rows pandas has already parsed may be asked for."""

    def __init__(self, stream):
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        self._lines: collections.deque[str] = collections.deque()
        self._partial = ""  # an unfinished last line
        self._ended = False

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        if not data:
            self._ended = True
        *complete, self._partial = (self._partial + self._decoder.decode(data, final=not data)).split("\n")
        self._lines.extend(line + "\n" for line in complete)
        return len(data)

    def __iter__(self):
        return self

    def __next__(self):
        if self._lines:
            return self._lines.popleft()
        if self._ended and self._partial:
            line, self._partial = self._partial, ""
            return line
        raise StopIteration
