"""Schema of a pca document's ``params.summary``: k components of d columns."""

from __future__ import annotations

from vifit.documents.schema import Array, Bool, Context, Num, Obj, validate

SUMMARY = Obj({
    "mean": Array("d"),
    "components": Array(("k", "d")),
    "explained_variance": Array("k", ge=0),
    "explained_variance_ratio": Array("k", ge=0),
    "noise_variance": Num(ge=0),
    "whiten": Bool(),
})


def validate_params(params, ctx: Context) -> dict:
    params = validate(Obj({"summary": SUMMARY}), params, ctx)
    summary = params["summary"]
    if summary["whiten"] and not (summary["explained_variance"] > 0).all():
        # whitened scores divide by sqrt(explained_variance)
        raise ctx.at("summary").at("explained_variance").fail("must be positive everywhere when whiten is true")
    return params
