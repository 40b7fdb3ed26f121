"""The autoencoder fit: train on a table, FitResult with the weights, per-feature error and curve.

A classical autoencoder is not a generative model, so its model file has no ``sample``."""

from __future__ import annotations

import numpy as np

from vifit import memory
from vifit.data import Table
from vifit.documents.autoencoder import check_range
from vifit.preprocess import check_square_range
from vifit.inference import sgd
from vifit.models import autoencoder as model
from vifit.result import FitResult

MIN_ROWS = 2
# fit.stopped, in words, for each sgd stopped_by
STOP_REASONS = {"training": "training loss plateaued", "validation": "validation loss rose",
                "epochs": "epochs exhausted", "interrupted": "interrupted"}


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
    outcome = sgd.train(net, x_train, x_val, config, rng, reporter, task=f"autoencoder {config.optimizer}",
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
