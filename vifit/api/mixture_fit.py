"""The mixture fit: a table of mixed columns (gaussian, bernoulli, poisson, categorical) to a
FitResult, by the same CAVI loop as the Gaussian mixture (inference.cavi on a models.product model).

Missing cells (NaN) are marginalised in the model: a per-column family's missing cell contributes
nothing to the bound, so no row is dropped unless --dropna asks for it.
"""

from __future__ import annotations

import numpy as np

from vifit.api import mixture_families
from vifit.data import Table
from vifit.errors import BadInput
from vifit.result import FitResult


def check_rows(table: Table, k: int, init: str) -> None:
    """BadInput when K exceeds the rows an init needs, or a column is never observed."""
    from vifit.api.gmm_fit import check_k, refuse_unobserved

    check_k([k], table.n_rows, init)
    if table.n_rows:
        refuse_unobserved(table.source, table.columns, (~np.isnan(table.values)).sum(axis=0))


def build(table: Table, *, k: int, family: str | None, weights: str, weight_concentration, note, scan=None):
    """The product model of the table's columns and the families it uses [(family, indices)];
    scan: the columns' ColumnScan when the rows are streamed (else made from table.values)."""
    from vifit.models import product
    from vifit.models.product_scan import ColumnScan

    scan = ColumnScan.of(table.values) if scan is None else scan
    levels = getattr(table, "levels", None) or {}
    groups = mixture_families.resolve(family, table.columns, scan, levels)
    note(mixture_families.note(groups, table.columns))
    try:
        model = product.build_from(scan, groups, k=k, weights=weights, alpha0=weight_concentration,
                                   levels={i: levels[name] for i, name in enumerate(table.columns) if name in levels})
    except product.ColumnValues as exc:  # a column's values do not fit the family --family gave it
        raise BadInput(f"{table.source}: column {table.columns[exc.column]!r}: {exc.reason} "
                       f"(set its family with --family)") from None
    return model, groups


def fit(table: Table, *, seed: int, reporter, k: int, family: str | None = None, weights: str = "dirichlet",
        weight_concentration: float | None = None, init: str = "kmeans++", tol: float = 1e-6,
        max_iter: int = 500, restarts: int = 1, chunk_rows: int | None = None, policy=None,
        threads: int | None = None, resp0=None) -> FitResult:
    """Fit the mixture to table.values (n, D) by CAVI; components sorted by weight."""
    from vifit.inference import cavi
    from vifit.threads import row_threads

    check_rows(table, k, init)
    model, groups = build(table, k=k, family=family, weights=weights, weight_concentration=weight_concentration,
                          note=reporter.note)
    threads = row_threads() if threads is None else threads
    problem = cavi.Problem(model, table.values, weights=table.weights, chunk_rows=chunk_rows, workers=threads)
    try:
        result = cavi.fit(problem, seed=seed, init=init, restarts=restarts, tol=tol, max_iter=max_iter,
                          reporter=reporter, policy=policy or cavi.DEFAULT, resp0=resp0)
    finally:
        problem.rows.close()
    state = result.state
    return result_of(model, state.lam, table, groups, method="cavi", status=result.status,
                     elbo=problem.data_units(state.elbo), n_iter=state.iteration, trace=state.trace,
                     best_restart=result.best_restart, restart_elbos=result.restart_elbos, init=init,
                     restarts=restarts, extra={"row_threads": problem.rows.workers, "chunk_rows": problem.chunk_rows})


def result_of(model, lam: np.ndarray, table: Table, groups, *, method: str, status: str, elbo: float, n_iter: int,
              trace: list, best_restart: int, restart_elbos: list, init: str, restarts: int, extra: dict,
              counts: tuple | None = None) -> FitResult:
    """The FitResult of a product mixture fitted to table (lam: the kept factors); counts: (rows,
    weight total or None, missing cells) of streamed rows (else read from the table)."""
    q = model.variational(lam)
    description = model.describe(q)
    weights = np.asarray(description["expected_weights"], dtype=float)
    columns = table.columns
    if counts is None:
        counts = (table.n_rows, None if table.weights is None else float(table.weights.sum()),
                  int(np.isnan(table.values).sum()))
    n_rows, weight_total, missing_cells = counts
    families = {columns[i]: family for family, indices in groups for i in indices}
    fit_extra = {
        "init": init, "restarts": restarts, "best_restart": best_restart, "restart_elbos": restart_elbos,
        "effective_components": int(np.sum(weights > 1.0 / (2.0 * (weight_total or n_rows)))),
        "families": families,
        "missing_cells": missing_cells,
        **extra,
    }
    if weight_total is not None:
        fit_extra["weight_total"] = weight_total
    header = ["component", "weight"] + [f"mean_{c}" for c in columns]
    means = component_means(model, q)
    rows = [[j + 1, weights[j], *means[j]] for j in range(model.k)]
    return FitResult(model="mixture", method=method, params=description, status=status, elbo=elbo,
                     n_rows=n_rows, n_iter=n_iter, trace=trace, fit_extra=fit_extra,
                     table={"columns": header, "rows": rows}, resolved={"families": families})


def component_means(model, q) -> np.ndarray:
    """(k, D): each component's predictive mean per column in data units (a categorical
    column: the code of its most probable level)."""
    means = np.full((model.k, model.n_columns), np.nan)
    for family, block in zip(model.families, model.blocks):
        means[:, list(family.columns)] = family.conditional_mean(q.lam[block], q.counts)
    return means


def fit_svi(table: Table, *, seed: int, reporter, settings, k: int, family: str | None = None,
            weights: str = "dirichlet", weight_concentration: float | None = None, init: str = "kmeans++",
            restarts: int = 1, chunk_rows: int | None = None, policy=None) -> FitResult:
    """The mixture by SVI or memoized VB (settings: inference.svi.Settings) on the rows in memory,
    with the loop ``vifit gmm --method svi`` runs (api.gmm_svi.run_restarts)."""
    from vifit.api.gmm_svi import INIT_ROWS
    from vifit.inference import svi

    check_rows(table, k, init)
    model, groups = build(table, k=k, family=family, weights=weights, weight_concentration=weight_concentration,
                          note=reporter.note)
    x, w, n = table.values, table.weights, table.n_rows
    rows = x if w is None else np.column_stack([x, w])  # the weight rides as a last column (svi.Problem.split)
    sequence = np.random.SeedSequence(int(seed))  # child 0 for the start's sample, 1.. for the restarts
    picked = np.random.default_rng(sequence.spawn(1)[0]).permutation(n)[:INIT_ROWS]
    weight_total = None if w is None else float(w.sum())
    return _run_svi(model, groups, table, svi.ArraySource(rows), rows[np.sort(picked)], n, weight_total,
                    sequence, seed=seed, reporter=reporter, settings=settings, init=init, restarts=restarts,
                    chunk_rows=chunk_rows, policy=policy)


def fit_svi_stream(loaded, *, seed: int, reporter, settings, k: int, family: str | None = None,
                   weights: str = "dirichlet", weight_concentration: float | None = None, init: str = "kmeans++",
                   restarts: int = 1, chunk_rows: int | None = None, policy=None) -> FitResult:
    """The mixture by SVI or memoized VB on a file read in blocks (api.mixture.load_stream): one
    pass for the columns' summaries (family inference, checks, priors) and a uniform sample of
    rows for the start, then the loop of :func:`fit_svi` over the stream."""
    from types import SimpleNamespace

    from vifit.api.gmm_fit import check_k, refuse_unobserved
    from vifit.api.gmm_svi import INIT_ROWS, stream_windows
    from vifit.models.gmm_moments import RowSample
    from vifit.models.product_scan import ColumnScan

    source, stream = loaded.source, loaded.source.stream
    sequence = np.random.SeedSequence(int(seed))
    scan, sample = ColumnScan(len(stream.columns)), RowSample(INIT_ROWS, np.random.default_rng(sequence.spawn(1)[0]))
    windows = stream_windows(source)
    n, weight_total, missing = 0, 0.0, 0
    for block in source.blocks():
        features = stream.features(block)
        scan.add(features)
        sample.add(block)
        if windows is not None:
            windows.add(features)
        n += block.shape[0]
        missing += int(np.isnan(features).sum())
        if stream.weighted:
            weight_total += float(block[:, -1].sum())
    table = SimpleNamespace(columns=list(stream.columns), levels=stream.levels, source=loaded.name)
    check_k([k], n, init)
    refuse_unobserved(loaded.name, table.columns, scan.count)
    if stream.weighted and not weight_total > 0:
        raise BadInput(f"{loaded.name}: --row-weights column {stream.opts.row_weights!r} is 0 on every row: there "
                       f"is nothing to fit")
    model, groups = build(table, k=k, family=family, weights=weights, weight_concentration=weight_concentration,
                          note=reporter.note, scan=scan)
    return _run_svi(model, groups, table, source, sample.sample(), n, weight_total if stream.weighted else None,
                    sequence, seed=seed, reporter=reporter, settings=settings, init=init, restarts=restarts,
                    chunk_rows=chunk_rows, policy=policy, missing_cells=missing, windows=windows)


def _run_svi(model, groups, table, source, sample: np.ndarray, n: int, weight_total: float | None, sequence, *,
             seed, reporter, settings, init, restarts, chunk_rows, policy, missing_cells: int | None = None,
             windows=None):
    """SVI or memoized VB restarts of the product model over source (n rows; sample: the start's rows,
    with their weight column when weighted; windows: the first pass's window_order.WindowMeans of a
    streamed file, else None); the FitResult."""
    from dataclasses import replace

    from vifit.api.gmm_svi import note_stream_windows, run_restarts
    from vifit.inference import svi
    from vifit.inference.init import SpawnedSeeds
    from vifit.inference.passes import auto_chunk_rows
    from vifit.inference.policy import DEFAULT
    from vifit.models.mixture import Workspace

    chunk = min(chunk_rows or auto_chunk_rows(model), n)
    problem = svi.Problem(model, source, chunk_rows=chunk, weight_total=weight_total)
    zero = np.zeros((model.k, model.n_stats))  # any coefficients give the cells' sums the Jacobian needs
    problem.jacobian_total = model.jacobian(problem.pass_statistics(zero))
    batch = min(settings.batch_size, n)
    if batch < settings.batch_size:
        reporter.note(f"--batch-size {settings.batch_size} is more than the {n} rows; using {n} (one batch per epoch)")
    settings = replace(settings, batch_size=batch)
    note_stream_windows(source, n, reporter.note, windows)
    method = "memoized" if settings.memoized else "svi"
    total = max(1, n // batch) * settings.epochs
    if settings.max_iter is not None:
        total = min(total, settings.max_iter)
    best, best_index, elbos = run_restarts(problem, settings, reporter, sample=sample,
                                           sample_ws=Workspace(model, max(1, min(chunk, sample.shape[0]))),
                                           init=init, seeds=SpawnedSeeds(sequence, restarts),
                                           scale=n / sample.shape[0], n_rows=n, total=total, method=method,
                                           policy=policy or DEFAULT)
    state = best.state
    extra = {"batch_size": batch, "chunk_rows": chunk, "steps": state.step, "epochs": state.rows_seen / n,
             "rows_visited": state.rows_seen, "estimate_trace": [[int(i), float(v)] for i, v in best.estimates]}
    if method == "svi":
        extra.update(forgetting=settings.forgetting, delay=settings.delay)
    counts = None if missing_cells is None else (n, weight_total, missing_cells)
    return result_of(model, state.lam, table, groups, method=method, status=best.status, elbo=best.elbo,
                     n_iter=state.step, trace=best.trace, best_restart=best_index, restart_elbos=elbos, init=init,
                     restarts=restarts, extra=extra, counts=counts)
