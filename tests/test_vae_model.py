"""The VAE's mathematics: hand-written gradients, the closed-form KL, the IWAE bound."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from vifit.preprocess import apply_preprocessing, minmax_scaling, undo_preprocessing
from vifit.models import vae as model
from vifit.nn import gradcheck
from vifit.nn.sampling import Reparameterise, kl_standard_normal, log_normal, sigma_of


@pytest.fixture(autouse=True)
def one_blas_thread():
    with threadpool_limits(1):  # small GEMMs: threads only contend on a shared machine
        yield


def _net(likelihood, fixed=None, hidden=(4,), decoder=None, activation="tanh", samples=2, beta=1.0, seed=0):
    arch = model.architecture(5, list(hidden), decoder, 3, activation, likelihood, fixed)
    return model.VAE(arch, np.float64, np.random.default_rng(seed), samples=samples, beta=beta)


def _data(likelihood, n=7, seed=1):
    rng = np.random.default_rng(seed)
    return rng.random((n, 5)) if likelihood == "bernoulli" else rng.normal(size=(n, 5)) * 2


@pytest.mark.parametrize("likelihood,fixed,hidden,decoder,activation,beta", [
    ("gaussian", None, (4,), None, "tanh", 1.0),          # learned per-column variance
    ("gaussian", 0.3, (4, 3), [2], "softplus", 1.0),      # fixed variance, deeper, asymmetric
    ("bernoulli", None, (4,), None, "sigmoid", 0.4),      # beta != 1
    ("gaussian", None, (), [], "identity", 2.0),          # linear encoder and decoder
])
def test_gradient_of_whole_negative_elbo_with_eps_fixed(likelihood, fixed, hidden, decoder, activation, beta):
    net = _net(likelihood, fixed, hidden, decoder, activation, samples=3, beta=beta)
    x = _data(likelihood)
    eps = np.random.default_rng(2).standard_normal((3, x.shape[0], 3))

    def f(p):
        net.params.data[...] = p
        value = net.loss_and_grad(x, None, eps=eps)
        return value, net.params.grad.copy()

    assert gradcheck.check(f, net.params.data.copy()) < 1e-6


def test_loss_with_beta_one_is_minus_the_elbo_of_those_draws():
    """loss = -(1/L) sum_l log p(x|z_l) + KL per row, recomputed from scratch."""
    net = _net("gaussian", samples=4)
    x = _data("gaussian")
    eps = np.random.default_rng(3).standard_normal((4, x.shape[0], 3))
    loss = net.loss_and_grad(x, None, eps=eps)
    mu, sigma = net.encode(x)
    z = mu + sigma * eps                                    # (L, n, k)
    means = np.stack([net.decode(z[l]) for l in range(4)])  # (L, n, d)
    var = np.exp(net.params["decoder.logvar"])
    loglik = -0.5 * (np.log(2 * np.pi * var) + (x - means) ** 2 / var).sum(axis=2).mean(axis=0)
    kl = 0.5 * (mu ** 2 + sigma ** 2 - 1 - np.log(sigma ** 2)).sum(axis=1)
    assert loss == pytest.approx(-(loglik - kl).mean(), rel=1e-12)


def _terms_from_scratch(net, x, eps):
    """(reconstruction, KL) per row for the draws z = mu + sigma * eps, from the definitions:
    -(1/L) sum_l log p(x|z_l) and KL(N(mu, sigma^2) || N(0, I)) in closed form."""
    mu, sigma = net.encode(x)
    z = mu + sigma * eps                                                    # (L, n, k)
    out = np.stack([net.decode(z_l) for z_l in z])                          # (L, n, d)
    if net.arch.likelihood == "bernoulli":                                  # out: logits
        loglik = (x * out - np.logaddexp(0, out)).sum(axis=2)
    else:
        var = net.arch.fixed_variance or np.exp(net.params["decoder.logvar"])
        loglik = -0.5 * (np.log(2 * np.pi * var) + (x - out) ** 2 / var).sum(axis=2)
    kl = 0.5 * (mu ** 2 + sigma ** 2 - 1 - np.log(sigma ** 2)).sum(axis=1)
    return -loglik.mean(axis=0), kl


@pytest.mark.parametrize("likelihood,fixed,beta,warmup", [
    ("gaussian", None, 0.25, 0), ("gaussian", 0.3, 3.0, 0), ("bernoulli", None, 0.5, 0),
    ("bernoulli", None, 2.0, 4),                            # warm-up: epoch 1 of 4 weighs KL by beta / 4
])
def test_loss_with_beta_is_reconstruction_plus_beta_times_kl(likelihood, fixed, beta, warmup):
    arch = model.architecture(5, [4], None, 3, "tanh", likelihood, fixed)
    net = model.VAE(arch, np.float64, np.random.default_rng(0), samples=3, beta=beta, kl_warmup=warmup)
    net.start_epoch(1)
    x = _data(likelihood)
    eps = np.random.default_rng(3).standard_normal((3, x.shape[0], 3))
    loss = net.loss_and_grad(x, None, eps=eps)
    recon, kl = _terms_from_scratch(net, x, eps)
    weight = beta / warmup if warmup else beta
    assert loss == pytest.approx(recon.mean() + weight * kl.mean(), rel=1e-12)
    assert abs(loss - (recon + kl).mean()) > 1e-3 * kl.mean()   # so beta did change the loss


def test_reported_elbo_uses_beta_one_whatever_beta():
    """Same weights, several betas: the training metric, the validation loss and the per-row
    ELBO and IWAE scores are the beta = 1 values, while the training loss follows beta."""
    x = _data("gaussian", n=9)
    eps = np.random.default_rng(3).standard_normal((2, x.shape[0], 3))
    reported, losses = {}, {}
    for beta in (1.0, 0.3, 5.0):
        net = _net("gaussian", samples=2, beta=beta, seed=0)       # the seed alone sets the weights
        net.start_epoch(1)
        losses[beta] = net.loss_and_grad(x, None, eps=eps)
        elbo, iwae = net.scores(x, np.random.default_rng(5), 4)
        reported[beta] = (net.epoch_metric(), net.loss(x, np.random.default_rng(4)),
                          net.elbo_rows(x, np.random.default_rng(4)), elbo, iwae)
    recon, kl = _terms_from_scratch(net, x, eps)
    assert reported[1.0][0] == pytest.approx(-(recon + kl).mean(), rel=1e-12)
    assert reported[1.0][0] == pytest.approx(-losses[1.0], rel=1e-12)
    for beta in (0.3, 5.0):
        assert losses[beta] == pytest.approx(recon.mean() + beta * kl.mean(), rel=1e-12)
        assert reported[beta][:2] == reported[1.0][:2]
        for mine, plain in zip(reported[beta][2:], reported[1.0][2:]):
            np.testing.assert_array_equal(mine, plain)


def test_closed_form_kl_equals_monte_carlo():
    rng = np.random.default_rng(4)
    mu = rng.normal(size=(3, 4))
    sigma = np.exp(rng.normal(scale=0.5, size=(3, 4)))
    z = mu + sigma * rng.standard_normal((400_000, 3, 4))
    mc = (log_normal(z, mu, sigma) - log_normal(z, 0.0, 1.0)).mean(axis=0)   # E_q[log q - log p]
    np.testing.assert_allclose(mc, kl_standard_normal(mu, sigma), rtol=0.02, atol=0.01)


def test_reparameterised_draws_have_the_encoder_distribution():
    mu, sigma = np.array([[1.0, -2.0]]), sigma_of(np.array([[0.3, -1.0]]))
    eps = np.random.default_rng(5).standard_normal((200_000, 1, 2))
    z = Reparameterise().forward(mu, sigma, eps)
    np.testing.assert_allclose(z.mean(axis=0), mu[0], atol=0.01)
    np.testing.assert_allclose(z.std(axis=0), sigma[0], rtol=0.01)


def test_iwae_at_least_elbo_and_increasing_in_k():
    net = _net("gaussian", hidden=(6,), samples=1, seed=6)
    x = _data("gaussian", n=40, seed=7)
    means = {}
    for k in (1, 5, 50):
        runs = [net.scores(x, np.random.default_rng(100 + r), k) for r in range(10)]
        elbo = np.mean([e.mean() for e, _ in runs])
        means[k] = np.mean([i.mean() for _, i in runs])
        if k == 1:  # one importance weight: an ELBO estimate with a Monte Carlo KL
            assert means[k] == pytest.approx(elbo, rel=0.01)
        else:
            assert means[k] > elbo
    assert means[1] < means[5] < means[50]


def test_iwae_with_one_sample_is_an_elbo_estimate():
    net = _net("bernoulli", samples=1, seed=8)
    x = _data("bernoulli", n=300, seed=9)
    _, iwae1 = net.scores(x, np.random.default_rng(1), 1)
    elbo = net.elbo_rows(x, np.random.default_rng(2), samples=200)
    assert iwae1.mean() == pytest.approx(elbo.mean(), rel=0.02)


def test_kl_warmup_weight():
    assert [model.kl_weight(2.0, 4, e) for e in (1, 2, 4, 9)] == [0.5, 1.0, 2.0, 2.0]
    assert model.kl_weight(0.5, 0, 1) == 0.5


def test_minmax_preprocessing_round_trips():
    x = np.array([[0.0, 5.0, 1.0], [16.0, 5.0, 3.0], [8.0, 5.0, 2.0]])
    notes = []
    spec = minmax_scaling(x, notes.append, ["a", "b", "c"])
    scaled = apply_preprocessing(x, spec)
    assert scaled.min() == 0 and scaled.max() == 1 and (scaled[:, 1] == 0).all()
    assert notes and "'b'" in notes[0]
    np.testing.assert_allclose(undo_preprocessing(scaled, spec), x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bernoulli_log_lik_rows_is_the_log_density_of_each_stacked_row(dtype):
    """log p(x | eta) = sum_j x_j log sigmoid(eta_j) + (1 - x_j) log(1 - sigmoid(eta_j)), per stacked
    row (L draws of n rows), against the float64 formula written with log1p, logits from tiny to
    +-100 (where a naive sigmoid rounds to 0 or 1)."""
    from vifit.nn.likelihoods import Bernoulli

    rng = np.random.default_rng(0)
    n, d, draws = 3, 50, 4
    x = rng.uniform(0, 1, (n, d)).astype(dtype)
    x[0, :5] = [0.0, 1.0, 0.0, 1.0, 0.5]
    eta = (rng.standard_normal((draws * n, d)) * rng.choice([1e-4, 1.0, 30.0], (draws * n, d))).astype(dtype)
    eta[0, :5] = [-100.0, 100.0, 100.0, -100.0, 0.0]
    got = Bernoulli().log_lik_rows(eta.copy(), x)
    e = eta.astype(np.float64).reshape(draws, n, d)
    log_sig = -np.log1p(np.exp(-np.abs(e))) + np.minimum(e, 0)  # log sigmoid(e)
    log_one_minus = log_sig - e  # log(1 - sigmoid(e))
    expected = (x * log_sig + (1 - x.astype(np.float64)) * log_one_minus).sum(axis=2).reshape(-1)
    assert got.dtype == np.float64 and got.shape == (draws * n,)
    # float32 cells, summed in float64: each of the d terms carries a relative error of ~1e-7
    tolerance = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance)
