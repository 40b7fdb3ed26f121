"""vifit: fit variational models to tabular data, from the command line or from Python.

``vifit.GMM``, ``vifit.Mixture``, ``vifit.PCA``, ``vifit.Autoencoder``, ``vifit.VAE``, ``vifit.load`` and
``vifit.compare`` (see :mod:`vifit.api`) are imported on first use, so ``import vifit`` stays cheap."""

__version__ = "0.1.0"

__all__ = ["GMM", "Mixture", "PCA", "Autoencoder", "VAE", "load", "compare"]


def __getattr__(name: str):
    if name in __all__:
        import importlib

        from vifit.api import _NAMES  # the function load lives in the module vifit.api.load

        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'vifit' has no attribute {name!r}")
