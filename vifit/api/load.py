"""``vifit.load(path)``: any ``vifit.fit/1`` document back into its fitted estimator."""

from __future__ import annotations

ESTIMATORS = {"gmm": ("vifit.api.gmm", "GMM"), "mixture": ("vifit.api.mixture", "Mixture"), "pca": ("vifit.api.pca", "PCA"),
              "autoencoder": ("vifit.api.autoencoder", "Autoencoder"), "vae": ("vifit.api.vae", "VAE")}


class NotFittedError(ValueError, AttributeError):
    """A per-row method called before fit (the bases scikit-learn's own NotFittedError has)."""


def load(path: str):
    """The fitted estimator of the model file at ``path`` (validated by vifit.output.read_document;
    BadInput, a ValueError, naming the file and the problem otherwise)."""
    import importlib

    from vifit.output import read_document

    from vifit.documents.parse import parse, read_bytes
    from vifit.output import render_json

    document = read_document(path)
    module, name = ESTIMATORS[document["model"]]
    estimator = getattr(importlib.import_module(module), name)._from_document(document, path)
    # save() writes the file's own values: validation turns some (a trace's iterations) into floats
    estimator._text = render_json(parse(read_bytes(path, "model file"), path, "vifit model file"))
    return estimator
