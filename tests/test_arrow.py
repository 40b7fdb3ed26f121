"""Parquet, Feather and Arrow DATA (the extra vifit[arrow]) read as the CSV of the same table.

Each table is written by pandas both as CSV and as Parquet / Feather / Arrow; every fit of the
Arrow file must write the CSV fit's document byte for byte (data.source aside), through a real
subprocess: gmm CAVI (with missing cells and --row-weights), pca, mixture with a category column,
gmm SVI streamed by row groups. Bad files are exit 2 with one line; ``-o x.parquet`` read back by
pandas equals the CSV output; without pyarrow (made unimportable, not uninstalled) one line says
which extra to install.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pytest

from conftest import run_subprocess

FEATURES = ["a", "b", "c"]


def _table(n: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(-2, 0.7, size=(n // 2, 3)), rng.normal(2, 0.7, size=(n - n // 2, 3))])
    frame = pd.DataFrame(np.round(x, 4), columns=FEATURES)  # 4 decimals: CSV text and float64 agree exactly
    frame["region"] = rng.choice(["north", "south", "west"], size=n)
    frame["w"] = rng.integers(0, 4, size=n)
    return frame


def _write(frame: pd.DataFrame, folder, stem: str, *, index: bool = False, row_group_size: int = 64) -> dict:
    """{format: path} of the frame as CSV and Parquet (several row groups), and without its
    index, as Feather and Arrow IPC (several record batches)."""
    paths = {fmt: folder / f"{stem}.{fmt}" for fmt in ("csv", "parquet", "feather", "arrow")}
    frame.to_csv(paths["csv"], index=index)
    frame.to_parquet(paths["parquet"], index=index, row_group_size=row_group_size)
    if index:
        return {fmt: paths[fmt] for fmt in ("csv", "parquet")}
    feather.write_feather(frame, paths["feather"])
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with pa.ipc.new_file(str(paths["arrow"]), table.schema) as writer:  # several record batches
        for batch in table.to_batches(max_chunksize=100):
            writer.write_batch(batch)
    return paths


def _fit(args) -> bytes:
    result = run_subprocess([*args, "-q"])
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def _without_run(text: bytes, path) -> bytes:
    """The document's bytes with the run block (timing) and data.source (the file's name) blanked."""
    document = json.loads(text)
    assert document["data"]["source"] == str(path)
    lines = text.decode().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('  "run": {'))
    kept = [line for line in lines[:start] if not line.startswith('    "source": ')]
    return "\n".join(kept).encode()


FITS = {
    "gmm": ["gmm", "--k", "2", "--seed", "4", "--columns", "a,b,c"],
    "gmm-missing-weights": ["gmm", "--k", "2", "--seed", "4", "--columns", "a,b,c", "--row-weights", "w"],
    "pca": ["pca", "--k", "2", "--seed", "4", "--columns", "a,b,c"],
    "mixture-category": ["mixture", "--k", "2", "--seed", "4", "--columns", "a,b,region", "--max-iter", "50"],
    "gmm-svi-streamed": ["gmm", "--k", "2", "--seed", "4", "--columns", "a,b,c", "--method", "svi",
                         "--epochs", "3", "--batch-size", "50", "--chunk-rows", "40"],
}


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp("arrow")
    frame = _table()
    holed = frame.copy()
    holed.loc[[5, 77, 300], "b"] = np.nan  # missing cells: kept by gmm
    return {"clean": _write(frame, folder, "clean"), "holed": _write(holed, folder, "holed")}


@pytest.mark.parametrize("case", FITS)
@pytest.mark.parametrize("fmt", ["parquet", "feather", "arrow"])
def test_an_arrow_file_fits_as_the_csv_of_the_same_table(tables, case, fmt):
    paths = tables["holed" if case == "gmm-missing-weights" else "clean"]
    args = FITS[case]
    csv_fit = _fit([args[0], paths["csv"], *args[1:]])
    arrow_fit = _fit([args[0], paths[fmt], *args[1:]])
    assert _without_run(arrow_fit, paths[fmt]) == _without_run(csv_fit, paths["csv"])
    document = json.loads(arrow_fit)
    if case == "gmm-svi-streamed":
        assert document["config"]["stream"] is True
    if case == "mixture-category":
        assert document["data"]["preprocessing"]["levels"] == {"region": ["north", "south", "west"]}


def test_a_dictionary_column_is_a_category_as_text_is(tables, tmp_path):
    frame = _table()
    frame["region"] = frame["region"].astype("category")  # stored as an Arrow dictionary
    path = tmp_path / "dictionary.parquet"
    frame.to_parquet(path, index=False)
    args = FITS["mixture-category"]
    assert _without_run(_fit([args[0], path, *args[1:]]), path) == \
        _without_run(_fit([args[0], tables["clean"]["csv"], *args[1:]]), tables["clean"]["csv"])


def test_missing_cells_are_refused_by_pca_with_the_csvs_message(tables):
    paths = tables["holed"]
    csv_error = run_subprocess(["pca", paths["csv"], "--k", "2", "--columns", "a,b,c"])
    parquet_error = run_subprocess(["pca", paths["parquet"], "--k", "2", "--columns", "a,b,c"])
    assert csv_error.returncode == parquet_error.returncode == 2
    csv_line = csv_error.stderr.decode().strip()
    assert "row 6 (line 7), column 'b': missing value" in csv_line
    # the same sentence, naming the row only: a Parquet file has no lines
    expected = csv_line.replace(str(paths["csv"]), str(paths["parquet"])).replace(" (line 7)", "")
    assert parquet_error.stderr.decode().strip() == expected
    dropped = json.loads(_fit(["pca", paths["parquet"], "--k", "2", "--columns", "a,b,c", "--dropna"]))
    assert dropped["data"]["rows_dropped"] == 3


def test_the_pandas_index_is_the_row_index_and_predicts_lines_up(tables, tmp_path):
    frame = _table()
    frame.index = [f"k{i}" for i in range(len(frame))]
    paths = _write(frame, tmp_path, "indexed", index=True)
    result = run_subprocess(["pca", paths["parquet"], "--k", "2", "--columns", "a,b,c"])
    assert result.returncode == 0, result.stderr.decode()
    assert "the pandas index (column '__index_level_0__') is read as the row index" in result.stderr.decode()
    model = tmp_path / "pca.json"
    model.write_bytes(result.stdout)
    # predict writes the index as the row id, then the kept columns, as for the CSV export
    from_csv = _fit(["predict", model, paths["csv"], "--keep-columns", "region"])
    from_parquet = _fit(["predict", model, paths["parquet"], "--keep-columns", "region"])
    assert from_parquet == from_csv
    out = pd.read_csv(io.BytesIO(from_parquet), index_col=0)
    assert list(out.index) == list(frame.index) and list(out["region"]) == list(frame["region"])


def test_predict_and_sample_write_parquet_that_pandas_reads_as_the_csv(tables, tmp_path):
    paths = tables["clean"]
    model = tmp_path / "gmm.json"
    model.write_bytes(_fit([*FITS["gmm"][:1], paths["csv"], *FITS["gmm"][1:]]))
    for args in (["predict", model, paths["parquet"], "--keep-columns", "region,w"],
                 ["predict", model, paths["csv"], "--dropna"],
                 ["sample", model, "-n", "40000", "--seed", "2"]):  # sample: several chunks, several row groups
        csv_out, parquet_out = tmp_path / "out.csv", tmp_path / "out.parquet"
        _fit([*args, "-o", csv_out])
        _fit([*args, "-o", parquet_out])
        pd.testing.assert_frame_equal(pd.read_parquet(parquet_out), pd.read_csv(csv_out))
    # predict's row index (of a pandas export) is stored as pandas stores an index
    frame = _table()
    frame.index = [f"k{i}" for i in range(len(frame))]
    indexed = _write(frame, tmp_path, "indexed", index=True)
    _fit(["predict", model, indexed["csv"], "-o", tmp_path / "indexed.parquet"])
    back = pd.read_parquet(tmp_path / "indexed.parquet")
    assert list(back.index) == list(frame.index) and list(back.columns) == ["label", "resp_1", "resp_2", "log_density"]


def _one_line(result, *words):
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr, stderr
    for word in words:
        assert word in stderr, (word, stderr)
    return stderr


def _damaged(tables, tmp_path) -> dict:
    good = tables["clean"]["parquet"].read_bytes()
    cut = tmp_path / "truncated.parquet"
    cut.write_bytes(good[: len(good) // 2])
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1" + bytes((i * 37 + 11) % 256 for i in range(4096)))
    empty = tmp_path / "empty.parquet"
    empty.write_bytes(b"")
    pages = tmp_path / "pages.parquet"  # the footer intact, the compressed pages overwritten
    frame = pd.DataFrame({c: np.arange(20000.0) for c in FEATURES})
    frame.to_parquet(pages, compression="snappy")
    raw = bytearray(pages.read_bytes())
    raw[1000:40000] = bytes((i * 91 + 7) % 256 for i in range(39000))
    pages.write_bytes(bytes(raw))
    no_rows = tmp_path / "no_rows.parquet"
    frame.iloc[:0].to_parquet(no_rows)
    not_feather = tmp_path / "table.feather"
    not_feather.write_bytes(tables["clean"]["csv"].read_bytes())
    return {"truncated": (cut, "not a readable Parquet file"), "corrupt": (corrupt, "not a readable Parquet file"),
            "empty": (empty, "file is empty"), "pages": (pages, "Parquet data is damaged or truncated"),
            "no-rows": (no_rows, "no data rows"), "not-feather": (not_feather, "not a readable Arrow file")}


@pytest.mark.parametrize("case", ["truncated", "corrupt", "empty", "pages", "no-rows", "not-feather"])
@pytest.mark.parametrize("command", [["pca", "--k", "1"], ["gmm", "--k", "1", "--method", "svi", "--epochs", "1"],
                                     ["mixture", "--k", "1"], ["predict"]])
def test_damaged_and_empty_files_are_one_line_exit_2(tables, tmp_path, case, command):
    path, words = _damaged(tables, tmp_path)[case]
    target = tmp_path / "out.csv"
    target.write_text("earlier\n")
    if command == ["predict"]:
        model = tmp_path / "pca.json"
        model.write_bytes(_fit(["pca", tables["clean"]["csv"], "--k", "1", "--columns", "a,b,c"]))
        command = ["predict", model]
    _one_line(run_subprocess([*command, path, "-o", target]), str(path), words)
    assert target.read_text() == "earlier\n"


def test_options_that_describe_text_are_refused_for_arrow_files(tables):
    path = tables["clean"]["parquet"]
    _one_line(run_subprocess(["pca", path, "--no-header"]), "--no-header does not apply to a Parquet file")
    _one_line(run_subprocess(["pca", path, "--delimiter", ";"]), "--delimiter does not apply to a Parquet file")


def test_without_pyarrow_one_line_names_the_extra(tables, tmp_path):
    """pyarrow made unimportable in the subprocess (sys.modules['pyarrow'] = None at start)."""
    import os

    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text("import sys\nsys.modules['pyarrow'] = None\n")
    env = {"PYTHONPATH": os.pathsep.join([str(shim), os.environ.get("PYTHONPATH", "")])}
    install = "pip install 'vifit[arrow]'"
    for fmt in ("parquet", "feather"):
        _one_line(run_subprocess(["pca", tables["clean"][fmt], "--k", "1"], env=env), install, "pyarrow")
    model = tmp_path / "pca.json"
    model.write_bytes(_fit(["pca", tables["clean"]["csv"], "--k", "1", "--columns", "a,b,c"]))
    target = tmp_path / "out.parquet"
    _one_line(run_subprocess(["sample", model, "-o", target], env=env), install, "writing Parquet files")
    assert not target.exists()
    # CSV needs nothing of it
    assert run_subprocess(["predict", model, tables["clean"]["csv"], "-q"], env=env).returncode == 0


def test_svi_streams_row_group_by_row_group(tables, tmp_path):
    """The stream holds a chunk at a time: the blocks it gives are the CSV stream's, and a
    second pass reads the file again (re-iterable)."""
    from vifit.data import ReadOptions, TableStream

    opts = ReadOptions(columns="a,b,c")
    csv_stream = TableStream(str(tables["clean"]["csv"]), opts, chunk_rows=50)
    parquet_stream = TableStream(str(tables["clean"]["parquet"]), opts, chunk_rows=50)
    for _ in range(2):
        csv_blocks, parquet_blocks = list(csv_stream.chunks()), list(parquet_stream.chunks())
        assert [b.shape for b in parquet_blocks] == [b.shape for b in csv_blocks] == [(50, 3)] * 8
        for a, b in zip(parquet_blocks, csv_blocks):
            np.testing.assert_array_equal(a, b)
    assert parquet_stream.passes == 2 and parquet_stream.n_rows == 400


def test_dask_reads_parquet_row_groups_as_partitions(tables, tmp_path):
    """--backend dask on a glob of Parquet files: one partition per row group, the local fit's
    answer (the sums are grouped differently: equal to 1e-10), and a bad cell named by row group."""
    pytest.importorskip("distributed")
    frame = _table()[FEATURES]
    for i, part in enumerate(np.array_split(np.arange(len(frame)), [150, 260])):
        frame.iloc[part].to_parquet(tmp_path / f"part-{i}.parquet", index=False, row_group_size=60)
    (tmp_path / "all.csv").write_text(frame.to_csv(index=False))
    common = ["--k", "2", "--seed", "4", "--tol", "1e-9", "-q"]
    local = json.loads(_fit(["gmm", tmp_path / "all.csv", *common]))
    remote = json.loads(_fit(["gmm", str(tmp_path / "part-*.parquet"), *common, "--backend", "dask"]))
    assert remote["data"]["n_rows"] == 400 and remote["fit"]["backend"] == "dask"
    np.testing.assert_allclose(remote["fit"]["elbo"], local["fit"]["elbo"], rtol=1e-10)
    np.testing.assert_allclose(remote["params"]["summary"]["means"], local["params"]["summary"]["means"],
                               rtol=1e-10, atol=1e-12)
    bad = frame.iloc[150:260].copy()
    bad.iloc[70, 1] = np.inf  # row group 2 of part-1 (rows 60..109), its row 11
    bad.to_parquet(tmp_path / "part-1.parquet", index=False, row_group_size=60)
    _one_line(run_subprocess(["gmm", str(tmp_path / "part-*.parquet"), "--k", "2", "--backend", "dask"]),
              f"{tmp_path / 'part-1.parquet'} (partition 5: row group 2, rows counted from its start): "
              f"row 11, column 'b': infinite value")


def test_dask_parquet_partitions_carry_missing_cells_and_row_weights(tmp_path):
    """Row groups read by a fit that keeps missing cells and --row-weights: the weight travels as
    the partition's last column and NaN cells are the model's, so the fit reaches the local one's
    optimum. The local fit sorts rows with missing cells by pattern and starts from that order, the
    partitions do not: compared at the convergence tolerance (as test_dask's missing-cell fits)."""
    pytest.importorskip("distributed")
    frame = _table()[FEATURES + ["w"]].astype({"a": float, "b": float, "c": float})
    frame.loc[[5, 77, 300, 301], "b"] = np.nan
    frame.loc[[9, 200], "a"] = np.nan
    for i, part in enumerate(np.array_split(np.arange(len(frame)), [150, 260])):
        frame.iloc[part].to_parquet(tmp_path / f"part-{i}.parquet", index=False, row_group_size=60)
    (tmp_path / "all.csv").write_text(frame.to_csv(index=False))
    common = ["--k", "2", "--seed", "4", "--tol", "1e-9", "--row-weights", "w", "-q"]
    local = json.loads(_fit(["gmm", tmp_path / "all.csv", *common]))
    remote = json.loads(_fit(["gmm", str(tmp_path / "part-*.parquet"), *common, "--backend", "dask"]))
    assert remote["data"]["columns"] == FEATURES and remote["fit"]["weight_total"] == local["fit"]["weight_total"]
    np.testing.assert_allclose(remote["fit"]["elbo"], local["fit"]["elbo"], rtol=1e-7)
    np.testing.assert_allclose(remote["params"]["summary"]["means"], local["params"]["summary"]["means"],
                               rtol=1e-5, atol=1e-6)


def test_the_stream_holds_a_row_group_not_the_file(tmp_path):
    """Arrow's memory pool peaks at a few row groups while a 20-row-group file is streamed
    (measured in a fresh process: the pool's peak is process-wide), not at the file."""
    import subprocess
    import sys

    from conftest import ROOT

    rng = np.random.default_rng(0)
    path = tmp_path / "groups.parquet"
    pd.DataFrame(rng.normal(size=(200_000, 10)), columns=[f"x{i}" for i in range(10)]).to_parquet(
        path, index=False, row_group_size=10_000)
    script = ("import sys, pyarrow as pa\n"
              "from vifit.data import ReadOptions, TableStream\n"
              "stream = TableStream(sys.argv[1], ReadOptions(), chunk_rows=4096)\n"
              "rows = sum(block.shape[0] for block in stream.chunks())\n"
              "print(rows, pa.default_memory_pool().max_memory())\n")
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    rows, peak = (int(v) for v in done.stdout.split())
    group_bytes, file_bytes = 10_000 * 10 * 8, 200_000 * 10 * 8
    assert rows == 200_000
    assert peak < 4 * group_bytes < file_bytes / 4
