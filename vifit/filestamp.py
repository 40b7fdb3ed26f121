"""Whether a data file is still the one a streamed fit first read: its identity, size,
modification time and the rows of its first pass."""

from __future__ import annotations

import os

from vifit.errors import DataChanged


class Unchanged:
    """A file's identity when first read — device, inode, size, modification time — and the
    rows of its first complete pass; :meth:`check` raises DataChanged naming what differs.

    A streamed fit reads DATA once per epoch: rows appended, a file cut short or replaced
    under it would mix two data sets in one fit (and shift N under the prior)."""

    def __init__(self, source: str, name: str):
        self.source, self.name = source, name
        self.stamp = self._stamp()
        self.rows: int | None = None

    def _stamp(self):
        try:
            found = os.stat(self.source)
        except OSError:
            return None
        return found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns

    def check(self, rows: int | None = None) -> None:
        """rows: the rows (dropped ones included) of a pass just completed; the first sets them."""
        now = self._stamp()
        what = None
        if now is None:
            what = "it was removed or renamed"
        elif now[:2] != self.stamp[:2]:
            what = "it was replaced by another file"
        elif now[2] != self.stamp[2]:
            what = f"its size went from {self.stamp[2]} to {now[2]} bytes"
        elif now[3] != self.stamp[3]:
            what = "it was modified"
        elif rows is not None and self.rows is not None and rows != self.rows:
            what = f"a pass read {rows} rows, the first {self.rows}"
        if what is not None:
            raise DataChanged(f"{self.name}: the file changed while the fit was reading it ({what}); a streamed "
                              f"fit reads it once per epoch, so it must not change until the fit ends (fit a "
                              f"copy, or load it in memory with --no-stream)")
        if rows is not None and self.rows is None:
            self.rows = rows
