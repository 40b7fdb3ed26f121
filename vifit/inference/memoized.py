"""Memoized online variational inference (Hughes & Sudderth 2013): the step.

The data are split once into fixed batches (the SVI loop replays the same
partition every epoch). For each batch b the statistics S_b of its last visit
are kept; visiting b replaces them: S <- S - S_b(old) + S_b(new), and the
global factors are the exact global step lam = prior + S (no step size, no
decay, nothing to tune). During the first lap S holds the batches seen so far.
The partition (inference/sources.py) comes from a permutation of all rows in memory but is
cut within windows on a stream, so a stream sorted by group biases the first lap, which is
the whole of a single online pass; later laps replace every batch's statistics.
The estimate ELBO(q, r_memo) is exact for the remembered responsibilities (a
valid bound for any responsibilities), scaled by N / rows-in-S in the first lap.
Memory: one (p, k) matrix per batch (none on a single online pass, e.g. stdin).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from vifit.models.mixture import Stats


@dataclass
class Memo:
    """Per-batch statistics by batch index, and their sum."""

    total: Stats
    batches: dict = field(default_factory=dict)


def step(problem, state, rows: np.ndarray, index: int, n_total: int):
    """Visit batch ``index`` (rows (m, d)); returns (new state, ELBO estimate (working frame))."""
    from vifit.inference.svi import scaled

    model = problem.model
    memo = state.memo if state.memo is not None else Memo(Stats.zeros(model))
    q = model.variational(state.lam)
    theta = model.coefficients(q)
    new = problem.batch_statistics(theta, rows)
    old = memo.batches.get(index)
    total = memo.total + new
    if old is not None:
        total = Stats(total.t - old.t, total.neg_entropy - old.neg_entropy, total.rows - old.rows)
    if problem.source.repeatable:  # a single online pass never revisits a batch: keep nothing
        memo.batches[index] = new
    memo.total = total
    lam = model.global_step(total.t)
    q_new = model.variational(lam)
    estimate = model.elbo(q_new, scaled(total, n_total / max(total.rows, 1)))
    return replace(state, lam=lam, step=state.step + 1, memo=memo), estimate
