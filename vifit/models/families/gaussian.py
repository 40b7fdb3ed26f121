"""Gaussian columns, independent per column: lambda_kd ~ Gamma(nu0/2, rate psi0_d/2),
mu_kd | lambda_kd ~ N(m0_d, 1/(beta0 lambda_kd)).

Computations happen in a per-column working frame z = (x - shift) / scale chosen from the
observed cells (mean, std), which keeps z^2 well conditioned; the hyperparameters are held in
that frame. The model is equivariant under it, so a fit there is the fit in data units, and
log p(x) = log p(z) - log scale_d per *observed cell*: ``jacobian`` turns a working-frame
ELBO into data units from the statistics (exact with missing cells), ``log_jacobian`` is
the per-row value of a complete row.

Default prior (the builder's, analogous to the diag GMM's of gmm_prior): m0 = the column's
observed mean, beta0 = 1, nu0 = the number of the group's columns with an observed cell,
psi0 = the observed cells' variance (divisor n_d - 1; a ridge of 1e-6 of the group's mean
variance when it is 0, and 1 in the working frame without a second observed cell).

T_g rows: z_d, z_d^2 (2 d_g rows, 0 where missing), then o_d per column with missing cells.
lam rows: beta0 m0 + sum r z, psi0 + beta0 m0^2 + sum r z^2, N_kd on the indicator rows. With
N = N_kd: beta = beta0 + N, m = lam_z / beta, nu = nu0 + N, psi = lam_zz - beta m^2.

E_q[log N(z | mu, lambda)] = z E[lam] m - z^2 E[lam]/2 + [E[log lam]/2 - log(2 pi)/2 - 1/(2 beta)
- E[lam] m^2 / 2], E[lam] = nu/psi, E[log lam] = psi(nu/2) - log(psi/2). Predictive per
column: Student t, dof nu, location m, squared scale psi (1 + beta) / (beta nu).
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from vifit.models.families.base import Family, as_vector, kl_gamma, observed_terms

LOG_2PI = float(np.log(2.0 * np.pi))


class Gaussian(Family):
    """Real columns. shift, scale (d_g,): the working frame; m0, psi0 (d_g,) in data units;
    beta0, nu0 scalars."""

    name = "gaussian"

    def __init__(self, columns, missing=None, shift=0.0, scale=1.0, m0=0.0, beta0=1.0, nu0=1.0, psi0=1.0,
                 center=None, spread=None):
        super().__init__(columns, missing, center, spread)
        self.shift, self.scale = as_vector(shift, self.d), as_vector(scale, self.d)
        self.m0 = (as_vector(m0, self.d) - self.shift) / self.scale  # working frame
        self.psi0 = as_vector(psi0, self.d) / self.scale**2
        self.beta0, self.nu0 = float(beta0), float(nu0)

    @property
    def n_value_rows(self):
        return 2 * self.d

    @property
    def log_jacobian(self) -> float:
        """log |dz/dx| of one complete row: -sum_d log scale_d."""
        return float(-np.log(self.scale).sum())

    def jacobian(self, t_block, total_weight):
        weight = np.full(self.d, float(total_weight))
        for j, row in self._indicator.items():
            weight[j] = t_block[row].sum()
        return float(-(np.log(self.scale) * weight).sum())

    def prior_natural(self):
        return np.concatenate([self.beta0 * self.m0, self.psi0 + self.beta0 * self.m0**2,
                               np.zeros(self.n_stats - 2 * self.d)])

    def posterior(self, lam, counts):
        """Working frame (beta, m, nu, psi): (k, d_g) each."""
        n = self.column_counts(lam, counts)
        beta = self.beta0 + n
        m = lam[:self.d].T / beta
        return beta, m, self.nu0 + n, lam[self.d:2 * self.d].T - beta * m**2

    def data_posterior(self, lam, counts):
        """(beta, m, nu, psi) in data units: m = shift + scale m_z, psi = scale^2 psi_z."""
        beta, m, nu, psi = self.posterior(lam, counts)
        return beta, self.shift + self.scale * m, nu, psi * self.scale**2

    def fill(self, x_cols, out):
        z = out[:self.d]
        self.values_and_indicators(x_cols, z, out)
        # A missing cell's 0 must stay 0 after shifting: shift only the observed cells.
        for j in range(self.d):
            if j in self._indicator:
                z[j] -= self.shift[j] * out[self._indicator[j]]
            else:
                z[j] -= self.shift[j]
        z /= self.scale[:, None]
        np.multiply(z, z, out=out[self.d:2 * self.d])
        return out

    def coefficients(self, lam, counts):
        beta, m, nu, psi = self.posterior(lam, counts)
        e_lam = nu / psi
        e_log_lam = digamma(0.5 * nu) - np.log(0.5 * psi)
        theta = np.empty((beta.shape[0], self.n_stats))
        theta[:, :self.d] = e_lam * m
        theta[:, self.d:2 * self.d] = -0.5 * e_lam
        const = 0.5 * e_log_lam - 0.5 * LOG_2PI - 0.5 / beta - 0.5 * e_lam * m**2
        return self.place_constants(const, theta), theta

    def kl(self, lam, counts):
        """KL of q(mu, lambda) per column: E_q(lam)[KL of the means] + KL of the Gammas."""
        beta, m, nu, psi = self.posterior(lam, counts)
        b0 = self.beta0
        kl_mean = 0.5 * (b0 / beta - 1.0 + np.log(beta / b0) + b0 * (nu / psi) * (m - self.m0) ** 2)
        return float((kl_mean + kl_gamma(0.5 * nu, 0.5 * psi, 0.5 * self.nu0, 0.5 * self.psi0)).sum())

    def predictive(self, lam, counts):
        """Student t per component and column, data units: (dof, loc, squared scale), (k, d_g) each."""
        beta, m, nu, psi = self.data_posterior(lam, counts)
        return nu, m, psi * (1.0 + beta) / (beta * nu)

    def conditional_mean(self, lam, counts):
        return self.predictive(lam, counts)[1]

    def component_log_density(self, lam, counts, x_cols):
        dof, loc, scale2 = self.predictive(lam, counts)
        values, seen = observed_terms(x_cols)
        out = np.empty((x_cols.shape[0], dof.shape[0]))
        for k in range(dof.shape[0]):
            maha = (values - loc[k]) ** 2 / scale2[k]
            terms = (gammaln(0.5 * (dof[k] + 1.0)) - gammaln(0.5 * dof[k]) - 0.5 * np.log(dof[k] * np.pi * scale2[k])
                     - 0.5 * (dof[k] + 1.0) * np.log1p(maha / dof[k]))
            out[:, k] = (terms * seen).sum(axis=1)
        return out

    def sample(self, lam, counts, labels, rng):
        dof, loc, scale2 = self.predictive(lam, counts)
        return loc[labels] + np.sqrt(scale2[labels]) * rng.standard_t(dof[labels])

    def describe(self, lam, counts):
        beta, m, nu, psi = self.data_posterior(lam, counts)
        return {**self.base_description(), "shift": self.shift.tolist(), "scale": self.scale.tolist(),
                "prior": {"m0": (self.shift + self.scale * self.m0).tolist(), "beta0": self.beta0,
                          "nu0": self.nu0, "psi0": (self.psi0 * self.scale**2).tolist()},
                "posterior": {"beta": beta.tolist(), "m": m.tolist(), "nu": nu.tolist(), "psi": psi.tolist()},
                "mean": m.tolist(), "precision": (nu / psi).tolist()}

    @classmethod
    def from_description(cls, desc):
        prior = desc["prior"]
        family = cls(desc["columns"], desc["missing"], desc["shift"], desc["scale"], prior["m0"], prior["beta0"],
                     prior["nu0"], prior["psi0"], desc["center"], desc["spread"])
        post = {key: np.asarray(value, dtype=np.float64) for key, value in desc["posterior"].items()}
        m_z = (post["m"] - family.shift) / family.scale
        psi_z = post["psi"] / family.scale**2
        beta = post["beta"]
        lam = np.zeros((family.n_stats, beta.shape[0]))
        lam[:family.d] = (beta * m_z).T
        lam[family.d:2 * family.d] = (psi_z + beta * m_z**2).T
        for j, row in family._indicator.items():
            lam[row] = beta[:, j] - family.beta0
        return family, lam
