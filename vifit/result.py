"""``FitResult``: the one type that carries a fitted model to the writers."""

from __future__ import annotations

from dataclasses import dataclass, field

STATUSES = ("converged", "max_iter", "interrupted")


@dataclass
class FitResult:
    """What a fit produced, before it is turned into a document.

    params: {"prior": {...}, "variational": {...}, "summary": {...}} of arrays and numbers.
    trace: [(iteration, elbo or loss), ...] in the order they were computed.
    fit_extra: further entries of the ``fit`` block (e.g. log-likelihoods, selection).
    table: optional CSV view, {"columns": [...], "rows": [[...], ...]}: one row per
        component (mixtures, PCA) or a long block,name,index,value table (networks).
    """

    model: str
    method: str
    params: dict
    status: str
    elbo: float | None
    n_rows: int
    n_iter: int
    trace: list = field(default_factory=list)
    fit_extra: dict = field(default_factory=dict)
    table: dict | None = None
    # the error that stopped the fit early (e.g. errors.DataChanged, with status "interrupted"):
    # raised by the command after the result is written
    stopped_by: Exception | None = None
    # what the fit resolved from the data (a prior's data-scaled defaults): config.resolved
    resolved: dict | None = None

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")

    @property
    def converged(self) -> bool:
        return self.status == "converged"

    def fit_block(self) -> dict:
        elbo = None if self.elbo is None else float(self.elbo)
        block = {
            "status": self.status,
            "converged": self.converged,
            "elbo": elbo,
            "elbo_per_row": None if elbo is None else elbo / self.n_rows,
            "n_iter": int(self.n_iter),
            "trace": [[int(i), float(v)] for i, v in self.trace],
        }
        block.update(self.fit_extra)
        return block
