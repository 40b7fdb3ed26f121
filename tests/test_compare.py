"""vifit compare: candidates fitted on the same rows, scored on the same held-out rows, in nats
of the data; the figures are vifit score's of each candidate's model, whatever --jobs."""

from __future__ import annotations

import json
import shlex
import warnings

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, SAMPLE, invoke

SEED = 11


@pytest.fixture(scope="module")
def ppca_csv(tmp_path_factory):
    """1,000 rows of a 2-dimensional PPCA in 5 columns: x = W z + mu + noise (sigma 0.3)."""
    rng = np.random.default_rng(5)
    z = rng.standard_normal((1000, 2))
    w = rng.normal(scale=2.0, size=(2, 5))
    x = z @ w + np.array([1.0, -2.0, 0.5, 3.0, 10.0]) + 0.3 * rng.standard_normal((1000, 5))
    path = tmp_path_factory.mktemp("compare") / "ppca.csv"
    pd.DataFrame(x, columns=[f"c{j}" for j in range(5)]).to_csv(path, index=False)
    return path


def _compare(args):
    result = invoke(["compare", *args, "-q"])
    assert result.exit_code == 0, result.stderr
    return result


def _by_name(document):
    return {entry["name"]: entry for entry in document["candidates"]}


def test_two_component_ppca_data_rank_pca_k2_first(ppca_csv):
    document = json.loads(_compare([ppca_csv, "--models", "pca:k=1-2;gmm:k=1", "--seed", SEED]).stdout)
    entries = _by_name(document)
    assert set(entries) == {"pca:k=1", "pca:k=2", "gmm:k=1"}
    assert document["best"] == "pca:k=2" and entries["pca:k=2"]["rank"] == 1
    assert entries["pca:k=2"]["rank"] < entries["pca:k=1"]["rank"]
    assert entries["pca:k=2"]["rank"] < entries["gmm:k=1"]["rank"]
    # the ranking is by the held-out figure, and the order is ranking order
    figures = [entry["heldout_log_density_per_row"] for entry in document["candidates"]]
    assert figures == sorted(figures, reverse=True)
    # a 2-D model beats a 1-D one by far more than the standard errors on 200 held-out rows
    gap = entries["pca:k=2"]["heldout_log_density_per_row"] - entries["pca:k=1"]["heldout_log_density_per_row"]
    assert gap > 5 * entries["pca:k=1"]["standard_error"]
    assert (document["n_train"], document["n_heldout"], document["validation"]) == (800, 200, 0.2)
    assert document["seed"] == SEED and document["schema"] == "vifit.compare/1"


def test_figures_are_vifit_scores_of_each_candidate_fitted_alone(ppca_csv, tmp_path):
    """Each candidate refitted with the API on splits.holdout's training rows and scored by
    documents.scores (and, for one, by the `vifit score` command on a CSV of the held-out rows)."""
    import vifit
    from vifit.data import Table
    from vifit.documents.scores import score_rows, summary_of
    from vifit.splits import holdout

    spec = "pca:k=1,2;gmm:k=2:covariance=diag;vae:latent=2:hidden=8:epochs=5"
    document = json.loads(_compare([ppca_csv, "--models", spec, "--seed", SEED, "--standardize"]).stdout)
    frame = pd.read_csv(ppca_csv)
    columns = list(frame.columns)
    train, held = holdout(len(frame), 0.2, SEED)
    alone = {"pca:k=1": vifit.PCA(k=1), "pca:k=2": vifit.PCA(k=2),
             "gmm:k=2:covariance=diag": vifit.GMM(k=2, covariance="diag"),
             "vae:latent=2:hidden=8:epochs=5": vifit.VAE(latent=2, hidden="8", epochs=5)}
    entries = _by_name(document)
    assert set(entries) == set(alone)
    held_rows = Table(values=frame.to_numpy()[held], columns=columns, source="held")
    per_row = {}
    for name, estimator in alone.items():
        estimator.set_params(seed=SEED, standardize=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a 5-epoch VAE does not converge; that is not what is tested
            estimator.fit(frame.iloc[train])
        assert estimator.document_["data"]["preprocessing"]  # the candidate standardised its own rows
        per_row[name] = score_rows(estimator.document_, name, held_rows).log_density
        figures = summary_of(per_row[name])
        entry = entries[name]
        assert entry["heldout_log_density_per_row"] == pytest.approx(figures["mean"], rel=1e-9, abs=1e-12)
        assert entry["standard_error"] == pytest.approx(figures["standard_error"], rel=1e-9)
        assert entry["train_elbo_per_row"] == pytest.approx(
            estimator.document_["fit"]["data_units"]["elbo_per_row"], rel=1e-9)
    # each candidate against the best, paired on the same rows
    best = per_row[document["best"]]
    for name, entry in entries.items():
        difference = per_row[name] - best
        assert entry["difference_to_best"] == pytest.approx(difference.mean(), rel=1e-9, abs=1e-12)
        if name != document["best"]:
            se = difference.std(ddof=1) / np.sqrt(difference.size)
            assert entry["difference_standard_error"] == pytest.approx(se, rel=1e-9)
            assert entry["difference_standard_error"] < entry["standard_error"]  # the rows' common spread cancels
    # and through the command line: the model file and the held-out rows as CSV
    model, rows = tmp_path / "pca.json", tmp_path / "held.csv"
    alone["pca:k=2"].save(model)
    frame.iloc[held].to_csv(rows, index=False)
    scored = invoke(["score", model, rows, "-q"])
    assert scored.exit_code == 0, scored.stderr
    assert entries["pca:k=2"]["heldout_log_density_per_row"] == pytest.approx(json.loads(scored.stdout)["mean"],
                                                                              rel=1e-9)


def _without_run(document):
    return {key: value for key, value in document.items() if key != "run"}


def test_jobs_two_gives_the_figures_of_jobs_one(ppca_csv):
    args = [ppca_csv, "--models", "pca:k=1,2;gmm:k=1-2", "--seed", SEED]
    one = json.loads(_compare([*args, "--jobs", "1"]).stdout)
    two = json.loads(_compare([*args, "--jobs", "2"]).stdout)
    assert _without_run(one) == _without_run(two)
    assert two["run"]["jobs"] == 2 and set(two["run"]["candidate_seconds"]) == set(_by_name(one))


def test_same_seed_same_bytes_apart_from_the_run_block(ppca_csv):
    args = [ppca_csv, "--models", "gmm:k=1-2", "--seed", SEED]
    first, second = (json.loads(_compare(args).stdout) for _ in range(2))
    assert _without_run(first) == _without_run(second)
    drawn = json.loads(_compare([ppca_csv, "--models", "pca:k=1"]).stdout)
    assert isinstance(drawn["seed"], int)  # drawn, and recorded


def test_csv_has_one_row_per_candidate(ppca_csv, tmp_path):
    out = tmp_path / "ranking.csv"
    _compare([ppca_csv, "--models", "pca:k=1-3;gmm:k=1", "--seed", SEED, "-o", out])
    table = pd.read_csv(out)
    assert len(table) == 4 and set(table["name"]) == {"pca:k=1", "pca:k=2", "pca:k=3", "gmm:k=1"}
    assert list(table["rank"]) == [1, 2, 3, 4]
    as_json = json.loads(_compare([ppca_csv, "--models", "pca:k=1-3;gmm:k=1", "--seed", SEED]).stdout)
    assert list(table["heldout_log_density_per_row"]) == [e["heldout_log_density_per_row"]
                                                          for e in as_json["candidates"]]


def test_an_autoencoder_is_listed_unranked_with_its_reconstruction_error(ppca_csv):
    result = invoke(["compare", ppca_csv, "--models", "pca:k=2;autoencoder:hidden=4/2:epochs=3", "--seed", SEED,
                     "--progress", "none"])
    assert result.exit_code == 0, result.stderr
    entries = _by_name(json.loads(result.stdout))
    coder = entries["autoencoder:hidden=4/2:epochs=3"]
    assert coder["rank"] is None and coder["heldout_log_density_per_row"] is None
    assert coder["heldout_reconstruction_error"] > 0 and "no density" in coder["note"]
    assert coder["params"] == {"hidden": "4,2", "epochs": 3}
    assert entries["pca:k=2"]["rank"] == 1
    assert "no density" in result.stderr and "pca:k=2 *" in result.stderr  # the table, the best marked


def test_a_candidate_without_a_finite_held_out_density_is_unranked_and_warned_of():
    """PCA with k = d has no noise left: its PPCA density is not defined (NaN)."""
    result = invoke(["compare", SAMPLE / "iris.csv", "--models", "pca:k=4;pca:k=1", "--seed", "1", "-q"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    entries = _by_name(document)
    assert entries["pca:k=4"]["rank"] is None and entries["pca:k=4"]["heldout_log_density_per_row"] is None
    assert document["best"] == "pca:k=1" and [e["name"] for e in document["candidates"]] == ["pca:k=1", "pca:k=4"]
    assert "pca:k=4: none of the 30 held-out rows has a finite log density" in result.stderr


def test_spec_expands_lists_and_ranges_into_a_product():
    from vifit.api.compare_spec import parse_models

    candidates = parse_models("gmm:k=1-2:covariance=full,diag; pca k=3 ;vae:latent=2,4:hidden=8/4:standardize=yes")
    assert [c.name for c in candidates] == [
        "gmm:k=1:covariance=full", "gmm:k=1:covariance=diag", "gmm:k=2:covariance=full", "gmm:k=2:covariance=diag",
        "pca:k=3", "vae:latent=2:hidden=8/4:standardize=true", "vae:latent=4:hidden=8/4:standardize=true"]
    assert candidates[3].params == {"k": 2, "covariance": "diag"}
    assert candidates[-1].params == {"latent": 4, "hidden": "8,4", "standardize": True}
    for candidate in candidates:  # a name is a SPEC of its one candidate
        assert parse_models(candidate.name) == [candidate]
        assert parse_models(candidate.name)[0].params == candidate.params


class _NoFit(Exception):
    pass


@pytest.mark.parametrize("args, words", [
    (["--models", "gmx:k=2"], ["unknown model kind 'gmx'"]),
    (["--models", "gmm:kk=2"], ["gmm has no option 'kk'"]),
    (["--models", "pca:k=2", "--validation", "0"], ["--validation", "between 0 and 1"]),
    (["--models", "pca:k=2", "--validation", "1"], ["--validation", "between 0 and 1"]),
    (["--models", "gmm:k"], ["'k' is not OPTION=VALUES"]),
    (["--models", "gmm:k=1-"], ["--models", "integers"]),
    (["--models", "gmm:k=2=3"], ["is not OPTION=VALUES"]),
    (["--models", "gmm:k=,2"], ["is not OPTION=VALUES"]),
    (["--models", ":k=2"], ["start each candidate with a model kind"]),
    (["--models", "pca:k=2;;gmm"], ["empty candidate"]),
    (["--models", ""], ["--models is empty"]),
    (["--models", "  "], ["--models is empty"]),
    (["--models", "pca:k=3-1"], ["range 3-1 is empty"]),
    (["--models", "gmm:k=0"], ["gmm:k=0", "--k"]),
    (["--models", "gmm:covariance=round"], ["--covariance", "'round'"]),
    (["--models", "vae:beta=big"], ["beta takes numbers"]),
    (["--models", "gmm:seed=1"], ["seed is not a candidate's option", "--seed"]),
    (["--models", "pca:k=2;pca:k=1-2"], ["pca:k=2 is listed twice"]),
    (["--models", "pca:k=2", "--backend", "dask", "--jobs", "2"], ["--jobs does not apply to --backend dask"]),
    (["--models", "pca:k=2", "--scheduler", "tcp://127.0.0.1:1"], ["need --backend dask"]),
    (["--models", "pca:k=2", "-o", "ranking.parquet"], ["ranking.parquet", "--format json|csv"]),
])
def test_bad_input_is_one_line_and_exit_2_before_any_fit(tmp_path, monkeypatch, args, words):
    import vifit.api.compare as logic

    def refuse(task):
        raise _NoFit("a candidate was fitted")

    monkeypatch.setattr(logic, "fit_and_score", refuse)
    if "-o" not in args:
        args = [*args, "-o", tmp_path / "ranking.json"]
    else:
        args = [tmp_path / a if a == "ranking.parquet" else a for a in args]
    result = invoke(["compare", SAMPLE / "iris.csv", *args])
    lines = result.stderr.splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("vifit: error: ") and "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert result.stdout == "" and list(tmp_path.iterdir()) == []


def test_a_candidate_that_cannot_fit_the_data_is_named(tmp_path):
    out = tmp_path / "ranking.json"
    result = invoke(["compare", SAMPLE / "iris.csv", "--models", "pca:k=9", "-q", "-o", out])
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert "pca:k=9" in result.stderr and not out.exists()


def test_readme_examples_run(tmp_path, monkeypatch):
    """Every command of README's section runs as shown, in order (from a folder with sample_data/);
    the ranking it writes is what the plot after it draws."""
    section = (ROOT / "README.md").read_text().split("### `vifit compare`", 1)[1].split("\n### ", 1)[0]
    commands = [line.strip() for line in section.splitlines() if line.startswith("    vifit ")]
    assert [c.split()[1] for c in commands] == ["compare", "compare", "compare", "plot"]
    (tmp_path / "sample_data").symlink_to(SAMPLE)
    monkeypatch.chdir(tmp_path)
    for command in commands:
        words = shlex.split(command.split("  #", 1)[0])
        result = invoke(words[1:])
        assert result.exit_code == 0, (command, result.stderr)
    assert json.loads((tmp_path / "ranking.json").read_text())["schema"] == "vifit.compare/1"
    assert (tmp_path / "ranking.png").read_bytes().startswith(b"\x89PNG")


def test_progress_json_keeps_stderr_to_json_lines_and_the_spec_is_recorded():
    result = invoke(["compare", SAMPLE / "iris.csv", "--models", "pca:k=1,2", "--seed", "1", "--progress", "json"])
    assert result.exit_code == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines()]  # no table: a scraper reads every line
    assert {event["event"] for event in events} == {"note"}
    assert json.loads(result.stdout)["models"] == "pca:k=1,2"


def test_python_compare_gives_the_commands_document(ppca_csv):
    import vifit

    args = ["--models", "pca:k=1,2;gmm:k=2", "--seed", SEED, "--standardize"]
    from_cli = json.loads(_compare([ppca_csv, *args]).stdout)
    from_python = vifit.compare(pd.read_csv(ppca_csv), "pca:k=1,2;gmm:k=2", seed=SEED, standardize=True)
    assert from_python["data"].pop("source") == "<array>" and from_cli["data"].pop("source") == str(ppca_csv)
    assert _without_run(from_python) == _without_run(from_cli)
    from vifit.errors import BadInput

    with pytest.raises(BadInput, match="unknown model kind 'gmx'"):
        vifit.compare(pd.read_csv(ppca_csv), "gmx:k=2")
