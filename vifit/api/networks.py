"""What the two network estimators share: the training options (``vifit autoencoder`` and
``vifit vae``'s ``--epochs`` … ``--tol``) and their reading back from a document."""

from __future__ import annotations

TRAINING_OPTIONS = {"epochs": 100, "batch_size": 128, "lr": 1e-3, "optimizer": "adam", "momentum": 0.9,
                    "weight_decay": 0.0, "validation_fraction": 0.1, "patience": 30, "tol": 1e-4}


def sizes_text(value) -> str | None:
    """A --hidden/--decoder value as the CLI's text: "32,4", "none" for [], None kept."""
    if value is None or isinstance(value, str):
        return value
    sizes = list(value)
    return ",".join(str(int(s)) for s in sizes) if sizes else "none"


def training(estimator) -> dict:
    """The SGDConfig fields from an estimator's parameters."""
    return {name: getattr(estimator, name) for name in TRAINING_OPTIONS}
