"""The variational autoencoder (Kingma & Welling 2014), pure mathematics on numpy arrays.

Encoder q_phi(z|x) = N(mu(x), diag sigma^2(x)): an MLP [d, *hidden, 2k] whose last
(linear) layer gives [mu | rho], sigma = softplus(rho) + 1e-6 (see :mod:`vifit.nn.sampling`). Decoder p_theta(x|z): an MLP [k, *decoder, d]
giving Bernoulli logits or Gaussian means; the Gaussian's per-feature log-variance is a
parameter ``decoder.logvar`` (d,) unless fixed. Prior p(z) = N(0, I).

Per row, with L reparameterised draws z_l = mu + sigma * eps_l:

    ELBO(x) = (1/L) sum_l log p(x | z_l) - KL(q(z|x) || N(0, I))        (KL in closed form)

in nats with every constant. Training minimises the mean over rows of
-(1/L) sum_l log p(x|z_l) + w KL, with w = beta * (warm-up factor); ``beta=1`` and no
warm-up give exactly -ELBO. Gradients are hand-written backprop: likelihood ->
decoder -> reparameterisation (mu, sigma) plus the KL's own gradient -> softplus -> encoder.

IWAE (Burda et al. 2016): log p(x) >= log (1/K) sum_i p(x, z_i) / q(z_i | x), z_i ~ q,
tighter than the ELBO and increasing in K.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vifit.nn import MLP, Parameters
from vifit.nn.likelihoods import Bernoulli, Gaussian
from vifit.nn.sampling import (Reparameterise, kl_standard_normal, kl_standard_normal_grad, log_normal,
                               sigma_backward, sigma_of)

LIKELIHOODS = ("gaussian", "bernoulli")


@dataclass(frozen=True)
class Architecture:
    """encoder: [d, *hidden] (the [mu | rho] head is added); decoder: [k, *hidden, d]."""

    encoder: tuple
    latent: int
    decoder: tuple
    activation: str = "relu"
    likelihood: str = "gaussian"
    fixed_variance: float | None = None

    @property
    def n_features(self) -> int:
        return self.encoder[0]

    def as_dict(self) -> dict:
        return {"encoder": list(self.encoder), "latent": self.latent, "decoder": list(self.decoder),
                "activation": self.activation, "likelihood": self.likelihood,
                "fixed_variance": self.fixed_variance,
                "encoder_output": "mu (latent), rho (latent); sigma = softplus(rho) + 1e-6",
                "decoder_output": "logits" if self.likelihood == "bernoulli" else "means"}


def architecture(d: int, hidden: list[int], decoder_hidden: list[int] | None, latent: int, activation: str,
                 likelihood: str, fixed_variance: float | None = None) -> Architecture:
    """Encoder [d, *hidden]; decoder [latent, *decoder_hidden, d] (hidden mirrored if None)."""
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"unknown likelihood {likelihood!r}")
    if decoder_hidden is None:
        decoder_hidden = list(reversed(hidden))
    return Architecture(encoder=(d, *hidden), latent=int(latent), decoder=(int(latent), *decoder_hidden, d),
                        activation=activation, likelihood=likelihood,
                        fixed_variance=None if fixed_variance is None else float(fixed_variance))


def kl_weight(beta: float, warmup: int, epoch: int) -> float:
    """beta * min(1, epoch / warmup): rises linearly over the first ``warmup`` epochs."""
    return beta if warmup <= 0 else beta * min(1.0, epoch / warmup)


class VAE:
    """Parameters, the training objective (for :func:`vifit.inference.sgd.train`) and scores.

    params: ``encoder.{l}.W``/``.b`` (last layer (h, 2k)), ``decoder.{l}.W``/``.b`` and, for a
    Gaussian with learned variance, ``decoder.logvar`` (d,).
    """

    def __init__(self, arch: Architecture, dtype=np.float32, rng: np.random.Generator | None = None,
                 samples: int = 1, beta: float = 1.0, kl_warmup: int = 0):
        self.arch, self.samples, self.beta, self.kl_warmup = arch, int(samples), float(beta), int(kl_warmup)
        self.params = Parameters(dtype)
        k, d = arch.latent, arch.n_features
        self.encoder = MLP(self.params, "encoder", [*arch.encoder, 2 * k], arch.activation, "identity")
        self.decoder = MLP(self.params, "decoder", list(arch.decoder), arch.activation, "identity")
        learned = arch.likelihood == "gaussian" and arch.fixed_variance is None
        if learned:
            self.params.declare("decoder.logvar", (d,), lambda r, s, t: np.zeros(s, dtype=t), decay=False)
        self.params.allocate(rng)
        if arch.likelihood == "bernoulli":
            self.likelihood = Bernoulli()
        elif learned:
            self.likelihood = Gaussian(self.params["decoder.logvar"], self.params.grad_of("decoder.logvar"))
        else:
            self.likelihood = Gaussian(np.full(d, math.log(arch.fixed_variance), dtype=self.params.dtype))
        self.sampler = Reparameterise()
        self.kl_scale = self.beta
        self._elbo_sum, self._elbo_rows = 0.0, 0

    # ------------------------------------------------------------ training objective

    def start_epoch(self, epoch: int) -> None:
        """Set the KL weight for this epoch (the warm-up) and reset the epoch's ELBO tally."""
        self.kl_scale = kl_weight(self.beta, self.kl_warmup, epoch)
        self._elbo_sum, self._elbo_rows = 0.0, 0

    def epoch_metric(self) -> float | None:
        """Mean training ELBO per row (beta = 1) over the batches since the last call (nats);
        the training loop records it in its state each epoch."""
        value = self._elbo_sum / self._elbo_rows if self._elbo_rows else None
        self._elbo_sum, self._elbo_rows = 0.0, 0
        return value

    def loss_and_grad(self, x: np.ndarray, rng: np.random.Generator | None, eps: np.ndarray | None = None) -> float:
        """Mean per-row objective on x: (n, d) -> -recon + w KL; writes params.grad.

        eps: (L, n, k) noise to use instead of drawing it from rng (gradient checks).
        """
        n, k, dtype = x.shape[0], self.arch.latent, self.params.dtype
        h = self.encoder.forward(x)                                 # (n, 2k)
        mu, sigma = h[:, :k], sigma_of(h[:, k:])
        if eps is None:
            eps = rng.standard_normal((self.samples, n, k), dtype=dtype)
        L = eps.shape[0]
        z = self.sampler.forward(mu, sigma, eps)                    # (L n, k)
        out = self.decoder.forward(z)                               # (L n, d)
        nll, dout = self.likelihood.nll_and_grad(out, x, 1.0 / (n * L))
        kl_rows = kl_standard_normal(mu, sigma)
        recon, kl = nll / L, float(kl_rows.sum())
        w = self.kl_scale
        self._elbo_sum -= recon + kl
        self._elbo_rows += n
        dmu_kl, dsigma_kl = kl_standard_normal_grad(mu, sigma)
        dz = self.decoder.backward(dout)                            # (L n, k)
        dmu, dsigma = self.sampler.backward(dz)
        dh = np.empty((n, 2 * k), dtype=dtype)
        c = dtype.type(w / n)
        np.multiply(dmu_kl, c, out=dh[:, :k])
        dh[:, :k] += dmu
        dsigma_kl *= c
        dsigma_kl += dsigma
        dh[:, k:] = sigma_backward(sigma, dsigma_kl)
        self.encoder.backward(dh, need_input_grad=False)
        return (recon + w * kl) / n

    def loss(self, x: np.ndarray, rng: np.random.Generator) -> float:
        """-ELBO per row on x (no gradient, beta = 1): the validation loss."""
        return -float(self.elbo_rows(x, rng).mean())

    # ------------------------------------------------------------ use

    def encode(self, x: np.ndarray):
        """Posterior means and standard deviations, each (n, k)."""
        h = self.encoder.predict(x)
        k = self.arch.latent
        return h[:, :k], sigma_of(h[:, k:])

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Decoder output (logits or means) (n, d)."""
        return self.decoder.predict(z)

    def elbo_rows(self, x: np.ndarray, rng: np.random.Generator, samples: int | None = None,
                  chunk_rows: int = 4096) -> np.ndarray:
        """ELBO of each row (n,), float64: L-draw Monte Carlo reconstruction term minus exact KL."""
        L = self.samples if samples is None else int(samples)
        out = np.empty(x.shape[0])
        step = max(1, chunk_rows // L)
        for lo in range(0, x.shape[0], step):
            block = x[lo:lo + step]
            mu, sigma = self.encode(block)
            eps = rng.standard_normal((L, block.shape[0], self.arch.latent)).astype(block.dtype)
            z = self.sampler.forward(mu, sigma, eps)
            loglik = self.likelihood.log_lik_rows(self.decode(z), block).reshape(L, -1).mean(axis=0)
            out[lo:lo + step] = loglik - kl_standard_normal(mu, sigma)
        return out

    def scores(self, x: np.ndarray, rng: np.random.Generator, k: int, chunk_rows: int = 8192):
        """(elbo, iwae) per row, each (n,) float64, from the same k draws per row:
        elbo = mean_i log p(x|z_i) - KL (exact), iwae = log mean_i p(x|z_i) p(z_i) / q(z_i|x)."""
        n = x.shape[0]
        elbo, iwae = np.empty(n), np.empty(n)
        step = max(1, chunk_rows // k)
        for lo in range(0, n, step):
            block = x[lo:lo + step]
            mu, sigma = self.encode(block)
            eps = rng.standard_normal((k, block.shape[0], self.arch.latent)).astype(block.dtype)
            z = self.sampler.forward(mu, sigma, eps)
            loglik = self.likelihood.log_lik_rows(self.decode(z), block).reshape(k, -1)
            z3 = z.reshape(k, -1, self.arch.latent)
            log_w = loglik + log_normal(z3, 0.0, 1.0) - log_normal(z3, mu.astype(np.float64), sigma)
            top = log_w.max(axis=0)
            iwae[lo:lo + step] = top + np.log(np.exp(log_w - top).mean(axis=0))
            elbo[lo:lo + step] = loglik.mean(axis=0) - kl_standard_normal(mu, sigma)
        return elbo, iwae

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        """Likelihood means at z = mu(x): (n, d)."""
        mu, _ = self.encode(x)
        return self.likelihood.mean(self.decode(mu))

    def sample(self, n: int, rng: np.random.Generator, mean: bool = False) -> np.ndarray:
        """Decode n prior draws z ~ N(0, I): likelihood means, or draws from p(x|z). (n, d)."""
        z = rng.standard_normal((n, self.arch.latent)).astype(self.params.dtype)
        out = self.decode(z)
        return self.likelihood.mean(out) if mean else self.likelihood.draw(out, rng)
