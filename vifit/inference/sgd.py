"""The minibatch training loop shared by the autoencoder and the VAE.

The loop knows nothing about the model. It takes an *objective* with

    objective.params                       Parameters (flat data/grad buffers)
    objective.loss_and_grad(batch, rng)    mean loss per row of batch: (rows, d); writes
                                           params.grad (overwrite) for this loss
    objective.loss(x, rng)                 mean loss per row of x, no gradient (validation)
    objective.epoch_metric()               optional: a number to record after each epoch
                                           (the VAE's training ELBO), passed to the reporter
                                           as ``metric=`` and kept in ``metric_trace``
    objective.start_epoch(epoch)           optional: called before each epoch (1-based), e.g.
                                           for a KL warm-up schedule

and owns everything else: shuffling per epoch with the passed generator, minibatches,
weight decay (L2 on weights, added to the gradient), the optimiser step, validation
loss, the stopping rules (:func:`relative_improvement` over windows: the training loss's
plateau, the validation loss's rise), keeping the best-validation weights, reporting per
epoch, non-finite losses and interruption.

State in, state out: :func:`train` takes an optional :class:`TrainState` (weights,
optimiser state, epoch counter, best weights, history) and returns the new one in
its :class:`TrainOutcome`, so a run can be checkpointed and resumed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from vifit.errors import BadInput
from vifit.inference.policy import DEFAULT, LoopPolicy, resume_name
from vifit.nn.optim import make_optimizer


class NonFiniteLoss(BadInput):
    """The training loss became NaN or infinite (exit 2, names the epoch)."""


@dataclass(frozen=True)
class SGDConfig:
    """The options every network command shares (``--epochs`` … ``--patience``)."""

    epochs: int = 100
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    validation_fraction: float = 0.1
    # The stopping window W and tolerance: converged when the mean training loss of the last
    # W epochs is less than tol (relative) below the mean of the W epochs before. Chosen on
    # linear autoencoders (wine, iris, breast cancer, digits; seeds 0-7) against PCA's
    # optimum: W = 30, tol = 1e-4 stopped every run within ~0.3% of it, where a patience of
    # 10 epochs on the noisy epoch loss stopped runs 1-3% above it.
    patience: int = 30
    tol: float = 1e-4
    # Optimiser threads. 1 by default: on the 2-core test machine splitting Adam's
    # cache-sized blocks over 2 threads was slower (1.2 ms vs 0.87 ms per step, 643k
    # parameters), the update being memory-bound and the BLAS already using the cores.
    threads: int = 1

    def as_config(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "threads"}


@dataclass
class TrainState:
    """Everything needed to continue a run: pass it back to :func:`train`."""

    epoch: int = 0
    optimizer: dict | None = None
    best: np.ndarray | None = None          # flat copy of the weights with the lowest watched loss
    #                                         (validation; training without validation rows)
    best_loss: float = math.inf
    best_epoch: int = 0
    train_trace: list = field(default_factory=list)        # [(epoch, mean train loss)]
    validation_trace: list = field(default_factory=list)   # [(epoch, validation loss)]
    metric_trace: list = field(default_factory=list)       # [(epoch, objective.epoch_metric())]


@dataclass
class TrainOutcome:
    """status: converged, max_iter (epochs ran out) or interrupted; stopped_by: "training"
    (its loss plateaued), "validation" (the held-out loss rose), "epochs" or "interrupted".
    The objective's parameters hold the weights of epoch ``weights_epoch`` on return: the
    best-validation epoch when stopped_by is "validation", the last epoch otherwise."""

    status: str
    state: TrainState
    stopped_by: str
    weights_epoch: int

    def at_weights(self, trace: list) -> float | None:
        """The value a trace [(epoch, value)] recorded at the epoch of the weights kept."""
        return next((v for e, v in reversed(trace) if e == self.weights_epoch), None)


def split_validation(n: int, fraction: float, rng: np.random.Generator):
    """Indices (train, validation) of n rows; at least one row each when fraction > 0."""
    order = rng.permutation(n)
    if fraction <= 0:
        return np.sort(order), np.empty(0, dtype=np.intp)
    n_val = min(max(1, int(round(fraction * n))), n - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _check_finite(value: float, epoch: int, what: str) -> None:
    if not math.isfinite(value):
        raise NonFiniteLoss(f"the {what} loss became {value} at epoch {epoch}; lower --lr, "
                            f"add --weight-decay, or rescale the data (--standardize)")


def relative_improvement(trace: list, window: int) -> float | None:
    """How much the loss fell between the last two windows of ``window`` epochs, relative.

    trace: [(epoch, loss)]. (mean of the W losses before the last W - mean of the last W)
    / |mean of the W before|; None until there are 2W epochs. Means over windows, not a
    single best epoch, so the noise of one epoch's minibatch loss neither stops nor
    prolongs a run; a rising loss gives a negative improvement."""
    if len(trace) < 2 * window:
        return None
    earlier = math.fsum(v for _, v in trace[-2 * window:-window]) / window
    later = math.fsum(v for _, v in trace[-window:]) / window
    return (earlier - later) / max(abs(earlier), np.finfo(float).tiny)


def train(objective, x_train: np.ndarray, x_val: np.ndarray | None, config: SGDConfig,
          rng: np.random.Generator, reporter, *, task: str = "train", metric: str = "loss",
          state: TrainState | None = None, warmup: int = 0, policy: LoopPolicy = DEFAULT) -> TrainOutcome:
    """Minibatch training of ``objective`` on rows x_train: (n, d).

    With W = ``patience``, after each epoch (both tests need 2W epochs of their trace):

    1. converged, stopped_by "training": the mean training loss of the last W epochs is less
       than ``tol`` (relative) below its mean over the W epochs before. The final weights
       are kept: they are the training optimum to the tolerance. Epochs up to ``warmup``
       (e.g. a KL warm-up, whose loss is not comparable with later epochs) are left out of
       this test.
    2. converged, stopped_by "validation" (only with rows x_val, once rule 1 can be tested):
       the training loss still improves, but the mean validation loss of the last W epochs
       rose, relative to the W before, by more than the training loss fell over the same
       windows: further training costs the held-out rows more than it gains on the training
       rows (over-fitting), so the weights of the epoch with the lowest validation loss are
       restored and a note names that epoch. A rise of just ``tol`` is not enough: on a
       linear autoencoder (breast cancer, k = 3) the held-out loss creeps up ~0.01% per
       window while the training loss still falls 0.5% towards PCA's optimum.
    3. max_iter, stopped_by "epochs": the final weights are kept. The run is not at an
       optimum, and the validation loss was not rising faster than the training loss fell
       (rule 2 would have stopped it), so the best-validation epoch is no better a choice
       than the last; over-fitting is rule 2's job.

    Ctrl-C or policy.should_stop() ends the run as "interrupted" (stopped_by "interrupted"),
    keeping the weights at the end of the last epoch completed, as in 3; policy.checkpoints
    saves epoch boundaries and gives the state to resume. Raises NonFiniteLoss naming the epoch.
    """
    params = objective.params
    n = x_train.shape[0]
    batch = max(1, min(config.batch_size, n))
    state = state or TrainState()
    optimizer = make_optimizer(config.optimizer, params.size, params.dtype, lr=config.lr,
                               momentum=config.momentum, threads=config.threads)
    store = policy.checkpoints
    saved = store.resume_state(CHECKPOINT_KIND, lambda: {
        "n_weights": params.size, "optimizer_state": optimizer.state(), "epochs": config.epochs})
    if saved is not None:
        state = _restore(saved, objective, x_train, config, rng, store)
    if state.optimizer is not None:
        optimizer.load_state(state.optimizer)
    if state.best is None:
        state.best = params.data.copy()
    has_val = x_val is not None and x_val.shape[0] > 0
    start_epoch = getattr(objective, "start_epoch", None)
    epoch_metric = getattr(objective, "epoch_metric", None)
    reporter.start(task, total=config.epochs, metric=metric, unit="epoch")
    status, stopped_by = "max_iter", "epochs"
    last = params.data.copy()  # the weights at the end of the last epoch done (Ctrl-C can strike mid-epoch)
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            while state.epoch < config.epochs:
                epoch = state.epoch + 1
                if start_epoch is not None:
                    start_epoch(epoch)
                order = rng.permutation(n)
                total = 0.0
                for start in range(0, n, batch):
                    rows = order[start:start + batch]
                    loss = objective.loss_and_grad(x_train[rows], rng)
                    _check_finite(loss, epoch, "training")
                    total += loss * len(rows)
                    params.add_weight_decay(config.weight_decay)
                    optimizer.step(params.data, params.grad)
                train_loss = total / n
                state.train_trace.append((epoch, train_loss))
                extra = {}
                watched = train_loss
                if has_val:
                    watched = float(objective.loss(x_val, rng))
                    _check_finite(watched, epoch, "validation")
                    state.validation_trace.append((epoch, watched))
                    extra["val_loss"] = watched
                state.epoch = epoch
                np.copyto(last, params.data)
                if watched < state.best_loss:
                    state.best_loss, state.best_epoch = watched, epoch
                    np.copyto(state.best, params.data)
                if epoch_metric is not None:
                    extra["metric"] = epoch_metric()
                    state.metric_trace.append((epoch, extra["metric"]))
                reporter.update(epoch, train_loss, **extra)
                stopped_by = _stop_rule(state, config, has_val, warmup)
                if stopped_by is not None:
                    status = "converged"
                    break
                stopped_by = "epochs"
                if store.due() or (store.enabled() and policy.should_stop()):
                    state.optimizer = optimizer.state()
                    store.save(CHECKPOINT_KIND, _snapshot(state, objective, x_train, config, rng))
                if policy.should_stop():
                    status, stopped_by = "interrupted", "interrupted"
                    break
    except KeyboardInterrupt:
        status, stopped_by = "interrupted", "interrupted"
        np.copyto(params.data, last)
    except NonFiniteLoss:
        reporter.finish("failed")  # close a live progress bar before the error line
        raise
    finally:
        optimizer.close()
    state.optimizer = optimizer.state()
    weights_epoch = state.epoch
    if stopped_by == "validation":
        np.copyto(params.data, state.best)
        weights_epoch = state.best_epoch
    reporter.finish(status)
    if stopped_by == "validation":
        rise = -relative_improvement(state.validation_trace, config.patience)
        fall = _training_gain(state, config, warmup)
        reporter.note(f"the validation loss rose {rise:.2%} over the last {config.patience} epochs while the "
                      f"training loss fell {fall:.2%} (over-fitting): stopped at epoch {state.epoch} and kept "
                      f"the weights of epoch {state.best_epoch}, the lowest validation loss")
    return TrainOutcome(status=status, state=state, stopped_by=stopped_by, weights_epoch=weights_epoch)


def _stop_rule(state: TrainState, config: SGDConfig, has_val: bool, warmup: int) -> str | None:
    """Which stopping rule of :func:`train` holds after the last epoch: "training",
    "validation" or None (keep going)."""
    train_gain = _training_gain(state, config, warmup)
    if train_gain is not None and train_gain < config.tol:
        return "training"
    if has_val and train_gain is not None:
        val_gain = relative_improvement(state.validation_trace, config.patience)
        if val_gain is not None and val_gain < -train_gain:
            return "validation"
    return None


def _training_gain(state: TrainState, config: SGDConfig, warmup: int) -> float | None:
    """relative_improvement of the training loss over epochs after ``warmup`` (the trace holds
    epochs 1..epoch in order, so those are its entries past index ``warmup``)."""
    if len(state.train_trace) - warmup < 2 * config.patience:
        return None
    return relative_improvement(state.train_trace, config.patience)


CHECKPOINT_KIND = "sgd"


# The rows and generator of a checkpoint's check losses (see :func:`_check_losses`).
CHECK_ROWS = 64
CHECK_SEED = 0


def _check_losses(objective, x_train: np.ndarray, config: SGDConfig, weights: np.ndarray, best: np.ndarray,
                  optimizer_state: dict) -> dict:
    """Losses that tie a snapshot's arrays to each other: ``objective.loss`` on the first
    CHECK_ROWS training rows (with a generator of its own, seeded CHECK_SEED, so training draws
    nothing less or more) of the weights, of the best weights, and of the weights one optimiser
    step ahead with a zero gradient (Adam: the bias-corrected moments' step; momentum: mu u),
    which depends on the optimiser's moments and their sign. A negated network is a valid
    network, but not one of these losses: re-signing an edited checkpoint does not pass.

    The parameters are put back bit for bit, so a run that checkpoints ends as one that does not."""
    params, rows = objective.params, x_train[:CHECK_ROWS]
    saved = params.data.copy()
    ahead = weights.astype(params.dtype, copy=True)
    optimizer = make_optimizer(config.optimizer, params.size, params.dtype, lr=config.lr, momentum=config.momentum)
    try:
        optimizer.load_state(optimizer_state)
        optimizer.step(ahead, np.zeros_like(ahead))
    finally:
        optimizer.close()
    out = {}
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            for name, values in (("weights", weights), ("best", best), ("ahead", ahead)):
                np.copyto(params.data, values)
                value = float(objective.loss(rows, np.random.default_rng(CHECK_SEED)))
                out[name] = math.inf if math.isnan(value) else value  # a checkpoint holds no NaN
    finally:
        np.copyto(params.data, saved)
    return out


def _snapshot(state: TrainState, objective, x_train: np.ndarray, config: SGDConfig,
              rng: np.random.Generator) -> dict:
    """Everything :func:`train` needs to continue exactly: weights, optimiser, counters, rng;
    and the check losses of :func:`_check_losses`."""
    params = objective.params
    return {"weights": params.data.copy(), "optimizer": state.optimizer, "epoch": state.epoch,
            "best": state.best, "best_loss": state.best_loss, "best_epoch": state.best_epoch,
            "train_trace": [list(p) for p in state.train_trace],
            "validation_trace": [list(p) for p in state.validation_trace],
            "metric_trace": [list(p) for p in state.metric_trace], "rng": rng.bit_generator.state,
            "check": _check_losses(objective, x_train, config, params.data.copy(), state.best, state.optimizer)}


# Allowance between a check loss saved and the same loss recomputed on resume: the same float32
# operations on the same rows, so equal but for a BLAS that splits its sums differently; 1e-5
# relative is ~100 float32 roundings (float32 eps 1.2e-7), far below what an edit changes
# (a negated Adam momentum moved the look-ahead loss by 6e-3 relative on the hostile test's VAE).
CHECK_RTOL = 1e-5


def _restore(saved: dict, objective, x_train: np.ndarray, config: SGDConfig, rng: np.random.Generator,
             store) -> TrainState:
    """The TrainState of a checkpoint whose parts agree with each other, else BadInput (exit 2):
    the optimiser's step count is epochs * batches per epoch; Adam's second moments are
    >= 0; the best loss and epoch are the trace's minimum (validation, else training) and its
    first epoch; the weights, best weights and moments give back the snapshot's check losses."""
    problem_text = f"{resume_name(store)}: the checkpoint's training state is inconsistent"
    params, n = objective.params, x_train.shape[0]
    steps = saved["epoch"] * math.ceil(n / max(1, min(config.batch_size, n)))
    optimizer = saved["optimizer"]
    if optimizer["t"] != steps:
        raise BadInput(f"{problem_text}: its optimiser made {optimizer['t']} steps in {saved['epoch']} epochs of "
                       f"{steps // max(1, saved['epoch'])} batches; it was edited, or written for other data")
    if "v" in optimizer and not (np.asarray(optimizer["v"]) >= 0).all():
        raise BadInput(f"{problem_text}: its optimiser's second moments are negative; it was edited")
    watched = saved["validation_trace"] if len(saved["validation_trace"]) else saved["train_trace"]
    if len(watched):
        first = min(range(len(watched)), key=lambda i: (watched[i][1], i))
        if (saved["best_loss"], saved["best_epoch"]) != (watched[first][1], watched[first][0]):
            raise BadInput(f"{problem_text}: its best loss and epoch are not its trace's minimum; it was edited")
    check = _check_losses(objective, x_train, config, saved["weights"], saved["best"], optimizer)
    for name, value in check.items():
        recorded = saved["check"][name]
        if not (value == recorded or abs(value - recorded) <= CHECK_RTOL * max(abs(recorded), 1.0)):
            what = {"weights": "weights", "best": "best weights", "ahead": "optimiser moments"}[name]
            raise BadInput(f"{problem_text}: its {what} do not give back the loss it recorded for them; "
                           f"it was edited, or written for other data")
    np.copyto(params.data, saved["weights"])
    rng.bit_generator.state = saved["rng"]
    return TrainState(epoch=int(saved["epoch"]), optimizer=optimizer, best=np.array(saved["best"]),
                      best_loss=float(saved["best_loss"]), best_epoch=int(saved["best_epoch"]),
                      train_trace=[(int(e), float(v)) for e, v in saved["train_trace"]],
                      validation_trace=[(int(e), float(v)) for e, v in saved["validation_trace"]],
                      metric_trace=[(int(e), None if v is None else float(v)) for e, v in saved["metric_trace"]])
