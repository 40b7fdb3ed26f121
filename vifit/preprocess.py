"""Preprocessing stored in a model: standardisation and min-max scaling.

The fit records what it did in the ``data.preprocessing`` block of the model file
(``{"standardize": {"mean", "scale"}}`` or ``{"minmax": {...}}``), so ``predict`` and
``sample`` can redo and undo it exactly.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from vifit.errors import BadInput
from vifit.models.spread import SPREAD_LIMITS, Spread, column_spread, out_of_range


def standardization(values: np.ndarray, note: Callable[[str], None], columns: list[str]) -> dict:
    """Mean and scale (population standard deviation) per column.

    A constant column gets scale 1 so it maps to zeros instead of NaN.
    """
    mean, scale = observed_spread(values)
    constant = ~(scale > 0)
    for j in np.flatnonzero(constant):
        note(f"column {columns[j]!r} is constant; --standardize leaves its scale at 1")
    scale = np.where(constant, 1.0, scale)
    return {"standardize": {"mean": mean.tolist(), "scale": scale.tolist()}}


def observed_spread(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, population sd) per column of values (n, d) over its observed cells: a table of a model
    that marginalises missing cells keeps them as NaN, and a NaN would make its column's figures
    NaN. Columns without one are column_spread's of the whole table, as before missing cells."""
    with np.errstate(invalid="ignore"):
        spread = column_spread(values)  # no overflow or underflow, whatever the magnitudes
    mean, std = spread.mean.copy(), spread.std.copy()
    for j in range(values.shape[1]):
        column = values[:, j]
        holes = np.isnan(column)
        if holes.any() and not holes.all():
            observed = column_spread(column[~holes][:, None])
            mean[j], std[j] = observed.mean[0], observed.std[0]
    return mean, std


def minmax_scaling(values: np.ndarray, note: Callable[[str], None], columns: list[str], source: str = "") -> dict:
    """Minimum and range per column, mapping the data onto [0, 1] (``--scale minmax``).

    A constant column gets range 1 (it maps to zeros).
    """
    low = values.min(axis=0).astype(np.float64)
    with np.errstate(over="ignore"):
        span = values.max(axis=0).astype(np.float64) - low
    wide = np.flatnonzero(~np.isfinite(span))
    if wide.size:
        j = wide[0]
        raise BadInput(f"{source}{': ' if source else ''}column {columns[j]!r}: values {low[j]:.3g} to "
                       f"{values[:, j].max():.3g}; their range is "
                       f"beyond float64, so --scale minmax cannot map it onto [0, 1]")
    constant = ~(span > 0)
    for j in np.flatnonzero(constant):
        note(f"column {columns[j]!r} is constant; --scale minmax leaves its range at 1")
    span = np.where(constant, 1.0, span)
    return {"minmax": {"min": low.tolist(), "range": span.tolist()}}


def apply_preprocessing(values: np.ndarray, preprocessing: dict) -> np.ndarray:
    """Redo a stored preprocessing on new raw values (n, d): standardize, then minmax."""
    spec = preprocessing.get("standardize") if preprocessing else None
    if spec:
        values = _shift_and_divide(values, np.asarray(spec["mean"]), np.asarray(spec["scale"]))
    spec = preprocessing.get("minmax") if preprocessing else None
    if spec:
        values = _shift_and_divide(values, np.asarray(spec["min"]), np.asarray(spec["range"]))
    return values


def _shift_and_divide(values: np.ndarray, shift: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(values - shift) / scale; where values - shift overflows (values near +-1.8e308),
    values / scale - shift / scale instead (one more rounding, no overflow)."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = (values - shift) / scale
    bad = ~np.isfinite(out)
    if bad.any():
        columns = np.nonzero(bad.any(axis=0))[0] if out.ndim == 2 else None
        if columns is not None:
            out[:, columns] = values[:, columns] / scale[columns] - shift[columns] / scale[columns]
    return out


def undo_preprocessing(values: np.ndarray, preprocessing: dict) -> np.ndarray:
    """Map model-space values (n, d) back to the units of the raw data."""
    spec = preprocessing.get("minmax") if preprocessing else None
    if spec:
        values = values * np.asarray(spec["range"]) + np.asarray(spec["min"])
    spec = preprocessing.get("standardize") if preprocessing else None
    if spec:
        values = values * np.asarray(spec["scale"]) + np.asarray(spec["mean"])
    return values


def describe_range(spread: Spread, j: int) -> str:
    """'values -3e+300 to 4e+300, spread about 1e+300' for column j."""
    exponent = float(spread.log2_std[j]) * np.log10(2.0)
    low, high = distinct_pair(float(spread.low[j]), float(spread.high[j]))
    return f"values {low} to {high}, spread (standard deviation) about 1e{exponent:+.0f}"


def distinct_pair(low: float, high: float) -> tuple[str, str]:
    """low and high with the fewest significant digits (3 or more) that tell them apart."""
    for digits in range(3, 18):
        a, b = f"{low:.{digits}g}", f"{high:.{digits}g}"
        if a != b:
            return a, b
    return a, b


def require_representable(values: np.ndarray, columns: list[str], source: str, model: str,
                          per_column: bool) -> Spread:
    """Column spreads of values (n, d), or BadInput naming a column whose spread puts the fit's
    variances outside float64 (see ``models.spread.SPREAD_LIMITS``).

    per_column: the model has a variance per column (gmm full/diag), so every varying column must
    be in range; otherwise only the largest spread, which sets the scale of the fit."""
    spread = column_spread(values)
    check_spread(spread, columns, source, model, per_column)
    return spread


def check_spread(spread: Spread, columns: list[str], source: str, model: str, per_column: bool) -> None:
    """BadInput naming a column whose spread is outside SPREAD_LIMITS (see require_representable)."""
    j = out_of_range(spread.log2_std, per_column)
    if j is not None:
        low, high = SPREAD_LIMITS
        raise BadInput(f"{source}: column {columns[j]!r}: {describe_range(spread, j)}; {model} needs spreads "
                       f"between {low:g} and {high:g} so that its variances fit in float64: rescale the "
                       f"column (for example --standardize)")


def check_dtype_range(values: np.ndarray, columns: list[str], source: str, dtype) -> None:
    """BadInput naming the first column of values (n, d) with a value beyond the largest finite
    number of ``dtype`` (float32: 3.4e38), instead of a cast to infinity."""
    info = np.finfo(dtype)
    if values.size == 0 or np.finfo(values.dtype).max <= info.max:
        return
    magnitude = np.abs(values).max(axis=0)
    beyond = np.flatnonzero(magnitude > info.max)
    # a varying column whose every value is below the smallest normal number would be rounded to
    # (a few) subnormal steps or to zero: a different data set
    tiny = np.flatnonzero((magnitude > 0) & (magnitude < info.tiny) & (values.max(axis=0) > values.min(axis=0)))
    for found, what in ((beyond, f"beyond {np.dtype(dtype).name} (largest {float(info.max):.3g})"),
                        (tiny, f"below {np.dtype(dtype).name}'s smallest normal number {float(info.tiny):.3g}")):
        if found.size:
            j = found[0]
            column = values[:, j]
            raise BadInput(f"{source}: column {columns[j]!r} has values {column.min():.3g} to {column.max():.3g}, "
                           f"{what}: use --dtype float64, or rescale the data (--standardize)")


def check_square_range(values: np.ndarray, columns: list[str], source: str, model: str) -> None:
    """BadInput naming the first column of values (n, d) whose squares (in a network's loss and
    gradients) would overflow values.dtype: magnitudes above sqrt(largest) / 1000."""
    if values.size == 0:
        return
    limit = float(np.sqrt(np.finfo(values.dtype).max)) / 1e3
    magnitude = np.abs(values).max(axis=0)
    beyond = np.flatnonzero(magnitude > limit)
    if beyond.size:
        j = beyond[0]
        low, high = distinct_pair(float(values[:, j].min()), float(values[:, j].max()))
        raise BadInput(f"{source}: column {columns[j]!r} has values {low} to {high}; {model} needs magnitudes "
                       f"below {limit:.3g} in {values.dtype.name} so that its loss does not overflow: "
                       f"rescale the data (--standardize)")
