"""Helpers of the product-mixture tests: synthetic tables, a CAVI sweep driver from the protocol
methods alone, k-means++ starts on the model's embedding, and matching components."""

from __future__ import annotations

import itertools

import numpy as np

from vifit.models import mixture, product


def workspace(model, n: int) -> mixture.Workspace:
    return mixture.Workspace(model, n)


def stats_of(model, x, resp, weights=None) -> mixture.Stats:
    """Statistics of given responsibilities resp (n, k)."""
    ws = workspace(model, x.shape[0])
    return mixture.given_statistics(model.fill_features(x, ws.features), resp.T.copy(), weights)


def sweep(model, x, lam, weights=None, ws=None):
    """One CAVI sweep: (new lam, stats, elbo of (q(lam), optimal r), q(lam))."""
    ws = ws or workspace(model, x.shape[0])
    q = model.variational(lam)
    theta = model.coefficients(q)
    features = model.fill_features(x, ws.features)
    stats = mixture.local_statistics(theta, features, ws, weights)
    elbo = model.elbo(q, stats, theta)
    return model.global_step(stats.t), stats, elbo, q


def fit(model, x, resp0, sweeps: int, weights=None):
    """CAVI from responsibilities resp0 (n, k): (lam, elbos (sweeps,), q of the last lam, stats)."""
    ws = workspace(model, x.shape[0])
    lam = model.global_step(stats_of(model, x, resp0, weights).t)
    elbos = []
    for _ in range(sweeps):
        lam, stats, elbo, q = sweep(model, x, lam, weights, ws)
        elbos.append(elbo)
    q = model.variational(lam)
    return lam, np.array(elbos), q


def kmeanspp_resp(model, x, rng, lloyd: int = 5) -> np.ndarray:
    """Hard responsibilities (n, k) from k-means++ seeds in model.embed coordinates, a few Lloyd steps."""
    z = model.embed(x, np.empty((model.embed_dim, x.shape[0]))).T.copy()
    centres = [z[rng.integers(len(z))]]
    for _ in range(model.k - 1):
        dist = np.min([((z - c) ** 2).sum(1) for c in centres], axis=0)
        centres.append(z[rng.choice(len(z), p=dist / dist.sum())])
    centres = np.array(centres)
    for _ in range(lloyd):
        labels = np.argmin(((z[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
        centres = np.array([z[labels == j].mean(0) if np.any(labels == j) else centres[j] for j in range(model.k)])
    return np.eye(model.k)[labels]


def best_fit(model, x, sweeps, restarts=3, seed=0):
    """The best ELBO of a few k-means++ starts: (lam, elbos, q)."""
    rng = np.random.default_rng(seed)
    runs = [fit(model, x, kmeanspp_resp(model, x, rng), sweeps) for _ in range(restarts)]
    return max(runs, key=lambda run: run[1][-1])


def match(true: np.ndarray, estimate: np.ndarray) -> tuple:
    """The permutation of estimate's components (rows) closest to true's (k, ...)."""
    k = true.shape[0]
    return min(itertools.permutations(range(k)),
               key=lambda perm: sum(np.abs(true[j] - estimate[perm[j]]).sum() for j in range(k)))


def mixed_table(n, rng, missing=0.0):
    """n rows of a 3-component mixture over 2 gaussian, 3 bernoulli, 2 poisson, 1 categorical
    (4 levels) columns, cells missing completely at random with probability ``missing``:
    (x (n, 8), labels, families spec for product.build)."""
    weights = np.array([0.5, 0.3, 0.2])
    labels = rng.choice(3, size=n, p=weights)
    mu = np.array([[-3.0, 10.0], [0.0, 14.0], [3.0, 6.0]])
    sd = np.array([[1.0, 2.0], [0.5, 1.0], [1.5, 0.7]])
    p = np.array([[0.1, 0.8, 0.5], [0.9, 0.2, 0.5], [0.5, 0.5, 0.05]])
    rate = np.array([[1.0, 10.0], [5.0, 2.0], [0.3, 6.0]])
    cat = np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.7, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7]])
    x = np.column_stack([
        rng.normal(mu[labels], sd[labels]),
        (rng.random((n, 3)) < p[labels]).astype(float),
        rng.poisson(rate[labels]).astype(float),
        (rng.random(n)[:, None] > np.cumsum(cat, 1)[labels][:, :-1]).sum(1).astype(float)])
    if missing:
        x[rng.random(x.shape) < missing] = np.nan
    spec = [("gaussian", [0, 1]), ("bernoulli", [2, 3, 4]), ("poisson", [5, 6]), ("categorical", [7])]
    truth = {"weights": weights, "mu": mu, "sd": sd, "p": p, "rate": rate, "cat": cat}
    return x, labels, spec, truth


def build(x, spec, k=3, **kw):
    return product.build(x, spec, k, **kw)
