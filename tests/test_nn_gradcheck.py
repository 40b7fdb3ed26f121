"""Every piece of the nn kit passes a float64 finite-difference gradient check."""

import numpy as np
import pytest

from vifit.nn import LOSSES, MLP, Parameters
from vifit.nn.activations import ACTIVATIONS
from vifit.nn.gradcheck import check, relative_error
from vifit.nn.layers import Activation, Dense

TOL = 1e-6


def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_gradient(name):
    r = rng()
    z0 = r.normal(size=(5, 4)) * 2
    if name == "relu":  # keep away from the kink, where the derivative is undefined
        z0[np.abs(z0) < 1e-3] = 0.5
    w = r.normal(size=(5, 4))  # C = sum(w * f(z))
    layer = Activation(name)

    def f(z):
        a = layer.forward(z.copy())
        value = float((w * a).sum())
        return value, layer.backward(w.copy())

    assert check(f, z0) < TOL


def test_dense_gradient_weights_bias_and_input():
    r = rng()
    params = Parameters(np.float64)
    layer = Dense(params, "d", 4, 3)
    params.allocate(r)
    x0 = r.normal(size=(6, 4))
    w = r.normal(size=(6, 3))

    def f_params(flat):
        params.data[...] = flat
        z = layer.forward(x0)
        value = float((w * z).sum())
        layer.backward(w.copy())
        return value, params.grad.copy()

    def f_input(x):
        z = layer.forward(x)
        value = float((w * z).sum())
        return value, layer.backward(w.copy())

    assert check(f_params, params.data.copy()) < TOL
    assert check(f_input, x0) < TOL


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradient(name):
    r = rng()
    out0 = r.normal(size=(7, 5)) * 3
    target = r.uniform(size=(7, 5))  # in [0, 1] for bce
    loss = LOSSES[name]()

    def f(out):
        return loss.value_and_grad(out, target)

    assert check(f, out0) < TOL
    # value agrees with the per-row form
    assert np.isclose(loss.value_and_grad(out0, target)[0], loss.per_row(out0, target).mean())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("z_row", [[-1000.0, 1000.0, 0.0, 30.0],   # exp(-z) overflows: the stable path
                                   [-20.0, 15.0, 0.0, 3.0]])       # no overflow: the fast path
def test_bce_from_logits_is_stable_and_exact(dtype, z_row):
    loss = LOSSES["bce"]()
    z = np.array([z_row], dtype=dtype)
    x = np.array([[0.0, 1.0, 0.5, 0.25]], dtype=dtype)
    value, grad = loss.value_and_grad(z.copy(), x)
    z64, x64 = z.astype(np.float64), x.astype(np.float64)
    expected = float((np.logaddexp(0, z64) - x64 * z64).sum())  # -[x log p + (1 - x) log(1 - p)]
    expected_grad = np.exp(-np.logaddexp(0, -z64)) - x64             # sigmoid, overflow-free
    assert np.isfinite(value) and np.isfinite(grad).all()
    # float32: log(1 + exp(-z)) + z carries ~1e-6 absolute rounding per entry
    assert np.isclose(value, expected, rtol=1e-12 if dtype == np.float64 else 1e-6, atol=1e-5)
    assert np.allclose(grad, expected_grad, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("activation,loss", [("tanh", "mse"), ("softplus", "bce"), ("sigmoid", "mse"),
                                             ("relu", "bce")])
def test_whole_three_layer_network(activation, loss):
    r = rng()
    params = Parameters(np.float64)
    net = MLP(params, "net", [5, 6, 4, 5], activation, "identity")
    params.allocate(r)
    params.data += r.normal(size=params.size) * 0.01  # non-zero biases
    x = r.uniform(size=(8, 5))
    loss_fn = LOSSES[loss]()

    def f(flat):
        params.data[...] = flat
        value, dout = loss_fn.value_and_grad(net.forward(x), x)
        net.backward(dout, need_input_grad=False)
        return value, params.grad.copy()

    assert len(net.dense) == 3
    assert check(f, params.data.copy()) < TOL


def test_weight_decay_gradient_matches_penalty():
    r = rng()
    params = Parameters(np.float64)
    MLP(params, "net", [3, 4, 2], "tanh")
    params.allocate(r)
    params.data[...] = r.normal(size=params.size)
    wd = 0.3

    def f(flat):
        params.data[...] = flat
        params.grad[...] = 0
        params.add_weight_decay(wd)
        return wd * params.l2_penalty(), params.grad.copy()

    assert check(f, params.data.copy()) < TOL
    # biases are not decayed
    assert np.all(params.grad_of("net.0.b") == 0)


def test_relative_error_detects_a_wrong_gradient():
    assert relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.1])) > 1e-3


def test_check_catches_a_wrong_backward():
    r = rng()
    z0 = r.normal(size=(5, 4))
    w = r.normal(size=(5, 4))

    def f(z):  # tanh with the derivative written as 1 - a (a deliberate bug)
        a = np.tanh(z)
        return float((w * a).sum()), w * (1 - a)

    assert check(f, z0) > 1e-2


def test_widening_layer_stores_its_weight_transposed_with_the_same_values_and_products():
    """Dense stores W^T for n_out > n_in (a speed choice); readers see the same (n_in, n_out) W."""
    from vifit.nn import init as initialisers

    params = Parameters(np.float64)
    wide, narrow = Dense(params, "wide", 3, 5), Dense(params, "narrow", 5, 2)
    params.allocate(rng())
    w = params["wide.W"]
    assert w.shape == (3, 5) and w.flags.f_contiguous and not w.flags.c_contiguous
    assert params["narrow.W"].flags.c_contiguous
    # same draws as a plainly stored array: initialisation does not depend on the storage order
    plain = Parameters(np.float64)
    plain.declare("wide.W", (3, 5), initialisers.glorot_uniform)
    plain.declare("wide.b", (5,), initialisers.zeros, decay=False)
    plain.allocate(rng())
    np.testing.assert_array_equal(w, plain["wide.W"])
    # the flat buffer holds W^T row after row
    np.testing.assert_array_equal(params.data[:15], np.ascontiguousarray(w.T).reshape(-1))
    r = np.random.default_rng(3)
    x, dout = r.normal(size=(4, 3)), r.normal(size=(4, 5))
    np.testing.assert_allclose(wide.forward(x), x @ np.array(w) + params["wide.b"], rtol=1e-13)
    dx = wide.backward(dout)
    np.testing.assert_allclose(params.grad_of("wide.W"), x.T @ dout, rtol=1e-13)
    np.testing.assert_allclose(dx, dout @ np.array(w).T, rtol=1e-13)
