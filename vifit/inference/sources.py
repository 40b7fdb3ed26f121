"""Sources of row blocks for streaming inference: an array in memory or a CSV read in chunks,
and the minibatches drawn from them (without replacement within an epoch).

Every epoch cuts rows into batches of M, the last batch absorbing the remainder, so every
row is used exactly once per epoch and a pass over a file is one epoch.

In memory (:class:`ArraySource`) each epoch's batches come from one permutation of all N
rows (drawn with the run's ``np.random.Generator``), each batch gathered on its own: every
batch is a uniform sample of the whole data, whatever the order of the rows.

A stream (:class:`StreamSource`: a file read in chunks, or stdin) cannot be permuted as a
whole in bounded memory. Its read blocks are re-cut into windows of ``POOL_ROWS`` (65,536)
rows; each window is permuted and cut into batches of M, the rest carried into the next
window. So a stream is shuffled only *within windows*: a file sorted by group (all of one
cluster, then all of the next) gives batches from one group at a time and biased steps;
shuffle such a file first (e.g. ``shuf``) or load it in memory (``--no-stream``). For up to
one window of rows both draw the same permutation with the same generator, so a streamed
run and an in-memory run with the same seed agree exactly; beyond one window they differ
(the stream's batches are not uniform over all rows).
"""

from __future__ import annotations

import tempfile

import numpy as np

from vifit.inference.init import chunks

POOL_ROWS = 65536
READ_ROWS = POOL_ROWS  # rows per read of a stream; re-cut into windows, so any size gives the same batches


class ArraySource:
    """Rows held in memory, x (n, d), served in blocks (re-readable) of a stream's read size by
    default, so that full passes sum in the same order as a streamed run's."""

    repeatable = True

    def __init__(self, x: np.ndarray, block_rows: int | None = None):
        self.x, self.block_rows = x, int(block_rows or READ_ROWS)
        self.n_rows = int(x.shape[0])

    def blocks(self):
        for start, stop in chunks(self.n_rows, self.block_rows):
            yield self.x[start:stop]

    def minibatches(self, batch_size: int, rng: np.random.Generator):
        """One epoch of minibatches (m, d) from one permutation of all rows (see module doc)."""
        return permuted_batches(self.x, batch_size, rng)


class StreamSource:
    """Rows of a :class:`vifit.data.stream.TableStream`, one read per pass.

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

    def minibatches(self, batch_size: int, rng: np.random.Generator):
        """One epoch of minibatches (m, d), shuffled within windows of POOL_ROWS (see module doc).

        Before each batch the file is checked to be the one the first pass read (a stat call,
        negligible next to a step): a change stops the fit at the next step, not at the
        epoch's end (``TableStream.check_unchanged``: errors.DataChanged)."""
        for batch in minibatches(self.blocks(), batch_size, rng):
            self.stream.check_unchanged()
            yield batch

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


def batch_count(n: int, batch_size: int) -> int:
    """Batches in an epoch of n rows: n // M, at least one (the last absorbs the remainder)."""
    return max(1, n // batch_size)


def permuted_batches(x: np.ndarray, batch_size: int, rng: np.random.Generator):
    """One epoch of minibatches of the rows x (n, d), from one permutation of all n rows.

    Each batch is gathered from x by its slice of the permutation, so the epoch never copies
    the whole array. A single batch is x itself, not permuted (as a window of one batch is
    not): the order of rows within a batch is immaterial, and with M = N a step is then
    exactly one CAVI sweep."""
    n = x.shape[0]
    count = batch_count(n, batch_size)
    if count == 1:
        yield x
        return
    order = rng.permutation(n)  # the draw a single window of n rows makes: streamed runs agree
    for j in range(count):
        stop = n if j == count - 1 else (j + 1) * batch_size
        yield x[order[j * batch_size:stop]]


def minibatches(blocks, batch_size: int, rng: np.random.Generator, pool_rows: int | None = None):
    """One epoch of minibatches (m, d), without replacement, shuffled within windows of
    ``pool_rows`` rows (default POOL_ROWS) of the blocks (see module doc): a stream's sampler."""
    pools = reblock(blocks, pool_rows or POOL_ROWS)
    pool = None
    current = next(pools, None)
    while current is not None:
        following = next(pools, None)
        last = following is None
        pool = current if pool is None or pool.shape[0] == 0 else np.concatenate([pool, current])
        n = pool.shape[0]
        count = batch_count(n, batch_size) if last else n // batch_size
        if count:
            if count > 1 or not last:
                pool = pool[rng.permutation(n)]
            for j in range(count):
                stop = n if (last and j == count - 1) else (j + 1) * batch_size
                yield pool[j * batch_size:stop]
            pool = pool[count * batch_size:]
        current = following
