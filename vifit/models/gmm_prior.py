"""Data-scaled default priors for the Bayesian GMM (scikit-learn's defaults, made safe).

Defaults (data units): m0 = column means (``known``: 0, the notes' model); beta0 = 1;
nu0 = d; W0^-1 = the sample covariance (full), the column variances (diag) or their mean
(spherical), all with divisor n - 1; alpha0 = 1/k; ``known``: sigma = 1 and tau the root
mean square of the data about m0. A singular default covariance (constant columns, d >= n,
duplicated rows) gets a ridge of 1e-6 times its mean variance (or 1e-6 in the working
frame when every column is constant) so the prior stays proper.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from vifit.models.gmm import Frame, Prior, Spec, frame_for
from vifit.models.spread import Spread, column_spread

RIDGE = 1e-6


@dataclass
class Moments:
    """Column mean (d,), population std (d,), and the sample covariance with divisor n - 1
    (zeros when n = 1): (d, d) for a full-covariance model, only its diagonal (d,) otherwise
    (a d x d matrix of 5,000 columns is 200 MB that a diag fit never uses); computed in
    chunks; the working frame chosen from them."""

    n: int
    mean: np.ndarray
    std: np.ndarray
    cov: np.ndarray
    frame: Frame


def data_moments(spec: Spec, x: np.ndarray, chunk_rows: int = 8192, spread: Spread | None = None,
                 weights: np.ndarray | None = None) -> Moments:
    """Passes over x (n, d) in chunks: mean and std without overflow (``spread.column_spread``,
    unless given), then the covariance accumulated in the working frame.

    weights (n,): frequency weights; the moments are those of the table with row i repeated
    w_i times (n is then the weight total), so a weight of 0 drops the row."""
    if weights is not None or np.isnan(x).any():
        return _weighted_moments(spec, x, weights, chunk_rows)
    n, d = x.shape
    if spread is None:
        spread = column_spread(x, chunk_rows)
    mean, std = spread.mean, spread.std
    frame = frame_for(spec, mean, std)
    if spec.covariance != "full":  # only the variances are used: no d x d work for wide data
        with np.errstate(over="ignore"):
            cov = std * std * (n / (n - 1)) if n > 1 else np.zeros(d)
        return Moments(n=n, mean=mean, std=std, cov=cov, frame=frame)
    scatter = np.zeros((d, d))
    for start in range(0, n, chunk_rows):
        z = (np.asarray(x[start:start + chunk_rows], dtype=np.float64) - mean) / frame.scale
        scatter += z.T @ z
    cov_frame = scatter / (n - 1) if n > 1 else np.zeros((d, d))
    cov_frame = 0.5 * (cov_frame + cov_frame.T)
    if spec.covariance == "full" and d > 1 and is_singular(cov_frame):
        frame = replace(frame, rotation=principal_axes(cov_frame))
    cov = cov_frame * np.multiply.outer(frame.scale, frame.scale)
    return Moments(n=n, mean=mean, std=std, cov=0.5 * (cov + cov.T), frame=frame)


def _weighted_moments(spec: Spec, x: np.ndarray, weights: np.ndarray | None, chunk_rows: int) -> Moments:
    """:func:`data_moments` of the rows repeated by their frequency weights (n = the weight total)
    and of the observed cells (NaN = missing): each mean and variance over the column's observed
    cells, each covariance over the rows where both columns are observed (pairwise). With missing
    cells the frame is never rotated (a rotation would mix missing coordinates into every one)."""
    if weights is None:
        weights = np.ones(x.shape[0])
    kept = weights > 0
    x, weights = np.asarray(x[kept], dtype=np.float64), weights[kept]
    seen = ~np.isnan(x)
    filled = np.where(seen, x, 0.0)
    total = float(weights.sum())
    counts = np.maximum(weights @ seen, 1e-300)  # observed weight per column
    mean = weights @ filled / counts
    centred = np.where(seen, x - mean, 0.0)
    std = np.sqrt(np.maximum(weights @ centred**2 / counts, 0.0))
    frame = frame_for(spec, mean, std)
    z = centred / frame.scale
    if spec.covariance == "full":
        pairs = (seen * weights[:, None]).T @ seen.astype(np.float64)
        scatter = (z * weights[:, None]).T @ z
    else:
        pairs, scatter = counts, weights @ (z * z)
    return observed_moments(spec, total, mean, std, frame, pairs, scatter, bool(seen.all()))


def observed_moments(spec: Spec, total: float, mean: np.ndarray, std: np.ndarray, frame: Frame,
                     pairs: np.ndarray, scatter: np.ndarray, complete: bool) -> Moments:
    """Moments from the sums of the observed cells about their column means, in the working frame
    (frame_for(spec, mean, std)): pairs (d, d) the weight of the rows where both columns are
    observed and scatter (d, d) their sum of centred products (full), else both (d,) per column;
    complete: no cell is missing. Shared by the in-memory table (``_weighted_moments``) and the
    streamed one (``gmm_observed``)."""
    cov_frame = np.where(pairs > 1, scatter / np.maximum(pairs - 1.0, 1e-300), 0.0)
    if spec.covariance != "full":
        return Moments(n=total, mean=mean, std=std, cov=cov_frame * frame.scale**2, frame=frame)
    cov_frame = 0.5 * (cov_frame + cov_frame.T)
    if not complete:  # pairwise covariances need not form a positive semi-definite matrix: project onto one
        eigen, vectors = np.linalg.eigh(cov_frame)
        cov_frame = (vectors * np.maximum(eigen, 0.0)) @ vectors.T
        cov_frame = 0.5 * (cov_frame + cov_frame.T)
    if len(mean) > 1 and is_singular(cov_frame) and complete:
        frame = replace(frame, rotation=principal_axes(cov_frame))
    cov = cov_frame * np.multiply.outer(frame.scale, frame.scale)
    return Moments(n=total, mean=mean, std=std, cov=0.5 * (cov + cov.T), frame=frame)


def is_singular(cov_frame: np.ndarray) -> bool:
    """The covariance (d, d) in the working frame is not safely positive definite (it gets a ridge)."""
    d = cov_frame.shape[0]
    level = float(np.trace(cov_frame)) / d if d else 0.0
    eigen = np.linalg.eigvalsh(cov_frame) if d else np.ones(1)
    return not (level > 0 and eigen.min() > 1e-10 * level)


def principal_axes(cov_frame: np.ndarray) -> np.ndarray:
    """Eigenvectors (d, d) of cov_frame as columns, by decreasing eigenvalue."""
    _, vectors = np.linalg.eigh(cov_frame)
    return np.ascontiguousarray(vectors[:, ::-1])


def dependent_columns(moments: Moments) -> tuple[list[int], int]:
    """(indices of the columns that take part in an exact linear dependence, rank of the data).

    Exact to round-off: directions whose variance is below 1e-12 of the mean variance in the
    working frame; empty when there is none (or when every column is constant)."""
    s = moments.frame.scale
    cov_frame = moments.cov / np.multiply.outer(s, s)
    d = cov_frame.shape[0]
    level = float(np.trace(cov_frame)) / d if d else 0.0
    if not level > 0:
        return [], 0
    eigen, vectors = np.linalg.eigh(cov_frame)
    null = vectors[:, eigen <= 1e-12 * level]
    varying = np.diag(cov_frame) > 1e-12 * level
    involved = np.flatnonzero(varying & (np.abs(null) > 1e-6).any(axis=1)) if null.size else np.zeros(0, int)
    return involved.tolist(), int(d - null.shape[1])


def ridge_if_singular(cov_frame: np.ndarray) -> tuple[np.ndarray, bool]:
    """cov (d, d) in the working frame, or its diagonal (d,), plus a ridge when it is not
    safely positive definite."""
    d = cov_frame.shape[0]
    if cov_frame.ndim == 1:  # the variances of a diag/spherical/known model
        level = float(np.sum(cov_frame)) / d if d else 0.0
        if level > 0 and cov_frame.min() > 1e-10 * level:
            return cov_frame, False
        return cov_frame + RIDGE * (level if level > 0 else 1.0), True
    if not is_singular(cov_frame):
        return cov_frame, False
    level = float(np.trace(cov_frame)) / d
    return cov_frame + RIDGE * (level if level > 0 else 1.0) * np.eye(d), True


def default_scale_inv(spec: Spec, moments: Moments) -> tuple[np.ndarray, bool]:
    """W0^-1 default (data units) and whether a ridge was needed."""
    s = moments.frame.scale
    if spec.covariance != "full":  # only the variances matter: never form a d x d matrix
        variances = np.diag(moments.cov) if moments.cov.ndim == 2 else moments.cov
        scaled, ridged = ridge_if_singular(variances / s**2)
        variances = scaled * s**2
        return (variances.copy() if spec.covariance == "diag" else np.asarray(float(np.mean(variances)))), ridged
    cov_frame, ridged = ridge_if_singular(moments.cov / np.multiply.outer(s, s))
    cov = cov_frame * np.multiply.outer(s, s)
    return 0.5 * (cov + cov.T), ridged


def default_tau(moments: Moments, mean_prior: np.ndarray) -> float:
    """Root mean square of the data about m0 (1 when that is 0)."""
    terms = np.concatenate([moments.std, moments.mean - mean_prior])
    big = float(np.max(np.abs(terms))) if terms.size else 0.0
    if not (big > 0 and np.isfinite(big)):
        return 1.0
    return big * float(np.sqrt(np.mean((terms / big) ** 2) * 2.0))  # scaled by its largest term: no overflow


def build_prior(spec: Spec, *, weight_concentration: float, mean: np.ndarray, mean_precision: float = 1.0,
                dof: float = 0.0, scale_inv=None, sigma: float = 1.0, tau: float = 1.0) -> Prior:
    """A Prior in data units; for ``known``, beta0 = sigma^2 / tau^2 and noise_var = sigma^2."""
    mean = np.asarray(mean, dtype=np.float64)
    if spec.covariance == "known":
        return Prior(spec, float(weight_concentration), mean, sigma**2 / tau**2, 0.0, np.zeros(()), sigma**2)
    return Prior(spec, float(weight_concentration), mean, float(mean_precision), float(dof),
                 np.asarray(scale_inv, dtype=np.float64), 1.0)
