"""The selection grid (--k x --covariance, --select) and held-out rows (--validation, --folds):
the choice on data of a known mixture, held-out densities against an independent scipy
computation of the posterior predictive, the ICL term against responsibilities computed from q,
the units under --standardize, row weights, the splits, --jobs, and the refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats
from scipy.special import digamma, logsumexp

import vifit
from conftest import SAMPLE, invoke
from vifit import splits
from vifit.data import ReadOptions, load_table

IRIS = SAMPLE / "iris.csv"


def _diag_mixture(n: int = 600, seed: int = 0) -> np.ndarray:
    """n rows of a K = 3 mixture with diagonal, unequal covariances, well separated, in 4 columns."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0, 0.0], [8.0, -6.0, 4.0, 0.0], [-6.0, 8.0, -4.0, 6.0]])
    sds = np.array([[0.5, 2.0, 1.0, 0.3], [2.0, 0.4, 0.6, 1.5], [1.0, 1.0, 2.5, 0.5]])
    z = rng.choice(3, size=n, p=[0.4, 0.35, 0.25])
    return centres[z] + rng.normal(size=(n, 4)) * sds[z]


def _write(path, x, header="a,b,c,d"):
    np.savetxt(path, x, delimiter=",", header=header, comments="", fmt="%.17g")
    return path


@pytest.fixture(scope="module")
def diag_data(tmp_path_factory):
    return _write(tmp_path_factory.mktemp("grid") / "diag3.csv", _diag_mixture())


def _fit(args, out):
    result = invoke([*args, "--progress", "none", "-o", out])
    assert result.exit_code == 0, result.stderr
    return json.loads(out.read_text()), result.stderr


def test_the_grid_chooses_k3_diag_by_heldout_density_on_a_diagonal_mixture(diag_data, tmp_path):
    document, stderr = _fit(["gmm", diag_data, "--k", "1-5", "--covariance", "full,diag,spherical",
                             "--validation", "0.3", "--seed", "0"], tmp_path / "fit.json")
    selection = document["fit"]["selection"]
    assert selection["chosen"] == {"k": 3, "covariance": "diag"} and selection["chosen_k"] == 3
    assert selection["grid"] == {"k": [1, 2, 3, 4, 5], "covariance": ["full", "diag", "spherical"]}
    assert selection["select"] == "heldout" and "held-out" in selection["criterion"]
    candidates = selection["candidates"]
    assert [(c["k"], c["covariance"]) for c in candidates] == [(k, c) for k in range(1, 6)
                                                               for c in ("full", "diag", "spherical")]
    best = max(candidates, key=lambda c: c["heldout_log_density_per_row"])
    assert (best["k"], best["covariance"]) == (3, "diag")
    assert all(c["heldout_standard_error"] > 0 for c in candidates)
    # the model written is the chosen candidate fitted on the training rows
    assert document["fit"]["elbo"] == best["elbo"] and len(document["params"]["summary"]["weights"]) == 3
    assert document["params"]["prior"]["covariance"] == "diag"
    validation = document["fit"]["validation"]
    assert validation["n_train"] + validation["n_heldout"] == 600 and validation["n_heldout"] == 180
    assert validation["heldout_log_density_per_row"] == best["heldout_log_density_per_row"]
    assert validation["heldout_total"] == pytest.approx(180 * validation["heldout_log_density_per_row"], rel=1e-12)
    assert document["config"]["covariance"] == "full,diag,spherical" and document["config"]["validation"] == 0.3
    assert selection["edge"] is None and "warning" not in stderr
    assert "chose K = 3, covariance diag" in stderr


def _log_predictive(document: dict, x: np.ndarray) -> np.ndarray:
    """(n,) log posterior predictive density of rows x under a dirichlet-weights gmm file, by
    scipy: a Normal-Wishart component's predictive is a Student t, df = nu - D + 1, location m,
    scale (beta + 1) / (beta (nu - D + 1)) W^-1 (diag: one such t per column with D = 1)."""
    q = document["params"]["variational"]
    covariance = document["params"]["prior"]["covariance"]
    alpha = np.asarray(q["weight_concentration"])
    log_w = np.log(alpha / alpha.sum())
    d = x.shape[1]
    per_component = []
    for j in range(len(alpha)):
        m, beta, nu = np.asarray(q["means"][j]), q["mean_precision"][j], q["dof"][j]
        scale_inv = np.asarray(q["scale_inv"][j])
        if covariance == "full":
            df = nu - d + 1
            shape = (beta + 1) / (beta * df) * scale_inv
            per_component.append(stats.multivariate_t(loc=m, shape=shape, df=df).logpdf(x))
        else:
            assert covariance == "diag"
            scale = np.sqrt((beta + 1) / (beta * nu) * scale_inv)
            per_component.append(stats.t.logpdf(x, df=nu, loc=m, scale=scale).sum(axis=1))
    return logsumexp(np.column_stack(per_component) + log_w, axis=1)


def test_the_iris_heldout_ranking_equals_an_independent_scipy_computation(tmp_path):
    document, _ = _fit(["gmm", IRIS, "--k", "1-4", "--covariance", "full,diag", "--validation", "0.3",
                        "--seed", "0"], tmp_path / "fit.json")
    x = load_table(str(IRIS), ReadOptions(columns="1-4"), min_rows=2).values
    train, heldout = splits.holdout(x.shape[0], 0.3, 0)
    ours, independent = {}, {}
    for candidate in document["fit"]["selection"]["candidates"]:
        key = (candidate["k"], candidate["covariance"])
        ours[key] = candidate["heldout_log_density_per_row"]
        model = vifit.GMM(k=key[0], covariance=key[1], seed=0).fit(x[train])
        assert model.elbo_ == pytest.approx(candidate["elbo"], rel=1e-12)  # the same fit of the training rows
        independent[key] = float(_log_predictive(model.document_, x[heldout]).mean())
    assert sorted(ours, key=ours.get) == sorted(independent, key=independent.get)
    for key in ours:
        assert ours[key] == pytest.approx(independent[key], rel=1e-8, abs=1e-10), key
    chosen = document["fit"]["selection"]["chosen"]
    assert max(independent, key=independent.get) == (chosen["k"], chosen["covariance"])


def test_icl_is_the_elbo_minus_the_entropy_of_responsibilities_from_q(tmp_path):
    """Responsibilities from the written q (Bishop 10.46-10.49), independently of vifit's local step."""
    document, _ = _fit(["gmm", IRIS, "--k", "2-4", "--seed", "1"], tmp_path / "fit.json")
    selection = document["fit"]["selection"]
    chosen = next(c for c in selection["candidates"] if c["k"] == selection["chosen_k"])
    x = load_table(str(IRIS), ReadOptions(columns="1-4"), min_rows=2).values
    q = document["params"]["variational"]
    alpha = np.asarray(q["weight_concentration"])
    n, d = x.shape
    log_rho = []
    for j in range(len(alpha)):
        m, beta, nu = np.asarray(q["means"][j]), q["mean_precision"][j], q["dof"][j]
        w = np.linalg.inv(np.asarray(q["scale_inv"][j]))
        e_log_det = digamma((nu + 1 - np.arange(1, d + 1)) / 2).sum() + d * np.log(2) + np.linalg.slogdet(w)[1]
        diff = x - m
        quad = d / beta + nu * np.einsum("ni,ij,nj->n", diff, w, diff)
        log_rho.append(digamma(alpha[j]) - digamma(alpha.sum()) + 0.5 * e_log_det - 0.5 * d * np.log(2 * np.pi)
                       - 0.5 * quad)
    log_rho = np.column_stack(log_rho)
    resp = np.exp(log_rho - logsumexp(log_rho, axis=1, keepdims=True))
    entropy = -np.sum(np.where(resp > 0, resp * np.log(np.where(resp > 0, resp, 1.0)), 0.0))
    assert entropy > 0.01  # iris's two overlapping species: not a trivial zero
    assert chosen["icl"] == pytest.approx(chosen["elbo"] - entropy, rel=1e-9)
    assert chosen["heldout_log_density_per_row"] is None and chosen["heldout_standard_error"] is None
    by_icl = invoke(["gmm", IRIS, "--k", "2-4", "--seed", "1", "--select", "icl", "-q"])
    selection = json.loads(by_icl.stdout)["fit"]["selection"]
    assert selection["chosen_k"] == max(selection["candidates"], key=lambda c: c["icl"])["k"]
    assert "entropy of the responsibilities" in selection["criterion"]


def test_standardized_heldout_density_is_vifit_scores_of_the_raw_heldout_rows(tmp_path):
    """In nats of the data as read: what `vifit score` (preprocessing re-applied, Jacobian counted)
    gives the written model on the held-out rows of the raw file."""
    out = tmp_path / "fit.json"
    document, _ = _fit(["gmm", IRIS, "--k", "2", "--validation", "0.25", "--standardize", "--seed", "3"], out)
    assert "selection" not in document["fit"]  # one candidate: a split, no table
    x = load_table(str(IRIS), ReadOptions(columns="1-4"), min_rows=2).values
    _, heldout = splits.holdout(x.shape[0], 0.25, 3)
    rows = _write(tmp_path / "heldout.csv", x[heldout], header=",".join(document["data"]["columns"]))
    scored = invoke(["score", out, rows, "-q"])
    assert scored.exit_code == 0, scored.stderr
    summary = json.loads(scored.stdout)
    validation = document["fit"]["validation"]
    assert validation["heldout_log_density_per_row"] == pytest.approx(summary["mean"], rel=1e-10)
    assert validation["standard_error"] == pytest.approx(summary["standard_error"], rel=1e-8)
    # data_units converts the ELBO of the training rows: N_train times a row's Jacobian
    scales = np.asarray(document["data"]["preprocessing"]["standardize"]["scale"])
    assert document["fit"]["data_units"]["log_jacobian"] == pytest.approx(-validation["n_train"] * np.log(scales).sum())


def test_weighted_heldout_rows_count_as_copies(tmp_path):
    x = _diag_mixture(300, seed=4)
    weights = np.random.default_rng(5).integers(0, 4, size=300).astype(float)
    data = _write(tmp_path / "w.csv", np.column_stack([x, weights]), header="a,b,c,d,w")
    out = tmp_path / "fit.json"
    document, _ = _fit(["gmm", data, "--k", "3", "--covariance", "diag", "--row-weights", "w",
                        "--validation", "0.3", "--seed", "2"], out)
    _, heldout = splits.holdout(300, 0.3, 2)
    density = vifit.load(str(out)).score_samples(x[heldout])
    w = weights[heldout]
    validation = document["fit"]["validation"]
    assert validation["heldout_log_density_per_row"] == pytest.approx(w @ density / w.sum(), rel=1e-10)
    assert validation["heldout_total"] == pytest.approx(w @ density, rel=1e-10)
    assert validation["heldout_weight"] == w.sum() and validation["n_heldout"] == heldout.size
    assert validation["heldout_log_density_per_row"] != pytest.approx(density.mean(), rel=1e-6)


def test_folds_cross_validate_and_the_model_written_is_refitted_on_all_rows(diag_data, tmp_path):
    document, _ = _fit(["gmm", diag_data, "--k", "3", "--covariance", "diag", "--folds", "3", "--seed", "7"],
                       tmp_path / "folds.json")
    plain, _ = _fit(["gmm", diag_data, "--k", "3", "--covariance", "diag", "--seed", "7"], tmp_path / "plain.json")
    assert document["fit"]["elbo"] == plain["fit"]["elbo"] and document["params"] == plain["params"]
    validation = document["fit"]["validation"]
    assert validation["folds"] == 3 and validation["seed"] == 7
    sizes = [fold["n_heldout"] for fold in validation["per_fold"]]
    assert sizes == [heldout.size for _, heldout in splits.folds(600, 3, 7)] and sum(sizes) == 600
    pooled = sum(f["n_heldout"] * f["heldout_log_density_per_row"] for f in validation["per_fold"]) / 600
    assert validation["heldout_log_density_per_row"] == pytest.approx(pooled, rel=1e-12)
    assert len({f["heldout_log_density_per_row"] for f in validation["per_fold"]}) == 3
    # each fold's figure is the fold's model on its held-out part: the first fold, refitted here
    x = load_table(str(diag_data), ReadOptions(), min_rows=2).values
    train, heldout = splits.folds(600, 3, 7)[0]
    model = vifit.GMM(k=3, covariance="diag", seed=7).fit(x[train])
    assert validation["per_fold"][0]["heldout_log_density_per_row"] == pytest.approx(
        float(model.score_samples(x[heldout]).mean()), rel=1e-10)


@pytest.mark.parametrize("seed", [0, 11])
def test_splits_are_deterministic_by_seed_and_disjoint(seed):
    n = 103
    train, heldout = splits.holdout(n, 0.3, seed)
    again = splits.holdout(n, 0.3, seed)
    assert np.array_equal(train, again[0]) and np.array_equal(heldout, again[1])
    assert heldout.size == round(0.3 * n) and not np.intersect1d(train, heldout).size
    assert np.array_equal(np.union1d(train, heldout), np.arange(n))
    assert not np.array_equal(heldout, splits.holdout(n, 0.3, seed + 1)[1])
    parts = splits.folds(n, 4, seed)
    held = np.concatenate([part for _, part in parts])
    assert np.array_equal(np.sort(held), np.arange(n))  # every row held out exactly once
    for (train_f, heldout_f), (train_g, heldout_g) in zip(parts, splits.folds(n, 4, seed)):
        assert np.array_equal(heldout_f, heldout_g) and np.array_equal(train_f, train_g)
        assert not np.intersect1d(train_f, heldout_f).size and train_f.size + heldout_f.size == n


def test_the_same_seed_gives_the_same_validation_on_the_command_line(tmp_path):
    args = ["gmm", IRIS, "--k", "2", "--validation", "0.2", "--seed", "5"]
    first, _ = _fit(args, tmp_path / "a.json")
    second, _ = _fit(args, tmp_path / "b.json")
    other, _ = _fit(args[:-1] + ["6"], tmp_path / "c.json")
    assert first["fit"]["validation"] == second["fit"]["validation"]
    assert other["fit"]["validation"] != first["fit"]["validation"]


def test_jobs_2_gives_the_documents_of_jobs_1(tmp_path):
    x = _diag_mixture(120, seed=9)
    data = _write(tmp_path / "tiny.csv", x)
    args = ["gmm", data, "--k", "1-2", "--covariance", "full,diag", "--folds", "2", "--seed", "3"]
    one, one_err = _fit(args + ["--jobs", "1"], tmp_path / "one.json")
    two, two_err = _fit(args + ["--jobs", "2"], tmp_path / "two.json")
    one.pop("run"), two.pop("run")
    assert one == two
    assert [line for line in one_err.splitlines() if "vifit: gmm" not in line] == two_err.splitlines()


def test_mixture_grid_chooses_k_by_heldout_density_as_vifit_score_measures_it(diag_data, tmp_path):
    out = tmp_path / "mixture.json"
    document, _ = _fit(["mixture", diag_data, "--k", "2-4", "--validation", "0.3", "--seed", "0"], out)
    selection = document["fit"]["selection"]
    assert selection["chosen"] == {"k": 3} and selection["grid"] == {"k": [2, 3, 4]}
    assert "covariance" not in selection["candidates"][0]
    x = load_table(str(diag_data), ReadOptions(), min_rows=2).values
    _, heldout = splits.holdout(600, 0.3, 0)
    scored = invoke(["score", out, _write(tmp_path / "held.csv", x[heldout]), "-q"])
    assert document["fit"]["validation"]["heldout_log_density_per_row"] == pytest.approx(
        json.loads(scored.stdout)["mean"], rel=1e-10)


def test_a_chosen_k_on_the_edge_of_the_range_warns(diag_data, tmp_path):
    _, stderr = _fit(["gmm", diag_data, "--k", "1-2", "--covariance", "diag", "--seed", "0"], tmp_path / "a.json")
    assert "warning" in stderr and "K = 2 is the largest" in stderr and "widen" in stderr
    document, stderr = _fit(["gmm", diag_data, "--k", "3-4", "--covariance", "diag", "--seed", "0"],
                            tmp_path / "b.json")
    assert document["fit"]["selection"]["chosen_k"] == 3
    assert "K = 3 is the smallest" in document["fit"]["selection"]["edge"] and "widen" in stderr


@pytest.mark.parametrize("args, words", [
    (["--validation", "0"], "--validation"),
    (["--validation", "1.5"], "--validation"),
    (["--folds", "1"], "--folds"),
    (["--select", "heldout"], "--select heldout"),
    (["--covariance", "full,bogus"], "bogus"),
    (["--method", "svi", "--validation", "0.2"], "--no-stream"),
    (["--validation", "0.2", "--folds", "3"], "--folds"),
])
def test_bad_selection_inputs_are_one_line_and_exit_2(args, words, tmp_path):
    out = tmp_path / "out.json"
    result = invoke(["gmm", IRIS, "--k", "2", *args, "-o", out])
    assert result.exit_code == 2 and result.stdout == "" and not out.exists(), result.stderr
    assert result.stderr.count("\n") == 1 and words in result.stderr and "Traceback" not in result.stderr


def test_the_api_takes_a_grid_and_a_split():
    x = _diag_mixture(300, seed=2)
    model = vifit.GMM(k=[2, 3, 4], covariance=["diag", "spherical"], validation=0.3, seed=0).fit(x)
    selection = model.document_["fit"]["selection"]
    assert selection["chosen"] == {"k": 3, "covariance": "diag"} and model.n_components_ == 3
    assert model.document_["config"]["covariance"] == "diag,spherical"
    again = vifit.GMM(**model.get_params()).fit(x)
    assert again.document_["fit"]["validation"] == model.document_["fit"]["validation"]


def test_a_stop_request_ends_the_grid_after_the_fit_in_progress():
    """With one job the grid stops at the first interrupted fit and returns it marked interrupted,
    with the candidates fitted so far (the command then writes it and exits 130/143)."""
    from vifit.data import table_of
    from vifit.inference.policy import LoopPolicy

    x = _diag_mixture(200, seed=3)
    estimator = vifit.GMM(k="1-3", covariance="full,diag", seed=0)
    plan = estimator._plan(estimator._options(), None)
    table = table_of(x, list("abcd"), "<array>", ReadOptions(), min_rows=2)
    calls = []

    def stop_soon():
        calls.append(1)
        return len(calls) > 2  # during the first candidates, long before the 6 end

    from vifit.progress import Reporter

    result = plan.fit(table, seed=0, reporter=Reporter("none"), policy=LoopPolicy(should_stop=stop_soon))
    assert result.status == "interrupted"
    candidates = result.fit_extra["selection"]["candidates"]
    assert 1 <= len(candidates) < 6 and [c["k"] for c in candidates] == sorted(c["k"] for c in candidates)


@pytest.mark.parametrize("command, args, spec", [
    ("gmm", ["--k", "1-3", "--covariance", "full,diag"], "gmm:k=1-3:covariance=full,diag"),
    ("gmm", ["--covariance", "full,diag"], "gmm:k=2:covariance=full,diag"),
    ("mixture", ["--k", "2,4"], "mixture:k=2,4"),
])
def test_a_grid_with_backend_dask_is_refused_naming_compare_on_the_cluster(command, args, spec, tmp_path):
    """--backend dask fits one model over DATA's partitions; a grid of in-memory candidates is
    not silently read into this process: the refusal names the compare that runs them on a
    cluster, with its --models, before any cluster is reached or row read."""
    out = tmp_path / "out.json"
    result = invoke([command, IRIS, *args, "--backend", "dask", "--scheduler", "tcp://127.0.0.1:1", "-o", out])
    assert result.exit_code == 2 and result.stdout == "" and not out.exists(), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"vifit compare DATA --models '{spec}' --backend dask" in result.stderr
