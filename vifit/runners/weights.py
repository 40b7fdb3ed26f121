"""Reading a network's weights back from a model file (shared by autoencoder and vae)."""

from __future__ import annotations

from vifit.errors import BadInput
from vifit.output import array_of


def load_weights(net, document: dict, path: str):
    """Fill ``net.params`` from ``params.weights`` of the document; BadInput if malformed."""
    arrays = {name: array_of(document, path, "params", "weights", name) for name in net.params.names()}
    try:
        net.params.load(arrays)
    except ValueError as exc:
        raise BadInput(f"{path}: field 'params.weights' is malformed ({exc})") from None
    return net
