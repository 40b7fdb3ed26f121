"""Tables as users have them (issue 19): a Feather v1 file (old pandas / R ``feather``) and a
Parquet dataset folder (the part files Spark, Dask or pandas ``partition_cols`` write, with hive
``key=value/`` subfolders) read as the CSV of the same rows: every fit writes the CSV fit's
document byte for byte (data.source aside); a folder's rows come in sorted part-path order with
its integer keys as numeric columns and its text keys dropped with the usual note; bad folders
and parts are exit 2 with one line naming the file, and nothing is written."""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pytest

from conftest import run_subprocess
from test_arrow import FITS, _fit, _table, _without_run


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """(folder written by pandas partition_cols=['year', 'region'], the CSV of the same rows in
    sorted part-path order with year as a column, the Feather v1 file of that CSV's rows)."""
    root = tmp_path_factory.mktemp("dataset")
    frame = _table()
    frame["year"] = np.where(np.arange(len(frame)) % 3 == 0, 2021, 2020)
    folder = root / "table.parquet"  # Spark names a dataset folder as a file
    frame.to_parquet(folder, partition_cols=["year", "region"], row_group_size=40)
    parts = sorted(p for p in folder.rglob("*.parquet"))
    assert len(parts) == 6
    (folder / "_SUCCESS").write_text("")  # Spark's marker: not a part
    (folder / "year=2020" / "_partial.parquet").write_bytes(b"not Parquet")  # '_' and '.' names are skipped
    (folder / ".part-9.parquet").write_bytes(b"not Parquet")
    rows = []
    for part in parts:  # the expected order: by path (year=2020/region=north, ...), each part's rows in order
        piece = pd.read_parquet(part)
        keys = dict(p.split("=") for p in part.relative_to(folder).parent.parts)
        piece["year"], piece["region"] = int(keys["year"]), keys["region"]
        rows.append(piece)
    expected = pd.concat(rows, ignore_index=True)
    csv = root / "same.csv"
    expected.to_csv(csv, index=False)
    v1 = root / "old.feather"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        feather.write_feather(pa.Table.from_pandas(expected, preserve_index=False).combine_chunks(), v1, version=1)
    assert v1.read_bytes()[:4] == b"FEA1"
    return folder, csv, v1


@pytest.mark.parametrize("case", ["gmm", "pca", "gmm-svi-streamed", "mixture-category"])
@pytest.mark.parametrize("which", ["folder", "feather-v1"])
def test_a_dataset_folder_and_a_feather_v1_file_fit_as_the_csv_of_their_rows(dataset, case, which):
    folder, csv, v1 = dataset
    data = folder if which == "folder" else v1
    args = FITS[case]
    expected = _fit([args[0], csv, *args[1:]])
    got = _fit([args[0], data, *args[1:]])
    assert _without_run(got, data) == _without_run(expected, csv)


def test_integer_keys_are_features_and_text_keys_are_dropped_with_a_note(dataset):
    folder, csv, _ = dataset
    result = run_subprocess(["pca", folder, "--k", "2", "--seed", "4"])
    assert result.returncode == 0, result.stderr.decode()
    document = json.loads(result.stdout)
    assert document["data"]["columns"] == ["a", "b", "c", "w", "year"]
    assert "ignoring non-numeric column 'region'" in result.stderr.decode()
    expected = run_subprocess(["pca", csv, "--k", "2", "--seed", "4", "-q"])
    assert _without_run(result.stdout, folder) == _without_run(expected.stdout, csv)


def test_predict_of_a_folder_keeps_its_key_columns_as_written(dataset, tmp_path):
    folder, csv, _ = dataset
    model = tmp_path / "gmm.json"
    assert run_subprocess(["gmm", csv, *FITS["gmm"][1:], "-q", "-o", model]).returncode == 0
    from_folder = run_subprocess(["predict", model, folder, "--keep-columns", "year,region", "-q"])
    from_csv = run_subprocess(["predict", model, csv, "--keep-columns", "year,region", "-q"])
    assert from_folder.returncode == 0, from_folder.stderr.decode()
    assert from_folder.stdout == from_csv.stdout
    assert from_folder.stdout.decode().splitlines()[1].startswith("2020,north,")


def _refused(args, target):
    target.write_text("keep me\n")
    result = run_subprocess([*args, "-o", target])
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert target.read_text() == "keep me\n"
    return stderr


def test_bad_folders_and_parts_are_one_line_naming_the_file(dataset, tmp_path):
    folder, _, _ = dataset
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "an empty directory" in _refused(["pca", empty, "--k", "2"], tmp_path / "out.json")
    other = tmp_path / "other"
    other.mkdir()
    (other / "part-0.csv").write_text("a,b\n1,2\n")
    assert "no Parquet files" in _refused(["pca", other, "--k", "2"], tmp_path / "out.json")
    broken = tmp_path / "broken"
    broken.mkdir()
    pd.read_parquet(folder).iloc[:50, :3].to_parquet(broken / "part-0.parquet")
    (broken / "part-1.parquet").write_bytes(b"PAR1 not really")
    stderr = _refused(["pca", broken, "--k", "2"], tmp_path / "out.json")
    assert os.path.join(str(broken), "part-1.parquet") in stderr and "not a readable Parquet file" in stderr
    (broken / "part-1.parquet").unlink()
    pd.DataFrame({"a": [1.0], "x": [2.0], "c": [3.0]}).to_parquet(broken / "part-1.parquet")
    stderr = _refused(["pca", broken, "--k", "2"], tmp_path / "out.json")
    assert "part-1.parquet: columns a, x, c differ from the first part's" in stderr


def test_sparks_null_key_is_a_missing_cell(tmp_path):
    folder = tmp_path / "table"
    for value in ("3", "__HIVE_DEFAULT_PARTITION__"):
        (folder / f"k={value}").mkdir(parents=True)
        pd.DataFrame({"a": [1.0, 2.0, 4.0], "b": [2.0, 1.0, 5.0]}).to_parquet(folder / f"k={value}" / "part-0.parquet")
    refused = run_subprocess(["pca", folder, "--k", "1"])
    assert refused.returncode == 2 and "row 4, column 'k': missing value" in refused.stderr.decode()
    document = json.loads(_fit(["pca", folder, "--k", "1", "--dropna"]))
    assert document["data"]["columns"] == ["a", "b", "k"] and document["data"]["rows_dropped"] == 3
