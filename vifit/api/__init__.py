"""The estimators (scikit-learn's conventions, without scikit-learn): ``GMM``, ``Mixture``, ``PCA``,
``Autoencoder``, ``VAE`` (one module each, on ``base.Estimator``), ``load`` (the function of
the module ``vifit.api.load``; use ``vifit.load``) and ``compare`` (of ``vifit.api.compare``; use
``vifit.compare``). Imported lazily: ``import vifit.api`` loads no
numpy."""

from __future__ import annotations

import importlib

_NAMES = {"GMM": "vifit.api.gmm", "Mixture": "vifit.api.mixture", "PCA": "vifit.api.pca", "Autoencoder": "vifit.api.autoencoder",
          "VAE": "vifit.api.vae", "load": "vifit.api.load", "compare": "vifit.api.compare"}

__all__ = list(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'vifit.api' has no attribute {name!r}")
