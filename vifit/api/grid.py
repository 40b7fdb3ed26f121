"""The selection grid: fit every candidate (K, and gmm's covariance type) by CAVI, on the rows a
split leaves for fitting, score each on its held-out rows, choose one (api.gmm_select), and
return the chosen candidate's FitResult carrying ``fit.selection`` and ``fit.validation``.

Every fit is a :class:`Task`: a candidate's fit on some rows, with the rows to score it on.
Per candidate there is one *main* task, whose result is the candidate's model, and with
``--folds F`` F more:

    no split        main: all rows                     (ICL from all rows)
    --validation    main: the training rows            (scored on the held-out rows; ICL from the training rows)
    --folds F       main: all rows (the written model), and per fold: its training rows,
                    scored on its held-out part

The tasks are independent, so ``--jobs N`` runs them in N spawned processes
(vifit.parallel.run_tasks); each is seeded as in one process and the per-chunk sums do not
depend on the threads (inference.passes), so the results equal ``--jobs 1``'s. With one job the
fits run here, with their progress shown; in worker processes notes and warnings are recorded
and said here afterwards, in the tasks' order. A stop request (SIGINT, SIGTERM) ends a run of
one job after the fit in progress; with several jobs the workers leave the signals to this
process, which passes the request on (vifit.parallel): the fits under way stop after their
current sweep, those not started after their first, and the outcomes up to the first fit that
was interrupted are kept, as with one job.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

from vifit.api import gmm_select, heldout


@dataclass(frozen=True)
class Grid:
    """What a plan hands to :func:`fit_grid`. fit: ``fit(rows, *, seed, reporter, policy, options,
    prefix)`` -> FitResult of one candidate (a module-level function: tasks are pickled);
    options: its options, "k" (and "covariance" for gmm) set per candidate; covariances: gmm's
    list (None: the mixture); split: api.heldout.split_of; select: --select (None: the default);
    spec: the --k text, for messages."""

    fit: Callable
    options: dict
    ks: list
    covariances: list | None
    spec: str
    split: tuple | None = None
    select: str | None = None
    jobs: int = 1
    strict: bool = False


@dataclass(frozen=True)
class Task:
    """A candidate's fit: candidate (its index), fit (a partial of Grid.fit with the candidate's
    options), train (row indices, sorted; None: all rows), heldout (rows to score, or None), entropy:
    whether to compute sum_n w_n H(r_n) over the fitted rows (the main task's ICL)."""

    candidate: int
    fit: Callable
    train: np.ndarray | None
    heldout: np.ndarray | None
    entropy: bool


@dataclass
class Outcome:
    """What a task gives back: the FitResult, the held-out rows' log densities (m,) or None, the
    entropy total or None, and the notes and warnings a worker recorded [(kind, message)]."""

    result: object
    density: np.ndarray | None
    entropy: float | None
    messages: list


def candidates(grid: Grid) -> list[tuple[int, str | None]]:
    """[(k, covariance)]: K outer, covariance inner (covariance None for the mixture)."""
    return [(k, covariance) for k in grid.ks for covariance in (grid.covariances or [None])]


def tasks_of(grid: Grid, n_rows: int, seed: int) -> list[Task]:
    """The tasks of the grid on n_rows rows, candidate by candidate (main task first)."""
    parts = heldout.train_sets(grid.split, n_rows, seed) if grid.split is not None else None
    several = grid.covariances is not None and len(grid.covariances) > 1
    tasks = []
    for index, (k, covariance) in enumerate(candidates(grid)):
        options = {**grid.options, "k": k, **({"covariance": covariance} if covariance is not None else {})}
        prefix = f"K = {k}{' (' + covariance + ')' if several else ''}: " if len(candidates(grid)) > 1 else ""
        fit = partial(grid.fit, options=options, prefix=prefix)
        if parts is not None and grid.split[0] == "validation":
            train, out = parts[0]
            tasks.append(Task(index, fit, train, out, True))
            continue
        tasks.append(Task(index, fit, None, None, True))
        for train, out in parts or []:
            tasks.append(Task(index, fit, train, out, False))
    return tasks


def run_task(task: Task, table, *, seed: int, reporter, policy) -> Outcome:
    """Fit the task's rows; score its held-out rows; the entropy of the fitted rows when asked."""
    from vifit.units import with_data_units

    rows = heldout.subtable(table, task.train)
    result = task.fit(rows, seed=seed, reporter=reporter, policy=policy)
    with_data_units(result, rows, rows.describe())  # of the rows it was fitted on (run_fit keeps this one)
    density = entropy = None
    if task.heldout is not None:
        density = heldout.row_scores(result, table, task.heldout)
    if task.entropy:
        entropy = heldout.entropy_total(heldout.responsibilities(result, rows), rows.weights)
    return Outcome(result, density, entropy, [])


class _Recorded:
    """A worker's reporter: progress goes nowhere, notes and warnings are kept for the caller."""

    def __init__(self):
        from vifit.progress import Reporter

        self._quiet, self.messages = Reporter("none"), []

    def __getattr__(self, name):
        return getattr(self._quiet, name)

    def note(self, message: str) -> None:
        self.messages.append(("note", message))

    def warn(self, message: str) -> None:
        self.messages.append(("warn", message))


def run_job(job) -> Outcome:
    """One task in a worker process (vifit.parallel.run_tasks): job = (task, table, seed, on_decrease)."""
    from vifit import parallel
    from vifit.inference.policy import LoopPolicy

    parallel.ignore_signals_in_worker()  # the caller's handler owns the stop request (module doc)
    task, table, seed, on_decrease = job
    reporter = _Recorded()
    policy = LoopPolicy(on_decrease=on_decrease, should_stop=parallel.stop_requested)
    outcome = run_task(task, table, seed=seed, reporter=reporter, policy=policy)
    outcome.messages = reporter.messages
    return outcome


class _OnceNotes:
    """The grid's reporter: a note said word for word before (each fit's families, a singular
    covariance's ridge, every fold's) is not said again."""

    def __init__(self, reporter):
        self._reporter, self._said = reporter, set()

    def __getattr__(self, name):
        return getattr(self._reporter, name)

    def note(self, message: str) -> None:
        if message not in self._said:
            self._said.add(message)
            self._reporter.note(message)


def _run(grid: Grid, tasks: list[Task], table, seed: int, reporter, policy) -> list[Outcome]:
    """The outcomes in the tasks' order; with one job, up to a fit that was interrupted."""
    if grid.jobs > 1 and len(tasks) > 1:
        from vifit.parallel import run_tasks

        from vifit import interrupt

        on_decrease = getattr(policy, "on_decrease", "warn")
        stop = policy.should_stop if policy is not None else interrupt.requested
        outcomes = run_tasks(run_job, [(task, table, seed, on_decrease) for task in tasks], grid.jobs, stop=stop)
        # as with one job: the outcomes up to the first fit that was interrupted
        stopped = [i for i, outcome in enumerate(outcomes) if outcome.result.status == "interrupted"]
        outcomes = outcomes[:stopped[0] + 1] if stopped else outcomes
        reporter.release()  # the notes held until a fit starts (Reporter.start) come first, as with one job
        for outcome in outcomes:
            for kind, message in outcome.messages:
                (reporter.note if kind == "note" else reporter.warn)(message)
        return outcomes
    outcomes = []
    if len(tasks) == 1:
        return [run_task(tasks[0], table, seed=seed, reporter=reporter, policy=policy)]
    with reporter.group(f"{_grid_label(grid)}: fits", total=len(tasks)):  # one overall bar, the fit beneath
        seen: dict[int, int] = {}  # fits per candidate so far: the fold number
        for task in tasks:
            seen[task.candidate] = seen.get(task.candidate, -1) + 1
            with reporter.item(_task_label(grid, task, seen[task.candidate])):
                outcomes.append(run_task(task, table, seed=seed, reporter=reporter, policy=policy))
            # a stop request ends the grid after the fit in progress (which may have converged first)
            if outcomes[-1].result.status == "interrupted" or (policy is not None and policy.should_stop()):
                break
    return outcomes


def _grid_label(grid: Grid) -> str:
    """"K = 1-9 x full,diag": what the overall bar counts fits of."""
    covariances = f" x {','.join(grid.covariances)}" if grid.covariances and len(grid.covariances) > 1 else ""
    return f"K = {grid.spec}{covariances}"


def _task_label(grid: Grid, task: Task, fold: int) -> str:
    """"K=4 diag", and "fold 2/5" or "training rows" for a fit on part of the rows (fold: the
    candidate's fits before this one, the first being on all rows)."""
    k, covariance = candidates(grid)[task.candidate]
    label = f"K={k}" + (f" {covariance}" if grid.covariances and len(grid.covariances) > 1 else "")
    if task.train is None:
        return label
    if grid.split[0] == "validation":
        return f"{label} training rows"
    return f"{label} fold {fold}/{grid.split[1]}"


def _min_train(grid: Grid, n_rows: int, seed: int) -> int:
    if grid.split is None:
        return n_rows
    return min(train.shape[0] for train, _ in heldout.train_sets(grid.split, n_rows, seed))


def fit_grid(table, *, seed, reporter, policy=None, grid: Grid):
    """Fit the grid's candidates to table (n, d); the chosen candidate's FitResult, with
    fit.selection (several candidates) and fit.validation (a split)."""
    from vifit.api.gmm_fit import check_k

    criterion = gmm_select.criterion_of(grid.select, grid.split)
    n = table.n_rows
    check_k(grid.ks, _min_train(grid, n, seed), grid.options.get("init", "kmeans++"),
            spec=grid.spec if len(grid.ks) > 1 else None)  # before fitting any candidate
    reporter = _OnceNotes(reporter)
    tasks = tasks_of(grid, n, seed)
    outcomes = _run(grid, tasks, table, seed, reporter, policy)
    interrupted = any(o.result.status == "interrupted" for o in outcomes) or bool(
        policy is not None and policy.should_stop())
    rows, results = [], []
    weights_of = (lambda ids: None) if table.weights is None else (lambda ids: table.weights[ids])
    for index, (k, covariance) in enumerate(candidates(grid)):
        mine = [(task, outcome) for task, outcome in zip(tasks, outcomes) if task.candidate == index]
        if not mine:
            break
        (_, main), *folds = mine
        scored = [(task.heldout, outcome.density) for task, outcome in mine if task.heldout is not None]
        complete = grid.split is not None and len(scored) == (1 if grid.split[0] == "validation" else grid.split[1])
        validation = heldout.validation_block(grid.split, seed, n, scored, weights_of) if complete else None
        rows.append(gmm_select.candidate(k, covariance, main.result, main.entropy, validation))
        results.append((main.result, validation))
    if len(rows) == 1 and len(candidates(grid)) == 1:  # one candidate: a split only, no selection table
        result, validation = results[0]
    else:
        best, block = gmm_select.table(rows, criterion, ks=grid.ks, covariances=grid.covariances,
                                       spec=grid.spec, split=grid.split)
        result, validation = results[best]
        result.fit_extra["selection"] = block
        reporter.note(gmm_select.chosen_note(rows, best, criterion, grid.covariances))
        if block["edge"] and not interrupted:
            reporter.warn(block["edge"])
        stopped_early = gmm_select.unconverged(result)
        if stopped_early and not grid.strict and not interrupted:
            reporter.warn(gmm_select.unconverged_message(grid.spec or ",".join(map(str, grid.ks)), stopped_early)
                          + f"; {gmm_select.NOT_CONVERGED_HINT} (\"converged\": false in fit.selection)")
    if validation is not None:
        result.fit_extra["validation"] = validation
    if interrupted:
        result.status = "interrupted"
    return result
