"""``vifit mixture --backend dask`` (``Mixture(backend="dask")``): a mixed table's partitions on a
cluster, fitted by the CAVI loop over them (``distributed.cavi.DaskProblem``: the model's local
step on the workers, the rest on the client), or by SVI with each partition a minibatch
(``distributed.svi.DaskSviProblem``), as ``vifit gmm --backend dask`` is.

:func:`load` connects, chooses the columns and their kinds from the first file's head (as
``api.mixture.read_options`` reads a file), reads each piece's category labels on the workers,
sorts their union once so that every partition codes them alike, reads the pieces with those
levels (``mixed_pieces``), and merges the partitions' column summaries (``ColumnScan``), from
which the families are inferred and the priors built exactly as for a table in memory.
"""

from __future__ import annotations

import contextlib

import numpy as np

from vifit.distributed import cluster, mixed_pieces, reading, tasks
from vifit.distributed.partitions import RETRIES, Partitions, first_frame, refuse_read_once, resolve_files
from vifit.errors import BadInput


class DaskMixtureTable:
    """Partitions of a mixed table on the cluster: columns, levels {column: labels}, the merged
    ColumnScan, missing cells, weight total (None without --row-weights), rows dropped."""

    def __init__(self, partitions: Partitions, columns, levels, scan, missing_cells, weight_total, source,
                 rows_dropped):
        self.partitions, self.columns, self.levels, self.scan = partitions, list(columns), levels, scan
        self.missing_cells, self.weight_total, self.source = missing_cells, weight_total, source
        self.rows_dropped = rows_dropped

    @property
    def n_rows(self) -> int:
        return self.partitions.shape[0]

    def describe(self) -> dict:
        n, d = self.partitions.shape
        return {"source": self.source, "n_rows": n, "n_features": d, "columns": list(self.columns),
                "rows_dropped": self.rows_dropped, "preprocessing": {"levels": self.levels} if self.levels else {}}


def load(source: str, opts, note, *, family: str | None, backend: dict,
         resources: contextlib.ExitStack) -> DaskMixtureTable:
    """``Plan.load`` of a Dask mixture fit (backend: scheduler, scheduler_file, worker_wait)."""
    from vifit.api.mixture import read_options

    refuse_read_once(source)
    client = resources.enter_context(cluster.connect(backend["scheduler"], backend["scheduler_file"], note))
    return read_table(client, source, read_options(opts, family=family), note,
                      backend.get("worker_wait") or cluster.WORKER_WAIT)


def read_table(client, source: str, opts, note, wait: float, required: list | None = None,
               row_numbers: bool = False) -> DaskMixtureTable:
    """The partitions of a mixed table read on the cluster (opts: a mixed read's, see data.mixed;
    required: exactly these columns, for predict, whose opts.levels fix the codes; row_numbers:
    keep each row's data row within its piece, as ``partitions.read_partitions`` does)."""
    from vifit.data import display_name, mixed

    name = display_name(source)
    files = resolve_files(source)
    first, layout = first_frame(files[0], opts, note)
    plan = mixed.plan_columns(first, layout, opts, name, note, required)

    def gather(futures):
        return cluster.gather(client, futures, wait)

    def raise_first(results):
        problems = [problem for _, problem in results if problem is not None]
        if problems:
            raise BadInput(problems[0])  # the first piece's, in the partitions' fixed order

    header = layout.sep.join(layout.header_names) if opts.header else None
    pieces = reading.plan(files)
    common = (list(layout.fields), header, layout.sep, layout.decimal, plan, opts)
    levels = dict(opts.levels or {})
    if plan.categories and not levels:
        labelled = gather([client.submit(mixed_pieces.piece_labels, piece, *common, retries=RETRIES)
                           for piece in pieces])
        raise_first(labelled)
        for column in sorted(plan.categories):
            seen = dict.fromkeys(label for labels, _ in labelled for label in labels.get(column, ()))
            levels[column] = mixed.sorted_labels(seen)
    pairs = [client.submit(mixed_pieces.read_mixed_piece, piece, *common, levels, row_numbers, retries=RETRIES)
             for piece in pieces]
    raise_first(gather([client.submit(_problem_only, pair) for pair in pairs]))
    arrays = [client.submit(mixed_pieces.first_of, pair, retries=RETRIES) for pair in pairs]
    lengths = gather([client.submit(tasks.n_rows, a, retries=RETRIES) for a in arrays])
    lost = gather([client.submit(mixed_pieces.dropped_of, pair) for pair in pairs])
    dropped = sum(lost)
    numbers = [client.submit(mixed_pieces.rows_of, pair, retries=RETRIES) for pair in pairs] if row_numbers else None
    del pairs
    weighted = plan.weight is not None
    partitions = Partitions(client, arrays, lengths, len(plan.features), wait, weighted=weighted)
    if row_numbers:
        partitions.pieces, partitions.row_numbers = list(pieces), numbers
        partitions.rows_read = [int(n) + int(d) for n, d in zip(lengths, lost)]
    if dropped:
        note(f"dropped {dropped} row(s) with missing or infinite values (--dropna)")
    if required is None and partitions.shape[0] < 2:
        raise BadInput(f"{name}: {partitions.shape[0]} usable row(s), but this model needs at least 2")
    scans = gather(partitions.map(tasks.column_scan, weighted))
    scan = scans[0]
    for part in scans[1:]:
        scan.merge(part)
    missing = sum(gather(partitions.map(tasks.missing_cells, weighted)))
    weight_total = None
    if weighted:
        weight_total = float(sum(gather(partitions.map(_weight_sum))))
        if not weight_total > 0:
            raise BadInput(f"{name}: --row-weights column {plan.weight!r} is 0 on every row: there is nothing to fit")
    return DaskMixtureTable(partitions, plan.features, levels, scan, missing, weight_total, name, dropped)


def _problem_only(pair):
    return (None, pair[1])


def _weight_sum(x: np.ndarray) -> float:
    return float(x[:, -1].sum())


def _model(table: DaskMixtureTable, reporter, *, k, family, weights, weight_concentration, init):
    """The product model of the partitions' columns and its families (after the local fit's checks)."""
    from vifit.api import mixture_fit
    from vifit.api.gmm_fit import check_k, refuse_unobserved

    check_k([k], table.n_rows, init)
    refuse_unobserved(table.source, table.columns, table.scan.count)
    return mixture_fit.build(table, k=k, family=family, weights=weights, weight_concentration=weight_concentration,
                             note=reporter.note, scan=table.scan)


def fit_svi(table: DaskMixtureTable, *, seed: int, reporter, settings, k: int, family: str | None = None,
            weights: str = "dirichlet", weight_concentration: float | None = None, init: str = "kmeans++",
            restarts: int = 1, chunk_rows: int | None = None, policy=None):
    """The mixture by SVI or memoized VB with each partition as one minibatch, as ``vifit gmm
    --backend dask --method svi`` (``distributed.svi``); the FitResult of the local SVI fit."""
    import math
    from dataclasses import replace

    from vifit.api import mixture_fit
    from vifit.api.gmm_svi import run_restarts
    from vifit.distributed.cavi import SAMPLE_ROWS, sample_rows
    from vifit.distributed.svi import DaskSviProblem
    from vifit.inference.policy import DEFAULT
    from vifit.models.mixture import Workspace

    model, groups = _model(table, reporter, k=k, family=family, weights=weights,
                           weight_concentration=weight_concentration, init=init)
    parts, n = table.partitions, table.n_rows
    batch = math.ceil(n / len(parts))
    reporter.note(f"--backend dask: each of the {len(parts)} partitions is a minibatch (about {batch} rows); "
                  f"--batch-size is not used")
    settings = replace(settings, batch_size=batch)
    problem = DaskSviProblem(model, parts, chunk_rows=chunk_rows, weight_total=table.weight_total)
    zero = np.zeros((model.k, model.n_stats))  # any coefficients give the cells' sums the Jacobian needs
    problem.jacobian_total = model.jacobian(problem.pass_statistics(zero))
    children = np.random.SeedSequence(int(seed)).spawn(restarts + 1)
    sample = sample_rows(parts, np.random.default_rng(children[0]), SAMPLE_ROWS)
    method = "memoized" if settings.memoized else "svi"
    total = len(parts) * settings.epochs
    if settings.max_iter is not None:
        total = min(total, settings.max_iter)
    best, best_index, elbos = run_restarts(problem, settings, reporter, sample=sample,
                                           sample_ws=Workspace(model, max(1, min(problem.chunk_rows,
                                                                                 sample.shape[0]))),
                                           init=init, seeds=children[1:], scale=n / sample.shape[0], n_rows=n,
                                           total=total, method=method, policy=policy or DEFAULT)
    state = best.state
    extra = {"batch_size": batch, "chunk_rows": problem.chunk_rows, "steps": state.step,
             "epochs": state.rows_seen / n, "rows_visited": state.rows_seen,
             "estimate_trace": [[int(i), float(v)] for i, v in best.estimates], "backend": "dask",
             "partitions": len(parts), "workers": parts.workers}
    if method == "svi":
        extra.update(forgetting=settings.forgetting, delay=settings.delay)
    return mixture_fit.result_of(model, state.lam, table, groups, method=method, status=best.status, elbo=best.elbo,
                                 n_iter=state.step, trace=best.trace, best_restart=best_index, restart_elbos=elbos,
                                 init=init, restarts=restarts, extra=extra,
                                 counts=(n, table.weight_total, table.missing_cells))


def fit(table: DaskMixtureTable, *, seed: int, reporter, k: int, family: str | None = None,
        weights: str = "dirichlet", weight_concentration: float | None = None, init: str = "kmeans++",
        tol: float = 1e-6, max_iter: int = 500, restarts: int = 1, chunk_rows: int | None = None, policy=None,
        resp0=None):
    """The mixture by CAVI over the table's partitions; the FitResult of ``api.mixture_fit.fit``."""
    from vifit.api import mixture_fit
    from vifit.distributed.cavi import DaskProblem
    from vifit.inference import cavi

    model, groups = _model(table, reporter, k=k, family=family, weights=weights,
                           weight_concentration=weight_concentration, init=init)
    partitions = table.partitions
    problem = DaskProblem(model, partitions, chunk_rows=chunk_rows, rows=partitions, weight_total=table.weight_total)
    result = cavi.fit(problem, seed=seed, init=init, restarts=restarts, tol=tol, max_iter=max_iter,
                      reporter=reporter, policy=policy or cavi.DEFAULT, resp0=resp0)
    state = result.state
    return mixture_fit.result_of(
        model, state.lam, table, groups, method="cavi", status=result.status, elbo=problem.data_units(state.elbo),
        n_iter=state.iteration, trace=state.trace, best_restart=result.best_restart,
        restart_elbos=result.restart_elbos, init=init, restarts=restarts,
        extra={"chunk_rows": problem.chunk_rows, "backend": "dask", "partitions": len(partitions),
               "workers": partitions.workers},
        counts=(table.n_rows, table.weight_total, table.missing_cells))
