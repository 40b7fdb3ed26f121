"""Working coordinates for the GMM: z = (x - shift) / scale, and moving parameters between frames.

Centring and scaling once keeps the quadratic expansion T(x) = (1, x, q(x)) well conditioned
for data far from the origin or at scales of 1e+-8. The model is equivariant under these maps
(per-feature scaling for full and diag, one common scale for spherical and known), so a fit in
the frame, mapped back, is the fit in data units; ELBOs differ by n * log_jacobian.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Frame:
    """Working coordinates z = (x - shift) / scale; shift, scale: (d,)."""

    shift: np.ndarray
    scale: np.ndarray

    @staticmethod
    def identity(d: int) -> "Frame":
        return Frame(np.zeros(d), np.ones(d))

    @property
    def log_jacobian(self) -> float:
        """log |dz/dx| per row: log p(x) = log p(z) + log_jacobian."""
        return float(-np.sum(np.log(self.scale)))


def frame_for(spec, mean: np.ndarray, std: np.ndarray) -> Frame:
    """Centre on the data mean; scale per feature (full, diag) or by one number
    (spherical, known: the model is only equivariant under isotropic scaling)."""
    std = np.asarray(std, dtype=np.float64)
    positive = std[std > 0]
    fallback = float(np.sqrt(np.mean(positive**2))) if positive.size else 1.0
    if spec.covariance in ("spherical", "known"):
        scale = np.full(spec.d, fallback)
    else:
        scale = np.where(std > 0, std, fallback)
    return Frame(np.asarray(mean, dtype=np.float64).copy(), scale)


# ---------------------------------------------------------------- frames


def rescale(params, spec, shift: np.ndarray, scale: np.ndarray):
    """The same Prior or Variational after the change of coordinates x -> (x - shift) / scale."""
    s = np.asarray(scale, dtype=np.float64)
    if hasattr(params, "noise_var"):  # a Prior
        mean = (params.mean - shift) / s
        return replace(params, mean=mean, scale_inv=_rescale_scale_inv(spec, params.scale_inv, s),
                       noise_var=params.noise_var / s[0] ** 2)
    return replace(params, means=(params.means - shift) / s,
                   scale_inv=_rescale_scale_inv(spec, params.scale_inv, s))


def _rescale_scale_inv(spec, scale_inv, s):
    if scale_inv is None or spec.covariance == "known":
        return scale_inv
    if spec.covariance == "full":
        return scale_inv / np.multiply.outer(s, s)
    if spec.covariance == "diag":
        return scale_inv / s**2
    return scale_inv / s[0] ** 2


def to_frame(params, spec, frame: Frame):
    return rescale(params, spec, frame.shift, frame.scale)


def from_frame(params, spec, frame: Frame):
    return rescale(params, spec, -frame.shift / frame.scale, 1.0 / frame.scale)
