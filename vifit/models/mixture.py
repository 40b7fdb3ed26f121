"""What every mixture shares: the local step over T(x), its statistics, and the protocol the loops use.

A mixture is an *allocation* (``allocation``: uniform, Dirichlet or truncated-DP weights) times an
*observation model* (the Gaussian of ``gmm``, or a product of per-column families in
``families``). Each observation model is an exponential family with a conjugate prior, so
E_q[log pi_k + log p(x | c = k)] = theta_k . T(x) for sufficient statistics T(x) (p, n) with
row 0 equal to 1, and the whole local step is two GEMMs: theta (k, p) @ T (p, n) for the
log-responsibilities and T (p, n) @ r^T (n, k) for the statistics. The global state is one
matrix lam (p, k) = prior + summed statistics (row 0: the counts N_k).

The loops (``inference``) hold a model object with this protocol and never a concrete model:

    k, n_stats                      components, p
    natural                         lam0 (p,), the prior's natural parameters
    global_step(t, scale=1.0)       lam (p, k) = lam0 + scale * t
    variational(lam) -> q           q's parameters (opaque to the loops)
    coefficients(q) -> theta        (k, p), every constant kept
    elbo(q, stats, theta=None)      the full bound (working frame) for q and the statistics' r
    fill_features(x, out) -> T      T(x) (p, n) for rows x (n, D), in out[:, :n]
    local_step(theta, x, ws, w)     Stats of rows x under their optimal responsibilities (usually
                                    local_statistics of fill_features; the Gaussian's missing cells differ)
    embed(x, out) -> z              (e, n) coordinates of the rows for k-means++ starts
    embed_dim, log_jacobian, weights (allocation kind)

Row weights w_i >= 0 (frequency weights) enter the statistics only: t = T diag(w) r^T and the
entropy term sum_i w_i sum_k r_ik log r_ik, so an integer weight is exactly that many copies
of the row, and a weight of 0 drops it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOG_TINY = -700.0


class Workspace:
    """Buffers reused across chunks and sweeps: T (p, rows), logits/resp (k, rows), lse (rows,).

    shape: anything with ``n_stats`` and ``k`` (a gmm.Spec or a model)."""

    def __init__(self, shape, chunk_rows: int):
        self.chunk_rows = int(chunk_rows)
        self.features = np.empty((shape.n_stats, self.chunk_rows))
        self.logits = np.empty((shape.k, self.chunk_rows))
        self.lse = np.empty(self.chunk_rows)


@dataclass
class Stats:
    """Additive sufficient statistics of a block of rows.

    t: (p, k) = sum_i w_i T(x_i) r_ik^T; neg_entropy: sum_i w_i sum_k r_ik log r_ik; rows: block size
    (rows, not their weight: the weight total is t[0].sum())."""

    t: np.ndarray
    neg_entropy: float = 0.0
    rows: int = 0

    def __add__(self, other: "Stats") -> "Stats":
        return Stats(self.t + other.t, self.neg_entropy + other.neg_entropy, self.rows + other.rows)

    @staticmethod
    def zeros(shape) -> "Stats":
        return Stats(np.zeros((shape.n_stats, shape.k)), 0.0, 0)


def responsibilities_into(theta: np.ndarray, features: np.ndarray, out: np.ndarray,
                          lse: np.ndarray) -> None:
    """out (k, n) <- softmax over k of theta @ features, in log space; lse (n,) <- log-normalisers."""
    np.matmul(theta, features, out=out)
    np.max(out, axis=0, out=lse)
    out -= lse
    # exp below -700 would give subnormal numbers, which make exp and the next GEMM ~20x
    # slower; such responsibilities (< 1e-304) are kept at 1e-304 relative to the largest.
    np.maximum(out, LOG_TINY, out=out)
    np.exp(out, out=out)
    total = out.sum(axis=0)
    out /= total
    np.log(total, out=total)
    lse += total


def local_statistics(theta: np.ndarray, features: np.ndarray, ws: Workspace,
                     weights: np.ndarray | None = None) -> Stats:
    """Optimal responsibilities of the rows whose T is ``features`` (p, n), and their statistics.

    sum_ik r_ik log r_ik = sum_ik r_ik (theta T)_ik - sum_i lse_i = <theta, t> - sum lse, so the
    entropy costs nothing beyond the two GEMMs (weighted: w . lse)."""
    n = features.shape[1]
    resp, lse = ws.logits[:, :n], ws.lse[:n]
    responsibilities_into(theta, features, resp, lse)
    if weights is None:
        t = features @ resp.T
        neg_entropy = float(np.vdot(theta.T, t) - lse.sum())
    else:
        resp *= weights
        t = features @ resp.T
        neg_entropy = float(np.vdot(theta.T, t) - weights @ lse)
    return Stats(t, min(neg_entropy, 0.0), n)


def given_statistics(features: np.ndarray, resp: np.ndarray, weights: np.ndarray | None = None) -> Stats:
    """Statistics of rows whose T is features (p, n) under given responsibilities resp (k, n)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(resp > 0, resp * np.log(np.where(resp > 0, resp, 1.0)), 0.0)
    if weights is None:
        return Stats(features @ resp.T, float(plogp.sum()), features.shape[1])
    return Stats(features @ (resp * weights).T, float(plogp.sum(axis=0) @ weights), features.shape[1])


def responsibilities(theta: np.ndarray, features: np.ndarray, ws: Workspace):
    """(resp (n, k), lse (n,)) of the rows whose T is features (p, n); lse = log sum_k exp(theta T)."""
    n = features.shape[1]
    resp, lse = ws.logits[:, :n], ws.lse[:n]
    responsibilities_into(theta, features, resp, lse)
    return resp.T.copy(), lse.copy()
