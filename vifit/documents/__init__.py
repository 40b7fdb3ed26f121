"""Documents read from files, validated completely before anything uses them; and per model
kind (one module each: gmm, pca, autoencoder, vae) the file's params: their schema, the JSON
form a fit writes, and what a model file answers (``predict``, ``sample``), which ``vifit
predict``, ``sample``, ``plot``, the API's estimators and the Dask tasks all call.

:func:`read_model` is the one reader of ``vifit.fit/1`` model files for ``predict``,
``sample``, ``plot`` and the distributed predict: bounded parse (:mod:`.parse`), the
envelope and data block (:mod:`.common`), then the schema of the model's kind (one module
each). What it returns has every numeric parameter as a float64 array of checked shape,
finite, inside its domain, so the code using it never meets a value it cannot compute with.
"""

from __future__ import annotations

import importlib

from vifit.documents import common
from vifit.documents.parse import parse, read_bytes
from vifit.documents.schema import Context, Int, Obj, Str, validate
from vifit.errors import BadInput, quote

SCHEMA = "vifit.fit/1"
MODELS = ("gmm", "mixture", "pca", "autoencoder", "vae")
ENVELOPE = Obj({"config": Obj({"seed": Int(ge=0, optional=True), "iwae_samples": Int(ge=1, optional=True)}),
                "data": common.DATA, "params": Obj({}), "fit": common.FIT})


def read_model(path: str, models: tuple[str, ...] | None = None) -> dict:
    """The validated document of model file ``path``; BadInput naming the field otherwise."""
    document = parse(read_bytes(path, "model file"), path, "vifit model file", "; write one with -o model.json")
    return validate_model(document, path, models)


def validate_model(document, path: str, models: tuple[str, ...] | None = None) -> dict:
    """Check a parsed document against the schema of its model kind (see :func:`read_model`)."""
    if not isinstance(document, dict) or "schema" not in document:
        raise BadInput(f"{path}: not a vifit model file (no 'schema' field)")
    if document["schema"] != SCHEMA:
        raise BadInput(f"{path}: schema {quote(document['schema'])} is not supported (this vifit reads {SCHEMA})")
    for key in ("model", "config", "data", "params", "fit"):
        if key not in document:
            raise BadInput(f"{path}: model file lacks the {key!r} field")
    model = document["model"]
    if not isinstance(model, str) or model not in MODELS:
        raise BadInput(f"{path}: unknown model {quote(model)}")
    if models is not None and model not in models:
        raise BadInput(f"{path}: model {model!r} is not supported here (expected {', '.join(models)})")
    ctx = Context(path)
    document = validate(ENVELOPE, document, ctx)
    common.check_n_features(document, ctx)
    kind = importlib.import_module(f"vifit.documents.{model}")
    document["params"] = kind.validate_params(document["params"], ctx.at("params"))
    if hasattr(kind, "check_resources"):
        kind.check_resources(document, path)
    return document


def model_kind(model: str, path: str = "model file"):
    """The module of a model kind named in a document: ``predict(document, path, table,
    reconstruct=False) -> (columns, rows)`` and ``sample(document, path, n, rng) -> (columns, rows)``."""
    if model not in MODELS:
        raise BadInput(f"{path}: unknown model {quote(model)}")
    return importlib.import_module(f"vifit.documents.{model}")
