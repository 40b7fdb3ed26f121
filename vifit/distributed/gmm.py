"""``GMM(backend="dask")`` (``vifit gmm --backend dask``): connect, read partitions, fit by CAVI over them.

:func:`load` (the plan's loader) connects to the cluster and persists the partitions; the prior's data-scaled defaults and the
working frame come from moments merged over partitions (``MomentAccumulator.merge``);
``--standardize`` is applied on the workers. The output document is the local backend's, with
``fit.backend = "dask"``, the number of partitions and of workers.
"""

from __future__ import annotations

import contextlib

import numpy as np

from vifit.distributed import cluster, tasks
from vifit.errors import BadInput
from vifit.models import gmm
from vifit.models.gmm_model import GaussianMixture
from vifit.models.gmm_observed import ObservedMomentAccumulator
from vifit.api import gmm_fit


class DaskTable:
    """The loaded data: partitions on the cluster, their column names, and the output's data block."""

    def __init__(self, partitions, columns: list, source: str, rows_dropped: int, preprocessing: dict,
                 accumulator: ObservedMomentAccumulator):
        self.partitions, self.columns, self.source = partitions, list(columns), source
        self.rows_dropped, self.preprocessing, self.accumulator = rows_dropped, preprocessing, accumulator

    def describe(self) -> dict:
        n, d = self.partitions.shape
        return {"source": self.source, "n_rows": n, "n_features": d, "columns": list(self.columns),
                "rows_dropped": self.rows_dropped, "preprocessing": self.preprocessing}


def load(source: str, opts, note, *, backend: dict, resources: contextlib.ExitStack) -> DaskTable:
    """``Plan.load`` of a Dask fit: refuse stdin, connect (closed with ``resources``), read the partitions.

    backend: scheduler, scheduler_file, worker_wait (the ``--backend dask`` options)."""
    from vifit.distributed.partitions import refuse_read_once

    from dataclasses import replace

    refuse_read_once(source)
    opts = replace(opts, missing=not opts.dropna)  # missing cells are the model's, as in a local fit
    client = resources.enter_context(cluster.connect(backend["scheduler"], backend["scheduler_file"], note))
    return load_table(client, source, opts, note, backend.get("worker_wait") or cluster.WORKER_WAIT)


def merged_moments(partitions, use_weights: bool = True) -> ObservedMomentAccumulator:
    """n, mean, scatter, min, max of every row's observed cells (weighted by --row-weights unless
    not use_weights): per partition on the workers, merged in order."""
    total = ObservedMomentAccumulator(partitions.shape[1])
    for part in partitions.gather(partitions.map(tasks.moments, partitions.weighted, use_weights)):
        total.merge(part)
    return total


def load_table(client, source: str, opts, note, worker_wait: float = cluster.WORKER_WAIT) -> DaskTable:
    """Read DATA into partitions on the cluster (``partitions.read_partitions``), check and standardise."""
    from vifit.data import display_name
    from vifit.distributed.partitions import read_partitions

    name = display_name(source)
    # --standardize is computed on the float64 values and then rounded to --dtype, as locally
    partitions, columns, dropped = read_partitions(client, source, opts, note,
                                                   "float64" if opts.standardize else opts.dtype, worker_wait)
    if dropped:
        note(f"dropped {dropped} row(s) with missing or infinite values (--dropna)")
    n = partitions.shape[0]
    if n < gmm_fit.MIN_ROWS:
        raise BadInput(f"{name}: {n} usable row(s), but this model needs at least {gmm_fit.MIN_ROWS}")
    accumulator = merged_moments(partitions)
    _check_rows(accumulator, name, columns, n, partitions.weighted, opts.row_weights)
    preprocessing = {}
    if opts.standardize:  # the rows' moments, each row once, as a table in memory is standardised
        unweighted = merged_moments(partitions, use_weights=False) if partitions.weighted else accumulator
        moments = unweighted.moments(gmm.Spec(1, len(columns), "diag"))
        scale = moments.std.copy()
        for j in np.flatnonzero(~(scale > 0)):
            note(f"column {columns[j]!r} is constant; --standardize leaves its scale at 1")
        scale = np.where(scale > 0, scale, 1.0)
        preprocessing = {"standardize": {"mean": moments.mean.tolist(), "scale": scale.tolist()}}
        standardized = partitions.map(tasks.standardize, moments.mean, scale, opts.dtype, partitions.weighted)
        partitions.futures = standardized
        accumulator = merged_moments(partitions)
    return DaskTable(partitions, columns, name, dropped, preprocessing, accumulator)


def _check_rows(accumulator, name: str, columns: list, n: int, weighted: bool, weight_column) -> None:
    """BadInput for what a local fit refuses too: every column constant, a column or a row with no
    observed cell, every row weight 0."""
    if accumulator.has_missing and accumulator.n > 0:
        gmm_fit.refuse_unobserved(name, columns, accumulator.observed, accumulator.empty_rows)
    if weighted and not accumulator.n > 0:
        raise BadInput(f"{name}: --row-weights column {weight_column!r} is 0 on every row: there is nothing to fit")
    if accumulator.constant:
        raise BadInput(f"{name}: every column is constant ({n} identical rows); there is nothing to fit")


def fit(table: DaskTable, *, seed: int, reporter, k: int, covariance: str = "full", weights: str = "dirichlet",
        init: str = "screened", moves: str = "split-merge", tol: float = 1e-6, max_iter: int = 500, restarts: int = 1,
        chunk_rows: int | None = None, resp0=None, policy=None, **prior_options):
    """Fit the Bayesian GMM by CAVI over the table's partitions; the FitResult of ``api.gmm_fit.fit``."""
    from vifit.distributed.cavi import DaskProblem
    from vifit.inference import cavi

    partitions = table.partitions
    n, d = partitions.shape
    gmm_fit.check_k([k], n, init)
    if not tol >= 0:
        raise BadInput(f"--tol must be non-negative, got {tol}")
    spec = gmm.Spec(k, d, covariance, weights)
    moments = gmm_fit.accumulated_moments(spec, table.accumulator, table.columns, table.source)
    prior, prior_document = gmm_fit.resolve_prior(spec, moments, prior_options, reporter.note, table.columns)
    frame = moments.frame
    accumulator = table.accumulator
    model = GaussianMixture(spec, gmm.to_frame(prior, spec, frame), frame, accumulator.has_missing)
    problem = DaskProblem(model, partitions, chunk_rows=chunk_rows, rows=partitions,
                          weight_total=float(accumulator.n) if partitions.weighted else None)
    if accumulator.has_missing:  # the bound is on the observed cells' density (as gmm_fit.prepare)
        problem.log_jacobian_total = model.cells_log_jacobian(accumulator.observed)
    result = cavi.fit(problem, seed=seed, init=init, restarts=restarts, tol=tol, max_iter=max_iter,
                      reporter=reporter, policy=policy or cavi.DEFAULT, resp0=resp0, moves=moves != "none")
    return gmm_fit.cavi_result(problem, prior, prior_document, result, table.columns, init=init,
                              restarts=restarts, extra={"backend": "dask", "partitions": len(partitions),
                                                        "workers": partitions.workers})

