"""A gmm model file's ``params``: the schema, for every covariance and weights kind; the JSON
form a fit writes (summary, variational factors, frame); and what the file answers per row
(``predict``: component, responsibilities, log predictive density) and ``sample``.

Shapes: k components (bound by ``variational.counts``), d columns (bound by ``data.columns``).
Domains are those of the model: Normal-Wishart (or its diagonal/spherical Gamma form)
parameters positive, Wishart degrees of freedom above d - 1 (full) or 0, scale matrices
symmetric positive definite, Dirichlet and stick-breaking concentrations positive, the
summary's weights probabilities (non-negative, summing to 1). Parameters in the file are in
data units (after ``--standardize`` when given); ``params.frame`` records the working
coordinates the computation ran in.
"""

from __future__ import annotations

import numpy as np

from vifit.data import Table
from vifit.documents.schema import Array, Check, Context, Num, Obj, Str, positive_definite, simplex, validate
from vifit.errors import BadInput
from vifit.models import gmm, gmm_missing
from vifit.models import gmm_predictive as predictive
from vifit.models.gmm_prior import build_prior
from vifit.output import array_of, field_of
from vifit.preprocess import apply_preprocessing, undo_preprocessing

COVARIANCES = ("full", "diag", "spherical", "known")
WEIGHTS = ("uniform", "dirichlet", "dp")
KINDS = Obj({"covariance": Str(choices=COVARIANCES), "weights": Str(choices=WEIGHTS)})


def _dof_floor(covariance: str):
    """dof > d - 1 for a Wishart (full), > 0 for the Gamma forms."""
    def rule(value, ctx: Context) -> None:
        floor = ctx.dims["d"][0] - 1 if covariance == "full" else 0
        low = float(value.min()) if hasattr(value, "min") else float(value)
        if not low > floor:
            raise ctx.fail(f"(degrees of freedom) must be greater than {floor} for {covariance} covariances "
                           f"with d = {ctx.dims['d'][0]}, got {low:g}")
    return rule


def _scale_inv(covariance: str, stacked: bool) -> Check | Array:
    lead = ("k",) if stacked else ()
    if covariance == "full":
        return Check(Array(lead + ("d", "d")), positive_definite)
    return Array(lead + ("d",) if covariance == "diag" else lead, gt=0)


def params_schema(covariance: str, weights: str) -> Obj:
    prior = {"covariance": Str(choices=COVARIANCES), "weights": Str(choices=WEIGHTS), "mean": Array("d")}
    variational = {"counts": Array("k", ge=0), "means": Array(("k", "d")), "mean_precision": Array("k", gt=0)}
    if weights != "uniform":
        prior["weight_concentration"] = Num(gt=0)
        variational["weight_concentration"] = Array(("k", 2) if weights == "dp" else "k", gt=0)
    if covariance == "known":
        prior.update(sigma=Num(gt=0), tau=Num(gt=0))
    else:
        prior.update(mean_precision=Num(gt=0), dof=Check(Num(), _dof_floor(covariance)),
                     scale_inv=_scale_inv(covariance, stacked=False))
        variational.update(dof=Check(Array("k"), _dof_floor(covariance)),
                           scale_inv=_scale_inv(covariance, stacked=True))
    return Obj({
        # counts first: it binds k for everything after it
        "variational": Obj(variational),
        "prior": Obj(prior),
        "summary": Obj({"weights": Check(Array("k", ge=0), simplex), "means": Array(("k", "d")),
                        "counts": Array("k", ge=0),  # expected rows per component
                        # full: D x D matrices; the diagonal kinds: K x D per-feature variances
                        "covariances": (Check(Array(("k", "d", "d")), positive_definite) if covariance == "full"
                                        else Array(("k", "d"), gt=0))}),
        "frame": Obj({"shift": Array("d"), "scale": Array("d", gt=0),
                      **({"rotation": Check(Array(("d", "d")), _orthogonal, optional=True)}
                         if covariance == "full" else {})}, optional=True),
    })


def _orthogonal(value, ctx: Context) -> None:
    """params.frame.rotation (d, d): the eigenbasis a singular full fit ran in, RᵀR = I."""
    import numpy as np

    if not np.allclose(value.T @ value, np.eye(value.shape[0]), atol=1e-9):
        raise ctx.fail("must be an orthogonal matrix (the eigenbasis the fit ran in)")


def validate_params(params, ctx: Context) -> dict:
    kinds = validate(Obj({"prior": KINDS}), params, ctx)["prior"]
    return validate(params_schema(kinds["covariance"], kinds["weights"]), params, ctx)


# ---------------------------------------------------------------- the params a fit writes


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


def read_options(document: dict, opts):
    """How ``predict`` reads DATA for a gmm: missing cells kept (unless --dropna), scored from the
    observed cells."""
    from dataclasses import replace

    return replace(opts, missing=not opts.dropna)


def predict(document: dict, path: str, table: Table, reconstruct: bool = False, impute: bool = False):
    """Per row: label (1-based component), resp_1..resp_k, log_density (posterior predictive,
    in the units of the data as given, so a --standardize of the fit is accounted for). A row
    with missing cells gets the responsibilities of the fit's local step for such rows
    (models.gmm_missing) and the density of its observed cells; with impute, the rows with each
    missing cell replaced by E[x_miss | x_obs] under the posterior predictive."""
    if reconstruct:
        raise BadInput("--reconstruct is not supported for gmm (use --impute to fill missing cells)")
    prior, q = load_model(document, path)
    spec = prior.spec
    preprocessing = document["data"].get("preprocessing", {})
    x = apply_preprocessing(np.asarray(table.values, dtype=np.float64), preprocessing)
    if impute:
        return list(table.columns), undo_preprocessing(_imputed(prior, q, x), preprocessing)
    resp = _responsibilities(document, path, prior, q, x)
    log_density = predictive.log_density(prior, q, x)
    spec_std = (preprocessing or {}).get("standardize")
    if spec_std:  # the Jacobian of each observed cell
        log_density = log_density - (~np.isnan(x)) @ np.log(np.asarray(spec_std["scale"], dtype=np.float64))
    labels = np.where(np.isfinite(resp).all(axis=1), np.argmax(resp, axis=1) + 1.0, np.nan)  # nan: written empty
    columns = ["label"] + [f"resp_{j + 1}" for j in range(spec.k)] + ["log_density"]
    return columns, _rows(labels, resp, log_density)


def responsibilities(document: dict, path: str, table: Table) -> np.ndarray:
    """(n, k) each row's responsibilities under the file's q (what predict writes as resp_*),
    as an array: the selection grid's ICL term reads them for every fitted row."""
    prior, q = load_model(document, path)
    x = apply_preprocessing(np.asarray(table.values, dtype=np.float64), document["data"].get("preprocessing", {}))
    return _responsibilities(document, path, prior, q, x)


def _responsibilities(document: dict, path: str, prior, q, x: np.ndarray) -> np.ndarray:
    """(n, k) of rows x (n, d), already preprocessed: the fit's local step in its frame."""
    spec = prior.spec
    frame = _frame(document, path, spec.d)
    prior_f, q_f = gmm.to_frame(prior, spec, frame), gmm.to_frame(q, spec, frame)
    theta = gmm.log_resp_coefficients(prior_f, q_f)
    holes = np.isnan(x).any(axis=1)
    complete = x if not holes.any() else np.where(np.isnan(x), frame.shift, x)
    chunk = 4096
    ws = gmm.Workspace(spec, min(chunk, max(1, x.shape[0])))
    resp = np.vstack([gmm.responsibilities(spec, theta, complete[s:s + chunk], frame, ws)[0]
                      for s in range(0, x.shape[0], chunk)])
    if holes.any():
        if frame.rotation is not None:
            raise BadInput(f"{path}: a fit in a rotated frame (collinear columns) cannot score rows with missing "
                           f"cells; use --dropna")
        z = (x[holes] - frame.shift) / frame.scale
        resp[holes] = gmm_missing.responsibilities(spec, theta, z)
    return resp


def component_log_densities(document: dict, path: str, x: np.ndarray) -> np.ndarray:
    """log(E[pi_k] p(x_i | component k, data)): (n, k) for rows x (n, d) in the units of the data
    as given (the posterior predictive's components: Student t, or Gaussian for a known
    covariance; a --standardize of the fit accounted for). Their logsumexp over k is
    ``predict``'s log_density."""
    prior, q = load_model(document, path)
    preprocessing = document["data"].get("preprocessing", {})
    x = np.asarray(x, dtype=np.float64)
    out = (predictive.component_log_density(prior, q, apply_preprocessing(x, preprocessing))
           + np.log(gmm.expected_weights(prior, q)))
    spec_std = (preprocessing or {}).get("standardize")
    if spec_std:  # the Jacobian of each observed cell, as in predict
        out -= ((~np.isnan(x)) @ np.log(np.asarray(spec_std["scale"], dtype=np.float64)))[:, None]
    return out


def _imputed(prior, q, x: np.ndarray) -> np.ndarray:
    """x with each missing cell <- sum_k p(k | x_obs) E[x_miss | x_obs, k] (posterior predictive)."""
    if not np.isnan(x).any():
        return x
    joint = predictive.component_log_density(prior, q, x) + np.log(gmm.expected_weights(prior, q))
    post = np.exp(joint - joint.max(axis=1, keepdims=True))
    post /= post.sum(axis=1, keepdims=True)
    return np.where(np.isnan(x), np.einsum("nk,knd->nd", post, predictive.conditional_means(prior, q, x)), x)


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
