"""The ``vifit.fit/1`` document: build it, render it (JSON or CSV), read it back.

The text is fully rendered first and then handed to :func:`vifit.writing.write_text`, which
writes it atomically (or in place, for a device or FIFO), compressed when the name ends in
.gz/.bz2/.xz. A model file is read back the same way, so ``-o model.json.gz`` is a model.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from typing import Any

import numpy as np

from vifit import __version__
from vifit.errors import BadInput
from vifit.result import FitResult
from vifit.writing import strip_compression

SCHEMA = "vifit.fit/1"
FORMATS = ("json", "csv")


def resolve_format(output: str | None, fmt: str | None, offered: tuple[str, ...] = FORMATS,
                   default: str = "json") -> str:
    """``--format`` if given, else the -o extension (under any .gz/.bz2/.xz), else ``default``.

    A name with no extension (stdout, /dev/null, a FIFO called ``out``) gets ``default``; an
    extension that names no format (.xlsx, .txt) is BadInput rather than a silent guess. The
    result may be any of FORMATS: a command that writes fewer (``offered``) says so itself.
    """
    if fmt:
        return fmt
    if output is None or output == "-":
        return default
    ext = os.path.splitext(strip_compression(os.path.basename(output)))[1].lower()
    if not ext:
        return default
    if ext.lstrip(".") in FORMATS:
        return ext.lstrip(".")
    raise BadInput(f"-o {output}: cannot tell the format from {ext!r}: give --format {'|'.join(offered)}")


def build_document(result: FitResult, config: dict, data: dict, run: dict) -> dict:
    """Assemble the versioned document; ``run`` is the only non-deterministic block."""
    return {
        "schema": SCHEMA,
        "vifit_version": __version__,
        "model": result.model,
        "method": result.method,
        "config": config,
        "data": data,
        "params": result.params,
        "fit": result.fit_block(),
        "run": run,
    }


# ---------------------------------------------------------------- rendering


def plain(value: Any, path: str = "$") -> Any:
    """Convert numpy values to JSON-ready Python values; reject NaN and infinity.

    Python's float repr is the shortest string that reads back to the same
    double, so floats round-trip exactly (float32 values widen exactly).
    """
    if isinstance(value, dict):
        return {str(k): plain(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise ValueError(f"non-finite value in {path}; refusing to write NaN/Infinity to JSON")
        return value.tolist()
    if isinstance(value, (np.floating, float)):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"non-finite value at {path}; refusing to write NaN/Infinity to JSON")
        return value
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def render_json(document: dict) -> str:
    """Indented objects, with lists of numbers kept on one line so matrices stay readable."""
    return _json(plain(document), 0) + "\n"


def _json(value: Any, depth: int) -> str:
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(k)}: {_json(v, depth + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        if all(isinstance(v, list) and not any(isinstance(e, (dict, list)) for e in v) for v in value):
            rows = [inner + json.dumps(v, allow_nan=False) for v in value]
            return "[\n" + ",\n".join(rows) + "\n" + pad + "]"
        items = [inner + _json(v, depth + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(value, allow_nan=False)


def render_table(columns: list[str], rows) -> str:
    """CSV text with a plain header row; floats use their exact repr."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return buffer.getvalue()


def render_rows(rows) -> str:
    """CSV text of rows without a header: the chunks after the first of a streamed table."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return buffer.getvalue()


def _cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def render(document: dict, table: dict | None, fmt: str) -> str:
    if fmt == "json":
        return render_json(document)
    if table is None:
        raise BadInput(f"model {document['model']!r} has no CSV form; use --format json")
    return render_table(table["columns"], table["rows"])


# ---------------------------------------------------------------- writing

# The one writer lives in vifit.writing (what -o names, atomicity, compression, stdout); it takes
# text or an iterable of pieces, so a long output (sample -n) is written as it is produced.
from vifit.writing import silence_stdout, write_stdout, write_text  # noqa: E402,F401


# ---------------------------------------------------------------- reading


def read_document(path: str, models: tuple[str, ...] | None = None) -> dict:
    """Load a model file written by vifit (data, never code), validated completely against
    the schema of its model kind (:func:`vifit.documents.read_model`)."""
    from vifit.documents import read_model

    return read_model(path, models)


def field_of(document: dict, path: str, *keys: str):
    """``document[k1][k2]…`` or BadInput naming the missing field."""
    value: Any = document
    for depth, key in enumerate(keys):
        if not isinstance(value, dict) or key not in value:
            dotted = ".".join(keys[: depth + 1])
            raise BadInput(f"{path}: model file lacks the field {dotted!r}")
        value = value[key]
    return value


def array_of(document: dict, path: str, *keys: str, ndim: int | None = None) -> np.ndarray:
    """A numeric field of the model file as a float64 array, checked for shape and finiteness."""
    value = field_of(document, path, *keys)
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInput(f"{path}: field {'.'.join(keys)!r} is not numeric") from None
    if (ndim is not None and array.ndim != ndim) or not np.isfinite(array).all():
        raise BadInput(f"{path}: field {'.'.join(keys)!r} is malformed")
    return array
