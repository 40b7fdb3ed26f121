"""The allocation half of a mixture: q(pi) for the three kinds of mixing weights.

    uniform    pi_k = 1/K (fixed)
    dirichlet  pi ~ Dirichlet(alpha0, ..., alpha0)
    dp         pi_k = v_k prod_{j<k} (1 - v_j), v_k ~ Beta(1, alpha0)  (truncated at K sticks)

Every function takes the kind, the prior concentration alpha0 and the expected counts N_k (k,)
or q's parameters: alpha (k,) for dirichlet, sticks [a_k, b_k] (k, 2) for dp, None for uniform.
An observation model never sees these: the mixture adds E[log pi_k] to its coefficients and
KL(q(pi) || p(pi)) to its bound.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma, gammaln

KINDS = ("uniform", "dirichlet", "dp")


def parameters(kind: str, alpha0: float, counts: np.ndarray) -> np.ndarray | None:
    """alpha = alpha0 + N (dirichlet); sticks [1 + N_k, alpha0 + sum_{j>k} N_j] (dp); None (uniform)."""
    if kind == "dirichlet":
        return alpha0 + counts
    if kind == "dp":
        tail = np.concatenate([np.cumsum(counts[::-1])[::-1][1:], [0.0]])
        return np.column_stack([1.0 + counts, alpha0 + tail])
    return None


def expected_log_weights(kind: str, alpha: np.ndarray | None, k: int) -> np.ndarray:
    """E_q[log pi_k]: (k,)."""
    if kind == "dirichlet":
        return digamma(alpha) - digamma(alpha.sum())
    if kind == "dp":
        total = digamma(alpha.sum(axis=1))
        log_v, log_rest = digamma(alpha[:, 0]) - total, digamma(alpha[:, 1]) - total
        return log_v + np.concatenate([[0.0], np.cumsum(log_rest)[:-1]])
    return np.full(k, -np.log(k))


def expected_weights(kind: str, alpha: np.ndarray | None, k: int) -> np.ndarray:
    """E_q[pi_k] renormalised over the k represented components (dp leaves mass beyond k): (k,)."""
    if kind == "dirichlet":
        w = alpha / alpha.sum()
    elif kind == "dp":
        v = alpha[:, 0] / alpha.sum(axis=1)
        w = v * np.concatenate([[1.0], np.cumprod(1.0 - v)[:-1]])
    else:
        w = np.full(k, 1.0)
    return w / w.sum()


def kl(kind: str, alpha0: float, alpha: np.ndarray | None) -> float:
    """KL(q(pi) || p(pi)): Dirichlet(alpha) vs Dirichlet(alpha0, ..., alpha0), or the
    sum over sticks of KL(Beta(a_k, b_k) || Beta(1, alpha0)); 0 for fixed uniform weights."""
    a0 = alpha0
    if kind == "dirichlet":
        total = alpha.sum()
        k = alpha.shape[0]
        return float(gammaln(total) - gammaln(alpha).sum() - gammaln(k * a0) + k * gammaln(a0)
                     + ((alpha - a0) * (digamma(alpha) - digamma(total))).sum())
    if kind == "dp":
        a, b = alpha[:, 0], alpha[:, 1]
        ab = digamma(a + b)
        return float((betaln(1.0, a0) - betaln(a, b) + (a - 1.0) * digamma(a) + (b - a0) * digamma(b)
                      + (1.0 + a0 - a - b) * ab).sum())
    return 0.0
