"""Schema of an autoencoder document's ``params``: encoder [d, ..., k], decoder [k, ..., d]."""

from __future__ import annotations

from vifit.documents.networks import ACTIVATION, Sizes, check_chain, mlp_shapes, validate_weights
from vifit.documents.schema import Context, Obj, Str, validate

ARCHITECTURE = Obj({"encoder": Sizes(), "decoder": Sizes(), "activation": ACTIVATION,
                    "output_activation": ACTIVATION, "loss": Str(choices=("mse", "bce"))})


def validate_params(params, ctx: Context) -> dict:
    params = validate(Obj({"architecture": ARCHITECTURE, "weights": Obj({})}), params, ctx)
    arch = params["architecture"]
    check_chain(arch, ctx.at("architecture"), ("encoder", 0), ("decoder", -1), (("encoder", -1), ("decoder", 0)))
    shapes = {**mlp_shapes("encoder", arch["encoder"]), **mlp_shapes("decoder", arch["decoder"])}
    params["weights"] = validate_weights(params["weights"], shapes, ctx.at("weights"))
    return params
