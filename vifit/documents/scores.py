"""What a model file scores: each row's log density in nats of the data as read.

One function for ``vifit score``, the held-out figures of a fit (``--validation``, ``--folds``)
and ``vifit compare``, so that every model kind is measured the same way:

    gmm, mixture  log posterior predictive density (of a row's observed cells)
    pca           probabilistic PCA log-likelihood (Tipping & Bishop 1999)
    vae           the importance-weighted bound on log p(x) (IWAE, K draws), and the ELBO
    autoencoder   no density: the reconstruction error only

Each density has the fit's ``--standardize`` / ``--scale`` re-applied and its Jacobian counted
(:mod:`vifit.units`), so a standardised fit, a raw fit and another model kind are comparable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vifit.data import Table
from vifit.documents import model_kind
from vifit.units import UNITS, log_jacobian_rows

SCHEMA = "vifit.score/1"

MEASURES = {
    "gmm": "log posterior predictive density",
    "mixture": "log posterior predictive density (of each row's observed cells)",
    "pca": "probabilistic PCA log-likelihood",
    "vae": "importance-weighted bound on log p(x) (IWAE)",
    "autoencoder": "none: an autoencoder has no density; reconstruction error only",
}


@dataclass
class RowScores:
    """log_density: (n,) nats per row in the data's units, NaN where undefined (a PPCA with zero
    noise, a cell beyond float64), None for a model without a density; extra: further per-row
    columns ({"elbo": (n,)} for a VAE, {"reconstruction_error": (n,)} for an autoencoder);
    details: what the figures depend on (the IWAE draws)."""

    model: str
    log_density: np.ndarray | None
    extra: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    @property
    def has_density(self) -> bool:
        return self.log_density is not None


def score_rows(document: dict, path: str, table: Table, *, iwae_samples: int | None = None) -> RowScores:
    """Per-row scores of ``table`` (raw values, the model's columns) under the validated
    ``document``. iwae_samples: a VAE's IWAE draws per row (default: the fit's --iwae-samples)."""
    model = document["model"]
    kind = model_kind(model, path)
    if model == "vae" and iwae_samples is not None:
        document = {**document, "config": {**document.get("config", {}), "iwae_samples": int(iwae_samples)}}
    names, rows = kind.predict(document, path, table)
    rows = np.asarray(rows, dtype=np.float64).reshape(table.n_rows, len(names))
    column = dict(zip(names, rows.T))
    preprocessing = document["data"].get("preprocessing") or {}
    if model in ("gmm", "mixture"):  # predict's log_density is already in the data's units
        return RowScores(model, column["log_density"])
    if model == "autoencoder":
        return RowScores(model, None, {"reconstruction_error": column["reconstruction_error"]})
    jacobian = log_jacobian_rows(preprocessing, np.asarray(table.values, dtype=np.float64))
    if model == "pca":
        return RowScores(model, column["loglik"] + jacobian)
    from vifit.documents.vae import DEFAULT_IWAE_SAMPLES

    draws = int(iwae_samples or document.get("config", {}).get("iwae_samples") or DEFAULT_IWAE_SAMPLES)
    return RowScores(model, column["log_likelihood_iwae"] + jacobian, {"elbo": column["elbo"] + jacobian},
                     {"iwae_samples": draws, "iwae_seed": int(document.get("config", {}).get("seed") or 0)})


def summary_of(values: np.ndarray) -> dict:
    """mean, total and the standard error of the mean over the finite values (n,); n_rows counted."""
    finite = values[np.isfinite(values)]
    n = int(finite.size)
    if not n:
        return {"mean": None, "total": None, "standard_error": None, "n_rows": 0}
    se = float(finite.std(ddof=1) / np.sqrt(n)) if n > 1 else None
    return {"mean": float(finite.mean()), "total": float(finite.sum()), "standard_error": se, "n_rows": n}


def summary(scores: RowScores, *, model_file: str, data: str, n_rows: int) -> dict:
    """The ``vifit.score/1`` document: the density's mean, total and standard error over rows."""
    document = {"schema": SCHEMA, "model": scores.model, "model_file": model_file, "data": data,
                "measure": MEASURES[scores.model], "units": UNITS if scores.has_density else None,
                "has_density": scores.has_density, "n_rows": int(n_rows)}
    if scores.has_density:
        figures = summary_of(scores.log_density)
        document.update({key: figures[key] for key in ("mean", "total", "standard_error")})
        document["n_scored"] = figures["n_rows"]
    else:
        document.update({"mean": None, "total": None, "standard_error": None, "n_scored": 0})
    for name, values in scores.extra.items():
        document[name] = summary_of(values)
    document.update(scores.details)
    return document


def row_columns(scores: RowScores) -> tuple[list[str], np.ndarray]:
    """The per-row table ``score --rows`` writes: log_density (when there is one), then the extras."""
    names = (["log_density"] if scores.has_density else []) + list(scores.extra)
    columns = ([scores.log_density] if scores.has_density else []) + list(scores.extra.values())
    return names, np.column_stack(columns)
