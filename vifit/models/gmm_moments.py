"""Data moments for the GMM's default prior and working frame, from row blocks in one pass.

The streaming counterpart of ``gmm_prior.data_moments``: each block's mean and centred
scatter are exact (two passes over the block in memory), and blocks are merged with
Chan et al.'s pairwise update, so no cancellation builds up however many rows stream by.
Also a uniform sample of rows without replacement (bottom-k of random keys), for
initialising a streamed fit from the whole data rather than its first rows.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from vifit.models.gmm import Spec, frame_for
from vifit.models.gmm_prior import Moments, is_singular, principal_axes
from vifit.models.spread import Spread


class MomentAccumulator:
    """Running n, mean (d,), scatter about the mean, column min and max.

    Kept in units of a power of two per column (``exponent``, raised as larger values arrive;
    exact rescaling), so neither sums nor squares overflow or underflow for any finite data;
    ``mean`` and ``scatter`` give them in data units, ``spread`` the column spreads.

    full: scatter (d, d); otherwise only its diagonal (d,), which is all a diag, spherical or
    known model uses (5,000 columns: 200 MB and d^2 work per row saved)."""

    def __init__(self, d: int, full: bool = True):
        self.n = 0
        self.full = bool(full)
        self.exponent = np.zeros(d, dtype=np.int64)
        self.mean_unit = np.zeros(d)
        self.scatter_unit = np.zeros((d, d) if self.full else d)
        self.low = np.full(d, np.inf)
        self.high = np.full(d, -np.inf)

    @property
    def mean(self) -> np.ndarray:
        return np.ldexp(self.mean_unit, self.exponent)

    @property
    def scatter(self) -> np.ndarray:
        with np.errstate(over="ignore"):
            return self.scatter_unit * self._outer(np.ldexp(1.0, self.exponent))

    def _scatter_diagonal_unit(self) -> np.ndarray:
        return np.diag(self.scatter_unit) if self.full else self.scatter_unit

    def _raise_exponent(self, exponent: np.ndarray) -> None:
        """Express the running moments in units 2**max(self.exponent, exponent)."""
        if not self.n:  # nothing to rescale yet
            self.exponent = np.asarray(exponent, dtype=np.int64).copy()
            return
        new = np.maximum(self.exponent, exponent)
        factor = np.ldexp(1.0, self.exponent - new)  # <= 1, exact unless it underflows (negligible then)
        self.mean_unit = self.mean_unit * factor
        self.scatter_unit = self.scatter_unit * self._outer(factor)
        self.exponent = new

    def _merge_unit(self, m: int, mean_b: np.ndarray, scatter_b: np.ndarray) -> None:
        """Chan et al.'s pairwise update with a block's moments in the current units."""
        delta = mean_b - self.mean_unit
        total = self.n + m
        self.scatter_unit = self.scatter_unit + scatter_b + self._outer(delta) * (self.n * m / total)
        self.mean_unit = self.mean_unit + delta * (m / total)
        self.n = total

    def add(self, block: np.ndarray, weights: np.ndarray | None = None) -> None:
        """Merge a block (m, d) of rows; weights (m,): frequency weights (n then counts weight,
        as if row i were there w_i times; rows of weight 0 are left out, their range too)."""
        block = np.asarray(block, dtype=np.float64)
        if weights is not None:
            block, weights = block[weights > 0], weights[weights > 0]
        m = block.shape[0] if weights is None else float(weights.sum())
        if block.shape[0] == 0:
            return
        low, high = block.min(axis=0), block.max(axis=0)
        biggest = np.maximum(np.abs(low), np.abs(high))
        self._raise_exponent(np.frexp(np.where(biggest > 0, biggest, 1.0))[1].astype(np.int64))
        scaled = block * np.ldexp(1.0, -self.exponent)
        if weights is None:
            mean_b = scaled.mean(axis=0)
            centred = scaled - mean_b
            scatter_b = centred.T @ centred if self.full else np.einsum("nd,nd->d", centred, centred)
        else:
            mean_b = weights @ scaled / m
            centred = scaled - mean_b
            weighted = centred * weights[:, None]
            scatter_b = weighted.T @ centred if self.full else np.einsum("nd,nd->d", weighted, centred)
        self._merge_unit(m, mean_b, scatter_b)
        np.minimum(self.low, low, out=self.low)
        np.maximum(self.high, high, out=self.high)

    def merge(self, other: "MomentAccumulator") -> None:
        """Merge another accumulator's rows (Chan et al.'s pairwise update)."""
        if other.n == 0:
            return
        self._raise_exponent(other.exponent)
        factor = np.ldexp(1.0, other.exponent - self.exponent)
        self._merge_unit(other.n, other.mean_unit * factor, other.scatter_unit * self._outer(factor))
        np.minimum(self.low, other.low, out=self.low)
        np.maximum(self.high, other.high, out=self.high)

    def _outer(self, vector: np.ndarray) -> np.ndarray:
        return np.multiply.outer(vector, vector) if self.full else vector * vector

    @property
    def constant(self) -> bool:
        """Every column takes a single value."""
        return bool((self.low == self.high).all())

    def spread(self) -> Spread:
        """Column mean, population std, its log2 and range (see ``models.spread``)."""
        std_unit = np.sqrt(np.maximum(self._scatter_diagonal_unit(), 0.0) / max(self.n, 1))
        constant = ~(self.high > self.low)
        std_unit = np.where(constant, 0.0, std_unit)
        with np.errstate(divide="ignore"):
            log2_std = np.where(constant, -np.inf, np.log2(np.where(constant, 1.0, std_unit)) + self.exponent)
        return Spread(mean=np.where(constant, self.low, self.mean), std=np.ldexp(std_unit, self.exponent),
                      log2_std=log2_std, low=self.low.copy(), high=self.high.copy())

    def moments(self, spec: Spec) -> Moments:
        """The :class:`Moments` the default prior is built from (population std, cov with n - 1;
        cov is (d, d) when ``full``, else the (d,) variances)."""
        scatter = self.scatter
        if self.full:
            scatter = 0.5 * (scatter + scatter.T)
        std = np.ldexp(np.sqrt(np.maximum(self._scatter_diagonal_unit(), 0.0) / self.n), self.exponent)
        with np.errstate(over="ignore", invalid="ignore"):
            cov = scatter / (self.n - 1) if self.n > 1 else np.zeros_like(scatter)
        mean = self.mean
        frame = frame_for(spec, mean, std)
        if self.full and spec.covariance == "full" and spec.d > 1 and self.n > 1:
            # the covariance in the working frame, from the scaled statistics (no overflow)
            relative = frame.scale / np.ldexp(1.0, self.exponent)
            cov_frame = self.scatter_unit / (self.n - 1) / np.multiply.outer(relative, relative)
            cov_frame = 0.5 * (cov_frame + cov_frame.T)
            if is_singular(cov_frame):
                frame = replace(frame, rotation=principal_axes(cov_frame))
        return Moments(n=self.n, mean=mean, std=std, cov=cov, frame=frame)


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
