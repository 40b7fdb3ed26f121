"""``vifit autoencoder`` end to end: output, predict, errors, reproducibility."""

import json

import numpy as np
import pytest

from conftest import SAMPLE, invoke, run_subprocess

DIGITS = SAMPLE / "digits.csv"
QUICK = ["--epochs", "3", "--batch-size", "64", "--seed", "3", "-q"]


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("ae") / "small.csv"
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 2)) @ rng.normal(size=(2, 6)) + 0.1 * rng.normal(size=(120, 6))
    header = ",".join(f"c{j}" for j in range(6))
    np.savetxt(path, x, delimiter=",", header=header, comments="")
    return path


@pytest.fixture(scope="module")
def model(small_csv, tmp_path_factory):
    path = tmp_path_factory.mktemp("ae") / "ae.json"
    result = invoke(["autoencoder", small_csv, "--hidden", "5,2", *QUICK, "-o", path])
    assert result.exit_code == 0, result.stderr
    return path


def test_document_holds_architecture_weights_errors_and_curve(model):
    doc = json.loads(model.read_text())
    assert doc["model"] == "autoencoder" and doc["method"] == "adam"
    arch = doc["params"]["architecture"]
    assert arch["encoder"] == [6, 5, 2] and arch["decoder"] == [2, 5, 6] and arch["code_size"] == 2
    weights = doc["params"]["weights"]
    assert sorted(weights) == sorted(["encoder.0.W", "encoder.0.b", "encoder.1.W", "encoder.1.b",
                                      "decoder.0.W", "decoder.0.b", "decoder.1.W", "decoder.1.b"])
    assert np.array(weights["encoder.0.W"]).shape == (6, 5)
    per_feature = doc["params"]["summary"]["reconstruction_error_per_feature"]
    assert list(per_feature) == [f"c{j}" for j in range(6)]
    fit = doc["fit"]
    assert fit["elbo"] is None and fit["n_iter"] == 3 and len(fit["trace"]) == 3
    assert len(fit["validation_trace"]) == 3 and fit["n_validation_rows"] == 12
    assert fit["loss"] == pytest.approx(sum(per_feature.values()))
    assert doc["config"]["hidden"] == [5, 2] and doc["config"]["dtype"] == "float32"
    assert doc["config"]["seed"] == 3 and doc["config"]["epochs"] == 3


def test_predict_codes_errors_and_reconstructions(model, small_csv):
    result = invoke(["predict", model, small_csv])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "code1,code2,reconstruction_error" and len(lines) == 121
    errors = np.array([float(line.split(",")[-1]) for line in lines[1:]])
    assert errors.mean() == pytest.approx(json.loads(model.read_text())["fit"]["loss"], rel=1e-4)
    result = invoke(["predict", model, small_csv, "--reconstruct"])
    assert result.stdout.splitlines()[0] == ",".join(f"c{j}" for j in range(6))
    rebuilt = np.loadtxt(result.stdout.splitlines()[1:], delimiter=",")
    assert rebuilt.shape == (120, 6)
    raw = np.loadtxt(small_csv, delimiter=",", skiprows=1)
    assert np.allclose(((rebuilt - raw) ** 2).sum(axis=1), errors, rtol=1e-3, atol=1e-6)


def test_reconstructions_are_in_the_data_units_with_standardize(tmp_path):
    path = tmp_path / "std.json"
    assert invoke(["autoencoder", DIGITS, "--hidden", "8,2", "--standardize", *QUICK, "-o", path]).exit_code == 0
    result = invoke(["predict", path, DIGITS, "--reconstruct"])
    rebuilt = np.loadtxt(result.stdout.splitlines()[1:], delimiter=",")
    assert 2 < rebuilt.mean() < 8  # digits pixels are 0..16 with mean ~4.9, not standardized ~0


def test_sample_refuses(model):
    result = invoke(["sample", model, "-n", "3"])
    assert result.exit_code == 2 and "not a generative model" in result.stderr


def test_csv_output_is_a_long_table(small_csv):
    result = invoke(["autoencoder", small_csv, "--hidden", "3", *QUICK, "--format", "csv"])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "block,name,index,value"
    blocks = {line.split(",")[0] for line in lines[1:]}
    assert blocks == {"architecture", "weights", "reconstruction_error", "trace"}
    assert sum(line.startswith("weights,encoder.0.W,") for line in lines) == 6 * 3


def test_same_seed_gives_identical_output(small_csv):
    args = ["autoencoder", small_csv, "--hidden", "4,2", "--denoise", "0.2", *QUICK]
    first, second = json.loads(invoke(args).stdout), json.loads(invoke(args).stdout)
    first.pop("run"), second.pop("run")
    assert first == second
    third = json.loads(invoke([*args[:-3], "--seed", "4", "-q"]).stdout)
    assert third["params"]["weights"] != first["params"]["weights"]


def test_decoder_option_and_bce(tmp_path):
    x = np.random.default_rng(0).uniform(size=(60, 5))
    path = tmp_path / "unit.csv"
    np.savetxt(path, x, delimiter=",", header="a,b,c,d,e", comments="")
    result = invoke(["autoencoder", path, "--hidden", "4,2", "--decoder", "3,4", "--loss", "bce", *QUICK])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["params"]["architecture"]["decoder"] == [2, 3, 4, 5]
    assert doc["config"]["output_activation"] == "sigmoid"
    result = invoke(["autoencoder", path, "--hidden", "4,2", "--decoder", "none", *QUICK])
    assert json.loads(result.stdout)["params"]["architecture"]["decoder"] == [2, 5]


@pytest.mark.parametrize("hidden", ["64,x", "", "0", "8,,2", "-3", "2.5"])
def test_bad_architecture_strings(small_csv, hidden):
    result = invoke(["autoencoder", small_csv, "--hidden", hidden, *QUICK])
    assert result.exit_code == 2
    assert result.stderr.startswith("vifit: error: --hidden") and len(result.stderr.splitlines()) == 1


def test_bad_decoder_string(small_csv):
    result = invoke(["autoencoder", small_csv, "--decoder", "4;2", *QUICK])
    assert result.exit_code == 2 and "--decoder" in result.stderr


def test_bce_needs_unit_range_data_and_sigmoid():
    result = invoke(["autoencoder", DIGITS, "--loss", "bce", *QUICK])
    assert result.exit_code == 2 and "[0, 1]" in result.stderr
    result = invoke(["autoencoder", DIGITS, "--loss", "bce", "--output-activation", "relu", *QUICK])
    assert result.exit_code == 2 and "sigmoid" in result.stderr


def test_non_finite_loss_is_a_clear_error(small_csv, tmp_path):
    out = tmp_path / "never.json"
    result = invoke(["autoencoder", small_csv, "--optimizer", "sgd", "--lr", "1e6", "--epochs", "20",
                     "--seed", "0", "-q", "-o", out])
    assert result.exit_code == 2
    assert "loss became" in result.stderr and "at epoch" in result.stderr and "--lr" in result.stderr
    assert not out.exists()


def test_strict_exits_3_when_still_improving(small_csv):
    result = invoke(["autoencoder", small_csv, *QUICK, "--strict"])
    assert result.exit_code == 3 and "--epochs" in result.stderr
    result = invoke(["autoencoder", small_csv, *QUICK])
    assert result.exit_code == 0 and "raise --epochs" in result.stderr


def test_predict_rejects_other_columns(model):
    result = invoke(["predict", model, DIGITS])
    assert result.exit_code == 2 and "c0" in result.stderr


def test_help_has_an_example():
    result = invoke(["autoencoder", "--help"])
    assert result.exit_code == 0 and "Example:" in result.stdout and "--validation-fraction" in result.stdout


def test_real_process_plain_progress_on_stderr(small_csv):
    done = run_subprocess(["autoencoder", small_csv, "--hidden", "3", "--epochs", "2", "--seed", "1",
                           "--progress", "json"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["model"] == "autoencoder"
    events = [json.loads(line) for line in done.stderr.decode().splitlines() if line.startswith("{")]
    progress = [e for e in events if e.get("event") == "progress"]
    assert [e["step"] for e in progress] == [1, 2] and "val_loss" in progress[0]


def test_ctrl_c_writes_the_best_weights_marked_interrupted(small_csv, tmp_path, monkeypatch):
    from vifit.models.autoencoder import Autoencoder

    original, calls = Autoencoder.loss_and_grad, []

    def interrupted(self, x, rng):
        calls.append(1)
        if len(calls) == 2 * 2 + 1:  # first batch of epoch 3 (2 batches per epoch)
            raise KeyboardInterrupt
        return original(self, x, rng)

    monkeypatch.setattr(Autoencoder, "loss_and_grad", interrupted)
    out = tmp_path / "partial.json"
    result = invoke(["autoencoder", small_csv, "--hidden", "3", "--epochs", "50", "--batch-size", "64",
                     "--seed", "0", "-q", "-o", out])
    assert result.exit_code == 130 and "interrupted" in result.stderr
    fit = json.loads(out.read_text())["fit"]
    assert fit["status"] == "interrupted" and fit["n_iter"] == 2 and fit["stopped"] == "interrupted"
