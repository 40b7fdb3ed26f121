"""The PCA fit: exact PCA of a table to FitResult, with the probabilistic-PCA likelihood."""

from __future__ import annotations

import numpy as np

from vifit.data import Table
from vifit.preprocess import require_representable
from vifit.errors import BadInput
from vifit.models import pca as model
from vifit.models.spread import out_of_range
from vifit.result import FitResult

MIN_ROWS = 2


def fit(table: Table, *, seed: int, reporter, k: int, whiten: bool) -> FitResult:
    """Exact PCA of table.values (n, d) with k components, plus the PPCA likelihood."""
    n, d = table.values.shape
    if k > min(n, d):
        raise BadInput(f"--k {k} is larger than min(rows, columns) = {min(n, d)}")
    # Columns near the float64 limit overflow in the centring itself (x - mean beyond 1.8e308):
    # the spreads then come out NaN or out of range, and the exact check below names the column.
    with np.errstate(over="ignore", invalid="ignore"):
        pca = model.fit(table.values, k)
    if out_of_range(pca.log2_spread, per_column=False) is not None or np.isnan(pca.log2_spread).any():
        require_representable(table.values, table.columns, table.source, "pca", per_column=False)
    reporter.start("pca", total=1, metric="loglik")
    loglik = None
    if pca.noise_variance > 0:
        loglik = float(model.log_likelihood(table.values, pca.mean, pca.components,
                                            pca.explained_variance, pca.noise_variance).sum())
    else:
        reporter.note("PPCA noise variance is 0 (k equals the rank of the data); log-likelihood not defined")
    reporter.update(1, loglik)
    reporter.finish("done")
    summary = {
        "components": pca.components,
        "explained_variance": pca.explained_variance,
        "explained_variance_ratio": pca.explained_variance_ratio,
        "singular_values": pca.singular_values,
        "mean": pca.mean,
        "noise_variance": pca.noise_variance,
        "total_variance": pca.total_variance,
        "whiten": bool(whiten),
    }
    rows = [
        [f"pc{j + 1}", pca.explained_variance[j], pca.explained_variance_ratio[j], *pca.components[j]]
        for j in range(k)
    ]
    table_view = {"columns": ["component", "explained_variance", "explained_variance_ratio", *table.columns],
                  "rows": rows}
    extra = {
        "solver": pca.solver,
        # PPCA's posterior over z is exact, so the ELBO equals the log-likelihood.
        "log_likelihood": loglik,
        "log_likelihood_per_row": None if loglik is None else loglik / n,
    }
    return FitResult(model="pca", method=pca.solver, params={"summary": summary}, status="converged",
                     elbo=loglik, n_rows=n, n_iter=1, trace=[] if loglik is None else [(1, loglik)],
                     fit_extra=extra, table=table_view)
