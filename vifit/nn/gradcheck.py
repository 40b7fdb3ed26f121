"""Finite-difference gradient checking (use float64).

``check(f, x)`` compares the analytic gradient returned by ``f(x) -> (value, grad)``
with central differences (f(x + h e_i) - f(x - h e_i)) / 2h, coordinate by coordinate,
and returns the largest relative error |a - n| / max(|a| + |n|, floor).
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-6,
                       indices=None) -> np.ndarray:
    """Central differences of scalar f at x (modified in place and restored)."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in (range(flat.size) if indices is None else indices):
        old = flat[i]
        flat[i] = old + h
        up = f(x)
        flat[i] = old - h
        down = f(x)
        flat[i] = old
        gflat[i] = (up - down) / (2 * h)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = 1e-8) -> float:
    """max_i |a_i - n_i| / max(|a_i| + |n_i|, floor)."""
    a, n = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    return float(np.max(np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), floor)))


def check(f: Callable[[np.ndarray], tuple], x: np.ndarray, h: float = 1e-6, indices=None) -> float:
    """Largest relative error between f's analytic gradient at x and central differences.

    f(x) -> (value, grad) with grad shaped like x; x must be float64.
    """
    if x.dtype != np.float64:
        raise TypeError("gradient checks need float64")
    _, analytic = f(x)
    analytic = np.array(analytic, dtype=np.float64, copy=True)
    numeric = numerical_gradient(lambda y: float(f(y)[0]), x, h, indices)
    if indices is not None:
        idx = np.asarray(list(indices))
        return relative_error(analytic.reshape(-1)[idx], numeric.reshape(-1)[idx])
    return relative_error(analytic, numeric)
