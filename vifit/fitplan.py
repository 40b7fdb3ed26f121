"""``Plan``: what an estimator hands to whoever runs its fit (``vifit.api``'s ``fit`` or a command's
``fitflow.run_fit``), so both record the same config and run the same fit.

Nothing here runs or reads anything; the fields are plain values and module-level functions
(``functools.partial`` of them), never closures over a config that the caller re-reads: what a
fit resolves (a prior's data-scaled defaults) comes back in ``FitResult.resolved``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable

NOT_CONVERGED_HINT = "raise --max-iter or loosen --tol"


@dataclass
class Plan:
    """config: the document's config block of the model's options (the read options and the seed
    are added by whoever runs the plan); fit: ``fit(rows, *, seed, reporter, policy) -> FitResult``;
    load: ``load(source, ReadOptions, note) -> rows`` (with ``describe()``) for rows that are not
    a whole in-memory table (a stream, partitions on a cluster), None for a table; strict_check:
    ``(result) -> message or None``, the candidates ``--strict`` also covers (a K range);
    resources: closed when the run ends (a cluster connection a load opened); threads: the kind of
    thread plan (vifit.threads.plan): "rows" for fits whose small GEMMs run on vifit's row threads
    with BLAS on one, "networks" and "gemm" (PCA) for fits whose large GEMMs are BLAS's."""

    config: dict
    fit: Callable
    min_rows: int = 2
    default_dtype: str = "float64"
    not_converged_hint: str = NOT_CONVERGED_HINT
    load: Callable | None = None
    strict_check: Callable | None = None
    resources: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    threads: str = "rows"


def recorded_config(plan: Plan, result, read: dict, seed: int) -> dict:
    """The document's config block: the plan's options, what the fit resolved, the read options, the seed."""
    resolved = {} if result is None or result.resolved is None else {"resolved": result.resolved}
    return {**plan.config, **resolved, **read, "seed": seed}
