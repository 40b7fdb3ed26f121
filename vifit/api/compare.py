"""Model comparison on held-out rows (``vifit compare``): every candidate fitted on the same
training rows through its estimator, scored on the same held-out rows by
:func:`vifit.documents.scores.score_rows`, ranked by the mean held-out log density per row.

All figures are nats per row in the units of the data as read (a candidate's --standardize is
its own preprocessing, re-applied and its Jacobian counted when it is scored), so a mixture, a
PCA and a VAE are measured alike. The training ELBO per row (``fit.data_units``) is shown beside
it: it always favours bigger models, which is why the ranking is on held-out rows.
"""

from __future__ import annotations

import json
import time
import warnings

import numpy as np

from vifit.api.compare_spec import Candidate, make_estimator
from vifit.errors import BadInput

SCHEMA = "vifit.compare/1"
CRITERION = "highest mean held-out log density per row"
MIN_ROWS = 3  # two to fit on (splits.holdout's least) and one held out
NO_DENSITY = ("an autoencoder has no density: not ranked; heldout_reconstruction_error is its training loss "
              "(--loss) per held-out row, in its own (possibly standardised) units")
CSV_COLUMNS = ("rank", "name", "kind", "heldout_log_density_per_row", "standard_error", "difference_to_best",
               "difference_standard_error", "train_elbo_per_row", "converged", "n_iter",
               "heldout_reconstruction_error")


def fit_and_score(task: dict) -> dict:
    """One candidate: fit on task["train"] (m, d), score task["heldout"] (h, d) (raw values,
    columns task["columns"]). Module-level and plain in, plain out, for parallel.run_tasks.

    Returns {"text": the vifit.fit/1 document, "heldout": score summary of the log density (None
    without one), "rows": the log density of each held-out row (h,) (None without one),
    "reconstruction": summary of the reconstruction error (autoencoder), "details", "seconds",
    "warnings": [message]}."""
    import pandas as pd

    from vifit.data import Table
    from vifit.documents.scores import score_rows, summary_of

    candidate: Candidate = task["candidate"]
    columns = list(task["columns"])
    started = time.perf_counter()
    estimator = make_estimator(candidate, task["shared"], seed=task["seed"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            estimator.fit(pd.DataFrame(task["train"], columns=columns))
            heldout = Table(values=task["heldout"], columns=columns, source="the held-out rows")
            scores = score_rows(estimator.document_, candidate.name, heldout)
        except BadInput as exc:
            raise BadInput(f"{candidate.name}: {exc}") from None
    seconds = time.perf_counter() - started
    reconstruction = scores.extra.get("reconstruction_error")
    return {"text": estimator._text,
            "heldout": summary_of(scores.log_density) if scores.has_density else None,
            "rows": scores.log_density,
            "reconstruction": None if reconstruction is None else summary_of(reconstruction),
            "details": scores.details, "seconds": seconds,
            "warnings": [str(w.message) for w in caught if issubclass(w.category, UserWarning)]}


def _record(candidate: Candidate, outcome: dict) -> dict:
    """A candidate's entry in the comparison (rank filled in by :func:`_ranked`)."""
    document = json.loads(outcome["text"])
    fit_block = document["fit"]
    units = fit_block.get("data_units") or {}
    heldout = outcome["heldout"] or {}
    entry = {"name": candidate.name, "kind": candidate.kind, "params": candidate.params, "rank": None,
             "heldout_log_density_per_row": heldout.get("mean"), "standard_error": heldout.get("standard_error"),
             "difference_to_best": None, "difference_standard_error": None,
             "n_scored": heldout.get("n_rows", 0), "train_elbo_per_row": units.get("elbo_per_row"),
             "converged": bool(fit_block["converged"]), "n_iter": fit_block.get("n_iter"),
             "heldout_reconstruction_error": None}
    if outcome["reconstruction"] is not None:
        entry["heldout_reconstruction_error"] = outcome["reconstruction"]["mean"]
        entry["note"] = NO_DENSITY
    entry.update(outcome["details"])  # a VAE's IWAE draws
    return entry


def _paired(entries: list[dict], rows: dict) -> None:
    """Each ranked entry's difference to the best on the same held-out rows, and its standard
    error over those rows: the candidates share the rows, so the row-to-row spread they have in
    common cancels and the paired error is the one that says whether two candidates differ.
    rows: {name: (h,) log densities}."""
    from vifit.documents.scores import summary_of

    best = rows[entries[0]["name"]] if entries and entries[0]["rank"] == 1 else None
    for entry in entries:
        if best is not None and entry["rank"] is not None:
            figures = summary_of(rows[entry["name"]] - best)  # a row undefined for either is left out
            entry["difference_to_best"] = figures["mean"]
            entry["difference_standard_error"] = figures["standard_error"] if entry["rank"] > 1 else None


def _ranked(entries: list[dict]) -> list[dict]:
    """Entries with a finite held-out density ranked 1.. (higher first; ties keep SPEC order),
    then the others unranked, in SPEC order."""
    scored = [e for e in entries if e["heldout_log_density_per_row"] is not None]
    scored.sort(key=lambda e: -e["heldout_log_density_per_row"])  # sort is stable: ties keep their order
    for rank, entry in enumerate(scored, start=1):
        entry["rank"] = rank
    return scored + [e for e in entries if e["heldout_log_density_per_row"] is None]


def prepare(models: str, validation: float, shared: dict) -> list[Candidate]:
    """The candidates of the SPEC ``models``, every option and the fraction checked (BadInput,
    one line) before any row is read or model fitted. shared: what every candidate that takes it
    gets (standardize, dtype)."""
    from vifit.api.compare_spec import check_candidates, parse_models
    from vifit.splits import check_fraction

    check_fraction(validation)
    candidates = parse_models(models)
    check_candidates(candidates, shared)
    return candidates


def cluster_options(backend: dict, jobs: int) -> dict | None:
    """None for --backend local; for --backend dask its connection options (scheduler,
    scheduler_file, worker_wait), checked before the table is read: the extra installed, the
    scheduler file readable, no --jobs (the cluster's workers are the parallelism)."""
    if backend.get("backend", "local") != "dask":
        return None
    if jobs != 1:
        raise BadInput("--jobs does not apply to --backend dask: each candidate is one task on the cluster's "
                       "workers; drop --jobs")
    from vifit.distributed import cluster

    cluster.require_dask()
    cluster.scheduler_address(backend.get("scheduler"), backend.get("scheduler_file"))
    return {name: backend.get(name) for name in ("scheduler", "scheduler_file", "worker_wait")}


def _run(tasks: list[dict], arrays: dict, jobs: int, backend: dict | None, note) -> tuple[list, dict]:
    """(the outcomes of fit_and_score on each task with the shared arrays, in order; what the
    run block records of where they ran). backend None: jobs local processes
    (parallel.run_tasks); else the --backend dask options: a task per candidate on the cluster."""
    if backend is not None:
        from vifit.distributed.candidates import run_on_cluster

        outcomes, workers = run_on_cluster(fit_and_score, tasks, arrays, backend, note)
        return outcomes, {"backend": "dask", "workers": workers}
    from vifit.parallel import run_tasks

    return run_tasks(fit_and_score, [{**task, **arrays} for task in tasks], jobs), {"jobs": int(jobs)}


def _fit_all(values: np.ndarray, columns: list[str], candidates: list[Candidate], *, validation: float,
             seed: int, shared: dict, jobs: int, reporter, backend: dict | None = None) -> tuple[dict, dict]:
    """Fit and score every candidate on one split of values (n, d) (raw, finite): (the figures
    of the vifit.compare/1 document, the run block's figures: seconds per candidate name and
    where they ran). jobs: processes (parallel.run_tasks), backend: a Dask cluster instead
    (:func:`_run`); the figures depend on neither."""
    from vifit.splits import holdout
    from vifit.units import UNITS

    train, heldout = holdout(values.shape[0], validation, seed)
    arrays = {"train": np.ascontiguousarray(values[train]), "heldout": np.ascontiguousarray(values[heldout])}
    tasks = [{"candidate": c, "shared": shared, "columns": columns, "seed": seed} for c in candidates]
    reporter.note(f"fitting {len(candidates)} candidate(s) on {train.size} rows, each scored on the same "
                  f"{heldout.size} held-out rows (seed {seed})")
    outcomes, where = _run(tasks, arrays, jobs, backend, reporter.note)
    for candidate, outcome in zip(candidates, outcomes):
        for message in outcome["warnings"]:
            reporter.warn(f"{candidate.name}: {message}")
        scored = (outcome["heldout"] or {}).get("n_rows", heldout.size)
        if outcome["heldout"] is not None and scored == 0:  # NaN: a density the model does not define (PPCA, k = d)
            reporter.warn(f"{candidate.name}: none of the {heldout.size} held-out rows has a finite log density: "
                          f"not ranked")
        elif scored < heldout.size:
            reporter.warn(f"{candidate.name}: {heldout.size - scored} of the {heldout.size} held-out rows have no "
                          f"finite log density; its mean is over the other {scored} (n_scored)")
    entries = _ranked([_record(c, o) for c, o in zip(candidates, outcomes)])
    _paired(entries, {c.name: o["rows"] for c, o in zip(candidates, outcomes)})
    best = entries[0]["name"] if entries and entries[0]["rank"] == 1 else None
    figures = {"seed": int(seed), "validation": float(validation), "n_train": int(train.size),
               "n_heldout": int(heldout.size), "units": UNITS, "criterion": CRITERION,
               "standardize": bool(shared.get("standardize")), "candidates": entries, "best": best}
    return figures, {**where, "candidate_seconds": {c.name: o["seconds"] for c, o in zip(candidates, outcomes)}}


def run_comparison(table, models: str, candidates: list[Candidate], *, validation: float, seed: int, shared: dict,
                   jobs: int, reporter, backend: dict | None = None) -> dict:
    """The vifit.compare/1 document of the candidates on ``table`` (a vifit.data.Table of raw
    values); its run block holds the only figures that vary between runs (the times, where the
    fits ran). backend: the --backend dask options (scheduler, scheduler_file, worker_wait), or
    None for jobs local processes."""
    import datetime

    from vifit import __version__
    from vifit.runinfo import run_info

    started, wall_start = time.perf_counter(), datetime.datetime.now(datetime.timezone.utc)
    if shared.get("standardize") and any(c.kind == "mixture" for c in candidates):
        reporter.note("mixture candidates take no --standardize: they are fitted to the rows as read")
    figures, ran = _fit_all(np.asarray(table.values, dtype=np.float64), list(table.columns), candidates,
                            validation=validation, seed=seed, shared=shared, jobs=jobs, reporter=reporter,
                            backend=backend)
    data = {key: value for key, value in table.describe().items() if key != "preprocessing"}
    run = {**run_info(started, wall_start), **ran}
    return {"schema": SCHEMA, "vifit_version": __version__, "models": models, "data": data, **figures, "run": run}


def compare(X, models: str, *, validation: float = 0.2, seed=None, standardize: bool = False, dtype=None,
            dropna: bool = False, jobs: int = 1, progress="none", backend: str = "local", scheduler=None,
            scheduler_file=None, worker_wait=None) -> dict:
    """``vifit compare`` from Python: the vifit.compare/1 document (a dict) of the candidates of
    ``models`` (the --models SPEC, e.g. "gmm:k=1-6;pca:k=1-4") on X (n, d), an array or a
    DataFrame. The same figures as the command on the same rows and seed; seed None draws one
    (recorded); progress as the estimators take it; backend "dask" (with scheduler,
    scheduler_file, worker_wait as ``vifit.GMM`` takes them): a task per candidate on a cluster."""
    from vifit import parameters
    from vifit.api.base import reporter_for, rows_of
    from vifit.data import ReadOptions, table_of
    from vifit.runinfo import resolve_seed

    connection = {"backend": backend, "scheduler": scheduler, "scheduler_file": scheduler_file,
                  "worker_wait": worker_wait}
    parameters.check("gmm", connection)  # the entries --backend and its options share (commands.backend_options)
    cluster = cluster_options(connection, jobs)
    shared = {"standardize": bool(standardize), **({"dtype": dtype} if dtype is not None else {})}
    candidates = prepare(models, validation, shared)
    reporter = reporter_for(progress)
    block, columns, name, dropped = rows_of(X, dropna=dropna)
    table = table_of(block, columns, name, ReadOptions(dropna=dropna), rows_dropped=dropped, min_rows=MIN_ROWS,
                     note=reporter.note, require_variation=True)
    reporter.release()
    return run_comparison(table, models, candidates, validation=validation, seed=resolve_seed(seed), shared=shared,
                          jobs=jobs, reporter=reporter, backend=cluster)


def _csv_cell(value):
    """None as an empty cell (pandas reads NaN), a flag as JSON writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def csv_rows(document: dict) -> list[list]:
    """One row per candidate, in ranking order, under CSV_COLUMNS."""
    return [[_csv_cell(entry.get(name)) for name in CSV_COLUMNS] for entry in document["candidates"]]
