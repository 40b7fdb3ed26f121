"""What the product mixture needs to know of each column before it is built, from row blocks.

``product.build`` infers a column's family from its observed values (0/1, non-negative
integers with more than two values, ...), checks them against the family, and takes the
data-scaled default priors from each column's observed mean and spread. A table in memory is one
block; a streamed one (``vifit mixture --method svi``) is read block by block, so these are
kept as running per-column summaries: the observed count, mean and centred sum of squares
(merged by Chan et al.'s update), whether every observed value is finite, 0/1, a non-negative
integer, their maximum (a category code's bound) and up to three distinct values. One block
gives exactly numpy's ``mean``, ``std`` and ``var(ddof=1)`` of the column's observed cells.
"""

from __future__ import annotations

import numpy as np

DISTINCT = 3  # more than two distinct counts make a poisson column, so three are enough to know


class ColumnScan:
    """Per column (d,) of the rows added: count, mean, m2 (observed cells), finite, binary,
    counts (non-negative integers), maximum, distinct (up to DISTINCT values); rows added."""

    def __init__(self, d: int):
        self.d, self.rows = int(d), 0
        self.count = np.zeros(d, dtype=np.int64)
        self.mean = np.zeros(d)
        self.m2 = np.zeros(d)
        self.finite = np.ones(d, dtype=bool)
        self.binary = np.ones(d, dtype=bool)
        self.counts = np.ones(d, dtype=bool)
        self.maximum = np.full(d, -np.inf)
        self.distinct = [set() for _ in range(d)]

    @classmethod
    def of(cls, x: np.ndarray) -> "ColumnScan":
        scan = cls(x.shape[1])
        scan.add(x)
        return scan

    def add(self, block: np.ndarray) -> None:
        """Add a block (m, d) of rows (NaN = missing)."""
        block = np.asarray(block, dtype=np.float64)
        self.rows += block.shape[0]
        for j in range(self.d):
            column = block[:, j]
            seen = column[~np.isnan(column)]
            if not seen.size:
                continue
            finite = bool(np.isfinite(seen).all())
            self.finite[j] &= finite
            self.binary[j] &= bool(np.all((seen == 0) | (seen == 1)))
            self.counts[j] &= finite and bool(np.all(seen >= 0) and np.all(seen == np.round(seen)))
            self.maximum[j] = max(self.maximum[j], float(seen.max()))
            if len(self.distinct[j]) < DISTINCT:
                self.distinct[j].update(np.unique(seen)[:DISTINCT].tolist())
            n_b, mean_b = seen.size, seen.mean()
            m2_b = ((seen - mean_b) ** 2).sum()
            if self.count[j] == 0:
                self.count[j], self.mean[j], self.m2[j] = n_b, mean_b, m2_b
                continue
            self._merge_column(j, n_b, mean_b, m2_b)

    def merge(self, other: "ColumnScan") -> None:
        """Add another scan's rows (a partition's, merged in order on the client)."""
        self.rows += other.rows
        self.finite &= other.finite
        self.binary &= other.binary
        self.counts &= other.counts
        self.maximum = np.maximum(self.maximum, other.maximum)
        for j in range(self.d):
            if len(self.distinct[j]) < DISTINCT:
                self.distinct[j].update(sorted(other.distinct[j])[:DISTINCT])
            n_a, n_b = int(self.count[j]), int(other.count[j])
            if n_b == 0:
                continue
            if n_a == 0:
                self.count[j], self.mean[j], self.m2[j] = n_b, other.mean[j], other.m2[j]
                continue
            self._merge_column(j, n_b, other.mean[j], other.m2[j])

    def _merge_column(self, j: int, n_b: int, mean_b: float, m2_b: float) -> None:
        """Chan et al.'s update of column j with another part's count, mean and m2."""
        n_a = self.count[j]
        total = n_a + n_b
        delta = mean_b - self.mean[j]
        self.mean[j] += delta * (n_b / total)
        self.m2[j] += m2_b + delta * delta * (n_a * n_b / total)
        self.count[j] = total

    def summary(self, j: int):
        """(observed count, mean, population std, sample variance (divisor n - 1; NaN below two
        cells), has missing) of column j: numpy's mean, std and var(ddof=1) for one block."""
        n = int(self.count[j])
        mean = float(self.mean[j]) if n else 0.0
        std = float(np.sqrt(self.m2[j] / n)) if n else 0.0
        var = float(self.m2[j] / (n - 1)) if n > 1 else float("nan")
        return n, mean, std, var, bool(n < self.rows)

    def family(self, j: int, is_text: bool) -> str:
        """The family ``product.infer_family`` proposes for column j."""
        if is_text:
            return "categorical"
        if not self.count[j]:
            return "gaussian"
        if self.binary[j]:
            return "bernoulli"
        if self.counts[j] and len(self.distinct[j]) > 2:
            return "poisson"
        return "gaussian"

    def misfit(self, name: str, j: int, n_levels: int | None) -> str | None:
        """Why column j's observed values do not fit family ``name`` (None when they do)."""
        if not self.finite[j]:
            return "infinite values"
        if name == "bernoulli" and not self.binary[j]:
            return "bernoulli needs 0/1 values"
        if name == "poisson" and not self.counts[j]:
            return "poisson needs non-negative integer counts"
        if name == "categorical" and not (self.counts[j] and (n_levels is None or self.maximum[j] < n_levels)):
            return "categorical needs integer codes 0..C-1"
        return None

    def n_levels(self, j: int) -> int:
        """Levels of an integer-coded categorical column: its largest code + 1 (1 if none seen)."""
        return int(self.maximum[j]) + 1 if self.count[j] else 1
