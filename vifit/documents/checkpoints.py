"""Schemas of the states the fitting loops save in a checkpoint, checked before resuming.

Each loop builds its schema from what it knows about the run (components, natural-parameter
rows, number of weights, restarts, epochs), so a checkpoint whose members are missing, of the
wrong type or shape, or outside the run (a restart index of 99, a negative iteration) is
refused in one line instead of failing half-way through the resumed fit.
"""

from __future__ import annotations

import numpy as np

from vifit.documents.schema import Array, Check, Context, Int, Nullable, Num, Obj, Spec, Str

PAIRS = Array(("_", 2), allow_empty=True)  # [[iteration, value], ...]
VALUES = Array("_", allow_empty=True)


class Exact(Obj):
    """An object with exactly the listed members: a state is restored member by member."""

    def check(self, value, ctx):
        out = super().check(value, ctx)
        extra = sorted(set(value) - set(self.members))
        if extra:
            raise ctx.at(extra[0]).fail("is not part of this state")
        return out


class MaybePairs(Spec):
    """[[epoch, value or null], ...]: a metric some epochs could not compute."""

    optional = False

    def check(self, value, ctx):
        if not isinstance(value, list):
            raise ctx.fail("must be a list of [epoch, value] pairs")
        for i, pair in enumerate(value):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise ctx.at(i).fail("must be an [epoch, value] pair")
            Int(ge=0).check(pair[0], ctx.at(i).at(0))
            Nullable(Num(allow_inf=True)).check(pair[1], ctx.at(i).at(1))
        return value


def _generator_state(value, ctx: Context) -> None:
    """A numpy bit generator's state: tried on a scratch generator, the only full check."""
    try:
        np.random.default_rng().bit_generator.state = value
    except (TypeError, ValueError, KeyError, OverflowError):
        raise ctx.fail("is not a random generator's state") from None


RNG = Check(Obj({"bit_generator": Str(choices=("PCG64",))}), _generator_state)


def _rule(condition, where: str, problem: str):
    def rule(value, ctx: Context) -> None:
        if not condition(value):
            raise ctx.at(where).fail(problem)
    return rule


def gmm_cavi(restarts: int, lam_shape: tuple, max_iter: int) -> Spec:
    """The CAVI loop's state: the restart under way, its current and the best finished state."""
    state = Exact({"lam": Array(lam_shape), "t": Array(lam_shape), "neg_entropy": Num(), "rows": Int(ge=1),
                   "elbo": Num(), "iteration": Int(ge=0), "trace": PAIRS})
    spec = Exact({"restart": Int(ge=0), "current": state, "best": Nullable(state),
                  "best_status": Str(choices=("converged", "max_iter", "interrupted")),
                  "best_index": Int(ge=0), "elbos": VALUES})
    checks = [
        ("restart", lambda s: s["restart"] < restarts, f"must be below --restarts {restarts}"),
        ("current", lambda s: s["current"]["iteration"] <= max_iter, f"has an iteration beyond --max-iter {max_iter}"),
        ("elbos", lambda s: len(s["elbos"]) == s["restart"], "must hold one ELBO per finished restart"),
        ("best", lambda s: (s["best"] is None) == (s["restart"] == 0), "must be present once a restart finished"),
        ("best_index", lambda s: s["best_index"] <= max(0, s["restart"] - 1), "must name a finished restart"),
    ]
    for where, condition, problem in checks:
        spec = Check(spec, _rule(condition, where, problem))
    return spec


def gmm_svi(lam_shape: tuple) -> Spec:
    """The SVI loop's state at an epoch boundary."""
    stats = Exact({"t": Array(lam_shape), "neg_entropy": Num(), "rows": Int(ge=0)})
    memo = Exact({"total": stats, "batches": Obj({})})
    state = Exact({"lam": Array(lam_shape), "step": Int(ge=0), "epoch": Int(ge=0), "rows_seen": Int(ge=0),
                   "memo": Nullable(memo)})
    plateau = Exact({"window": Int(ge=1), "tol": Num(ge=0), "values": VALUES, "previous": Nullable(Array((2,))),
                     "stale": Int(ge=0), "running": Nullable(Num())})
    spec = Exact({"state": state, "partition_seed": Nullable(Int(ge=0)), "n_rows": Nullable(Int(ge=1)),
                  "trace": PAIRS, "estimates": PAIRS, "plateau": plateau, "rng": RNG})
    return Check(spec, _memo_batches(stats))


def _memo_batches(stats: Spec):
    def rule(value, ctx: Context) -> None:
        memo = value["state"]["memo"]
        for key, batch in ({} if memo is None else memo["batches"]).items():
            where = ctx.at("state").at("memo").at("batches").at(key)
            if not key.isdigit():
                raise where.fail("must be named by a batch number")
            stats.check(batch, where)
    return rule


def sgd(n_weights: int, optimizer_state: dict, epochs: int) -> Spec:
    """The training loop's state after an epoch: weights, optimiser, counters, traces, generator.

    optimizer_state: a fresh optimiser's ``state()``, giving the members and their shapes."""
    optimizer = Exact({name: Array(np.shape(v)) if isinstance(v, np.ndarray) else Int(ge=0)
                       for name, v in optimizer_state.items()})
    spec = Exact({"weights": Array((n_weights,)), "optimizer": optimizer, "epoch": Int(ge=0), "best": Array((n_weights,)),
                  "best_loss": Num(allow_inf=True), "best_epoch": Int(ge=0),
                  "train_trace": PAIRS, "validation_trace": PAIRS, "metric_trace": MaybePairs(), "rng": RNG,
                  # losses of the weights, best weights and a step ahead on a few rows (inference.sgd)
                  "check": Exact({name: Num(allow_inf=True) for name in ("weights", "best", "ahead")})})
    checks = [
        ("epoch", lambda s: s["epoch"] <= epochs, f"must not exceed --epochs {epochs}"),
        ("best_epoch", lambda s: s["best_epoch"] <= s["epoch"], "must not be after the epoch saved"),
        ("train_trace", lambda s: len(s["train_trace"]) == s["epoch"], "must hold one loss per epoch done"),
    ]
    for where, condition, problem in checks:
        spec = Check(spec, _rule(condition, where, problem))
    return spec


# a loop's checkpoint kind -> its schema, built from the dimensions the loop gives
SCHEMAS = {"gmm-cavi": gmm_cavi, "gmm-svi": gmm_svi, "sgd": sgd}
