"""Rows as partitions persisted on a Dask cluster: read once, map per partition, tree-sum.

:func:`read_partitions` reads DATA (a file or a glob such as ``data/part-*.csv.gz``) under
the rules of the one reader, ``vifit/data/`` (Parquet and Arrow files: ``arrow_pieces``, a partition
per row group): the columns are chosen from the first file's head
(``--columns``, or every numeric column with a note for text ones), the values must be
numbers, and inf is BadInput (NaN too, unless the fit keeps missing cells) unless ``--dropna``;
a --row-weights column is read as each array's last column (``Partitions.weighted``). The files are cut into pieces (a
64 MiB block of a plain file, a compressed file whole) and each piece is read by a task on a
worker (``reading.read_piece``), not by ``dask.dataframe.read_csv``: that parsed a partition
whole and left a worker above its memory target (``reading`` says by how much).
The partitions (float64 arrays; float32 with ``--dtype float32``) stay on the workers
(futures) for the whole fit; a lost worker's partitions are read again from their pieces,
and every task is retried (``RETRIES``) before the fit fails.

:meth:`Partitions.tree_sum` adds per-partition results pairwise, (0+1), (2+3), ..., then the
pairs the same way, so the order of additions is fixed by the number of partitions alone
and a fit is reproducible whatever the scheduling.
"""

from __future__ import annotations

import glob
import math
import os

import numpy as np

from vifit.data import ReadOptions, display_name, mixed, open_bytes
from vifit.data.arrow import is_arrow
from vifit.data.csv import choose_columns as columns_of_frame
from vifit.data.csv import frames
from vifit.data.layout import header_only, layout_of
from vifit.data.source import CheckedReader, Chain, read_head
from vifit.distributed import cluster, reading, tasks
from vifit.errors import BadInput

RETRIES = 3
HEAD_ROWS = 1000


class Partitions:
    """Futures of arrays (n_i, d) (float64, or float32 for --dtype float32) on the cluster;
    shape (n, d) like an array's."""

    repeatable = True  # an SVI source that can be passed over again

    def __init__(self, client, futures: list, lengths: list, d: int, worker_wait: float = cluster.WORKER_WAIT,
                 weighted: bool = False):
        self.client, self.futures = client, list(futures)
        self.weighted = bool(weighted)  # each array's last column is its rows' --row-weights (d + 1 columns)
        self.worker_wait = worker_wait  # seconds to wait for a worker once all are lost (cluster.gather)
        self.lengths = [int(n) for n in lengths]
        self.shape = (sum(self.lengths), int(d))
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)
        # what predict lines its output up with (read_partitions(row_numbers=True)): each
        # partition's piece, the futures of its rows' 0-based data rows within the piece (n_i,),
        # and the data rows each piece held before --dropna (so the rows number on across pieces)
        self.pieces, self.row_numbers, self.rows_read = None, None, None

    def __len__(self) -> int:
        return len(self.futures)

    @property
    def workers(self) -> int:
        """Workers connected to the scheduler now."""
        return len(self.client.scheduler_info().get("workers", {}))

    def map(self, fn, *args) -> list:
        """Futures of fn(x_i, *args) for each partition i."""
        return [self.client.submit(fn, x, *args, retries=RETRIES) for x in self.futures]

    def submit(self, fn, *args):
        return self.client.submit(fn, *args, retries=RETRIES)

    def tree_sum(self, futures: list):
        """The sum of the futures' results, added pairwise in a fixed tree on the workers."""
        futures = list(futures)
        while len(futures) > 1:
            paired = [self.client.submit(tasks.add, futures[i], futures[i + 1], retries=RETRIES)
                      for i in range(0, len(futures) - 1, 2)]
            futures = paired + (futures[-1:] if len(futures) % 2 else [])
        return self.gather(futures[:1])[0]

    def map_sum(self, fn, *args):
        """sum over partitions of fn(x_i, *args), by :meth:`tree_sum`."""
        return self.tree_sum(self.map(fn, *args))

    def gather(self, futures: list) -> list:
        """The futures' results (``cluster.gather``: bounded when every worker is lost)."""
        return cluster.gather(self.client, futures, self.worker_wait)

    def result(self, future):
        return self.gather([future])[0]

    def close(self) -> None:
        """Release the partitions on the cluster."""
        self.client.cancel(self.futures)
        self.futures = []


def refuse_read_once(source: str) -> None:
    """BadInput for stdin or a pipe as DATA: workers open DATA by its path (checked before
    a cluster is started or reached)."""
    from vifit.data.source import read_once

    if read_once(source):
        raise BadInput(f"{display_name(source)}: --backend dask reads DATA on the workers by its path, so it must "
                       f"be a regular file (or a glob of them), not stdin or a pipe; save it to a file first")


def resolve_files(source: str) -> list[str]:
    """The files DATA names, sorted (a glob), or BadInput."""
    if "://" in source:
        return [source]
    if glob.has_magic(source):
        files = sorted(glob.glob(source))
        if not files:
            raise BadInput(f"{source}: no files match")
        return files
    refuse_read_once(source)
    if os.path.isdir(source):  # a Parquet dataset folder (data.arrow_dataset): its parts are read as one table
        return [source]
    open_bytes(source).close()  # existence, permissions: the messages of data.source
    return [source]


def first_frame(first_file: str, opts: ReadOptions, note):
    """(the first HEAD_ROWS rows of the first file as the local readers parse them, its
    data.layout.Layout): what the columns are chosen from."""
    file_name = display_name(first_file)
    with CheckedReader(open_bytes(first_file), file_name) as reader:
        head = read_head(reader, file_name)
        layout = layout_of(head, opts, file_name, note)
        first = next(frames(Chain(head, reader), layout, HEAD_ROWS, file_name, header_line=opts.header), None)
    if first is None or len(first) == 0:
        raise header_only(file_name)
    return first, layout


def choose_columns(first_file: str, opts: ReadOptions, name: str, note):
    """(columns to use, the data.layout.Layout of the files, the --row-weights column or None) from
    the first file's head (:func:`first_frame`)."""
    first, layout = first_frame(first_file, opts, note)
    if not mixed.active(opts):
        return columns_of_frame(first, layout, opts.columns, name, note), layout, None
    plan = mixed.plan_columns(first, layout, opts, name, note, None)
    if plan.categories:
        raise BadInput(f"{name}: category columns ({', '.join(sorted(plan.categories))}) are not read by "
                       f"--backend dask for gmm; choose numeric columns with --columns")
    return plan.features, layout, plan.weight


def read_partitions(client, source: str, opts: ReadOptions, note, dtype: str = "float64",
                    worker_wait: float = cluster.WORKER_WAIT,
                    row_numbers: bool = False) -> tuple[Partitions, list, int]:
    """(partitions of dtype, column names, rows dropped) of DATA, persisted on the cluster: one
    read task per piece of ``reading.plan`` (a 64 MiB block of a plain file, a compressed file whole).
    row_numbers: also keep each row's data row within its piece (``Partitions.row_numbers``)."""
    name = display_name(source)
    files = resolve_files(source)
    if is_arrow(files[0]):  # Parquet / Arrow: a partition per row group (distributed.arrow_pieces)
        from vifit.distributed import arrow_pieces

        columns, pairs, weight, pieces, _ = arrow_pieces.submit_reads(client, files, opts, name, note, dtype, RETRIES,
                                                                      row_numbers)
    else:
        columns, layout, weight = choose_columns(files[0], opts, name, note)
        header = layout.sep.join(layout.header_names) if opts.header else None
        pieces = reading.plan(files)
        pairs = [client.submit(reading.read_piece_or_problem, piece, list(layout.fields), columns, header,
                               layout.sep, opts.dropna, dtype, layout.decimal, weight, opts.missing, row_numbers,
                               retries=RETRIES)
                 for piece in pieces]
    def gather(futures):
        return cluster.gather(client, futures, worker_wait)

    problems = [p for p in gather([client.submit(tasks.third, pair) for pair in pairs]) if p is not None]
    if problems:
        raise BadInput(problems[0])  # the first piece's, in the partitions' fixed order
    arrays = [client.submit(tasks.first, pair, retries=RETRIES) for pair in pairs]
    lengths = gather([client.submit(tasks.n_rows, a, retries=RETRIES) for a in arrays])
    dropped = gather([client.submit(tasks.second, pair) for pair in pairs])
    numbers = [client.submit(tasks.fourth, pair, retries=RETRIES) for pair in pairs] if row_numbers else None
    del pairs  # the arrays keep what they need; a lost array is read again from its piece
    partitions = Partitions(client, arrays, lengths, len(columns), worker_wait, weighted=weight is not None)
    if row_numbers:
        partitions.pieces, partitions.row_numbers = list(pieces), numbers
        partitions.rows_read = [int(n) + int(d) for n, d in zip(lengths, dropped)]
    return partitions, columns, int(sum(dropped))


def sample_sizes(lengths: list, rows: int) -> list:
    """Rows to sample from each partition for a sample of about ``rows`` (every row when n <= rows):
    proportional to the partition's size, rounded up."""
    n = sum(lengths)
    if n <= rows:
        return list(lengths)
    return [min(length, math.ceil(rows * length / n)) for length in lengths]

