"""Reading tables of numbers: one reader, every rule about input data in one place.

    source.py   bytes: paths, compression, stdin spooled or read once, NUL / UTF-8 / damage
    layout.py   the head: separator, decimal mark, header, row index and trailing-delimiter columns
    csv.py      the block parser: pandas' chunks into checked (m, d) float64 blocks
    ragged.py   rows with too few or too many fields
    table.py    the whole table (load_table, table_of), one raw column (read_column)
    stream.py   the re-iterable stream of chunks (TableStream, for SVI)
    arrow.py    Parquet / Feather / Arrow files (pyarrow, the extra vifit[arrow]): their batches as
                the frames the block parser checks; -o x.parquet
    lineup.py   the row id and input columns predict writes before its results

The Dask partition reader (``distributed.reading``) parses its pieces with ``csv.frames`` and
``csv.checked_block`` under the layout the client read from the first file's head.
"""

from vifit.data.csv import (check_finite, check_required_columns, checked_block, choose_columns,
                            delimiter_hint, frames, line_of, select_columns, to_numeric_block)
from vifit.data.layout import (Layout, check_header, empty_file, header_only, layout_of,
                               resolve_delimiter)
from vifit.data.source import (DECOMPRESSION_ERRORS, NON_SPACE, Chain, display_name, first_line,
                               once_name, open_bytes, open_checked, read_bytes, read_head, read_once, spooled)
from vifit.data.stream import TableStream
from vifit.data.table import (DTYPES, GrowingRows, ReadOptions, Table, load_table, read_column,
                              read_values, table_of)

__all__ = [
    "Chain", "check_finite", "check_header", "check_required_columns", "checked_block", "choose_columns",
    "DECOMPRESSION_ERRORS", "delimiter_hint", "display_name", "DTYPES", "empty_file", "first_line", "frames",
    "GrowingRows", "header_only", "Layout", "layout_of", "line_of", "load_table", "NON_SPACE", "once_name",
    "open_bytes", "open_checked", "read_bytes", "read_column", "read_head", "read_once", "read_values",
    "ReadOptions", "resolve_delimiter", "select_columns", "spooled", "Table", "table_of", "TableStream",
    "to_numeric_block",
]
