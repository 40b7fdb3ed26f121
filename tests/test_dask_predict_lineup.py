"""``vifit predict --backend dask`` lines up as local predict does (issue 19): each output file is
its partition's rows, row id first, then --keep-columns as written, then the results, so the files
concatenated in name order are local predict's output of the same rows, byte for byte (CSV) and
value for value (Parquet); --dropna's row number counts the data rows of all of DATA. One small
LocalCluster of one worker for the module (these tests are slow)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import invoke

distributed = pytest.importorskip("distributed")
pytest.importorskip("dask")

BOUNDS = [(0, 13), (13, 30), (30, 48)]  # three parts of unequal size
HOLES = [(5, "b"), (31, "a")]  # (row, column) made empty: a row --dropna drops in parts 1 and 3


@pytest.fixture(scope="module")
def address():
    local = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        yield local.scheduler_address
    finally:
        local.close()


def _frame(holes: bool) -> pd.DataFrame:
    """48 rows: a text id with leading zeros, two numeric columns in two groups, a text column."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(48, 2)) + np.repeat([[0.0, 0.0], [4.0, 4.0]], 24, axis=0)
    frame = pd.DataFrame({"id": [f"{i:04d}" for i in range(48)], "a": x[:, 0], "b": x[:, 1],
                          "city": [f"c{i % 5}" for i in range(48)]})
    if holes:
        for row, column in HOLES:
            frame.loc[row, column] = np.nan
    return frame


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """{holes: folder} with all.csv, part-*.csv and all.parquet (row groups of 10 rows), the same rows."""
    out = {}
    for holes in (False, True):
        folder = tmp_path_factory.mktemp("holes" if holes else "clean")
        frame = _frame(holes)
        frame.to_csv(folder / "all.csv", index=False)
        frame.to_parquet(folder / "all.parquet", index=False, row_group_size=10)
        for i, (start, stop) in enumerate(BOUNDS):
            frame.iloc[start:stop].to_csv(folder / f"part-{i}.csv", index=False)
        out[holes] = folder
    return out


@pytest.fixture(scope="module")
def models(tables, tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    paths = {}
    for kind, args in (("gmm", ["--k", "2", "--seed", "1"]), ("pca", ["--k", "1", "--standardize"])):
        paths[kind] = folder / f"{kind}.json"
        result = invoke([kind, tables[False] / "all.csv", "--columns", "a,b", *args, "-q", "-o", paths[kind]])
        assert result.exit_code == 0, result.stderr
    return paths


def _on_cluster(address, model, data, out, *extra):
    result = invoke(["predict", model, data, *extra, "--backend", "dask", "--scheduler", address, "-o", out])
    assert result.exit_code == 0, result.stderr
    return sorted(out.parent.glob(out.name.replace("*", "??")))


@pytest.mark.parametrize("kind", ["gmm", "pca"])
@pytest.mark.parametrize("dropna", [False, True], ids=["all-rows", "dropna"])
def test_csv_parts_concatenated_are_local_predict_byte_for_byte(address, tables, models, tmp_path, kind, dropna):
    folder = tables[dropna]
    extra = ["--keep-columns", "all"] + (["--dropna"] if dropna else [])
    local = invoke(["predict", models[kind], folder / "all.csv", *extra])
    assert local.exit_code == 0, local.stderr
    files = _on_cluster(address, models[kind], folder / "part-*.csv", tmp_path / "part-*.csv", *extra)
    assert len(files) == len(BOUNDS)
    texts = [f.read_text() for f in files]
    header = texts[0].splitlines(keepends=True)[0]
    assert all(t.startswith(header) for t in texts)
    assert header + "".join(t[len(header):] for t in texts) == local.stdout
    if dropna:  # the data row numbers of all of DATA, the dropped rows' missing (not per partition)
        rows = [int(line.split(",")[0]) for t in texts for line in t.splitlines()[1:]]
        assert rows == [r + 1 for r in range(48) if r not in {row for row, _ in HOLES}]
        assert texts[0].splitlines()[0].startswith("row,id,a,b,city,")
    else:
        assert header.startswith("id,a,b,city,") and "\n0013," in local.stdout  # the text id as written


def test_parquet_out_of_parquet_row_groups_is_local_predict_value_for_value(address, tables, models, tmp_path):
    """A partition per row group, each numbered on from the rows of the groups before it."""
    folder = tables[True]
    extra = ["--keep-columns", "all", "--dropna"]
    local = tmp_path / "local.parquet"
    assert invoke(["predict", models["gmm"], folder / "all.parquet", *extra, "-o", local]).exit_code == 0
    files = _on_cluster(address, models["gmm"], folder / "all.parquet", tmp_path / "part-*.parquet", *extra)
    assert [f.name for f in files] == [f"part-{i:02d}.parquet" for i in range(5)]
    remote = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    expected = pd.read_parquet(local)
    assert list(remote.columns) == list(expected.columns) == ["row", "id", "a", "b", "city", "label", "resp_1",
                                                               "resp_2", "log_density"]
    assert remote["id"].tolist() == expected["id"].tolist()  # text, leading zeros kept
    assert remote["row"].tolist() == [r + 1 for r in range(48) if r not in {row for row, _ in HOLES}]
    pd.testing.assert_frame_equal(remote, expected, check_exact=True)


def test_a_pandas_index_is_the_row_id_on_the_cluster_too(address, models, tmp_path):
    frame = _frame(False).set_index("id").rename_axis(None)  # written under an empty name, as to_csv() does
    frame.to_csv(tmp_path / "all.csv")
    frame.iloc[:20].to_csv(tmp_path / "part-0.csv")
    frame.iloc[20:].to_csv(tmp_path / "part-1.csv")
    local = invoke(["predict", models["gmm"], tmp_path / "all.csv"])
    (tmp_path / "out").mkdir()
    files = _on_cluster(address, models["gmm"], tmp_path / "part-*.csv", tmp_path / "out" / "p-*.csv")
    texts = [f.read_text() for f in files]
    header = texts[0].splitlines(keepends=True)[0]
    assert header.startswith(",label,")
    assert header + "".join(t[len(header):] for t in texts) == local.stdout


@pytest.mark.parametrize("args,message", [
    (["--keep-columns", "nosuch"], "--keep-columns"),
    (["--id-column", "a,b"], "--id-column 'a,b': names 2 columns"),
    (["--keep-columns", ""], "--keep-columns: empty"),
])
def test_bad_specs_are_one_line_before_the_cluster_is_reached(tables, models, tmp_path, args, message):
    """The scheduler named does not exist: the spec's message, not the connection's, proves the
    spec was checked first; nothing is written."""
    out = tmp_path / "p-*.csv"
    result = invoke(["predict", models["gmm"], tables[False] / "part-*.csv", *args, "--backend", "dask",
                     "--scheduler", "tcp://127.0.0.1:9", "-o", out])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())


def test_a_kept_column_named_as_a_result_is_refused_before_the_cluster_is_reached(models, tmp_path):
    frame = _frame(False)
    frame["label"] = 1
    frame.to_csv(tmp_path / "part-0.csv", index=False)
    (tmp_path / "out").mkdir()
    result = invoke(["predict", models["gmm"], tmp_path / "part-*.csv", "--keep-columns", "city,label",
                     "--backend", "dask", "--scheduler", "tcp://127.0.0.1:9", "-o", tmp_path / "out" / "p-*.csv"])
    assert result.exit_code == 2 and "'label'" in result.stderr and "result column" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not list((tmp_path / "out").iterdir())


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A Parquet dataset folder (pandas partition_cols, hive city=... subfolders): five parts."""
    root = tmp_path_factory.mktemp("dataset")
    _frame(False).to_parquet(root / "table", partition_cols=["city"])
    return root / "table"


def test_a_dataset_folder_is_a_partition_per_part_for_fit_and_predict(address, folder, models, tmp_path):
    local = invoke(["predict", models["gmm"], folder, "--keep-columns", "all"])
    assert local.exit_code == 0, local.stderr
    assert local.stdout.splitlines()[0].startswith("id,a,b,city,")  # the key, after the parts' own columns
    files = _on_cluster(address, models["gmm"], folder, tmp_path / "part-*.csv", "--keep-columns", "all")
    assert len(files) == 5  # one per part file
    texts = [f.read_text() for f in files]
    header = texts[0].splitlines(keepends=True)[0]
    assert header + "".join(t[len(header):] for t in texts) == local.stdout
    assert [t.splitlines()[1].split(",")[3] for t in texts] == ["c0", "c1", "c2", "c3", "c4"]  # sorted parts
    fits = [invoke(["gmm", folder, "--columns", "a,b", "--k", "2", "--seed", "1", "-q", *extra])
            for extra in ([], ["--backend", "dask", "--scheduler", address])]
    assert all(f.exit_code == 0 for f in fits), [f.stderr for f in fits]
    import json

    here, there = (json.loads(f.stdout) for f in fits)
    assert there["fit"]["partitions"] == 5 and there["data"]["n_rows"] == here["data"]["n_rows"] == 48
    np.testing.assert_allclose(there["fit"]["elbo"], here["fit"]["elbo"], rtol=1e-10)


def test_a_damaged_part_on_the_cluster_is_one_line_naming_it(address, folder, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    part = sorted(broken.rglob("*.parquet"))[2]
    part.write_bytes(b"PAR1 cut short")
    result = invoke(["gmm", broken, "--columns", "a,b", "--k", "2", "--backend", "dask", "--scheduler", address,
                     "-o", tmp_path / "out.json"])
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if not line.startswith("vifit: note:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert str(part) in errors[0] and not (tmp_path / "out.json").exists()


def test_a_csv_cut_in_byte_blocks_lines_up_block_by_block(address, tables, models, tmp_path, monkeypatch):
    """A big plain file is cut into byte blocks (64 MiB; here 400 bytes): each block's kept
    columns are read from its own lines, its rows numbered on from the blocks before it."""
    from vifit.distributed import reading

    monkeypatch.setattr(reading, "BLOCKSIZE", 400)
    folder = tables[True]
    extra = ["--keep-columns", "all", "--dropna"]
    local = invoke(["predict", models["pca"], folder / "all.csv", *extra])
    files = _on_cluster(address, models["pca"], folder / "all.csv", tmp_path / "part-*.csv", *extra)
    assert len(files) > 3
    texts = [f.read_text() for f in files]
    header = texts[0].splitlines(keepends=True)[0]
    assert header + "".join(t[len(header):] for t in texts) == local.stdout


def test_no_header_keeps_columns_by_index(address, tables, models, tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    for i, (start, stop) in enumerate(BOUNDS):
        _frame(False).iloc[start:stop, [1, 2]].to_csv(folder / f"part-{i}.csv", index=False, header=False)
    _frame(False).iloc[:, [1, 2]].to_csv(folder / "all.csv", index=False, header=False)
    extra = ["--no-header", "--keep-columns", "1", "--dropna"]  # the model's columns, by position
    local = invoke(["predict", models["gmm"], folder / "all.csv", *extra])
    assert local.exit_code == 0, local.stderr
    (tmp_path / "out").mkdir()
    files = _on_cluster(address, models["gmm"], folder / "part-*.csv", tmp_path / "out" / "part-*.csv", *extra)
    texts = [f.read_text() for f in files]
    header = texts[0].splitlines(keepends=True)[0]
    assert header + "".join(t[len(header):] for t in texts) == local.stdout
    assert local.stdout.splitlines()[0].startswith("row,a,label,")
