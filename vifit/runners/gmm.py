"""GMM runner: options to prior, CAVI fit to FitResult; predict and sample from the document.

Parameters in the document are in data units (after ``--standardize`` when given);
``params.frame`` records the working coordinates the computation ran in.
"""

from __future__ import annotations

import numpy as np

from vifit.data import Table
from vifit.preprocess import apply_preprocessing, check_spread, require_representable, undo_preprocessing
from vifit.errors import BadInput
from vifit.models import gmm
from vifit.models import gmm_predictive as predictive
from vifit.models.gmm_prior import build_prior, data_moments, default_scale_inv, default_tau, dependent_columns
from vifit.output import array_of, field_of
from vifit.result import FitResult
from vifit.runners import memory

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

    columns: the data's column names, named in the note on exactly dependent columns."""
    d, cov = spec.d, spec.covariance
    given = {k: options.get(k) for k in NW_OPTIONS + KNOWN_OPTIONS}
    wrong = NW_OPTIONS if cov == "known" else KNOWN_OPTIONS
    for name in wrong:
        if given[name] is not None:
            raise BadInput(f"{_option(name)} does not apply to --covariance {cov}")
    alpha0 = options.get("weight_concentration")
    alpha0 = 1.0 / spec.k if alpha0 is None else float(alpha0)
    if not alpha0 > 0:
        raise BadInput(f"--weight-concentration must be positive, got {alpha0}")
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
        for name, value in (("sigma", sigma), ("tau", tau)):
            if not (value > 0 and np.isfinite(value)):
                raise BadInput(f"{_option(name)} must be positive, got {value}")
        document.update(sigma=sigma, tau=tau)
        return build_prior(spec, weight_concentration=alpha0, mean=mean, sigma=sigma, tau=tau), document
    beta0 = 1.0 if given["mean_precision_prior"] is None else float(given["mean_precision_prior"])
    if not (beta0 > 0 and np.isfinite(beta0)):
        raise BadInput(f"--mean-precision-prior must be positive, got {beta0}")
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


def check_k(ks: list[int], n_rows: int, init: str, spec: str | None = None) -> None:
    """BadInput when a K in ``ks`` exceeds the rows and ``init`` needs a row per component.

    spec: the --k text as given (a range or list), named in the message."""
    too_many = [k for k in ks if k > n_rows]
    if init not in ("kmeans++", "random") or not too_many:
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
    spread = require_representable(table.values, table.columns, table.source, f"gmm --covariance {covariance}",
                                   per_column=covariance in ("full", "diag"))
    moments = data_moments(spec, table.values, spread=spread)
    prior, prior_document = resolve_prior(spec, moments, prior_options, note, table.columns)
    frame = moments.frame
    problem = cavi.Problem(spec, gmm.to_frame(prior, spec, frame), frame, table.values, chunk_rows=chunk_rows,
                           workers=threads)
    return problem, prior, prior_document


def fit(table: Table, *, seed: int, reporter, k: int, covariance: str = "full", weights: str = "dirichlet",
        init: str = "kmeans++", tol: float = 1e-6, max_iter: int = 500, restarts: int = 1,
        chunk_rows: int | None = None, resp0=None, policy=None, threads: int | None = None,
        **prior_options) -> FitResult:
    """Fit the Bayesian GMM to table.values (n, d) by CAVI; components sorted by weight.

    policy: the loop's (inference.policy.LoopPolicy; None: its defaults); threads: the row
    threads (None: vifit.threads.row_threads(), the user's thread count or the cores)."""
    from vifit.inference import cavi

    from vifit.inference.passes import auto_chunk_rows
    from vifit.threads import row_threads

    n, d = table.values.shape
    check_k([k], n, init)
    if not tol >= 0:
        raise BadInput(f"--tol must be non-negative, got {tol}")
    spec = gmm.Spec(k, d, covariance, weights)
    threads = row_threads() if threads is None else threads
    memory.check_gmm(spec, n, auto_chunk_rows(spec) if chunk_rows is None else chunk_rows, threads, restarts)
    if chunk_rows is not None and chunk_rows > n:
        reporter.note(f"--chunk-rows {chunk_rows} is more than the {n} rows; using {n}")
    problem, prior, prior_document = prepare(table, k=k, covariance=covariance, weights=weights,
                                             chunk_rows=chunk_rows, note=reporter.note, threads=threads,
                                             **prior_options)
    try:
        result = cavi.fit(problem, seed=seed, init=init, restarts=restarts, tol=tol, max_iter=max_iter,
                          reporter=reporter, policy=policy or cavi.DEFAULT, resp0=resp0)
    finally:
        problem.rows.close()
    return cavi_result(problem, prior, prior_document, result, table.columns, init=init, restarts=restarts,
                       extra={"row_threads": problem.rows.workers, "chunk_rows": problem.chunk_rows})


def cavi_result(problem, prior: gmm.Prior, prior_document: dict, result, columns: list, *, init: str,
                restarts: int, extra: dict) -> FitResult:
    """The FitResult of a CAVI fit (cavi.CaviResult) of ``problem``; extra: backend-specific fit fields."""
    spec, frame, k, n = problem.spec, problem.frame, problem.spec.k, problem.n_rows
    state = result.state
    q = gmm.from_frame(gmm.variational(problem.prior, state.lam), spec, frame)
    elbo = problem.data_units(state.elbo)
    summary = summarise(prior, q)
    extra = {
        "init": init,
        "restarts": restarts,
        "best_restart": result.best_restart,
        "restart_elbos": result.restart_elbos,
        "effective_components": int(np.sum(summary["weights"] > 1.0 / (2.0 * n))),
        **extra,
    }
    params = {"prior": prior_document, "variational": variational_document(spec, q),
              "summary": summary, "frame": frame_document(frame)}
    header = ["component", "weight", "count"] + [f"mean_{c}" for c in columns] + [f"var_{c}" for c in columns]
    rows = [[j + 1, summary["weights"][j], summary["counts"][j], *summary["means"][j],
             *variances(summary, j)] for j in range(k)]
    return FitResult(model="gmm", method="cavi", params=params, status=result.status, elbo=elbo, n_rows=n,
                     n_iter=state.iteration, trace=state.trace, fit_extra=extra,
                     table={"columns": header, "rows": rows})


def frame_document(frame: gmm.Frame) -> dict:
    """params.frame: shift and scale, and the rotation when the fit used one."""
    document = {"shift": frame.shift, "scale": frame.scale}
    if frame.rotation is not None:
        document["rotation"] = frame.rotation
    return document


def summarise(prior: gmm.Prior, q: gmm.Variational) -> dict:
    """Posterior means: weights E[pi], means E[mu], counts N_k, and covariances E[Lambda]^-1:
    (k, d, d) for full; the per-feature variances (k, d) otherwise, whose matrices are diagonal
    (writing k d x d matrices of zeros made a diag fit of 5,000 columns take minutes and GBs)."""
    spec, d = prior.spec, prior.spec.d
    e_lambda, _, _ = gmm.expected_precision(prior, q)
    if spec.covariance == "full":
        covariances = np.linalg.inv(e_lambda)
        covariances = 0.5 * (covariances + covariances.transpose(0, 2, 1))
    elif spec.covariance == "diag":
        covariances = 1.0 / e_lambda
    else:
        covariances = np.repeat((1.0 / e_lambda)[:, None], d, axis=1)
    return {"covariance": spec.covariance, "weights": gmm.expected_weights(prior, q), "means": q.means,
            "covariances": covariances, "counts": q.counts}


def variances(summary: dict, j: int) -> np.ndarray:
    """Component j's per-feature variances (d,) from a summary."""
    covariance = np.asarray(summary["covariances"][j])
    return np.diag(covariance) if covariance.ndim == 2 else covariance


def variational_document(spec: gmm.Spec, q: gmm.Variational) -> dict:
    out = {"counts": q.counts}
    if q.weight_concentration is not None:
        out["weight_concentration"] = q.weight_concentration
    out["means"] = q.means
    out["mean_precision"] = q.mean_precision
    if spec.covariance != "known":
        out["dof"] = q.dof
        out["scale_inv"] = q.scale_inv
    return out


# ---------------------------------------------------------------- reading a model file


def load_model(document: dict, path: str) -> tuple[gmm.Prior, gmm.Variational]:
    """Prior and q (data units, after any --standardize) from a gmm document."""
    cov = field_of(document, path, "params", "prior", "covariance")
    weights = field_of(document, path, "params", "prior", "weights")
    if cov not in gmm.COVARIANCES or weights not in gmm.WEIGHTS:
        raise BadInput(f"{path}: params.prior has an unknown covariance or weights kind")
    means = array_of(document, path, "params", "variational", "means", ndim=2)
    k, d = means.shape
    spec = gmm.Spec(k, d, cov, weights)
    prior_mean = array_of(document, path, "params", "prior", "mean", ndim=1)
    alpha0 = 1.0
    if weights != "uniform":
        alpha0 = float(array_of(document, path, "params", "prior", "weight_concentration", ndim=0))
    if cov == "known":
        sigma = float(array_of(document, path, "params", "prior", "sigma", ndim=0))
        tau = float(array_of(document, path, "params", "prior", "tau", ndim=0))
        prior = build_prior(spec, weight_concentration=alpha0, mean=prior_mean, sigma=sigma, tau=tau)
    else:
        prior = build_prior(spec, weight_concentration=alpha0, mean=prior_mean,
                            mean_precision=float(array_of(document, path, "params", "prior", "mean_precision", ndim=0)),
                            dof=float(array_of(document, path, "params", "prior", "dof", ndim=0)),
                            scale_inv=array_of(document, path, "params", "prior", "scale_inv"))
    beta = array_of(document, path, "params", "variational", "mean_precision", ndim=1)
    counts = array_of(document, path, "params", "variational", "counts", ndim=1)
    alpha = None
    if weights != "uniform":
        alpha = array_of(document, path, "params", "variational", "weight_concentration",
                         ndim=2 if weights == "dp" else 1)
    dof, scale_inv = np.zeros(k), None
    if cov != "known":
        dof = array_of(document, path, "params", "variational", "dof", ndim=1)
        scale_inv = array_of(document, path, "params", "variational", "scale_inv",
                             ndim={"full": 3, "diag": 2, "spherical": 1}[cov])
    q = gmm.Variational(counts=counts, weight_concentration=alpha, mean_precision=beta, means=means,
                        dof=dof, scale_inv=scale_inv)
    shapes_ok = (prior_mean.shape == (d,) and beta.shape == (k,) and counts.shape == (k,)
                 and (alpha is None or alpha.shape[0] == k) and dof.shape == (k,)
                 and (scale_inv is None or scale_inv.shape[0] == k))
    if not shapes_ok:
        raise BadInput(f"{path}: gmm parameters have inconsistent shapes")
    return prior, q


def _frame(document: dict, path: str, d: int) -> gmm.Frame:
    frame = document["params"].get("frame")
    if not frame:
        return gmm.Frame.identity(d)
    shift = array_of(document, path, "params", "frame", "shift", ndim=1)
    scale = array_of(document, path, "params", "frame", "scale", ndim=1)
    if shift.shape != (d,) or scale.shape != (d,) or not (scale > 0).all():
        raise BadInput(f"{path}: params.frame is malformed")
    rotation = None
    if frame.get("rotation") is not None:
        rotation = array_of(document, path, "params", "frame", "rotation", ndim=2)
        if (rotation.shape != (d, d) or document["params"]["prior"].get("covariance") != "full"
                or not np.allclose(rotation.T @ rotation, np.eye(d), atol=1e-9)):
            raise BadInput(f"{path}: params.frame.rotation is not an orthogonal {d} x {d} matrix of a full-covariance fit")
    return gmm.Frame(shift, scale, rotation)


def predict(document: dict, path: str, table: Table, reconstruct: bool = False):
    """Per row: label (1-based component), resp_1..resp_k, log_density (posterior predictive,
    in the units of the data as given, so a --standardize of the fit is accounted for)."""
    if reconstruct:
        raise BadInput("--reconstruct is not supported for gmm")
    prior, q = load_model(document, path)
    spec = prior.spec
    preprocessing = document["data"].get("preprocessing", {})
    x = apply_preprocessing(np.asarray(table.values, dtype=np.float64), preprocessing)
    frame = _frame(document, path, spec.d)
    prior_f, q_f = gmm.to_frame(prior, spec, frame), gmm.to_frame(q, spec, frame)
    theta = gmm.log_resp_coefficients(prior_f, q_f)
    chunk = 4096
    ws = gmm.Workspace(spec, min(chunk, max(1, x.shape[0])))
    resp = np.vstack([gmm.responsibilities(spec, theta, x[s:s + chunk], frame, ws)[0]
                      for s in range(0, x.shape[0], chunk)])
    log_density = predictive.log_density(prior, q, x)
    spec_std = (preprocessing or {}).get("standardize")
    if spec_std:
        log_density = log_density - float(np.sum(np.log(np.asarray(spec_std["scale"]))))
    labels = np.where(np.isfinite(resp).all(axis=1), np.argmax(resp, axis=1) + 1.0, np.nan)  # nan: written empty
    columns = ["label"] + [f"resp_{j + 1}" for j in range(spec.k)] + ["log_density"]
    return columns, _rows(labels, resp, log_density)


def _rows(labels, resp, log_density):
    return [[int(label) if label == label else float(label), *r, float(ld)]
            for label, r, ld in zip(labels.tolist(), resp.tolist(), log_density.tolist())]


def sample(document: dict, path: str, n: int, rng: np.random.Generator):
    """n rows from the posterior predictive (data units) with their 1-based component."""
    prior, q = load_model(document, path)
    draws, labels = predictive.sample(prior, q, n, rng)
    draws = undo_preprocessing(draws, document["data"].get("preprocessing", {}))
    columns = list(field_of(document, path, "data", "columns"))
    return columns + ["component"], [[*row, int(label) + 1] for row, label in zip(draws.tolist(), labels)]
