"""Finite-difference gradient checking (use float64).

``check(f, x)`` compares the analytic gradient returned by ``f(x) -> (value, grad)``
with fourth-order central differences, coordinate by coordinate,

    n_i = (-f(x + 2h e_i) + 8 f(x + h e_i) - 8 f(x - h e_i) + f(x - 2h e_i)) / 12h

(truncation error O(h^4), so h can be large enough that rounding in f does not
swamp small derivatives), and returns the largest relative error

    |a_i - n_i| / max(|a_i| + |n_i|, floor),   floor = 1e6 * 4 eps (1 + |f(x)|) / h.

Rounding alone makes n_i uncertain by about 4 eps (1 + |f|) / h, so no relative error
below 1e-6 can be certified for a coordinate smaller than ``floor``; such coordinates
(a relu that is off has gradient exactly 0) are held to |a_i - n_i| < 1e-6 floor,
i.e. to the rounding noise itself.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-4,
                       indices=None) -> np.ndarray:
    """Fourth-order central differences of scalar f at x (modified in place and restored)."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in (range(flat.size) if indices is None else indices):
        old = flat[i]
        values = []
        for step in (2 * h, h, -h, -2 * h):
            flat[i] = old + step
            values.append(f(x))
        flat[i] = old
        gflat[i] = (-values[0] + 8 * values[1] - 8 * values[2] + values[3]) / (12 * h)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = 1e-12) -> float:
    """max_i |a_i - n_i| / max(|a_i| + |n_i|, floor)."""
    a, n = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    return float(np.max(np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), floor)))


def check(f: Callable[[np.ndarray], tuple], x: np.ndarray, h: float = 1e-4, indices=None) -> float:
    """Largest relative error between f's analytic gradient at x and central differences.

    f(x) -> (value, grad) with grad shaped like x; x must be float64.
    """
    if x.dtype != np.float64:
        raise TypeError("gradient checks need float64")
    value, analytic = f(x)
    analytic = np.array(analytic, dtype=np.float64, copy=True)
    numeric = numerical_gradient(lambda y: float(f(y)[0]), x, h, indices)
    floor = 1e6 * 4 * np.finfo(np.float64).eps * (1 + abs(float(value))) / h
    if indices is not None:
        idx = np.asarray(list(indices))
        return relative_error(analytic.reshape(-1)[idx], numeric.reshape(-1)[idx], floor)
    return relative_error(analytic, numeric, floor)
