"""The VAE fit: train on a table (after ``--scale minmax`` when asked), FitResult with the ELBO,
the IWAE estimate of log p(x) and the weights; the memory check of an architecture."""

from __future__ import annotations

import numpy as np

from vifit import memory
from vifit.data import Table
from vifit.preprocess import apply_preprocessing, check_square_range, minmax_scaling
from vifit.errors import BadInput
from vifit.inference import sgd
from vifit.models import vae as model
from vifit.result import FitResult

MIN_ROWS = 2
# fit.stopped, in words, for each sgd stopped_by
STOP_REASONS = {"training": "training loss plateaued", "validation": "validation loss rose",
                "epochs": "epochs exhausted", "interrupted": "interrupted"}


def check_range(values: np.ndarray, likelihood: str, source: str) -> None:
    """fit: a Bernoulli likelihood needs every value in [0, 1]."""
    if likelihood == "bernoulli" and values.size and (values.min() < 0 or values.max() > 1):
        raise BadInput(f"{source}: --likelihood bernoulli needs data in [0, 1], but the data spans "
                       f"[{values.min():g}, {values.max():g}]; add --scale minmax (or use --likelihood gaussian)")



class _ElboReporter:
    """Passes the training loop's progress on as ELBOs: the epoch's mean training ELBO per
    row (the model's epoch_metric, beta = 1) and the validation ELBO per row."""

    def __init__(self, reporter):
        self.inner = reporter

    def start(self, task, total=None, metric="loss", **shown):
        self.inner.start(task, total=total, metric="elbo", **shown)

    def update(self, step, value, **extra):
        elbo = extra["metric"]  # the model's epoch_metric, recorded by the loop
        shown = {"val_elbo": -extra["val_loss"]} if "val_loss" in extra else {}
        self.inner.update(step, elbo, **shown)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def fit(table: Table, *, seed: int, reporter, arch: model.Architecture, samples: int, beta: float,
        kl_warmup: int, iwae_samples: int, scale: str, config: sgd.SGDConfig, policy=None) -> FitResult:
    """Train a VAE on table.values (n, d). ``scale="minmax"`` first maps each column onto
    [0, 1] and records it in ``table.preprocessing`` (so predict and sample reuse it)."""
    if scale == "minmax":
        if table.preprocessing.get("standardize"):
            raise BadInput("--scale minmax and --standardize do not combine; choose one")
        spec = minmax_scaling(table.values, reporter.note, table.columns, table.source)
        table.values = np.ascontiguousarray(apply_preprocessing(table.values.astype(np.float64), spec),
                                            dtype=table.values.dtype)
        table.preprocessing = {**table.preprocessing, **spec}
    x = table.values
    n, d = x.shape
    check_range(x, arch.likelihood, table.source)
    check_square_range(x, table.columns, table.source, "vae")
    check_memory(arch, x.dtype.itemsize, min(config.batch_size, n), samples, iwae_samples)
    rng = np.random.default_rng(seed)
    net = model.VAE(arch, dtype=x.dtype, rng=rng, samples=samples, beta=beta, kl_warmup=kl_warmup)
    train_rows, val_rows = sgd.split_validation(n, config.validation_fraction, rng)
    x_train, x_val = x[train_rows], (x[val_rows] if val_rows.size else None)
    reporter.note(f"vae {'-'.join(map(str, arch.encoder))}-[{arch.latent}]-{'-'.join(map(str, arch.decoder[1:]))} "
                  f"({arch.likelihood}): {net.params.size} parameters, {len(train_rows)} training and "
                  f"{len(val_rows)} validation rows")
    elbo_reporter = _ElboReporter(reporter)
    outcome = sgd.train(net, x_train, x_val, config, rng, elbo_reporter, task=f"vae {config.optimizer}", warmup=kl_warmup,
                        policy=policy or sgd.DEFAULT)
    state = outcome.state
    elbo_rows = net.elbo_rows(x, rng)
    score_rows = x_val if x_val is not None else x
    val_elbo, iwae = net.scores(score_rows, rng, iwae_samples)
    mu, sigma = (a.astype(np.float64) for a in net.encode(x))
    kl_per_latent = 0.5 * (mu ** 2 + sigma ** 2 - 1 - 2 * np.log(sigma)).mean(axis=0)
    weights = {name: value.astype(np.float64) for name, value in net.params.named().items()}
    summary = {"kl_per_latent": kl_per_latent,
               "active_latents": int((kl_per_latent > 0.01).sum())}
    if arch.likelihood == "gaussian":
        variance = ([arch.fixed_variance] * d if arch.fixed_variance is not None
                    else np.exp(net.likelihood.logvar.astype(np.float64)).tolist())
        summary["noise_variance"] = dict(zip(table.columns, variance))
    params = {"architecture": arch.as_dict(), "weights": weights, "summary": summary}
    elbo = float(elbo_rows.sum())
    extra = {
        "elbo_estimator": f"{samples} reparameterised draw(s) per row for E_q[log p(x|z)], exact KL; nats, "
                          f"all constants",
        "kl_per_row": float(kl_per_latent.sum()),
        "reconstruction_per_row": elbo / n + float(kl_per_latent.sum()),
        "log_likelihood_iwae": float(iwae.sum()),
        "log_likelihood_iwae_per_row": float(iwae.mean()),
        "iwae_elbo_per_row": float(val_elbo.mean()),
        "iwae_samples": int(iwae_samples),
        "iwae_rows": "validation" if x_val is not None else "all",
        "n_iwae_rows": int(score_rows.shape[0]),
        "train_elbo_per_row": outcome.at_weights(state.metric_trace),
        "validation_elbo_per_row": (-outcome.at_weights(state.validation_trace) if state.validation_trace
                                    else None),
        "trace_units": "elbo per row (nats)",
        "weights_epoch": outcome.weights_epoch,
        "best_epoch": state.best_epoch if val_rows.size else None,
        "stopped_by": outcome.stopped_by,
        "stopped": STOP_REASONS[outcome.stopped_by],
        "validation_trace": [[int(e), -float(v)] for e, v in state.validation_trace],
        "n_parameters": net.params.size,
        "n_train_rows": int(len(train_rows)),
        "n_validation_rows": int(len(val_rows)),
    }
    trace = [(e, v) for e, v in state.metric_trace if v is not None]
    return FitResult(model="vae", method=config.optimizer, params=params, status=outcome.status, elbo=elbo,
                     n_rows=n, n_iter=state.epoch, trace=trace, fit_extra=extra,
                     table=_long_table(arch, weights, trace, extra["validation_trace"]))


def check_memory(arch: model.Architecture, itemsize: int, batch: int, samples: int, iwae_samples: int) -> None:
    """Refuse, naming the option, a network, a training step or an IWAE score that cannot fit.

    The decoder sees samples x batch rows per step; scoring holds iwae_samples draws of at least one
    row at a time (float64)."""
    encoder, decoder = [*arch.encoder, 2 * arch.latent], list(arch.decoder)
    hidden = ",".join(map(str, arch.encoder[1:])) or "none"
    base = memory.check_network([encoder, decoder], itemsize,
                                f"--hidden {hidden} with --latent {arch.latent} on {arch.n_features:,} columns")
    memory.check_rows(base + memory.activations_bytes(batch, sum(encoder), itemsize), samples * batch,
                      sum(decoder), itemsize, f"--samples {samples} with --batch-size {batch}",
                      "use fewer --samples or a smaller --batch-size")
    memory.check_rows(base, max(iwae_samples, 8192), sum(decoder) + 4 * arch.latent, memory.FLOAT,
                      f"--iwae-samples {iwae_samples}", "use fewer --iwae-samples")


def _long_table(arch, weights, trace, validation_trace) -> dict:
    """CSV view block,name,index,value: sizes, weights (row-major flat index), ELBO curves."""
    rows = [["architecture", part, i, size] for part in ("encoder", "decoder")
            for i, size in enumerate(getattr(arch, part))]
    rows.append(["architecture", "latent", 0, arch.latent])
    for name, value in weights.items():
        rows += [["weights", name, i, v] for i, v in enumerate(value.reshape(-1).tolist())]
    rows += [["trace", "train_elbo_per_row", e, float(v)] for e, v in trace]
    rows += [["trace", "validation_elbo_per_row", e, float(v)] for e, v in validation_trace]
    return {"columns": ["block", "name", "index", "value"], "rows": rows}
