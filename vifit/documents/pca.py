"""A pca model file's ``params.summary`` (k components of d columns): its schema, and what the
file answers: ``predict`` (coordinates, PPCA log-likelihood, or reconstructions) and ``sample``
(draws from the PPCA model)."""

from __future__ import annotations

import numpy as np

from vifit.data import Table
from vifit.documents.schema import Array, Bool, Check, Context, Num, Obj, sub_simplex, validate
from vifit.errors import BadInput
from vifit.models import pca as model
from vifit.output import array_of, field_of
from vifit.preprocess import apply_preprocessing, undo_preprocessing

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


# ---------------------------------------------------------------- reading a model file


def _parameters(document: dict, path: str):
    mean = array_of(document, path, "params", "summary", "mean", ndim=1)
    components = array_of(document, path, "params", "summary", "components", ndim=2)
    explained = array_of(document, path, "params", "summary", "explained_variance", ndim=1)
    noise = float(array_of(document, path, "params", "summary", "noise_variance", ndim=0))
    whiten = bool(field_of(document, path, "params", "summary", "whiten"))
    if components.shape != (explained.shape[0], mean.shape[0]):
        raise BadInput(f"{path}: components, mean and explained_variance have inconsistent shapes")
    return mean, components, explained, noise, whiten


def predict(document: dict, path: str, table: Table, reconstruct: bool = False):
    """Columns pc1..pck (whitened if the fit was) and loglik per row (empty if undefined);
    with reconstruct, the projections back onto the data space in the data's units."""
    mean, components, explained, noise, whiten = _parameters(document, path)
    x = apply_preprocessing(table.values, document["data"].get("preprocessing", {}))
    scores = model.transform(x, mean, components, explained, whiten)
    columns = [f"pc{j + 1}" for j in range(components.shape[0])]
    if noise > 0:
        loglik = model.log_likelihood(x, mean, components, explained, noise)
    else:
        loglik = np.full(x.shape[0], np.nan)
    if reconstruct:
        centred = model.transform(x, mean, components, explained, whiten=False)
        rebuilt = undo_preprocessing(mean + centred @ components, document["data"].get("preprocessing", {}))
        return list(table.columns), rebuilt
    return columns + ["loglik"], np.column_stack([scores, loglik])


def sample(document: dict, path: str, n: int, rng: np.random.Generator):
    """n rows from the PPCA model, in the units of the original data."""
    mean, components, explained, noise, _ = _parameters(document, path)
    draws = model.sample(rng, n, mean, components, explained, noise)
    draws = undo_preprocessing(draws, document["data"].get("preprocessing", {}))
    return list(field_of(document, path, "data", "columns")), draws
