"""An autoencoder model file's ``params`` (encoder [d, ..., k], decoder [k, ..., d]): its schema,
the network rebuilt from it, and ``predict`` (codes, per-row error, reconstructions). A classical
autoencoder is not a generative model, so ``sample`` refuses."""

from __future__ import annotations

import numpy as np

from vifit.data import Table
from vifit.documents.networks import ACTIVATION, Sizes, check_chain, load_weights, mlp_shapes, validate_weights
from vifit.documents.schema import Context, Obj, Str, validate
from vifit.errors import BadInput
from vifit.models import autoencoder as model
from vifit.output import field_of
from vifit.preprocess import apply_preprocessing, undo_preprocessing


ARCHITECTURE = Obj({"encoder": Sizes(), "decoder": Sizes(), "activation": ACTIVATION,
                    "output_activation": ACTIVATION, "loss": Str(choices=("mse", "bce"))})


def validate_params(params, ctx: Context) -> dict:
    params = validate(Obj({"architecture": ARCHITECTURE, "weights": Obj({})}), params, ctx)
    arch = params["architecture"]
    check_chain(arch, ctx.at("architecture"), ("encoder", 0), ("decoder", -1), (("encoder", -1), ("decoder", 0)))
    shapes = {**mlp_shapes("encoder", arch["encoder"]), **mlp_shapes("decoder", arch["decoder"])}
    params["weights"] = validate_weights(params["weights"], shapes, ctx.at("weights"))
    return params


# ---------------------------------------------------------------- reading a model file


def check_range(values: np.ndarray, loss: str) -> None:
    if loss == "bce" and (values.min() < 0 or values.max() > 1):
        raise BadInput(f"--loss bce needs data in [0, 1], but it spans [{values.min():g}, {values.max():g}]; "
                       f"rescale it first or use --loss mse (with --standardize)")


def load(document: dict, path: str) -> model.Autoencoder:
    """Rebuild the network (float64) from a model file, checking every field."""
    arch_doc = field_of(document, path, "params", "architecture")
    try:
        arch = model.Architecture(
            encoder=tuple(int(s) for s in arch_doc["encoder"]), decoder=tuple(int(s) for s in arch_doc["decoder"]),
            activation=str(arch_doc["activation"]), output_activation=str(arch_doc["output_activation"]),
            loss=str(arch_doc["loss"]))
        net = model.Autoencoder(arch, dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInput(f"{path}: field 'params.architecture' is malformed ({exc})") from None
    return load_weights(net, document, path)


def predict(document: dict, path: str, table: Table, reconstruct: bool = False):
    """Columns code1..codek and reconstruction_error (the training loss of each row, in the
    model's space); with reconstruct, the reconstructed rows in the data's units."""
    net = load(document, path)
    preprocessing = document["data"].get("preprocessing", {})
    x = np.asarray(apply_preprocessing(table.values, preprocessing), dtype=np.float64)
    if x.shape[1] != net.arch.encoder[0]:
        raise BadInput(f"{path}: the model expects {net.arch.encoder[0]} columns, the data has {x.shape[1]}")
    if reconstruct:
        return list(table.columns), undo_preprocessing(net.reconstruct(x), preprocessing)
    check_range(x, net.arch.loss)
    codes = net.encode(x)
    names = [f"code{j + 1}" for j in range(codes.shape[1])]
    return names + ["reconstruction_error"], np.column_stack([codes, net.per_row_loss(x)])


def sample(document: dict, path: str, n: int, rng: np.random.Generator):
    raise BadInput(f"{path}: a classical autoencoder is not a generative model and cannot be sampled; "
                   f"fit a VAE (vifit vae) to draw new rows")
