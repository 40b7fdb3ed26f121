"""The reported ELBO equals a Monte Carlo estimate of E_q[log p(x, z) - log q(z)] computed
from the written JSON alone (plus predict's responsibilities for q(c)), with scipy's
densities: 20,000 joint draws of (weights, means, precisions, labels), within 4 standard errors."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import invoke
from gmm_helpers import blobs

DRAWS = 20_000


def _gauss_logpdf_prec(x, mean, prec):
    """log N(x | mean, prec^-1) for batches: x, mean (..., d); prec (..., d, d)."""
    d = x.shape[-1]
    diff = x - mean
    _, logdet = np.linalg.slogdet(prec)
    return -0.5 * d * np.log(2 * np.pi) + 0.5 * logdet - 0.5 * np.einsum("...i,...ij,...j->...", diff, prec, diff)


def _draw_components(doc, rng):
    """Draws (S, k, d) means and (S, k, d, d) precisions, with log p - log q of them: (S,)."""
    prior, var = doc["params"]["prior"], doc["params"]["variational"]
    cov = prior["covariance"]
    m, m0 = np.array(var["means"]), np.array(prior["mean"])
    k, d = m.shape
    log_ratio = np.zeros(DRAWS)
    precisions = np.empty((DRAWS, k, d, d))
    beta = np.array(var["mean_precision"])
    if cov == "known":
        sigma, tau = prior["sigma"], prior["tau"]
        s2 = sigma**2 / beta
        mu = m + np.sqrt(s2)[None, :, None] * rng.standard_normal((DRAWS, k, d))
        log_ratio += stats.norm(m0, tau).logpdf(mu).sum(axis=(1, 2))
        log_ratio -= stats.norm(m, np.sqrt(s2)[:, None]).logpdf(mu).sum(axis=(1, 2))
        precisions[:] = np.eye(d) / sigma**2
        return mu, precisions, log_ratio
    nu, nu0, beta0 = np.array(var["dof"]), prior["dof"], prior["mean_precision"]
    scale_inv, scale_inv0 = np.array(var["scale_inv"]), np.array(prior["scale_inv"])
    for j in range(k):
        if cov == "full":
            lam = stats.wishart(df=nu[j], scale=np.linalg.inv(scale_inv[j])).rvs(DRAWS, random_state=rng)
            lam = lam.reshape(DRAWS, d, d)
            log_ratio += stats.wishart(df=nu0, scale=np.linalg.inv(scale_inv0)).logpdf(lam.transpose(1, 2, 0))
            log_ratio -= stats.wishart(df=nu[j], scale=np.linalg.inv(scale_inv[j])).logpdf(lam.transpose(1, 2, 0))
        elif cov == "diag":
            g = stats.gamma(a=nu[j] / 2, scale=2 / scale_inv[j])
            diag = g.rvs(size=(DRAWS, d), random_state=rng)
            log_ratio += stats.gamma(a=nu0 / 2, scale=2 / scale_inv0).logpdf(diag).sum(axis=1)
            log_ratio -= g.logpdf(diag).sum(axis=1)
            lam = np.einsum("si,ij->sij", diag, np.eye(d))
        else:
            g = stats.gamma(a=d * nu[j] / 2, scale=2 / (d * scale_inv[j]))
            scalar = g.rvs(size=DRAWS, random_state=rng)
            log_ratio += stats.gamma(a=d * nu0 / 2, scale=2 / (d * scale_inv0)).logpdf(scalar) - g.logpdf(scalar)
            lam = scalar[:, None, None] * np.eye(d)
        precisions[:, j] = lam
        chol = np.linalg.cholesky(beta[j] * lam)
        mu = m[j] + np.linalg.solve(chol.transpose(0, 2, 1), rng.standard_normal((DRAWS, d, 1)))[..., 0]
        log_ratio += _gauss_logpdf_prec(mu, m0, beta0 * lam) - _gauss_logpdf_prec(mu, m[j], beta[j] * lam)
        if j == 0:
            means = np.empty((DRAWS, k, d))
        means[:, j] = mu
    return means, precisions, log_ratio


def _draw_weights(doc, rng, k):
    """log pi (S, k) draws and log p - log q of them (S,)."""
    prior, var = doc["params"]["prior"], doc["params"]["variational"]
    kind = prior["weights"]
    if kind == "uniform":
        return np.full((DRAWS, k), -np.log(k)), np.zeros(DRAWS)
    a0 = prior["weight_concentration"]
    alpha = np.array(var["weight_concentration"])
    if kind == "dirichlet":
        pi = rng.dirichlet(alpha, size=DRAWS)
        log_ratio = stats.dirichlet(np.full(k, a0)).logpdf(pi.T) - stats.dirichlet(alpha).logpdf(pi.T)
        return np.log(pi), log_ratio
    v = stats.beta(alpha[:, 0], alpha[:, 1]).rvs(size=(DRAWS, k), random_state=rng)
    log_ratio = (stats.beta(1.0, a0).logpdf(v) - stats.beta(alpha[:, 0], alpha[:, 1]).logpdf(v)).sum(axis=1)
    log_pi = np.log(v) + np.concatenate([np.zeros((DRAWS, 1)), np.cumsum(np.log1p(-v), axis=1)[:, :-1]], axis=1)
    return log_pi, log_ratio



@pytest.fixture(autouse=True)
def strict_elbo(monkeypatch):
    """A decrease of the ELBO between sweeps raises instead of warning."""
    monkeypatch.setenv("VIFIT_STRICT_ELBO", "1")

@pytest.mark.parametrize("covariance,weights", [
    ("full", "dirichlet"), ("full", "dp"), ("diag", "dp"), ("spherical", "dirichlet"),
    ("known", "uniform"), ("known", "dirichlet"),
])
def test_reported_elbo_equals_monte_carlo_estimate(tmp_path, covariance, weights):
    x = blobs(40, 2, 2, seed=11, spread=2.0)
    data = tmp_path / "data.csv"
    pd.DataFrame(x, columns=["a", "b"]).to_csv(data, index=False)
    model = tmp_path / "m.json"
    result = invoke(["gmm", data, "--k", 2, "--covariance", covariance, "--weights", weights, "--seed", 0,
                     "-q", "-o", model])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(model.read_text())
    predicted = invoke(["predict", model, data, "-q"])
    assert predicted.exit_code == 0, predicted.stderr
    resp = pd.read_csv(io.StringIO(predicted.stdout)).filter(like="resp_").to_numpy()

    rng = np.random.default_rng(2024)
    k = resp.shape[1]
    means, precisions, log_ratio_theta = _draw_components(doc, rng)
    log_pi, log_ratio_pi = _draw_weights(doc, rng, k)
    # labels c_i ~ q(c_i) = resp_i, jointly with the global draws
    cumulative = np.cumsum(resp, axis=1)
    labels = np.minimum((rng.random((DRAWS, x.shape[0], 1)) > cumulative[None]).sum(axis=2), k - 1)
    log_lik = _gauss_logpdf_prec(x[None, :, None, :], means[:, None, :, :], precisions[:, None, :, :, :])
    pick = np.take_along_axis(log_lik, labels[..., None], axis=2)[..., 0]
    log_p_c = np.take_along_axis(log_pi, labels, axis=1)
    log_q_c = np.log(resp[np.arange(x.shape[0])[None, :], labels])
    samples = (pick + log_p_c - log_q_c).sum(axis=1) + log_ratio_theta + log_ratio_pi
    estimate, error = samples.mean(), samples.std(ddof=1) / np.sqrt(DRAWS)
    reported = doc["fit"]["elbo"]
    assert abs(estimate - reported) < 4 * error, (estimate, error, reported)
    assert error < 0.05 * abs(reported)
