"""``vifit score``: held-out log density per row, in nats of the data as read.

Oracles: predict's own per-row log density (gmm), the PPCA Gaussian written out with scipy
from the model file's components (pca), an importance estimate of log p(x) drawn from the
prior, independent of the encoder (vae), and the change of variables itself: a standardised
fit scored on raw rows equals a raw fit of the standardised rows minus N * sum(log scale).
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import SAMPLE, invoke, run_subprocess

IRIS = SAMPLE / "iris.csv"


def _score(*args) -> dict:
    result = invoke(["score", *args, "-q"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _fit(tmp_path, name, *args) -> str:
    path = tmp_path / f"{name}.json"
    result = invoke([*args, "--seed", "0", "-q", "-o", path])
    assert result.exit_code == 0, result.stderr
    return str(path)


def _iris_numbers() -> np.ndarray:
    return pd.read_csv(IRIS).select_dtypes("number").to_numpy(dtype=np.float64)


def test_gmm_score_is_the_mean_of_predicts_log_density(tmp_path):
    model = _fit(tmp_path, "gmm", "gmm", IRIS, "--k", "3")
    summary = _score(model, IRIS, "--rows", tmp_path / "rows.csv")
    predicted = invoke(["predict", model, IRIS, "-q"])
    log_density = pd.read_csv(io.StringIO(predicted.stdout))["log_density"].to_numpy()
    assert summary["schema"] == "vifit.score/1" and summary["model"] == "gmm" and summary["has_density"]
    assert summary["n_rows"] == summary["n_scored"] == 150
    assert summary["mean"] == pytest.approx(log_density.mean(), rel=1e-12)
    assert summary["total"] == pytest.approx(log_density.sum(), rel=1e-12)
    assert summary["standard_error"] == pytest.approx(log_density.std(ddof=1) / np.sqrt(150), rel=1e-9)
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert list(rows.columns) == ["row", "log_density"]
    assert rows["row"].tolist() == list(range(1, 151))
    np.testing.assert_allclose(rows["log_density"], log_density, rtol=1e-13)


@pytest.mark.parametrize("standardize", [False, True])
def test_pca_score_is_the_ppca_gaussian_of_the_written_components(tmp_path, standardize):
    flags = ["--standardize"] if standardize else []
    model = _fit(tmp_path, "pca", "pca", IRIS, "--k", "2", *flags)
    document = json.loads(open(model).read())
    written = document["params"]["summary"]
    components = np.asarray(written["components"])  # (k, d), orthonormal rows
    explained = np.asarray(written["explained_variance"])
    noise = float(written["noise_variance"])
    mean = np.asarray(written["mean"])
    d = components.shape[1]
    # Tipping & Bishop: C = U diag(lambda) U^T + sigma^2 (I - U U^T), in the working frame
    cov = components.T @ np.diag(explained) @ components + noise * (np.eye(d) - components.T @ components)
    x = _iris_numbers()
    centre = mean
    if standardize:  # the same Gaussian in data units: x = s * z + m
        spec = document["data"]["preprocessing"]["standardize"]
        s, m = np.asarray(spec["scale"]), np.asarray(spec["mean"])
        cov, centre = np.diag(s) @ cov @ np.diag(s), s * mean + m
    expected = stats.multivariate_normal(centre, cov).logpdf(x)
    summary = _score(model, IRIS)
    assert summary["mean"] == pytest.approx(expected.mean(), rel=1e-9)
    assert summary["total"] == pytest.approx(expected.sum(), rel=1e-9)


def _prior_estimate(model: str, x: np.ndarray, draws: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """(log p(x) estimate, its standard error) per row from z ~ N(0, I) draws through the decoder:
    p(x) = E_prior p(x | z), the Gaussian likelihood evaluated here, no encoder involved."""
    from vifit.documents import vae as model_file
    from vifit.output import read_document

    document = read_document(model)
    net = model_file.load(document, model)
    z = rng.standard_normal((draws, net.arch.latent))
    means = net.likelihood.mean(net.decode(z))  # (draws, d)
    variance = np.exp(np.asarray(net.likelihood.logvar, dtype=np.float64))
    out, errors = [], []
    for row in x:
        log_lik = stats.norm(means, np.sqrt(variance)).logpdf(row).sum(axis=1)
        top = log_lik.max()
        w = np.exp(log_lik - top)
        out.append(top + np.log(w.mean()))
        errors.append(w.std(ddof=1) / np.sqrt(draws) / w.mean())  # delta method: sd of log mean
    return np.asarray(out), np.asarray(errors)


def test_vae_iwae_rises_with_samples_and_stays_below_log_p(tmp_path):
    rows = _iris_numbers()
    model = _fit(tmp_path, "vae", "vae", IRIS, "--latent", "2", "--epochs", "40", "--standardize")
    means = [_score(model, IRIS, "--iwae-samples", k)["mean"] for k in (1, 10, 1000)]
    assert means[0] < means[1] < means[2]
    elbo = _score(model, IRIS, "--iwae-samples", 1000)["elbo"]["mean"]
    assert elbo < means[2]  # the ELBO is the bound IWAE tightens
    # log p(x) by prior sampling (exact up to Monte Carlo), on the first 20 rows, in data units
    x_raw = rows[:20]
    spec = json.loads(open(model).read())["data"]["preprocessing"]["standardize"]
    x = (x_raw - np.asarray(spec["mean"])) / np.asarray(spec["scale"])
    estimate, se = _prior_estimate(model, x, 200_000, np.random.default_rng(7))
    upper = (estimate + 4 * se).mean() - np.log(np.asarray(spec["scale"])).sum()
    pd.DataFrame(x_raw, columns=pd.read_csv(IRIS).select_dtypes("number").columns).to_csv(tmp_path / "head.csv",
                                                                                           index=False)
    iwae = _score(model, tmp_path / "head.csv", "--iwae-samples", 1000)["mean"]
    assert iwae <= upper
    assert iwae > upper - 0.5  # and close: K = 1000 draws leave little of the gap on a 2-D latent


@pytest.mark.parametrize("command", [["gmm", "--k", "3"], ["pca", "--k", "2"],
                                     ["vae", "--latent", "2", "--epochs", "5"]])
def test_a_standardised_fit_scores_as_a_raw_fit_of_the_standardised_rows(tmp_path, command):
    """log p(x) = log p(z) - sum_j log s_j per row: over N rows, N * sum(log s)."""
    standardised = _fit(tmp_path, "std", command[0], IRIS, *command[1:], "--standardize")
    spec = json.loads(open(standardised).read())["data"]["preprocessing"]["standardize"]
    frame = pd.read_csv(IRIS).select_dtypes("number")
    from vifit.preprocess import apply_preprocessing

    z = apply_preprocessing(frame.to_numpy(dtype=np.float64), {"standardize": spec})
    z_path = tmp_path / "z.csv"
    pd.DataFrame(z, columns=frame.columns).to_csv(z_path, index=False)  # repr digits: the same doubles read back
    raw = _fit(tmp_path, "raw", command[0], z_path, *command[1:])
    on_x = _score(standardised, IRIS)["total"]
    on_z = _score(raw, z_path)["total"]
    assert on_x == pytest.approx(on_z - len(z) * np.log(spec["scale"]).sum(), abs=1e-9)


def test_fit_data_units_puts_the_standardised_elbo_in_nats_of_the_data(tmp_path):
    """With data-scaled default priors the gmm is equivariant under scaling, so the standardised
    fit's ELBO in data units is the raw fit's ELBO; fit.elbo itself differs (-445 vs -335 on iris)."""
    raw = json.loads(open(_fit(tmp_path, "raw", "gmm", IRIS, "--k", "3")).read())["fit"]
    std = json.loads(open(_fit(tmp_path, "std", "gmm", IRIS, "--k", "3", "--standardize")).read())["fit"]
    assert abs(std["elbo"] - raw["elbo"]) > 50
    assert std["data_units"]["elbo"] == pytest.approx(raw["elbo"], rel=1e-9)
    assert raw["data_units"]["elbo"] == raw["elbo"] and raw["data_units"]["log_jacobian"] == 0.0
    scale = np.asarray(json.loads(open(tmp_path / "std.json").read())["data"]["preprocessing"]["standardize"]["scale"])
    assert std["data_units"]["log_jacobian"] == pytest.approx(-150 * np.log(scale).sum(), rel=1e-12)


def test_an_autoencoder_has_no_density(tmp_path):
    model = _fit(tmp_path, "ae", "autoencoder", IRIS, "--epochs", "3")
    summary = _score(model, IRIS, "--rows", tmp_path / "rows.csv")
    assert summary["has_density"] is False and summary["mean"] is None and summary["units"] is None
    assert summary["reconstruction_error"]["n_rows"] == 150
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert list(rows.columns) == ["row", "reconstruction_error"]
    assert rows["reconstruction_error"].mean() == pytest.approx(summary["reconstruction_error"]["mean"], rel=1e-12)
    assert "fit" in json.loads(open(model).read()) and "data_units" not in json.loads(open(model).read())["fit"]


@pytest.mark.parametrize("args, words", [
    (["{gmm}", SAMPLE / "wine.csv"], "lacks"),
    (["{gmm}", IRIS, "--iwae-samples", "3"], "applies to vae"),
    (["{gmm}", IRIS, "--rows", "{same}", "-o", "{same}"], "different files"),
    (["{gmm}", IRIS, "-o", "{gmm}"], "destroy"),
    (["{gmm}", IRIS, "--rows", "-"], "stdout"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, args, words):
    model = _fit(tmp_path, "gmm", "gmm", IRIS, "--k", "2")
    same = tmp_path / "same.csv"
    filled = [str(a).format(gmm=model, same=same) for a in args]
    result = run_subprocess(["score", *filled])
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert len(stderr.strip().splitlines()) == 1 and words in stderr and "Traceback" not in stderr
    assert not same.exists()
    assert json.loads(open(model).read())["model"] == "gmm"  # the model file is untouched


def test_standardize_with_missing_cells_uses_each_columns_observed_cells(tmp_path):
    """Missing cells (kept as NaN for the model to marginalise) once made --standardize's figures NaN
    ("column 'b' has no value in any row"); the mean and sd are now the observed cells', for the
    table and for the stream alike, and the fit in data units is the raw fit (equivariance)."""
    rng = np.random.default_rng(3)
    x = rng.normal([1.0, 5.0], [2.0, 0.5], size=(60, 2))
    x[rng.random(x.shape) < 0.15] = np.nan
    x[0, 0] = np.nan  # the first row has a hole too: the stream's shift must skip it
    data = tmp_path / "holes.csv"
    pd.DataFrame(x, columns=["a", "b"]).to_csv(data, index=False)
    raw = json.loads(open(_fit(tmp_path, "raw", "gmm", data, "--k", "2")).read())
    std = json.loads(open(_fit(tmp_path, "std", "gmm", data, "--k", "2", "--standardize")).read())
    svi = json.loads(open(_fit(tmp_path, "svi", "gmm", data, "--k", "2", "--standardize", "--method", "svi",
                               "--epochs", "2")).read())
    spec = std["data"]["preprocessing"]["standardize"]
    np.testing.assert_allclose(spec["mean"], np.nanmean(x, axis=0), rtol=1e-12)
    np.testing.assert_allclose(spec["scale"], np.nanstd(x, axis=0), rtol=1e-12)
    streamed = svi["data"]["preprocessing"]["standardize"]
    np.testing.assert_allclose(streamed["mean"], spec["mean"], rtol=1e-12)
    np.testing.assert_allclose(streamed["scale"], spec["scale"], rtol=1e-12)
    observed = (~np.isnan(x)).sum(axis=0)
    assert std["fit"]["data_units"]["log_jacobian"] == pytest.approx(-(observed * np.log(spec["scale"])).sum(),
                                                                     rel=1e-12)
    assert std["fit"]["data_units"]["elbo"] == pytest.approx(raw["fit"]["elbo"], rel=1e-9)
