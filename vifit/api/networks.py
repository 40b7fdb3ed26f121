"""What the two network estimators share: the training options (``vifit autoencoder`` and
``vifit vae``'s ``--epochs`` … ``--tol``) and their reading back from a document."""

from __future__ import annotations

TRAINING_OPTIONS = {"epochs": 100, "batch_size": 128, "lr": 1e-3, "optimizer": "adam", "momentum": 0.9,
                    "weight_decay": 0.0, "validation_fraction": 0.1, "patience": 30, "tol": 1e-4}


def with_sizes_text(params: dict, default_hidden: str) -> dict:
    """A document's network parameters with --hidden/--decoder as the CLI's text."""
    params["hidden"] = sizes_text(params.get("hidden", default_hidden))
    params["decoder"] = sizes_text(params.get("decoder"))
    return params


def sizes_text(value) -> str | None:
    """A --hidden/--decoder value as the CLI's text: "32,4", "none" for [], None kept."""
    if value is None or isinstance(value, str):
        return value
    sizes = list(value)
    return ",".join(str(int(s)) for s in sizes) if sizes else "none"


ACTIVATIONS = ("relu", "tanh", "sigmoid", "softplus", "identity")


def training(estimator) -> dict:
    """The SGDConfig fields from an estimator's parameters, with the ranges click checks."""
    from vifit.api.checks import check_choice, check_float, check_int

    check_int("epochs", estimator.epochs, 1)
    check_int("batch_size", estimator.batch_size, 1)
    check_int("patience", estimator.patience, 1)
    check_float("lr", estimator.lr, low=0, low_open=True)
    check_choice("optimizer", estimator.optimizer, ("adam", "sgd"))
    check_float("momentum", estimator.momentum, low=0, high=1, high_open=True)
    check_float("weight_decay", estimator.weight_decay, low=0)
    check_float("validation_fraction", estimator.validation_fraction, low=0, high=1, high_open=True)
    check_float("tol", estimator.tol, low=0)
    check_choice("activation", estimator.activation, ACTIVATIONS)
    return {name: getattr(estimator, name) for name in TRAINING_OPTIONS}
