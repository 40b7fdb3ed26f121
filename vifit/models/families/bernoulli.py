"""Bernoulli columns: x_kd ~ Bernoulli(p_kd), p_kd ~ Beta(a0_d, b0_d) (default a0 = b0 = 1).

T_g rows: x_d (d_g rows, 0 where missing), then o_d per column with missing cells.
lam rows: a_kd = a0_d + sum r x (the x rows, lam0 = a0), N_kd on the indicator rows (lam0 0);
b_kd = b0_d + N_kd - (a_kd - a0_d).

E_q[log p(x | p)] = x (psi(a) - psi(b)) + [psi(b) - psi(a + b)], the bracket being the column's
constant (on o_d, or in the component constant). Predictive: Bernoulli(a / (a + b)), the
beta-binomial with one trial.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma

from vifit.models.families.base import PairPrior, kl_beta, observed_terms


class Bernoulli(PairPrior):
    """0/1 columns; a0, b0: (d_g,) or scalars, the Beta prior of every component."""

    name = "bernoulli"

    @property
    def n_value_rows(self) -> int:
        return self.d

    def posterior(self, lam: np.ndarray, counts: np.ndarray):
        """(a, b): (k, d_g) each."""
        a = lam[:self.d].T.copy()
        return a, self.b0 + self.column_counts(lam, counts) - (a - self.a0)

    def fill(self, x_cols: np.ndarray, out: np.ndarray) -> np.ndarray:
        self.values_and_indicators(x_cols, out[:self.d], out)
        return out

    def coefficients(self, lam, counts):
        a, b = self.posterior(lam, counts)
        theta = np.empty((a.shape[0], self.n_stats))
        theta[:, :self.d] = digamma(a) - digamma(b)
        const = self.place_constants(digamma(b) - digamma(a + b), theta)
        return const, theta

    def kl(self, lam, counts) -> float:
        a, b = self.posterior(lam, counts)
        return float(kl_beta(a, b, self.a0, self.b0).sum())

    def conditional_mean(self, lam, counts) -> np.ndarray:
        a, b = self.posterior(lam, counts)
        return a / (a + b)

    def component_log_density(self, lam, counts, x_cols) -> np.ndarray:
        a, b = self.posterior(lam, counts)
        values, seen = observed_terms(x_cols)
        log_one, log_zero = np.log(a) - np.log(a + b), np.log(b) - np.log(a + b)
        return values @ log_one.T + (seen - values) @ log_zero.T

    def sample(self, lam, counts, labels, rng) -> np.ndarray:
        p = self.conditional_mean(lam, counts)[labels]
        return (rng.random(p.shape) < p).astype(np.float64)

    def describe(self, lam, counts) -> dict:
        a, b = self.posterior(lam, counts)
        return {**self.base_description(), "prior": {"a0": self.a0.tolist(), "b0": self.b0.tolist()},
                "posterior": {"a": a.tolist(), "b": b.tolist()}, "probability": (a / (a + b)).tolist()}

    @classmethod
    def from_description(cls, desc: dict):
        """(family, lam (p_g, k)) from :meth:`describe`'s dict."""
        family = cls(desc["columns"], desc["missing"], desc["prior"]["a0"], desc["prior"]["b0"],
                     desc["center"], desc["spread"])
        a, b = np.asarray(desc["posterior"]["a"]), np.asarray(desc["posterior"]["b"])
        lam = np.zeros((family.n_stats, a.shape[0]))
        lam[:family.d] = a.T
        counts = (a + b - family.a0 - family.b0).T
        for j, row in family._indicator.items():
            lam[row] = counts[j]
        return family, lam
