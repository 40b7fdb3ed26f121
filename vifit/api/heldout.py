"""Held-out rows of a fit (``--validation FRACTION``, ``--folds F``): the rows each fit sees, each
row's log density under a fitted candidate, and the figures ``fit.validation`` records.

A candidate is scored from its ``vifit.fit/1`` params (JSON round trip, so exactly what the
written file would answer) by :func:`vifit.documents.scores.score_rows`, the function of
``vifit score``. The rows handed to it are the table's values, which are already in the fit's
working units when ``--standardize`` was given (the table was standardised at load, with the
mean and scale of all rows): the document is given no preprocessing, and the Jacobian of the
standardisation is added per row (:func:`vifit.units.log_jacobian_rows`), so every figure is in
nats of the data as read, as ``vifit score`` reports it, without undoing and redoing the
scaling in floating point.

Row weights (``--row-weights``) are frequency weights: a held-out row of weight w counts as w
held-out copies of it in the mean, the total and the standard error.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from vifit.data import Table
from vifit.errors import BadInput
from vifit.units import UNITS, log_jacobian_rows


def split_of(options: dict):
    """("validation", fraction), ("folds", F) or None from the options (BadInput for both)."""
    fraction, folds = options.get("validation"), options.get("folds")
    if fraction is not None and folds is not None:
        raise BadInput("--validation and --folds are two ways to hold rows out: give one of them")
    if fraction is not None:
        return ("validation", float(fraction))
    if folds is not None:
        return ("folds", int(folds))
    return None


def train_sets(split, n: int, seed: int, min_train: int = 2):
    """[(train, heldout)] index arrays (sorted) of the split for n rows: one pair for
    --validation, F for --folds (vifit.splits: deterministic by seed)."""
    from vifit import splits

    kind, value = split
    if kind == "validation":
        return [splits.holdout(n, value, seed, min_train=min_train)]
    return splits.folds(n, value, seed, min_train=min_train)


def subtable(table: Table, rows: np.ndarray | None) -> Table:
    """The table's rows ``rows`` (sorted indices; None: the whole table), weights and levels kept."""
    if rows is None:
        return table
    weights = None if table.weights is None else table.weights[rows]
    numbers = None if table.row_numbers is None else table.row_numbers[rows]
    return replace(table, values=table.values[rows], weights=weights, row_numbers=numbers, extra=dict(table.extra))


def scoring_document(result, table: Table) -> dict:
    """The parts of the candidate's vifit.fit/1 document that its predict reads: the params as
    the file holds them (a JSON round trip of exactly what would be written), the columns, and
    no preprocessing (the rows given are already in the working units, see the module doc)."""
    from vifit.output import render_json

    return {"model": result.model, "config": {}, "params": json.loads(render_json(result.params)),
            "data": {"columns": list(table.columns), "preprocessing": {}, "n_features": table.n_features}}


def row_scores(result, table: Table, rows: np.ndarray) -> np.ndarray:
    """(m,) log density of the table's rows ``rows`` (m indices) under the fitted result, in
    nats of the data as read (documents.scores.score_rows, and the Jacobian: see the module doc)."""
    from vifit.documents.scores import score_rows

    values = np.asarray(table.values[rows], dtype=np.float64)
    part = Table(values=values, columns=list(table.columns), source=table.source)
    scores = score_rows(scoring_document(result, table), "candidate", part)
    return scores.log_density + log_jacobian_rows(table.preprocessing, values)


def responsibilities(result, table: Table) -> np.ndarray:
    """(n, K) every row's responsibilities under the fitted result (the model file's own, as
    ``vifit predict`` writes them as resp_*), for the ICL term."""
    from vifit.documents import model_kind

    values = np.asarray(table.values, dtype=np.float64)
    part = Table(values=values, columns=list(table.columns), source=table.source)
    return model_kind(result.model).responsibilities(scoring_document(result, table), "candidate", part)


def entropy_total(resp: np.ndarray, weights: np.ndarray | None) -> float:
    """sum_n w_n H(r_n) = -sum_n w_n sum_k r_nk log r_nk over rows resp (n, K) (0 log 0 = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(resp > 0, resp * np.log(resp), 0.0)
    per_row = -terms.sum(axis=1)
    return float(per_row.sum() if weights is None else per_row @ weights)


def figures(log_density: np.ndarray, weights: np.ndarray | None) -> dict:
    """The held-out figures of rows log_density (m,) with frequency weights (m,) or None: the
    mean per row, the standard error of that mean, the total; rows of non-finite density are
    not counted (as ``vifit score``)."""
    finite = np.isfinite(log_density)
    values = log_density[finite]
    w = np.ones(values.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)[finite]
    total_weight = float(w.sum())
    if not total_weight > 0:
        raise BadInput("the held-out rows have no weight (--row-weights 0 on each of them, or no finite "
                       "density): choose another --seed or a larger held-out fraction")
    mean = float(w @ values / total_weight)
    se = None
    if total_weight > 1:  # w copies of each row: the weighted variance with total_weight - 1 degrees of freedom
        variance = float(w @ (values - mean) ** 2 / (total_weight - 1.0))
        se = float(np.sqrt(variance / total_weight))
    block = {"n_heldout": int(log_density.shape[0]), "heldout_log_density_per_row": mean, "standard_error": se,
             "heldout_total": float(w @ values)}
    if weights is not None:
        block["heldout_weight"] = total_weight
    return block


def validation_block(split, seed: int, n_rows: int, scored: list, weights_of) -> dict:
    """fit.validation of a candidate. scored: [(heldout indices, log density)] per split part
    (one for --validation, F for --folds); weights_of(indices): their weights or None."""
    kind, value = split
    if kind == "validation":
        (heldout, density), = scored
        block = {"fraction": value, "seed": int(seed), "n_train": int(n_rows - heldout.shape[0])}
        block.update(figures(density, weights_of(heldout)))
        block["units"] = UNITS
        return block
    per_fold = []
    for heldout, density in scored:
        part = figures(density, weights_of(heldout))
        per_fold.append({"n_heldout": part["n_heldout"],
                         "heldout_log_density_per_row": part["heldout_log_density_per_row"]})
    every = np.concatenate([heldout for heldout, _ in scored])
    overall = figures(np.concatenate([density for _, density in scored]), weights_of(every))
    return {"folds": value, "seed": int(seed), "per_fold": per_fold,
            "heldout_log_density_per_row": overall["heldout_log_density_per_row"],
            "standard_error": overall["standard_error"], "heldout_total": overall["heldout_total"],
            "n_heldout": overall["n_heldout"], "units": UNITS,
            "note": "each row is held out once; the written model is refitted on all rows"}
