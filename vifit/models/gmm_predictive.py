"""Posterior predictive of the Bayesian GMM: log density and draws (data units).

Integrating q(mu_k, Lambda_k) out of N(x | mu_k, Lambda_k) gives a Student t per component:

- full:      St(m_k, W_k^-1 (1 + beta_k) / (beta_k nu'), nu'), nu' = nu_k + 1 - d  (Bishop 10.81)
- diag:      a product over features of St(m_kd, psi_kd (1 + beta_k) / (beta_k nu_k), nu_k)
- spherical: St(m_k, psi_k (1 + beta_k) / (beta_k nu_k) I, d nu_k)
- known:     N(m_k, sigma^2 (1 + 1/beta_k) I)

mixed with the expected weights E_q[pi] (renormalised over the k components for dp).
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, logsumexp

from vifit.models.gmm import LOG_2PI, Prior, Variational, expected_weights


def components(prior: Prior, q: Variational):
    """Per component (dof (k,) or None for Gaussian, scale: (k, d, d) | (k, d) | (k,))."""
    cov, d, beta = prior.spec.covariance, prior.spec.d, q.mean_precision
    factor = (1.0 + beta) / beta
    if cov == "full":
        dof = q.dof + 1.0 - d
        return dof, q.scale_inv * (factor / dof)[:, None, None]
    if cov == "diag":
        return q.dof, q.scale_inv * (factor / q.dof)[:, None]
    if cov == "spherical":
        return d * q.dof, q.scale_inv * factor / q.dof
    return None, prior.noise_var * factor


def component_log_density(prior: Prior, q: Variational, x: np.ndarray) -> np.ndarray:
    """log p(x_i,obs | component k, data): (n, k) for rows x (n, d); a NaN cell is missing and
    marginalised (every family here is closed under marginals: a Student t's or a Gaussian's
    observed block keeps its degrees of freedom), so such a row's density is its observed cells'."""
    missing = np.isnan(x)
    if not missing.any():
        return _component_log_density(prior, q, x, np.arange(prior.spec.d))
    out = np.empty((x.shape[0], prior.spec.k))
    patterns, which = np.unique(missing, axis=0, return_inverse=True)
    for index, pattern in enumerate(patterns):
        rows = np.flatnonzero(which.ravel() == index)
        obs = np.flatnonzero(~pattern)
        out[rows] = _component_log_density(prior, q, x[rows][:, obs], obs) if obs.size else 0.0
    return out


def conditional_means(prior: Prior, q: Variational, x: np.ndarray) -> np.ndarray:
    """E[x_miss | x_obs, component k] under the posterior predictive, with the observed cells as
    given: (k, n, d). A Student t's conditional mean is the Gaussian formula with its scale."""
    dof, scale = components(prior, q)
    k = prior.spec.k
    out = np.broadcast_to(x, (k,) + x.shape).copy()
    missing = np.isnan(x)
    patterns, which = np.unique(missing, axis=0, return_inverse=True)
    for index, pattern in enumerate(patterns):
        if not pattern.any():
            continue
        rows = np.flatnonzero(which.ravel() == index)
        obs, mis = np.flatnonzero(~pattern), np.flatnonzero(pattern)
        for j in range(k):
            filled = np.broadcast_to(q.means[j, mis], (rows.size, mis.size)).copy()
            if prior.spec.covariance == "full" and obs.size:
                gain = np.linalg.solve(scale[j][np.ix_(obs, obs)], scale[j][np.ix_(obs, mis)])  # S_OO^-1 S_OM
                filled += (x[np.ix_(rows, obs)] - q.means[j, obs]) @ gain
            out[j][np.ix_(rows, mis)] = filled
    return out


def _component_log_density(prior: Prior, q: Variational, x: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """log p(x_i | component k, data) of the coordinates obs of every row: x (n, |obs|)."""
    cov, d = prior.spec.covariance, obs.size
    dof, scale = components(prior, q)
    if obs.size < prior.spec.d:
        scale = scale[:, obs][:, :, obs] if cov == "full" else (scale[:, obs] if cov == "diag" else scale)
    means = q.means[:, obs]
    out = np.empty((x.shape[0], prior.spec.k))
    for k in range(prior.spec.k):
        diff = x - means[k]
        if cov == "full":
            chol = np.linalg.cholesky(scale[k])
            sol = np.linalg.solve(chol, diff.T)
            maha = np.einsum("dn,dn->n", sol, sol)
            logdet = 2.0 * np.log(np.diag(chol)).sum()
            out[:, k] = _student(maha, logdet, dof[k], d)
        elif cov == "diag":
            z2 = diff**2 / scale[k]
            out[:, k] = sum(_student(z2[:, j], np.log(scale[k][j]), dof[k], 1) for j in range(d))
        elif cov == "spherical":
            out[:, k] = _student(np.einsum("nd,nd->n", diff, diff) / scale[k], d * np.log(scale[k]), dof[k], d)
        else:
            out[:, k] = -0.5 * (d * LOG_2PI + d * np.log(scale[k]) + np.einsum("nd,nd->n", diff, diff) / scale[k])
    return out


def _student(maha, logdet, dof, d):
    """log St with squared Mahalanobis distance maha, log|scale|, dof, dimension d."""
    return (gammaln(0.5 * (dof + d)) - gammaln(0.5 * dof) - 0.5 * d * np.log(dof * np.pi)
            - 0.5 * logdet - 0.5 * (dof + d) * np.log1p(maha / dof))


def log_density(prior: Prior, q: Variational, x: np.ndarray) -> np.ndarray:
    """log posterior-predictive density of each row x (n, d): (n,)."""
    return logsumexp(component_log_density(prior, q, x) + np.log(expected_weights(prior, q)), axis=1)


def moments(prior: Prior, q: Variational):
    """Mean (d,) and covariance (d, d) of the posterior predictive (needs dof > 2)."""
    cov, d = prior.spec.covariance, prior.spec.d
    dof, scale = components(prior, q)
    w = expected_weights(prior, q)
    covs = []
    for k in range(prior.spec.k):
        factor = 1.0 if dof is None else dof[k] / (dof[k] - 2.0)
        c = scale[k] if cov == "full" else (np.diag(scale[k]) if cov == "diag" else scale[k] * np.eye(d))
        covs.append(c * factor)
    mean = w @ q.means
    second = sum(w[k] * (covs[k] + np.outer(q.means[k], q.means[k])) for k in range(prior.spec.k))
    return mean, second - np.outer(mean, mean)


def sample(prior: Prior, q: Variational, n: int, rng: np.random.Generator):
    """n draws from the posterior predictive: (rows (n, d), component index (n,))."""
    cov, d, k = prior.spec.covariance, prior.spec.d, prior.spec.k
    dof, scale = components(prior, q)
    labels = rng.choice(k, size=n, p=expected_weights(prior, q))
    draws = np.empty((n, d))
    for j in range(k):
        rows = np.flatnonzero(labels == j)
        if rows.size == 0:
            continue
        z = rng.standard_normal((rows.size, d))
        if cov == "full":
            z = z @ np.linalg.cholesky(scale[j]).T
        elif cov == "diag":
            z = z * np.sqrt(scale[j])
        else:
            z = z * np.sqrt(scale[j])
        if dof is not None:
            shape = (rows.size, d) if cov == "diag" else (rows.size, 1)
            z = z / np.sqrt(rng.chisquare(dof[j], size=shape) / dof[j])
        draws[rows] = q.means[j] + z
    return draws, labels
