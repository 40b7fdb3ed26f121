"""Helpers shared by the GMM tests: small data sets and a direct handle on the CAVI fit."""

from __future__ import annotations

import numpy as np

from vifit.inference import cavi
from vifit.models import gmm
from vifit.models.gmm_model import GaussianMixture
from vifit.models.gmm_prior import build_prior, data_moments


def blobs(n: int, d: int, k: int, seed: int = 0, spread: float = 4.0) -> np.ndarray:
    """n rows around k random centres (unit noise)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, spread, size=(k, d))
    return centres[rng.integers(k, size=n)] + rng.standard_normal((n, d))


def sklearn_prior(spec: gmm.Spec, x: np.ndarray, alpha0: float | None = None) -> gmm.Prior:
    """scikit-learn's default prior for x (data units)."""
    d = x.shape[1]
    scale_inv = {"full": np.atleast_2d(np.cov(x.T)), "diag": x.var(0, ddof=1),
                 "spherical": np.asarray(x.var(0, ddof=1).mean())}[spec.covariance]
    return build_prior(spec, weight_concentration=alpha0 or 1.0 / spec.k, mean=x.mean(0), mean_precision=1.0,
                       dof=float(d), scale_inv=scale_inv)


def problem_for(spec: gmm.Spec, x: np.ndarray, prior: gmm.Prior | None = None, chunk_rows: int = 64):
    """A CAVI problem in the data's working frame (prior in data units, vifit's defaults if None)."""
    from vifit.api.gmm_fit import resolve_prior

    moments = data_moments(spec, x)
    if prior is None:
        prior, _ = resolve_prior(spec, moments, {}, note=lambda message: None)
    frame = moments.frame
    return cavi.Problem(GaussianMixture(spec, gmm.to_frame(prior, spec, frame), frame), x, chunk_rows=chunk_rows)


def posterior(problem: cavi.Problem, lam: np.ndarray) -> gmm.Variational:
    """q's parameters in data units."""
    return gmm.from_frame(gmm.variational(problem.model.prior, lam), problem.model.spec, problem.model.frame)
