"""The default prior's data moments from the observed cells of row blocks, in one pass.

The streaming counterpart of ``gmm_prior.data_moments`` for rows with missing cells (NaN), used
by SVI: each column's mean and variance over its observed cells, each covariance over the rows
where both columns are observed, about the columns' observed means, as the in-memory
``_weighted_moments`` defines them. One pass cannot centre on means it has not yet seen, so
the sums are taken about a shift per column (its first observed block's mean; values near the
mean, so the sums do not cancel), and re-centred at the end:

    sum_both w (a_i - d_i)(a_j - d_j) = Q_ij - d_j S_ij - d_i S_ji + d_i d_j N_ij

with a = x - shift (0 where missing), d = mean - shift, Q = (w a)^T a, S_ij = the weighted sum
of a_i over the rows where j is observed, N_ij = the weight of the rows where both are.
"""

from __future__ import annotations

import numpy as np

from vifit.models.gmm import Spec, frame_for
from vifit.models.gmm_moments import MomentAccumulator
from vifit.models.gmm_prior import Moments, observed_moments
from vifit.models.spread import Spread


class ObservedMomentAccumulator:
    """Running weighted sums of the observed cells of row blocks (d columns); full: also the
    pairwise (d, d) sums a full covariance needs. n: the rows' total weight.

    Until a block holds a missing cell the rows go to a ``MomentAccumulator`` (``complete``), so
    a table without missing cells gets exactly the moments it always had; at the first missing
    cell that accumulator's mean and scatter become these sums (about its mean: shifted sums 0)."""

    def __init__(self, d: int, full: bool = True):
        self.d, self.full = d, bool(full)
        self.complete: MomentAccumulator | None = MomentAccumulator(d, full)
        self._zero()

    def _zero(self) -> None:
        d = self.d
        self._n = 0.0
        self.shift = np.zeros(d)
        self.shifted = np.zeros(d, dtype=bool)  # whether a column's shift is set (its first observed cell)
        self.counts = np.zeros(d)
        self.sums = np.zeros(d)
        self.squares = np.zeros(d)
        if self.full:
            self.pairs, self.cross, self.products = (np.zeros((d, d)) for _ in range(3))
        self.low = np.full(d, np.inf)
        self.high = np.full(d, -np.inf)
        self.empty_rows = 0  # rows with no observed cell

    def _leave_complete(self) -> None:
        """The complete rows so far as observed-cell sums about their mean."""
        complete, self.complete = self.complete, None
        if not complete.n:
            return
        n, mean, scatter = float(complete.n), complete.mean, complete.scatter
        self._n, self.shift, self.shifted = n, mean.copy(), np.ones(self.d, dtype=bool)
        self.counts = np.full(self.d, n)
        self.squares = np.diag(scatter).copy() if self.full else np.asarray(scatter, dtype=np.float64).copy()
        if self.full:
            self.pairs, self.products = np.full((self.d, self.d), n), np.array(scatter, dtype=np.float64)
        self.low, self.high = complete.low.copy(), complete.high.copy()

    def add(self, block: np.ndarray, weights: np.ndarray | None = None) -> None:
        """Add a block (m, d) of rows (NaN = missing); weights (m,): frequency weights."""
        block = np.asarray(block, dtype=np.float64)
        if self.complete is not None:
            if not np.isnan(block).any():
                self.complete.add(block, weights)
                return
            self._leave_complete()
        if weights is not None:
            block, weights = block[weights > 0], np.asarray(weights[weights > 0], dtype=np.float64)
        if block.shape[0] == 0:
            return
        w = np.ones(block.shape[0]) if weights is None else weights
        seen = ~np.isnan(block)
        self.empty_rows += int((~seen.any(axis=1)).sum())
        observed_weight = w @ seen
        new = (observed_weight > 0) & ~self.shifted
        if new.any():  # a column's first observed cells: their mean is its shift (no sum held it before)
            filled = np.where(seen, block, 0.0)
            self.shift[new] = (w @ filled)[new] / observed_weight[new]
            self.shifted |= new
        a = np.where(seen, block - self.shift, 0.0)
        wa = a * w[:, None]
        self._n += float(w.sum())
        self.counts += observed_weight
        self.sums += wa.sum(axis=0)
        self.squares += np.einsum("nd,nd->d", wa, a)
        if self.full:
            seen_f = seen.astype(np.float64)
            self.pairs += (seen_f * w[:, None]).T @ seen_f
            self.cross += wa.T @ seen_f
            self.products += wa.T @ a
        with np.errstate(invalid="ignore"):
            np.fmin(self.low, np.nanmin(np.where(seen, block, np.inf), axis=0), out=self.low)
            np.fmax(self.high, np.nanmax(np.where(seen, block, -np.inf), axis=0), out=self.high)

    def merge(self, other: "ObservedMomentAccumulator") -> None:
        """Add another accumulator's rows (a partition's, merged in order on the client): two
        complete ones merge as MomentAccumulators do (Chan et al.), else the sums are moved to
        this one's shifts (a = a' + delta on observed cells, delta = other's shift - this one's)."""
        if other.complete is not None and self.complete is not None:
            self.complete.merge(other.complete)
            return
        if self.complete is not None:
            self._leave_complete()
        if other.complete is not None:
            other = _copy_observed(other)
        self.empty_rows += other.empty_rows
        adopt = other.shifted & ~self.shifted  # columns this one has not seen yet take the other's shift
        self.shift[adopt] = other.shift[adopt]
        self.shifted |= adopt
        delta = np.where(other.shifted, other.shift - self.shift, 0.0)
        self._n += other._n
        self.squares += other.squares + 2.0 * delta * other.sums + delta * delta * other.counts
        self.sums += other.sums + delta * other.counts
        self.counts += other.counts
        if self.full:
            cross = other.cross + delta[:, None] * other.pairs  # S_ij: the sum of a_i where j is observed
            self.products += (other.products + delta[None, :] * other.cross + delta[:, None] * other.cross.T
                              + np.multiply.outer(delta, delta) * other.pairs)
            self.cross += cross
            self.pairs += other.pairs
        np.fmin(self.low, other.low, out=self.low)
        np.fmax(self.high, other.high, out=self.high)

    @property
    def n(self) -> float:
        """The rows' total weight."""
        return self.complete.n if self.complete is not None else self._n

    @property
    def observed(self) -> np.ndarray:
        """(d,) the weight of each column's observed cells."""
        return np.full(self.d, float(self.n)) if self.complete is not None else self.counts

    @property
    def has_missing(self) -> bool:
        return self.complete is None

    @property
    def never_observed(self) -> np.ndarray:
        """Indices of the columns with no observed cell."""
        return np.flatnonzero(~(self.observed > 0))

    @property
    def constant(self) -> bool:
        if self.complete is not None:
            return self.complete.constant
        return bool((self.low == self.high).all())

    def _centre(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean (d,), d = mean - shift, population std (d,)) over each column's observed cells."""
        counts = np.maximum(self.counts, 1e-300)
        offset = self.sums / counts
        variance = np.maximum(self.squares / counts - offset * offset, 0.0)
        return self.shift + offset, offset, np.sqrt(variance)

    def spread(self) -> Spread:
        if self.complete is not None:
            return self.complete.spread()
        mean, _, std = self._centre()
        constant = ~(self.high > self.low)
        std = np.where(constant, 0.0, std)
        with np.errstate(divide="ignore"):
            log2_std = np.where(constant | (std == 0), -np.inf, np.log2(np.where(std > 0, std, 1.0)))
        return Spread(mean=np.where(constant, self.low, mean), std=std, log2_std=log2_std,
                      low=self.low.copy(), high=self.high.copy())

    def moments(self, spec: Spec) -> Moments:
        """The prior's :class:`Moments`, as ``gmm_prior.data_moments`` gives them for these rows."""
        if self.complete is not None:
            return self.complete.moments(spec)
        mean, offset, std = self._centre()
        complete = bool(self.counts.min() == self._n) if self.d else True
        if self.full:
            scatter = (self.products - self.cross * offset[None, :] - self.cross.T * offset[:, None]
                       + self.pairs * np.multiply.outer(offset, offset))
            pairs = self.pairs
        else:
            scatter = self.squares - self.sums * offset
            pairs = self.counts
        frame = frame_for(spec, mean, std)
        unit = np.multiply.outer(frame.scale, frame.scale) if self.full else frame.scale**2
        return observed_moments(spec, self._n, mean, std, frame, pairs, scatter / unit, complete)


def _copy_observed(accumulator: ObservedMomentAccumulator) -> ObservedMomentAccumulator:
    """A copy of a complete accumulator in the observed-cell sums' form."""
    copy = ObservedMomentAccumulator(accumulator.d, accumulator.full)
    copy.complete = accumulator.complete
    copy._leave_complete()
    return copy
