"""Stochastic variational inference for mixtures (Hoffman et al. 2013): state in, state out.

The data are a *source* of row blocks (an array in memory, or a CSV read in chunks),
so the same loop serves both and memory does not grow with N. Each step draws a
minibatch of M rows, runs the model's local step (``mixture.local_statistics``, the one CAVI
uses) under the current global factors, forms lam-hat = prior + (N/M) stats with
``model.global_step`` and moves lam <- (1 - rho_t) lam + rho_t lam-hat in natural
parameters, rho_t = (t + tau0)^-kappa, t = 0, 1, ...

Minibatches (inference/sources.py): every row is used exactly once per epoch (sampling
without replacement), in batches of M, the last absorbing any remainder, so one pass over a
file is one epoch. Rows in memory are drawn from one permutation of all N rows per epoch;
a stream (a file read in chunks, stdin) is shuffled only within windows of ``POOL_ROWS``
rows, so beyond one window its batches are not uniform over all rows and a streamed run
differs from an in-memory one (up to one window they agree exactly for the same seed).

ELBO: each step gives an unbiased estimate of the ELBO of the current factors,
``elbo_of`` on the minibatch statistics scaled by N/M; the running estimate is
its mean over a window of a quarter epoch (at least MIN_WINDOW steps). Once per epoch, one streaming pass gives the
exact full-data ELBO (``full_pass``); the result's ELBO is the exact value for
the final factors. Early stop: when the windowed estimate has not improved on
the previous window by more than ``tol`` (relative) and its standard error for
``PATIENCE`` windows in a row, that error being small (see :class:`Plateau`);
or at an epoch's end, when the exact ELBO changed by at most ``tol`` (relative) or, with
minibatches, has stayed flat within its noise (``inference/svi_epochs.py``). A run that
ends otherwise reports "max_iter": a bound on steps or epochs, and also a single online pass
(stdin) that runs out of rows before the estimate's test fires (one pass has no epoch-end test).
``--memoized`` (``inference/memoized.py``) replaces the step and keeps all else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from vifit.errors import DataChanged
from vifit.inference import svi_epochs
from vifit.inference.init import chunks
from vifit.inference.policy import DEFAULT, LoopPolicy
from vifit.inference.sources import ArraySource, StreamSource, minibatches  # noqa: F401 (the API)
from vifit.inference.sources import batch_count as minibatch_count
from vifit.models.mixture import Stats, Workspace

PATIENCE = 2
MIN_WINDOW = 20
PRECISION = 1e-3


# ---------------------------------------------------------------- problem and state


@dataclass
class Problem:
    """What stays fixed: the model (``models.mixture``'s protocol: prior, frame, likelihood) and
    the row source.

    weight_total: None when every row counts once; else the rows carry their frequency weight
    as one extra last column (so sources, permutations, spools and partitions carry it with no
    change), and weight_total, the sum of all weights, is the N of the bound."""

    model: object
    source: object
    chunk_rows: int | None = None  # None: passes.auto_chunk_rows, the one default of every loop
    workspace: Workspace = None
    weight_total: float | None = None
    jacobian_total: float | None = None  # log |dz/dx| of every row when it is not count x per row (missing cells)

    def __post_init__(self):
        if self.chunk_rows is None:
            from vifit.inference.passes import auto_chunk_rows

            self.chunk_rows = auto_chunk_rows(self.model)
        if self.workspace is None:
            self.workspace = Workspace(self.model, self.chunk_rows)

    def data_units(self, value: float, n_rows: int) -> float:
        """An ELBO in the working frame turned into nats of the data as given (n_rows rows, or the
        weight total when the rows are weighted)."""
        if self.jacobian_total is not None:
            return value + self.jacobian_total
        count = n_rows if self.weight_total is None else self.weight_total
        return value + count * self.model.log_jacobian

    def split(self, rows: np.ndarray):
        """(features x (m, D), weights (m,) or None) of a block or minibatch."""
        if self.weight_total is None:
            return rows, None
        return rows[:, :-1], np.ascontiguousarray(rows[:, -1])

    # Hooks that touch rows; a problem whose rows live elsewhere (vifit.distributed) overrides them.

    def batches(self, batch_size: int, rng: np.random.Generator):
        """One epoch of minibatches, each with a ``shape[0]`` (rows): the source's sampler."""
        return self.source.minibatches(batch_size, rng)

    def batch_statistics(self, theta: np.ndarray, batch) -> Stats:
        """The model's local step over a minibatch (see :func:`batch_statistics`)."""
        return batch_statistics(self, theta, batch)

    def pass_statistics(self, theta: np.ndarray) -> Stats:
        """Statistics of every row under theta, block by block."""
        total = Stats.zeros(self.model)
        for block in self.source.blocks():
            total = total + batch_statistics(self, theta, block)
        return total


@dataclass(frozen=True)
class Settings:
    """batch_size M; forgetting kappa in (0.5, 1]; delay tau0 >= 0; epochs and max_iter (steps,
    None: no limit) bounds; tol: relative improvement of the windowed estimate; memoized."""

    batch_size: int = 1024
    forgetting: float = 0.7
    delay: float = 1.0
    epochs: int = 100  # vifit.parameters' default (see svi_epochs)
    max_iter: int | None = None
    tol: float = 1e-6
    memoized: bool = False


@dataclass
class State:
    """lam (p, k): global factors in natural form; step t; rows_seen: rows visited so far
    (N of the online pass on stdin); memo: memoized per-batch statistics (else None)."""

    lam: np.ndarray
    step: int = 0
    epoch: int = 0
    rows_seen: int = 0
    memo: object = None


def step_size(t: int, delay: float, forgetting: float) -> float:
    """rho_t = (t + tau0)^-kappa."""
    return float((t + delay) ** (-forgetting))


def step_rho(t: int, batch_rows: int, n_rows: int | None, settings) -> float:
    """Step t's rho: 1 when a batch is every row of a known N, else rho_t. The decaying step averages
    out the noise of sampled batches; a batch of all rows has none, and its step with rho = 1
    is CAVI's update exactly. With rho_t instead, a full-batch run crawled: on breast_cancer
    (569 rows, one batch per epoch) the ELBO still rose ~0.3 nat per epoch after 40 epochs and
    every default run ended "did not converge"."""
    if n_rows is not None and batch_rows >= n_rows:
        return 1.0
    return step_size(t, settings.delay, settings.forgetting)


def natural_step(lam: np.ndarray, lam_hat: np.ndarray, rho: float) -> np.ndarray:
    """lam <- (1 - rho) lam + rho lam_hat (both (p, k), natural parameters)."""
    return (1.0 - rho) * lam + rho * lam_hat


def batch_statistics(problem: Problem, theta: np.ndarray, rows: np.ndarray) -> Stats:
    """The model's local step over rows (m, d) in chunks of chunk_rows; summed statistics."""
    model, ws = problem.model, problem.workspace
    x, weights = problem.split(rows)
    total = Stats.zeros(model)
    for start, stop in chunks(rows.shape[0], problem.chunk_rows):
        w = None if weights is None else weights[start:stop]
        total = total + model.local_step(theta, x[start:stop], ws, w)
    return total


def scaled(stats: Stats, factor: float) -> Stats:
    return Stats(stats.t * factor, stats.neg_entropy * factor, stats.rows)


def step(problem: Problem, state: State, rows: np.ndarray, n_total: int, settings: Settings,
         rho: float | None = None):
    """One SVI step on the minibatch rows (m, d) of a data set of n_total rows, of size rho (None:
    rho_t of the settings; the loop passes 1 for a batch of every row, see step_rho).

    Returns (new state, ELBO estimate of the factors the step started from, working frame)."""
    model = problem.model
    q = model.variational(state.lam)
    theta = model.coefficients(q)
    stats = problem.batch_statistics(theta, rows)
    factor = n_total / rows.shape[0]
    estimate = model.elbo(q, scaled(stats, factor), theta)
    lam_hat = model.global_step(stats.t, factor)
    rho = step_size(state.step, settings.delay, settings.forgetting) if rho is None else rho
    lam = natural_step(state.lam, lam_hat, rho)
    return replace(state, lam=lam, step=state.step + 1), estimate


def full_pass(problem: Problem, lam: np.ndarray):
    """(statistics, exact ELBO (working frame), rows) of lam with optimal responsibilities, one pass."""
    model = problem.model
    q = model.variational(lam)
    theta = model.coefficients(q)
    total = problem.pass_statistics(theta)
    return total, model.elbo(q, total, theta), total.rows


# ---------------------------------------------------------------- the loop


class Plateau:
    """Stop when the ELBO estimate (data units, like CAVI's test) stops improving.

    Steps are grouped in windows of ``window`` steps; a window *improves* when its mean
    estimate beats the previous window's mean by more than tol (relative) and by more
    than the standard error of that difference (so noise is not taken for progress).
    A window that does not improve counts only when that standard error is below
    PRECISION (relative): with small N the estimate is too noisy to tell a plateau
    from slow progress, and the run goes on to the exact per-epoch test. PATIENCE
    such windows in a row stop the run."""

    def __init__(self, window: int, tol: float):
        self.window, self.tol = max(1, int(window)), tol
        self.values: list = []
        self.previous = None
        self.stale = 0
        self.running = None

    def add(self, value: float) -> bool:
        self.values.append(value)
        if len(self.values) < self.window:
            return False
        values = np.asarray(self.values)
        self.values = []
        mean, var = float(values.mean()), float(values.var(ddof=1)) if values.size > 1 else 0.0
        previous, self.previous = self.previous, (mean, var)
        self.running = mean
        if previous is None:
            return False
        error = math.sqrt((var + previous[1]) / self.window)
        if mean - previous[0] > max(self.tol * abs(mean), error) or error > PRECISION * abs(mean):
            self.stale = 0
            return False
        self.stale += 1
        return self.stale >= PATIENCE


@dataclass
class SviResult:
    """Final state (components sorted by weight), status, exact ELBO (data units), rows,
    the exact-ELBO trace [(step, elbo)] and the windowed estimate trace [(step, elbo)]."""

    state: State
    status: str
    elbo: float
    n_rows: int
    trace: list
    estimates: list = field(default_factory=list)
    stopped_by: Exception | None = None  # errors.DataChanged: raised after the result is written


def run(problem: Problem, state: State, settings: Settings, rng: np.random.Generator, *,
        n_rows: int | None, reporter=None, policy: LoopPolicy = DEFAULT) -> SviResult:
    """Epochs of steps from ``state`` until the estimate plateaus, or a bound, or an interrupt.

    n_rows: N when known (files, memory); None for a single online pass (stdin), where N is
    the number of rows seen so far. memoized uses one fixed partition (the same
    permutations every epoch, from a generator re-seeded from ``rng`` once).

    A source whose file changes under the fit raises errors.DataChanged: the run returns the
    last factors with an exact ELBO (the last complete epoch) as "interrupted", with the
    error in ``stopped_by`` for the caller to raise once the result is written; before the
    first epoch ends there is no such result, and the error propagates. policy.should_stop()
    ends the run after the current step; policy.checkpoints keeps epoch boundaries."""
    store = policy.checkpoints
    from vifit.inference import memoized

    per_epoch = max(1, n_rows // settings.batch_size) if n_rows else None
    window = max(MIN_WINDOW, per_epoch // 4) if per_epoch else 5 * MIN_WINDOW
    plateau = Plateau(window, settings.tol)
    epochs = settings.epochs if problem.source.repeatable else 1
    partition_seed = int(rng.integers(2**63)) if settings.memoized else None
    trace, estimates = [], []
    status = None
    from vifit.inference import svi_checkpoint as saved_state  # imports this module: loaded at run time

    saved = store.resume_state(saved_state.KIND, lambda: {
        "lam_shape": (problem.model.n_stats, problem.model.k)})
    if saved is not None:  # continue from the end of a completed epoch
        trace = [tuple(p) for p in saved["trace"]]
        state = saved_state.consistent(problem, saved_state.state_from(saved), state, trace, saved["n_rows"],
                                        store, batch_size=settings.batch_size, partition_seed=saved["partition_seed"])
        partition_seed, n_rows = saved["partition_seed"], saved["n_rows"]
        estimates = [tuple(p) for p in saved["estimates"]]
        plateau.__dict__.update(saved["plateau"])
        rng.bit_generator.state = saved["rng"]
    def snapshot():
        return {"state": saved_state.state_dict(state), "partition_seed": partition_seed, "n_rows": n_rows,
                "trace": [list(p) for p in trace], "estimates": [list(p) for p in estimates],
                "plateau": {**plateau.__dict__, "values": list(plateau.values)}, "rng": rng.bit_generator.state}

    # the last epoch boundary (or the start): what a checkpoint can resume from exactly
    boundary = snapshot() if store.enabled() else None
    # the last factors whose exact ELBO is known (trace[-1]): where a fit stops when its data change
    exact = replace(state, lam=state.lam.copy()) if trace else None
    changed = None
    try:
        while status is None and state.epoch < epochs:
            batch_rng = np.random.default_rng(partition_seed) if settings.memoized else rng
            for index, rows in enumerate(problem.batches(settings.batch_size, batch_rng)):
                seen = state.rows_seen + rows.shape[0]
                if settings.memoized:
                    state, estimate = memoized.step(problem, state, rows, index, n_rows or seen)
                else:
                    rho = step_rho(state.step, rows.shape[0], n_rows, settings)
                    state, estimate = step(problem, state, rows, n_rows or seen, settings, rho=rho)
                state.rows_seen = seen
                estimate = problem.data_units(estimate, n_rows or seen)
                stop = plateau.add(estimate)
                if plateau.values == [] and plateau.running is not None:
                    estimates.append((state.step, plateau.running))
                if reporter is not None:
                    reporter.update(state.step, estimate,
                                    rho=rho if not settings.memoized else 1.0, epoch=state.epoch + 1)
                if stop:
                    status = "converged"
                elif settings.max_iter is not None and state.step >= settings.max_iter:
                    status = "max_iter"
                elif policy.should_stop():
                    status = "interrupted"
                if status is not None:
                    break
            if status is None:
                state.epoch += 1
                stats, value, rows_total = full_pass(problem, state.lam)
                n_rows = n_rows or rows_total
                trace.append((state.step, problem.data_units(value, rows_total)))
                exact = replace(state, lam=state.lam.copy())
                # noisy: rho_t steps on sampled batches (a single batch of every row steps with rho = 1)
                noisy = not settings.memoized and minibatch_count(n_rows, settings.batch_size) > 1
                if svi_epochs.converged(trace, settings.tol, problem.weight_total or n_rows, noisy):
                    status = "converged"
                if reporter is not None:  # the change shown is the exact ELBO's since the last epoch
                    exact_change = None
                    if len(trace) > 1 and trace[-2][1] != 0:
                        exact_change = (trace[-1][1] - trace[-2][1]) / abs(trace[-2][1])
                    reporter.update(state.step, estimate, change=exact_change, exact_elbo=trace[-1][1],
                                    epoch=state.epoch)
                if status is None and store.enabled():
                    boundary = snapshot()
                    if store.due():
                        store.save(saved_state.KIND, boundary)
    except DataChanged as exc:
        if exact is None:  # not one epoch completed: no result to keep
            raise
        state, status, changed = exact, "interrupted", exc
    if status == "interrupted" and boundary is not None and changed is None:  # not for data that changed
        store.save(saved_state.KIND, boundary)
    if status is None:  # a bound on epochs, or a single online pass that ran out of rows before
        status = "max_iter"  # the stopping test fired: neither shows convergence
    try:
        elbo, n_rows = _sorted_with_elbo(problem, state, trace, n_rows, changed is not None)
    except DataChanged as exc:  # in the final pass
        if exact is None:
            raise
        state, status, changed = exact, "interrupted", exc
        elbo, n_rows = _sorted_with_elbo(problem, state, trace, n_rows, True)
    if changed is not None:
        estimates[:] = [point for point in estimates if point[0] <= state.step]
    return SviResult(state=state, status=status, elbo=elbo, n_rows=n_rows, trace=trace, estimates=estimates,
                     stopped_by=changed)


def _sorted_with_elbo(problem: Problem, state: State, trace: list, n_rows, data_changed: bool):
    """Sort the components of state.lam by weight (in place) and return (exact ELBO, rows):
    trace's last value when it is of these factors, else from one more pass. When the data
    changed there can be no more pass: DP sticks keep their order (re-sorting them changes
    the ELBO), and trace's last value is of the factors (the last complete epoch's)."""
    order = np.argsort(-state.lam[0], kind="stable")
    if data_changed and problem.model.weights == "dp":
        order = np.arange(order.size)
    state.lam = state.lam[:, order]
    if trace and trace[-1][0] == state.step and (problem.model.weights != "dp" or
                                                np.array_equal(order, np.arange(order.size))):
        return trace[-1][1], n_rows
    _, value, rows_total = full_pass(problem, state.lam)
    elbo = problem.data_units(value, rows_total)
    trace.append((state.step, elbo))
    return elbo, rows_total
