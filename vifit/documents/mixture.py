"""A mixture model file's ``params`` (``models.product.ProductMixture.describe``): its check, and
what the file answers: ``predict`` (component, responsibilities, log density of the observed
cells; or, with ``impute``, the rows with each missing cell replaced by E[x_miss | x_obs]) and
``sample`` (draws from the posterior predictive)."""

from __future__ import annotations

import numpy as np

from vifit.data import Table
from vifit.documents.schema import Context
from vifit.errors import BadInput, quote
from vifit.output import field_of

# what a hand-edited description may break: missing or mistyped fields, shapes that do not
# agree, values outside their domain; each is one line naming the file
DESCRIPTION_ERRORS = (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError)


def validate_params(params, ctx: Context) -> dict:
    """The params of a mixture file, rebuilt into a model and q once to prove they are usable."""
    if not isinstance(params, dict) or params.get("kind") != "mixture":
        raise ctx.fail("must describe a mixture (kind 'mixture')")
    load_model(params, ctx.path, ctx)
    return params


def load_model(params: dict, path: str, ctx: Context | None = None):
    """(model, q) of a mixture description; BadInput naming the file when it is not a valid one."""
    from vifit.models.product import ProductMixture

    def fail(reason: str):
        return ctx.fail(reason) if ctx is not None else BadInput(f"{path}: params: {reason}")

    try:
        with np.errstate(all="ignore"):
            model, q = ProductMixture.from_description(params)
            theta = model.coefficients(q)
    except DESCRIPTION_ERRORS as exc:
        raise fail(f"not a valid mixture description ({quote(str(exc))})") from None
    if not (np.isfinite(q.lam).all() and (q.counts >= 0).all() and np.isfinite(theta).all()):
        raise fail("holds counts below 0 or parameters outside their domain (non-finite coefficients)")
    weights = model.expected_weights(q)
    if not (np.isfinite(weights).all() and abs(weights.sum() - 1.0) < 1e-6):
        raise fail("its mixing weights do not form a probability vector")
    return model, q


def read_options(document: dict, opts):
    """How ``predict`` reads DATA for this model: missing cells kept (unless --dropna), category
    columns coded with the fit's levels (a label it never saw is an error naming row and column)."""
    from dataclasses import replace

    columns = document["data"]["columns"]
    levels = {columns[family["columns"][0]]: list(family["levels"]) for family in document["params"]["families"]
              if family.get("family") == "categorical" and family.get("levels") is not None}
    return replace(opts, missing=not opts.dropna, levels=levels or None)


def labelled(document: dict, names: list[str], rows) -> list:
    """rows with each category column's codes written as their labels (after the finite checks,
    before the CSV is rendered): what ``sample`` and ``predict --impute`` write."""
    columns = document["data"]["columns"]
    levels = {columns[family["columns"][0]]: family["levels"] for family in document["params"]["families"]
              if family.get("family") == "categorical" and family.get("levels") is not None}
    where = {names.index(name): labels for name, labels in levels.items() if name in names}
    if not where:
        return rows
    out = [list(row) for row in rows]
    for row in out:
        for j, labels in where.items():
            code = row[j]
            if code == code:  # NaN stays an empty cell
                row[j] = labels[int(code)]
    return out


def _rows_of(document: dict, table: Table) -> np.ndarray:
    x = np.asarray(table.values, dtype=np.float64)
    n_columns = int(document["params"]["n_columns"])
    if x.shape[1] != n_columns:
        raise BadInput(f"{table.source}: {x.shape[1]} columns, but the model was fitted on {n_columns}")
    return x


def predict(document: dict, path: str, table: Table, reconstruct: bool = False, impute: bool = False):
    """Per row: component (1-based), resp_1..resp_k and log_density (the observed cells' log
    posterior-predictive density, nats of the data as given); with impute, the model's columns
    with missing cells filled (categorical: the most probable level's code)."""
    if reconstruct:
        raise BadInput("--reconstruct is not supported for mixture (use --impute to fill missing cells)")
    model, q = load_model(document["params"], path)
    x = _rows_of(document, table)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        if impute:
            return list(table.columns), model.impute(q, x)
        resp = model.predict_proba(q, x)
        log_density = model.log_density(q, x)
    labels = np.where(np.isfinite(resp).all(axis=1), np.argmax(resp, axis=1) + 1.0, np.nan)  # nan: written empty
    columns = ["component"] + [f"resp_{j + 1}" for j in range(model.k)] + ["log_density"]
    return columns, [[int(label) if label == label else label, *r, float(ld)]  # a component is written as an integer
                     for label, r, ld in zip(labels.tolist(), resp.tolist(), log_density.tolist())]


def responsibilities(document: dict, path: str, table: Table) -> np.ndarray:
    """(n, k) each row's responsibilities (predict's resp_*) as an array (the grid's ICL term)."""
    model, q = load_model(document["params"], path)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        return model.predict_proba(q, _rows_of(document, table))


def sample(document: dict, path: str, n: int, rng: np.random.Generator):
    """n rows from the posterior predictive with their 1-based component (categories as codes)."""
    model, q = load_model(document["params"], path)
    draws, labels = model.sample(q, n, rng)
    columns = list(field_of(document, path, "data", "columns"))
    return columns + ["component"], [[*row, int(label) + 1] for row, label in zip(draws.tolist(), labels.tolist())]


def component_log_densities(document: dict, path: str, x: np.ndarray) -> np.ndarray:
    """log(E[pi_k] p(x_obs,i | component k, data)): (n, k) for rows x (n, n_columns), data units
    (each family's posterior predictive: a gaussian column's components are Student t). Their
    logsumexp over k is ``predict``'s log_density."""
    model, q = load_model(document["params"], path)
    with np.errstate(divide="ignore"):
        return model.component_log_density(q, np.asarray(x, dtype=np.float64)) + np.log(model.expected_weights(q))
