"""Schema of a gmm document's ``params``, for every covariance and weights kind.

Shapes: k components (bound by ``variational.counts``), d columns (bound by ``data.columns``).
Domains are those of the model: Normal-Wishart (or its diagonal/spherical Gamma form)
parameters positive, Wishart degrees of freedom above d - 1 (full) or 0, scale matrices
symmetric positive definite, Dirichlet and stick-breaking concentrations positive, the
summary's weights probabilities (non-negative, summing to 1).
"""

from __future__ import annotations

from vifit.documents.schema import Array, Check, Context, Num, Obj, Str, positive_definite, simplex, validate

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
