"""Choosing K: fit each candidate and keep the one with the highest ELBO.

The ELBO is a lower bound on log p(x | K) with every constant, so candidates are
compared on it directly. We do not add log K! (Bishop 2006, §10.2.4): once surplus
components are empty the posterior no longer has K! symmetric modes, and the
correction would then favour the largest K.
"""

from __future__ import annotations

import re
from typing import Callable

from vifit.errors import BadInput
from vifit.result import FitResult

CRITERION = "highest ELBO (a lower bound on log p(x | K), all constants included)"


def parse_k(spec: str) -> list[int]:
    """'3' -> [3]; '2-10' -> [2..10]; '2,4,8' -> [2, 4, 8] (sorted, unique). BadInput otherwise."""
    text = str(spec).strip()
    values: list[int] = []
    for part in text.split(","):
        part = part.strip()
        match = re.fullmatch(r"(-?\d+)(?:\s*-\s*(-?\d+))?", part)
        if not match:
            raise BadInput(f"--k {spec!r}: give a number, a range like 2-10 or a list like 2,4,8")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if low < 1 or high < 1:
            raise BadInput(f"--k {spec!r}: the number of components must be at least 1")
        if high < low:
            raise BadInput(f"--k {spec!r}: range {low}-{high} is empty; write it as {high}-{low}")
        values.extend(range(low, high + 1))
    return sorted(set(values))


NOT_CONVERGED_HINT = "raise --max-iter or loosen --tol"
NOTED_GAP = 1.0  # nats: restarts this close are taken to be at one optimum (see restart_spread)


def restart_spread(elbos: list, best: int | None, tol: float) -> str | None:
    """The note for restarts that reached different optima, or None (one restart, or all at one).

    A restart is at another optimum when its final ELBO is below the best by more than --tol of
    it and by more than NOTED_GAP nats: restarts that converge slowly to one optimum stop at
    slightly different points (each stops once a sweep gains less than --tol), several --tol
    apart, and a gap under one nat is no evidence of a better optimum (a likelihood ratio below e)."""
    if len(elbos) < 2:
        return None
    high, low = max(elbos), min(elbos)
    gap = max(NOTED_GAP, max(tol, 0.0) * abs(high))
    apart = sum(1 for e in elbos if high - e > gap)
    if not apart:
        return None
    which = f" (restart {best + 1})" if best is not None else ""
    return (f"the {len(elbos)} restarts ended at different optima: ELBO {low:.6g} to {high:.6g} ({apart} below the "
            f"best by more than {NOTED_GAP:g} nat and --tol); the best{which} is kept, and more --restarts may "
            f"find a higher one")


def unconverged(result: FitResult) -> list[int]:
    """The candidate Ks of a selection (``fit.selection``) that stopped before converging."""
    selection = result.fit_extra.get("selection", {})
    return [c["k"] for c in selection.get("candidates", []) if not c["converged"]]


def unconverged_message(spec: str, ks: list[int]) -> str:
    listed = ", ".join(str(k) for k in ks)
    return (f"--k {spec}: candidate{'s' if len(ks) > 1 else ''} K = {listed} did not converge, so the "
            f"choice among them may change with more sweeps")


def _carrying(candidate: dict) -> str:
    """' (2 components carry weight)' when fewer of the K components hold data than K, else ''."""
    effective = candidate.get("effective_components")
    if effective is None or effective == candidate["k"]:
        return ""
    return f" ({effective} component{'s' if effective != 1 else ''} carr{'y' if effective != 1 else 'ies'} weight)"


def select(ks: list[int], fit_one: Callable[[int], FitResult], reporter, *, spec: str = "",
           strict: bool = False) -> FitResult:
    """Fit every K in ``ks`` with ``fit_one(k)``; return the best, with ``fit.selection``.

    spec: the --k text, for messages. Candidates that did not converge get a warning naming
    them, unless ``strict`` (the caller then exits 3 after writing, see ``unconverged``)."""
    results = []
    with reporter.group(f"K = {spec or ','.join(map(str, ks))}: fits", total=len(ks)):
        for k in ks:
            with reporter.item(f"K={k}"):
                results.append(fit_one(k))
            if results[-1].status == "interrupted":
                break
    best_index = max(range(len(results)), key=lambda i: results[i].elbo)
    best = results[best_index]
    candidates = [{
        "k": k,
        "elbo": result.elbo,
        "elbo_per_row": result.elbo / result.n_rows,
        "n_iter": result.n_iter,
        "converged": result.converged,
        "effective_components": result.fit_extra.get("effective_components"),
    } for k, result in zip(ks, results)]
    chosen = ks[best_index]
    best.fit_extra["selection"] = {
        "candidates": candidates,
        "chosen_k": chosen,
        "criterion": CRITERION,
        "reason": f"K = {chosen} has the highest ELBO of the {len(candidates)} candidates fitted",
    }
    if any(r.status == "interrupted" for r in results):
        best.status = "interrupted"
    reporter.note(f"chose K = {chosen}{_carrying(candidates[best_index])}: " + ", ".join(
        f"K={c['k']} elbo {c['elbo']:.6g}" for c in candidates))
    stopped_early = unconverged(best)
    if stopped_early and not strict and best.status != "interrupted":
        reporter.warn(unconverged_message(spec or ",".join(map(str, ks)), stopped_early)
                      + f"; {NOT_CONVERGED_HINT} (\"converged\": false in fit.selection)")
    return best
