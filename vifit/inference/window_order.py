"""Whether a stream's rows look shuffled, checked on the pass that reads them anyway.

A stream is shuffled only within windows of ``sources.POOL_ROWS`` rows (inference/sources.py),
which biases SVI's steps when the file is sorted (by group, by time). Rows in a random order
make every window a uniform sample without replacement of the N rows, so each window's column
means lie within a few standard errors of the file's: var(window mean) = var(x) (N - w) / (w (N - 1)).
A file sorted by group (the first window all one cluster) puts some window's mean tens or
hundreds of standard errors away. :class:`WindowMeans` keeps each window's column sums during
the prior's first pass (no extra read; memory: windows x columns) and :meth:`looks_shuffled`
says whether every window is within ``Z`` standard errors on every column. Z = 6: a shuffled
file's window crosses it with probability 2e-9 per column and window (a normal mean), so a
file with a thousand columns and a hundred windows still passes, while a sorted file fails by
far (the test's sorted blobs: more than 50 standard errors).

This is a check, not a proof: a file whose order is unrelated to every column's mean but
not random (sorted by a variance) passes. The note it silences costs nothing to keep, and a
file sorted in any way that moves a column's mean is caught.
"""

from __future__ import annotations

import numpy as np

Z = 6.0


class WindowMeans:
    """Per-window column sums of rows added block by block (any block sizes), windows of
    ``window`` rows in reading order. NaN cells (missing) are left out of their column's sums."""

    def __init__(self, window: int):
        self.window = int(window)
        self.sums: list = []  # per window: (count (d,), sum (d,), sum of squares (d,))
        self._open = None
        self._rows = 0  # rows in the open window
        self.shift = None  # the first row: sums of x - shift keep E[x^2] - E[x]^2 from cancelling

    def add(self, block: np.ndarray) -> None:
        block = np.asarray(block, dtype=np.float64)
        if self.shift is None and block.shape[0]:
            self.shift = np.nan_to_num(block[0])
        if self.shift is not None:
            block = block - self.shift
        while block.shape[0]:
            take = min(self.window - self._rows, block.shape[0])
            part, block = block[:take], block[take:]
            seen = ~np.isnan(part)
            values = np.where(seen, part, 0.0)
            with np.errstate(over="ignore", invalid="ignore"):  # values near 1e300: refused by the range check
                moments = np.stack([seen.sum(0), values.sum(0), (values * values).sum(0)])
            self._open = moments if self._open is None else self._open + moments
            self._rows += take
            if self._rows == self.window:
                self.sums.append(self._open)
                self._open, self._rows = None, 0

    def looks_shuffled(self) -> bool:
        """Every window's column means within Z standard errors of the whole file's (a last
        partial window included); True when there is at most one window (nothing to compare)."""
        windows = self.sums + ([self._open] if self._open is not None else [])
        if len(windows) < 2:
            return True
        each = np.stack(windows)  # (windows, 3, d)
        total = each.sum(0)
        n = total[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total[1] / n
            var = np.maximum(total[2] / n - mean * mean, 0.0) * n / (n - 1)
            w = each[:, 0]
            window_mean = each[:, 1] / w
            se = np.sqrt(var * (n - w) / (w * (n - 1)))
            # a floor far below any real difference: a constant column's sums differ by round-off only
            scale = np.abs(mean) + np.abs(self.shift) + np.sqrt(var)
            z = np.abs(window_mean - mean) / np.maximum(se, 1e-12 * scale)
        # a constant column (se 0, no difference: nan) or a window without a cell says nothing
        return not bool(np.any(np.nan_to_num(z, nan=0.0, posinf=np.inf) > Z))
