"""Memory estimates of requests whose size the user's numbers set, checked before allocating.

Each function returns bytes for :func:`vifit.resources.require_memory`. The estimates
count what a run must hold at once, not every temporary, so they err low: a refusal is
always a request that cannot fit, while one that passes may still be close to the limit.
The figures were measured with ``/usr/bin/time -v`` on fits of growing size.
"""

from __future__ import annotations

from vifit.resources import require_memory

FLOAT = 8
# A number in the written JSON document: its list slot and float object, its text, and the
# copies rendering makes of that text (measured: 90-110 bytes per number).
JSON_NUMBER_BYTES = 90


def restarts_bytes(restarts: int) -> float:
    """Every restart's final ELBO is recorded in the output (fit.restart_elbos)."""
    return JSON_NUMBER_BYTES * float(restarts)


def check_restarts(restarts: int) -> None:
    """Before reading data: a restart needs no memory of its own beyond its recorded ELBO."""
    require_memory(restarts_bytes(restarts), f"--restarts {restarts}",
                   "each restart's final ELBO is recorded in fit.restart_elbos; use fewer restarts")


def gmm_bytes(spec, n_rows: int, chunk_rows: int, workers: int, restarts: int = 1) -> float:
    """A GMM fit of spec (k, d, covariance) on n_rows rows in chunks of chunk_rows on
    ``workers`` threads, and its JSON document.

    full: the prior's and each component's d x d matrices (scale, E[Lambda], the summary's
    covariance) and the data's covariance; every kind: a chunk's T(x) (p x rows) and its
    (k x rows) responsibilities per thread, the (p x k) statistics and natural parameters."""
    d, k, p = spec.d, spec.k, spec.n_stats
    chunk = max(1, min(int(chunk_rows), int(n_rows))) if n_rows else max(1, int(chunk_rows))
    cov = d * d if spec.covariance == "full" else d
    arrays = ((3 + 4 * k) * cov + workers * (p + 2 * k + 1) * chunk + 2 * k * chunk + 4 * p * k
              + (4 * d * d if spec.covariance == "full" else 0))
    document = (2 + 2 * k) * cov + 4 * k * d + restarts
    return FLOAT * float(arrays) + JSON_NUMBER_BYTES * float(document)


def check_gmm(spec, n_rows: int | None, chunk_rows: int, workers: int, restarts: int = 1) -> None:
    """Refuse a GMM fit that cannot fit in memory, naming what sizes it and what to change."""
    check_restarts(restarts)
    needed = gmm_bytes(spec, n_rows or 0, chunk_rows, workers, restarts)
    rows = f"{n_rows:,} rows x " if n_rows else ""
    what = f"--k {spec.k} with --covariance {spec.covariance} on {rows}{spec.d:,} columns"
    # full: T(x), the statistics and every component's matrices grow with D^2; else with K
    quadratic = spec.covariance == "full" and spec.d * spec.d > 2 * spec.k
    hint = ("each component holds a D x D covariance: use --covariance diag, or fewer columns "
            "(vifit pca first)" if quadratic else "use a smaller --k (or a smaller --chunk-rows)")
    require_memory(needed, what, hint)


def parameter_count(layers: list[list[int]]) -> int:
    """Weights and biases of dense layers, each network given by its sizes [in, ..., out]."""
    return sum(a * b + b for sizes in layers for a, b in zip(sizes, sizes[1:]))


def parameters_bytes(layers: list[list[int]], itemsize: int) -> float:
    """Values, gradients, two Adam moments and the best copy; the float64 copy written out and
    its JSON numbers."""
    return float(parameter_count(layers)) * (5 * itemsize + FLOAT + JSON_NUMBER_BYTES)


def activations_bytes(rows: int, widths: int, itemsize: int) -> float:
    """Inputs, outputs and gradients of layers of ``widths`` units in total, for ``rows`` rows."""
    return 3.0 * float(rows) * float(widths) * itemsize


def check_network(layers: list[list[int]], itemsize: int, option: str) -> float:
    """Refuse a network whose parameters cannot fit; returns their bytes (the base of the
    activation checks). option: the option that sized it, e.g. "--hidden 100000,100000"."""
    needed = parameters_bytes(layers, itemsize)
    require_memory(needed, f"{option} ({parameter_count(layers):,} parameters)", "use smaller layers")
    return needed


def check_rows(base: float, rows: int, widths: int, itemsize: int, option: str, hint: str) -> None:
    """Refuse when ``rows`` rows through layers of ``widths`` units, on top of ``base`` bytes, cannot fit."""
    require_memory(base + activations_bytes(rows, widths, itemsize), option, hint)
