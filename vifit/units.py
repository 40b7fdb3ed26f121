"""Nats of the data as read: the Jacobian of a fit's --standardize / --scale, per row and per fit.

A fit with ``--standardize`` (or ``--scale minmax``) models z = (x - shift) / scale, so its
ELBO and log-likelihoods are in nats of z. The density of the data as read is
log p(x) = log p(z) + log |dz/dx| = log p(z) - sum_j log scale_j over the row's observed
cells. Only in those units can a standardised fit, a raw fit and another model kind be
compared (iris: -445 standardised against -335 raw, different quantities).
"""

from __future__ import annotations

import numpy as np

UNITS = ("nats, in the units of the data as read (the fit's --standardize or --scale re-applied and its "
         "Jacobian counted)")
FRAME_NOTE = ("fit.elbo and the fit's log-likelihoods are in the working frame (after --standardize or --scale); "
              "these are the same figures in nats of the data as read")
SAME_NOTE = "no --standardize or --scale: the same figures as fit.elbo and the fit's log-likelihoods"
# the fit block's figures that are log densities summed over the fit's rows, converted when present
DENSITY_FIELDS = ("elbo", "log_likelihood")
# per-row means over another set of rows (a VAE's IWAE rows); converted by the mean Jacobian per
# row, which is every row's when no cell is missing (the networks take complete rows only)
PER_ROW_FIELDS = ("log_likelihood_iwae_per_row", "iwae_elbo_per_row")


def log_scales(preprocessing: dict | None, d: int | None = None) -> np.ndarray:
    """(d,) sum of log scale per column over the stored preprocessing steps (0 without any; d
    from the steps when given, else the argument)."""
    steps = [np.log(np.asarray(spec[key], dtype=np.float64))
             for name, key in (("standardize", "scale"), ("minmax", "range"))
             for spec in [(preprocessing or {}).get(name)] if spec]
    if not steps:
        return np.zeros(d or 0)
    return np.sum(steps, axis=0)


def log_jacobian_rows(preprocessing: dict | None, x: np.ndarray) -> np.ndarray:
    """(n,) log |dz/dx| of each row of x (n, d): minus the log scales of its observed (non-NaN) cells."""
    x = np.asarray(x)
    scales = log_scales(preprocessing, x.shape[1])
    if not scales.any():
        return np.zeros(x.shape[0])
    return -(~np.isnan(x)).astype(np.float64) @ scales


def log_jacobian_total(preprocessing: dict | None, rows, n_rows: int) -> float | None:
    """log |dz/dx| summed over the rows a fit saw (row weights count), or None when that is not
    known without another pass: a stream with missing cells or row weights."""
    values = getattr(rows, "values", None)
    weights = getattr(rows, "weights", None)
    scales = log_scales(preprocessing)
    if not scales.any():
        return 0.0
    if isinstance(values, np.ndarray) and values.ndim == 2 and (weights is not None or np.isnan(values).any()):
        per_row = log_jacobian_rows(preprocessing, values)
        return float(per_row.sum() if weights is None else per_row @ np.asarray(weights, dtype=np.float64))
    if isinstance(values, np.ndarray):  # complete and unweighted: N times a row's, as a stream computes it
        return -float(values.shape[0]) * float(scales.sum())
    opts = getattr(rows, "opts", None)
    if getattr(opts, "missing", False) or getattr(rows, "weighted", False) or weights is not None:
        return None
    return -float(n_rows) * float(scales.sum())


def data_units_block(fit_block: dict, n_rows: int, jacobian: float, complete: bool = False) -> dict:
    """fit.data_units: the fit block's log densities (DENSITY_FIELDS present) plus the Jacobian;
    complete: every row has all its cells (PER_ROW_FIELDS are then converted too)."""
    block = {"units": UNITS, "note": FRAME_NOTE if jacobian else SAME_NOTE, "log_jacobian": jacobian}
    for name in DENSITY_FIELDS:
        value = fit_block.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            block[name] = float(value) + jacobian
            block[f"{name}_per_row"] = (float(value) + jacobian) / n_rows
    for name in PER_ROW_FIELDS if complete else ():
        value = fit_block.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            block[name] = float(value) + jacobian / n_rows
    return block


def with_data_units(result, rows, data: dict) -> None:
    """Add fit.data_units to a FitResult of a model with a density (not the autoencoder).
    rows: what the fit saw; data: its ``describe()`` (the data block: preprocessing, n_rows)."""
    if result.model == "autoencoder" or result.elbo is None or "data_units" in result.fit_extra:
        return  # already there: a fit of some of the rows (api.grid) converted them for its own rows
    jacobian = log_jacobian_total(data.get("preprocessing"), rows, data["n_rows"])
    if jacobian is None:
        return
    fit_block = {**result.fit_extra, "elbo": result.elbo}
    result.fit_extra["data_units"] = data_units_block(fit_block, result.n_rows, jacobian,
                                                      complete=result.model in ("vae", "pca"))
