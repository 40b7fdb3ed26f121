"""Preprocessing stored in a model: standardisation and min-max scaling.

The fit records what it did in the ``data.preprocessing`` block of the model file
(``{"standardize": {"mean", "scale"}}`` or ``{"minmax": {...}}``), so ``predict`` and
``sample`` can redo and undo it exactly.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def standardization(values: np.ndarray, note: Callable[[str], None], columns: list[str]) -> dict:
    """Mean and scale (population standard deviation) per column.

    A constant column gets scale 1 so it maps to zeros instead of NaN.
    """
    mean = values.mean(axis=0)
    scale = values.std(axis=0)
    constant = ~(scale > 0)
    for j in np.flatnonzero(constant):
        note(f"column {columns[j]!r} is constant; --standardize leaves its scale at 1")
    scale = np.where(constant, 1.0, scale)
    return {"standardize": {"mean": mean.tolist(), "scale": scale.tolist()}}


def minmax_scaling(values: np.ndarray, note: Callable[[str], None], columns: list[str]) -> dict:
    """Minimum and range per column, mapping the data onto [0, 1] (``--scale minmax``).

    A constant column gets range 1 (it maps to zeros).
    """
    low = values.min(axis=0).astype(np.float64)
    span = values.max(axis=0).astype(np.float64) - low
    constant = ~(span > 0)
    for j in np.flatnonzero(constant):
        note(f"column {columns[j]!r} is constant; --scale minmax leaves its range at 1")
    span = np.where(constant, 1.0, span)
    return {"minmax": {"min": low.tolist(), "range": span.tolist()}}


def apply_preprocessing(values: np.ndarray, preprocessing: dict) -> np.ndarray:
    """Redo a stored preprocessing on new raw values (n, d): standardize, then minmax."""
    spec = preprocessing.get("standardize") if preprocessing else None
    if spec:
        values = (values - np.asarray(spec["mean"])) / np.asarray(spec["scale"])
    spec = preprocessing.get("minmax") if preprocessing else None
    if spec:
        values = (values - np.asarray(spec["min"])) / np.asarray(spec["range"])
    return values


def undo_preprocessing(values: np.ndarray, preprocessing: dict) -> np.ndarray:
    """Map model-space values (n, d) back to the units of the raw data."""
    spec = preprocessing.get("minmax") if preprocessing else None
    if spec:
        values = values * np.asarray(spec["range"]) + np.asarray(spec["min"])
    spec = preprocessing.get("standardize") if preprocessing else None
    if spec:
        values = values * np.asarray(spec["scale"]) + np.asarray(spec["mean"])
    return values
