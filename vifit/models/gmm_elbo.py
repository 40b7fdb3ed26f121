"""The full ELBO of the Bayesian GMM, every constant kept, from additive statistics.

ELBO(q) = E_q[log p(x, c | pi, mu, Lambda)] - E_q[log q(c)] - KL(q(pi) || p(pi))
          - sum_k KL(q(mu_k, Lambda_k) || p(mu_k, Lambda_k))

The first two terms are <theta, t> - sum r log r (see ``gmm.local_step``), valid for any
responsibilities that produced the statistics. Each KL is in closed form.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln, multigammaln

from vifit.models import allocation
from vifit.models.gmm import (Prior, Stats, Variational, expected_precision, log_resp_coefficients,
                              quadratic_form)


def kl_weights(prior: Prior, q: Variational) -> float:
    """KL(q(pi) || p(pi)): see ``allocation.kl``."""
    return allocation.kl(prior.spec.weights, prior.weight_concentration, q.weight_concentration)


def kl_gamma(a, b, a0, b0):
    """KL(Gamma(a, rate b) || Gamma(a0, rate b0)), elementwise."""
    return (a - a0) * digamma(a) - gammaln(a) + gammaln(a0) + a0 * (np.log(b) - np.log(b0)) + a * (b0 - b) / b


def kl_components(prior: Prior, q: Variational) -> float:
    """sum_k KL(q(mu_k, Lambda_k) || p(mu_k, Lambda_k)).

    = E_q(Lambda)[KL(N(m, (beta Lambda)^-1) || N(m0, (beta0 Lambda)^-1))] + KL(q(Lambda) || p(Lambda)),
    the first being 1/2 [d beta0/beta - d + d log(beta/beta0) + beta0 (m - m0)^T E[Lambda] (m - m0)]."""
    spec, d = prior.spec, prior.spec.d
    e_lambda, e_log_det, logdet_inv = expected_precision(prior, q)
    beta, b0 = q.mean_precision, prior.mean_precision
    diff = q.means - prior.mean
    kl_mean = 0.5 * (d * b0 / beta - d + d * np.log(beta / b0) + b0 * quadratic_form(spec, e_lambda, diff))
    nu, nu0 = q.dof, prior.dof
    if spec.covariance == "full":
        # KL(W(W, nu) || W(W0, nu0)) = logB(W, nu) - logB(W0, nu0) + (nu - nu0)/2 E[log|L|]
        #   - nu d/2 + nu/2 tr(W0^-1 W), with logB(W, nu) = nu/2 log|W^-1| - nu d/2 log 2 - log Gamma_d(nu/2)
        _, logdet0 = np.linalg.slogdet(prior.scale_inv)
        log_b = 0.5 * nu * logdet_inv - 0.5 * nu * d * np.log(2.0) - multigammaln_vec(0.5 * nu, d)
        log_b0 = 0.5 * nu0 * logdet0 - 0.5 * nu0 * d * np.log(2.0) - multigammaln(0.5 * nu0, d)
        trace = np.einsum("de,ked->k", prior.scale_inv, e_lambda)  # tr(W0^-1 nu W)
        kl_prec = log_b - log_b0 + 0.5 * (nu - nu0) * e_log_det - 0.5 * nu * d + 0.5 * trace
    elif spec.covariance == "diag":
        kl_prec = kl_gamma(0.5 * nu[:, None], 0.5 * q.scale_inv, 0.5 * nu0, 0.5 * prior.scale_inv).sum(axis=1)
    elif spec.covariance == "spherical":
        kl_prec = kl_gamma(0.5 * d * nu, 0.5 * d * q.scale_inv, 0.5 * d * nu0, 0.5 * d * prior.scale_inv)
    else:
        kl_prec = 0.0
    return float(np.sum(kl_mean + kl_prec))


def multigammaln_vec(a: np.ndarray, d: int) -> np.ndarray:
    """log Gamma_d(a) elementwise over an array a."""
    return 0.25 * d * (d - 1) * np.log(np.pi) + gammaln(a[:, None] - 0.5 * np.arange(d)).sum(axis=1)


def elbo(prior: Prior, q: Variational, stats: Stats, theta: np.ndarray | None = None) -> float:
    """The full ELBO (nats, in the prior's frame) for q's global factors and the responsibilities
    that produced ``stats``; theta from ``log_resp_coefficients`` if already at hand."""
    if theta is None:
        theta = log_resp_coefficients(prior, q)
    expected_joint = float(np.vdot(theta.T, stats.t))
    return expected_joint - stats.neg_entropy - kl_weights(prior, q) - kl_components(prior, q)
