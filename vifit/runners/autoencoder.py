"""Autoencoder runner: fit to FitResult, predict (codes, per-row error, reconstructions).

A classical autoencoder is not a generative model, so ``sample`` refuses.
"""

from __future__ import annotations

import numpy as np

from vifit.data import Table
from vifit.preprocess import apply_preprocessing, check_square_range, undo_preprocessing
from vifit.errors import BadInput
from vifit.inference import sgd
from vifit.models import autoencoder as model
from vifit.output import field_of
from vifit.result import FitResult
from vifit.runners import memory
from vifit.runners.weights import load_weights

MIN_ROWS = 2
# fit.stopped, in words, for each sgd stopped_by
STOP_REASONS = {"training": "training loss plateaued", "validation": "validation loss rose",
                "epochs": "epochs exhausted", "interrupted": "interrupted"}


def check_range(values: np.ndarray, loss: str) -> None:
    if loss == "bce" and (values.min() < 0 or values.max() > 1):
        raise BadInput(f"--loss bce needs data in [0, 1], but it spans [{values.min():g}, {values.max():g}]; "
                       f"rescale it first or use --loss mse (with --standardize)")


def fit(table: Table, *, seed: int, reporter, arch: model.Architecture, denoise: float,
        config: sgd.SGDConfig, policy=None) -> FitResult:
    """Train an autoencoder on table.values (n, d)."""
    x = table.values
    n, d = x.shape
    check_range(x, arch.loss)
    check_square_range(x, table.columns, table.source, "autoencoder")
    layers = [list(arch.encoder), list(arch.decoder)]
    hidden = ",".join(map(str, arch.encoder[1:]))
    base = memory.check_network(layers, x.dtype.itemsize, f"--hidden {hidden} on {d:,} columns")
    memory.check_rows(base, min(config.batch_size, n), sum(map(sum, layers)), x.dtype.itemsize,
                      f"--batch-size {config.batch_size}", "use a smaller --batch-size")
    rng = np.random.default_rng(seed)
    net = model.Autoencoder(arch, dtype=x.dtype, rng=rng, denoise=denoise)
    train_rows, val_rows = sgd.split_validation(n, config.validation_fraction, rng)
    x_train, x_val = x[train_rows], (x[val_rows] if val_rows.size else None)
    reporter.note(f"autoencoder {'-'.join(map(str, arch.encoder))}|{'-'.join(map(str, arch.decoder[1:]))}: "
                  f"{net.params.size} parameters, {len(train_rows)} training and {len(val_rows)} validation rows")
    outcome = sgd.train(net, x_train, x_val, config, rng, reporter, task="autoencoder",
                        policy=policy or sgd.DEFAULT)
    state = outcome.state
    per_feature = net.per_feature_loss(x)
    loss = float(per_feature.sum())
    validation_loss = net.loss(x_val) if x_val is not None else None
    weights = {name: value.astype(np.float64) for name, value in net.params.named().items()}
    summary = {
        "reconstruction_error": loss,
        "reconstruction_error_per_feature": dict(zip(table.columns, per_feature.tolist())),
    }
    params = {"architecture": arch.as_dict(), "weights": weights, "summary": summary}
    extra = {
        "loss": loss,
        "loss_name": arch.loss,
        "train_loss": outcome.at_weights(state.train_trace),
        "validation_loss": validation_loss,
        "weights_epoch": outcome.weights_epoch,
        "best_epoch": state.best_epoch if val_rows.size else None,
        "stopped_by": outcome.stopped_by,
        "stopped": STOP_REASONS[outcome.stopped_by],
        "validation_trace": [[int(e), float(v)] for e, v in state.validation_trace],
        "n_parameters": net.params.size,
        "n_train_rows": int(len(train_rows)),
        "n_validation_rows": int(len(val_rows)),
    }
    return FitResult(model="autoencoder", method=config.optimizer, params=params, status=outcome.status,
                     elbo=None, n_rows=n, n_iter=state.epoch, trace=list(state.train_trace), fit_extra=extra,
                     table=_long_table(arch, weights, table.columns, per_feature, state))


def _long_table(arch, weights, columns, per_feature, state) -> dict:
    """CSV view block,name,index,value: architecture sizes, weights (row-major flat index),
    per-feature reconstruction error, and the training curve."""
    rows = []
    for part in ("encoder", "decoder"):
        rows += [["architecture", part, i, size] for i, size in enumerate(getattr(arch, part))]
    for name, value in weights.items():
        rows += [["weights", name, i, v] for i, v in enumerate(value.reshape(-1).tolist())]
    rows += [["reconstruction_error", col, j, float(v)] for j, (col, v) in enumerate(zip(columns, per_feature))]
    rows += [["trace", "train_loss", e, float(v)] for e, v in state.train_trace]
    rows += [["trace", "validation_loss", e, float(v)] for e, v in state.validation_trace]
    return {"columns": ["block", "name", "index", "value"], "rows": rows}


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
