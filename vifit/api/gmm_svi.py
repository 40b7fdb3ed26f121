"""GMM by SVI or memoized online VB: options to settings, rows to a source, fit to FitResult.

Streamed (the default for ``--method svi``): the CSV is read in blocks by
:class:`vifit.data.stream.TableStream`; a file costs one pass for the data moments (the
prior's data-scaled defaults, the working frame and a uniform sample of
``INIT_ROWS`` rows for the initialisation), then per epoch one pass of steps and one
pass for the exact ELBO. stdin is read once: its first block sets the prior, frame
and initialisation, one online pass follows (N = rows seen so far), and the exact
ELBO of the final factors is computed from a temporary copy of the parsed rows.
``--no-stream`` loads the table into memory and runs the same loop on it, each epoch's
batches drawn from one permutation of all rows; a stream is shuffled only within windows of
``sources.POOL_ROWS`` rows (a note says so when it has more and its rows do not look shuffled:
inference/window_order.py), so the two give the same
result for the same seed up to one window of rows, and differ beyond it.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from vifit import memory
from vifit.api import gmm_fit
from vifit.documents.gmm import frame_document, summarise, variances, variational_document
from vifit.errors import BadInput, DataChanged
from vifit.inference import sources, svi
from vifit.inference.init import SpawnedSeeds, initial_stats
from vifit.inference.passes import auto_chunk_rows
from vifit.inference.policy import DEFAULT, LoopPolicy
from vifit.models import gmm
from vifit.models.gmm_model import GaussianMixture
from vifit.models.mixture import Workspace
from vifit.models.gmm_moments import MomentAccumulator, RowSample
from vifit.models.gmm_observed import ObservedMomentAccumulator
from vifit.result import FitResult

INIT_ROWS = 65536
MAX_MEMO_BATCHES = 1024


def svi_settings(svi_options: dict, tol: float, max_iter: int | None) -> svi.Settings:
    """The loop's settings from the SVI options, which vifit.parameters.check has checked (their
    ranges, e.g. --forgetting in (0.5, 1], are its table's)."""
    kappa, tau0 = svi_options["forgetting"], svi_options["delay"]
    m, epochs = svi_options["batch_size"], svi_options["epochs"]
    return svi.Settings(batch_size=int(m), forgetting=float(kappa), delay=float(tau0), epochs=int(epochs),
                        max_iter=max_iter, tol=float(tol), memoized=bool(svi_options["memoized"]))


class Loaded:
    """The rows an SVI fit runs on: the row source, the output's data block, and the name
    messages give the data."""

    def __init__(self, source, describe, name: str = "data", weighted: bool = False, missing: bool = False):
        self.source, self.describe, self.name = source, describe, name
        self.weighted = weighted  # the rows carry their frequency weight as a last column
        self.missing = missing  # the rows may hold NaN cells, missing at random (models.gmm_missing)


def load_stream(path: str, opts, note) -> Loaded:
    """``Plan.load`` of a streamed SVI fit: the CSV read in blocks (stdin spooled once); missing
    cells kept (NaN) unless --dropna; with --row-weights each block carries the rows' weight as a
    last column."""
    from vifit.data import display_name
    from vifit.data.source import read_once
    from vifit.data.stream import TableStream

    # missing cells are kept from a file only: the bound's Jacobian needs their count before the
    # steps, and stdin's one online pass cannot give it (there a missing cell is an error, as it was)
    keep = not opts.dropna and not read_once(path)
    opts = replace(opts, missing=keep)
    table_stream = TableStream(path, opts, chunk_rows=sources.READ_ROWS, note=note)
    if opts.standardize:
        table_stream.fit_standardization()
    source = svi.StreamSource(table_stream)
    return Loaded(source, source.describe, display_name(path), weighted=table_stream.weighted, missing=keep)


def in_memory(table) -> Loaded:
    """The rows of an in-memory table (``--no-stream``, an array given to the API)."""
    missing = bool(np.isnan(table.values).any())
    if table.weights is None:
        return Loaded(svi.ArraySource(table.values), table.describe, table.source, missing=missing)
    # the weight rides as a last column through the permutations (svi.Problem.split)
    return Loaded(svi.ArraySource(np.column_stack([table.values, table.weights])), table.describe, table.source,
                  weighted=True, missing=missing)


def scan(source, spec_d: int, rng: np.random.Generator, name: str, note, full: bool = True,
         weighted: bool = False, missing: bool = False, columns: list[str] | None = None, windows=None):
    """(moments accumulator, initial sample rows, N or None) from one pass (or stdin's first block);
    full: accumulate the d x d scatter (else only the variances); weighted: the blocks' last
    column is the rows' weight (the accumulator then counts weight: its n is the weight total);
    missing: the rows may hold NaN cells (the observed cells' moments, models.gmm_observed);
    windows: a window_order.WindowMeans fed every block of a file (whether its rows look shuffled)."""
    accumulator = ObservedMomentAccumulator(spec_d, full) if missing else MomentAccumulator(spec_d, full)
    sample = RowSample(INIT_ROWS, rng)
    if source.repeatable:
        n = 0
        for block in source.blocks():
            accumulator.add(*((block[:, :-1], block[:, -1]) if weighted else (block,)))
            sample.add(block)
            if windows is not None:
                windows.add(block)
            n += block.shape[0]
    else:
        if weighted:
            raise BadInput(f"{name}: --row-weights with --method svi needs a file (the weight total is read "
                           f"first), not a stream read once")
        head = source.head()
        accumulator.add(head)
        sample.add(head)
        n = None
        from vifit.data.source import once_name

        note(f"{once_name(name)} is read once: the prior's data-scaled defaults and the initialisation come "
             f"from its first {accumulator.n} rows, then one online pass (N = rows seen so far)")
    if source.__class__ is svi.StreamSource and source.stream.rows_dropped:
        note(f"dropped {source.stream.rows_dropped} row(s) with missing or infinite values (--dropna)")
    if missing and accumulator.n > 0:  # (no weight at all: the refusal below names the weights)
        gmm_fit.refuse_unobserved(name, columns, accumulator.observed, accumulator.empty_rows)
    if weighted and not accumulator.n > 0:
        raise BadInput(f"{name}: --row-weights column {source.stream.opts.row_weights!r} is 0 on every row: "
                       f"there is nothing to fit" if source.__class__ is svi.StreamSource else
                       f"{name}: every row weight is 0: there is nothing to fit")
    if accumulator.n > 1 and accumulator.constant:
        where = "" if n is not None else f" in the first {accumulator.n} rows"
        raise BadInput(f"{name}: every column is constant{where} ({accumulator.n} identical rows); "
                       f"there is nothing to fit")
    return accumulator, sample.sample(), n


def fit(loaded: Loaded, *, seed: int, reporter, settings: svi.Settings, k: int, covariance: str = "full",
        weights: str = "dirichlet", init: str = "screened", moves: str = "split-merge", restarts: int = 1,
        chunk_rows: int | None = None, policy: LoopPolicy = DEFAULT, **prior_options) -> FitResult:
    """Fit the Bayesian GMM by SVI (or memoized VB) to the rows of ``loaded.source``.

    moves: split-merge (``inference.svi_moves`` after convergence) or none;
    chunk_rows: rows per local-step chunk (None: inference.passes.auto_chunk_rows, as CAVI's);
    policy: the loop's (see inference.policy)."""
    source, name = loaded.source, loaded.name
    from vifit.data.source import once_name

    if restarts > 1 and not source.repeatable:
        raise BadInput(f"--restarts needs a regular file: {once_name(name)} can be read only once")
    if policy.checkpoints.enabled() or policy.checkpoints.resuming():
        # SVI checkpoints hold one run's epoch boundary, not a set of restarts, and a
        # stream read once cannot be replayed from a checkpoint
        if restarts > 1:
            raise BadInput("--method svi: --checkpoint/--resume work with --restarts 1 only")
        if not source.repeatable:
            raise BadInput(f"--method svi: --checkpoint/--resume need a regular file; {once_name(name)} can be "
                           f"read only once")
    d = len(loaded.describe()["columns"])
    spec = gmm.Spec(k, d, covariance, weights)
    given_chunk, chunk_rows = chunk_rows is not None, chunk_rows or auto_chunk_rows(spec)
    memory.check_gmm(spec, None, min(chunk_rows, settings.batch_size), 1, restarts)  # before the first pass
    sequence = np.random.SeedSequence(int(seed))  # child 0 for the scan, 1.. for the restarts
    columns = loaded.describe()["columns"]
    windows = stream_windows(source)
    accumulator, sample, n = scan(source, d, np.random.default_rng(sequence.spawn(1)[0]), name, reporter.note,
                                   full=covariance == "full", weighted=loaded.weighted, missing=loaded.missing,
                                   columns=columns, windows=windows)
    missing = loaded.missing and accumulator.has_missing  # a file may have none: then today's fit exactly
    # no block is longer than the rows (nor, from stdin, than a read block or a batch): a larger chunk
    # only allocated more (4096 rows of T(x) for 5,000 columns asked for 382 GiB)
    limit = n if n is not None else max(sources.READ_ROWS, settings.batch_size)
    if chunk_rows > limit:
        if given_chunk and n is not None:
            reporter.note(f"--chunk-rows {chunk_rows} is more than the {limit} rows; using {limit}")
        chunk_rows = limit
    if n is not None:
        note_stream_windows(source, n, reporter.note, windows)
    rows_known = n if n is not None else sample.shape[0]
    gmm_fit.check_k([k], rows_known, init)
    batch = settings.batch_size
    if n is not None and batch > n:
        reporter.note(f"--batch-size {batch} is more than the {n} rows; using {n} (one batch per epoch)")
        batch = n
    if settings.memoized and n is not None and math.ceil(n / batch) > MAX_MEMO_BATCHES:
        batch = math.ceil(n / MAX_MEMO_BATCHES)
        reporter.note(f"--memoized keeps statistics per batch: using batches of {batch} rows "
                      f"({MAX_MEMO_BATCHES} batches) instead of --batch-size {settings.batch_size}")
    settings = replace(settings, batch_size=batch)
    moments = gmm_fit.accumulated_moments(spec, accumulator, loaded.describe()["columns"], name)
    prior, prior_document = gmm_fit.resolve_prior(spec, moments, prior_options, reporter.note,
                                                 loaded.describe()["columns"])
    frame = moments.frame
    model = GaussianMixture(spec, gmm.to_frame(prior, spec, frame), frame, missing)
    problem = svi.Problem(model, source, chunk_rows=chunk_rows,
                          weight_total=float(accumulator.n) if loaded.weighted else None,
                          jacobian_total=model.cells_log_jacobian(accumulator.observed) if missing else None)
    sample_ws = Workspace(spec, max(1, min(chunk_rows, sample.shape[0])))
    method = "memoized" if settings.memoized else "svi"
    per_epoch = max(1, n // batch) if n is not None else None
    total = per_epoch * settings.epochs if per_epoch else None
    if settings.max_iter is not None:
        total = min(total, settings.max_iter) if total else settings.max_iter
    best, best_index, elbos = run_restarts(problem, settings, reporter, sample=sample, sample_ws=sample_ws,
                                           init=init, seeds=SpawnedSeeds(sequence, restarts),
                                           scale=rows_known / sample.shape[0],
                                           n_rows=n, total=total, method=method, policy=policy)
    if n is None:  # stdin: its rows are counted by the pass
        note_stream_windows(source, best.n_rows, reporter.note)
    best, kept = after_moves(problem, best, moves, sample=sample, scale=rows_known / sample.shape[0],
                             tol=settings.tol, reporter=reporter, policy=policy, name=name,
                             elbos=elbos, best_index=best_index)
    return svi_result(spec, prior, prior_document, problem, best, settings, method, init, restarts, best_index,
                   elbos, loaded, kept)


def after_moves(problem, best, moves: str, *, sample, scale: float, tol: float, reporter, policy, name: str,
                elbos: list, best_index: int):
    """The split-merge check of a converged SVI result (``inference.svi_moves``): (result, the moves
    kept, or None with --moves none); ``elbos[best_index]``, the restarts' record, follows a kept
    move. A stream read once gets no moves (a note says so); a file that changes during their
    passes ends the fit as an interrupted one at the converged result."""
    if moves == "none":
        return best, None
    if not problem.source.repeatable:
        from vifit.data.source import once_name

        reporter.note(f"--moves split-merge needs more passes over the rows; {once_name(name)} can be read only "
                      f"once, so no moves were tried")
        return best, []
    from vifit.inference import svi_moves

    try:
        moved, kept = svi_moves.improve(problem, best, sample, scale, tol=tol, reporter=reporter, policy=policy)
    except DataChanged as exc:
        best.status, best.stopped_by = "interrupted", exc
        return best, []
    if kept:
        elbos[best_index] = moved.elbo
    return moved, kept


def stream_windows(source):
    """A WindowMeans for the first pass of a streamed file (None for rows in memory or stdin)."""
    if isinstance(source, svi.StreamSource) and source.repeatable:
        from vifit.inference.window_order import WindowMeans

        return WindowMeans(sources.POOL_ROWS)
    return None


def note_stream_windows(source, n_rows: int, note, windows=None) -> None:
    """Say so, once per fit (not per restart), when a stream has more rows than one shuffling window
    (see inference/sources.py) and is not known to be shuffled: a file whose windows' column means
    all agree with the whole file's (windows: its first pass's window_order.WindowMeans) is taken
    as shuffled and gets no note; stdin, read once, cannot be checked before its pass."""
    if not isinstance(source, svi.StreamSource) or n_rows <= sources.POOL_ROWS:
        return
    if windows is not None and windows.looks_shuffled():
        return
    from vifit.inference.window_order import Z

    why = (f"and a window's column means differ from the whole file's by more than {Z:g} standard errors"
           if windows is not None else "and its order cannot be checked before it is read")
    note(f"a stream is shuffled only within windows of {sources.POOL_ROWS:,} rows ({n_rows} rows here), {why}: "
         f"if the rows are sorted (e.g. by group), shuffle them first (e.g. shuf) or load them in memory "
         f"(--no-stream)")


def run_restarts(problem, settings, reporter, *, sample, sample_ws, init, seeds, scale, n_rows, total, method,
                 policy: LoopPolicy = DEFAULT):
    """One SVI run per seed, each started from ``init`` on the row sample; returns
    (best result, its index, every run's final ELBO). lam0 scales the sample's statistics
    by ``scale`` (rows represented / rows sampled)."""
    restarts = len(seeds)
    best, best_index, elbos = None, 0, []
    for index, child in enumerate(seeds):
        rng = np.random.default_rng(child)
        rows, weights = problem.split(sample)
        stats0 = initial_stats(problem.model, rows, sample_ws, init, rng, weights=weights)
        lam0 = problem.model.global_step(stats0.t, scale)
        kind = problem.model.kind
        reporter.start(f"{kind} {method}", total=total, metric="elbo", restart=(index + 1, restarts), estimate=True)
        try:
            result = svi.run(problem, svi.State(lam=lam0), settings, rng, n_rows=n_rows, reporter=reporter,
                             policy=policy)
        except DataChanged as exc:  # before this restart's first epoch ended: keep the best earlier one
            reporter.finish("interrupted")
            if best is None:
                raise
            best.status, best.stopped_by = "interrupted", exc
            break
        reporter.finish(result.status)
        elbos.append(result.elbo)
        if best is None or result.elbo > best.elbo:
            best, best_index = result, index
        if result.status == "interrupted":
            best.status, best.stopped_by = "interrupted", result.stopped_by
            break
    return best, best_index, elbos


def svi_result(spec, prior, prior_document, problem, result, settings, method, init, restarts, best_index, elbos,
            loaded, moves: list | None = None) -> FitResult:
    """The output document of an SVI fit; moves: the split / merge moves kept (None: --moves none)."""
    frame, state, n = problem.model.frame, result.state, result.n_rows
    q = gmm.from_frame(problem.model.variational(state.lam), spec, frame)
    summary = summarise(prior, q)
    extra = {
        "init": init,
        "restarts": restarts,
        "best_restart": best_index,
        "restart_elbos": elbos,
        "effective_components": int(np.sum(summary["weights"] > 1.0 / (2.0 * (problem.weight_total or n)))),
        "batch_size": settings.batch_size,
        "chunk_rows": problem.chunk_rows,
        "steps": state.step,
        "epochs": state.rows_seen / n if n else 0.0,
        "rows_visited": state.rows_seen,
        "estimate_trace": [[int(i), float(v)] for i, v in result.estimates],
    }
    if method == "svi":
        extra.update(forgetting=settings.forgetting, delay=settings.delay)
    if moves is not None:
        extra["moves"] = moves
    if problem.weight_total is not None:  # N of the bound is the weight total, not the rows
        extra["weight_total"] = problem.weight_total
    params = {"prior": prior_document, "variational": variational_document(spec, q),
              "summary": summary, "frame": frame_document(frame)}
    columns = loaded.describe()["columns"]
    header = ["component", "weight", "count"] + [f"mean_{c}" for c in columns] + [f"var_{c}" for c in columns]
    rows = [[j + 1, summary["weights"][j], summary["counts"][j], *summary["means"][j],
             *variances(summary, j)] for j in range(spec.k)]
    return FitResult(model="gmm", method=method, params=params, status=result.status, elbo=result.elbo, n_rows=n,
                     n_iter=state.step, trace=result.trace, fit_extra=extra,
                     table={"columns": header, "rows": rows}, stopped_by=result.stopped_by,
                     resolved=prior_document)

