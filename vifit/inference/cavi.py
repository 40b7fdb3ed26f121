"""The CAVI loop for mixtures: state in, state out.

One sweep (:func:`step`) is a global step from the statistics of the current
responsibilities, then a local pass over the rows in chunks giving the new
statistics and the ELBO of the new global factors with their optimal
responsibilities. :func:`run` repeats sweeps until the relative ELBO change is
below ``tol`` or ``max_iter`` sweeps were made; :func:`fit` adds initialisation,
restarts from seeds spawned by ``SeedSequence`` and the final ordering of
components. The state is explicit, so a run can be checkpointed and resumed by
passing it back to :func:`run`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from vifit.errors import BadInput
from vifit.inference.init import SpawnedSeeds, initial_stats
from vifit.inference.passes import RowPass, auto_chunk_rows, default_workers
from vifit.inference.policy import DEFAULT, LoopPolicy, resume_name
from vifit.models.mixture import Stats, Workspace


class ElboDecreased(RuntimeError):
    """The ELBO went down between sweeps beyond round-off: a bug, never a property of the data."""


@dataclass
class Problem:
    """What stays fixed during a fit: the model (``models.mixture``'s protocol: prior, frame and
    likelihood), the rows x (n, D) and their frequency weights (n,) or None (every row once)."""

    model: object
    x: np.ndarray
    weights: np.ndarray | None = None
    chunk_rows: int | None = None  # None: auto_chunk_rows(model)
    workers: int | None = None  # row threads; None: default_workers(), the usable cores
    workspace: Workspace = None
    rows: RowPass = None

    def __post_init__(self):
        chunk = auto_chunk_rows(self.model) if self.chunk_rows is None else int(self.chunk_rows)
        self.chunk_rows = max(1, min(chunk, self.x.shape[0]))
        self.workers = default_workers(self.workers)
        if self.workspace is None:
            self.workspace = Workspace(self.model, self.chunk_rows)
        if self.rows is None:
            self.rows = RowPass(self.n_rows, self.chunk_rows, lambda: Workspace(self.model, self.chunk_rows),
                                self.workers)

    @property
    def n_rows(self) -> int:
        return int(self.x.shape[0])

    @property
    def weighted(self) -> bool:
        """Whether the rows carry frequency weights (the bound's N is then their sum)."""
        return self.weights is not None

    @property
    def total_weight(self) -> float:
        """N of the bound: the rows, or the sum of their weights."""
        return self.n_rows if self.weights is None else float(self.weights.sum())

    def local_stats(self, theta: np.ndarray) -> Stats:
        """Summed local-step statistics of every row under theta (k, p), in a fixed order.
        A subclass holding rows elsewhere (vifit.distributed) overrides this and initial_stats."""
        model, x, w = self.model, self.x, self.weights

        def chunk(start, stop, workspace):
            return model.local_step(theta, x[start:stop], workspace, None if w is None else w[start:stop])

        return self.rows.map_sum(chunk, lambda: Stats.zeros(model))

    def initial_stats(self, init: str, rng: np.random.Generator, resp0=None) -> Stats:
        """Statistics of the initial responsibilities (see ``inference.init.initial_stats``)."""
        return initial_stats(self.model, self.x, self.workspace, init, rng, resp0, self.weights)

    def move_sample(self):
        """(rows (m, D), weights or None, scale to all rows): the deterministic sample the split and
        merge moves score their proposals on (``inference.moves``)."""
        from vifit.inference.moves import strided_sample

        return strided_sample(self.x, self.weights)

    def data_units(self, value: float) -> float:
        """An ELBO in the working frame turned into nats of the data as given."""
        return value + self.log_jacobian_total

    @functools.cached_property
    def log_jacobian_total(self) -> float:
        """log |dz/dx| of every row: N times the model's per-row value, or, for a model whose frames
        apply per observed cell (``jacobian(stats)``: missing cells), from one pass of statistics
        (any coefficients give the cells' sums; zero ones are used)."""
        jacobian = getattr(self.model, "jacobian", None)
        if jacobian is None:
            return self.total_weight * self.model.log_jacobian
        return float(jacobian(self.local_stats(np.zeros((self.model.k, self.model.n_stats)))))


@dataclass
class State:
    """A point of the iteration: lam (p, k) the global factors in natural form; stats the
    statistics of their optimal responsibilities; elbo (working frame) of that pair."""

    lam: np.ndarray
    stats: Stats
    elbo: float
    iteration: int = 0
    trace: list = field(default_factory=list)


def local_pass(problem: Problem, lam: np.ndarray) -> tuple[Stats, float]:
    """Statistics of the optimal responsibilities under lam, and the ELBO of that pair."""
    model = problem.model
    q = model.variational(lam)
    theta = model.coefficients(q)
    total = problem.local_stats(theta)
    return total, model.elbo(q, total, theta)


def initial_state(problem: Problem, init: str, rng: np.random.Generator, resp0=None) -> State:
    """Global factors from the initial responsibilities, then their local pass (iteration 0)."""
    stats0 = problem.initial_stats(init, rng, resp0)
    lam = problem.model.global_step(stats0.t)
    stats, value = local_pass(problem, lam)
    return State(lam=lam, stats=stats, elbo=value, iteration=0, trace=[(0, problem.data_units(value))])


def step(problem: Problem, state: State) -> State:
    """One CAVI sweep: global step from state.stats, then the local pass."""
    lam = problem.model.global_step(state.stats.t)
    stats, value = local_pass(problem, lam)
    iteration = state.iteration + 1
    return State(lam=lam, stats=stats, elbo=value, iteration=iteration,
                 trace=state.trace + [(iteration, problem.data_units(value))])


def round_off(value: float, rows: float) -> float:
    """Round-off allowance when comparing two exact ELBOs near ``value`` of the same ``rows``."""
    return 1e-9 * (abs(value) + rows) + 1e-9


def decrease_allowance(problem: Problem, value: float) -> float:
    """Round-off allowance for an ELBO decrease between sweeps."""
    return round_off(value, problem.n_rows)


def run(problem: Problem, state: State, *, tol: float, max_iter: int, reporter=None,
        policy: LoopPolicy = DEFAULT, after_sweep=None) -> tuple[State, str]:
    """Sweep from ``state`` until converged or ``max_iter`` sweeps in total.

    Returns (state, status) with status converged | max_iter | interrupted; a stop request
    (policy.should_stop()) ends the run after the current sweep, and a KeyboardInterrupt
    during a sweep returns the last complete state; policy.on_decrease: see LoopPolicy.
    after_sweep(state): called after every sweep (checkpointing)."""
    warned = False
    try:
        while state.iteration < max_iter:
            new = step(problem, state)
            drop = state.elbo - new.elbo
            if drop > decrease_allowance(problem, new.elbo):
                before, after = problem.data_units(state.elbo), problem.data_units(new.elbo)  # fit.trace's units
                message = (f"ELBO decreased by {drop:.6g} at sweep {new.iteration} "
                           f"({before:.17g} -> {after:.17g}); this is a bug in vifit: please report it "
                           f"with the command line and its --seed (config.seed in the output) to reproduce it")
                if policy.on_decrease == "raise":
                    raise ElboDecreased(message)
                if reporter is not None and not warned:
                    reporter.warn(message)
                    warned = True
            if reporter is not None:
                reporter.update(new.iteration, problem.data_units(new.elbo))
            # relative to the ELBO in the working frame, which does not depend on the data's units
            # (in data units it shifts by -N D log s when the data are scaled by s, and can be ~0)
            converged = abs(new.elbo - state.elbo) <= tol * abs(new.elbo)
            state = new
            if converged:
                return state, "converged"
            if after_sweep is not None:
                after_sweep(state)
            if policy.should_stop():
                return state, "interrupted"
    except KeyboardInterrupt:
        return state, "interrupted"
    return state, "max_iter"


def sort_components(problem: Problem, state: State) -> State:
    """Components in decreasing order of expected count N_k (so of weight).

    A relabelling, except for dp, whose stick order is part of the model: the sticks are
    recomputed for the new order and the responsibilities refreshed by a local pass. For
    fixed responsibilities, sticks in decreasing order of size maximise the bound (swapping
    two neighbours changes it by log((alpha0 + N_a + R) / (alpha0 + N_b + R))), so at
    convergence this only raises the ELBO; should it lower it, the fitted order is kept."""
    order = np.argsort(-state.lam[0], kind="stable")
    if np.array_equal(order, np.arange(order.size)):
        return state
    lam = state.lam[:, order]
    if problem.model.weights != "dp":
        stats = Stats(state.stats.t[:, order], state.stats.neg_entropy, state.stats.rows)
        return State(lam=lam, stats=stats, elbo=state.elbo, iteration=state.iteration, trace=state.trace)
    stats, value = local_pass(problem, lam)
    if value < state.elbo - decrease_allowance(problem, value):
        return state
    trace = state.trace[:-1] + [(state.iteration, problem.data_units(value))]  # same sweep, relabelled
    return State(lam=lam, stats=stats, elbo=value, iteration=state.iteration, trace=trace)


@dataclass
class CaviResult:
    """The best restart: its state and status, plus every restart's final ELBO (data units)."""

    state: State
    status: str
    best_restart: int
    restart_elbos: list
    moves: list | None = None  # the split / merge moves kept (inference.moves); None: moves were off


def fit(problem: Problem, *, seed: int | np.random.SeedSequence, init: str = "kmeans++", restarts: int = 1,
        tol: float = 1e-6, max_iter: int = 500, reporter=None, policy: LoopPolicy = DEFAULT,
        resp0: np.ndarray | None = None, sort: bool = True, moves: bool = False) -> CaviResult:
    """Run ``restarts`` fits from seeds spawned from ``seed``; keep the best final ELBO.

    moves: once the best restart has converged, try split and merge moves (``inference.moves``),
    each kept only when the exact ELBO rises; its ELBO in restart_elbos is then the moved one.
    resp0: given initial responsibilities, (n, k) or (n,) labels (every restart then starts
    from them). An interrupt returns the best complete state so far, status "interrupted";
    components are then sorted unless that would need a local pass (dp). policy.checkpoints
    receives the state after each sweep and gives the state to resume from."""
    store = policy.checkpoints
    sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(int(seed))
    children = SpawnedSeeds(sequence, restarts)
    best, best_status, best_index, elbos = None, "max_iter", 0, []
    saved = store.resume_state(CHECKPOINT_KIND, lambda: {
        "restarts": restarts, "lam_shape": (problem.model.n_stats, problem.model.k), "max_iter": max_iter})
    if saved is not None:
        best = _consistent(problem, _state_from(saved["best"]), "best", store) if saved["best"] is not None else None
        best_status, best_index, elbos = saved["best_status"], saved["best_index"], list(saved["elbos"])
    for index, child in enumerate(children):
        if saved is not None and index < saved["restart"]:
            continue  # finished before the checkpoint; its outcome is in best/elbos
        if reporter is not None:
            reporter.start(f"{problem.model.kind} cavi", total=max_iter, metric="elbo", unit="sweep", eta=False,
                           restart=(index + 1, restarts))
        if saved is not None and index == saved["restart"]:
            state, saved = _consistent(problem, _state_from(saved["current"]), "current", store), None
        else:
            try:
                state = initial_state(problem, init, np.random.default_rng(child), resp0)
            except KeyboardInterrupt:
                if best is None:
                    raise
                if reporter is not None:
                    reporter.finish("interrupted")
                return CaviResult(best, "interrupted", best_index, elbos)
        if reporter is not None:
            reporter.update(state.iteration, problem.data_units(state.elbo))

        def save(current, index=index):
            if store.due() or (store.enabled() and policy.should_stop()):
                store.save(CHECKPOINT_KIND, {
                    "restart": index, "current": _state_dict(current),
                    "best": None if best is None else _state_dict(best),
                    "best_status": best_status, "best_index": best_index, "elbos": elbos})

        state, status = run(problem, state, tol=tol, max_iter=max_iter, reporter=reporter,
                            policy=policy, after_sweep=save)
        if reporter is not None:
            reporter.finish(status)
        elbos.append(problem.data_units(state.elbo))
        if best is None or state.elbo > best.elbo:
            best, best_status, best_index = state, status, index
        if status == "interrupted":
            best_status = "interrupted"
            break
    kept = None
    if moves:
        kept = []
        if best_status == "converged":
            from vifit.inference import moves as split_merge

            best, best_status, kept = split_merge.improve(problem, best, tol=tol, max_iter=max_iter,
                                                         reporter=reporter, policy=policy)
            elbos[best_index] = problem.data_units(best.elbo)
    if sort and best_status != "interrupted" and problem.model.weights == "dp":
        best, best_status = settle_dp_order(problem, best, best_status, tol=tol, max_iter=max_iter,
                                            reporter=reporter, policy=policy)
        elbos[best_index] = problem.data_units(best.elbo)
    elif sort and (best_status != "interrupted" or problem.model.weights != "dp"):
        best = sort_components(problem, best)
    return CaviResult(best, best_status, best_index, elbos, kept)


MAX_REORDERS = 20


def settle_dp_order(problem: Problem, state: State, status: str, *, tol: float, max_iter: int,
                    reporter=None, policy: LoopPolicy = DEFAULT) -> tuple[State, str]:
    """Sort a dp fit's sticks by size and sweep again until the order is stable.

    Reordering the sticks changes the model's factors (the refreshed responsibilities raise the
    bound), so the sorted state is no longer a fixed point: the sweeps resume from it until the
    tolerance holds again, and the order is checked again. A run that was converged ends
    converged only at a fixed point whose order is sorted; if the order still changes after
    MAX_REORDERS rounds, the last converged state is kept in its fitted order."""
    for _ in range(MAX_REORDERS):
        reordered = sort_components(problem, state)
        if reordered is state:
            return state, status
        if status != "converged" or reordered.iteration >= max_iter:
            return reordered, "max_iter" if status == "converged" else status
        if reporter is not None:
            reporter.start(f"{problem.model.kind} cavi, sticks sorted", total=max_iter, metric="elbo", unit="sweep",
                           eta=False)
        resumed, status = run(problem, reordered, tol=tol, max_iter=max_iter, reporter=reporter,
                              policy=policy)
        if reporter is not None:
            reporter.finish(status)
        state = resumed
        if status != "converged":
            return state, status
    return state, status


CHECKPOINT_KIND = "gmm-cavi"


def _state_dict(state: State) -> dict:
    """A State as plain arrays and numbers, for a checkpoint file."""
    return {"lam": state.lam, "t": state.stats.t, "neg_entropy": state.stats.neg_entropy,
            "rows": state.stats.rows, "elbo": state.elbo, "iteration": state.iteration,
            "trace": [[int(i), float(v)] for i, v in state.trace]}


def _consistent(problem: Problem, state: State, which: str, store=None) -> State:
    """A resumed state whose factors give back its own statistics and ELBO (one local pass).

    The checkpoint's checksum catches damage, not a state re-signed after an edit: negated or
    swapped arrays of the right shapes would otherwise fail deep in the maths (exit 1) or
    resume silently to another result. Refused as BadInput (exit 2) instead."""
    problem_text = f"{resume_name(store)}: the checkpoint's {which} state is inconsistent"
    try:
        with np.errstate(all="ignore"):
            stats, value = local_pass(problem, state.lam)
    except (np.linalg.LinAlgError, ValueError, FloatingPointError):
        raise BadInput(f"{problem_text}: its factors are not a valid posterior; it was edited, or "
                       f"written for other data") from None
    allowance = decrease_allowance(problem, state.elbo)
    if not (np.isfinite(value) and abs(value - state.elbo) <= allowance
            and np.allclose(stats.t, state.stats.t, rtol=1e-9, atol=1e-9 * max(1.0, problem.n_rows))):
        raise BadInput(f"{problem_text}: its ELBO and statistics do not follow from its factors; it was "
                       f"edited, or written for other data")
    return state


def _state_from(saved: dict) -> State:
    stats = Stats(np.asarray(saved["t"]), float(saved["neg_entropy"]), int(saved["rows"]))
    return State(lam=np.asarray(saved["lam"]), stats=stats, elbo=float(saved["elbo"]),
                 iteration=int(saved["iteration"]), trace=[(int(i), float(v)) for i, v in saved["trace"]])
