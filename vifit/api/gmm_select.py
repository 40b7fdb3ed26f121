"""Choosing among candidates (K, and gmm's covariance type): the selection table ``fit.selection``.

Three criteria (``--select``):

- elbo: the highest ELBO. It is a lower bound on log p(x | K) with every constant, in nats of
  the data, so candidates, of any K and any covariance type, are compared on it directly. We do
  not add log K! (Bishop 2006, §10.2.4): once surplus components are empty the posterior no
  longer has K! symmetric modes, and the correction would then favour the largest K.
- heldout: the highest held-out log predictive density per row (``--validation``, ``--folds``;
  api.heldout), nats of the data as read.
- icl: the highest ICL-style bound, ELBO - sum_n w_n H(r_n): the ELBO minus the entropy of the
  responsibilities r_n of the fitted rows, i.e. the bound with hard assignments (Biernacki,
  Celeux & Govaert 2000 penalise BIC the same way); it prefers well-separated components.

The running of the candidates' fits is :mod:`vifit.api.grid`'s.
"""

from __future__ import annotations

import re

from vifit.errors import BadInput
from vifit.result import FitResult

CRITERION = "highest ELBO (a lower bound on log p(x | K), all constants included)"
SAME_UNITS = ("; the ELBOs of different covariance types are in the same units (nats of the data, every constant "
              "included), so they compare directly")
CRITERIA = {
    "elbo": CRITERION,
    "heldout": "highest held-out log predictive density per row (nats of the data as read)",
    "icl": ("highest ICL-style bound: the ELBO minus the entropy of the responsibilities, sum_n H(r_n), "
            "i.e. the bound with hard assignments"),
}
FIGURE = {"elbo": "elbo", "heldout": "heldout_log_density_per_row", "icl": "icl"}
WHAT = {"elbo": "ELBO", "heldout": "held-out log density per row", "icl": "ICL bound"}


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


def unconverged(result: FitResult) -> list[str]:
    """The candidates of a selection (``fit.selection``) that stopped before converging: "3", or
    "3 (diag)" in a grid of covariance types."""
    selection = result.fit_extra.get("selection", {})
    several = len((selection.get("grid") or {}).get("covariance") or []) > 1
    return [label(c, several) for c in selection.get("candidates", []) if not c["converged"]]


def label(candidate: dict, with_covariance: bool) -> str:
    return f"{candidate['k']} ({candidate['covariance']})" if with_covariance else str(candidate["k"])


def unconverged_message(spec: str, ks: list) -> str:
    listed = ", ".join(str(k) for k in ks)
    return (f"--k {spec}: candidate{'s' if len(ks) > 1 else ''} K = {listed} did not converge, so the "
            f"choice among them may change with more sweeps")


def _carrying(candidate: dict) -> str:
    """' (2 components carry weight)' when fewer of the K components hold data than K, else ''."""
    effective = candidate.get("effective_components")
    if effective is None or effective == candidate["k"]:
        return ""
    return f" ({effective} component{'s' if effective != 1 else ''} carr{'y' if effective != 1 else 'ies'} weight)"


def criterion_of(select: str | None, split) -> str:
    """--select's criterion: as given, else heldout with a split and elbo without (BadInput for
    heldout without a split)."""
    if select is None:
        return "heldout" if split is not None else "elbo"
    if select == "heldout" and split is None:
        raise BadInput("--select heldout needs held-out rows: add --validation FRACTION or --folds F")
    return select


def candidate(k: int, covariance: str | None, result: FitResult, entropy: float | None,
              validation: dict | None) -> dict:
    """One row of the selection table (covariance None: the mixture, whose families carry theirs)."""
    row = {"k": k}
    if covariance is not None:
        row["covariance"] = covariance
    row.update({
        "elbo": result.elbo,
        "elbo_per_row": result.elbo / result.n_rows,
        "n_iter": result.n_iter,
        "converged": result.converged,
        "effective_components": result.fit_extra.get("effective_components"),
        "heldout_log_density_per_row": None if validation is None else validation["heldout_log_density_per_row"],
        "heldout_standard_error": None if validation is None else validation["standard_error"],
        "icl": None if entropy is None else result.elbo - entropy,
    })
    return row


def _figure(row: dict, criterion: str) -> float:
    value = row[FIGURE[criterion]]
    return float("-inf") if value is None else value


def edge_warning(spec: str, ks: list[int], chosen: int) -> str | None:
    """The warning for a chosen K on the edge of a range of several: the largest, or the smallest
    when it is above 1 (a better K may lie outside)."""
    if len(ks) < 2 or not (chosen == ks[-1] or (chosen == ks[0] and chosen > 1)):
        return None
    side, wider = ("largest", f"{ks[0]}-{2 * ks[-1]}") if chosen == ks[-1] else ("smallest", f"1-{ks[-1]}")
    return (f"--k {spec}: the chosen K = {chosen} is the {side} candidate, so a better K may lie outside the range: "
            f"widen it (e.g. --k {wider})")


def table(rows: list[dict], criterion: str, *, ks: list[int], covariances: list | None, spec: str,
          split) -> tuple[int, dict]:
    """(index of the chosen row, fit.selection) for the candidates' rows (selection.candidate)."""
    best = max(range(len(rows)), key=lambda i: _figure(rows[i], criterion))
    chosen, several = rows[best], covariances is not None and len(covariances) > 1
    text = CRITERIA[criterion]
    if criterion != "heldout" and several:
        text += SAME_UNITS
    if criterion == "heldout":
        text += " on " + ("the --validation rows" if split[0] == "validation" else f"{split[1]} cross-validation folds")
    elif split is not None and split[0] == "validation":
        text += " (of the fits to the training rows)"
    name = f"K = {chosen['k']}" + (f", covariance {chosen['covariance']}" if several else "")
    block = {
        "candidates": rows,
        "chosen_k": chosen["k"],
        "criterion": text,
        "reason": f"{name} has the highest {WHAT[criterion]} of the {len(rows)} candidates fitted",
        "select": criterion,
        "chosen": {"k": chosen["k"], **({"covariance": chosen["covariance"]} if covariances is not None else {})},
        "grid": {"k": list(ks), **({"covariance": list(covariances)} if covariances is not None else {})},
        "edge": edge_warning(spec or ",".join(map(str, ks)), ks, chosen["k"]),
    }
    return best, block


def chosen_note(rows: list[dict], best: int, criterion: str, covariances: list | None) -> str:
    """The note naming the chosen row and every candidate's figure; a K range by ELBO keeps its
    words of before the grid ("chose K = 3: K=1 elbo -1948.94, ...")."""
    several = covariances is not None and len(covariances) > 1
    chosen = rows[best]
    if criterion == "elbo" and not several:
        return f"chose K = {chosen['k']}{_carrying(chosen)}: " + ", ".join(
            f"K={c['k']} elbo {c['elbo']:.6g}" for c in rows)
    name = f"K = {chosen['k']}" + (f", covariance {chosen['covariance']}" if several else "")
    key, what = FIGURE[criterion], {"elbo": "elbo", "heldout": "heldout", "icl": "icl"}[criterion]

    def shown(row):
        value = row[key]
        return "n/a" if value is None else f"{value:.6g}"

    return (f"chose {name}{_carrying(chosen)} by {WHAT[criterion]}: " + ", ".join(
        f"K={c['k']}{'/' + c['covariance'] if several else ''} {what} {shown(c)}" for c in rows))
