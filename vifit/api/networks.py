"""What the two network estimators share: their options checked (vifit.parameters' entries of
the model, the training options ``--epochs`` … ``--tol`` among them), and the layer sizes read
back from a document as the CLI's text."""

from __future__ import annotations

from vifit import parameters


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


def checked(estimator, names: tuple) -> tuple[dict, dict]:
    """(the options ``names``, the SGDConfig fields) of a network estimator, checked against
    the table of its model (BadInput naming the option)."""
    options = {name: getattr(estimator, name) for name in names}
    train = {name: getattr(estimator, name) for name in parameters.TRAINING}
    parameters.check(estimator._model, {**options, **train})
    return options, train
