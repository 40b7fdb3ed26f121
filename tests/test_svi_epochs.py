"""SVI's epoch-end stopping test (inference/svi_epochs.py): a run whose exact ELBO has flattened
within its minibatch noise ends "converged"; a run still climbing at its epoch bound warns."""

from __future__ import annotations

import numpy as np

from conftest import STRICT
from gmm_helpers import blobs
from vifit.api import gmm_fit as runner
from vifit.api import gmm_svi
from vifit.data import Table
from vifit.inference import svi, svi_epochs
from vifit.progress import Reporter


def _fit(x, k, init="screened", **settings):
    columns = [f"c{j}" for j in range(x.shape[1])]
    loaded = gmm_svi.Loaded(svi.ArraySource(x), lambda: {"columns": columns})
    return gmm_svi.fit(loaded, seed=1, reporter=Reporter("none"), settings=svi.Settings(**settings), k=k,
                       init=init, policy=STRICT)


def _cavi(x, k):
    columns = [f"c{j}" for j in range(x.shape[1])]
    return runner.fit(Table(x, columns, "x"), seed=1, reporter=Reporter("none"), k=k, policy=STRICT)


def test_a_flattened_minibatch_run_converges_near_the_cavi_elbo(monkeypatch):
    """tol = 0: the relative test cannot fire and the windowed estimate's test is switched off
    (a huge window), so only the flat test can end this run before its 100 epochs."""
    x = blobs(8000, 3, 3, seed=21)
    monkeypatch.setattr(svi, "MIN_WINDOW", 10**9)  # no estimate plateau: the epoch-end test alone
    fitted = _fit(x, 3, batch_size=200, tol=0.0, epochs=100)
    assert fitted.status == "converged"
    epochs = len(fitted.trace)
    assert svi_epochs.FLAT_EPOCHS < epochs < 100
    values = [v for _, v in fitted.trace]
    mean_gain = (values[-1] - values[-1 - svi_epochs.FLAT_EPOCHS]) / svi_epochs.FLAT_EPOCHS
    assert abs(mean_gain) <= svi_epochs.FLAT_GAIN * x.shape[0] / 1000
    # flattened indeed: within a nat per 1000 rows of CAVI's optimum
    assert abs(fitted.elbo - _cavi(x, 3).elbo) <= x.shape[0] / 1000


def test_a_run_still_climbing_at_its_epoch_bound_warns():
    """Four overlapping clusters from random responsibilities, the default steps: after 8 epochs
    the exact ELBO still gains far more than the flat threshold every epoch (about 90 nats an
    epoch on 8000 rows at the end), so the run must end "max_iter", never "converged"."""
    x = blobs(8000, 3, 4, seed=21, spread=1.5)
    fitted = _fit(x, 4, batch_size=200, epochs=8, init="random-resp")
    gains = np.diff([v for _, v in fitted.trace])
    assert gains.min() > 10 * svi_epochs.FLAT_GAIN * x.shape[0] / 1000  # still climbing, every epoch
    assert fitted.status == "max_iter" and len(fitted.trace) == 8


def test_the_flat_test_is_for_minibatches_only():
    """A run whose batch is every row takes CAVI's sweeps, deterministic: a slow stretch there can
    precede a real climb (penguins, K = 6), so only --tol's relative test applies."""
    trace = [(i, -20000.0 + 0.01 * i) for i in range(6)]  # 0.01 nat per epoch on 20,000 rows: flat
    assert svi_epochs.converged(trace, 1e-9, 20000, noisy=True)
    assert not svi_epochs.converged(trace, 1e-9, 20000, noisy=False)
    assert svi_epochs.converged(trace, 1e-6, 20000, noisy=False)  # 0.01 <= 1e-6 * 20000: --tol's test
    climbing = [(i, -20000.0 + 5.0 * i) for i in range(6)]  # 0.25 nat per 1000 rows per epoch
    assert not svi_epochs.converged(climbing, 1e-9, 20000, noisy=True)
    assert not svi_epochs.converged(trace[:svi_epochs.FLAT_EPOCHS], 1e-9, 20000, noisy=True)  # too few epochs


def test_window_means_tell_sorted_rows_from_shuffled_ones_whatever_the_blocks():
    from vifit.inference.window_order import WindowMeans

    rng = np.random.default_rng(3)
    x = np.column_stack([np.repeat([0.0, 3.0, 6.0], 4000) + rng.standard_normal(12000),
                         rng.standard_normal(12000) + 1e4, np.full(12000, 7.0)])  # offset and constant columns
    x[rng.integers(12000, size=50), 1] = np.nan  # missing cells are left out
    for rows, shuffled in ((x, False), (x[rng.permutation(12000)], True)):
        for block in (1000, 777, 12000):
            means = WindowMeans(1000)
            for start in range(0, 12000, block):
                means.add(rows[start:start + block])
            assert means.looks_shuffled() is shuffled, (shuffled, block)
    one = WindowMeans(20000)
    one.add(x)  # a single window: the stream shuffles it whole
    assert one.looks_shuffled()
