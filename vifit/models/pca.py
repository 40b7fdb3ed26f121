"""Exact PCA and the probabilistic PCA model built on it (Tipping & Bishop 1999).

Pure mathematics on numpy arrays. Conventions (the same as scikit-learn's, so
it can serve as the oracle): eigenvalues of the *unbiased* sample covariance
(divisor n - 1); the PPCA noise variance is the mean of the d - k discarded
eigenvalues, counting the zero eigenvalues when n <= d; each component is
sign-normalised so that its largest-magnitude loading is positive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh, svd

from vifit.models.spread import column_spread, power_of_two_scale

CHUNK_ROWS = 4096
LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass
class PCAFit:
    """mean: (d,); components: (k, d) orthonormal rows; explained_variance: (k,);
    total_variance: trace of the sample covariance; noise_variance: PPCA sigma^2;
    singular_values: (k,) of the centred data; solver: "covariance_eigh" or "svd";
    log2_spread: (d,) log2 of each column's population std (-inf when constant)."""

    mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    total_variance: float
    noise_variance: float
    singular_values: np.ndarray
    n_rows: int
    solver: str
    log2_spread: np.ndarray | None = None  # (d,) log2 of each column's population std

    @property
    def explained_variance_ratio(self) -> np.ndarray:
        return self.explained_variance / self.total_variance if self.total_variance > 0 else np.zeros_like(
            self.explained_variance)


def choose_solver(n: int, d: int) -> str:
    """Scatter-matrix eigendecomposition costs n*d^2 (chunked GEMMs) + d^3 and reads the
    data without copying it; an economy SVD of the centred copy costs ~4*n*d*min(n, d).
    For n >= d the scatter route is cheaper; for wide data (n < d) the SVD avoids
    forming a d x d matrix."""
    return "covariance_eigh" if n >= d else "svd"


# Forming sum x x^T - n mean mean^T loses about log10(|mean_j mean_k| / (sd_j sd_k))
# digits to cancellation; below this ratio (<= 1e-10 relative error) the data are used
# as they are, above it each chunk is shifted to a rough centre first.
SHIFT_RATIO = 1e3


def mean_and_scatter(x: np.ndarray, chunk_rows: int = CHUNK_ROWS, centre: np.ndarray | None = None,
                     unit: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Mean of x (d,) and centred scatter S = sum_i (z_i - zbar)(z_i - zbar)^T (d, d) of the rows
    z_i = (x_i - centre) / unit, one pass (centre None: 0, or a rough centre when needed).

    Without a centre, the rows are shifted by one (zero when a strided probe of rows shows the
    mean is within SHIFT_RATIO standard deviations, else the probe's mean). Then
    G = sum z z^T and t = sum z are accumulated chunk by chunk with GEMMs, and S = G - t t^T / n.
    Memory: O(chunk * d) beyond the data.
    """
    n, d = x.shape
    if centre is None:
        probe = np.asarray(x[:: max(1, n // 1024)], dtype=np.float64)
        probe_centre, spread = probe.mean(axis=0), probe.std(axis=0)
        centre = probe_centre if np.any(np.abs(probe_centre) > SHIFT_RATIO * spread) else None
    shift = centre is not None
    gram, block_gram = np.zeros((d, d)), np.empty((d, d))
    total = np.zeros(d)
    copy = shift or unit != 1.0 or x.dtype != np.float64
    buffer = np.empty((min(chunk_rows, n), d)) if copy else None
    if buffer is None:  # no copy is needed, so one large GEMM is the most efficient
        chunk_rows = n
    for start in range(0, n, chunk_rows):
        stop = min(start + chunk_rows, n)
        if buffer is None:
            block = x[start:stop]
        else:
            block = buffer[: stop - start]
            np.subtract(x[start:stop], centre if shift else 0.0, out=block)
            if unit != 1.0:
                block *= 1.0 / unit  # unit is a power of two: exact
        np.dot(block.T, block, out=block_gram)
        gram += block_gram
        total += block.sum(axis=0)
    delta = total / n
    scatter = gram - n * np.outer(delta, delta)
    return (centre if shift else 0.0) + unit * delta, scatter


def sign_normalise(components: np.ndarray) -> np.ndarray:
    """Flip each row (k, d) so its largest-|value| entry (first on ties) is positive."""
    pivots = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(components.shape[0]), pivots])
    signs[signs == 0] = 1.0
    return components * signs[:, None]


# While the largest column variance is in this range, the plain one-GEMM scatter (``mean_and_scatter``
# without a scale) is exact enough and fastest; outside it the rows are scaled first.
PLAIN_VARIANCES = (1e-200, 1e200)


def _plain_is_safe(mean: np.ndarray, scatter: np.ndarray, n: int) -> bool:
    if not (np.isfinite(mean).all() and np.isfinite(scatter).all()):
        return False
    largest = float(np.max(np.diag(scatter))) / n if scatter.size else 0.0
    return PLAIN_VARIANCES[0] < largest < PLAIN_VARIANCES[1]  # 0: constant, or squares that underflowed


def fit(x: np.ndarray, k: int) -> PCAFit:
    """Exact PCA of x: (n, d) with n >= 2 and 1 <= k <= min(n, d).

    At extreme scales (and for the SVD solver) computed on z = (x - mean) / g, g the power of
    two nearest the largest column spread (``spread.column_spread``), so no square overflows or
    underflows; the results are mapped back (variances times g^2, which may overflow: see
    ``log2_spread``)."""
    n, d = x.shape
    solver = choose_solver(n, d)
    unit, plain = 1.0, False
    if solver == "covariance_eigh":
        with np.errstate(all="ignore"):
            mean, scatter = mean_and_scatter(x)
        plain = _plain_is_safe(mean, scatter, n)
    if not plain:
        spread = column_spread(x)
        varying = np.isfinite(spread.log2_std)
        unit = power_of_two_scale(float(spread.log2_std[varying].max())) if varying.any() else 1.0
        centre = spread.mean
    if solver == "covariance_eigh":
        if not plain:
            mean, scatter = mean_and_scatter(x, centre=centre, unit=unit)
        eigenvalues, vectors = eigh(scatter, subset_by_index=None, check_finite=False)
        order = np.argsort(eigenvalues)[::-1]
        eigenvalues = np.clip(eigenvalues[order], 0.0, None)
        components = vectors[:, order[:k]].T
        total_scatter = float(np.trace(scatter))
        squares = np.diag(scatter).copy()
    else:
        centred = (np.asarray(x, dtype=np.float64) - centre) * (1.0 / unit)
        mean_z = centred.mean(axis=0)
        centred -= mean_z
        mean = centre + unit * mean_z
        _, singular, vt = svd(centred, full_matrices=False, check_finite=False, lapack_driver="gesdd")
        eigenvalues = singular**2
        components = vt[:k]
        squares = np.einsum("ij,ij->j", centred, centred)
        total_scatter = float(squares.sum())
    components = sign_normalise(np.ascontiguousarray(components))
    explained = eigenvalues[:k] / (n - 1)
    total_variance = total_scatter / (n - 1)
    noise = (total_variance - explained.sum()) / (d - k) if k < d else 0.0
    with np.errstate(divide="ignore"):
        log2_spread = 0.5 * np.log2(np.maximum(squares, 0.0) / n) + np.log2(unit)
    with np.errstate(over="ignore"):  # beyond float64 when log2_spread is out of range (the caller refuses)
        variance_unit = unit * unit
        return PCAFit(
            mean=mean,
            components=components,
            explained_variance=explained * variance_unit,
            total_variance=total_variance * variance_unit,
            noise_variance=max(float(noise), 0.0) * variance_unit,
            singular_values=np.sqrt(eigenvalues[:k]) * unit,
            n_rows=n,
            solver=solver,
            log2_spread=log2_spread,
        )


def transform(x: np.ndarray, mean: np.ndarray, components: np.ndarray,
              explained_variance: np.ndarray, whiten: bool) -> np.ndarray:
    """Coordinates (n, k) of rows x: (n, d); whitened coordinates have unit variance."""
    scores = (np.asarray(x, dtype=np.float64) - mean) @ components.T
    if whiten:
        scores /= np.sqrt(explained_variance)
    return scores


def log_likelihood(x: np.ndarray, mean: np.ndarray, components: np.ndarray,
                   explained_variance: np.ndarray, noise_variance: float,
                   chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
    """Per-row log N(x_i | mean, C), C = U diag(lambda) U^T + sigma^2 (I - U U^T): (n,).

    No d x d inverse: with r = x - mean, p = U r and the residual e = r - U^T p,
    r^T C^-1 r = sum_j p_j^2 / lambda_j + |e|^2 / sigma^2 and
    log|C| = sum_j log lambda_j + (d - k) log sigma^2. Each term is a square of a number
    already divided by its own scale (sqrt(lambda_j), sigma), so nothing overflows or cancels
    when the components' variances differ by many orders of magnitude. Requires sigma^2 > 0.
    """
    if not noise_variance > 0:
        raise ValueError("PPCA log-likelihood needs a positive noise variance (k < rank)")
    n, d = x.shape
    k = components.shape[0]
    log_det = float(np.sum(np.log(explained_variance))) + (d - k) * np.log(noise_variance)
    root_explained, sigma = np.sqrt(explained_variance), np.sqrt(noise_variance)
    out = np.empty(n)
    for start in range(0, n, chunk_rows):
        r = np.asarray(x[start:start + chunk_rows], dtype=np.float64) - mean
        p = r @ components.T
        e = (r - p @ components) / sigma
        w = p / root_explained
        quad = np.einsum("ij,ij->i", w, w) + np.einsum("ij,ij->i", e, e)
        out[start:start + chunk_rows] = -0.5 * (d * LOG_2PI + log_det + quad)
    return out


def sample(rng: np.random.Generator, n: int, mean: np.ndarray, components: np.ndarray,
           explained_variance: np.ndarray, noise_variance: float) -> np.ndarray:
    """n draws (n, d) from the PPCA model x = mean + W z + sigma eps,
    W = U^T diag(sqrt(lambda - sigma^2)), z ~ N(0, I_k), eps ~ N(0, I_d)."""
    k, d = components.shape
    loadings = components.T * np.sqrt(np.clip(explained_variance - noise_variance, 0.0, None))
    z = rng.standard_normal((n, k))
    eps = rng.standard_normal((n, d))
    return mean + z @ loadings.T + np.sqrt(noise_variance) * eps
