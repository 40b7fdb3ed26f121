"""``vifit mixture`` end to end: inferred and given families, text categories, missing cells kept
(not an error, not dropped), row weights, and predict / --impute / sample / the API on its files.
The maths is checked in test_families_*; here: that the command reads, fits and writes it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import invoke

REGIONS = ["north", "south", "east"]


def _table(n: int = 600, seed: int = 0, missing: float = 0.0) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(header, rows as strings (n, 5), labels): age (gaussian), smoker (0/1), visits (counts),
    region (text), weight (a row-weight column)."""
    rng = np.random.default_rng(seed)
    z = rng.integers(0, 2, size=n)
    age = np.round(rng.normal(np.where(z, 60.0, 30.0), 5.0), 1)
    smoker = (rng.random(n) < np.where(z, 0.8, 0.1)).astype(int)
    visits = rng.poisson(np.where(z, 9.0, 1.0))
    region = np.where(z, np.where(rng.random(n) < 0.8, "north", "south"), np.where(rng.random(n) < 0.8, "east", "south"))
    cells = np.column_stack([age.astype(str), smoker.astype(str), visits.astype(str), region,
                             rng.integers(1, 4, size=n).astype(str)]).astype(object)
    if missing:
        holes = rng.random((n, 4)) < missing
        cells[:, :4][holes] = ""
    return ["age", "smoker", "visits", "region", "weight"], cells, z


def _write(path, header, cells) -> str:
    path.write_text(",".join(header) + "\n" + "\n".join(",".join(row) for row in cells) + "\n")
    return str(path)


def _fit(tmp_path, *args, missing=0.0):
    header, cells, z = _table(missing=missing)
    data = _write(tmp_path / "visits.csv", header, cells)
    out = tmp_path / "mixture.json"
    result = invoke(["mixture", data, "-k", "2", "--seed", "1", "-o", str(out), *args])
    return result, data, out, z


def test_families_are_inferred_noted_and_recorded(tmp_path):
    result, _, out, _ = _fit(tmp_path, "--columns", "age,smoker,visits,region")
    assert result.exit_code == 0, result.stderr
    assert "families: gaussian: age; bernoulli: smoker; poisson: visits; categorical: region" in result.stderr
    document = json.loads(out.read_text())
    assert document["model"] == "mixture"
    assert document["fit"]["families"] == {"age": "gaussian", "smoker": "bernoulli", "visits": "poisson",
                                           "region": "categorical"}
    levels = [family["levels"] for family in document["params"]["families"] if family["family"] == "categorical"]
    assert levels == [sorted(REGIONS)]


def test_the_clusters_are_found_and_predict_writes_one_row_per_input_row(tmp_path):
    result, data, out, z = _fit(tmp_path, "--columns", "age,smoker,visits,region")
    assert result.exit_code == 0, result.stderr
    predicted = invoke(["predict", str(out), data])
    assert predicted.exit_code == 0, predicted.stderr
    lines = predicted.stdout.strip().splitlines()
    assert lines[0].split(",")[:3] == ["component", "resp_1", "resp_2"] and lines[0].endswith("log_density")
    labels = np.array([int(line.split(",")[0]) for line in lines[1:]])
    assert labels.size == z.size
    agreement = max(np.mean(labels - 1 == z), np.mean(labels - 1 != z))
    assert agreement > 0.97  # two well separated groups


def test_missing_cells_are_modelled_not_an_error_and_impute_fills_them(tmp_path):
    result, data, out, _ = _fit(tmp_path, "--columns", "age,smoker,visits,region", missing=0.15)
    assert result.exit_code == 0, result.stderr
    document = json.loads(out.read_text())
    assert document["data"]["n_rows"] == 600 and document["fit"]["missing_cells"] > 0
    filled = invoke(["predict", str(out), data, "--impute"])
    assert filled.exit_code == 0, filled.stderr
    rows = [line.split(",") for line in filled.stdout.strip().splitlines()]
    assert rows[0] == ["age", "smoker", "visits", "region"] and len(rows) == 601
    assert all(cell != "" for row in rows[1:] for cell in row)
    # the same table is still an error for pca, with today's message
    pca = invoke(["pca", data, "--columns", "age,smoker,visits", "-k", "1"])
    assert pca.exit_code == 2 and "missing value" in pca.stderr and "--dropna" in pca.stderr


def test_row_weights_are_not_a_feature_and_set_the_weight_total(tmp_path):
    result, _, out, _ = _fit(tmp_path, "--row-weights", "weight")
    assert result.exit_code == 0, result.stderr
    document = json.loads(out.read_text())
    assert "weight" not in document["data"]["columns"]
    header, cells, _ = _table()
    assert document["fit"]["weight_total"] == pytest.approx(cells[:, 4].astype(float).sum())


def test_family_overrides_and_their_errors(tmp_path):
    result, _, out, _ = _fit(tmp_path, "--columns", "age,smoker,visits", "--family", "gaussian:visits")
    assert result.exit_code == 0, result.stderr
    assert json.loads(out.read_text())["fit"]["families"]["visits"] == "gaussian"
    for spec, words in [("poisson:age", "poisson needs non-negative integer counts"),
                        ("lognormal:age", "unknown family"), ("gaussian:nothere", "no column 'nothere'"),
                        ("gaussian:age,bernoulli:age", "two families")]:
        bad, _, bad_out, _ = _fit(tmp_path, "--columns", "age,smoker,visits", "--family", spec)
        assert bad.exit_code == 2 and bad.stderr.count("\n") == 1 and words in bad.stderr, (spec, bad.stderr)


def test_sample_and_the_api_read_the_file(tmp_path):
    import vifit

    result, data, out, _ = _fit(tmp_path, "--columns", "age,smoker,visits")
    assert result.exit_code == 0, result.stderr
    drawn = invoke(["sample", str(out), "-n", "50", "--seed", "3"])
    assert drawn.exit_code == 0, drawn.stderr
    rows = np.array([[float(v) for v in line.split(",")] for line in drawn.stdout.strip().splitlines()[1:]])
    assert rows.shape == (50, 4) and set(np.unique(rows[:, 1])) <= {0.0, 1.0}
    assert (rows[:, 2] >= 0).all() and np.array_equal(rows[:, 2], np.round(rows[:, 2]))
    loaded = vifit.load(str(out))
    assert isinstance(loaded, vifit.Mixture) and loaded.families_["visits"] == "poisson"
    assert loaded.weights_.shape == (2,) and abs(loaded.weights_.sum() - 1) < 1e-12


def test_a_k_range_chooses_the_generating_k_and_records_every_candidate(tmp_path):
    """Data of two clusters: K = 1 is far below and the extra components of K = 3, 4 cost bound
    (Dirichlet weights), so the highest ELBO of 1-4 is K = 2. Each candidate's ELBO is the one a
    single-K fit reaches; the families are noted once."""
    header, cells, z = _table()
    data = _write(tmp_path / "visits.csv", header, cells)
    out = tmp_path / "range.json"
    result = invoke(["mixture", data, "-k", "1-4", "--seed", "1", "--columns", "age,smoker,visits,region",
                     "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("families:") == 1
    document = json.loads(out.read_text())
    selection = document["fit"]["selection"]
    assert [c["k"] for c in selection["candidates"]] == [1, 2, 3, 4]
    assert selection["chosen_k"] == 2 and document["config"]["k"] == "1-4"
    assert len(document["params"]["expected_weights"]) == 2
    for candidate in selection["candidates"][:2]:
        single = tmp_path / f"k{candidate['k']}.json"
        assert invoke(["mixture", data, "-k", str(candidate["k"]), "--seed", "1", "--columns",
                       "age,smoker,visits,region", "-o", str(single)]).exit_code == 0
        assert json.loads(single.read_text())["fit"]["elbo"] == candidate["elbo"]
    refused = invoke(["mixture", data, "-k", "2-3", "--method", "svi"])
    assert refused.exit_code == 2 and "several values" in refused.stderr


def test_the_api_takes_k_candidates():
    import vifit

    header, cells, z = _table()
    x = cells[:, :3].astype(float)
    model = vifit.Mixture(k=[1, 2, 3], seed=0).fit(x)
    assert model.document_["fit"]["selection"]["chosen_k"] == 2
    assert len(model.weights_) == 2


def test_svi_streams_the_file_and_gives_the_in_memory_fit(tmp_path, monkeypatch):
    """--method svi reads the file in blocks (a first pass for the text column's levels, one for
    the columns' summaries): with the file read in 100-row blocks but within one shuffling
    window, the stream's fit is the --no-stream one (same batches) up to rounding, with missing
    cells, a text column and row weights; memoized VB ends at the CAVI optimum of the same rows."""
    from vifit.inference import sources

    monkeypatch.setattr(sources, "READ_ROWS", 100)
    header, cells, _ = _table(missing=0.1)
    data = _write(tmp_path / "visits.csv", header, cells)
    documents = {}
    common = ["-k", "2", "--seed", "1", "--row-weights", "weight", "-q"]
    for name, args in {"stream": ["--method", "svi", "--memoized", "--epochs", "40"],
                       "memory": ["--method", "svi", "--memoized", "--epochs", "40", "--no-stream"],
                       "cavi": ["--tol", "1e-9"]}.items():
        out = tmp_path / f"{name}.json"
        result = invoke(["mixture", data, *common, "-o", str(out), *args])
        assert result.exit_code == 0, result.stderr
        documents[name] = json.loads(out.read_text())
    stream, memory, cavi = documents["stream"], documents["memory"], documents["cavi"]
    assert stream["config"]["stream"] is True and memory["config"]["stream"] is False
    assert stream["data"] == memory["data"] and stream["data"]["preprocessing"]["levels"]["region"] == sorted(REGIONS)
    assert stream["fit"]["families"] == cavi["fit"]["families"]
    assert stream["fit"]["missing_cells"] == cavi["fit"]["missing_cells"] > 0
    assert stream["fit"]["weight_total"] == cavi["fit"]["weight_total"]
    # the priors come from column summaries merged over 100-row blocks (Chan et al.), not from one
    # block: equal to the last few bits, so the fits agree to 1e-12, not bit for bit
    assert stream["fit"]["elbo"] == pytest.approx(memory["fit"]["elbo"], rel=1e-12)
    assert stream["fit"]["n_iter"] == memory["fit"]["n_iter"]
    for a, b in zip(stream["params"]["families"], memory["params"]["families"]):
        assert a["family"] == b["family"] and a["columns"] == b["columns"]
        for key in ("prior", "posterior"):
            for name, value in a[key].items():
                np.testing.assert_allclose(value, b[key][name], rtol=1e-10, err_msg=f"{a['family']} {key} {name}")
    assert stream["fit"]["elbo"] == pytest.approx(cavi["fit"]["elbo"], rel=1e-6)  # memoized: exact global steps


def test_svi_stream_errors(tmp_path):
    header, cells, _ = _table()
    data = _write(tmp_path / "visits.csv", header, cells)
    piped = invoke(["mixture", "-", "-k", "2", "--method", "svi"], input=open(data).read())
    assert piped.exit_code == 2 and "--no-stream" in piped.stderr
    assert invoke(["mixture", "-", "-k", "2", "--method", "svi", "--no-stream", "-q"],
                  input=open(data).read()).exit_code == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,0\n2,1\n3,2\n4,0\n")  # a 2 in a column --family calls bernoulli
    result = invoke(["mixture", bad, "-k", "2", "--method", "svi", "--family", "bernoulli:b"])
    assert result.exit_code == 2 and "'b'" in result.stderr and "0/1" in result.stderr
    word = tmp_path / "word.csv"
    word.write_text("a,b\n1,0\n2,1\n3,x1\n4,0\n")  # a text cell in a numeric column, named by row
    result = invoke(["mixture", word, "-k", "2", "--method", "svi", "--family", "bernoulli:b"])
    assert result.exit_code == 2 and "row 3 (line 4), column 'b'" in result.stderr
