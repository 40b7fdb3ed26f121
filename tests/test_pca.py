"""PCA against scikit-learn's PCA (the oracle), and the PPCA model's predict/sample."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA

from conftest import SAMPLE, invoke
from vifit.models import pca as model


def _table(name):
    frame = pd.read_csv(SAMPLE / name)
    return frame.select_dtypes("number").to_numpy(dtype=np.float64)


def _random(n, d, seed=0):
    rng = np.random.default_rng(seed)
    # correlated columns with an offset mean, so centring matters
    return rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(10, 3, size=d)


DATASETS = {
    "iris": lambda: _table("iris.csv"),
    "digits": lambda: _table("digits.csv"),
    "random_tall": lambda: _random(500, 12),
    "random_wide": lambda: _random(15, 40),
}


@pytest.mark.parametrize("name,k", [("iris", 2), ("digits", 10), ("random_tall", 5), ("random_wide", 6)])
def test_matches_sklearn(name, k):
    x = DATASETS[name]()
    ours = model.fit(x, k)
    oracle = PCA(n_components=k, svd_solver="full").fit(x)
    # components agree up to sign
    dots = np.abs(np.sum(ours.components * oracle.components_, axis=1))
    np.testing.assert_allclose(dots, 1.0, atol=1e-8)
    np.testing.assert_allclose(ours.explained_variance, oracle.explained_variance_, rtol=1e-9)
    np.testing.assert_allclose(ours.explained_variance_ratio, oracle.explained_variance_ratio_, rtol=1e-9)
    np.testing.assert_allclose(ours.mean, oracle.mean_, rtol=1e-12)
    n, d = x.shape
    if n > d:  # scikit-learn averages only min(n, d) - k eigenvalues when n <= d (see models/pca.py)
        np.testing.assert_allclose(ours.noise_variance, oracle.noise_variance_, rtol=1e-7)
        loglik = model.log_likelihood(x, ours.mean, ours.components, ours.explained_variance, ours.noise_variance)
        np.testing.assert_allclose(loglik.mean(), oracle.score(x), rtol=1e-9)
        np.testing.assert_allclose(loglik, oracle.score_samples(x), rtol=1e-8)


def test_solver_choice_follows_shape():
    assert model.fit(_random(100, 5), 2).solver == "covariance_eigh"
    assert model.fit(_random(5, 100), 2).solver == "svd"


def test_wide_noise_variance_counts_zero_eigenvalues():
    x = _random(10, 30)
    fitted = model.fit(x, 3)
    eigenvalues = np.linalg.eigvalsh(np.cov(x, rowvar=False))[::-1]
    np.testing.assert_allclose(fitted.noise_variance, eigenvalues[3:].mean(), rtol=1e-8, atol=1e-12)


def test_sign_normalisation_is_deterministic():
    x = _random(200, 6, seed=3)
    first = model.fit(x, 3).components
    flipped = model.fit(-x, 3).components  # negating the data flips eigenvector signs in LAPACK terms
    np.testing.assert_allclose(first, flipped, atol=1e-10)
    assert (first[np.arange(3), np.argmax(np.abs(first), axis=1)] > 0).all()


def test_loglik_equals_dense_gaussian():
    from scipy.stats import multivariate_normal

    x = _random(300, 7, seed=4)
    fitted = model.fit(x, 3)
    u, lam, s2 = fitted.components, fitted.explained_variance, fitted.noise_variance
    cov = u.T @ np.diag(lam - s2) @ u + s2 * np.eye(7)
    dense = multivariate_normal(fitted.mean, cov).logpdf(x)
    np.testing.assert_allclose(model.log_likelihood(x, fitted.mean, u, lam, s2, chunk_rows=64), dense, rtol=1e-10)


def test_cli_fit_predict_sample_against_sklearn(tmp_path):
    out = tmp_path / "pca.json"
    result = invoke(["pca", SAMPLE / "iris.csv", "--k", "2", "--whiten", "--seed", "1", "-o", out, "-q"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(out.read_text())
    x = _table("iris.csv")
    oracle = PCA(n_components=2, whiten=True).fit(x)
    # The likelihood is compared with an unwhitened PCA: whitening rescales coordinates,
    # not the model, but scikit-learn's get_covariance() rescales components when whiten=True.
    plain = PCA(n_components=2).fit(x)
    assert doc["schema"] == "vifit.fit/1" and doc["model"] == "pca"
    np.testing.assert_allclose(doc["fit"]["elbo_per_row"], plain.score(x), rtol=1e-9)
    np.testing.assert_allclose(doc["params"]["summary"]["noise_variance"], plain.noise_variance_, rtol=1e-9)

    pred = invoke(["predict", out, SAMPLE / "iris.csv"])
    assert pred.exit_code == 0, pred.stderr
    coords = pd.read_csv(io.StringIO(pred.stdout))
    assert list(coords.columns) == ["pc1", "pc2", "loglik"]
    expected = oracle.transform(x)
    signs = np.sign(np.sum(np.asarray(doc["params"]["summary"]["components"]) * oracle.components_, axis=1))
    np.testing.assert_allclose(coords[["pc1", "pc2"]].to_numpy(), expected * signs, atol=1e-9)
    np.testing.assert_allclose(coords["loglik"].to_numpy(), plain.score_samples(x), rtol=1e-9)

    rebuilt = invoke(["predict", out, SAMPLE / "iris.csv", "--reconstruct"])
    recon = pd.read_csv(io.StringIO(rebuilt.stdout)).to_numpy()
    np.testing.assert_allclose(recon, plain.inverse_transform(plain.transform(x)), atol=1e-9)


def test_sample_moments_match_ppca_covariance(tmp_path):
    out = tmp_path / "pca.json"
    assert invoke(["pca", SAMPLE / "iris.csv", "--k", "2", "-o", out, "-q"]).exit_code == 0
    result = invoke(["sample", out, "-n", "40000", "--seed", "7"])
    assert result.exit_code == 0, result.stderr
    draws = pd.read_csv(io.StringIO(result.stdout)).to_numpy()
    doc = json.loads(out.read_text())["params"]["summary"]
    u, lam, s2 = np.asarray(doc["components"]), np.asarray(doc["explained_variance"]), doc["noise_variance"]
    cov = u.T @ np.diag(lam - s2) @ u + s2 * np.eye(4)
    # 40,000 draws: standard error of a covariance entry is ~ sqrt(2/n) * scale ≈ 0.7% of the scale
    np.testing.assert_allclose(np.cov(draws, rowvar=False), cov, atol=0.05 * np.abs(cov).max())
    np.testing.assert_allclose(draws.mean(axis=0), doc["mean"], atol=0.05)


def test_standardize_is_stored_and_reapplied(tmp_path):
    out = tmp_path / "pca.json"
    assert invoke(["pca", SAMPLE / "wine.csv", "--k", "3", "--standardize", "-o", out, "-q"]).exit_code == 0
    doc = json.loads(out.read_text())
    raw = _table("wine.csv")
    spec = doc["data"]["preprocessing"]["standardize"]
    np.testing.assert_allclose(spec["mean"], raw.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(spec["scale"], raw.std(axis=0), rtol=1e-12)
    z = (raw - raw.mean(axis=0)) / raw.std(axis=0)
    oracle = PCA(n_components=3).fit(z)
    pred = pd.read_csv(io.StringIO(invoke(["predict", out, SAMPLE / "wine.csv"]).stdout))
    np.testing.assert_allclose(np.abs(pred[["pc1", "pc2", "pc3"]].to_numpy()), np.abs(oracle.transform(z)), atol=1e-9)
    # samples come back in the raw units
    draws = pd.read_csv(io.StringIO(invoke(["sample", out, "-n", "20000", "--seed", "2"]).stdout)).to_numpy()
    assert (np.abs(draws.mean(axis=0) - raw.mean(axis=0)) < 0.05 * raw.std(axis=0)).all()


def test_k_equal_to_rank_has_no_loglik(tmp_path):
    result = invoke(["pca", SAMPLE / "iris.csv", "--k", "4", "--seed", "1"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["fit"]["elbo"] is None and doc["params"]["summary"]["noise_variance"] == 0.0


def test_csv_output_one_row_per_component():
    result = invoke(["pca", SAMPLE / "iris.csv", "--k", "3", "--format", "csv", "-q"])
    table = pd.read_csv(io.StringIO(result.stdout))
    assert list(table["component"]) == ["pc1", "pc2", "pc3"]
    oracle = PCA(n_components=3).fit(_table("iris.csv"))
    np.testing.assert_allclose(table["explained_variance"], oracle.explained_variance_, rtol=1e-9)
    np.testing.assert_allclose(np.abs(table.iloc[:, 3:].to_numpy()), np.abs(oracle.components_), atol=1e-9)


def test_float32_input_is_close_to_float64():
    x = _table("digits.csv")
    result = invoke(["pca", SAMPLE / "digits.csv", "--k", "5", "--dtype", "float32", "-q"])
    doc = json.loads(result.stdout)
    oracle = PCA(n_components=5).fit(x)
    # inputs are small integers (exact in float32) and accumulation is float64, so tight agreement holds
    np.testing.assert_allclose(doc["params"]["summary"]["explained_variance"], oracle.explained_variance_, rtol=1e-7)


@pytest.mark.parametrize("offset", [0.0, 1e6, 1e9])
def test_scatter_is_accurate_far_from_the_origin(offset):
    # a mean many standard deviations from 0 takes the shifted path; compare with
    # a two-pass float64 covariance of the exactly centred data
    rng = np.random.default_rng(5)
    centred = rng.normal(size=(3000, 4)) * [1.0, 2.0, 0.5, 3.0]
    x = centred + offset
    mean, scatter = model.mean_and_scatter(x, chunk_rows=512)
    exact_mean = x.mean(axis=0)
    np.testing.assert_allclose(mean, exact_mean, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(scatter, (x - exact_mean).T @ (x - exact_mean), rtol=1e-8, atol=1e-6)
