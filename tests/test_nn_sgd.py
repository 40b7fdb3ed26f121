"""The shared minibatch loop: the stopping rules, which weights are kept, interruption, errors, resume."""

import numpy as np
import pytest

from vifit.inference.sgd import NonFiniteLoss, SGDConfig, relative_improvement, split_validation, train
from vifit.nn import Parameters
from vifit.nn.init import zeros
from vifit.progress import Reporter


class Quadratic:
    """loss = mean_i ||theta - x_i||^2 over a batch: minimised at the batch mean."""

    def __init__(self, d=3, hook=None):
        self.params = Parameters(np.float64)
        self.params.declare("theta", (d,), zeros, decay=True)
        self.params.allocate(np.random.default_rng(0))
        self.calls, self.hook = 0, hook

    def loss_and_grad(self, batch, rng):
        self.calls += 1
        if self.hook:
            self.hook(self)
        diff = self.params["theta"] - batch
        self.params.grad_of("theta")[...] = 2 * diff.mean(axis=0)
        return float((diff**2).sum(axis=1).mean())

    def loss(self, x, rng):
        return float(((self.params["theta"] - x) ** 2).sum(axis=1).mean())


def data(n=200, d=3, seed=1):
    return np.random.default_rng(seed).normal(loc=2.0, size=(n, d))


def quiet():
    return Reporter("none")


def test_converges_to_the_mean_and_reports_every_epoch():
    x = data()
    obj = Quadratic()
    reporter = Reporter("none")
    out = train(obj, x, None, SGDConfig(epochs=60, batch_size=50, lr=0.05, validation_fraction=0),
                np.random.default_rng(0), reporter)
    np.testing.assert_allclose(obj.params["theta"], x.mean(axis=0), atol=0.05)
    assert [e for e, _ in reporter.history] == [e for e, _ in out.state.train_trace]
    assert out.stopped_by == {"converged": "training", "max_iter": "epochs"}[out.status]
    assert out.weights_epoch == out.state.epoch  # no validation rows: the last weights


def test_converged_means_the_training_loss_plateaued_and_keeps_the_last_weights():
    x = data()
    train_rows, val_rows = split_validation(len(x), 0.2, np.random.default_rng(0))
    assert len(val_rows) == 40 and not set(train_rows) & set(val_rows)
    obj = Quadratic()
    out = train(obj, x[train_rows], x[val_rows] + 0.5,  # shifted validation: levels off above the training loss
                SGDConfig(epochs=500, batch_size=20, lr=0.01, patience=5), np.random.default_rng(0), quiet())
    assert out.status == "converged" and out.stopped_by == "training"
    state = out.state
    # the window rule on the training loss: the last 5 epochs' mean fell less than tol below the 5 before's
    assert relative_improvement(state.train_trace, 5) < SGDConfig.tol
    assert relative_improvement(state.train_trace[:-1], 5) >= SGDConfig.tol
    assert out.weights_epoch == state.epoch
    assert obj.loss(x[val_rows] + 0.5, None) == pytest.approx(state.validation_trace[-1][1])


def test_a_rising_validation_loss_stops_the_run_and_restores_the_best_validation_weights():
    x = data()  # around 2; theta starts at 0, the held-out rows' mean: every step away costs them
    x_val = data(40, seed=3) - 2.0
    obj = Quadratic()
    out = train(obj, x, x_val, SGDConfig(epochs=500, batch_size=20, lr=0.002, patience=5),
                np.random.default_rng(0), quiet())
    assert out.status == "converged" and out.stopped_by == "validation"
    state = out.state
    train_gain = relative_improvement(state.train_trace, 5)
    assert train_gain >= SGDConfig.tol and relative_improvement(state.validation_trace, 5) < -train_gain
    assert out.weights_epoch == state.best_epoch < state.epoch
    assert obj.loss(x_val, None) == pytest.approx(min(v for _, v in state.validation_trace))


def test_the_window_rule_ignores_one_noisy_epoch_and_stops_on_a_plateau():
    falling = [(e, 10.0 * 0.99**e) for e in range(1, 41)]
    assert relative_improvement(falling[:39], 20) is None  # not two windows yet
    assert relative_improvement(falling, 20) == pytest.approx(1 - 0.99**20)
    spiked = falling[:-1] + [(40, 12.0)]  # one bad epoch (above the start): still a clear fall on average
    assert relative_improvement(spiked, 20) > 0.01
    flat = [(e, 5.0 + 0.01 * (-1) ** e) for e in range(1, 41)]  # noise around a level
    assert abs(relative_improvement(flat, 20)) < 1e-4
    rising = [(e, 5.0 + 0.1 * e) for e in range(1, 41)]
    assert relative_improvement(rising, 20) < 0
    negative = [(e, -100.0 - e) for e in range(1, 41)]  # a VAE's loss can be below zero
    assert relative_improvement(negative, 20) == pytest.approx(20 / 110.5)


def test_max_iter_when_still_improving():
    obj = Quadratic()
    out = train(obj, data(), data(50, seed=2), SGDConfig(epochs=3, lr=1e-3), np.random.default_rng(0), quiet())
    assert out.status == "max_iter" and out.stopped_by == "epochs" and out.state.epoch == 3
    assert out.weights_epoch == 3


def test_interruption_keeps_the_last_weights():
    def hook(obj):
        if obj.calls == 4 * 4 + 2:  # during epoch 5 (4 batches per epoch)
            raise KeyboardInterrupt

    x = data()
    obj = Quadratic(hook=hook)
    out = train(obj, x, None, SGDConfig(epochs=50, batch_size=50, lr=0.05, validation_fraction=0),
                np.random.default_rng(0), quiet())
    assert out.status == "interrupted" and out.stopped_by == "interrupted" and out.state.epoch == 4
    assert out.weights_epoch == 4
    four = Quadratic()  # the same run stopped by --epochs 4: the same, last, weights
    train(four, x, None, SGDConfig(epochs=4, batch_size=50, lr=0.05, validation_fraction=0),
          np.random.default_rng(0), quiet())
    np.testing.assert_array_equal(obj.params.data, four.params.data)


def test_non_finite_loss_names_the_epoch():
    x = data()
    obj = Quadratic()
    with pytest.raises(NonFiniteLoss, match="epoch [0-9]+"):
        train(obj, x, None, SGDConfig(epochs=100, batch_size=10, lr=1e3, optimizer="sgd", validation_fraction=0),
              np.random.default_rng(0), quiet())


def test_state_in_state_out_resumes_exactly():
    x = data()
    config = SGDConfig(epochs=6, batch_size=30, lr=0.01, validation_fraction=0, patience=100)
    whole = Quadratic()
    train(whole, x, None, config, np.random.default_rng(5), quiet())

    part = Quadratic()
    rng = np.random.default_rng(5)
    first = train(part, x, None, SGDConfig(**{**config.__dict__, "epochs": 3}), rng, quiet())
    second = train(part, x, None, config, rng, quiet(), state=first.state)
    assert second.state.epoch == 6
    np.testing.assert_array_equal(part.params.data, whole.params.data)


def test_weight_decay_shrinks_towards_zero():
    x = data()
    plain, decayed = Quadratic(), Quadratic()
    config = dict(epochs=30, batch_size=50, lr=0.05, validation_fraction=0)
    train(plain, x, None, SGDConfig(**config), np.random.default_rng(0), quiet())
    train(decayed, x, None, SGDConfig(**config, weight_decay=1.0), np.random.default_rng(0), quiet())
    assert np.linalg.norm(decayed.params.data) < 0.8 * np.linalg.norm(plain.params.data)


def test_start_epoch_hook_sees_every_epoch_in_order():
    seen = []
    obj = Quadratic()
    obj.start_epoch = seen.append
    train(obj, data(), None, SGDConfig(epochs=4, validation_fraction=0, patience=10), np.random.default_rng(0), quiet())
    assert seen == [1, 2, 3, 4]


class WarmingUp(Quadratic):
    """A loss with a term whose weight rises over the first ``warmup`` epochs (as a VAE's KL
    warm-up): the reported loss climbs while the fit improves."""

    def __init__(self, warmup):
        super().__init__()
        self.warmup, self.weight = warmup, 0.0

    def start_epoch(self, epoch):
        self.weight = min(1.0, epoch / self.warmup)

    def loss_and_grad(self, batch, rng):
        return super().loss_and_grad(batch, rng) + 50.0 * self.weight


def test_the_training_rule_ignores_the_warm_up_epochs():
    x = data()
    config = SGDConfig(epochs=200, batch_size=50, lr=0.05, validation_fraction=0, patience=5)
    early = train(WarmingUp(40), x, None, config, np.random.default_rng(0), quiet())
    assert early.stopped_by == "training" and early.state.epoch == 10  # the climbing loss read as a plateau
    out = train(WarmingUp(40), x, None, config, np.random.default_rng(0), quiet(), warmup=40)
    assert out.stopped_by in ("training", "epochs") and out.state.epoch >= 40 + 2 * 5  # 2W epochs after it
