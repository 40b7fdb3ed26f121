"""What a fitted VAE must achieve: the PPCA likelihood with a linear decoder, a documented
ELBO on digits, separated latent means for separated clusters."""

from __future__ import annotations

import json

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from conftest import SAMPLE, invoke
from vifit.models import pca

DIGITS = SAMPLE / "digits.csv"
# Documented in README (### vifit vae): this command reaches elbo_per_row -25.22 nats.
DIGITS_RUN = ["--likelihood", "bernoulli", "--scale", "minmax", "--hidden", "64", "--latent", "8",
              "--epochs", "30", "--lr", "3e-3", "--seed", "0", "-q"]
DIGITS_ELBO_AT_LEAST = -26.0


@pytest.fixture(autouse=True)
def one_blas_thread():
    with threadpool_limits(1):  # small GEMMs: threads only contend on a shared machine
        yield


def _write(path, x):
    np.savetxt(path, x, delimiter=",", header=",".join(f"c{j}" for j in range(x.shape[1])), comments="")
    return path


def _predicted(result):
    lines = result.stdout.strip().splitlines()
    return lines[0].split(","), np.array([[float(v) for v in line.split(",")] for line in lines[1:]])


def test_linear_gaussian_vae_approaches_the_ppca_log_likelihood(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(2, 6)) * np.array([[2.0], [1.0]])
    x = rng.normal(size=(2000, 2)) @ w + 3 + np.sqrt(0.2) * rng.normal(size=(2000, 6))
    data = _write(tmp_path / "ppca.csv", x)
    fitted = pca.fit(x, 2)
    ppca = pca.log_likelihood(x, fitted.mean, fitted.components, fitted.explained_variance,
                              fitted.noise_variance).mean()
    via_cli = json.loads(invoke(["pca", data, "--k", "2", "-q"]).stdout)["fit"]["elbo_per_row"]
    assert via_cli == pytest.approx(ppca)

    model = tmp_path / "vae.json"
    result = invoke(["vae", data, "--hidden", "none", "--decoder", "none", "--latent", "2", "--dtype", "float64",
                     "--epochs", "150", "--lr", "1e-2", "--validation-fraction", "0", "--patience", "200",
                     "--seed", "0", "-q", "-o", model])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(model.read_text())
    assert doc["params"]["architecture"]["encoder"] == [6] and doc["params"]["architecture"]["decoder"] == [2, 6]
    elbo = doc["fit"]["elbo_per_row"]
    names, rows = _predicted(invoke(["predict", model, data]))
    iwae = rows[:, names.index("log_likelihood_iwae")].mean()
    assert elbo < ppca + 0.01                    # a lower bound (up to Monte Carlo noise) ...
    assert abs(elbo - ppca) < 0.02 * abs(ppca)   # ... that comes within 2%
    assert abs(iwae - ppca) < 0.02 * abs(ppca)
    assert elbo < iwae


def test_bernoulli_vae_on_digits_reaches_the_documented_elbo(tmp_path):
    model = tmp_path / "digits.json"
    result = invoke(["vae", DIGITS, *DIGITS_RUN, "-o", model])
    assert result.exit_code == 0, result.stderr
    fit = json.loads(model.read_text())["fit"]
    assert fit["elbo_per_row"] > DIGITS_ELBO_AT_LEAST
    assert fit["log_likelihood_iwae_per_row"] > fit["iwae_elbo_per_row"]
    assert fit["trace"][-1][1] > fit["trace"][0][1] + 5     # the training ELBO climbed


def test_latent_means_of_separated_clusters_separate(tmp_path):
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(3, 10)) * 6
    labels = np.repeat(np.arange(3), 150)
    x = centres[labels] + rng.normal(size=(450, 10))
    data = _write(tmp_path / "clusters.csv", x)
    model = tmp_path / "vae.json"
    result = invoke(["vae", data, "--hidden", "16", "--latent", "2", "--epochs", "60", "--lr", "1e-2",
                     "--standardize", "--seed", "1", "-q", "-o", model])
    assert result.exit_code == 0, result.stderr
    names, rows = _predicted(invoke(["predict", model, data]))
    assert names[:4] == ["mu1", "mu2", "sigma1", "sigma2"]
    mu = rows[:, :2]
    means = np.array([mu[labels == c].mean(axis=0) for c in range(3)])
    spread = max(np.linalg.norm(mu[labels == c] - means[c], axis=1).mean() for c in range(3))
    gaps = [np.linalg.norm(means[a] - means[b]) for a, b in ((0, 1), (0, 2), (1, 2))]
    assert min(gaps) > 3 * spread
    nearest = np.argmin(((mu[:, None, :] - means[None]) ** 2).sum(axis=2), axis=1)
    assert (nearest == labels).mean() == 1.0
