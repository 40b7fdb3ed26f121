"""The Python API: vifit.GMM/PCA/Autoencoder/VAE write the CLI's documents, read them back, agree
with ``vifit predict``, and behave as scikit-learn estimators."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import vifit
from conftest import SAMPLE, invoke
from vifit.errors import BadInput
from vifit.output import render_json

# Each case: the estimator, the CLI arguments that ask for the same fit (small and quick).
NETWORK = {"epochs": 3, "batch_size": 32}
CASES = {
    "gmm-cavi": (lambda: vifit.GMM(k=3, seed=4), ["gmm", "--k", "3"]),
    "gmm-svi": (lambda: vifit.GMM(k=3, method="svi", epochs=3, batch_size=50, seed=4),
                ["gmm", "--k", "3", "--method", "svi", "--epochs", "3", "--batch-size", "50", "--no-stream"]),
    "gmm-diag-standardized": (lambda: vifit.GMM(k=2, covariance="diag", standardize=True, seed=4),
                              ["gmm", "--k", "2", "--covariance", "diag", "--standardize"]),
    "pca": (lambda: vifit.PCA(k=2, seed=4), ["pca", "--k", "2"]),
    "autoencoder": (lambda: vifit.Autoencoder(hidden="8,2", seed=4, **NETWORK),
                    ["autoencoder", "--hidden", "8,2", "--epochs", "3", "--batch-size", "32"]),
    "vae": (lambda: vifit.VAE(hidden="8", latent=2, iwae_samples=5, seed=4, **NETWORK),
            ["vae", "--hidden", "8", "--latent", "2", "--iwae-samples", "5", "--epochs", "3", "--batch-size", "32"]),
}


@pytest.fixture(scope="module")
def iris():
    return pd.read_csv(SAMPLE / "iris.csv").drop(columns="species")


@pytest.fixture(scope="module")
def fitted(iris, tmp_path_factory):
    """{case: (estimator fitted to the DataFrame, path of the CLI's document, data path)}."""
    folder = tmp_path_factory.mktemp("api")
    data = folder / "iris.csv"
    iris.to_csv(data, index=False)
    out = {}
    for name, (make, args) in CASES.items():
        cli_path = folder / f"{name}.json"
        result = invoke([*args, data, "--seed", "4", "-q", "-o", cli_path])
        assert result.exit_code == 0, result.stderr
        out[name] = (make().fit(iris), cli_path, data)
    return out


def _without_run(document: dict) -> dict:
    document = json.loads(json.dumps(document))
    document.pop("run")
    document["data"]["source"] = None
    return document


def _predict_csv(model_path, data_path) -> tuple[list[str], np.ndarray]:
    result = invoke(["predict", model_path, data_path, "-q"])
    assert result.exit_code == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    return rows[0], np.array([[float(c) if c else np.nan for c in row] for row in rows[1:]])


@pytest.mark.parametrize("name", CASES)
def test_save_writes_the_clis_document(name, fitted, tmp_path):
    model, cli_path, _ = fitted[name]
    model.save(tmp_path / "api.json")
    api_text, cli_text = (tmp_path / "api.json").read_text(), cli_path.read_text()
    api, cli = json.loads(api_text), json.loads(cli_text)
    assert api["data"]["source"] == "<array>"
    assert _without_run(api) == _without_run(cli)
    # byte-identical once the two blocks that must differ are made equal
    cli["run"], cli["data"]["source"] = api["run"], api["data"]["source"]
    assert render_json(cli) == api_text


@pytest.mark.parametrize("name", CASES)
def test_load_round_trips_the_clis_document(name, fitted, tmp_path):
    _, cli_path, _ = fitted[name]
    loaded = vifit.load(str(cli_path))
    assert type(loaded).__name__ == type(fitted[name][0]).__name__
    loaded.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_text() == cli_path.read_text()
    refitted = type(loaded)(**loaded.get_params())  # the document's options rebuild the estimator
    assert refitted.get_params() == loaded.get_params()


@pytest.mark.parametrize("name", CASES)
def test_per_row_methods_agree_with_vifit_predict(name, fitted, iris):
    model, cli_path, data = fitted[name]
    columns, rows = _predict_csv(cli_path, data)
    loaded = vifit.load(str(cli_path))
    for estimator in (model, loaded):
        if name.startswith("gmm"):
            k = estimator.n_components_
            np.testing.assert_array_equal(estimator.predict(iris), rows[:, 0] - 1)
            np.testing.assert_allclose(estimator.predict_proba(iris), rows[:, 1:1 + k], rtol=1e-12, atol=1e-300)
            np.testing.assert_allclose(estimator.score_samples(iris), rows[:, -1], rtol=1e-12)
            assert estimator.score(iris) == pytest.approx(rows[:, -1].mean(), rel=1e-12)
        elif name == "pca":
            np.testing.assert_allclose(estimator.transform(iris), rows[:, :2], rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(estimator.score_samples(iris), rows[:, 2], rtol=1e-12)
        elif name == "autoencoder":
            np.testing.assert_allclose(estimator.transform(iris), rows[:, :2], rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(estimator.score_samples(iris), -rows[:, -1], rtol=1e-12)
        else:
            np.testing.assert_allclose(estimator.transform(iris), rows[:, :2], rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(estimator.score_samples(iris), rows[:, columns.index("elbo")], rtol=1e-12)
            np.testing.assert_allclose(estimator.score_samples(iris, iwae=True),
                                       rows[:, columns.index("log_likelihood_iwae")], rtol=1e-12)


@pytest.mark.parametrize("name", ["gmm-cavi", "gmm-svi", "pca", "vae"])
def test_sample_draws_what_vifit_sample_draws(name, fitted):
    _, cli_path, _ = fitted[name]
    result = invoke(["sample", cli_path, "-n", "6", "--seed", "3"])
    assert result.exit_code == 0, result.stderr
    rows = np.array([[float(c) for c in row] for row in list(csv.reader(io.StringIO(result.stdout)))[1:]])
    drawn = vifit.load(str(cli_path)).sample(6, seed=3)
    if name.startswith("gmm"):
        draws, labels = drawn
        np.testing.assert_array_equal(labels, rows[:, -1] - 1)
        np.testing.assert_allclose(draws, rows[:, :-1], rtol=1e-12)
    else:
        np.testing.assert_allclose(drawn, rows, rtol=1e-12)


def test_fitted_attributes_and_column_names(fitted, iris):
    gmm = fitted["gmm-cavi"][0]
    assert gmm.weights_.shape == (3,) and gmm.means_.shape == (3, 4) and gmm.covariances_.shape == (3, 4, 4)
    assert gmm.weights_.sum() == pytest.approx(1.0)
    assert gmm.converged_ and gmm.n_iter_ == gmm.elbo_trace_[-1][0] and gmm.elbo_ == gmm.elbo_trace_[-1][1]
    assert list(gmm.feature_names_in_) == list(iris.columns) and gmm.n_features_in_ == 4
    assert gmm.document_["data"]["columns"] == list(iris.columns)
    # a DataFrame's columns are read by name, in any order; an array gets x1..xD
    np.testing.assert_array_equal(gmm.predict(iris[iris.columns[::-1]]), gmm.predict(iris))
    array_fit = vifit.PCA(k=2, seed=0).fit(iris.to_numpy())
    assert array_fit.document_["data"]["columns"] == ["x1", "x2", "x3", "x4"]
    assert not hasattr(array_fit, "feature_names_in_")
    # a model fitted to an array reads a DataFrame's columns by position
    np.testing.assert_array_equal(array_fit.transform(iris), array_fit.transform(iris.to_numpy()))
    with pytest.raises(ValueError, match="lacks the column 'petal_width' the model was fitted on"):
        gmm.predict(iris.drop(columns="petal_width"))
    pca = fitted["pca"][0]
    rebuilt = pca.inverse_transform(pca.transform(iris))
    assert np.abs(rebuilt - iris.to_numpy()).max() < 1.0
    draws, labels = gmm.sample(7, seed=0)
    assert draws.shape == (7, 4) and set(labels) <= {0, 1, 2}
    assert np.array_equal(gmm.sample(7, seed=0)[0], draws)


# Parameters whose default differs from the option's on purpose, and why.
DIFFERENT_DEFAULTS = {
    ("gmm", "k"): 2,  # --k is text (it takes ranges); the estimator fits one K
    ("gmm", "max_iter"): None,  # the CLI's default depends on --method: 500 for cavi, no limit for svi
    ("gmm", "method"): "cavi",  # an option packed with the SVI options: compared below by name
}
API_ONLY = {"progress", "seed", "dropna", "standardize", "dtype", "backend", "scheduler", "threads"}  # from shared decorators


@pytest.mark.parametrize("command, estimator", [("gmm", vifit.GMM), ("pca", vifit.PCA),
                                                ("autoencoder", vifit.Autoencoder), ("vae", vifit.VAE)])
def test_parameters_are_the_commands_options_with_their_defaults(command, estimator):
    import importlib
    import inspect

    command_object = getattr(importlib.import_module(f"vifit.commands.{command}"), command)
    options = {p.name: (False if getattr(p, "is_flag", False) and not isinstance(p.default, bool) else p.default)
               for p in command_object.params if p.name != "data"}  # a flag's unset default is off
    defaults = {p.name: p.default for p in inspect.signature(estimator.__init__).parameters.values()
                if p.name != "self"}
    for name, default in defaults.items():
        if (command, name) in DIFFERENT_DEFAULTS:
            assert default == DIFFERENT_DEFAULTS[command, name]
        elif name in API_ONLY:
            assert name in options or name in ("progress", "seed", "backend", "scheduler", "threads")
        else:
            assert name in options and options[name] == default, name
    unused = set(options) - set(defaults) - {"columns", "header", "delimiter", "decimal", "output", "format", "quiet",
                                             "strict", "debug", "checkpoint", "checkpoint_every", "resume",
                                             "stream", "scheduler_file", "worker_wait",
                                             # a column of the data: fit(X, sample_weight=) in the API
                                             "row_weights",
                                             # hidden: the test suite's strict-ELBO switch, a loop
                                             # policy of the command line, not a hyperparameter
                                             "strict_elbo"}
    assert not unused  # every fitting option of the command is a parameter


SHARED = {"threads", "standardize", "dropna", "dtype", "seed", "progress"}  # reading and run options, not the table's


def _click_type_of(entry):
    """What the command's click type must be for a table entry: (class, attributes)."""
    import click

    from vifit.options import FiniteFloat

    ranged = entry.bounded and entry.words is None
    if entry.kind == "choice":
        return click.Choice, {"choices": tuple(entry.choices)}
    if entry.kind == "choices":  # a comma list of choices (a grid): the table checks it, the shell completes it
        from vifit.commands.declared import ChoiceList

        return ChoiceList, {"choices": tuple(entry.choices)}
    bounds = {"min": entry.low, "max": entry.high, "min_open": entry.low_open, "max_open": entry.high_open}
    if entry.kind == "int":
        return (click.IntRange, bounds) if ranged else (type(click.INT), {})
    if entry.kind == "float":  # finite always (tests/test_option_values.py), the range when click checks it
        return FiniteFloat, bounds if ranged else {"min": None, "max": None}
    return type(click.STRING), {}


@pytest.mark.parametrize("command, estimator", [("gmm", vifit.GMM), ("pca", vifit.PCA),
                                                ("autoencoder", vifit.Autoencoder), ("vae", vifit.VAE)])
def test_the_table_is_every_commands_option_and_every_estimators_parameter(command, estimator):
    """vifit.parameters declares each fitting option once: the estimator's constructor default, the
    command's click default, type, range and choices, and its flag, all agree with the entry."""
    import importlib
    import inspect

    from vifit import parameters

    table = parameters.of(command)
    command_object = getattr(importlib.import_module(f"vifit.commands.{command}"), command)
    params = {p.name: p for p in command_object.params if p.name != "data"}
    defaults = {p.name: p.default for p in inspect.signature(estimator.__init__).parameters.values()
                if p.name != "self"}
    assert set(defaults) - SHARED == set(table)  # every parameter is an entry, every entry a parameter
    for name, entry in table.items():
        assert defaults[name] == entry.default and type(defaults[name]) is type(entry.default), name
        param = params[name]
        flag = f"--no-{entry.option[2:]}" if entry.negatable else None
        long, short = [o for o in param.opts if o.startswith("--")], [o for o in param.opts if not o.startswith("--")]
        assert long == [entry.option] and all(len(o) == 2 for o in short), param.opts  # -k: a short form too
        assert param.secondary_opts == [flag] if flag else not param.secondary_opts
        if entry.kind == "flag":
            assert param.is_flag and param.default is entry.default, name
            continue
        assert param.default == (str(entry.default) if entry.kind == "krange" else entry.default), name
        kind, attributes = _click_type_of(entry)
        assert type(param.type) is kind, name
        for attribute, value in attributes.items():
            found = getattr(param.type, attribute)
            assert (tuple(found) if attribute == "choices" else found) == value, (name, attribute)
    # the command's other options are the shared groups' (reading, output, run) or gmm's backend
    assert set(params) - set(table) <= SHARED | {"columns", "header", "delimiter", "decimal", "output", "format", "quiet",
                                                 "strict", "debug", "checkpoint", "checkpoint_every", "resume",
                                                 "strict_elbo", "row_weights"}  # a reading option (sample_weight=)


def test_get_set_params_follow_the_constructor():
    model = vifit.GMM(k=3, covariance="diag")
    assert model.get_params()["k"] == 3 and model.get_params()["max_iter"] is None
    assert model.set_params(k=5) is model and model.k == 5
    with pytest.raises(ValueError, match="invalid parameter 'n_components'"):
        model.set_params(n_components=2)


def test_bad_input_is_a_value_error_with_the_clis_message():
    X = np.array([[1.0, 2.0], [np.nan, 1.0], [3.0, 0.5]])
    # a missing cell is an error for PCA (a GMM marginalises it: tests/test_gmm_missing.py);
    # an infinite one is an error for both
    with pytest.raises(BadInput, match=r"^<array>: row 2 \(line 2\), column 'x1': missing value "):
        vifit.PCA(k=1).fit(X)
    with pytest.raises(BadInput, match=r"^<array>: row 2 \(line 2\), column 'x1': infinite value; "):
        vifit.GMM(k=2).fit(np.where(np.isnan(X), np.inf, X))
    assert issubclass(BadInput, ValueError)
    with pytest.raises(ValueError, match="--k 3 is more than the 2 rows"):
        vifit.GMM(k=3).fit(X[[0, 2]])
    fitted = vifit.GMM(k=2, dropna=True, seed=0).fit(X)
    assert fitted.document_["data"]["rows_dropped"] == 1
    with pytest.raises(ValueError, match="X has 3 features, but GMM is expecting 2 features"):
        fitted.predict(np.ones((2, 3)))


def test_hyperparameters_are_checked_at_fit_as_the_cli_checks_them():
    X = np.random.default_rng(0).normal(size=(30, 2))
    model = vifit.GMM(k=0)  # __init__ stores, never checks (scikit-learn's contract)
    with pytest.raises(ValueError, match=r"^--k: 0 is not an integer >= 1$"):
        model.fit(X)
    with pytest.raises(ValueError, match=r"^--epochs applies to --method svi only; add --method svi or drop --epochs$"):
        vifit.GMM(epochs=3).fit(X)
    with pytest.raises(ValueError, match=r"^--covariance: 'ful' is not one of"):
        vifit.GMM(covariance="ful").fit(X)
    with pytest.raises(ValueError, match=r"^--loss bce works on sigmoid outputs"):
        vifit.Autoencoder(loss="bce", output_activation="identity").fit(X)
    with pytest.raises(ValueError, match=r"^--scale minmax and --standardize do not combine"):
        vifit.VAE(scale="minmax", standardize=True).fit(X)


def test_progress_callable_receives_the_reporters_events():
    events = []
    vifit.GMM(k=2, seed=0, progress=events.append).fit(np.random.default_rng(0).normal(size=(40, 2)))
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and "update" in kinds and kinds[-1] == "finish"
    assert all(isinstance(e["value"], float) for e in events if e["event"] == "update")


def test_import_vifit_loads_no_numpy():
    import subprocess
    import sys

    heavy = "print(sorted(m for m in ('numpy', 'scipy', 'pandas', 'vifit.api.gmm') if m in sys.modules))"
    code = "import sys, vifit; vifit.GMM; vifit.PCA; " + heavy.replace("'vifit.api.gmm'", "")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    # nor does `vifit --help` import the estimators
    code = ("import runpy, sys\nsys.argv = ['vifit', '--help']\ntry:\n"
            "    runpy.run_module('vifit', run_name='__main__')\nexcept SystemExit:\n    pass\n" + heavy)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


# ---------------------------------------------------------------- scikit-learn as a user (a test dependency)


def test_clone_pipeline_and_grid_search(iris):
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    model = vifit.GMM(k=3, covariance="diag", seed=0)
    copy = clone(model)
    assert copy is not model and copy.get_params() == model.get_params()
    pipe = Pipeline([("scale", StandardScaler()), ("gmm", vifit.GMM(k=3, seed=0))]).fit(iris)
    labels = pipe.predict(iris)
    assert labels.shape == (150,) and set(labels) == {0, 1, 2}
    search = GridSearchCV(vifit.GMM(covariance="diag", seed=0), {"k": [1, 2, 3]},
                          cv=KFold(3, shuffle=True, random_state=0)).fit(iris.to_numpy())
    assert search.best_params_["k"] in (2, 3)  # held-out log density prefers more than one component



# Checks that cannot apply to vifit's estimators, each with its reason.
COMMON_EXPECTED_FAILURES = {
    "check_dtype_object": "a cell that is no number is vifit's one-line BadInput (a ValueError), not numpy's "
                          "TypeError",
}
EXPECTED_FAILED_CHECKS = {
    "GMM": {
        "check_estimators_unfitted": "raises vifit's NotFittedError (ValueError, AttributeError, as sklearn's): "
                                     "sklearn's own class would need scikit-learn imported",
        "check_clustering": "needs labels_ of the training rows, which a fit does not keep (a predict pass and "
                            "n labels per fit); fit_predict(X) and predict(X) give them",
        "check_fit2d_1sample": "one row is refused with the CLI's message ('1 usable row(s), but this model "
                               "needs at least 2'), not sklearn's wording",
        "check_estimators_nan_inf": "a NaN cell is missing at random and marginalised by the model (infinite "
                                    "values are still refused: test_bad_input_is_a_value_error_with_the_clis_message)",
        "check_sample_weight_equivalence_on_dense_data": "the k-means++ start draws rows, so weight 2 and a repeated "
                                                         "row start differently (equally good optima, labels may "
                                                         "swap); from the same start they agree to 1e-9: "
                                                         "tests/test_row_weights.py",
    },
    "PCA": {
        "check_fit2d_1sample": "one row is refused with the CLI's message ('1 usable row(s), but this model "
                               "needs at least 2'), not sklearn's wording",
    },
}


def _expected_failed(estimator):
    return {**COMMON_EXPECTED_FAILURES, **EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})}


@parametrize_with_checks([vifit.GMM(k=2, max_iter=20, seed=0), vifit.PCA(k=1, seed=0)],
                         expected_failed_checks=_expected_failed)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
