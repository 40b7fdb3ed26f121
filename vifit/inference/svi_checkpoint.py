"""The SVI state in a checkpoint: to and from its dict, and the checks that a saved state
follows from itself (a checksum catches damage, not a state re-signed after an edit), each a
BadInput (exit 2) naming the checkpoint file."""

from __future__ import annotations

import numpy as np

from vifit.errors import BadInput
from vifit.inference.policy import resume_name
from vifit.inference.svi import Problem, State, full_pass
from vifit.models.mixture import Stats


KIND = "gmm-svi"


def state_dict(state: State) -> dict:
    memo = None
    if state.memo is not None:
        memo = {"total": _stats_dict(state.memo.total),
                "batches": {str(i): _stats_dict(b) for i, b in state.memo.batches.items()}}
    return {"lam": state.lam.copy(), "step": state.step, "epoch": state.epoch, "rows_seen": state.rows_seen,
            "memo": memo}


def _stats_dict(stats: Stats) -> dict:
    return {"t": stats.t.copy(), "neg_entropy": stats.neg_entropy, "rows": stats.rows}


def _stats_from(saved: dict) -> Stats:
    return Stats(np.asarray(saved["t"]), float(saved["neg_entropy"]), int(saved["rows"]))


def _in_domain(problem: Problem, lam: np.ndarray) -> bool:
    """lam (p, k) is a point SVI can reach: convertible to valid variational parameters.

    Every lam of the loop is a convex combination of prior + scale * statistics of
    non-negative responsibilities, so its expected counts lam[0] are >= 0, which gives
    positive concentrations (alpha0 + N_k, DP sticks 1 + N_k and alpha0 + tail), mean
    precisions beta0 + N_k > 0 and degrees of freedom nu0 + N_k > D - 1 (the prior's are
    checked when it is built); the Wishart/Gamma scale must be positive (definite)."""
    counts = lam[0]
    if not (np.isfinite(lam).all() and (counts >= 0).all()):
        return False
    with np.errstate(all="ignore"):
        return problem.model.in_domain(lam)


# Round-off allowance between the exact ELBO a checkpoint's trace holds for its factors and the
# same ELBO recomputed on resume: the same pass over the same rows in the same order, so equal
# but for the order of a distributed sum; CAVI's allowance (1e-9 relative, plus 1e-9 per row).
def _elbo_allowance(value: float, n_rows: int) -> float:
    return 1e-9 * (abs(value) + n_rows) + 1e-9


def consistent(problem: Problem, state: State, initial: State, trace: list, n_rows, store, *,
                batch_size: int, partition_seed) -> State:
    """A resumed SVI state that follows from its own factors, else BadInput (exit 2).

    The checksum catches damage, not a state re-signed after an edit. Checked: lam is in its
    domain (:func:`_in_domain`); a state saved before the first epoch ended holds the run's
    initial factors (recomputed from the same seed); otherwise the trace's last exact ELBO is
    of these factors (one full pass, as at every epoch's end) and the pass counts n_rows rows;
    rows_seen is epoch * n_rows (every epoch visits every row once); memoized: lam is the
    global step of the remembered total, which is the sum of the remembered batches, and each
    batch's statistics summed over components are its rows' T(x) summed (responsibilities sum
    to 1 per row), from the same partition (one more pass)."""
    problem_text = f"{resume_name(store)}: the checkpoint's SVI state is inconsistent"
    if not _in_domain(problem, state.lam):
        raise BadInput(f"{problem_text}: its factors are not a valid posterior (negative counts or a scale "
                       f"that is not positive definite); it was edited, or written for other data")
    if n_rows is not None and state.rows_seen != state.epoch * n_rows:
        raise BadInput(f"{problem_text}: it saw {state.rows_seen} rows in {state.epoch} epochs of {n_rows} rows; "
                       f"it was edited")
    if len(trace) != state.epoch or (trace and trace[-1][0] != state.step):
        raise BadInput(f"{problem_text}: its trace does not hold one exact ELBO per epoch, the last at step "
                       f"{state.step}; it was edited")
    if state.memo is not None:
        memo, total = state.memo, state.memo.total
        parts = sum((b.t for b in memo.batches.values()), np.zeros_like(total.t))
        scale = np.abs(total.t).max() + 1.0
        if not (np.allclose(state.lam, problem.model.global_step(total.t), rtol=1e-12, atol=1e-12 * scale)
                and (not problem.source.repeatable or np.allclose(parts, total.t, rtol=1e-9, atol=1e-9 * scale))):
            raise BadInput(f"{problem_text}: its factors are not the global step of its remembered statistics; "
                           f"it was edited")
        if memo.batches and problem.source.repeatable and partition_seed is not None:
            _check_memo_batches(problem, memo, batch_size, partition_seed, problem_text)
    if not trace:  # saved before the first epoch ended: the run's own start
        if not (state.step == 0 and np.allclose(state.lam, initial.lam, rtol=1e-12, atol=0.0)):
            raise BadInput(f"{problem_text}: its factors are not this run's initial ones; it was edited, or "
                           f"written for other data")
        return state
    with np.errstate(all="ignore"):
        _, value, rows = full_pass(problem, state.lam)
    value = problem.data_units(value, rows)
    if not (np.isfinite(value) and abs(value - trace[-1][1]) <= _elbo_allowance(value, rows)
            and (n_rows is None or rows == n_rows)):
        raise BadInput(f"{problem_text}: its last exact ELBO does not follow from its factors; it was edited, or "
                       f"written for other data")
    return state


def _check_memo_batches(problem: Problem, memo, batch_size: int, partition_seed: int, problem_text: str) -> None:
    """Each remembered batch b: its statistics summed over components equal T(x) summed over
    the rows of batch b of the memoized partition (any responsibilities give that sum; zero
    coefficients are used), to round-off (1e-9 relative)."""
    theta = np.zeros((problem.model.k, problem.model.n_stats))  # (k, p), as log_resp_coefficients
    seen = set()
    with np.errstate(all="ignore"):
        for index, rows in enumerate(problem.batches(batch_size, np.random.default_rng(partition_seed))):
            remembered = memo.batches.get(index)
            if remembered is None:
                continue
            seen.add(index)
            expected = problem.batch_statistics(theta, rows).t.sum(axis=1)
            got = remembered.t.sum(axis=1)
            scale = np.abs(expected).max() + 1.0
            if not (remembered.rows == rows.shape[0] and np.allclose(got, expected, rtol=1e-9, atol=1e-9 * scale)):
                raise BadInput(f"{problem_text}: its remembered statistics of batch {index} are not of that batch's "
                               f"rows; it was edited, or written for other data")
    if seen != set(memo.batches):
        raise BadInput(f"{problem_text}: it remembers batches the partition does not have; it was edited")


def state_from(saved: dict) -> State:
    from vifit.inference.memoized import Memo

    raw = saved["state"]
    memo = None
    if raw["memo"] is not None:
        memo = Memo(_stats_from(raw["memo"]["total"]),
                    {int(i): _stats_from(b) for i, b in raw["memo"]["batches"].items()})
    return State(lam=np.asarray(raw["lam"]), step=int(raw["step"]), epoch=int(raw["epoch"]),
                 rows_seen=int(raw["rows_seen"]), memo=memo)
