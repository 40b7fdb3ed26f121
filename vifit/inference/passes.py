"""A pass over the rows: chunks grouped in blocks, blocks mapped over a few threads,
their additive results reduced in block order.

The mixtures' thread plan (vifit.threads.plan("rows"), applied by the command or the API around
the fit) keeps BLAS on one thread, so BLAS runs on the calling thread and the parallelism is
ours, across blocks: on a shared machine, BLAS worker threads spin-waiting
on each other over these small GEMMs made a sweep 5-10x slower under load. A chunk's
features T (p x rows) take about 4 MB, within this machine's 32 MB L3 for two threads: numpy
releases the GIL in the GEMMs and ufuncs, so blocks proceed in parallel, but each numpy call
hands the GIL over, and with 512 KB chunks (992 rows at D = 10) the ~7 us calls of the local step
were so short that two threads gained nothing over one. Chunks of 4 MB (7,943 rows) halved the
sweep at 200,000 and 1,000,000 rows (benchmarks/README.md, issue 22). The result does not depend
on the number of threads: each block is summed chunk by chunk, then blocks in order.
"""

from __future__ import annotations

import os
import queue
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

CHUNK_VALUES = 1 << 19  # float64 values of T per chunk: 4 MB
MIN_CHUNK_ROWS, MAX_CHUNK_ROWS = 512, 16384
RESP_VALUES = 1 << 22  # float64 responsibilities per chunk for large K (k x rows): 32 MB
# a block is the fewest whole chunks holding this many rows: 2 default chunks (15,886 rows) at D = 10,
# 13 blocks at 200,000 rows, enough to balance two threads; small chunks (--chunk-rows 64) still
# make one block of a small table, summed chunk by chunk as SVI's batch is
BLOCK_ROWS = 8192
MAX_WORKERS = 8


def auto_chunk_rows(spec) -> int:
    """Rows per chunk so that T(x) for the chunk (p x rows float64) is about 4 MB: 512..16384;
    fewer when K is so large that the chunk's (k x rows) responsibilities would pass 32 MB."""
    rows = int(np.clip(CHUNK_VALUES // spec.n_stats, MIN_CHUNK_ROWS, MAX_CHUNK_ROWS))
    return max(1, min(rows, RESP_VALUES // spec.k))


def default_workers(threads: int | None = None) -> int:
    """Row threads: ``threads`` (a count the caller chose: the commands and the API pass
    vifit.threads.plan("rows").rows, which also reads cgroup quotas, SLURM and the user's
    variables), else this process's affinity mask; at most MAX_WORKERS."""
    if threads is not None and threads > 0:
        return min(int(threads), MAX_WORKERS)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


class RowPass:
    """Map a per-chunk function over rows 0..n in chunks and sum the results.

    make_workspace(): a fresh set of buffers; one per worker thread is kept and reused."""

    def __init__(self, n_rows: int, chunk_rows: int, make_workspace: Callable, workers: int = 1):
        block_rows = chunk_rows * max(1, -(-BLOCK_ROWS // chunk_rows))
        self.chunk_rows = chunk_rows
        self.blocks = [(start, min(start + block_rows, n_rows)) for start in range(0, n_rows, block_rows)]
        self.workers = max(1, min(int(workers), len(self.blocks)))
        self._spaces: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(self.workers):
            self._spaces.put(make_workspace())
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="vifit-rows") if self.workers > 1 else None

    def _block(self, bounds, chunk_fn, zero):
        workspace = self._spaces.get()
        try:
            total = zero()
            for start in range(bounds[0], bounds[1], self.chunk_rows):
                total = total + chunk_fn(start, min(start + self.chunk_rows, bounds[1]), workspace)
            return total
        finally:
            self._spaces.put(workspace)

    def map_sum(self, chunk_fn: Callable, zero: Callable):
        """sum over chunks of chunk_fn(start, stop, workspace), in a fixed order."""
        if self._pool is None:
            results = [self._block(bounds, chunk_fn, zero) for bounds in self.blocks]
        else:
            futures = [self._pool.submit(self._block, bounds, chunk_fn, zero) for bounds in self.blocks]
            try:
                results = [future.result() for future in futures]
            except BaseException:  # an interrupt: drop the blocks not yet started
                for future in futures:
                    future.cancel()
                raise
        total = zero()
        for result in results:
            total = total + result
        return total

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
