"""The notes' "linear AE = PCA", and a nonlinear autoencoder beating PCA on digits."""

import json

import numpy as np
import pytest
from scipy.linalg import subspace_angles

from conftest import SAMPLE, invoke, run_subprocess


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


def test_default_stopping_calls_a_linear_autoencoder_converged_only_at_pca():
    """The default stopping rule (--patience/--tol windows) on standardised iris.

    Oracle: PCA by numpy's SVD of the same standardised rows. Trained on every row
    (--validation-fraction 0), the optimum of the mean squared reconstruction error over
    rank-k linear maps plus a bias is PCA's residual variance opt = sum_{i>k} lambda_i. For
    the projection P onto the decoder's column space (the best reconstruction from it, so
    loss >= its error), loss - opt >= (lambda_k - lambda_{k+1}) * sum_i sin^2(theta_i),
    theta_i the principal angles to the PCA subspace. So a loss within 0.5% of opt bounds
    every angle by asin(sqrt(0.005 opt / gap)): 1.9 degrees here. With a patience of 10
    epochs on the noisy epoch loss this run stopped "converged" 1.1% above opt."""
    raw = np.loadtxt(SAMPLE / "iris.csv", delimiter=",", skiprows=1, usecols=range(4))
    k = 2
    result = run_subprocess(["autoencoder", SAMPLE / "iris.csv", "--columns", "1-4", "--standardize",
                             "--hidden", k, "--activation", "identity", "--loss", "mse",
                             "--validation-fraction", "0", "--epochs", "3000", "--lr", "0.003",
                             "--batch-size", "32", "--seed", "2", "-q"])
    assert result.returncode == 0, result.stderr
    ae = json.loads(result.stdout)
    assert ae["fit"]["status"] == "converged"
    scaling = ae["data"]["preprocessing"]["standardize"]
    z = (raw - scaling["mean"]) / np.asarray(scaling["scale"])
    _, singular, vt = np.linalg.svd(z - z.mean(axis=0), full_matrices=False)
    eigenvalues = singular**2 / len(z)
    optimum, gap = eigenvalues[k:].sum(), eigenvalues[k - 1] - eigenvalues[k]
    excess = ae["fit"]["loss"] - optimum
    assert 0 <= excess <= 0.005 * optimum, ae["fit"]["loss"] / optimum
    decoder = np.array(ae["params"]["weights"]["decoder.0.W"])  # (k, d)
    angles = subspace_angles(decoder.T, vt[:k].T)
    assert np.sum(np.sin(angles) ** 2) <= excess / gap + 1e-9  # the bound above, as measured
    assert np.degrees(angles.max()) < np.degrees(np.arcsin(np.sqrt(0.005 * optimum / gap))) < 2.0


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


def _held_out_split(architecture: dict, n: int, seed: int):
    """The fit's rows (train, validation): the runner draws the network's initial weights,
    then the split, from the seed's generator."""
    from vifit.inference.sgd import split_validation
    from vifit.models import autoencoder as model

    rng = np.random.default_rng(seed)
    fields = ("encoder", "decoder", "activation", "output_activation", "loss")
    arch = model.Architecture(**{key: tuple(v) if isinstance(v, list) else v
                                 for key, v in architecture.items() if key in fields})
    model.Autoencoder(arch, dtype=np.float64, rng=rng)
    return split_validation(n, 0.1, rng)


@pytest.mark.parametrize("epochs", [500, 1000])
def test_the_default_hold_out_does_not_stop_a_linear_autoencoder_short_of_pca(tmp_path, epochs):
    """Breast cancer, standardised, k = 3, the default 10% validation rows.

    The held-out rows' loss levels off (and creeps up) long before the training loss
    reaches its optimum; a plateau of the validation loss stopped this run "converged"
    19.5 degrees from the PCA subspace at epoch 403. The network trains on the training
    rows only, so the oracle is their PCA (the held-out rows alone move the all-row
    optimum by 0.6% here): a run may say converged only within the bound of the test
    above, and otherwise must say it is not done and write its last weights."""
    from sklearn.datasets import load_breast_cancer

    raw = load_breast_cancer().data
    path = tmp_path / "cancer.csv"
    np.savetxt(path, raw, delimiter=",", header=",".join(f"c{j}" for j in range(raw.shape[1])), comments="")
    k, seed = 3, 2
    result = run_subprocess(["autoencoder", path, "--standardize", "--hidden", k, "--activation", "identity",
                             "--loss", "mse", "--epochs", epochs, "--seed", seed, "--dtype", "float64", "-q"])
    assert result.returncode == 0, result.stderr
    ae = json.loads(result.stdout)
    fit, weights = ae["fit"], {name: np.array(v) for name, v in ae["params"]["weights"].items()}
    scaling = ae["data"]["preprocessing"]["standardize"]
    z = (raw - scaling["mean"]) / np.asarray(scaling["scale"])

    def loss(rows):
        codes = rows @ weights["encoder.0.W"] + weights["encoder.0.b"]
        return float((((codes @ weights["decoder.0.W"] + weights["decoder.0.b"]) - rows) ** 2).sum(axis=1).mean())

    train_rows, val_rows = _held_out_split(ae["params"]["architecture"], len(z), seed)
    assert loss(z[val_rows]) == pytest.approx(fit["validation_loss"], rel=1e-12)  # the split reproduced
    zt = z[train_rows]
    _, singular, vt = np.linalg.svd(zt - zt.mean(axis=0), full_matrices=False)
    eigenvalues = singular**2 / len(zt)
    optimum, gap = eigenvalues[k:].sum(), eigenvalues[k - 1] - eigenvalues[k]
    angles = subspace_angles(weights["decoder.0.W"].T, vt[:k].T)
    if fit["status"] == "converged":
        excess = loss(zt) - optimum
        assert fit["stopped_by"] == "training" and fit["weights_epoch"] == fit["n_iter"]
        assert 0 <= excess <= 0.005 * optimum, loss(zt) / optimum
        assert np.sum(np.sin(angles) ** 2) <= excess / gap + 1e-9
    else:  # still short of its optimum when the epochs ran out: said so, the last weights written
        assert fit["status"] == "max_iter" and fit["stopped_by"] == "epochs" and fit["weights_epoch"] == epochs
    assert fit["status"] == ("max_iter" if epochs == 500 else "converged")  # both branches are exercised


def test_a_rising_validation_loss_stops_an_overfitting_autoencoder_at_its_best_epoch(tmp_path):
    """A wide tanh autoencoder on 30 noisy rows memorises them: the held-out loss rises
    while the training loss falls. The run stops by the validation rule and writes the
    weights of the lowest held-out loss, checked through predict on the held-out rows."""
    rng = np.random.default_rng(0)
    n, d = 40, 10
    x = rng.normal(size=(n, 2)) @ rng.normal(size=(2, d)) + 0.5 * rng.normal(size=(n, d))
    path, model = tmp_path / "noisy.csv", tmp_path / "ae.json"
    np.savetxt(path, x, delimiter=",", header=",".join(f"x{j}" for j in range(d)), comments="")
    result = run_subprocess(["autoencoder", path, "--hidden", "64,64,8", "--activation", "tanh",
                             "--validation-fraction", "0.25", "--epochs", "3000", "--lr", "0.003",
                             "--batch-size", "10", "--dtype", "float64", "--seed", "0", "-o", model])
    assert result.returncode == 0, result.stderr
    fit = json.loads(model.read_text())["fit"]
    assert fit["status"] == "converged" and fit["stopped_by"] == "validation"
    assert fit["stopped"] == "validation loss rose"
    trace = fit["validation_trace"]
    best_epoch, best = min(trace, key=lambda p: p[1])
    assert fit["weights_epoch"] == fit["best_epoch"] == best_epoch < fit["n_iter"]
    assert f"kept the weights of epoch {best_epoch}, the lowest validation loss" in result.stderr.decode()
    # the written weights: predict's per-row errors average to fit.loss, and the held-out
    # loss recomputed from them at the end of the fit is the trace's minimum
    predicted = invoke(["predict", model, path])
    assert predicted.exit_code == 0, predicted.stderr
    errors = np.loadtxt(predicted.stdout.splitlines()[1:], delimiter=",")[:, -1]
    assert errors.mean() == pytest.approx(fit["loss"])
    assert fit["validation_loss"] == pytest.approx(best, rel=1e-9)
