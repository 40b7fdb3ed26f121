"""Initial responsibilities for mixture fits, turned straight into sufficient statistics.

Rows are visited in chunks, so no (n, k) responsibility matrix (nor any array of
length n) is ever held: memory is the data plus O(chunk x k).
"""

from __future__ import annotations

import numpy as np

from vifit.models.mixture import Stats, given_statistics

INITS = ("screened", "kmeans++", "random", "random-resp")
LLOYD_SWEEPS = 20
DISTANCE_CHUNK_VALUES = 1 << 17  # float64 values of z per chunk of the distance passes: 1 MB


class SpawnedSeeds:
    """``count`` children of a SeedSequence, spawned one at a time as they are iterated: the
    same children as ``sequence.spawn(count)``, without a list of them (--restarts 1000000000
    made that list grow to GBs before the first fit)."""

    def __init__(self, sequence: np.random.SeedSequence, count: int):
        self.sequence, self.count = sequence, int(count)

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        for _ in range(self.count):
            yield self.sequence.spawn(1)[0]


def chunks(n: int, chunk_rows: int):
    """(start, stop) pairs covering range(n)."""
    for start in range(0, n, chunk_rows):
        yield start, min(start + chunk_rows, n)


def _frame_rows(model, x, ws):
    """z (e, n) of a chunk in the model's embedding (the working frame for a Gaussian; a view into
    the workspace, whose T rows 1..e hold z), for the distances of the starts."""
    return model.embed(x, ws.features[1:1 + model.embed_dim])


def _distance_chunks(model, x, ws, held=None):
    """(start, stop, z (e, rows)) over x for k-means++ and Lloyd. Their chunks are larger than the
    local step's (z has e rows, T(z) has p), so that per-chunk work dominates per-chunk overhead:
    2,000,000 x 10 rows are 150 chunks, not 2,000. z is valid until the next chunk. held: the
    rows' embedding (e, n) when the caller keeps it (a screening's sample), one chunk of them all."""
    if held is not None:
        yield 0, x.shape[0], held
        return
    n, e = x.shape[0], model.embed_dim
    rows = int(np.clip(DISTANCE_CHUNK_VALUES // e, ws.chunk_rows, n))
    buffer = np.empty((e, max(rows, 1)))
    for start, stop in chunks(n, rows):
        yield start, stop, model.embed(x[start:stop], buffer)


def _largest(keys: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` largest keys, in index order (all of them when there are fewer)."""
    if keys.size <= count:
        return np.arange(keys.size)
    return np.sort(np.argpartition(-keys, count - 1)[:count])


def squared_distances(z: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """|z_i - c_j|^2 for z (d, n), centres (j, d): (j, n), clipped at 0."""
    d2 = np.einsum("dn,dn->n", z, z)[None, :] - 2.0 * centres @ z + np.einsum("jd,jd->j", centres, centres)[:, None]
    return np.maximum(d2, 0.0, out=d2)


def _weighted(values: np.ndarray, weights, start: int, stop: int) -> np.ndarray:
    """values (..., rows) times the rows' weights (rows 0 of weight 0 never become centres)."""
    return values if weights is None else values * weights[start:stop]


def kmeanspp_centres(model, x, ws, rng: np.random.Generator, weights=None, held=None) -> np.ndarray:
    """Greedy k-means++ seeding in the model's embedding: (k, e).

    For each new centre, 2 + log k candidates are drawn with probability proportional to the
    (weighted) squared distance to the nearest chosen centre (weighted sampling by exponential
    keys, streamed over chunks, so nothing of length n is stored), and the candidate that lowers
    the k-means potential most is kept. held: the rows' embedding (e, n), when the caller keeps
    it (a screening's sample): each row's distance to its nearest centre is then kept between
    rounds too, not recomputed from every centre chosen so far."""
    n, k = x.shape[0], model.k
    trials = 2 + int(np.log(k))
    centres = np.empty((k, model.embed_dim))
    first = rng.integers(n) if weights is None else _draw_positive(weights, rng, 1)[0]
    centres[0] = (held[:, first] if held is not None else _frame_rows(model, x[first][None, :], ws)[:, 0])
    nearest_held = None if held is None else squared_distances(held, centres[:1])[0]

    def nearest_of(z, j):
        """(rows,): each row's squared distance to the nearest of centres[:j]."""
        return nearest_held if held is not None else squared_distances(z, centres[:j]).min(axis=0)

    for j in range(1, k):
        keys, rows, total = np.full(trials, -np.inf), np.zeros(trials, dtype=np.int64), 0.0
        for start, stop, z in _distance_chunks(model, x, ws, held):
            nearest = _weighted(nearest_of(z, j), weights, start, stop)
            total += nearest.sum()
            with np.errstate(divide="ignore"):
                chunk_keys = np.log(rng.random(stop - start)) / nearest  # larger is likelier; 0 -> -inf
            best = _largest(chunk_keys, trials)  # only these can enter the running top
            merged = np.concatenate([keys, chunk_keys[best]])
            top = np.argsort(-merged, kind="stable")[:trials]
            rows = np.concatenate([rows, start + best])[top]
            keys = merged[top]
        if not total > 0 or not np.isfinite(keys).all():  # rows sit on the centres (duplicates)
            rows = rng.integers(n, size=trials) if weights is None else _draw_positive(weights, rng, trials)
        picked = np.sort(rows)
        candidates = (held[:, picked] if held is not None else _frame_rows(model, x[picked], ws)).T.copy()
        potential = np.zeros(trials)
        for start, stop, z in _distance_chunks(model, x, ws, held):
            nearest = nearest_of(z, j)
            potential += _weighted(np.minimum(squared_distances(z, candidates), nearest), weights, start, stop).sum(axis=1)
        centres[j] = candidates[int(np.argmin(potential))]
        if held is not None:
            nearest_held = np.minimum(nearest_held, squared_distances(held, centres[j:j + 1])[0])
    return centres


def _draw_positive(weights: np.ndarray, rng: np.random.Generator, count: int, replace: bool = True) -> np.ndarray:
    """``count`` row indices drawn uniformly among the rows of positive weight."""
    return rng.choice(np.flatnonzero(weights > 0), size=count, replace=replace)


def lloyd(model, x, ws, centres: np.ndarray, sweeps: int = LLOYD_SWEEPS, weights=None, held=None) -> np.ndarray:
    """Refine centres (k, e) by up to ``sweeps`` (weighted) k-means (Lloyd) passes in chunks; a
    centre that loses all its rows stays where it is. held: the rows' embedding (e, n), when the
    caller keeps it."""
    centres = centres.copy()
    for _ in range(sweeps):
        sums, counts = np.zeros_like(centres), np.zeros(model.k)
        for start, stop, z in _distance_chunks(model, x, ws, held):
            labels = np.argmin(squared_distances(z, centres), axis=0)
            w = None if weights is None else weights[start:stop]
            counts += np.bincount(labels, weights=w, minlength=model.k)
            for j in range(model.embed_dim):
                sums[:, j] += np.bincount(labels, weights=z[j] if w is None else z[j] * w, minlength=model.k)
        moved = counts > 0
        new = centres.copy()
        new[moved] = sums[moved] / counts[moved, None]
        if np.allclose(new, centres, rtol=0.0, atol=1e-10):
            return new
        centres = new
    return centres


def given_stats(model, x, ws, resp: np.ndarray, start: int, stop: int, weights=None) -> Stats:
    """Statistics of rows x[start:stop] under responsibilities resp (k, rows)."""
    features = model.fill_features(x[start:stop], ws.features)
    return given_statistics(features, resp, None if weights is None else weights[start:stop])


def hard_assignment_stats(model, x, ws, centres: np.ndarray, weights=None) -> Stats:
    """Statistics of one-hot responsibilities to the nearest centre (first on ties)."""
    total = Stats.zeros(model)
    for start, stop in chunks(x.shape[0], ws.chunk_rows):
        z = _frame_rows(model, x[start:stop], ws)
        labels = np.argmin(squared_distances(z, centres), axis=0)
        resp = np.zeros((model.k, stop - start))
        resp[labels, np.arange(stop - start)] = 1.0
        total = total + given_stats(model, x, ws, resp, start, stop, weights)
    return total


def initial_stats(model, x, ws, init: str, rng: np.random.Generator,
                  resp0: np.ndarray | None = None, weights: np.ndarray | None = None) -> Stats:
    """Sufficient statistics of the initial responsibilities.

    screened: the best of several k-means++ starts screened on a sample (``inference.starts``);
    kmeans++: nearest of k k-means centres (greedy k-means++ seeds, <= 20 Lloyd sweeps); random: nearest of k distinct random rows;
    random-resp: uniform(0, 1) responsibilities normalised per row; resp0: given, either
    (n, k) responsibilities or (n,) integer labels in 0..k-1 (one-hot). weights (n,): the rows'
    frequency weights (the seeds are drawn in proportion to them; rows of weight 0 are never seeds)."""
    n, k = x.shape[0], model.k
    if resp0 is not None:
        total = Stats.zeros(model)
        for start, stop in chunks(n, ws.chunk_rows):
            if resp0.ndim == 1:
                resp = np.zeros((k, stop - start))
                resp[resp0[start:stop], np.arange(stop - start)] = 1.0
            else:
                resp = np.ascontiguousarray(resp0[start:stop].T, dtype=np.float64)
            total = total + given_stats(model, x, ws, resp, start, stop, weights)
        return total
    if init == "screened":
        from vifit.inference.starts import screened_stats  # it runs CAVI sweeps, whose module imports this one

        return screened_stats(model, x, ws, rng, weights)
    if init == "kmeans++":
        centres = lloyd(model, x, ws, kmeanspp_centres(model, x, ws, rng, weights), weights=weights)
        return hard_assignment_stats(model, x, ws, centres, weights)
    if init == "random":
        rows = (rng.choice(n, size=k, replace=False) if weights is None
                else _draw_positive(weights, rng, k, replace=int((weights > 0).sum()) < k))
        centres = _frame_rows(model, x[np.sort(rows)], ws).T.copy()
        return hard_assignment_stats(model, x, ws, centres, weights)
    if init == "random-resp":
        total = Stats.zeros(model)
        for start, stop in chunks(n, ws.chunk_rows):
            resp = rng.random((k, stop - start))
            resp /= resp.sum(axis=0)
            total = total + given_stats(model, x, ws, resp, start, stop, weights)
        return total
    raise ValueError(f"unknown init {init!r}")
