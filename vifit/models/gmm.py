"""Bayesian Gaussian mixture in exponential-family form: local step, global step.

The model (K components, D features)::

    weights   pi ~ Dirichlet(alpha0, ..., alpha0)     --weights dirichlet
              pi_k = v_k prod_{j<k}(1 - v_j), v_k ~ Beta(1, alpha0)   --weights dp
              pi_k = 1/K                                              --weights uniform
    labels    c_i ~ Categorical(pi)
    full      Lambda_k ~ Wishart(nu0, W0),  mu_k | Lambda_k ~ N(m0, (beta0 Lambda_k)^-1)
    diag      lambda_kd ~ Gamma(nu0/2, rate psi0_d/2) per feature, mu_kd | lambda_kd ~ N(m0_d, 1/(beta0 lambda_kd))
    spherical lambda_k ~ Gamma(D nu0/2, rate D psi0/2), Lambda_k = lambda_k I, mu_k | lambda_k ~ N(m0, I/(beta0 lambda_k))
    known     Lambda_k = I / sigma^2 (fixed), mu_k ~ N(m0, tau^2 I)   (the notes' model; beta0 = sigma^2/tau^2)
    data      x_i | c_i = k ~ N(mu_k, Lambda_k^-1)

``scale_inv`` is W^-1 (full, (d, d)), psi (diag, (d,)) or psi (spherical, scalar):
E[Lambda] = nu * W, nu / psi_d, nu / psi respectively, the parametrisation scikit-learn
uses (its ``covariances_`` are E[Lambda]^-1).

Exponential-family form. With T(x) = (1, x, q(x)), q(x) = vech(x x^T) (full, upper
triangle row by row), x*x (diag) or |x|^2 (spherical, known), every expected
log-density E_q[log pi_k + log N(x | mu_k, Lambda_k)] is theta_k . T(x), so a chunk's
log-responsibilities are one GEMM theta (k, p) @ T (p, n), and its sufficient statistics
one GEMM T (p, n) @ r^T (n, k). T is kept in (features, rows) layout.

The global variational state is one matrix ``lam`` (p, k): row 0 the expected counts
N_k, rows 1..d beta0 m0 + sum r x, the rest q0 + sum r q(x). The natural parameters of
q(weights) and q(mu, Lambda) are affine in it, so SVI's step
lam <- (1 - rho) lam + rho (prior + (N/M) stats) is a step in natural parameters.

Computations happen in a working frame (x - shift) / scale chosen from the data (gmm_frame),
so the quadratic expansion stays well conditioned; ``rescale`` moves parameters
between frames exactly (the model is equivariant under these affine maps).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
from scipy.special import digamma

from vifit.models import allocation, mixture
from vifit.models.mixture import LOG_TINY, Stats, Workspace, responsibilities_into  # noqa: F401 (re-exported)
from vifit.models.gmm_frame import Frame, frame_for, from_frame, rescale, to_frame  # noqa: F401 (re-exported)

COVARIANCES = ("full", "diag", "spherical", "known")
WEIGHTS = allocation.KINDS
LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class Spec:
    """The shape of the model: k components, d features, covariance and weights kinds."""

    k: int
    d: int
    covariance: str = "full"
    weights: str = "dirichlet"

    def __post_init__(self):
        if self.covariance not in COVARIANCES or self.weights not in WEIGHTS:
            raise ValueError(f"unknown model kind {self.covariance!r}/{self.weights!r}")

    @property
    def quad_size(self) -> int:
        """Length of q(x): d(d+1)/2, d, or 1."""
        return {"full": self.d * (self.d + 1) // 2, "diag": self.d}.get(self.covariance, 1)

    @property
    def n_stats(self) -> int:
        """p = |T(x)| = 1 + d + quad_size."""
        return 1 + self.d + self.quad_size


@dataclass(frozen=True)
class Prior:
    """Prior hyperparameters, in some frame of coordinates.

    weight_concentration: alpha0; mean: m0 (d,); mean_precision: beta0 (known: sigma^2/tau^2);
    dof: nu0 (unused for known); scale_inv: W0^-1 (d, d) | psi0 (d,) | psi0 () (known: unused);
    noise_var: sigma^2 (known only).
    """

    spec: Spec
    weight_concentration: float
    mean: np.ndarray
    mean_precision: float
    dof: float = 0.0
    scale_inv: np.ndarray = field(default_factory=lambda: np.zeros(()))
    noise_var: float = 1.0

    @functools.cached_property
    def natural(self) -> np.ndarray:
        """lam0 (p,), :func:`prior_natural` computed once (every SVI step adds to it)."""
        return prior_natural(self)


@dataclass
class Variational:
    """q's parameters for k components (mean-parameter form).

    counts: N_k (k,); weight_concentration: alpha (k,) | [a, b] sticks (k, 2) | None (uniform);
    mean_precision: beta (k,) (known: q(mu_k) = N(means_k, noise_var / beta_k I));
    means: m (k, d); dof: nu (k,) (known: unused); scale_inv: W^-1 (k, d, d) | psi (k, d) | psi (k,).

    Treat as immutable: :func:`expected_precision` is computed once per q and kept in
    ``_precision`` (the local step's coefficients and the ELBO's KL both need it, once per SVI step).
    """

    counts: np.ndarray
    weight_concentration: np.ndarray | None
    mean_precision: np.ndarray
    means: np.ndarray
    dof: np.ndarray
    scale_inv: np.ndarray | None
    _precision: tuple | None = field(default=None, init=False, repr=False, compare=False)


# ---------------------------------------------------------------- global step


@functools.lru_cache(maxsize=None)
def triu(d: int) -> tuple:
    """np.triu_indices(d), read-only and cached: the vech layout of every d x d statistic."""
    rows, cols = np.triu_indices(d)
    rows.flags.writeable = cols.flags.writeable = False
    return rows, cols


def prior_natural(prior: Prior) -> np.ndarray:
    """lam0 (p,): (0, beta0 m0, q0) with q0 = W0^-1 + beta0 m0 m0^T (vech), psi0 + beta0 m0^2,
    or d psi0 + beta0 |m0|^2 (known: beta0 |m0|^2)."""
    spec, m0, b0 = prior.spec, prior.mean, prior.mean_precision
    if spec.covariance == "full":
        iu = triu(spec.d)
        quad = (prior.scale_inv + b0 * np.outer(m0, m0))[iu]
    elif spec.covariance == "diag":
        quad = prior.scale_inv + b0 * m0**2
    elif spec.covariance == "spherical":
        quad = np.array([spec.d * float(prior.scale_inv) + b0 * m0 @ m0])
    else:
        quad = np.array([b0 * m0 @ m0])
    return np.concatenate([[0.0], b0 * m0, quad])


def global_step(prior: Prior, stats: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """lam (p, k) = lam0 + scale * stats; scale = N/M turns minibatch statistics into SVI's lam-hat."""
    return prior.natural[:, None] + scale * stats


def variational(prior: Prior, lam: np.ndarray) -> Variational:
    """Mean parameters of q from the natural-parameter matrix lam (p, k)."""
    spec, d = prior.spec, prior.spec.d
    counts = lam[0].copy()
    beta = prior.mean_precision + counts
    means = (lam[1:1 + d] / beta).T.copy()
    quad = lam[1 + d:]
    dof = prior.dof + counts
    if spec.covariance == "full":
        q = np.zeros((spec.k, d, d))
        iu = triu(d)
        q[:, iu[0], iu[1]] = quad.T
        q = q + np.triu(q, 1).transpose(0, 2, 1)
        scale_inv = q - beta[:, None, None] * means[:, :, None] * means[:, None, :]
        scale_inv = 0.5 * (scale_inv + scale_inv.transpose(0, 2, 1))
    elif spec.covariance == "diag":
        scale_inv = quad.T - beta[:, None] * means**2
    elif spec.covariance == "spherical":
        scale_inv = (quad[0] - beta * np.einsum("kd,kd->k", means, means)) / d
    else:
        scale_inv = None
    return Variational(counts=counts, weight_concentration=weight_parameters(prior, counts),
                       mean_precision=beta, means=means, dof=dof, scale_inv=scale_inv)


def weight_parameters(prior: Prior, counts: np.ndarray) -> np.ndarray | None:
    """q(pi)'s parameters from the counts N (k,): see ``allocation.parameters``."""
    return allocation.parameters(prior.spec.weights, prior.weight_concentration, counts)


def natural(prior: Prior, q: Variational) -> np.ndarray:
    """Inverse of :func:`variational`: lam (p, k) from mean parameters."""
    spec, d = prior.spec, prior.spec.d
    beta, m = q.mean_precision, q.means
    counts = beta - prior.mean_precision
    if spec.covariance == "full":
        iu = triu(d)
        quad = (q.scale_inv + beta[:, None, None] * m[:, :, None] * m[:, None, :])[:, iu[0], iu[1]].T
    elif spec.covariance == "diag":
        quad = (q.scale_inv + beta[:, None] * m**2).T
    elif spec.covariance == "spherical":
        quad = (d * q.scale_inv + beta * np.einsum("kd,kd->k", m, m))[None, :]
    else:
        quad = (beta * np.einsum("kd,kd->k", m, m))[None, :]
    return np.vstack([counts[None, :], (beta[:, None] * m).T, quad])


# ---------------------------------------------------------------- expectations


def expected_log_weights(prior: Prior, q: Variational) -> np.ndarray:
    """E_q[log pi_k]: (k,)."""
    return allocation.expected_log_weights(prior.spec.weights, q.weight_concentration, prior.spec.k)


def expected_weights(prior: Prior, q: Variational) -> np.ndarray:
    """E_q[pi_k] renormalised over the k represented components (dp leaves mass beyond k): (k,)."""
    return allocation.expected_weights(prior.spec.weights, q.weight_concentration, prior.spec.k)


def expected_precision(prior: Prior, q: Variational):
    """(E[Lambda_k], E[log |Lambda_k|], log |W_k^-1| or None).

    E[Lambda]: (k, d, d) full, (k, d) diag, (k,) spherical/known (times the identity).
    Computed once per q (kept in ``q._precision``)."""
    if q._precision is None:
        q._precision = _expected_precision(prior, q)
    return q._precision


def _expected_precision(prior: Prior, q: Variational):
    spec, d, nu = prior.spec, prior.spec.d, q.dof
    if spec.covariance == "full":
        chol = np.linalg.cholesky(q.scale_inv)
        logdet_inv = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        eye = np.broadcast_to(np.eye(d), q.scale_inv.shape)
        inv_chol = np.linalg.solve(chol, eye)
        w = inv_chol.transpose(0, 2, 1) @ inv_chol
        e_log_det = digamma(0.5 * (nu[:, None] - np.arange(d))).sum(axis=1) + d * np.log(2.0) - logdet_inv
        return nu[:, None, None] * w, e_log_det, logdet_inv
    if spec.covariance == "diag":
        e_log_det = d * digamma(0.5 * nu) + d * np.log(2.0) - np.log(q.scale_inv).sum(axis=1)
        return nu[:, None] / q.scale_inv, e_log_det, None
    if spec.covariance == "spherical":
        e_log_det = d * (digamma(0.5 * d * nu) - np.log(0.5 * d * q.scale_inv))
        return nu / q.scale_inv, e_log_det, None
    return np.full(spec.k, 1.0 / prior.noise_var), np.full(spec.k, -d * np.log(prior.noise_var)), None


def quadratic_form(spec: Spec, e_lambda: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """v_k^T E[Lambda_k] v_k for vectors (k, d): (k,)."""
    if spec.covariance == "full":
        return np.einsum("kd,kde,ke->k", vectors, e_lambda, vectors)
    if spec.covariance == "diag":
        return np.einsum("kd,kd->k", vectors * e_lambda, vectors)
    return e_lambda * np.einsum("kd,kd->k", vectors, vectors)


def log_resp_coefficients(prior: Prior, q: Variational) -> np.ndarray:
    """theta (k, p): E_q[log pi_k + log N(x | mu_k, Lambda_k)] = theta_k . T(x), every constant kept.

    E[(x - mu)^T Lambda (x - mu)] = d / beta + (x - m)^T E[Lambda] (x - m)."""
    spec, d = prior.spec, prior.spec.d
    e_lambda, e_log_det, _ = expected_precision(prior, q)
    beta, m = q.mean_precision, q.means
    theta = np.empty((spec.k, spec.n_stats))
    theta[:, 0] = (expected_log_weights(prior, q) + 0.5 * e_log_det - 0.5 * d / beta
                   - 0.5 * quadratic_form(spec, e_lambda, m) - 0.5 * d * LOG_2PI)
    if spec.covariance == "full":
        theta[:, 1:1 + d] = np.einsum("kde,ke->kd", e_lambda, m)
        iu = triu(d)
        double = np.where(iu[0] == iu[1], 1.0, 2.0)
        theta[:, 1 + d:] = -0.5 * e_lambda[:, iu[0], iu[1]] * double
    elif spec.covariance == "diag":
        theta[:, 1:1 + d] = e_lambda * m
        theta[:, 1 + d:] = -0.5 * e_lambda
    else:
        theta[:, 1:1 + d] = e_lambda[:, None] * m
        theta[:, 1 + d] = -0.5 * e_lambda
    return theta


# ---------------------------------------------------------------- local step


def fill_frame_rows(x: np.ndarray, frame: Frame, out: np.ndarray) -> np.ndarray:
    """z = R^T (x - shift)/scale in (d, n) layout, written into out (d, >= n). x: (n, d)."""
    z = out[:, :x.shape[0]]
    np.subtract(x.T, frame.shift[:, None], out=z)
    z *= (1.0 / frame.scale)[:, None]
    if frame.rotation is not None:
        np.matmul(frame.rotation.T, z.copy(), out=z)
    return z


def fill_features(spec: Spec, x: np.ndarray, frame: Frame, out: np.ndarray) -> np.ndarray:
    """T(z) for z = (x - shift)/scale in (p, n) layout, written into out[:, :n]. x: (n, d)."""
    n, d = x.shape
    t = out[:, :n]
    t[0] = 1.0
    z = fill_frame_rows(x, frame, t[1:1 + d])
    quad = t[1 + d:]
    if spec.covariance == "full":
        row = 0
        for j in range(d):
            np.multiply(z[j:], z[j], out=quad[row:row + d - j])
            row += d - j
    elif spec.covariance == "diag":
        np.multiply(z, z, out=quad)
    else:
        np.einsum("dn,dn->n", z, z, out=quad[0])
    return t


def local_step(spec: Spec, theta: np.ndarray, x: np.ndarray, frame: Frame, ws: Workspace,
               weights: np.ndarray | None = None) -> Stats:
    """Responsibilities of the rows x (n <= ws.chunk_rows, d) and their statistics (see
    ``mixture.local_statistics``); weights (n,): the rows' frequency weights, or None."""
    features = fill_features(spec, x, frame, ws.features)
    return mixture.local_statistics(theta, features, ws, weights)


def chunk_statistics(spec: Spec, x: np.ndarray, frame: Frame, resp: np.ndarray, ws: Workspace,
                     weights: np.ndarray | None = None) -> Stats:
    """Statistics of rows x (n, d) under given responsibilities resp (k, n) (initialisation)."""
    features = fill_features(spec, x, frame, ws.features)
    return mixture.given_statistics(features, resp, weights)


def responsibilities(spec: Spec, theta: np.ndarray, x: np.ndarray, frame: Frame, ws: Workspace):
    """(resp (n, k), lse (n,)) for rows x (n <= ws.chunk_rows, d); lse = log sum_k exp(theta T)."""
    features = fill_features(spec, x, frame, ws.features)
    return mixture.responsibilities(theta, features, ws)
