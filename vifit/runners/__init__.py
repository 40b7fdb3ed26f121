"""Glue between a model's mathematics and the vifit.fit/1 document.

Each ``vifit.runners.<model>`` module offers:

- ``fit(table, *, seed, reporter, **options) -> FitResult``
- ``predict(document, path, table) -> (columns, rows)``  rows: (n, len(columns)) array
- ``sample(document, path, n, rng, **options) -> (columns, rows)``
- ``MIN_ROWS`` or ``min_rows(**options)``: the fewest rows a fit needs
"""

from __future__ import annotations

import importlib

from vifit.errors import BadInput

MODELS = ("gmm", "pca", "autoencoder", "vae")


def runner_for(model: str, path: str = "model file"):
    """The runner module of a model named in a document."""
    if model not in MODELS:
        raise BadInput(f"{path}: unknown model {model!r}")
    try:
        return importlib.import_module(f"vifit.runners.{model}")
    except ModuleNotFoundError:
        raise BadInput(f"{path}: model {model!r} is not supported by this vifit") from None
