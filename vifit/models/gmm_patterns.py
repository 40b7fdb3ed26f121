"""The full-covariance Gaussian's rows with missing cells, batched over their patterns.

``gmm_missing`` gives the mathematics: for a pattern (observed O, missing M) and component k the
log-responsibility uses the observed coordinates' marginal, and the missing coordinates get
q(z_M | k) = N(mu_hat, L_MM^-1) with mu_hat affine in z_O (mu_hat = a_k - G_k z_O). So per
pattern the marginal is an exponential family in z_O with coefficients theta_O (k, p_O) and
T_O = (1, z_O, the upper triangle of z_O z_O^T): the rows' logits and their statistics are two
GEMMs, and E[T(z)] follows from t_O by the affine map. Done pattern by pattern, the ~40 small
numpy calls of that algebra cost more than the rows (600 patterns of 200,000 x 10 rows: 0.5 ms
each); here the patterns with the same number of missing cells are one batch: their coordinates
are permuted to (O, M), the algebra runs on (patterns, k, d, d) arrays, and only the two GEMMs
remain per pattern.
"""

from __future__ import annotations

import numpy as np

from vifit.models.gmm import LOG_2PI, Spec, triu
from vifit.models.mixture import LOG_TINY, Stats

BATCH_VALUES = 1 << 22  # patterns per batch: at most this many values in a (patterns, k, d, d) array


def row_order(missing: np.ndarray) -> np.ndarray:
    """The order that groups rows (n, d) of missing-cell flags by their number of missing cells,
    then by pattern (complete rows first): a chunk of rows then spans few patterns and one batch.
    A stable sort, so rows already in this order keep it (and their sums)."""
    return np.lexsort(np.vstack([missing.T[::-1], missing.sum(axis=1)[None, :]]))


def segments(missing: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) runs of consecutive rows sharing one pattern of missing cells."""
    if missing.shape[0] == 0:
        return []
    cuts = np.flatnonzero((missing[1:] != missing[:-1]).any(axis=1)) + 1
    bounds = np.concatenate([[0], cuts, [missing.shape[0]]])
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))


def batches(missing: np.ndarray, k: int):
    """Lists of runs (start, stop) whose patterns have one number of missing cells, each list small
    enough for its (patterns, k, d, d) arrays (BATCH_VALUES)."""
    runs = segments(missing)
    if not runs:
        return
    counts = missing[[start for start, _ in runs]].sum(axis=1)
    size = max(1, BATCH_VALUES // (k * missing.shape[1] ** 2))
    for m in np.unique(counts):
        chosen = [runs[i] for i in np.flatnonzero(counts == m)]
        for first in range(0, len(chosen), size):
            yield chosen[first:first + size]


class PatternBatch:
    """The marginals of P patterns with one number m of missing cells, coordinates permuted to
    (O, M): coefficients (P, k, p_O), offset a (P, k, m), gain G (P, k, m, o), cov (P, k, m, m)."""

    def __init__(self, lam: np.ndarray, means: np.ndarray, constant: np.ndarray, patterns: np.ndarray):
        d = patterns.shape[1]
        self.m = int(patterns[0].sum())
        self.o = o = d - self.m
        self.perm = np.argsort(patterns, axis=1, kind="stable")  # observed first, each part in order
        permuted = lam[:, self.perm[:, :, None], self.perm[:, None, :]].transpose(1, 0, 2, 3)  # (P, k, d, d)
        l_mm, l_mo = permuted[..., o:, o:], permuted[..., o:, :o]
        self.cov = np.linalg.inv(l_mm)
        self.gain = self.cov @ l_mo
        schur = permuted[..., :o, :o] - np.swapaxes(l_mo, -1, -2) @ self.gain  # precision of z_O
        _, logdet_mm = np.linalg.slogdet(l_mm)
        mean = means[:, self.perm].transpose(1, 0, 2)  # (P, k, d)
        m_o = mean[..., :o]
        self.offset = mean[..., o:] + (self.gain @ m_o[..., None])[..., 0]
        linear = (schur @ m_o[..., None])[..., 0]
        self.rows, self.cols = triu(o)
        quad = -schur[..., self.rows, self.cols] * np.where(self.rows == self.cols, 0.5, 1.0)
        const = (constant[None, :] - 0.5 * logdet_mm - 0.5 * o * LOG_2PI
                 - 0.5 * np.einsum("pkd,pkd->pk", m_o, linear))
        self.coefficients = np.concatenate([const[..., None], linear, quad], axis=2)

    def features(self, z: np.ndarray, pattern_of_row: np.ndarray) -> np.ndarray:
        """T_O (p_O, n) of rows z (n, d) (row i of pattern pattern_of_row[i]), written row by row of
        T (contiguous), the products of coordinate i with coordinates i.. at once (triu's order)."""
        o, n = self.o, z.shape[0]
        z_o = np.ascontiguousarray(np.take_along_axis(z, self.perm[pattern_of_row], axis=1)[:, :o].T)  # (o, n)
        out = np.empty((1 + o + o * (o + 1) // 2, n))
        out[0] = 1.0
        out[1:1 + o] = z_o
        at = 1 + o
        for i in range(o):
            np.multiply(z_o[i], z_o[i:], out=out[at:at + o - i])
            at += o - i
        return out

    def logits(self, features: np.ndarray, bounds: list[tuple[int, int]]) -> np.ndarray:
        """(n, k) log-responsibilities (unnormalised) of the batch's rows, pattern by pattern."""
        out = np.empty((features.shape[1], self.coefficients.shape[1]))
        for p, (start, stop) in enumerate(bounds):
            np.matmul(features[:, start:stop].T, self.coefficients[p].T, out=out[start:stop])
        return out


def _softmax_rows(logits: np.ndarray):
    """(resp (n, k), lse (n,)) in place of logits, as mixture.responsibilities_into (the same
    floor at LOG_TINY) with rows and components transposed."""
    top = logits.max(axis=1)
    logits -= top[:, None]
    np.maximum(logits, LOG_TINY, out=logits)
    np.exp(logits, out=logits)
    total = logits.sum(axis=1)
    logits /= total[:, None]
    return logits, top + np.log(total)


def _gather(z: np.ndarray, runs: list, weights):
    """(rows (n, d), weights or None, the pattern of each row, bounds of each pattern's rows)."""
    rows = np.concatenate([z[start:stop] for start, stop in runs])
    w = None if weights is None else np.concatenate([weights[start:stop] for start, stop in runs])
    lengths = np.array([stop - start for start, stop in runs])
    ends = np.cumsum(lengths)
    bounds = list(zip((ends - lengths).tolist(), ends.tolist()))
    return rows, w, np.repeat(np.arange(len(runs)), lengths), bounds


def statistics(spec: Spec, theta: np.ndarray, lam, means, constant, z: np.ndarray, weights=None) -> Stats:
    """Statistics (p, k) of rows z (n, d) that each have a missing cell, full covariance."""
    missing = np.isnan(z)
    d, k = spec.d, spec.k
    t = np.zeros((spec.n_stats, k))
    first = np.zeros((k, d))
    second = np.zeros((k, d, d))
    lse_total = 0.0
    for runs in batches(missing, k):
        rows, w, pattern_of_row, bounds = _gather(z, runs, weights)
        batch = PatternBatch(lam, means, constant, missing[[start for start, _ in runs]])
        features = batch.features(rows, pattern_of_row)
        resp, lse = _softmax_rows(batch.logits(features, bounds))
        if w is not None:
            resp *= w[:, None]
            lse_total += float(w @ lse)
        else:
            lse_total += float(lse.sum())
        t_o = np.stack([features[:, start:stop] @ resp[start:stop] for start, stop in bounds])  # (P, p_O, k)
        f, s = _expected(batch, t_o)
        first += f
        second += s
        t[0] += t_o[:, 0, :].sum(axis=0)
    t[1:1 + d] = first.T
    rows_d, cols_d = triu(d)
    t[1 + d:] = second[:, rows_d, cols_d].T
    # sum r log r - sum r H[q(z_M | k)]: H may be of either sign, so this is not clamped at 0
    return Stats(t, float(np.vdot(theta.T, t)) - lse_total, z.shape[0])


def _expected(batch: PatternBatch, t_o: np.ndarray):
    """(first (k, d), second (k, d, d)): the sums of r E[z] and r E[z z^T] over the batch's rows,
    from their observed statistics t_o (P, p_O, k). With u = (1, z_O), E[z | k] = A u for the
    (d, 1 + o) map A = (rows of O: [0, I]; rows of M: [a, -G]) in data order, so the sums are
    A s_u and A S_u A^T + N E_M cov E_M^T, s_u and S_u the sums of r u and r u u^T."""
    o, m = batch.o, batch.m
    patterns, k = t_o.shape[0], t_o.shape[2]
    d = o + m
    moments = np.empty((patterns, k, 1 + o, 1 + o))  # S_u; its first column is s_u
    moments[..., 0, 0] = t_o[:, 0, :]
    first_o = np.swapaxes(t_o[:, 1:1 + o, :], 1, 2)
    moments[..., 0, 1:] = first_o
    moments[..., 1:, 0] = first_o
    triangle = np.swapaxes(t_o[:, 1 + o:, :], 1, 2)
    moments[..., 1 + batch.rows, 1 + batch.cols] = triangle
    moments[..., 1 + batch.cols, 1 + batch.rows] = triangle
    back = np.argsort(batch.perm, axis=1)  # (P, d): where each data coordinate sits in (O, M)
    permuted = np.zeros((patterns, k, d, 1 + o))
    permuted[..., np.arange(o), np.arange(1, 1 + o)] = 1.0
    permuted[..., o:, 0] = batch.offset
    permuted[..., o:, 1:] = -batch.gain
    rows = back[:, None, :, None], np.arange(1 + o)[None, None, None, :]
    mapped = permuted[np.arange(patterns)[:, None, None, None], np.arange(k)[None, :, None, None], *rows]
    first = (mapped @ moments[..., :, :1])[..., 0].sum(axis=0)
    second = (mapped @ moments @ np.swapaxes(mapped, -1, -2)).sum(axis=0)
    select = np.zeros((patterns, d, m))  # E_M: the missing coordinates, in data order
    select[np.arange(patterns)[:, None], batch.perm[:, o:], np.arange(m)[None, :]] = 1.0
    counts = t_o[:, 0, :]
    second += (counts[..., None, None] * (select[:, None] @ batch.cov @ np.swapaxes(select, 1, 2)[:, None])).sum(axis=0)
    return first, second


def responsibilities(spec: Spec, lam, means, constant, z: np.ndarray) -> np.ndarray:
    """(n, k) responsibilities of rows z (n, d), each with a missing cell, full covariance."""
    missing = np.isnan(z)
    out = np.empty((z.shape[0], spec.k))
    for runs in batches(missing, spec.k):
        rows, _, pattern_of_row, bounds = _gather(z, runs, None)
        batch = PatternBatch(lam, means, constant, missing[[start for start, _ in runs]])
        resp, _ = _softmax_rows(batch.logits(batch.features(rows, pattern_of_row), bounds))
        at = 0
        for start, stop in runs:
            out[start:stop] = resp[at:at + stop - start]
            at += stop - start
    return out
