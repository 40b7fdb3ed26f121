"""Schema of a vae document's ``params``: encoder [d, ...] with a (2 latent) head, decoder
[latent, ..., d], and ``decoder.logvar`` (d,) when the Gaussian variance was learned."""

from __future__ import annotations

from vifit.documents.networks import ACTIVATION, MAX_UNITS, Sizes, check_chain, mlp_shapes, validate_weights
from vifit.documents.schema import Context, Nullable, Num, Obj, Str, validate

ARCHITECTURE = Obj({"encoder": Sizes(min_len=1),  # [d] alone: no hidden layer
                    "latent": Num(ge=1, integer=True), "decoder": Sizes(),
                    "activation": ACTIVATION, "likelihood": Str(choices=("gaussian", "bernoulli")),
                    "fixed_variance": Nullable(Num(gt=0))})


def _encoder_sizes(arch: dict) -> list:
    return list(arch["encoder"]) + [2 * arch["latent"]]


def validate_params(params, ctx: Context) -> dict:
    params = validate(Obj({"architecture": ARCHITECTURE, "weights": Obj({})}), params, ctx)
    arch = params["architecture"]
    where = ctx.at("architecture")
    if arch["latent"] > MAX_UNITS:
        raise where.at("latent").fail(f"is {arch['latent']:,}; at most {MAX_UNITS:,} are allowed")
    check_chain(arch, where, ("encoder", 0), ("decoder", -1), (("latent", None), ("decoder", 0)))
    shapes = {**mlp_shapes("encoder", _encoder_sizes(arch)), **mlp_shapes("decoder", arch["decoder"])}
    if arch["likelihood"] == "gaussian" and arch["fixed_variance"] is None:
        shapes["decoder.logvar"] = (ctx.dims["d"][0],)
    params["weights"] = validate_weights(params["weights"], shapes, ctx.at("weights"))
    return params


def check_resources(document: dict, path: str) -> None:
    """predict draws config.iwae_samples latent vectors per row and decodes each: refuse a count
    whose draws for a single row would not fit in memory."""
    from vifit.resources import require_memory

    arch = document["params"]["architecture"]
    draws = document["config"].get("iwae_samples") or 1
    floats_per_draw = 4 * arch["latent"] + sum(arch["encoder"]) + sum(arch["decoder"])
    require_memory(8.0 * draws * floats_per_draw, f"{path}: config.iwae_samples {draws:,}",
                   "the model file asks for more importance samples than predict can draw")
