"""Initial responsibilities for mixture fits, turned straight into sufficient statistics.

Rows are visited in chunks, so no (n, k) responsibility matrix (nor any array of
length n) is ever held: memory is the data plus O(chunk x k).
"""

from __future__ import annotations

import numpy as np

from vifit.models import gmm

INITS = ("kmeans++", "random", "random-resp")
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


def _frame_rows(spec, x, frame, ws):
    """z (d, n) of a chunk in the working frame (a view into the workspace): the rows of T(z)
    that hold z, without the quadratic rows the distances do not need."""
    return gmm.fill_frame_rows(x, frame, ws.features[1:1 + spec.d])


def _distance_chunks(spec, x, frame, ws):
    """(start, stop, z (d, rows)) over x for k-means++ and Lloyd. Their chunks are larger than the
    local step's (z has d rows, T(z) has p), so that per-chunk work dominates per-chunk overhead:
    2,000,000 x 10 rows are 150 chunks, not 2,000. z is valid until the next chunk."""
    n = x.shape[0]
    rows = int(np.clip(DISTANCE_CHUNK_VALUES // spec.d, ws.chunk_rows, n))
    buffer = np.empty((spec.d, max(rows, 1)))
    for start, stop in chunks(n, rows):
        yield start, stop, gmm.fill_frame_rows(x[start:stop], frame, buffer)


def _largest(keys: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` largest keys, in index order (all of them when there are fewer)."""
    if keys.size <= count:
        return np.arange(keys.size)
    return np.sort(np.argpartition(-keys, count - 1)[:count])


def squared_distances(z: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """|z_i - c_j|^2 for z (d, n), centres (j, d): (j, n), clipped at 0."""
    d2 = np.einsum("dn,dn->n", z, z)[None, :] - 2.0 * centres @ z + np.einsum("jd,jd->j", centres, centres)[:, None]
    return np.maximum(d2, 0.0, out=d2)


def kmeanspp_centres(spec, x, frame, ws, rng: np.random.Generator) -> np.ndarray:
    """Greedy k-means++ seeding in the working frame: (k, d).

    For each new centre, 2 + log k candidates are drawn with probability proportional to the
    squared distance to the nearest chosen centre (weighted sampling by exponential keys,
    streamed over chunks, so nothing of length n is stored), and the candidate that lowers
    the k-means potential most is kept."""
    n, k = x.shape[0], spec.k
    trials = 2 + int(np.log(k))
    centres = np.empty((k, spec.d))
    centres[0] = _frame_rows(spec, x[rng.integers(n)][None, :], frame, ws)[:, 0]
    for j in range(1, k):
        keys, rows, total = np.full(trials, -np.inf), np.zeros(trials, dtype=np.int64), 0.0
        for start, stop, z in _distance_chunks(spec, x, frame, ws):
            nearest = squared_distances(z, centres[:j]).min(axis=0)
            total += nearest.sum()
            with np.errstate(divide="ignore"):
                chunk_keys = np.log(rng.random(stop - start)) / nearest  # larger is likelier; 0 -> -inf
            best = _largest(chunk_keys, trials)  # only these can enter the running top
            merged = np.concatenate([keys, chunk_keys[best]])
            top = np.argsort(-merged, kind="stable")[:trials]
            rows = np.concatenate([rows, start + best])[top]
            keys = merged[top]
        if not total > 0 or not np.isfinite(keys).all():  # rows sit on the centres (duplicates)
            rows = rng.integers(n, size=trials)
        candidates = _frame_rows(spec, x[np.sort(rows)], frame, ws).T.copy()
        potential = np.zeros(trials)
        for _, _, z in _distance_chunks(spec, x, frame, ws):
            nearest = squared_distances(z, centres[:j]).min(axis=0)
            potential += np.minimum(squared_distances(z, candidates), nearest).sum(axis=1)
        centres[j] = candidates[int(np.argmin(potential))]
    return centres


def lloyd(spec, x, frame, ws, centres: np.ndarray, sweeps: int = LLOYD_SWEEPS) -> np.ndarray:
    """Refine centres (k, d) by up to ``sweeps`` k-means (Lloyd) passes in chunks; a centre
    that loses all its rows stays where it is."""
    centres = centres.copy()
    for _ in range(sweeps):
        sums, counts = np.zeros_like(centres), np.zeros(spec.k)
        for _, _, z in _distance_chunks(spec, x, frame, ws):
            labels = np.argmin(squared_distances(z, centres), axis=0)
            counts += np.bincount(labels, minlength=spec.k)
            for j in range(spec.d):
                sums[:, j] += np.bincount(labels, weights=z[j], minlength=spec.k)
        moved = counts > 0
        new = centres.copy()
        new[moved] = sums[moved] / counts[moved, None]
        if np.allclose(new, centres, rtol=0.0, atol=1e-10):
            return new
        centres = new
    return centres


def hard_assignment_stats(spec, x, frame, ws, centres: np.ndarray) -> gmm.Stats:
    """Statistics of one-hot responsibilities to the nearest centre (first on ties)."""
    total = gmm.Stats.zeros(spec)
    for start, stop in chunks(x.shape[0], ws.chunk_rows):
        z = _frame_rows(spec, x[start:stop], frame, ws)
        labels = np.argmin(squared_distances(z, centres), axis=0)
        resp = np.zeros((spec.k, stop - start))
        resp[labels, np.arange(stop - start)] = 1.0
        total = total + gmm.chunk_statistics(spec, x[start:stop], frame, resp, ws)
    return total


def initial_stats(spec, x, frame, ws, init: str, rng: np.random.Generator,
                  resp0: np.ndarray | None = None) -> gmm.Stats:
    """Sufficient statistics of the initial responsibilities.

    kmeans++: nearest of k k-means centres (greedy k-means++ seeds, <= 20 Lloyd sweeps); random: nearest of k distinct random rows;
    random-resp: uniform(0, 1) responsibilities normalised per row; resp0: given, either
    (n, k) responsibilities or (n,) integer labels in 0..k-1 (one-hot)."""
    n = x.shape[0]
    if resp0 is not None:
        total = gmm.Stats.zeros(spec)
        for start, stop in chunks(n, ws.chunk_rows):
            if resp0.ndim == 1:
                resp = np.zeros((spec.k, stop - start))
                resp[resp0[start:stop], np.arange(stop - start)] = 1.0
            else:
                resp = np.ascontiguousarray(resp0[start:stop].T, dtype=np.float64)
            total = total + gmm.chunk_statistics(spec, x[start:stop], frame, resp, ws)
        return total
    if init == "kmeans++":
        centres = lloyd(spec, x, frame, ws, kmeanspp_centres(spec, x, frame, ws, rng))
        return hard_assignment_stats(spec, x, frame, ws, centres)
    if init == "random":
        rows = np.sort(rng.choice(n, size=spec.k, replace=False))
        centres = _frame_rows(spec, x[rows], frame, ws).T.copy()
        return hard_assignment_stats(spec, x, frame, ws, centres)
    if init == "random-resp":
        total = gmm.Stats.zeros(spec)
        for start, stop in chunks(n, ws.chunk_rows):
            resp = rng.random((spec.k, stop - start))
            resp /= resp.sum(axis=0)
            total = total + gmm.chunk_statistics(spec, x[start:stop], frame, resp, ws)
        return total
    raise ValueError(f"unknown init {init!r}")
