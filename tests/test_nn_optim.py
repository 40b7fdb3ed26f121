"""Optimisers: in-place flat updates equal the textbook formulas; views stay views."""

import numpy as np
import pytest

from vifit.nn import MLP, Parameters
from vifit.nn.optim import BLOCK, SGD, Adam


def reference_adam(p, grads, lr, b1=0.9, b2=0.999, eps=1e-8):
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return p


@pytest.mark.parametrize("threads", [1, 2])
def test_adam_matches_reference(threads):
    r = np.random.default_rng(1)
    size = 5 * BLOCK + 17  # several blocks and a ragged end, so threads share work
    p0 = r.normal(size=size)
    grads = [r.normal(size=size) for _ in range(4)]
    p = p0.copy()
    opt = Adam(size, np.float64, lr=0.01, threads=threads)
    for g in grads:
        opt.step(p, g.copy())
    opt.close()
    np.testing.assert_allclose(p, reference_adam(p0, grads, 0.01), rtol=1e-10, atol=1e-12)


def test_sgd_momentum_matches_reference():
    r = np.random.default_rng(2)
    p0 = r.normal(size=100)
    grads = [r.normal(size=100) for _ in range(3)]
    p, u = p0.copy(), np.zeros(100)
    opt = SGD(100, np.float64, lr=0.1, momentum=0.9)
    q = p0.copy()
    for g in grads:
        u = 0.9 * u + g
        p = p - 0.1 * u
        opt.step(q, g.copy())
    np.testing.assert_allclose(q, p, rtol=1e-12)


def test_parameters_are_views_of_one_flat_buffer():
    params = Parameters(np.float32)
    MLP(params, "enc", [4, 3, 2], "relu")
    MLP(params, "dec", [2, 3, 4], "relu")
    params.allocate(np.random.default_rng(0))
    assert params.data.dtype == np.float32 and params.size == (4 * 3 + 3 + 3 * 2 + 2) + (2 * 3 + 3 + 3 * 4 + 4)
    for name in params.names():
        assert np.shares_memory(params[name], params.data)
        assert np.shares_memory(params.grad_of(name), params.grad)
    # weights (decayed) are laid out before biases
    assert params.n_decay == 4 * 3 + 3 * 2 + 2 * 3 + 3 * 4
    params.data[:] = 0
    assert not params["enc.0.W"].any()
