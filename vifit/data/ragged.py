"""Ragged rows: a row whose field count differs from the header's.

pandas reports a long row itself (``ragged_message`` rewords it), but fills a short row's
missing fields with NaN exactly as it reads empty fields, so only the raw line tells the two
apart. The block parser (``data.csv.reject_short``, for every reader) re-reads just the lines of
rows that came out with NaN, with the csv module (``RowFields``), and reject a short one.
"""

from __future__ import annotations

import csv
import re
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from vifit.errors import BadInput


def ragged_message(parser_message: str, header: bool, lines_before: int = 0) -> str:
    """Reword pandas' field-count error; lines_before: file lines not shown to the parser."""
    match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", parser_message)
    if not match:
        return f"cannot parse as CSV: {parser_message.strip()}"
    expected, line, saw = (int(g) for g in match.groups())
    line += lines_before
    return field_count_message(line - 1 if header else line, line, saw, expected)


def field_count_message(row: int, line: int, saw: int, expected: int) -> str:
    """The words for a ragged row, whoever found it."""
    return f"row {row} (line {line}): has {saw} fields, expected {expected} (ragged rows)"


class RowFields:
    """Field counts of chosen data rows, re-read with the csv module.

    pandas fills a short row with NaN, exactly as it reads empty fields; only the
    raw line tells the two apart. Rows are asked for in increasing order and the
    reader only moves forward, so one instance costs at most one pass, stopped at
    the last row asked for. Blank lines are skipped, as pandas skips them.
    lines: the file's text lines, header included when ``header``; any iterable of
    lines, so stdin's recorded text can be used (see vifit.data.stream).
    """

    def __init__(self, lines: Iterable[str], delimiter: str, header: bool, lines_before: int = 0):
        self._reader = csv.reader(lines, delimiter=delimiter, skipinitialspace=True)
        self._lines_before = lines_before  # file lines not in ``lines``
        self._row = -1  # 0-based data row of self._fields
        self._fields: list[str] = []
        if header:
            next(self._reader, None)

    def first_short(self, rows: Iterable[int], expected: int) -> tuple[int, int, int] | None:
        """(row, line, fields) of the first of ``rows`` (0-based data rows, increasing)
        with fewer than ``expected`` fields, else None. line: the file line it ends on."""
        for target in rows:
            while self._row < target:
                fields = next(self._reader, None)
                if fields is None:
                    return None
                if len(fields) > 1 or (fields and fields[0].strip()):
                    self._row, self._fields = self._row + 1, fields
            if len(self._fields) < expected:
                return target, self._lines_before + self._reader.line_num, len(self._fields)
        return None


def check_short_rows(frame: pd.DataFrame, row_fields: Callable[[], RowFields], name: str,
                     row_offset: int = 0) -> None:
    """Reject a data row with fewer fields than the header (a ragged row).

    Missing trailing fields come out of pandas as NaN in the last column, so only
    rows with NaN there are re-read; row_fields makes the reader on first need.
    row_offset: rows of the file before this frame (for chunked reads).
    """
    suspects = np.flatnonzero(frame.iloc[:, -1].isna().to_numpy())
    reject_short_rows(suspects, row_fields, frame.shape[1], name, row_offset)


def reject_short_rows(suspects: np.ndarray, row_fields: Callable[[], RowFields], expected: int, name: str,
                      row_offset: int = 0) -> None:
    """BadInput naming the first of the suspect rows (0-based, increasing, counted from
    row_offset) whose line has fewer than ``expected`` fields; the reader is made only
    when there is a suspect."""
    if len(suspects) == 0:
        return
    short = row_fields().first_short((row_offset + int(i) for i in suspects), expected)
    if short is not None:
        row, line, fields = short
        raise BadInput(f"{name}: row {row + 1} (line {line}): has {fields} fields, "
                       f"expected {expected} (ragged rows)")


class LazyRowFields:
    """A RowFields made on the first ``get()`` by ``make() -> (RowFields, closable or None)``
    (a second reading of the lines, paid only when a chunk has a suspect row); closed on
    ``close()`` or on leaving a ``with`` block."""

    def __init__(self, make: Callable[[], tuple]):
        self._make, self._made = make, None

    def get(self) -> RowFields:
        if self._made is None:
            self._made = self._make()
        return self._made[0]

    def close(self) -> None:
        if self._made is not None and self._made[1] is not None:
            self._made[1].close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
