"""The reparameterised Gaussian sampling step and the Gaussian KL, forward over backward.

Encoder outputs mu, s = log sigma^2: (n, k); noise eps: (L, n, k), eps ~ N(0, I).

    forward:   z_l = mu + sigma * eps_l,  sigma = exp(s / 2)          z: (L * n, k)
    backward:  dC/dmu = sum_l dC/dz_l,
               dC/ds  = sum_l dC/dz_l * eps_l * sigma / 2

KL(N(mu, diag sigma^2) || N(0, I)) per row, in closed form, with its gradient:

    KL = 1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - s_j),
    dKL/dmu = mu,   dKL/ds = (sigma^2 - 1) / 2.

``log_normal`` is the diagonal Gaussian log-density (with its 2 pi constant) that the
importance weights of the IWAE bound need.
"""

from __future__ import annotations

import numpy as np

from vifit.nn.likelihoods import LOG_2PI


class Reparameterise:
    """z = mu + exp(s/2) * eps, stacked over the L draws; backward to (dmu, ds)."""

    def forward(self, mu: np.ndarray, logvar: np.ndarray, eps: np.ndarray) -> np.ndarray:
        """mu, logvar: (n, k); eps: (L, n, k). Returns z: (L * n, k) (fresh array)."""
        self._sigma = np.exp(0.5 * logvar)
        self._eps = eps
        z = eps * self._sigma
        z += mu
        return z.reshape(-1, mu.shape[1])

    def backward(self, dz: np.ndarray):
        """dz: (L * n, k) -> (dC/dmu, dC/dlogvar), each (n, k)."""
        dz3 = dz.reshape(self._eps.shape)
        dmu = dz3.sum(axis=0)
        dlogvar = np.einsum("lnk,lnk->nk", dz3, self._eps)
        dlogvar *= self._sigma
        dlogvar *= dz.dtype.type(0.5)
        return dmu, dlogvar


def kl_standard_normal(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) per row: (n,), float64."""
    mu, logvar = mu.astype(np.float64), logvar.astype(np.float64)
    return 0.5 * (mu * mu + np.exp(logvar) - 1.0 - logvar).sum(axis=1)


def kl_standard_normal_grad(mu: np.ndarray, logvar: np.ndarray):
    """(dKL/dmu, dKL/dlogvar), each (n, k), in the input dtype."""
    return mu.copy(), 0.5 * np.expm1(logvar)


def log_normal(z: np.ndarray, mean, logvar) -> np.ndarray:
    """sum_j log N(z_j; mean_j, exp(logvar_j)) over the last axis, float64 (broadcasting)."""
    z = np.asarray(z, dtype=np.float64)
    r = (z - mean) ** 2 * np.exp(-np.asarray(logvar, dtype=np.float64))
    return -0.5 * (r + LOG_2PI + logvar).sum(axis=-1)
