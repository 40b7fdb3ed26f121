"""What the workers run: pure functions of one partition x (n, d) (float64 or float32), numpy only.

Each returns something small and additive (``mixture.Stats``, a moment accumulator, a sample),
so the client only ever receives O(k p) numbers per partition. Chunks within a partition
are visited in order and summed in order, so a partition's result is reproducible.
"""

from __future__ import annotations

import numpy as np

from vifit.inference import init
from vifit.models import mixture
from vifit.models.mixture import Stats, Workspace
from vifit.models.gmm_moments import MomentAccumulator

CHUNK_ROWS = 16384  # rows per chunk of the tasks that would otherwise make a copy of the whole partition


def add(a, b):
    """a + b: one node of the tree sum."""
    return a + b


def first(pair):
    return pair[0]


def second(pair):
    return pair[1]


def third(triple):
    return triple[2]


def n_rows(x: np.ndarray) -> int:
    return int(x.shape[0])


def standardize(x: np.ndarray, mean: np.ndarray, scale: np.ndarray, dtype: str = "float64") -> np.ndarray:
    """(x - mean) / scale as a new (n, d) array of dtype, written chunk by chunk: no temporary
    the size of x. Computed in float64 and then rounded, as ``data.load_table`` does."""
    out = np.empty(x.shape, dtype=dtype)
    for start, stop in _chunks(x, CHUNK_ROWS):
        out[start:stop] = (x[start:stop] - mean) / scale
    return out


def moments(x: np.ndarray) -> MomentAccumulator:
    """n, mean, scatter, min and max of a partition (merged on the client in partition order),
    added CHUNK_ROWS rows at a time: ``MomentAccumulator.add`` centres a copy of its block."""
    accumulator = MomentAccumulator(x.shape[1])
    for start, stop in _chunks(x, CHUNK_ROWS):
        accumulator.add(x[start:stop])
    return accumulator


def _chunks(x: np.ndarray, chunk_rows: int):
    for start in range(0, x.shape[0], chunk_rows):
        yield start, min(start + chunk_rows, x.shape[0])


def _workspace(model, x: np.ndarray, chunk_rows: int) -> Workspace:
    return Workspace(model, max(1, min(chunk_rows, x.shape[0])))


def local_stats(x: np.ndarray, model, theta: np.ndarray, chunk_rows: int) -> Stats:
    """sum over the partition's chunks of the model's local step under theta (k, p)."""
    ws = _workspace(model, x, chunk_rows)
    total = Stats.zeros(model)
    for start, stop in _chunks(x, ws.chunk_rows):
        total = total + model.local_step(theta, x[start:stop], ws)
    return total


def hard_stats(x: np.ndarray, model, centres: np.ndarray, chunk_rows: int) -> Stats:
    """Statistics of one-hot responsibilities to the nearest of centres (k, e) (the model's embedding)."""
    return init.hard_assignment_stats(model, x, _workspace(model, x, chunk_rows), centres)


def resp_stats(x: np.ndarray, model, resp0: np.ndarray, chunk_rows: int) -> Stats:
    """Statistics of given responsibilities: (n, k), or (n,) labels, for this partition's rows."""
    return init.initial_stats(model, x, _workspace(model, x, chunk_rows), "given", None, resp0)


def random_resp_stats(x: np.ndarray, model, seed, chunk_rows: int) -> Stats:
    """Statistics of uniform(0, 1) responsibilities normalised per row, from this partition's seed."""
    return init.initial_stats(model, x, _workspace(model, x, chunk_rows), "random-resp", np.random.default_rng(seed))


def sample(x: np.ndarray, size: int, seed) -> np.ndarray:
    """A uniform sample of ``size`` rows without replacement, in row order; every row when size >= n."""
    if size >= x.shape[0]:
        return x.copy()
    rows = np.sort(np.random.default_rng(seed).choice(x.shape[0], size=size, replace=False))
    return x[rows]


def strided(x: np.ndarray, stride: int) -> np.ndarray:
    """Every stride-th row of the partition (a copy): the deterministic sample of the moves."""
    return x[::stride].copy()


def responsibilities(x: np.ndarray, model, theta: np.ndarray, chunk_rows: int) -> np.ndarray:
    """resp (n, k) of the partition's rows under theta (k, p)."""
    ws = _workspace(model, x, chunk_rows)
    if x.shape[0] == 0:
        return np.zeros((0, model.k))
    return np.vstack([mixture.responsibilities(theta, model.fill_features(x[s:e], ws.features), ws)[0]
                      for s, e in _chunks(x, ws.chunk_rows)])


def predict_to_file(x: np.ndarray, document: dict, path: str, columns: list, output: str) -> int:
    """``vifit predict`` of one partition (``documents.gmm.predict``), written atomically to output; rows written."""
    from vifit.data import Table
    from vifit.output import render_table, write_text
    from vifit.documents import gmm as model_file

    names, rows = model_file.predict(document, path, Table(values=x, columns=list(columns), source=path))
    write_text(render_table(names, rows), output)
    return int(x.shape[0])
