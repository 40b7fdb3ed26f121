"""A vae model file's ``params`` (encoder [d, ...] with a (2 latent) head, decoder [latent, ..., d],
and ``decoder.logvar`` (d,) when the Gaussian variance was learned): its schema, the network
rebuilt from it, ``predict`` (latent means and sds, per-row ELBO and IWAE, or reconstructions)
and ``sample`` (decoded prior draws)."""

from __future__ import annotations

import numpy as np

from vifit.data import Table
from vifit.documents.networks import (ACTIVATION, MAX_UNITS, Sizes, check_chain, load_weights, mlp_shapes,
                                     validate_weights)
from vifit.documents.schema import Context, Nullable, Num, Obj, Str, validate
from vifit.errors import BadInput
from vifit.models import vae as model
from vifit.output import field_of
from vifit.preprocess import apply_preprocessing, undo_preprocessing


ARCHITECTURE = Obj({"encoder": Sizes(min_len=1),  # [d] alone: no hidden layer
                    "latent": Num(ge=1, integer=True), "decoder": Sizes(),
                    "activation": ACTIVATION, "likelihood": Str(choices=("gaussian", "bernoulli")),
                    "fixed_variance": Nullable(Num(gt=0))})


DEFAULT_IWAE_SAMPLES = 100  # the IWAE draws per row of a file whose config has no --iwae-samples


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


# ---------------------------------------------------------------- reading a model file


def check_predict_range(x: np.ndarray, likelihood: str, table: Table, path: str, scaled: bool) -> None:
    """predict: a Bernoulli model needs x (the data after the fit's own scaling) in [0, 1].

    predict has no scaling option of its own (it redoes the fit's), so the only remedy is data
    inside the range the model was fitted on; the message names the first value outside it."""
    if likelihood != "bernoulli":
        return
    outside = np.argwhere((x < 0) | (x > 1))
    if not outside.size:
        return
    row, column = outside[0]
    where = f"row {row + 1}, " if not table.rows_dropped else ""  # row numbers shift when rows were dropped
    scaling = "after the model's scaling" if scaled else "as given (the model applies no scaling)"
    value = table.values[row, column]
    raise BadInput(f"{table.source}: {where}column {table.columns[column]!r} holds {value:g}, outside the range "
                   f"{path} was fitted on: the data {scaling} span [{x.min():g}, {x.max():g}], but a Bernoulli "
                   f"model needs values in [0, 1]")


def load(document: dict, path: str) -> model.VAE:
    """Rebuild the VAE (float64) from a model file, checking every field."""
    arch_doc = field_of(document, path, "params", "architecture")
    try:
        fixed = arch_doc["fixed_variance"]
        arch = model.Architecture(
            encoder=tuple(int(s) for s in arch_doc["encoder"]), latent=int(arch_doc["latent"]),
            decoder=tuple(int(s) for s in arch_doc["decoder"]), activation=str(arch_doc["activation"]),
            likelihood=str(arch_doc["likelihood"]), fixed_variance=None if fixed is None else float(fixed))
        if arch.likelihood not in model.LIKELIHOODS or (fixed is not None and not fixed > 0):
            raise ValueError("unknown likelihood or bad variance")
        net = model.VAE(arch, dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInput(f"{path}: field 'params.architecture' is malformed ({exc})") from None
    return load_weights(net, document, path)


def _config(document: dict, key: str, default):
    value = (document.get("config") or {}).get(key, default)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


def predict(document: dict, path: str, table: Table, reconstruct: bool = False):
    """Columns mu1..muk, sigma1..sigmak, elbo, log_likelihood_iwae (nats, model space) per row,
    from the fit's --iwae-samples draws seeded by the fit's seed; with reconstruct, the
    likelihood means at z = mu in the data's units."""
    net = load(document, path)
    preprocessing = document["data"].get("preprocessing", {})
    x = np.asarray(apply_preprocessing(table.values, preprocessing), dtype=np.float64)
    if x.shape[1] != net.arch.n_features:
        raise BadInput(f"{path}: the model expects {net.arch.n_features} columns, the data has {x.shape[1]}")
    if reconstruct:
        return list(table.columns), undo_preprocessing(net.reconstruct(x), preprocessing)
    check_predict_range(x, net.arch.likelihood, table, path, scaled=bool(preprocessing))
    rng = np.random.default_rng(_config(document, "seed", 0))
    mu, sigma = net.encode(x)
    elbo, iwae = net.scores(x, rng, max(1, _config(document, "iwae_samples", DEFAULT_IWAE_SAMPLES)))
    k = net.arch.latent
    names = [f"mu{j + 1}" for j in range(k)] + [f"sigma{j + 1}" for j in range(k)] + ["elbo", "log_likelihood_iwae"]
    return names, np.column_stack([mu, sigma, elbo, iwae])


def sample(document: dict, path: str, n: int, rng: np.random.Generator, mean: bool = False):
    """n rows decoded from z ~ N(0, I): likelihood means (mean=True) or draws from p(x|z),
    in the units of the original data."""
    net = load(document, path)
    rows = undo_preprocessing(net.sample(n, rng, mean=mean), document["data"].get("preprocessing", {}))
    return list(field_of(document, path, "data", "columns")), rows
