"""The ``vifit.fit/1`` document: build it, write it (JSON or CSV), read it back.

Writes are atomic: the text is fully rendered first, written to a temporary
file in the destination folder and renamed over the target, so a failed or
interrupted run never leaves a half-written file nor truncates an old one.
Stdout gets the rendered text in one write; a closed pipe ends quietly.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import tempfile
from typing import Any

import numpy as np

from vifit import __version__, interrupt
from vifit.errors import BadInput
from vifit.result import FitResult

SCHEMA = "vifit.fit/1"
FORMATS = ("json", "csv")


def resolve_format(output: str | None, fmt: str | None) -> str:
    """``--format`` if given, else inferred from the output extension, else JSON."""
    if fmt:
        return fmt
    if output and output != "-":
        ext = os.path.splitext(output)[1].lower().lstrip(".")
        if ext in FORMATS:
            return ext
    return "json"


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


def write_text(text: str | bytes, output: str | None) -> None:
    """Write text (or bytes) to ``output`` atomically, or to stdout when it is None or ``-``."""
    if output is None or output == "-":
        write_stdout(text)
        return
    target = os.path.abspath(output)
    folder = os.path.dirname(target)
    if os.path.isdir(target):
        raise BadInput(f"{output}: is a directory; give a file name for -o")
    if not os.path.isdir(folder):
        raise BadInput(f"{output}: folder {folder} does not exist")
    temporary = None
    try:
        with interrupt.deferred():  # a second signal must not fall between creating the file and naming it
            try:
                handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(target)}.",
                                                     suffix=".tmp")
            except OSError as exc:
                raise BadInput(f"{output}: cannot write here: {exc.strerror}") from None
        with os.fdopen(handle, "wb") as stream:
            stream.write(text if isinstance(text, bytes) else text.encode("utf-8"))
            stream.flush()
            os.fsync(stream.fileno())
        mode = os.stat(target).st_mode & 0o777 if os.path.exists(target) else 0o666 & ~_umask()
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_stdout(text: str | bytes) -> None:
    """One write to stdout; a reader that closed the pipe (``| head``) ends us quietly."""
    try:
        if isinstance(text, bytes):
            sys.stdout.buffer.write(text)
        else:
            sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()


def silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


# ---------------------------------------------------------------- reading


def read_document(path: str, models: tuple[str, ...] | None = None) -> dict:
    """Load and validate a model file written by vifit (data, never code)."""
    try:
        with open(path, "rb") as stream:
            raw = stream.read()
    except FileNotFoundError:
        raise BadInput(f"{path}: no such model file") from None
    except IsADirectoryError:
        raise BadInput(f"{path}: is a directory, not a model file") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read model file: {exc.strerror}") from None
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadInput(f"{path}: not a vifit model file (not JSON); write one with -o model.json") from None
    if not isinstance(document, dict) or "schema" not in document:
        raise BadInput(f"{path}: not a vifit model file (no 'schema' field)")
    if document["schema"] != SCHEMA:
        raise BadInput(f"{path}: schema {document['schema']!r} is not supported (this vifit reads {SCHEMA})")
    for key in ("model", "config", "data", "params", "fit"):
        if key not in document:
            raise BadInput(f"{path}: model file lacks the {key!r} field")
    if models is not None and document["model"] not in models:
        raise BadInput(f"{path}: model {document['model']!r} is not supported here (expected {', '.join(models)})")
    return document


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
