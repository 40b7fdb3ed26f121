"""Poisson columns: x_kd ~ Poisson(mu_kd), mu_kd ~ Gamma(shape a0_d, rate b0_d).

Default prior (the builder's, from the observed cells): a0 = 1, b0 = 1 / column mean, an
exponential prior whose mean is the column's mean rate, worth b0 rows of exposure (b0 = 1 when
the mean is 0 or the column has no observed cell).

T_g rows: x_d (d_g rows, 0 where missing), L = sum_d log x_d! over the row's observed cells
(one row, coefficient -1: the constant that depends on x), then o_d per column with missing
cells. lam rows: a_kd = a0_d + sum r x (lam0 = a0), the summed L (lam0 0, unused by q),
N_kd on the indicator rows; b_kd = b0_d + N_kd.

E_q[log p(x | mu)] = x (psi(a) - log b) - log x! - a / b, with -a/b the column's constant.
Predictive: negative binomial with n = a, p = b / (b + 1).
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from vifit.models.families.base import PairPrior, kl_gamma, observed_terms


class Poisson(PairPrior):
    """Non-negative integer counts; a0 (shape), b0 (rate): (d_g,) or scalars."""

    name = "poisson"

    @property
    def n_value_rows(self) -> int:
        return self.d + 1

    def posterior(self, lam, counts):
        """(a, b): shape and rate, (k, d_g) each."""
        return lam[:self.d].T.copy(), self.b0 + self.column_counts(lam, counts)

    def fill(self, x_cols, out):
        values = out[:self.d]
        self.values_and_indicators(x_cols, values, out)
        out[self.d] = gammaln(values + 1.0).sum(axis=0)  # a missing cell holds 0, and log 0! = 0
        return out

    def coefficients(self, lam, counts):
        a, b = self.posterior(lam, counts)
        theta = np.empty((a.shape[0], self.n_stats))
        theta[:, :self.d] = digamma(a) - np.log(b)
        theta[:, self.d] = -1.0
        const = self.place_constants(-a / b, theta)
        return const, theta

    def kl(self, lam, counts) -> float:
        a, b = self.posterior(lam, counts)
        return float(kl_gamma(a, b, self.a0, self.b0).sum())

    def conditional_mean(self, lam, counts):
        a, b = self.posterior(lam, counts)
        return a / b

    def component_log_density(self, lam, counts, x_cols):
        a, b = self.posterior(lam, counts)
        values, seen = observed_terms(x_cols)
        out = np.empty((x_cols.shape[0], a.shape[0]))
        for k in range(a.shape[0]):
            terms = (gammaln(values + a[k]) - gammaln(a[k]) - gammaln(values + 1.0)
                     + a[k] * (np.log(b[k]) - np.log1p(b[k])) - values * np.log1p(b[k]))
            out[:, k] = (terms * seen).sum(axis=1)
        return out

    def sample(self, lam, counts, labels, rng):
        a, b = self.posterior(lam, counts)
        return rng.poisson(rng.gamma(a[labels], 1.0 / b[labels])).astype(np.float64)

    def describe(self, lam, counts) -> dict:
        a, b = self.posterior(lam, counts)
        return {**self.base_description(), "prior": {"a0": self.a0.tolist(), "b0": self.b0.tolist()},
                "posterior": {"a": a.tolist(), "b": b.tolist()}, "rate": (a / b).tolist()}

    @classmethod
    def from_description(cls, desc: dict):
        """(family, lam (p_g, k)) from :meth:`describe`'s dict (the L row, unused by q, is 0)."""
        family = cls(desc["columns"], desc["missing"], desc["prior"]["a0"], desc["prior"]["b0"],
                     desc["center"], desc["spread"])
        a, b = np.asarray(desc["posterior"]["a"]), np.asarray(desc["posterior"]["b"])
        lam = np.zeros((family.n_stats, a.shape[0]))
        lam[:family.d] = a.T
        counts = (b - family.b0).T
        for j, row in family._indicator.items():
            lam[row] = counts[j]
        return family, lam
