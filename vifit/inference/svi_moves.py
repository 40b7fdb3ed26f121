"""Split and merge moves after an SVI or memoized fit converges (``--moves split-merge``).

The proposals are CAVI's (``inference.moves.proposals``: a merge+split or, for ``dp`` weights, a
merge, scored in closed form), made on the row sample the SVI start was drawn from (a uniform
sample of the rows; every s-th of it, at most ``moves.MOVE_ROWS``, as CAVI's; its statistics
scaled to all rows). The best proposal that rises on the
sample is tried on all rows by full passes over the source: its factors, then up to
``moves.TRIAL_SWEEPS`` full-batch steps (a pass for the statistics of every row, then the global
step with rho = 1: a CAVI sweep read through the source, so the exact ELBO cannot fall). It is
kept only when the exact ELBO beats the converged fit's; kept, the full-batch steps go on until
the exact ELBO's relative change is below tol (at most ``MAX_PASSES``), and the next round
starts from there. So ``--method svi`` and ``--method cavi`` get the same check and escape the
same merged pairs. Each full-batch step counts as one step (of N rows) in the trace.

A source read once (stdin) cannot be passed over again: no moves are tried there (the caller
says so). With the source on a cluster (``distributed.svi``) the passes are its tree sums.
Nothing is random: the same converged fit always gets the same moves.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from vifit.inference import moves, svi
from vifit.inference.cavi import round_off

MAX_PASSES = 100  # full-batch steps after a kept move, at most


def _passes(problem: svi.Problem, lam: np.ndarray, most: int, tol: float | None, state: svi.State, trace: list,
            previous: float | None = None):
    """Up to ``most`` full-batch steps from lam: (the last factors scored, their exact ELBO in data
    units, the factors their statistics step to, converged). Each pass scores its factors and
    steps to the next; ``trace`` gets one entry per pass, ``state`` its steps and rows. tol None:
    every pass; else stop when the ELBO's relative change from ``previous`` (the ELBO before) is
    below tol."""
    value, converged = previous, False
    for _ in range(most):
        stats, exact, rows = svi.full_pass(problem, lam)
        state.step += 1
        state.rows_seen += rows
        previous, value = value, problem.data_units(exact, rows)
        trace.append((state.step, value))
        scored, lam = lam, problem.model.global_step(stats.t)
        if tol is not None and previous is not None and abs(value - previous) <= tol * abs(previous):
            converged = True
            break
    return scored, value, lam, converged


def improve(problem: svi.Problem, result: svi.SviResult, sample: np.ndarray, scale: float, *, tol: float,
            reporter=None, policy=None):
    """Moves from a converged SVI result until none helps: (result, accepted moves [{move, step,
    elbo_before, elbo_after}]). ``sample`` is the start's row sample (with the weights column
    when the rows are weighted), ``scale`` the rows it stands for per sampled row. The returned
    result's exact ELBO is never below the given one."""
    if result.status != "converged" or not problem.source.repeatable:
        return result, []
    model = problem.model
    x, weights = problem.split(sample)
    # at most CAVI's MOVE_ROWS rows of the sample (every s-th): the proposals' cost as CAVI's
    x, weights, within = moves.strided_sample(x, weights)
    scale = scale * within
    rows_total = problem.weight_total or result.n_rows
    state = replace(result.state, lam=result.state.lam.copy())
    trace, elbo, status = list(result.trace), result.elbo, result.status
    accepted = []
    for _ in range(moves.MAX_ROUNDS):
        if policy is not None and policy.should_stop():
            status = "interrupted" if accepted else status
            break
        found = [p for p in moves.proposals(model, state.lam, x, weights, problem.chunk_rows, scale) if p.score > 0]
        if not found:
            break
        best = found[0]
        trial_state, trial_trace = replace(state), list(trace)
        step = trial_state.step + 1
        lam, value, following, _ = _passes(problem, model.global_step(best.t, scale), moves.TRIAL_SWEEPS, None,
                                           trial_state, trial_trace)
        if not value > elbo + round_off(elbo, rows_total):
            break
        lam, value, _, converged = _passes(problem, following, MAX_PASSES, tol, trial_state, trial_trace,
                                           previous=value)
        accepted.append({"move": best.kind, "step": step, "elbo_before": elbo, "elbo_after": value})
        if reporter is not None:
            reporter.note(f"{best.kind} move kept at step {step}: ELBO {elbo:.10g} -> {value:.10g}")
        trial_state.lam = lam
        state, trace, elbo = trial_state, trial_trace, value
        status = "converged" if converged else "max_iter"
        if not converged:
            break
    if not accepted:
        return result, []
    elbo, _ = svi._sorted_with_elbo(problem, state, trace, result.n_rows, False)  # by weight, as svi.run
    if elbo < result.elbo - round_off(result.elbo, rows_total):  # dp sticks re-sorted below the start
        return result, []
    return replace(result, state=state, status=status, elbo=elbo, trace=trace), accepted
