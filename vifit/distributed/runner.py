"""``vifit gmm --backend dask``: connect, read partitions, fit by CAVI over them, write the document.

The flow is the shared ``run_fit`` (load, fit, assemble, write, exit code) with a loader that
connects to the cluster and persists the partitions; the prior's data-scaled defaults and the
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
from vifit.models.gmm_moments import MomentAccumulator
from vifit.runners import gmm as runner


class DaskTable:
    """The loaded data: partitions on the cluster, their column names, and the output's data block."""

    def __init__(self, partitions, columns: list, source: str, rows_dropped: int, preprocessing: dict,
                 accumulator: MomentAccumulator):
        self.partitions, self.columns, self.source = partitions, list(columns), source
        self.rows_dropped, self.preprocessing, self.accumulator = rows_dropped, preprocessing, accumulator

    def describe(self) -> dict:
        n, d = self.partitions.shape
        return {"source": self.source, "n_rows": n, "n_features": d, "columns": list(self.columns),
                "rows_dropped": self.rows_dropped, "preprocessing": self.preprocessing}


def merged_moments(partitions) -> MomentAccumulator:
    """n, mean, scatter, min, max of every row: per partition on the workers, merged in order."""
    total = MomentAccumulator(partitions.shape[1])
    for part in partitions.gather(partitions.map(tasks.moments)):
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
    if n < runner.MIN_ROWS:
        raise BadInput(f"{name}: {n} usable row(s), but this model needs at least {runner.MIN_ROWS}")
    accumulator = merged_moments(partitions)
    if accumulator.constant:
        raise BadInput(f"{name}: every column is constant ({n} identical rows); there is nothing to fit")
    preprocessing = {}
    if opts.standardize:
        moments = accumulator.moments(gmm.Spec(1, len(columns), "diag"))
        scale = moments.std.copy()
        for j in np.flatnonzero(~(scale > 0)):
            note(f"column {columns[j]!r} is constant; --standardize leaves its scale at 1")
        scale = np.where(scale > 0, scale, 1.0)
        preprocessing = {"standardize": {"mean": moments.mean.tolist(), "scale": scale.tolist()}}
        standardized = partitions.map(tasks.standardize, moments.mean, scale, opts.dtype)
        partitions.futures = standardized
        accumulator = merged_moments(partitions)
    return DaskTable(partitions, columns, name, dropped, preprocessing, accumulator)


def fit(table: DaskTable, *, seed: int, reporter, k: int, covariance: str = "full", weights: str = "dirichlet",
        init: str = "kmeans++", tol: float = 1e-6, max_iter: int = 500, restarts: int = 1,
        chunk_rows: int | None = None, resp0=None, policy=None, **prior_options):
    """Fit the Bayesian GMM by CAVI over the table's partitions; the FitResult of ``runners.gmm.fit``."""
    from vifit.distributed.cavi import DaskProblem
    from vifit.inference import cavi

    partitions = table.partitions
    n, d = partitions.shape
    runner.check_k([k], n, init)
    if not tol >= 0:
        raise BadInput(f"--tol must be non-negative, got {tol}")
    spec = gmm.Spec(k, d, covariance, weights)
    moments = runner.accumulated_moments(spec, table.accumulator, table.columns, table.source)
    prior, prior_document = runner.resolve_prior(spec, moments, prior_options, reporter.note, table.columns)
    frame = moments.frame
    problem = DaskProblem(spec, gmm.to_frame(prior, spec, frame), frame, partitions, chunk_rows=chunk_rows,
                          rows=partitions)
    result = cavi.fit(problem, seed=seed, init=init, restarts=restarts, tol=tol, max_iter=max_iter,
                      reporter=reporter, policy=policy or cavi.DEFAULT, resp0=resp0)
    return runner.cavi_result(problem, prior, prior_document, result, table.columns, init=init,
                              restarts=restarts, extra={"backend": "dask", "partitions": len(partitions),
                                                        "workers": partitions.workers})


def run_command(data: str, read: dict, out: dict, run: dict, options: dict, backend: dict, svi_options: dict,
                max_iter_given: bool = False) -> None:
    """``vifit gmm DATA --backend dask``: the shared run_fit flow with a loader that connects and
    persists the partitions; the connection is closed when the command ends. ``--method svi``
    (and ``--memoized``) take the partitions as minibatches (``distributed.svi``)."""
    from vifit.fitflow import run_fit

    method = svi_options["method"]
    if method == "svi":
        from vifit.distributed import svi as dask_svi
        from vifit.runners.gmm_svi import check_settings

        if not svi_options["stream"]:
            raise BadInput("--no-stream does not apply to --backend dask (the rows stay on the workers)")
        settings = check_settings(svi_options, options["tol"], options["max_iter"] if max_iter_given else None)
        fit_options = {key: value for key, value in options.items() if key not in ("tol", "max_iter")}
        config = dict(options, max_iter=options["max_iter"] if max_iter_given else None, **svi_options,
                      backend="dask")
        hint = "raise --epochs (or --max-iter when given) or loosen --tol"
    else:
        config = dict(options, backend="dask")
        hint = "raise --max-iter or loosen --tol"

    with contextlib.ExitStack() as stack:
        def load(source, opts, note):
            from vifit.distributed.partitions import refuse_read_once

            refuse_read_once(source)
            client = stack.enter_context(cluster.connect(backend["scheduler"], backend["scheduler_file"], note))
            return load_table(client, source, opts, note, backend.get("worker_wait") or cluster.WORKER_WAIT)

        def fit_table(table, *, seed, reporter, policy):
            if method == "svi":
                result = dask_svi.fit(table, seed=seed, reporter=reporter, settings=settings, policy=policy,
                                      **fit_options)
            else:
                result = fit(table, seed=seed, reporter=reporter, policy=policy, **options)
            config.update(resolved=result.params["prior"])
            return result

        run_fit(source=data, read=read, out=out, run=run, config=config, fit=fit_table, min_rows=runner.MIN_ROWS,
                load=load, not_converged_hint=hint)
