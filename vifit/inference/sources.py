"""Sources of row blocks for streaming inference: an array in memory or a CSV read in chunks,
and the minibatches drawn from them (without replacement within an epoch).

Rows are gathered into pools of ``POOL_ROWS`` (the stream's read blocks re-cut to a fixed
size, so in-memory and streamed runs agree exactly); each pool is permuted with the run's
``np.random.Generator`` and cut into batches of M.
"""

from __future__ import annotations

import tempfile

import numpy as np

from vifit.inference.init import chunks

POOL_ROWS = 65536


class ArraySource:
    """Rows held in memory, x (n, d), served in blocks (re-readable)."""

    repeatable = True

    def __init__(self, x: np.ndarray, block_rows: int | None = None):
        self.x, self.block_rows = x, int(block_rows or POOL_ROWS)
        self.n_rows = int(x.shape[0])

    def blocks(self):
        for start, stop in chunks(self.n_rows, self.block_rows):
            yield self.x[start:stop]


class StreamSource:
    """Rows of a :class:`vifit.stream.TableStream`, one read per pass.

    A file is re-read for every pass. stdin can be read once: its first pass copies the
    parsed rows (float64) to a temporary file, which later passes (the exact ELBO) read."""

    def __init__(self, stream):
        self.stream = stream
        self.n_rows: int | None = None
        self.repeatable = stream.repeatable
        self._spool = None
        self._spooled_rows = 0
        self._head: list = []

    def head(self) -> np.ndarray:
        """The first block, held so that the first pass still yields it (stdin)."""
        if not self._head:
            iterator = self.stream.chunks()
            first = next(iterator)
            self._head = [first, iterator]
        return self._head[0]

    def blocks(self):
        if self.repeatable:
            for block in self.stream.chunks():
                yield block
            self.n_rows = self.stream.n_rows
            return
        if self._spool is not None:
            yield from self._read_spool()
            return
        if self._head:
            first, iterator = self._head
            self._head = []
            blocks = _prepend(first, iterator)
        else:
            blocks = self.stream.chunks()
        self._spool = tempfile.TemporaryFile(prefix="vifit-stdin-")
        for block in blocks:
            block64 = np.ascontiguousarray(block, dtype=np.float64)
            self._spool.write(block64.tobytes())
            self._spooled_rows += block64.shape[0]
            yield block
        self.n_rows = self._spooled_rows

    def _read_spool(self):
        d = len(self.stream.columns)
        self._spool.seek(0)
        left = self._spooled_rows
        while left > 0:
            rows = min(left, self.stream.chunk_rows)
            buffer = self._spool.read(rows * d * 8)
            yield np.frombuffer(buffer, dtype=np.float64).reshape(rows, d)
            left -= rows

    def describe(self) -> dict:
        data = self.stream.describe()
        data["n_rows"] = self.n_rows if self.n_rows is not None else self._spooled_rows
        return data


def _prepend(first, rest):
    yield first
    yield from rest


def reblock(blocks, rows: int):
    """Blocks of exactly ``rows`` rows (the last may be shorter) from blocks of any size."""
    held, count = [], 0
    for block in blocks:
        while block.shape[0]:
            take = min(rows - count, block.shape[0])
            held.append(block[:take])
            count += take
            block = block[take:]
            if count == rows:
                yield held[0] if len(held) == 1 else np.concatenate(held)
                held, count = [], 0
    if count:
        yield held[0] if len(held) == 1 else np.concatenate(held)


def minibatches(blocks, batch_size: int, rng: np.random.Generator, pool_rows: int | None = None):
    """One epoch of minibatches (m, d), without replacement, from blocks of rows (see module doc)."""
    pools = reblock(blocks, pool_rows or POOL_ROWS)
    pool = None
    current = next(pools, None)
    while current is not None:
        following = next(pools, None)
        last = following is None
        pool = current if pool is None or pool.shape[0] == 0 else np.concatenate([pool, current])
        n = pool.shape[0]
        count = max(1, n // batch_size) if last else n // batch_size
        if count:
            if count > 1 or not last:
                pool = pool[rng.permutation(n)]
            for j in range(count):
                stop = n if (last and j == count - 1) else (j + 1) * batch_size
                yield pool[j * batch_size:stop]
            pool = pool[count * batch_size:]
        current = following
