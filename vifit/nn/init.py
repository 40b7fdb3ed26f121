"""Weight initialisation from a passed generator (no global random state).

Glorot (Xavier) uniform for saturating or linear units, He normal for rectifiers.
Each returns a function ``(rng, shape, dtype) -> array`` for ``Parameters.declare``.
"""

from __future__ import annotations

import numpy as np

# The activation that follows a layer decides its initialiser.
HE_ACTIVATIONS = ("relu", "softplus")


def glorot_uniform(rng: np.random.Generator, shape: tuple, dtype) -> np.ndarray:
    """U(-a, a), a = sqrt(6 / (fan_in + fan_out)), for a (fan_in, fan_out) weight."""
    fan_in, fan_out = shape
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def he_normal(rng: np.random.Generator, shape: tuple, dtype) -> np.ndarray:
    """N(0, 2 / fan_in) for a (fan_in, fan_out) weight."""
    fan_in = shape[0]
    return (rng.standard_normal(size=shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def zeros(rng: np.random.Generator, shape: tuple, dtype) -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


def for_activation(activation: str):
    """The weight initialiser suited to the activation that follows the layer."""
    return he_normal if activation in HE_ACTIVATIONS else glorot_uniform
