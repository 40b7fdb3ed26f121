"""One road from options to a fit: the estimators and the commands run the same Plan
(vifit.fitplan), so every gmm method and K range writes the same document either way, every gmm
document has one config schema, and --chunk-rows has one default."""

from __future__ import annotations

import json

import pytest

import vifit
from conftest import SAMPLE, invoke

IRIS_COLUMNS = "sepal_length,sepal_width,petal_length,petal_width"

# (estimator parameters, the CLI's arguments for the same fit): rows read from a file by both
ROAD = {
    "cavi": ({"k": 3}, ["--k", "3"]),
    "k-range": ({"k": "2-4", "restarts": 2}, ["--k", "2-4", "--restarts", "2"]),
    "k-list-dp": ({"k": "2,5", "weights": "dp"}, ["--k", "2,5", "--weights", "dp"]),
    "svi-streamed": ({"k": 3, "method": "svi", "epochs": 3, "batch_size": 40},
                     ["--k", "3", "--method", "svi", "--epochs", "3", "--batch-size", "40"]),
    "svi-in-memory": ({"k": 3, "method": "svi", "epochs": 3, "stream": False},
                      ["--k", "3", "--method", "svi", "--epochs", "3", "--no-stream"]),
    "memoized": ({"k": 3, "method": "svi", "memoized": True, "epochs": 4},
                 ["--k", "3", "--method", "svi", "--memoized", "--epochs", "4"]),
}


@pytest.fixture(scope="module")
def iris_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("road") / "iris.csv"
    lines = (SAMPLE / "iris.csv").read_text().splitlines()
    header = lines[0].split(",")
    keep = [header.index(c) for c in IRIS_COLUMNS.split(",")]
    path.write_text("\n".join(",".join(line.split(",")[j] for j in keep) for line in lines) + "\n")
    return path


@pytest.fixture(scope="module")
def documents(iris_csv, tmp_path_factory):
    """{case: (the CLI's document text, the API's saved text)} for each case of ROAD."""
    folder = tmp_path_factory.mktemp("road-out")
    out = {}
    for name, (params, args) in ROAD.items():
        cli = folder / f"{name}-cli.json"
        result = invoke(["gmm", iris_csv, *args, "--seed", "3", "-q", "-o", cli])
        assert result.exit_code == 0, result.stderr
        api = folder / f"{name}-api.json"
        vifit.GMM(seed=3, **params).fit(str(iris_csv)).save(api)
        out[name] = (cli.read_text(), api.read_text())
    return out


def _without_run(text: str) -> str:
    document = json.loads(text)
    document.pop("run")
    return json.dumps(document)


@pytest.mark.parametrize("name", ROAD)
def test_the_api_on_a_file_writes_the_clis_bytes(documents, name):
    cli, api = documents[name]
    assert _without_run(cli) == _without_run(api)
    # byte-identical outside run: the run block is the document's last member
    assert cli[:cli.index('"run"')] == api[:api.index('"run"')]


def test_every_gmm_document_has_one_config_schema(documents):
    keys = {name: list(json.loads(cli)["config"]) for name, (cli, _) in documents.items()}
    first = keys["cavi"]
    assert all(order == first for order in keys.values()), keys
    cavi, svi = (json.loads(documents[name][0])["config"] for name in ("cavi", "svi-streamed"))
    assert cavi["method"] == "cavi" and cavi["max_iter"] == 500 and cavi["backend"] == "local"
    assert all(cavi[name] is None for name in ("batch_size", "forgetting", "delay", "epochs", "memoized",
                                               "stream"))  # not the method's settings: null, not a default
    assert svi["method"] == "svi" and svi["max_iter"] is None and svi["stream"] is True and svi["epochs"] == 3
    assert json.loads(documents["k-range"][0])["config"]["k"] == "2-4"


def test_chunk_rows_has_one_default_for_every_method(documents):
    """--chunk-rows unset: every method uses inference.passes.auto_chunk_rows (512-16384 rows), at
    most the rows; the value used is fit.chunk_rows, config keeps null."""
    from vifit.inference.passes import auto_chunk_rows
    from vifit.models import gmm

    rows, d = 150, 4
    for name, (cli, _) in documents.items():
        document = json.loads(cli)
        k = document["fit"].get("selection", {}).get("chosen_k") or len(document["params"]["summary"]["weights"])
        expected = min(auto_chunk_rows(gmm.Spec(k, d, "full", document["config"]["weights"])), rows)
        assert document["config"]["chunk_rows"] is None
        assert document["fit"]["chunk_rows"] == expected, name


def test_help_states_the_one_chunk_rows_default():
    text = " ".join(invoke(["gmm", "--help"]).stdout.split())
    assert "[default: auto, so a chunk's features T(x) take about 4 MB; 512-16384 rows" in text


def test_load_round_trips_every_road(documents, tmp_path):
    for name, (cli, _) in documents.items():
        path = tmp_path / f"{name}.json"
        path.write_text(cli)
        model = vifit.load(path)
        assert model.get_params()["method"] == json.loads(cli)["config"]["method"].replace("memoized", "svi")
        model.save(tmp_path / "again.json")
        assert (tmp_path / "again.json").read_text() == cli


def test_k_range_in_the_api_selects_as_the_cli(documents):
    document = json.loads(documents["k-range"][1])
    assert [c["k"] for c in document["fit"]["selection"]["candidates"]] == [2, 3, 4]
