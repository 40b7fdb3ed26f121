"""``vifit predict MODEL DATA --backend dask -o 'out/part-*.csv'``: one output file per partition.

Each worker reads its partition of DATA (the model's columns, by name), applies the model
(its kind's ``predict``, as locally) and writes its rows to ``-o`` with ``*`` replaced by the
partition's number (00, 01, ...), atomically, as CSV or (a ``.parquet`` pattern) Parquet; the
output folder must be on a file system the workers share. Partitions are numbered in the
order of the sorted input files, so concatenating the outputs in name order gives the rows
in input order (minus any dropped by ``--dropna``): local predict's output of the same rows.
``--keep-columns`` / ``--id-column`` line each file up with its partition as locally
(``distributed.predict_pieces``); without an id column, ``--dropna``'s row number counts the
data rows of all of DATA from 1, in partition order, so it joins back to the concatenated input.
gmm, mixture and pca models (a mixture's pieces are read with its category levels,
``distributed.mixture.read_table``); every file's rows are read and checked before any is written.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from vifit.data.lineup import Lineup
from vifit.distributed import cluster, predict_pieces
from vifit.errors import BadInput

MODELS = ("gmm", "mixture", "pca")  # kinds whose rows are scored one by one (a vae's IWAE draws are the run's)


def output_paths(pattern: str | None, count: int) -> list[str]:
    """One path per partition from a pattern with one '*'."""
    if not pattern or pattern == "-" or pattern.count("*") != 1:
        raise BadInput("predict --backend dask writes one file per partition: give -o with one '*', "
                       "e.g. -o 'predictions/part-*.csv'")
    folder = os.path.dirname(os.path.abspath(pattern))
    if not os.path.isdir(folder):
        raise BadInput(f"{pattern}: folder {folder} does not exist")
    width = max(2, len(str(count - 1)))
    return [pattern.replace("*", f"{i:0{width}d}") for i in range(count)]


def result_names(document: dict, model_file: str, columns: list) -> list:
    """The result columns predict writes for this model (scored on one row of zeros, on the
    client: an empty partition still gets the header, and a kept column's clash with a result's
    is found before any work)."""
    import numpy as np

    from vifit.data import Table
    from vifit.documents import model_kind
    from vifit.documents.outputs import computed

    kind = model_kind(document["model"], model_file)
    zeros = Table(values=np.zeros((1, len(columns))), columns=list(columns), source=model_file)
    return list(computed(kind.predict, document, model_file, zeros)[0])


def run(document: dict, model_file: str, data: str, opts, output: str | None, backend: dict, note,
        fmt: str = "csv", keep_columns: str | None = None, id_column: str | None = None) -> list[str]:
    """Predict every partition of DATA on the cluster, each output file lined up with its
    partition (``--keep-columns``, ``--id-column``: ``data.lineup``); the paths written."""
    from vifit.data.lineup import wanted
    from vifit.distributed.partitions import read_partitions, resolve_files

    model = document.get("model")
    if model not in MODELS:
        raise BadInput(f"{model_file}: predict --backend dask supports {', '.join(MODELS)} models; "
                       f"this one is {model}: predict locally")
    output_paths(output, 1)  # check -o before connecting
    columns = list(document["data"]["columns"])
    # what goes before the results, as locally (a pandas export's index, --dropna's row number, the
    # options' columns): the specs checked on the first file's head, before connecting
    want = wanted(resolve_files(data)[0], opts, columns, keep_columns, id_column)
    names = result_names(document, model_file, columns)
    if want is not None:
        written = ([want.id_name] if want.id_name is not None else []) + want.kept
        Lineup(written, np.empty((0, len(written)), dtype=object)).joined(names, [])  # a clash: BadInput now
    if opts.header:  # the model's columns, by name
        opts = dataclasses.replace(opts, columns=",".join(columns))
    lined = want is not None
    with cluster.connect(backend["scheduler"], backend["scheduler_file"], note) as client:
        wait = backend.get("worker_wait") or cluster.WORKER_WAIT
        if model == "mixture":
            from vifit.distributed.mixture import read_table

            table = read_table(client, data, opts, note, wait, required=columns, row_numbers=lined)
            partitions, read_columns, dropped = table.partitions, table.columns, table.rows_dropped
        else:
            partitions, read_columns, dropped = read_partitions(client, data, opts, note, worker_wait=wait,
                                                                row_numbers=lined)
        if len(read_columns) != len(columns):
            raise BadInput(f"{data}: the model needs {len(columns)} columns, the data has {len(read_columns)}")
        if dropped and model != "mixture":  # read_table has said so
            note(f"dropped {dropped} row(s) with missing or infinite values (--dropna)")
        paths = output_paths(output, len(partitions))
        common = (document, model_file, columns, names)
        if lined:
            firsts = np.concatenate([[0], np.cumsum(partitions.rows_read)])
            futures = [partitions.submit(predict_pieces.predict_partition, x, *common, path, fmt, rows, piece, want,
                                         int(first))
                       for x, path, rows, piece, first in zip(partitions.futures, paths, partitions.row_numbers,
                                                              partitions.pieces, firsts)]
        else:
            futures = [partitions.submit(predict_pieces.predict_partition, x, *common, path, fmt)
                       for x, path in zip(partitions.futures, paths)]
        rows = sum(partitions.gather(futures))
    note(f"wrote {rows} row(s) in {len(paths)} file(s): {paths[0]} .. {paths[-1]}")
    return paths
