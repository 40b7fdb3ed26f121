"""Rows that line up: ``vifit predict`` output joins back to its input.

--keep-columns copies input columns (as written) first, --id-column or the row index of a pandas
export (or, with --dropna, the data row number) is the row id, and a row that cannot be scored is
an empty result row in its place. The Python API gives a DataFrame's rows back on its index.
Each join is checked with pandas against the input read independently; the scores are checked
against predict on a file holding only the scorable rows (written by pandas, not by vifit).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

import vifit
from conftest import run_subprocess

FEATURES = ["a", "b", "c"]


def _table(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.normal(-2, 0.6, size=(n // 2, 3)), rng.normal(2, 0.6, size=(n - n // 2, 3))])
    frame = pd.DataFrame(np.round(x, 4), columns=FEATURES)
    frame.insert(0, "id", [f"{i:03d}" for i in range(n)])  # leading zeros: an id as text
    frame["name"] = [f"item {i}" for i in range(n)]
    return frame


def _holes(frame: pd.DataFrame) -> pd.DataFrame:
    """The table with a missing cell in rows 3 and 17 and an infinite one in row 25 (0-based)."""
    holed = frame.copy()
    holed.loc[3, "b"] = np.nan
    holed.loc[17, "a"] = np.nan
    holed.loc[25, "c"] = np.inf
    return holed


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lineup")
    clean = folder / "clean.csv"
    _table().to_csv(clean, index=False)
    out = {}
    for model, args in (("pca", ["--k", "2"]), ("gmm", ["--k", "2", "--seed", "3"])):
        path = folder / f"{model}.json"
        result = run_subprocess([model, clean, *args, "--columns", "a,b,c", "-q", "-o", path])
        assert result.returncode == 0, result.stderr.decode()
        out[model] = path
    return out


def _predict(args) -> pd.DataFrame:
    result = run_subprocess(["predict", *args, "-q"])
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def _as_text(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_keep_columns_all_with_dropna_joins_back_on_the_row_number(models, tmp_path):
    holed = _holes(_table())
    data = tmp_path / "holed.csv"
    holed.to_csv(data, index=False)
    text = _predict([models["pca"], data, "--keep-columns", "all", "--dropna"])
    out = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    assert list(out.columns) == ["row", "id", "a", "b", "c", "name", "pc1", "pc2", "loglik"]
    # the rows kept are those pandas sees as finite, in order; 'row' counts data rows from 1
    finite = np.isfinite(holed[FEATURES].to_numpy(dtype=float)).all(axis=1)
    np.testing.assert_array_equal(out["row"].astype(int).to_numpy() - 1, np.flatnonzero(finite))
    # joined on the id, every kept cell is the input's cell, as written
    source = _as_text(data)
    joined = source.iloc[out["row"].astype(int) - 1].reset_index(drop=True)
    pd.testing.assert_frame_equal(out[list(source.columns)], joined)
    # and the results are what predict writes for a file of the scorable rows only
    scorable = tmp_path / "scorable.csv"
    holed[finite].to_csv(scorable, index=False)
    alone = pd.read_csv(io.StringIO(_predict([models["pca"], scorable])), dtype=str)
    pd.testing.assert_frame_equal(out[["pc1", "pc2", "loglik"]], alone)


def test_the_pandas_index_is_the_row_id(models, tmp_path):
    holed = _holes(_table()).set_index("id")
    holed.index = [f"r{i}" for i in range(len(holed))]  # strings: not the row positions
    data = tmp_path / "indexed.csv"
    holed.to_csv(data)  # pandas' default: the index as an unnamed first column
    text = _predict([models["gmm"], data, "--dropna", "--keep-columns", "name"])
    assert text.splitlines()[0] == ",name,label,resp_1,resp_2,log_density"
    out = pd.read_csv(io.StringIO(text), index_col=0)
    finite = np.isfinite(holed[FEATURES].to_numpy(dtype=float)).all(axis=1)
    assert list(out.index) == list(holed.index[finite])
    joined = holed.join(out.add_suffix("_out"), how="inner")
    assert (joined["name"] == joined["name_out"]).all()
    # without --dropna the rows with missing cells are scored (gmm marginalises them), none shifted
    no_inf = tmp_path / "no_inf.csv"
    holed.drop(index="r25").to_csv(no_inf)
    whole = pd.read_csv(io.StringIO(_predict([models["gmm"], no_inf])), index_col=0)
    assert list(whole.index) == [i for i in holed.index if i != "r25"]
    assert whole.notna().all().all()


def test_id_column_is_written_first_as_written(models, tmp_path):
    data = tmp_path / "clean.csv"
    _table().to_csv(data, index=False)
    text = _predict([models["pca"], data, "--id-column", "id", "--keep-columns", "name,id"])
    out = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    assert list(out.columns) == ["id", "name", "pc1", "pc2", "loglik"]  # the id once, first
    source = _as_text(data)
    assert list(out["id"]) == list(source["id"])  # "007" stays "007"
    assert list(out["name"]) == list(source["name"])
    by_position = _predict([models["pca"], data, "--id-column", "1"])
    assert by_position.splitlines()[0] == "id,pc1,pc2,loglik"
    plain = pd.read_csv(io.StringIO(_predict([models["pca"], data])), dtype=str)
    pd.testing.assert_frame_equal(out[["pc1", "pc2", "loglik"]], plain)


def test_a_row_that_cannot_be_scored_is_an_empty_row_in_its_place(models, tmp_path):
    frame = _table()
    frame.loc[5, "a"] = 1e300  # finite, but its density is beyond float64
    data = tmp_path / "extreme.csv"
    frame.to_csv(data, index=False)
    result = run_subprocess(["predict", models["gmm"], data, "--keep-columns", "id"])
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode().splitlines()
    assert len(lines) == len(frame) + 1
    assert lines[6] == "005,,,,"
    out = pd.read_csv(io.StringIO(result.stdout.decode()), dtype={"id": str})
    assert list(out["id"]) == list(frame["id"])
    assert out.drop(index=5).notna().all().all()


def test_stdin_keeps_columns_too(models, tmp_path):
    data = tmp_path / "clean.csv"
    _table().to_csv(data, index=False)
    from_file = _predict([models["pca"], data, "--keep-columns", "name"])
    result = run_subprocess(["predict", models["pca"], "-", "--keep-columns", "name", "-q"], input=data.read_bytes())
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode() == from_file
    # a TAB-separated stdin is still sniffed (the spooled copy is not named .csv)
    tsv = _table().to_csv(sep="\t", index=False).encode()
    result = run_subprocess(["predict", models["pca"], "-", "-q"], input=tsv)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode() == _predict([models["pca"], data])


@pytest.mark.parametrize("args, words", [
    (["--keep-columns", ""], ["--keep-columns", "empty"]),
    (["--keep-columns", "name,nope"], ["--keep-columns", "no column named 'nope'"]),
    (["--keep-columns", "9"], ["--keep-columns", "outside columns 1-6"]),
    (["--keep-columns", "3-1"], ["--keep-columns", "range"]),
    (["--id-column", "a,b"], ["--id-column", "2 columns"]),
    (["--id-column", "zz"], ["--id-column", "no column named 'zz'"]),
    (["--keep-columns", "label"], ["--keep-columns", "'label'", "result column"]),
    (["--keep-columns", "all", "--backend", "dask"], ["one file per partition", "'*'"]),  # -o needs a star
])
def test_bad_specs_are_one_line_exit_2(models, tmp_path, args, words):
    frame = _table()
    frame["label"] = 1  # a column named as a gmm result
    data = tmp_path / "clean.csv"
    frame.to_csv(data, index=False)
    target = tmp_path / "out.csv"
    target.write_text("keep me\n")
    result = run_subprocess(["predict", models["gmm"], data, *args, "-o", target])
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    for word in words:
        assert word in stderr
    assert target.read_text() == "keep me\n"


def test_a_bad_spec_is_reported_before_the_rows_are_read(models, tmp_path):
    frame = _holes(_table())  # an infinite cell at row 26: reading the rows would stop there
    data = tmp_path / "holed.csv"
    frame.to_csv(data, index=False)
    result = run_subprocess(["predict", models["pca"], data, "--keep-columns", "nope"])
    assert result.returncode == 2
    assert "--keep-columns: no column named 'nope'" in result.stderr.decode()


@pytest.mark.parametrize("make, methods", [
    (lambda: vifit.GMM(k=2, seed=1), ["predict", "predict_proba", "score_samples"]),
    (lambda: vifit.Mixture(k=2, seed=1), ["predict", "predict_proba", "score_samples", "impute"]),
    (lambda: vifit.PCA(k=2, seed=1), ["transform", "score_samples"]),
    (lambda: vifit.Autoencoder(hidden="4,2", epochs=2, seed=1), ["transform", "reconstruct", "score_samples"]),
    (lambda: vifit.VAE(hidden="4", latent=2, epochs=2, iwae_samples=3, seed=1),
     ["transform", "transform_sd", "reconstruct", "score_samples"]),
])
def test_api_gives_a_dataframes_rows_back_on_its_index(make, methods):
    frame = _table()[FEATURES]
    frame.index = pd.Index([f"r{i}" for i in range(len(frame))][::-1], name="key")  # not positions
    model = make().fit(frame)
    for method in methods:
        from_frame = getattr(model, method)(frame)
        from_array = getattr(model, method)(frame.to_numpy())
        assert isinstance(from_array, np.ndarray), method  # numpy in, numpy out
        assert isinstance(from_frame, pd.DataFrame if from_array.ndim == 2 else pd.Series), method
        assert from_frame.index.equals(frame.index), method
        np.testing.assert_array_equal(from_frame.to_numpy(), from_array)
        if isinstance(model, vifit.VAE) and method == "score_samples":
            continue  # its ELBO draws are seeded per call: a row's value depends on the rows beside it
        # rows picked by label are the rows of those labels
        picked = getattr(model, method)(frame.loc[["r3", "r30"]])
        np.testing.assert_allclose(np.asarray(picked), np.asarray(from_frame.loc[["r3", "r30"]]), rtol=1e-12)
    if hasattr(model, "predict_proba"):
        assert list(model.predict_proba(frame).columns) == ["resp_1", "resp_2"]
