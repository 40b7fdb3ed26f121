"""The Bayesian Gaussian mixture as a model object of the ``mixture`` protocol (what the loops hold).

A thin binding of ``gmm``'s functions to one (spec, prior, frame): the loops call these methods and
never ``gmm`` itself, so any other mixture with the same methods runs through the same loops.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vifit.models import gmm, gmm_missing, gmm_patterns
from vifit.models.gmm_elbo import elbo as gmm_elbo
from vifit.models.mixture import local_statistics


@dataclass(frozen=True)
class GaussianMixture:
    """spec (k, d, covariance, weights), prior (in the working frame), frame (data -> working)."""

    spec: gmm.Spec
    prior: gmm.Prior
    frame: gmm.Frame
    missing: bool = False  # the rows may hold NaN cells, missing at random (models.gmm_missing)
    # the last theta's E[Lambda], m and constants for rows with missing cells: every chunk of a pass
    # has the same theta, and deriving them (a k x d x d solve) costs a chunk's worth of time
    _marginals: dict = field(default_factory=dict, init=False, compare=False, repr=False, hash=False)

    kind = "gmm"

    @property
    def k(self) -> int:
        return self.spec.k

    @property
    def n_stats(self) -> int:
        return self.spec.n_stats

    @property
    def weights(self) -> str:
        return self.spec.weights

    @property
    def natural(self) -> np.ndarray:
        return self.prior.natural

    @property
    def embed_dim(self) -> int:
        return self.spec.d

    @property
    def log_jacobian(self) -> float:
        return self.frame.log_jacobian

    def cells_log_jacobian(self, observed: np.ndarray) -> float:
        """log |dz/dx| of the observed cells, observed (d,) the (weighted) count of each column's
        observed cells: with missing cells the bound is on the density of x_O, whose change of
        frame counts only the coordinates a row has (no rotation is used with missing cells)."""
        return float(-(np.asarray(observed, dtype=np.float64) @ np.log(np.broadcast_to(self.frame.scale, (self.spec.d,)))))

    def global_step(self, t: np.ndarray, scale: float = 1.0) -> np.ndarray:
        return gmm.global_step(self.prior, t, scale)

    def variational(self, lam: np.ndarray) -> gmm.Variational:
        return gmm.variational(self.prior, lam)

    def coefficients(self, q: gmm.Variational) -> np.ndarray:
        return gmm.log_resp_coefficients(self.prior, q)

    def elbo(self, q: gmm.Variational, stats: gmm.Stats, theta: np.ndarray | None = None) -> float:
        return gmm_elbo(self.prior, q, stats, theta)

    def fill_features(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """T(z) (p, n); a missing cell counts as the frame's centre (z = 0): used only for starts,
        the local step treats such rows exactly (:meth:`local_step`)."""
        return gmm.fill_features(self.spec, self._centred(x), self.frame, out)

    def embed(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The rows in the working frame, z (d, n), written into out (d, >= n) (missing cells: 0)."""
        return gmm.fill_frame_rows(self._centred(x), self.frame, out)

    def _centred(self, x: np.ndarray) -> np.ndarray:
        if not self.missing or not np.isnan(x).any():
            return x
        return np.where(np.isnan(x), self.frame.shift, x)

    @property
    def fixed_features(self) -> bool:
        """Whether local_step is local_statistics of fill_features (not with missing cells), so a
        loop may build T(x) of fixed rows once (inference.starts)."""
        return not self.missing

    def local_step(self, theta: np.ndarray, x: np.ndarray, ws, weights: np.ndarray | None = None) -> gmm.Stats:
        """Statistics of the rows x (n <= ws.chunk_rows, d) under their optimal responsibilities;
        rows with missing cells get the exact treatment of ``gmm_missing``."""
        if not self.missing:
            return local_statistics(theta, self.fill_features(x, ws.features), ws, weights)
        holes = np.isnan(x).any(axis=1)
        if not holes.any():
            return local_statistics(theta, gmm.fill_features(self.spec, x, self.frame, ws.features), ws, weights)
        complete = ~holes
        total = gmm.Stats.zeros(self.spec)
        if complete.any():
            w = None if weights is None else weights[complete]
            total = local_statistics(theta, gmm.fill_features(self.spec, x[complete], self.frame, ws.features),
                                     ws, w)
        z = (x[holes] - self.frame.shift) / self.frame.scale
        w = None if weights is None else weights[holes]
        # rows grouped by pattern (gmm_missing works per run of one pattern); the sort is stable, so
        # rows already grouped (a CAVI fit sorts them once) keep their order and their sums
        order = gmm_patterns.row_order(np.isnan(z))
        return total + gmm_missing.statistics(self.spec, theta, z[order], None if w is None else w[order],
                                              self._marginal(theta))

    def _marginal(self, theta: np.ndarray):
        """gmm_missing.precision_and_mean(spec, theta), kept for the theta last asked (row threads may
        ask at once: each computes and stores the same value)."""
        key = theta.tobytes()
        cached = self._marginals.get("last")
        if cached is not None and cached[0] == key:
            return cached[1]
        value = gmm_missing.precision_and_mean(self.spec, theta)
        self._marginals["last"] = (key, value)
        return value

    def in_domain(self, lam: np.ndarray) -> bool:
        """lam (p, k) with counts >= 0 converts to a valid q: the Wishart/Gamma scale is positive
        (definite); the concentrations, beta and nu follow from the counts (checked by the caller)."""
        scale_inv = self.variational(lam).scale_inv
        if self.spec.covariance == "full":
            try:
                np.linalg.cholesky(scale_inv)
            except np.linalg.LinAlgError:
                return False
            return True
        return scale_inv is None or bool((np.asarray(scale_inv) > 0).all())
