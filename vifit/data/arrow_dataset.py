"""A Parquet dataset folder as one table: the ``part-*.parquet`` files Spark, Dask or pandas
(``to_parquet(folder, partition_cols=[...])``) write, with hive-style ``key=value/`` subfolders.

DATA naming a folder is read as such a dataset. Its parts are the files ending in ``.parquet``
anywhere below it, skipping names that start with ``.`` or ``_`` (``_SUCCESS``, ``_metadata``,
``.crc`` files: what pyarrow.dataset skips too), in sorted order of their paths relative to the
folder, so the rows always come in the same order whatever the file system lists first. Every
part must have the first part's columns, in the same order, and types that convert to the
first part's. The ``key=value`` folders above a part are its partition keys, appended as columns
after the part's own (as ``pd.read_parquet(folder)`` does), named by the key: a key whose every
value is an integer is an integer column (a feature, unless --columns leaves it out); any other
key is a text column, which the column choice drops with the usual note (a category for
``vifit mixture``). ``__HIVE_DEFAULT_PARTITION__`` (Spark's null) is a missing value.

:class:`Dataset` answers as ``arrow.ArrowFile`` does (names, n_rows, index, kind, batches), so
every reader of ``data.arrow`` takes it; its "row groups" are its parts, so the Dask backend
makes one partition per part file.
"""

from __future__ import annotations

import os
import re
from urllib.parse import unquote

from vifit.data.source import display_name
from vifit.errors import BadInput

NULL_KEY = "__HIVE_DEFAULT_PARTITION__"
_INTEGER = re.compile(r"[+-]?\d+\Z")


def parts_of(folder: str) -> list[str]:
    """The Parquet files below folder (paths), sorted by their path relative to it; BadInput for a
    folder without any."""
    name = display_name(folder)
    if not os.access(folder, os.R_OK | os.X_OK):
        raise BadInput(f"{name}: permission denied")
    found, anything = [], False
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        anything = anything or bool(files) or bool(dirs)
        found += [os.path.join(root, f) for f in files
                  if f.lower().endswith(".parquet") and not f.startswith((".", "_"))]
    if not found:
        what = "an empty directory" if not anything else "a directory with no Parquet files (*.parquet)"
        raise BadInput(f"{name}: {what}; DATA as a directory is read as a Parquet dataset (the part files Spark, "
                       f"Dask or pandas partition_cols write); CSV parts are read by --backend dask as a glob "
                       f"('{os.path.join(name, '*.csv')}'), or concatenate them")
    return sorted(found, key=lambda path: os.path.relpath(path, folder).split(os.sep))


def keys_of(folder: str, part: str) -> list[tuple[str, str | None]]:
    """[(key, value or None)] of the ``key=value`` folders between folder and part, outermost first."""
    keys = []
    for piece in os.path.relpath(os.path.dirname(part), folder).split(os.sep):
        if "=" in piece:
            key, value = piece.split("=", 1)
            keys.append((unquote(key), None if value == NULL_KEY else unquote(value)))
    return keys


class Dataset:
    """The parts of a Parquet dataset folder as one table (see the module doc).

    parts: the part files in order; keys: the partition key columns (after the parts' own);
    row_groups: the number of parts (a Dask partition each)."""

    kind = "Parquet"

    def __init__(self, folder: str):
        from vifit.data import arrow

        self.source, self.name = folder, display_name(folder)
        self.parts = parts_of(folder)
        self.pa = pa = arrow.pyarrow(self.name)
        first = arrow.ArrowFile(self.parts[0])
        self._first = first
        values = [keys_of(folder, part) for part in self.parts]
        self.keys = [key for key, _ in values[0]]
        for part, found in zip(self.parts, values):
            if [key for key, _ in found] != self.keys:
                raise BadInput(f"{display_name(part)}: partition folders {_folders(found)} differ from the first "
                               f"part's ({_folders(values[0])}); a dataset's parts must have the same keys")
        clash = [key for key in self.keys if key in first.names]
        if clash:
            raise BadInput(f"{display_name(self.parts[0])}: partition key {clash[0]!r} is also a column of the "
                           f"file; rename the folder or the column")
        self._values = values
        self._types = {}
        for j, key in enumerate(self.keys):
            seen = [found[j][1] for found in values if found[j][1] is not None]
            integer = seen and all(_INTEGER.match(v) and abs(int(v)) < 2 ** 63 for v in seen)
            self._types[key] = pa.int64() if integer else pa.string()
        self.names = list(first.names) + self.keys
        self.index = first.index
        self._files = {0: first}
        self._rows = None

    @property
    def n_rows(self) -> int:
        """The rows of every part (their footers read on first use: a Dask task reading one part
        does not open the others)."""
        if self._rows is None:
            self._rows = sum(self._file(i).n_rows for i in range(len(self.parts)))
        return self._rows

    @property
    def row_groups(self) -> int:
        return len(self.parts)

    def _file(self, i: int):
        """The ArrowFile of part i, checked to have the first part's columns."""
        from vifit.data import arrow

        if i not in self._files:
            file = arrow.ArrowFile(self.parts[i])
            if file.names != self._first.names:
                raise BadInput(f"{file.name}: columns {', '.join(file.names)} differ from the first part's "
                               f"({', '.join(self._first.names)}); a dataset's parts must have the same columns")
            self._files = {0: self._first, i: file}  # one part open at a time besides the first
        return self._files[i]

    def raw(self, columns: list[str] | None = None, row_groups: list[int] | None = None):
        """Record batches of the parts (those given), in order, with their key columns, cast to the
        first part's types; columns: those kept, in this order."""
        pa = self.pa
        wanted = list(self.names) if columns is None else list(columns)
        own = [c for c in wanted if c not in self.keys]
        schema = self._first_schema(own)
        for i in range(len(self.parts)) if row_groups is None else row_groups:
            file = self._file(i)
            keys = dict(self._values[i])
            for batch in file.raw(own):
                try:
                    batch = batch.cast(schema) if batch.schema != schema else batch
                except (pa.ArrowException, ValueError) as exc:
                    raise BadInput(f"{file.name}: column types differ from the first part's and do not convert "
                                   f"({str(exc).strip().splitlines()[0] if str(exc).strip() else 'cast failed'})"
                                   ) from None
                arrays = {c: batch.column(c) for c in own}
                for key in self.keys:  # a constant column: the part's key value on every row
                    value, kind = keys[key], self._types[key]
                    if value is not None and kind == pa.int64():
                        value = int(value)
                    arrays[key] = pa.array([value] * batch.num_rows, type=kind)
                yield pa.RecordBatch.from_arrays([arrays[c] for c in wanted], names=wanted)

    def _first_schema(self, columns: list[str]):
        schema = self._first.schema
        return self.pa.schema([schema.field(c) for c in columns])

    def batches(self, rows: int, columns: list[str] | None = None, row_groups: list[int] | None = None):
        """pyarrow Tables of exactly ``rows`` rows (the last one fewer) across the parts, in order."""
        from vifit.data import arrow

        yield from arrow._exactly(self.pa, self.raw(columns, row_groups), rows, None)


def _folders(found) -> str:
    return "/".join(f"{key}=" for key, _ in found) or "none"
