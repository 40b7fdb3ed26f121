"""``vifit predict MODEL DATA --backend dask -o 'out/part-*.csv'``: one output file per partition.

Each worker reads its partition of DATA (the model's columns, by name), applies the model
(``documents.gmm.predict``: label, responsibilities, log predictive density) and writes its
rows to ``-o`` with ``*`` replaced by the partition's number (00, 01, ...), atomically; the
output folder must be on a file system the workers share. Partitions are numbered in the
order of the sorted input files, so concatenating the outputs in name order gives the rows
in input order (minus any dropped by ``--dropna``). gmm and mixture models (a mixture's pieces
are read with its category levels, ``distributed.mixture.read_table``).
"""

from __future__ import annotations

import dataclasses
import os

from vifit.distributed import cluster, tasks
from vifit.errors import BadInput


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


def run(document: dict, model_file: str, data: str, opts, output: str | None, backend: dict, note) -> list[str]:
    """Predict every partition of DATA on the cluster; the paths written."""
    from vifit.distributed.partitions import read_partitions

    model = document.get("model")
    if model not in ("gmm", "mixture"):
        raise BadInput(f"{model_file}: predict --backend dask supports gmm and mixture models only")
    output_paths(output, 1)  # check -o before connecting
    columns = list(document["data"]["columns"])
    if opts.header:  # the model's columns, by name
        opts = dataclasses.replace(opts, columns=",".join(columns))
    with cluster.connect(backend["scheduler"], backend["scheduler_file"], note) as client:
        wait = backend.get("worker_wait") or cluster.WORKER_WAIT
        if model == "mixture":
            from vifit.distributed.mixture import read_table

            table = read_table(client, data, opts, note, wait, required=columns)
            partitions, read_columns, dropped = table.partitions, table.columns, table.rows_dropped
        else:
            partitions, read_columns, dropped = read_partitions(client, data, opts, note, worker_wait=wait)
        if len(read_columns) != len(columns):
            raise BadInput(f"{data}: the model needs {len(columns)} columns, the data has {len(read_columns)}")
        if dropped and model != "mixture":  # read_table has said so
            note(f"dropped {dropped} row(s) with missing or infinite values (--dropna)")
        paths = output_paths(output, len(partitions))
        futures = [partitions.submit(tasks.predict_to_file, x, document, model_file, columns, path)
                   for x, path in zip(partitions.futures, paths)]
        rows = sum(partitions.gather(futures))
    note(f"wrote {rows} row(s) in {len(paths)} file(s): {paths[0]} .. {paths[-1]}")
    return paths
