"""Column centre and spread computed without overflow or underflow, for any finite float64 data.

Each column is first divided by the power of two just above its largest magnitude (an exact
operation), so its values lie in [-1, 1]: their sums over any number of rows cannot overflow and
their squares do not underflow however tiny the data. The spread is returned as a float and as
its base-2 logarithm, which stays finite when the spread underflows.

The models' working frames divide by these spreads, so a fit of s * X computes the same numbers
as a fit of X; what cannot be represented for every s are the results in data units (variances
scale by s^2): :data:`SPREAD_LIMITS` bounds the spreads whose second moments, precisions and
their products with the row counts stay normal float64 numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK_ROWS = 8192
# A spread s has variance s^2 and precision s^-2; in [1e-140, 1e140] both, times a count
# of up to 1e20 rows or a ridge of 1e-6, stay normal float64 numbers (1e-308 .. 1e308).
SPREAD_LIMITS = (1e-140, 1e140)


@dataclass(frozen=True)
class Spread:
    """Per column (d,): mean, population std (at most max |x|, so always finite), log2 of the std
    (-inf when constant), minimum and maximum."""

    mean: np.ndarray
    std: np.ndarray
    log2_std: np.ndarray
    low: np.ndarray
    high: np.ndarray


def observed_spread(x: np.ndarray) -> Spread:
    """:func:`column_spread` of each column's observed (non-NaN) cells; a column with none is 0."""
    parts = [column_spread(column[~np.isnan(column)][:, None]) if (~np.isnan(column)).any()
             else Spread(*(np.zeros(1) for _ in range(5))) for column in np.asarray(x).T]
    return Spread(*(np.concatenate([getattr(part, name) for part in parts])
                    for name in ("mean", "std", "log2_std", "low", "high")))


def column_spread(x: np.ndarray, chunk_rows: int = CHUNK_ROWS) -> Spread:
    """Mean, std (divisor n), range of each column of x (n, d), two passes in chunks."""
    n, d = x.shape
    low = np.asarray(x.min(axis=0), dtype=np.float64) if n else np.zeros(d)
    high = np.asarray(x.max(axis=0), dtype=np.float64) if n else np.zeros(d)
    biggest = np.maximum(np.abs(low), np.abs(high))
    _, exponent = np.frexp(np.where(biggest > 0, biggest, 1.0))  # biggest < 2**exponent
    unit = np.ldexp(1.0, -exponent)  # exact powers of two
    total = np.zeros(d)
    for start in range(0, n, chunk_rows):
        total += (np.asarray(x[start:start + chunk_rows], dtype=np.float64) * unit).sum(axis=0)
    mean_unit = total / max(n, 1)
    squares = np.zeros(d)
    for start in range(0, n, chunk_rows):
        centred = np.asarray(x[start:start + chunk_rows], dtype=np.float64) * unit - mean_unit
        squares += np.einsum("nd,nd->d", centred, centred)
    std_unit = np.sqrt(squares / max(n, 1))
    constant = ~(high > low)
    std_unit = np.where(constant, 0.0, std_unit)
    mean = np.where(constant, low, np.ldexp(mean_unit, exponent))
    with np.errstate(divide="ignore"):
        log2_std = np.where(constant, -np.inf, np.log2(np.where(constant, 1.0, std_unit)) + exponent)
    std = np.ldexp(std_unit, exponent)  # std_unit <= 1: no overflow
    return Spread(mean=mean, std=std, log2_std=log2_std, low=low, high=high)


def out_of_range(log2_std: np.ndarray, per_column: bool) -> int | None:
    """Index of a column whose spread (given by its log2, -inf when constant) is outside
    SPREAD_LIMITS, or None.

    per_column: every varying column must be in range (a model with one variance per column);
    otherwise only the largest spread, which sets the common scale."""
    lo, hi = np.log2(SPREAD_LIMITS[0]), np.log2(SPREAD_LIMITS[1])
    log2_std = np.asarray(log2_std, dtype=np.float64)
    varying = np.isfinite(log2_std)
    if not varying.any():
        return None
    too_big = np.flatnonzero(varying & (log2_std > hi))
    if too_big.size:
        return int(too_big[0])
    if per_column:
        too_small = np.flatnonzero(varying & (log2_std < lo))
        return int(too_small[0]) if too_small.size else None
    widest = int(np.argmax(np.where(varying, log2_std, -np.inf)))
    return widest if log2_std[widest] < lo else None


def power_of_two_scale(log2_std: float) -> float:
    """The power of two nearest a spread given by its log2: dividing by it is exact. Kept
    within float64's powers of two (2**-1074 .. 2**1023): a spread near 1.8e308 rounds up to
    2**1024, which would be infinite (and every coordinate NaN)."""
    return float(np.ldexp(1.0, int(np.clip(np.round(log2_std), -1074, 1023))))
