"""The product mixture's analytic ELBO against a Monte Carlo estimate built from scipy.stats densities.

For q written by a few CAVI sweeps (so it is not the prior) and the optimal responsibilities r
of q's coefficients, draw every global parameter from q (read from ``describe``, data units) and
average, per draw,

    sum_i w_i sum_k r_ik (log pi_k + log p(x_i,obs | params_k)) - sum_i w_i sum_k r_ik log r_ik
    + log p(params) - log q(params)

(the labels summed out exactly). The analytic ``data_elbo`` must lie within 4 standard errors.
Nothing of vifit computes a density here: scipy.stats does.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from families_helpers import build, fit, kmeanspp_resp, mixed_table
from vifit.models import mixture

DRAWS = 2000
SPECS = {
    "gaussian": [("gaussian", [0, 1])],
    "bernoulli": [("bernoulli", [2, 3, 4])],
    "poisson": [("poisson", [5, 6])],
    "categorical": [("categorical", [7])],
}
MIXED = [entry for spec in SPECS.values() for entry in spec]


def masked(logp, x):
    """Sum over columns of logp (S, n, k, d) at the observed cells of x (n, d)."""
    seen = ~np.isnan(x)
    return np.where(seen[None, :, None, :], logp, 0.0).sum(axis=-1)


def family_draws(desc, x, rng):
    """(log-likelihood (S, n, k), log p(params) - log q(params) (S,)) of one family's draws."""
    cols = desc["columns"]
    xs = x[:, cols]
    filled = np.where(np.isnan(xs), 0.0, xs)[None, :, None, :]
    post, prior = desc["posterior"], desc["prior"]
    if desc["family"] == "bernoulli":
        a, b = np.array(post["a"]), np.array(post["b"])  # (k, d)
        p = st.beta.rvs(a, b, size=(DRAWS,) + a.shape, random_state=rng)
        ratio = st.beta.logpdf(p, prior["a0"], prior["b0"]) - st.beta.logpdf(p, a, b)
        loglik = masked(st.bernoulli.logpmf(filled, p[:, None]), xs)
    elif desc["family"] == "poisson":
        a, b = np.array(post["a"]), np.array(post["b"])
        mu = st.gamma.rvs(a, scale=1.0 / b, size=(DRAWS,) + a.shape, random_state=rng)
        ratio = (st.gamma.logpdf(mu, prior["a0"], scale=1.0 / np.array(prior["b0"]))
                 - st.gamma.logpdf(mu, a, scale=1.0 / b))
        loglik = masked(st.poisson.logpmf(filled, mu[:, None]), xs)
    elif desc["family"] == "categorical":
        gamma = np.array(post["gamma"])  # (k, C)
        k, c = gamma.shape
        p = np.stack([rng.dirichlet(gamma[j], size=DRAWS) for j in range(k)], axis=1)  # (S, k, C)
        ratio = np.stack([st.dirichlet.logpdf(p[:, j].T, prior["gamma0"]) - st.dirichlet.logpdf(p[:, j].T, gamma[j])
                          for j in range(k)], axis=1)
        codes = xs[:, 0]
        seen = ~np.isnan(codes)
        loglik = np.zeros((DRAWS, xs.shape[0], k))
        loglik[:, seen] = np.log(p[:, :, codes[seen].astype(int)]).transpose(0, 2, 1)
    else:
        beta, m, nu, psi = (np.array(post[key]) for key in ("beta", "m", "nu", "psi"))
        lam = st.gamma.rvs(nu / 2, scale=2.0 / psi, size=(DRAWS,) + m.shape, random_state=rng)
        mu = st.norm.rvs(m, 1.0 / np.sqrt(beta * lam), random_state=rng)
        m0, psi0 = np.array(prior["m0"]), np.array(prior["psi0"])
        ratio = (st.gamma.logpdf(lam, prior["nu0"] / 2, scale=2.0 / psi0)
                 + st.norm.logpdf(mu, m0, 1.0 / np.sqrt(prior["beta0"] * lam))
                 - st.gamma.logpdf(lam, nu / 2, scale=2.0 / psi) - st.norm.logpdf(mu, m, 1.0 / np.sqrt(beta * lam)))
        loglik = masked(st.norm.logpdf(filled, mu[:, None], 1.0 / np.sqrt(lam[:, None])), xs)
    return loglik, ratio.reshape(DRAWS, -1).sum(axis=1)


def weight_draws(desc, rng):
    """(log pi (S, k), log p(pi) - log q(pi) (S,))."""
    k, alpha0, kind = desc["k"], desc["weight_concentration"], desc["weights"]
    if kind == "uniform":
        return np.full((DRAWS, k), -np.log(k)), np.zeros(DRAWS)
    alpha = np.array(desc["allocation"])
    if kind == "dirichlet":
        pi = rng.dirichlet(alpha, size=DRAWS)
        return np.log(pi), st.dirichlet.logpdf(pi.T, np.full(k, alpha0)) - st.dirichlet.logpdf(pi.T, alpha)
    v = st.beta.rvs(alpha[:, 0], alpha[:, 1], size=(DRAWS, k), random_state=rng)
    log_pi = np.log(v) + np.concatenate([np.zeros((DRAWS, 1)), np.cumsum(np.log1p(-v), axis=1)[:, :-1]], axis=1)
    ratio = (st.beta.logpdf(v, 1.0, alpha0) - st.beta.logpdf(v, alpha[:, 0], alpha[:, 1])).sum(axis=1)
    return log_pi, ratio


def monte_carlo_elbo(desc, x, resp, weights, rng):
    log_pi, total = weight_draws(desc, rng)
    loglik = log_pi[:, None, :].copy()
    for part in desc["families"]:
        ll, ratio = family_draws(part, x, rng)
        loglik = loglik + ll
        total = total + ratio
    w = np.ones(x.shape[0]) if weights is None else weights
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(resp > 0, resp * np.log(resp), 0.0)
    values = np.einsum("snk,nk,n->s", loglik, resp, w) - (plogp.sum(axis=1) @ w) + total
    return values.mean(), values.std(ddof=1) / np.sqrt(DRAWS)


def check(spec, missing, weights_kind="dirichlet", row_weights=False, seed=0):
    rng = np.random.default_rng(seed)
    x, _, _, _ = mixed_table(300, rng, missing)
    model = build(x, spec, k=3, weights=weights_kind)
    w = rng.integers(0, 4, size=x.shape[0]).astype(float) if row_weights else None
    lam, _, q = fit(model, x, kmeanspp_resp(model, x, rng), 4, w)
    ws = mixture.Workspace(model, x.shape[0])
    theta = model.coefficients(q)
    features = model.fill_features(x, ws.features)
    resp, _ = mixture.responsibilities(theta, features, ws)
    stats = mixture.given_statistics(features, resp.T.copy(), w)
    analytic = model.data_elbo(q, stats, theta)
    estimate, se = monte_carlo_elbo(model.describe(q), x, resp, w, rng)
    assert abs(analytic - estimate) < 4 * se, (analytic, estimate, se)
    assert se < 1e-2 * abs(analytic)  # a meaningful test: the estimate is sharp
    # the prior is not q: the sweeps moved the parameters
    assert model.kl(q) > 1.0


@pytest.mark.parametrize("missing", [0.0, 0.2])
@pytest.mark.parametrize("family", sorted(SPECS))
def test_each_family_elbo_matches_monte_carlo(family, missing):
    check(SPECS[family], missing)


@pytest.mark.parametrize("weights_kind", ["dirichlet", "dp", "uniform"])
@pytest.mark.parametrize("missing", [0.0, 0.2])
def test_mixed_product_elbo_matches_monte_carlo(missing, weights_kind):
    check(MIXED, missing, weights_kind, seed=1)


def test_weighted_rows_elbo_matches_monte_carlo():
    check(MIXED, 0.2, row_weights=True, seed=2)
