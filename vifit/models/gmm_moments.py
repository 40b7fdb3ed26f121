"""Data moments for the GMM's default prior and working frame, from row blocks in one pass.

The streaming counterpart of ``gmm_prior.data_moments``: each block's mean and centred
scatter are exact (two passes over the block in memory), and blocks are merged with
Chan et al.'s pairwise update, so no cancellation builds up however many rows stream by.
Also a uniform sample of rows without replacement (bottom-k of random keys), for
initialising a streamed fit from the whole data rather than its first rows.
"""

from __future__ import annotations

import numpy as np

from vifit.models.gmm import Spec, frame_for
from vifit.models.gmm_prior import Moments


class MomentAccumulator:
    """Running n, mean (d,), scatter about the mean, column min and max.

    full: scatter (d, d); otherwise only its diagonal (d,), which is all a diag, spherical or
    known model uses (5,000 columns: 200 MB and d^2 work per row saved)."""

    def __init__(self, d: int, full: bool = True):
        self.n = 0
        self.full = bool(full)
        self.mean = np.zeros(d)
        self.scatter = np.zeros((d, d) if self.full else d)
        self.low = np.full(d, np.inf)
        self.high = np.full(d, -np.inf)

    def add(self, block: np.ndarray) -> None:
        """Merge a block (m, d) of rows."""
        block = np.asarray(block, dtype=np.float64)
        m = block.shape[0]
        if m == 0:
            return
        mean_b = block.mean(axis=0)
        centred = block - mean_b
        scatter_b = centred.T @ centred if self.full else np.einsum("nd,nd->d", centred, centred)
        delta = mean_b - self.mean
        total = self.n + m
        self.scatter += scatter_b + self._outer(delta) * (self.n * m / total)
        self.mean = self.mean + delta * (m / total)
        self.n = total
        np.minimum(self.low, block.min(axis=0), out=self.low)
        np.maximum(self.high, block.max(axis=0), out=self.high)

    def merge(self, other: "MomentAccumulator") -> None:
        """Merge another accumulator's rows (Chan et al.'s pairwise update)."""
        if other.n == 0:
            return
        delta = other.mean - self.mean
        total = self.n + other.n
        self.scatter += other.scatter + self._outer(delta) * (self.n * other.n / total)
        self.mean = self.mean + delta * (other.n / total)
        self.n = total
        np.minimum(self.low, other.low, out=self.low)
        np.maximum(self.high, other.high, out=self.high)

    def _outer(self, delta: np.ndarray) -> np.ndarray:
        return np.outer(delta, delta) if self.full else delta * delta

    @property
    def constant(self) -> bool:
        """Every column takes a single value."""
        return bool((self.low == self.high).all())

    def moments(self, spec: Spec) -> Moments:
        """The :class:`Moments` the default prior is built from (population std, cov with n - 1)."""
        scatter = 0.5 * (self.scatter + self.scatter.T) if self.full else self.scatter
        std = np.sqrt(np.maximum(np.diag(scatter) if self.full else scatter, 0.0) / self.n)
        cov = scatter / (self.n - 1) if self.n > 1 else np.zeros_like(scatter)
        return Moments(n=self.n, mean=self.mean.copy(), std=std, cov=cov, frame=frame_for(spec, self.mean, std))


class RowSample:
    """A uniform sample of up to ``size`` rows without replacement: the rows with the
    smallest uniform random keys (one key per row, drawn from rng block by block)."""

    def __init__(self, size: int, rng: np.random.Generator):
        self.size, self.rng = int(size), rng
        self.rows = None
        self.keys = np.empty(0)

    def add(self, block: np.ndarray) -> None:
        keys = self.rng.random(block.shape[0])
        rows = np.asarray(block, dtype=np.float64)
        if self.rows is not None:
            rows = np.concatenate([self.rows, rows])
            keys = np.concatenate([self.keys, keys])
        if keys.size > self.size:
            keep = np.sort(np.argpartition(keys, self.size - 1)[:self.size])
            rows, keys = rows[keep], keys[keep]
        self.rows, self.keys = rows, keys

    def sample(self) -> np.ndarray:
        """The sampled rows (s, d), in the order they were read."""
        return self.rows
