"""What every observation family shares: its columns, their observed-indicator rows, the embedding.

A family models one group of columns (indices into the mixture's data matrix x (n, D), NaN a
missing cell) with a conjugate exponential family per column and component. Its block of
T(x) is ``n_value_rows`` statistic rows (a missing cell writes 0 there) followed by one
observed-indicator row o_d per column *that has missing cells*: such a column's constant
E_q[log-normaliser] rides on o_d and its count N_kd is o_d's summed statistic. A column with
no missing cell pays no indicator row: its constant joins the component's constant (the
mixture's row 0) and its count is the mixture's N_k. So a complete table costs exactly its
statistic rows, and a missing cell contributes nothing to any statistic.

Family interface (d_g = len(columns), p_g = n_stats, k components):

    prior_natural() -> (p_g,)                 lam0 of the block
    fill(x_cols (n, d_g), out (p_g, n))       T_g of the rows
    coefficients(lam (p_g, k), counts (k,)) -> (const (k,), theta (k, p_g))
    kl(lam, counts) -> float                  sum over components, columns of KL(q || prior)
    component_log_density(lam, counts, x_cols) -> (n, k)   posterior predictive, observed cells
    conditional_mean(lam, counts) -> (k, d_g) predictive mean per component (data units)
    impute(lam, counts, post (n, k), x_cols) -> (n, d_g)   NaN cells <- E[x | x_obs]
    sample(lam, counts, labels (n,), rng) -> (n, d_g)
    describe(lam, counts) -> dict; from_description(dict) -> (family, lam)
    embed_dim, embed(x_cols, out (e, n))      k-means++ coordinates (standardised, NaN -> 0)
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma, gammaln


class Family:
    """Columns, which of them have missing cells, and the embedding's standardisation.

    columns: (d_g,) indices into x; missing: (d_g,) bools (a column with a missing cell gets
    an indicator row); center, spread: (d_g,) the observed cells' mean and std (embedding only)."""

    name = ""

    def __init__(self, columns, missing=None, center=None, spread=None):
        self.columns = tuple(int(c) for c in columns)
        d = len(self.columns)
        self.missing = tuple(bool(m) for m in (missing if missing is not None else [False] * d))
        if len(self.missing) != d or d == 0:
            raise ValueError(f"{self.name}: {d} columns but {len(self.missing)} missing flags")
        self.center = np.zeros(d) if center is None else np.asarray(center, dtype=np.float64).copy()
        self.spread = np.ones(d) if spread is None else np.asarray(spread, dtype=np.float64).copy()
        # position (within the block) of each missing column's indicator row
        self._indicator = {int(j): self.n_value_rows + i for i, j in enumerate(np.flatnonzero(self.missing))}

    @property
    def d(self) -> int:
        return len(self.columns)

    @property
    def n_value_rows(self) -> int:
        """Rows of T_g before the indicator rows (family-specific)."""
        raise NotImplementedError

    @property
    def n_stats(self) -> int:
        """p_g = statistic rows + one indicator row per column with missing cells."""
        return self.n_value_rows + sum(self.missing)

    # ------------------------------------------------------------ shared pieces

    def column_counts(self, lam: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """N_kd (k, d_g): the indicator row's statistic for a column with missing cells, else N_k."""
        out = np.repeat(np.asarray(counts, dtype=np.float64)[:, None], self.d, axis=1)
        for j, row in self._indicator.items():
            out[:, j] = lam[row]
        return out

    def values_and_indicators(self, x_cols: np.ndarray, values: np.ndarray, out: np.ndarray) -> None:
        """values (d_g, n) <- x_cols^T with NaN -> 0; indicator rows of out (p_g, n) <- observed."""
        values[...] = x_cols.T
        for j, row in self._indicator.items():
            seen = ~np.isnan(values[j])
            out[row] = seen
            values[j][~seen] = 0.0

    def place_constants(self, const_kd: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Each column's constant (k, d_g) onto its indicator row of theta (k, p_g), or summed
        into the returned component constant (k,) for a complete column."""
        total = np.zeros(const_kd.shape[0])
        for j in range(self.d):
            if j in self._indicator:
                theta[:, self._indicator[j]] = const_kd[:, j]
            else:
                total += const_kd[:, j]
        return total

    @property
    def embed_dim(self) -> int:
        return self.d

    def embed(self, x_cols: np.ndarray, out: np.ndarray) -> np.ndarray:
        """(x - center) / spread in (d_g, n) layout, missing cells 0 (the centre)."""
        z = out[:, :x_cols.shape[0]]
        np.subtract(x_cols.T, self.center[:, None], out=z)
        z /= self.spread[:, None]
        z[np.isnan(z)] = 0.0
        return z

    def impute(self, lam, counts, post: np.ndarray, x_cols: np.ndarray) -> np.ndarray:
        """x_cols (n, d_g) with each NaN cell <- sum_k post_ik conditional_mean_kd."""
        filled = np.array(x_cols, dtype=np.float64)
        gaps = np.isnan(filled)
        if gaps.any():
            expected = post @ self.conditional_mean(lam, counts)
            filled[gaps] = expected[gaps]
        return filled

    def jacobian(self, t_block: np.ndarray, total_weight: float) -> float:
        """log |dz/dx| summed over the observed cells behind statistics t_block (p_g, k) of rows
        of total weight total_weight: 0 unless the family works in a rescaled frame."""
        return 0.0

    def base_description(self) -> dict:
        return {"family": self.name, "columns": list(self.columns), "missing": list(self.missing),
                "center": self.center.tolist(), "spread": self.spread.tolist()}


class PairPrior(Family):
    """A family whose conjugate prior has two parameters a0, b0 per column (Bernoulli's Beta,
    Poisson's Gamma) and whose first d_g statistic rows add to a: lam0 is (a0, 0, ...)."""

    def __init__(self, columns, missing=None, a0=1.0, b0=1.0, center=None, spread=None):
        super().__init__(columns, missing, center, spread)
        self.a0, self.b0 = as_vector(a0, self.d), as_vector(b0, self.d)

    def prior_natural(self) -> np.ndarray:
        return np.concatenate([self.a0, np.zeros(self.n_stats - self.d)])


def observed_terms(x_cols: np.ndarray):
    """(values (n, d) with NaN -> 0, observed mask (n, d) as float)."""
    seen = ~np.isnan(x_cols)
    return np.where(seen, x_cols, 0.0), seen.astype(np.float64)


def kl_beta(a, b, a0, b0):
    """KL(Beta(a, b) || Beta(a0, b0)), elementwise."""
    return (betaln(a0, b0) - betaln(a, b) + (a - a0) * digamma(a) + (b - b0) * digamma(b)
            + (a0 - a + b0 - b) * digamma(a + b))


def kl_gamma(a, b, a0, b0):
    """KL(Gamma(a, rate b) || Gamma(a0, rate b0)), elementwise."""
    return (a - a0) * digamma(a) - gammaln(a) + gammaln(a0) + a0 * (np.log(b) - np.log(b0)) + a * (b0 - b) / b


def kl_dirichlet(gamma, gamma0):
    """KL(Dir(gamma_k) || Dir(gamma0)) per row of gamma (k, C): (k,)."""
    total, total0 = gamma.sum(axis=1), gamma0.sum()
    return (gammaln(total) - gammaln(gamma).sum(axis=1) - gammaln(total0) + gammaln(gamma0).sum()
            + ((gamma - gamma0) * (digamma(gamma) - digamma(total)[:, None])).sum(axis=1))


def as_vector(value, d: int) -> np.ndarray:
    """A scalar or (d,) hyperparameter as a float64 (d,) array."""
    return np.broadcast_to(np.asarray(value, dtype=np.float64), (d,)).copy()
