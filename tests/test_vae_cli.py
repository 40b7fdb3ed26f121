"""``vifit vae`` end to end: the document, progress, predict, sample, errors, signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from conftest import ROOT, SAMPLE, invoke

DIGITS = SAMPLE / "digits.csv"
BERNOULLI = ["--likelihood", "bernoulli", "--scale", "minmax", "--hidden", "16", "--latent", "2"]
QUICK = ["--epochs", "3", "--seed", "3", "-q"]


@pytest.fixture(autouse=True)
def one_blas_thread():
    with threadpool_limits(1):  # small GEMMs: threads only contend on a shared machine
        yield


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("vae") / "vae.json"
    with threadpool_limits(1):
        result = invoke(["vae", DIGITS, *BERNOULLI, *QUICK, "--iwae-samples", "20", "-o", path])
    assert result.exit_code == 0, result.stderr
    return path


def _csv(text):
    lines = text.strip().splitlines()
    return lines[0].split(","), np.array([[float(v) for v in line.split(",")] for line in lines[1:]])


def test_document_holds_architecture_weights_elbo_and_iwae(digits_model):
    doc = json.loads(digits_model.read_text())
    assert doc["model"] == "vae" and doc["method"] == "adam"
    arch = doc["params"]["architecture"]
    assert arch["encoder"] == [64, 16] and arch["latent"] == 2 and arch["decoder"] == [2, 16, 64]
    assert arch["likelihood"] == "bernoulli"
    weights = doc["params"]["weights"]
    assert sorted(weights) == sorted(f"{part}.{l}.{p}" for part in ("encoder", "decoder")
                                     for l in (0, 1) for p in ("W", "b"))
    assert np.array(weights["encoder.1.W"]).shape == (16, 4)  # head: [mu | rho]
    config = doc["config"]
    for key, value in {"latent": 2, "hidden": [16], "samples": 1, "beta": 1.0, "kl_warmup": 0,
                       "iwae_samples": 20, "scale": "minmax", "likelihood": "bernoulli", "dtype": "float32",
                       "fixed_variance": None, "seed": 3, "epochs": 3}.items():
        assert config[key] == value, key
    minmax = doc["data"]["preprocessing"]["minmax"]
    assert minmax["min"][0] == 0 and minmax["range"][1] == 8  # p1 spans [0, 8] in digits
    fit = doc["fit"]
    assert fit["elbo"] < 0 and fit["elbo_per_row"] == pytest.approx(fit["elbo"] / 1797)
    assert fit["n_iter"] == 3 and len(fit["trace"]) == 3 and len(fit["validation_trace"]) == 3
    assert fit["iwae_rows"] == "validation" and fit["n_iwae_rows"] == 180 and fit["iwae_samples"] == 20
    assert fit["log_likelihood_iwae_per_row"] == pytest.approx(fit["log_likelihood_iwae"] / 180)
    assert fit["log_likelihood_iwae_per_row"] > fit["iwae_elbo_per_row"]
    assert fit["kl_per_row"] > 0
    assert fit["reconstruction_per_row"] - fit["kl_per_row"] == pytest.approx(fit["elbo_per_row"])


def test_progress_reports_training_and_validation_elbo(tmp_path):
    result = invoke(["vae", DIGITS, *BERNOULLI, "--epochs", "2", "--seed", "1", "--progress", "json",
                     "-o", tmp_path / "m.json"])
    assert result.exit_code == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    progress = [e for e in events if e["event"] == "progress"]
    assert [e["step"] for e in progress] == [1, 2]
    assert all(e["elbo"] < 0 and e["val_elbo"] < 0 for e in progress)
    trace = json.loads((tmp_path / "m.json").read_text())["fit"]["trace"]
    assert [e["elbo"] for e in progress] == [v for _, v in trace]


def test_predict_writes_latent_means_sds_elbo_and_iwae(digits_model):
    result = invoke(["predict", digits_model, DIGITS])
    assert result.exit_code == 0, result.stderr
    names, rows = _csv(result.stdout)
    assert names == ["mu1", "mu2", "sigma1", "sigma2", "elbo", "log_likelihood_iwae"]
    assert rows.shape == (1797, 6)
    assert (rows[:, 2:4] > 0).all() and (rows[:, 4] < 0).all()
    assert rows[:, 5].mean() > rows[:, 4].mean()
    assert invoke(["predict", digits_model, DIGITS]).stdout == result.stdout  # seeded by the fit


def test_reconstruct_is_in_the_data_units(digits_model):
    names, rows = _csv(invoke(["predict", digits_model, DIGITS, "--reconstruct"]).stdout)
    assert names[:2] == ["p0", "p1"] and rows.shape == (1797, 64)
    assert rows.min() >= 0 and rows.max() <= 16 and rows.max() > 1


def test_sample_means_and_draws(digits_model):
    names, means = _csv(invoke(["sample", digits_model, "-n", "30", "--seed", "1", "--mean"]).stdout)
    assert len(names) == 64 and means.shape == (30, 64)
    assert ((means > 0) & (means < 16)).any() and means.min() >= 0 and means.max() <= 16
    _, draws = _csv(invoke(["sample", digits_model, "-n", "30", "--seed", "1"]).stdout)
    doc = json.loads(digits_model.read_text())
    low = np.array(doc["data"]["preprocessing"]["minmax"]["min"])
    high = low + np.array(doc["data"]["preprocessing"]["minmax"]["range"])
    assert np.all((draws == low) | (draws == high))      # Bernoulli draws, mapped back to the data's range
    assert invoke(["sample", digits_model, "-n", "30", "--seed", "1", "--draw"]).stdout == \
        invoke(["sample", digits_model, "-n", "30", "--seed", "1"]).stdout


def test_gaussian_fixed_variance_and_standardize(tmp_path):
    model = tmp_path / "fixed.json"
    result = invoke(["vae", SAMPLE / "wine.csv", "--standardize", "--fixed-variance", "0.5", "--samples", "3",
                     "--kl-warmup", "2", "--beta", "0.5", *QUICK, "-o", model])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(model.read_text())
    assert "decoder.logvar" not in doc["params"]["weights"]
    assert set(doc["params"]["summary"]["noise_variance"].values()) == {0.5}
    assert "standardize" in doc["data"]["preprocessing"]
    _, draws = _csv(invoke(["sample", model, "-n", "200", "--seed", "2"]).stdout)
    assert draws[:, -1].mean() > 100                    # proline, back in its own units
    learned = json.loads(invoke(["vae", SAMPLE / "wine.csv", "--standardize", *QUICK]).stdout)
    assert learned["params"]["weights"]["decoder.logvar"] and learned["config"]["fixed_variance"] is None


def test_kl_warmup_changes_the_training_objective(tmp_path):
    plain = json.loads(invoke(["vae", DIGITS, *BERNOULLI, *QUICK]).stdout)
    warm = json.loads(invoke(["vae", DIGITS, *BERNOULLI, *QUICK, "--kl-warmup", "3"]).stdout)
    assert warm["config"]["kl_warmup"] == 3
    assert warm["fit"]["trace"] != plain["fit"]["trace"]


WINE_GAUSSIAN = [SAMPLE / "wine.csv", "--standardize", "--hidden", "4", "--latent", "2", "--epochs", "2",
                 "--seed", "3", "-q"]


def test_output_elbo_uses_beta_one_whatever_beta(monkeypatch):
    """With the optimiser frozen the weights stay at their (seeded) start, so fits with
    different --beta must report the same ELBOs; the training losses show beta was used."""
    from vifit.models import vae as model
    from vifit.nn import optim

    monkeypatch.setattr(optim.Adam, "step", lambda self, data, grad: None)
    losses = []
    train = model.VAE.loss_and_grad

    def recording_loss(self, *args, **kw):
        losses.append(train(self, *args, **kw))
        return losses[-1]

    monkeypatch.setattr(model.VAE, "loss_and_grad", recording_loss)
    fits, first_losses = {}, {}
    for beta in ("1", "4"):
        losses.clear()
        result = invoke(["vae", *WINE_GAUSSIAN, "--beta", beta])
        assert result.exit_code == 0, result.stderr
        document = json.loads(result.stdout)
        assert document["config"]["beta"] == float(beta)
        fits[beta], first_losses[beta] = document["fit"], losses[0]
    assert first_losses["4"] > first_losses["1"]  # same weights and draws: beta = 4 adds 3 x KL > 0
    reported = ("elbo", "elbo_per_row", "trace", "validation_trace", "train_elbo_per_row",
                "validation_elbo_per_row", "log_likelihood_iwae", "iwae_elbo_per_row", "kl_per_row")
    assert {key: fits["4"][key] for key in reported} == {key: fits["1"][key] for key in reported}


def test_samples_option_reaches_the_training_loss(monkeypatch):
    """--samples 3: recorded in config, and every training step draws 3 z per row."""
    from vifit.models import vae as model

    draws = []
    train = model.VAE.loss_and_grad

    def counting_draws(self, *args, **kw):
        forward = self.sampler.forward

        def forward_counting(mu, sigma, eps):
            draws.append(eps.shape[0])
            return forward(mu, sigma, eps)

        self.sampler.forward = forward_counting
        try:
            return train(self, *args, **kw)
        finally:
            del self.sampler.forward

    monkeypatch.setattr(model.VAE, "loss_and_grad", counting_draws)
    documents = {}
    for samples in ("1", "3"):
        draws.clear()
        result = invoke(["vae", *WINE_GAUSSIAN, "--samples", samples])
        assert result.exit_code == 0, result.stderr
        documents[samples] = json.loads(result.stdout)
        assert draws and set(draws) == {int(samples)}
    assert documents["3"]["config"]["samples"] == 3
    assert documents["3"]["fit"]["elbo_estimator"].startswith("3 reparameterised draw(s)")
    assert documents["3"]["fit"]["trace"] != documents["1"]["fit"]["trace"]


def test_same_seed_same_document_other_seed_other(tmp_path):
    def run(seed):
        text = invoke(["vae", DIGITS, *BERNOULLI, "--epochs", "2", "-q", "--seed", seed]).stdout
        doc = json.loads(text)
        doc.pop("run")
        return doc

    assert run(4) == run(4)
    assert run(4)["params"]["weights"] != run(5)["params"]["weights"]


@pytest.mark.parametrize("args,words", [
    (["--likelihood", "bernoulli"], ["digits.csv", "[0, 16]", "--scale minmax"]),
    (["--likelihood", "bernoulli", "--fixed-variance", "1"], ["--fixed-variance", "gaussian"]),
    (["--scale", "minmax", "--standardize"], ["--scale minmax", "--standardize"]),
    (["--hidden", "8,x"], ["--hidden", "'x'"]),
    (["--iwae-samples", "0"], ["--iwae-samples"]),
    (["--kl-warmup", "-1"], ["--kl-warmup"]),
])
def test_bad_options_exit_2_with_one_line_and_no_file(tmp_path, args, words):
    out = tmp_path / "m.json"
    result = invoke(["vae", DIGITS, *args, "--epochs", "1", "-o", out])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert all(w in line for w in words), line
    assert not out.exists()


def _one_error_line(result):
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert line and "\n" not in line and "Traceback" not in line
    return line


def test_predict_outside_the_fitted_range_names_it_without_a_scale_hint(tmp_path, digits_model):
    """predict has no --scale: it redoes the fit's minmax, so data beyond the fit's range cannot be
    mended by an option; the message says where the data left the range and what the model needs."""
    header, *rows = DIGITS.read_text().splitlines()
    columns = header.split(",")
    values = [row.split(",") for row in rows[:5]]
    values[3][2] = "40"                                   # p2 spans [0, 16] in digits: 40 maps to 2.5
    data = tmp_path / "wider.csv"
    data.write_text("\n".join([header] + [",".join(v) for v in values]) + "\n")
    out = tmp_path / "predicted.csv"
    out.write_text("keep me\n")
    line = _one_error_line(invoke(["predict", digits_model, data, "-o", out]))
    assert "--scale" not in line
    for words in ("wider.csv", "row 4", repr(columns[2]), "holds 40", str(digits_model), "after the model's scaling",
                  "span [0, 2.5]", "[0, 1]"):
        assert words in line, (words, line)
    assert out.read_text() == "keep me\n"


def test_predict_outside_unit_range_without_scaling(tmp_path):
    data = tmp_path / "unit.csv"
    rng = np.random.default_rng(0)
    np.savetxt(data, rng.random((40, 3)), delimiter=",", header="a,b,c", comments="")
    model = tmp_path / "m.json"
    fit = invoke(["vae", data, "--likelihood", "bernoulli", "--hidden", "4", "--latent", "1", *QUICK, "-o", model])
    assert fit.exit_code == 0, fit.stderr
    np.savetxt(data, [[0.5, -0.25, 0.5], [0.1, 0.2, 0.3]], delimiter=",", header="a,b,c", comments="")
    line = _one_error_line(invoke(["predict", model, data]))
    assert "--scale" not in line
    for words in ("row 1", "column 'b'", "holds -0.25", "as given (the model applies no scaling)",
                  "span [-0.25, 0.5]", "[0, 1]"):
        assert words in line, (words, line)


def test_sample_mean_is_refused_for_other_models(tmp_path):
    pca = tmp_path / "pca.json"
    assert invoke(["pca", SAMPLE / "iris.csv", "-q", "-o", pca]).exit_code == 0
    result = invoke(["sample", pca, "--mean"])
    assert result.exit_code == 2 and "vae" in result.stderr


def test_non_finite_loss_names_the_epoch(tmp_path):
    # data whose squares overflow float32 are refused before training (naming the column), so a
    # diverging step size is what makes the loss non-finite here
    data = tmp_path / "huge.csv"
    np.savetxt(data, np.random.default_rng(0).normal(size=(50, 4)) * 1e38, delimiter=",",
               header="a,b,c,d", comments="")
    out = tmp_path / "m.json"
    result = invoke(["vae", data, "--seed", "0", "-o", out])
    assert result.exit_code == 2
    assert "column 'a'" in result.stderr and "--standardize" in result.stderr and not out.exists()
    np.savetxt(data, np.random.default_rng(0).normal(size=(50, 4)), delimiter=",", header="a,b,c,d", comments="")
    result = invoke(["vae", data, "--seed", "0", "--lr", "1e12", "-o", out])
    assert result.exit_code == 2
    assert "became nan at epoch 1" in result.stderr and not out.exists()


def test_stop_request_writes_best_so_far_as_interrupted(tmp_path, monkeypatch):
    from vifit import interrupt

    calls = []

    def requested():
        calls.append(1)
        return len(calls) >= 2

    monkeypatch.setattr(interrupt, "requested", requested)  # what the command passes as should_stop
    out = tmp_path / "m.json"
    result = invoke(["vae", DIGITS, *BERNOULLI, "--epochs", "50", "--seed", "1", "-q", "-o", out])
    assert result.exit_code == 130
    fit = json.loads(out.read_text())["fit"]
    assert fit["status"] == "interrupted" and fit["n_iter"] == 2 and fit["stopped"] == "interrupted"


def test_sigint_in_a_real_process(tmp_path):
    out = tmp_path / "m.json"
    proc = subprocess.Popen([sys.executable, "-m", "vifit", "vae", str(DIGITS), *BERNOULLI, "--epochs", "100000",
                             "--patience", "100000", "--seed", "1", "--progress", "json", "-o", str(out)],
                            cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env={**__import__("os").environ, "OPENBLAS_NUM_THREADS": "1"})
    for line in proc.stderr:  # wait for the first finished epoch, then interrupt
        if '"event": "progress"' in line:
            proc.send_signal(signal.SIGINT)
            break
    proc.stderr.read()
    assert proc.wait(timeout=120) == 130
    fit = json.loads(out.read_text())["fit"]
    assert fit["status"] == "interrupted" and fit["n_iter"] >= 1


def test_plot_draws_curves_latent_means_and_decoded_digits(tmp_path, digits_model):
    pytest.importorskip("matplotlib")
    out = tmp_path / "vae.png"
    result = invoke(["plot", digits_model, DIGITS, "--image-shape", "8x8", "-o", out])
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
