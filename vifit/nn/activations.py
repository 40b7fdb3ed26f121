"""Activations, each a forward and its derivative side by side.

``forward(z)`` overwrites z with a = f(z) and returns it (no new array);
``backward(a, dout)`` overwrites dout with dout * f'(z), written in terms of the
*output* a, so the layer only keeps a:

    identity  f' = 1
    relu      f' = [a > 0]
    tanh      f' = 1 - a^2
    sigmoid   f' = a (1 - a)
    softplus  f' = sigmoid(z) = 1 - exp(-a)
"""

from __future__ import annotations

import numpy as np


def identity_forward(z):
    return z


def identity_backward(a, dout):
    return dout


def relu_forward(z):
    return np.maximum(z, 0, out=z)


def relu_backward(a, dout):
    # where a == 0 the unit was off (z <= 0): zero its gradient
    np.multiply(dout, a > 0, out=dout)
    return dout


def tanh_forward(z):
    return np.tanh(z, out=z)


def tanh_backward(a, dout):
    dout *= 1 - a * a
    return dout


def sigmoid_forward(z):
    """Overflow-free: 1 / (1 + exp(-z)) with exp(-z) clipped at the float maximum."""
    with np.errstate(over="ignore"):
        np.negative(z, out=z)
        np.exp(z, out=z)
        z += 1
        np.reciprocal(z, out=z)
    return z


def sigmoid_backward(a, dout):
    dout *= a * (1 - a)
    return dout


def softplus_forward(z):
    """log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)), stable for any z."""
    t = np.abs(z)
    np.negative(t, out=t)
    np.exp(t, out=t)
    np.log1p(t, out=t)
    np.maximum(z, 0, out=z)
    z += t
    return z


def softplus_backward(a, dout):
    # sigmoid(z) = 1 - exp(-softplus(z))
    dout *= -np.expm1(-a)
    return dout


ACTIVATIONS = {
    "identity": (identity_forward, identity_backward),
    "relu": (relu_forward, relu_backward),
    "tanh": (tanh_forward, tanh_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "softplus": (softplus_forward, softplus_backward),
}


def apply(name: str, z: np.ndarray) -> np.ndarray:
    """f(z) on a copy (for prediction code that must not touch its input)."""
    return ACTIVATIONS[name][0](np.array(z, copy=True))
