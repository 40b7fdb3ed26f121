"""The notes' "linear AE = PCA", and a nonlinear autoencoder beating PCA on digits."""

import json

import numpy as np
from scipy.linalg import subspace_angles

from conftest import SAMPLE, invoke


def fit_json(args):
    result = invoke(args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def reconstruct(model_path, data):
    result = invoke(["predict", model_path, data, "--reconstruct"])
    assert result.exit_code == 0, result.stderr
    return np.loadtxt(result.stdout.splitlines()[1:], delimiter=",")


def test_linear_autoencoder_spans_the_pca_subspace(tmp_path):
    rng = np.random.default_rng(0)
    n, d, k = 400, 8, 3
    basis = np.linalg.qr(rng.normal(size=(d, k)))[0]
    x = (rng.normal(size=(n, k)) * [3.0, 2.0, 1.5]) @ basis.T + 0.1 * rng.normal(size=(n, d)) + 1.0
    path = tmp_path / "lowrank.csv"
    np.savetxt(path, x, delimiter=",", header=",".join(f"x{j}" for j in range(d)), comments="")

    pca = fit_json(["pca", path, "--k", k, "-q"])
    ae = fit_json(["autoencoder", path, "--hidden", k, "--activation", "identity", "--loss", "mse",
                   "--dtype", "float64", "--validation-fraction", "0", "--epochs", "400", "--patience", "400",
                   "--lr", "0.003", "--batch-size", "32", "--seed", "0", "-q"])
    assert ae["params"]["architecture"]["decoder"] == [k, d]  # single linear decoder layer
    decoder = np.array(ae["params"]["weights"]["decoder.0.W"])  # (k, d): its rows span the subspace
    components = np.array(pca["params"]["summary"]["components"])
    angles = np.degrees(subspace_angles(decoder.T, components.T))
    assert angles.max() < 1.0, angles


def test_nonlinear_autoencoder_beats_pca_on_digits(tmp_path):
    digits = SAMPLE / "digits.csv"
    raw = np.loadtxt(digits, delimiter=",", skiprows=1)
    k = 4
    pca_path, ae_path = tmp_path / "pca.json", tmp_path / "ae.json"
    assert invoke(["pca", digits, "--k", k, "-q", "-o", pca_path]).exit_code == 0
    result = invoke(["autoencoder", digits, "--hidden", f"64,{k}", "--epochs", "60", "--batch-size", "64",
                     "--lr", "0.003", "--seed", "0", "-q", "-o", ae_path])
    assert result.exit_code == 0, result.stderr
    pca_error = ((reconstruct(pca_path, digits) - raw) ** 2).sum(axis=1).mean()
    ae_error = ((reconstruct(ae_path, digits) - raw) ** 2).sum(axis=1).mean()
    # PCA is the best *linear* rank-k reconstruction of these very rows; the autoencoder,
    # which never saw its 10% validation rows, must still do clearly better.
    assert ae_error < 0.85 * pca_error, (ae_error, pca_error)
