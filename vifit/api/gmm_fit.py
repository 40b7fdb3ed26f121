"""The GMM fit a CAVI run needs beyond the loop: options to prior (data-scaled defaults), the
CAVI problem of a table, and the FitResult of the loop's state (components sorted by weight).

Parameters in the result are in data units (after ``--standardize`` when given);
``params.frame`` records the working coordinates the computation ran in. The params' JSON
form (and its reading back) is :mod:`vifit.documents.gmm`'s.
"""

from __future__ import annotations

import numpy as np

from vifit import memory
from vifit.data import Table
from vifit.documents.gmm import frame_document, summarise, variances, variational_document
from vifit.errors import BadInput
from vifit.models import gmm, gmm_patterns
from vifit.models.gmm_model import GaussianMixture
from vifit.models.gmm_prior import build_prior, data_moments, default_scale_inv, default_tau, dependent_columns
from vifit.models.spread import observed_spread
from vifit.preprocess import check_spread, require_representable
from vifit.result import FitResult

MIN_ROWS = 2  # one row cannot show a mixture; it is bad input, not a fit
NW_OPTIONS = ("mean_precision_prior", "dof_prior", "covariance_prior")
KNOWN_OPTIONS = ("sigma", "tau")


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def parse_vector(value, d: int, name: str, positive: bool = False) -> np.ndarray | None:
    """A scalar or comma-separated list of d numbers (given as text or numbers) -> (d,) or None."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            numbers = [float(v) for v in value.split(",")]
        except ValueError:
            raise BadInput(f"{_option(name)} {value!r}: expected a number or {d} comma-separated numbers") from None
    else:
        numbers = list(np.atleast_1d(np.asarray(value, dtype=float)))
    if len(numbers) == 1:
        numbers = numbers * d
    if len(numbers) != d:
        raise BadInput(f"{_option(name)}: got {len(numbers)} numbers, the data has {d} columns")
    vector = np.asarray(numbers, dtype=np.float64)
    if not np.isfinite(vector).all() or (positive and not (vector > 0).all()):
        raise BadInput(f"{_option(name)}: every value must be {'positive and ' if positive else ''}finite")
    return vector


def singular_note(moments, columns: list[str] | None) -> str:
    """The one note for a singular data covariance: the columns of an exact linear dependence
    when there is one (and more rows than columns), else the possible causes."""
    involved, rank = dependent_columns(moments)
    d = moments.cov.shape[0]
    if involved and columns is not None and moments.n > d:
        names = ", ".join(repr(columns[j]) for j in involved)
        return (f"columns {names} are exactly linearly dependent (the data have rank {rank} in {d} columns); "
                f"the default --covariance-prior adds a small ridge along the dependence")
    return ("the data's covariance is singular (constant columns, duplicate rows or more columns than "
            "rows); the default --covariance-prior adds a small ridge")


def resolve_prior(spec: gmm.Spec, moments, options: dict, note, columns: list[str] | None = None
                  ) -> tuple[gmm.Prior, dict]:
    """The prior in data units from the options and data-scaled defaults; and its JSON form.

    columns: the data's column names, named in the note on exactly dependent columns. The given
    values' ranges, and which apply to the covariance, were checked with the options (vifit.parameters)."""
    from vifit import parameters

    d, cov = spec.d, spec.covariance
    given = {k: options.get(k) for k in NW_OPTIONS + KNOWN_OPTIONS}
    alpha0 = options.get("weight_concentration")
    alpha0 = 1.0 / spec.k if alpha0 is None else float(alpha0)
    mean = parse_vector(options.get("mean_prior"), d, "mean_prior")
    if mean is None:
        mean = np.zeros(d) if cov == "known" else moments.mean.copy()
    document = {"covariance": cov, "weights": spec.weights}
    if spec.weights != "uniform":
        document["weight_concentration"] = alpha0
    document["mean"] = mean
    if cov == "known":
        sigma = 1.0 if given["sigma"] is None else float(given["sigma"])
        tau = default_tau(moments, mean) if given["tau"] is None else float(given["tau"])
        if given["tau"] is None:  # from the data, so the table's range (tau > 0) is checked here too
            parameters.check_value(parameters.of("gmm")["tau"], tau)
        document.update(sigma=sigma, tau=tau)
        return build_prior(spec, weight_concentration=alpha0, mean=mean, sigma=sigma, tau=tau), document
    beta0 = 1.0 if given["mean_precision_prior"] is None else float(given["mean_precision_prior"])
    nu0 = float(d) if given["dof_prior"] is None else float(given["dof_prior"])
    floor = d - 1.0 if cov == "full" else 0.0
    if not (nu0 > floor and np.isfinite(nu0)):
        raise BadInput(f"--dof-prior must be greater than {floor:g} for --covariance {cov}, got {nu0}")
    if given["covariance_prior"] is None:
        scale_inv, ridged = default_scale_inv(spec, moments)
        if ridged:
            note(singular_note(moments, columns))
    else:
        if cov == "spherical" and "," in str(given["covariance_prior"]):
            raise BadInput("--covariance-prior takes one number for --covariance spherical")
        values = parse_vector(given["covariance_prior"], d, "covariance_prior", positive=True)
        scale_inv = {"full": np.diag(values), "diag": values}.get(cov, np.asarray(values[0]))
    document.update(mean_precision=beta0, dof=nu0, scale_inv=scale_inv)
    prior = build_prior(spec, weight_concentration=alpha0, mean=mean, mean_precision=beta0, dof=nu0,
                        scale_inv=scale_inv)
    return prior, document


def accumulated_moments(spec: gmm.Spec, accumulator, columns: list[str], source: str):
    """Moments of streamed or distributed rows (``gmm_moments.MomentAccumulator``), after the same
    range check as an in-memory fit (BadInput naming a column whose spread float64 cannot hold)."""
    check_spread(accumulator.spread(), columns, source, f"gmm --covariance {spec.covariance}",
                 per_column=spec.covariance in ("full", "diag"))
    return accumulator.moments(spec)


def check_observed(table: Table) -> None:
    """BadInput naming a column with no observed cell (nothing to fit it to) or a row with none."""
    seen = ~np.isnan(table.values)
    refuse_unobserved(table.source, table.columns, seen.sum(axis=0), int((~seen.any(axis=1)).sum()))


def refuse_unobserved(source: str, columns: list[str], observed, empty_rows: int = 0) -> None:
    """BadInput naming the first column with no observed cell (observed (d,): each column's count
    of observed cells, from a table, a stream's scan or merged partitions), else counting the rows
    with none (empty_rows): the one refusal of every fit that keeps missing cells."""
    never = np.flatnonzero(~(np.asarray(observed) > 0))
    if never.size:
        raise BadInput(f"{source}: column {columns[never[0]]!r} has no value in any row; drop it with --columns")
    if empty_rows:
        raise BadInput(f"{source}: {empty_rows} row(s) have no value in any column; drop them (or use --dropna)")


def check_k(ks: list[int], n_rows: int, init: str, spec: str | None = None) -> None:
    """BadInput when a K in ``ks`` exceeds the rows and ``init`` needs a row per component.

    spec: the --k text as given (a range or list), named in the message."""
    too_many = [k for k in ks if k > n_rows]
    if init not in ("screened", "kmeans++", "random") or not too_many:
        return
    if spec is None or len(ks) == 1:
        raise BadInput(f"--k {too_many[0]} is more than the {n_rows} rows; --init {init} needs a row per "
                       f"component (use --init random-resp, or a smaller --k)")
    listed = ", ".join(str(k) for k in too_many)
    raise BadInput(f"--k {spec}: K = {listed} {'is' if len(too_many) == 1 else 'are'} more than the {n_rows} "
                   f"rows; --init {init} needs a row per component (keep --k at most {n_rows}, "
                   f"or use --init random-resp)")


def prepare(table: Table, *, k: int, covariance: str = "full", weights: str = "dirichlet",
            chunk_rows: int | None = None, note=lambda message: None, threads: int | None = None,
            **prior_options):
    """The CAVI problem for a table (prior in the working frame) and the prior's JSON form;
    threads: its row threads (None: the usable cores)."""
    from vifit.inference import cavi

    spec = gmm.Spec(k, table.values.shape[1], covariance, weights)
    missing = bool(np.isnan(table.values).any())  # cells missing at random: models.gmm_missing
    model_name, per_column = f"gmm --covariance {covariance}", covariance in ("full", "diag")
    if missing:
        check_observed(table)
        spread = observed_spread(table.values)
        check_spread(spread, table.columns, table.source, model_name, per_column)
    else:
        spread = require_representable(table.values, table.columns, table.source, model_name, per_column=per_column)
    weights = table.weights
    moments = data_moments(spec, table.values, spread=spread, weights=weights)
    prior, prior_document = resolve_prior(spec, moments, prior_options, note, table.columns)
    frame = moments.frame
    values, order = table.values, None
    if missing:
        # rows sorted by their number of missing cells and pattern (complete rows first): a chunk then
        # holds few patterns of one batch (models.gmm_patterns), and the per-pattern work is done a few
        # times per pass, not per row (a sum of statistics does not depend on the order of the rows)
        order = gmm_patterns.row_order(np.isnan(values))
        values = values[order]
        weights = None if weights is None else weights[order]
    problem = cavi.Problem(GaussianMixture(spec, gmm.to_frame(prior, spec, frame), frame, missing), values,
                           weights=weights, chunk_rows=chunk_rows, workers=threads)
    problem.row_order = order  # the table's row of each of the problem's rows (None: the same)
    if missing:  # the bound is on the observed cells' density: their Jacobian, not N times a row's
        seen = ~np.isnan(values)
        problem.log_jacobian_total = problem.model.cells_log_jacobian(
            seen.sum(axis=0) if weights is None else weights @ seen)
    return problem, prior, prior_document


def fit(table: Table, *, seed: int, reporter, k: int, covariance: str = "full", weights: str = "dirichlet",
        init: str = "screened", moves: str = "split-merge", tol: float = 1e-6, max_iter: int = 500,
        restarts: int = 1, chunk_rows: int | None = None, resp0=None, policy=None, threads: int | None = None,
        **prior_options) -> FitResult:
    """Fit the Bayesian GMM to table.values (n, d) by CAVI; components sorted by weight; moves:
    split-merge (``inference.moves`` after convergence) or none.

    policy: the loop's (inference.policy.LoopPolicy; None: its defaults); threads: the row
    threads (None: vifit.threads.row_threads(), the user's thread count or the cores)."""
    from vifit.inference import cavi

    from vifit.inference.passes import auto_chunk_rows
    from vifit.threads import row_threads

    n, d = table.values.shape
    check_k([k], n, init)  # --tol's range is vifit.parameters' (checked with the options)
    spec = gmm.Spec(k, d, covariance, weights)
    threads = row_threads() if threads is None else threads
    memory.check_gmm(spec, n, auto_chunk_rows(spec) if chunk_rows is None else chunk_rows, threads, restarts)
    if chunk_rows is not None and chunk_rows > n:
        reporter.note(f"--chunk-rows {chunk_rows} is more than the {n} rows; using {n}")
    problem, prior, prior_document = prepare(table, k=k, covariance=covariance, weights=weights,
                                             chunk_rows=chunk_rows, note=reporter.note, threads=threads,
                                             **prior_options)
    if resp0 is not None and problem.row_order is not None:
        resp0 = np.asarray(resp0)[problem.row_order]
    try:
        result = cavi.fit(problem, seed=seed, init=init, restarts=restarts, tol=tol, max_iter=max_iter,
                          reporter=reporter, policy=policy or cavi.DEFAULT, resp0=resp0,
                          moves=moves != "none")
    finally:
        problem.rows.close()
    return cavi_result(problem, prior, prior_document, result, table.columns, init=init, restarts=restarts,
                       extra={"row_threads": problem.rows.workers, "chunk_rows": problem.chunk_rows})


def cavi_result(problem, prior: gmm.Prior, prior_document: dict, result, columns: list, *, init: str,
                restarts: int, extra: dict) -> FitResult:
    """The FitResult of a CAVI fit (cavi.CaviResult) of ``problem``; extra: backend-specific fit fields."""
    model = problem.model
    spec, frame, k, n = model.spec, model.frame, model.spec.k, problem.n_rows
    state = result.state
    q = gmm.from_frame(model.variational(state.lam), spec, frame)
    elbo = problem.data_units(state.elbo)
    summary = summarise(prior, q)
    extra = {
        "init": init,
        "restarts": restarts,
        "best_restart": result.best_restart,
        "restart_elbos": result.restart_elbos,
        "effective_components": int(np.sum(summary["weights"] > 1.0 / (2.0 * problem.total_weight))),
        **extra,
    }
    if result.moves is not None:
        extra["moves"] = result.moves
    if problem.weighted:  # N of the bound is the weight total, not the rows
        extra["weight_total"] = problem.total_weight
    params = {"prior": prior_document, "variational": variational_document(spec, q),
              "summary": summary, "frame": frame_document(frame)}
    header = ["component", "weight", "count"] + [f"mean_{c}" for c in columns] + [f"var_{c}" for c in columns]
    rows = [[j + 1, summary["weights"][j], summary["counts"][j], *summary["means"][j],
             *variances(summary, j)] for j in range(k)]
    return FitResult(model="gmm", method="cavi", params=params, status=result.status, elbo=elbo, n_rows=n,
                     n_iter=state.iteration, trace=state.trace, fit_extra=extra,
                     table={"columns": header, "rows": rows}, resolved=prior_document)
