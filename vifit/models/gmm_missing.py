"""The Gaussian mixture's local step for rows with missing cells (NaN), exactly.

A row with observed coordinates O and missing M gets a factor q(z_M | c = k) next to q(c): the
bound's optimum is N(z_M; mu_hat, L_MM^-1) with L = E[Lambda_k] and
mu_hat = m_M - L_MM^-1 L_MO (z_O - m_O), the conditional of N(m_k, L^-1). Then

    E[log pi_k + log N(z | mu_k, Lambda_k)] + H[q(z_M | k)]
        = c_k - 1/2 log |L_MM| - |O|/2 log 2 pi - 1/2 (z_O - m_O)^T S (z_O - m_O),

S = L_OO - L_OM L_MM^-1 L_MO (the Schur complement), c_k = E[log pi_k] + 1/2 E[log |Lambda_k|] - d/(2 beta_k):
the log-responsibilities use the observed coordinates' marginal. The statistics are the
expectations E_k[T(z)] (z_M <- mu_hat, z_M z_M^T <- mu_hat mu_hat^T + L_MM^-1) weighted by r_ik, so
the global step is the conjugate one, every step raises the bound (CAVI stays monotone), and the
bound includes q over the missing coordinates: sum r (theta . E[T] + H) - sum r log r - KL, i.e.
neg_entropy = <theta, t> - sum lse as for complete rows.

Everything is read from theta (k, p) alone (``gmm.log_resp_coefficients``): E[Lambda] from the
quadratic coefficients, m from the linear ones, c_k from the constant. Rows are grouped by
their pattern of missing cells; diag, spherical and known models never form a d x d matrix.
Working-frame coordinates z: (x - shift) / scale (a rotated frame is not used with missing cells).
"""

from __future__ import annotations

import numpy as np

from vifit.models import gmm_patterns
from vifit.models.gmm import LOG_2PI, Spec, triu
from vifit.models.mixture import Stats


def precision_and_mean(spec: Spec, theta: np.ndarray):
    """(E[Lambda] as (k, d, d) for full, else its diagonal (k, d); m (k, d); c (k,)) from theta."""
    d = spec.d
    linear, quad = theta[:, 1:1 + d], theta[:, 1 + d:]
    if spec.covariance == "full":
        rows, cols = triu(d)
        lam = np.zeros((spec.k, d, d))
        lam[:, rows, cols] = -quad * np.where(rows == cols, 2.0, 1.0)
        lam[:, cols, rows] = lam[:, rows, cols]
        means = np.linalg.solve(lam, linear[:, :, None])[:, :, 0]
        quadratic = np.einsum("kd,kd->k", means, linear)  # m^T L m
    else:
        diagonal = -2.0 * quad if spec.covariance == "diag" else np.repeat(-2.0 * quad, d, axis=1)
        lam, means = diagonal, linear / diagonal
        quadratic = np.einsum("kd,kd->k", means, linear)
    constant = theta[:, 0] + 0.5 * quadratic + 0.5 * d * LOG_2PI
    return lam, means, constant


def statistics(spec: Spec, theta: np.ndarray, z: np.ndarray, weights: np.ndarray | None = None,
               marginal=None) -> Stats:
    """Statistics (p, k) of the rows z (n, d) (working frame, NaN = missing; every row has at
    least one NaN) under their optimal q(c) q(z_M | c), with the bound's entropy terms;
    marginal: precision_and_mean(spec, theta) when the caller has it."""
    lam, means, constant = precision_and_mean(spec, theta) if marginal is None else marginal
    if spec.covariance == "full":  # patterns batched by their number of missing cells
        return gmm_patterns.statistics(spec, theta, lam, means, constant, z, weights)
    missing = np.isnan(z)
    total = Stats(np.zeros((spec.n_stats, spec.k)), 0.0, 0)
    for start, stop in gmm_patterns.segments(missing):
        w = None if weights is None else weights[start:stop]
        total = total + _pattern(spec, theta, lam, means, constant, z[start:stop], missing[start], w)
    return total


def responsibilities(spec: Spec, theta: np.ndarray, z: np.ndarray) -> np.ndarray:
    """(n, k) responsibilities of rows z (n, d) with missing cells, as the fit's local step has them."""
    lam, means, constant = precision_and_mean(spec, theta)
    if spec.covariance == "full":
        return gmm_patterns.responsibilities(spec, lam, means, constant, z)
    missing = np.isnan(z)
    out = np.empty((z.shape[0], spec.k))
    for start, stop in gmm_patterns.segments(missing):
        logits = _logits(spec, lam, means, constant, z[start:stop], missing[start])[0]
        resp = np.exp(logits - logits.max(axis=0))
        out[start:stop] = (resp / resp.sum(axis=0)).T
    return out


def _logits(spec, lam, means, constant, z, pattern):
    """(logits (k, n), mu_hat (k, n, |M|), the diagonal (k, |M|) of z_M's covariance) of rows z (n, d)
    sharing one pattern of missing cells, for a diag, spherical or known model (full:
    ``gmm_patterns``)."""
    obs, mis = np.flatnonzero(~pattern), np.flatnonzero(pattern)
    diff = z[None, :, obs] - means[:, None, obs]  # (k, n, |O|)
    l_m = lam[:, mis]
    logdet_mm = np.log(l_m).sum(axis=1)
    quad = ((diff * diff) @ lam[:, obs][:, :, None])[:, :, 0]
    filled_missing = np.broadcast_to(means[:, None, mis], (spec.k, z.shape[0], mis.size))
    logits = constant[:, None] - 0.5 * logdet_mm[:, None] - 0.5 * obs.size * LOG_2PI - 0.5 * quad  # (k, n)
    return logits, filled_missing, 1.0 / l_m


def _pattern(spec, theta, lam, means, constant, z, pattern, weights) -> Stats:
    """The rows z (n, d) sharing one pattern of missing cells (pattern (d,) bool)."""
    obs, mis = np.flatnonzero(~pattern), np.flatnonzero(pattern)
    logits, filled_missing, cov_missing = _logits(spec, lam, means, constant, z, pattern)
    top = logits.max(axis=0)
    resp = np.exp(logits - top)
    norm = resp.sum(axis=0)
    resp /= norm
    lse = top + np.log(norm)
    if weights is not None:
        resp = resp * weights
        lse_total = float(weights @ lse)
    else:
        lse_total = float(lse.sum())
    t = _expected_statistics(spec, z, obs, mis, filled_missing, cov_missing, resp)
    # sum r log r - sum r H[q(z_M | k)]: H may be of either sign, so this is not clamped at 0
    return Stats(t, float(np.vdot(theta.T, t)) - lse_total, z.shape[0])


def _expected_statistics(spec: Spec, z: np.ndarray, obs, mis, filled: np.ndarray, cov: np.ndarray,
                         resp: np.ndarray) -> np.ndarray:
    """t (p, k) = sum_i r_ik E_k[T(z_i)] for rows z (n, d) whose missing coordinates have, under
    q(z_M | k), mean filled (k, n, |M|) and diagonal covariance cov (k, |M|) (diag, spherical, known)."""
    n, d = z.shape
    full = np.broadcast_to(z, (spec.k, n, d)).copy()
    full[:, :, mis] = filled
    counts = resp.sum(axis=1)  # (k,)
    t = np.empty((spec.n_stats, spec.k))
    t[0] = counts
    t[1:1 + d] = (resp[:, None, :] @ full)[:, 0, :].T
    weighted = full * resp[:, :, None]
    if spec.covariance == "diag":
        second = np.einsum("knd,knd->kd", weighted, full)
        second[:, mis] += counts[:, None] * cov
        t[1 + d:] = second.T
    else:
        t[1 + d] = np.einsum("knd,knd->k", weighted, full) + counts * cov.sum(axis=1)
    return t
