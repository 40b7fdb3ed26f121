"""Schema of a pca document's ``params.summary``: k components of d columns."""

from __future__ import annotations

from vifit.documents.schema import Array, Bool, Check, Context, Num, Obj, sub_simplex, validate

SUMMARY = Obj({
    "mean": Array("d"),
    "components": Check(Array(("k", "d")), lambda value, ctx: _orthonormal_rows(value, ctx)),
    "explained_variance": Array("k", ge=0),
    "explained_variance_ratio": Check(Array("k", ge=0), sub_simplex),  # fractions of the total variance
    "noise_variance": Num(ge=0),
    "whiten": Bool(),
})


def _orthonormal_rows(value, ctx: Context) -> None:
    """Principal axes (k, d) are orthonormal rows. vifit writes them from an eigendecomposition
    in float64 (off by ~1e-15); 1e-6 also admits axes rounded to 7 significant figures."""
    import numpy as np

    if not np.allclose(value @ value.T, np.eye(value.shape[0]), atol=1e-6):
        raise ctx.fail("must hold orthonormal rows (unit-length principal axes at right angles)")


def validate_params(params, ctx: Context) -> dict:
    params = validate(Obj({"summary": SUMMARY}), params, ctx)
    summary = params["summary"]
    if summary["whiten"] and not (summary["explained_variance"] > 0).all():
        # whitened scores divide by sqrt(explained_variance)
        raise ctx.at("summary").at("explained_variance").fail("must be positive everywhere when whiten is true")
    return params
