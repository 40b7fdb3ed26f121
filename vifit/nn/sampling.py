"""The reparameterised Gaussian sampling step and the Gaussian KL, forward over backward.

The encoder gives mu and rho: (n, k) with sigma = softplus(rho) + SIGMA_MIN: finite and
positive for inputs of any scale (exp(rho / 2) overflows float32 beyond rho ~ 177, and
softplus alone underflows to 0 below rho ~ -104, e.g. on unscaled wine.csv); noise eps:
(L, n, k), eps ~ N(0, I).

    forward:   z_l = mu + sigma * eps_l                                  z: (L * n, k)
    backward:  dC/dmu = sum_l dC/dz_l,   dC/dsigma = sum_l dC/dz_l * eps_l
    chain:     dsigma/drho = sigmoid(rho) = 1 - exp(-(sigma - SIGMA_MIN))  (from the output)

KL(N(mu, diag sigma^2) || N(0, I)) per row, in closed form, with its gradient:

    KL = 1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - 2 log sigma_j),
    dKL/dmu = mu,   dKL/dsigma = sigma - 1/sigma.

``log_normal`` is the diagonal Gaussian log-density (with its 2 pi constant) that the
importance weights of the IWAE bound need.
"""

from __future__ import annotations

import numpy as np

from vifit.nn.activations import softplus_backward, softplus_forward
from vifit.nn.likelihoods import LOG_2PI

SIGMA_MIN = 1e-6


def sigma_of(rho: np.ndarray) -> np.ndarray:
    """sigma = softplus(rho) + SIGMA_MIN (fresh array)."""
    sigma = softplus_forward(np.array(rho, copy=True))
    sigma += sigma.dtype.type(SIGMA_MIN)
    return sigma


def sigma_backward(sigma: np.ndarray, dsigma: np.ndarray) -> np.ndarray:
    """dC/drho = dC/dsigma * sigmoid(rho), overwriting dsigma."""
    return softplus_backward(sigma - sigma.dtype.type(SIGMA_MIN), dsigma)


class Reparameterise:
    """z = mu + sigma * eps, stacked over the L draws; backward to (dmu, dsigma)."""

    def forward(self, mu: np.ndarray, sigma: np.ndarray, eps: np.ndarray) -> np.ndarray:
        """mu, sigma: (n, k); eps: (L, n, k). Returns z: (L * n, k) (fresh array)."""
        self._eps = eps
        z = eps * sigma
        z += mu
        return z.reshape(-1, mu.shape[1])

    def backward(self, dz: np.ndarray):
        """dz: (L * n, k) -> (dC/dmu, dC/dsigma), each (n, k)."""
        dz3 = dz.reshape(self._eps.shape)
        if dz3.shape[0] == 1:
            return dz3[0].copy(), dz3[0] * self._eps[0]
        return dz3.sum(axis=0), np.einsum("lnk,lnk->nk", dz3, self._eps)


def kl_standard_normal(mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """KL(N(mu, diag sigma^2) || N(0, I)) per row: (n,), float64."""
    mu, sigma = mu.astype(np.float64), sigma.astype(np.float64)
    return 0.5 * (mu * mu + sigma * sigma - 1.0 - 2.0 * np.log(sigma)).sum(axis=1)


def kl_standard_normal_grad(mu: np.ndarray, sigma: np.ndarray):
    """(dKL/dmu, dKL/dsigma), each (n, k), in the input dtype (fresh arrays)."""
    return mu.copy(), sigma - 1 / sigma


def log_normal(z: np.ndarray, mean, sigma) -> np.ndarray:
    """sum_j log N(z_j; mean_j, sigma_j^2) over the last axis, float64 (broadcasting)."""
    z = np.asarray(z, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    r = (z - mean) / sigma
    return -0.5 * (r * r + LOG_2PI + 2.0 * np.log(sigma)).sum(axis=-1)
