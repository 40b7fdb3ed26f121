"""One categorical column: codes 0..C-1 (as floats), x_k ~ Categorical(p_k), p_k ~ Dirichlet(gamma0).

T_g rows: the one-hot code (C rows). A missing cell is the zero vector, and the one-hot rows
sum to the observed indicator, so missing cells need no extra row: with E_q[log p_kc] =
psi(gamma_kc) - psi(sum_c gamma_kc) on row c, there is no constant. lam rows: gamma_kc =
gamma0_c + sum r [x = c] (lam0 = gamma0).

Predictive: p(x = c) = gamma_kc / sum_c gamma_kc (Dirichlet-multinomial with one trial).
``conditional_mean`` is the most probable level's code per component; ``impute`` fills a cell
with the level of largest mixture predictive probability sum_k p(k | x_obs) E[p_kc].
``levels`` are the original labels of the codes (kept for documents).
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma

from vifit.models.families.base import Family, as_vector, kl_dirichlet

# One-hot embedding scaled so two distinct levels are at distance 1 (a standardised
# numeric column's typical spread).
EMBED_SCALE = float(np.sqrt(0.5))


class Categorical(Family):
    """columns: one index; n_levels C; gamma0 (C,) or scalar; levels: C labels (default codes)."""

    name = "categorical"

    def __init__(self, columns, missing=None, n_levels=2, gamma0=1.0, levels=None, center=None, spread=None):
        self.n_levels = int(n_levels)
        super().__init__(columns, missing, center, spread)
        if self.d != 1:
            raise ValueError("a categorical family holds one column")
        self.gamma0 = as_vector(gamma0, self.n_levels)
        self.levels = list(levels) if levels is not None else list(range(self.n_levels))
        self._indicator = {}  # the one-hot rows carry the indicator already

    @property
    def n_value_rows(self) -> int:
        return self.n_levels

    @property
    def n_stats(self) -> int:
        return self.n_levels

    def prior_natural(self):
        return self.gamma0.copy()

    def posterior(self, lam, counts):
        """gamma (k, C)."""
        return lam[:self.n_levels].T.copy()

    def probabilities(self, lam, counts):
        gamma = self.posterior(lam, counts)
        return gamma / gamma.sum(axis=1, keepdims=True)

    def fill(self, x_cols, out):
        codes = x_cols[:, 0]
        np.equal(codes[None, :], np.arange(self.n_levels)[:, None], out=out[:self.n_levels])
        return out  # NaN equals no code: a missing cell is all zeros

    def coefficients(self, lam, counts):
        gamma = self.posterior(lam, counts)
        return np.zeros(gamma.shape[0]), digamma(gamma) - digamma(gamma.sum(axis=1))[:, None]

    def kl(self, lam, counts):
        return float(kl_dirichlet(self.posterior(lam, counts), self.gamma0).sum())

    def conditional_mean(self, lam, counts):
        return np.argmax(self.probabilities(lam, counts), axis=1)[:, None].astype(np.float64)

    def component_log_density(self, lam, counts, x_cols):
        log_p = np.log(self.probabilities(lam, counts))  # (k, C)
        codes = x_cols[:, 0]
        seen = ~np.isnan(codes)
        out = np.zeros((codes.shape[0], log_p.shape[0]))
        out[seen] = log_p[:, codes[seen].astype(np.int64)].T
        return out

    def impute(self, lam, counts, post, x_cols):
        filled = np.array(x_cols, dtype=np.float64)
        gaps = np.isnan(filled[:, 0])
        if gaps.any():
            filled[gaps, 0] = np.argmax(post[gaps] @ self.probabilities(lam, counts), axis=1)
        return filled

    def sample(self, lam, counts, labels, rng):
        cumulative = np.cumsum(self.probabilities(lam, counts), axis=1)[labels]
        u = rng.random(labels.shape[0])
        codes = (cumulative[:, :-1] < u[:, None]).sum(axis=1)
        return codes[:, None].astype(np.float64)

    @property
    def embed_dim(self):
        return self.n_levels

    def embed(self, x_cols, out):
        z = out[:, :x_cols.shape[0]]
        self.fill(x_cols, z)
        z *= EMBED_SCALE
        return z

    def describe(self, lam, counts):
        gamma = self.posterior(lam, counts)
        return {**self.base_description(), "levels": list(self.levels), "prior": {"gamma0": self.gamma0.tolist()},
                "posterior": {"gamma": gamma.tolist()},
                "probability": (gamma / gamma.sum(axis=1, keepdims=True)).tolist()}

    @classmethod
    def from_description(cls, desc):
        gamma0 = desc["prior"]["gamma0"]
        family = cls(desc["columns"], desc["missing"], len(gamma0), gamma0, desc["levels"],
                     desc["center"], desc["spread"])
        return family, np.asarray(desc["posterior"]["gamma"], dtype=np.float64).T.copy()
