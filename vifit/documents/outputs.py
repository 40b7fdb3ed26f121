"""The last check on what a validated model computes: every cell finite.

Parameters can each be finite and inside their domain and still overflow together (network
weights of 1e308, a mean of 1e300 against rows near 0); a row of NaN or an empty cell
written as if it were a result would be worse than refusing, so the model is refused
naming the first such row and column.
"""

from __future__ import annotations

import numpy as np

from vifit.errors import BadInput, quote


def undefined_columns(document: dict) -> tuple:
    """Columns left empty by design: PCA's log-likelihood when the noise variance is 0."""
    if document["model"] == "pca" and document["params"]["summary"]["noise_variance"] == 0:
        return ("loglik",)
    return ()


def computed(function, *args, **kwargs):
    """``function(*args, **kwargs)`` with numpy's overflow warnings silenced: the result is
    checked by :func:`require_finite` instead, which says what went wrong in one line."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        return function(*args, **kwargs)


def require_finite(document: dict, path: str, names: list, rows, what: str) -> None:
    """BadInput when a cell of ``rows`` (n, len(names)) outside undefined_columns is not finite."""
    values = np.asarray(rows, dtype=np.float64)
    if values.size == 0:
        return
    keep = [j for j, name in enumerate(names) if name not in undefined_columns(document)]
    bad = ~np.isfinite(values[:, keep])
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise BadInput(f"{path}: {what} overflows 64-bit floats at row {row + 1}, column "
                       f"{quote(names[keep[column]])} (the model's parameters or the data's values are too large); "
                       f"refusing to write non-finite values")


def require_finite_somewhere(document: dict, path: str, names: list, rows, what: str) -> None:
    """BadInput when a column of ``rows`` (n, len(names)) outside undefined_columns has no
    finite cell at all: the model's parameters, not a few extreme rows, are the cause."""
    values = np.asarray(rows, dtype=np.float64)
    if values.size == 0:
        return
    keep = [j for j, name in enumerate(names) if name not in undefined_columns(document)]
    dead = ~np.isfinite(values[:, keep]).any(axis=0)
    if dead.any():
        column = int(np.flatnonzero(dead)[0])
        raise BadInput(f"{path}: {what} overflows 64-bit floats in column {quote(names[keep[column]])} on every "
                       f"row (the model's parameters are too large); refusing to write non-finite values")
