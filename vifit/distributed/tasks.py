"""What the workers run: pure functions of one partition x (n, d) (float64 or float32), numpy only.

Each returns something small and additive (``mixture.Stats``, a moment accumulator, a sample),
so the client only ever receives O(k p) numbers per partition. Chunks within a partition
are visited in order and summed in order, so a partition's result is reproducible.
A weighted partition (``weighted``: --row-weights) holds its rows' weights as a last column,
(n, d + 1), split off here (:func:`split`); NaN cells are the model's (missing at random).
"""

from __future__ import annotations

import numpy as np

from vifit.inference import init
from vifit.models import mixture
from vifit.models.mixture import Stats, Workspace
from vifit.models.gmm_observed import ObservedMomentAccumulator

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


def fourth(quadruple):
    return quadruple[3]


def n_rows(x: np.ndarray) -> int:
    return int(x.shape[0])


def split(x: np.ndarray, weighted: bool):
    """(rows (n, d), weights (n,) or None) of a partition."""
    return (x[:, :-1], x[:, -1].astype(np.float64)) if weighted else (x, None)


def standardize(x: np.ndarray, mean: np.ndarray, scale: np.ndarray, dtype: str = "float64",
                weighted: bool = False) -> np.ndarray:
    """(x - mean) / scale as a new (n, d) array of dtype, written chunk by chunk: no temporary
    the size of x. Computed in float64 and then rounded, as ``data.load_table`` does; a weight
    column is copied as it is."""
    out = np.empty(x.shape, dtype=dtype)
    d = x.shape[1] - weighted
    for start, stop in _chunks(x, CHUNK_ROWS):
        out[start:stop, :d] = (x[start:stop, :d] - mean) / scale
    if weighted:
        out[:, d] = x[:, d]
    return out


def moments(x: np.ndarray, weighted: bool = False, use_weights: bool = True) -> ObservedMomentAccumulator:
    """n, mean, scatter, min and max of a partition's observed cells (merged on the client in
    partition order), added CHUNK_ROWS rows at a time; without a missing cell these are exactly a
    ``MomentAccumulator``'s. use_weights: count each row by its weight (else once: the rows'
    --standardize, as a table in memory computes it)."""
    rows, weights = split(x, weighted)
    accumulator = ObservedMomentAccumulator(rows.shape[1])
    for start, stop in _chunks(rows, CHUNK_ROWS):
        accumulator.add(rows[start:stop], weights[start:stop] if weights is not None and use_weights else None)
    return accumulator


def column_scan(x: np.ndarray, weighted: bool = False):
    """A partition's ``product_scan.ColumnScan`` (its features; merged on the client in order)."""
    from vifit.models.product_scan import ColumnScan

    return ColumnScan.of(split(x, weighted)[0])


def missing_cells(x: np.ndarray, weighted: bool = False) -> int:
    return int(np.isnan(split(x, weighted)[0]).sum())


def _chunks(x: np.ndarray, chunk_rows: int):
    for start in range(0, x.shape[0], chunk_rows):
        yield start, min(start + chunk_rows, x.shape[0])


def _workspace(model, x: np.ndarray, chunk_rows: int) -> Workspace:
    return Workspace(model, max(1, min(chunk_rows, x.shape[0])))


def local_stats(x: np.ndarray, model, theta: np.ndarray, chunk_rows: int, weighted: bool = False) -> Stats:
    """sum over the partition's chunks of the model's local step under theta (k, p)."""
    x, w = split(x, weighted)
    ws = _workspace(model, x, chunk_rows)
    total = Stats.zeros(model)
    for start, stop in _chunks(x, ws.chunk_rows):
        total = total + model.local_step(theta, x[start:stop], ws, None if w is None else w[start:stop])
    return total


def hard_stats(x: np.ndarray, model, centres: np.ndarray, chunk_rows: int, weighted: bool = False) -> Stats:
    """Statistics of one-hot responsibilities to the nearest of centres (k, e) (the model's embedding)."""
    x, w = split(x, weighted)
    return init.hard_assignment_stats(model, x, _workspace(model, x, chunk_rows), centres, w)


def resp_stats(x: np.ndarray, model, resp0: np.ndarray, chunk_rows: int, weighted: bool = False) -> Stats:
    """Statistics of given responsibilities: (n, k), or (n,) labels, for this partition's rows."""
    x, w = split(x, weighted)
    return init.initial_stats(model, x, _workspace(model, x, chunk_rows), "given", None, resp0, w)


def random_resp_stats(x: np.ndarray, model, seed, chunk_rows: int, weighted: bool = False) -> Stats:
    """Statistics of uniform(0, 1) responsibilities normalised per row, from this partition's seed."""
    x, w = split(x, weighted)
    return init.initial_stats(model, x, _workspace(model, x, chunk_rows), "random-resp", np.random.default_rng(seed),
                              None, w)


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

