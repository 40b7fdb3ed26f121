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


def select(ks: list[int], fit_one: Callable[[int], FitResult], reporter) -> FitResult:
    """Fit every K in ``ks`` with ``fit_one(k)``; return the best, with ``fit.selection``."""
    results = []
    for k in ks:
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
    reporter.note(f"chose K = {chosen}: " + ", ".join(
        f"K={c['k']} elbo {c['elbo']:.6g}" for c in candidates))
    return best
