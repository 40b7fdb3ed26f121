"""Working coordinates for the GMM: z = R^T (x - shift) / scale, and moving parameters between frames.

Centring and scaling once (by the data's own spread, computed without overflow: models.spread)
keeps the quadratic expansion T(x) = (1, x, q(x)) well conditioned for data far from the origin
or at any scale float64 can hold; the rotation R (full covariance, singular data only) isolates
exactly collinear directions. The model is equivariant under these maps (per-feature scaling and
rotations for full, per-feature scaling for diag, one common scale for spherical and known), so
a fit in the frame, mapped back, is the fit in data units; ELBOs differ by n * log_jacobian.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Frame:
    """Working coordinates z = R^T (x - shift) / scale; shift, scale: (d,); rotation R: (d, d)
    orthogonal or None (the identity).

    The rotation (full covariance only, which is equivariant under it) is the eigenbasis of the
    data's correlation matrix when that is singular: exactly collinear columns then put their
    degenerate direction in coordinates of their own, where it is a round-off-sized number
    instead of the cancellation of O(1) numbers; the posterior precision along that direction
    is bounded only by the prior's ridge (~1e6 times the others), so this is where the quadratic
    expansion T(z) would otherwise lose the ELBO's precision."""

    shift: np.ndarray
    scale: np.ndarray
    rotation: np.ndarray | None = None

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


def rotate(params, spec, rotation: np.ndarray):
    """The same Prior or Variational (full covariance) in coordinates z' = R^T z."""
    if spec.covariance != "full":
        raise ValueError("only the full-covariance model is rotation-equivariant")
    r = np.asarray(rotation, dtype=np.float64)
    scale_inv = r.T @ params.scale_inv @ r
    scale_inv = 0.5 * (scale_inv + np.swapaxes(scale_inv, -1, -2))
    if hasattr(params, "noise_var"):  # a Prior
        return replace(params, mean=params.mean @ r, scale_inv=scale_inv)
    return replace(params, means=params.means @ r, scale_inv=scale_inv)


def to_frame(params, spec, frame: Frame):
    params = rescale(params, spec, frame.shift, frame.scale)
    return params if frame.rotation is None else rotate(params, spec, frame.rotation)


def from_frame(params, spec, frame: Frame):
    if frame.rotation is not None:
        params = rotate(params, spec, frame.rotation.T)
    return rescale(params, spec, -frame.shift / frame.scale, 1.0 / frame.scale)
