"""Checkpoint and resume for long fits (``--checkpoint``, ``--checkpoint-every``, ``--resume``).

A loop (through :data:`FILES`, the command line's ``inference.policy.Checkpoints``) calls
:func:`due` at the end of an iteration/epoch and, when it is, :func:`save` with its complete state: a flat dict of numpy arrays, numbers,
strings and nested dicts/lists of those (random generators' states included).
The file is an ``.npz`` archive written atomically; it never holds pickled
objects, so loading one cannot run code. On ``--resume`` a loop asks
:func:`resume_state` for the state to continue from: the same command with the
same seed then ends with the same result as an uninterrupted run.

The configuration of the run is stored with the state, and resuming under a
different configuration is refused (exit 2), since the result would be neither
run's; so is resuming on data whose values changed under the same name and shape
(a fingerprint of the data is stored too: see :func:`fingerprint`). A checksum over
the metadata and every array refuses a file damaged or edited after it was written,
and each loop's schema (:mod:`vifit.documents.checkpoints`) refuses a state that does
not fit the run. Like signals, the active checkpoint settings are process-wide.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import json
import os
import time

import numpy as np

from vifit.errors import BadInput, SystemFailure, quote

FORMAT = "vifit.checkpoint/1"


class _Settings:
    path: str | None = None
    every: float = 600.0
    resume_path: str | None = None
    config_key: str = ""
    last_saved: float = 0.0
    data: dict | None = None  # fingerprint of the data this fit runs on
    source: str = "DATA"
    warn = None  # the run's reporter.warn: a checkpoint that cannot be written is a warning
    failed: bool = False
    clock = staticmethod(time.monotonic)


_settings = _Settings()


def config_key(config: dict) -> str:
    """A canonical string of the options that determine the result."""
    return json.dumps(config, sort_keys=True, default=str)


@contextlib.contextmanager
def active(path: str | None, every: float, resume_path: str | None, config: dict, data: tuple | None = None,
           warn=None):
    """Configure checkpointing for the duration of one fit.

    data: (source, table) the fit runs on, fingerprinted when checkpointing or resuming.
    warn(message): hears (once) that a checkpoint could not be written."""
    _settings.path, _settings.every, _settings.resume_path = path, float(every), resume_path
    _settings.warn, _settings.failed = warn, False
    _settings.config_key = config_key(config)
    _settings.last_saved = _settings.clock()
    _settings.data, _settings.source = None, "DATA"
    if data is not None and (path is not None or resume_path is not None):
        _settings.source, _settings.data = data[0], fingerprint(*data)
    try:
        yield
    finally:
        _settings.path = _settings.resume_path = None
        _settings.data = None


def enabled() -> bool:
    return _settings.path is not None


def resuming() -> bool:
    """True when ``--resume`` was given for this fit."""
    return _settings.resume_path is not None


def due() -> bool:
    """True when a checkpoint path is set and ``every`` seconds have passed since the last save."""
    return enabled() and _settings.clock() - _settings.last_saved >= _settings.every


def save(kind: str, state: dict) -> None:
    """Write ``state`` of a loop of type ``kind`` atomically to the checkpoint path.

    A checkpoint the OS will not write (full disk, read-only folder) is a warning, given
    once, and the fit goes on: losing the checkpoint must not lose the result. Each later
    save tries again, in case space was freed.
    """
    if not enabled():
        return
    arrays: dict[str, np.ndarray] = {}
    skeleton = _split(state, arrays, "s")
    meta = {"format": FORMAT, "kind": kind, "config": _settings.config_key, "data": _settings.data,
            "state": skeleton}
    meta["digest"] = _digest(meta, arrays)
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    from vifit.writing import write_text

    try:
        write_text(buffer.getvalue(), _settings.path, compress=False)
    except (SystemFailure, BadInput) as exc:
        if not _settings.failed and _settings.warn is not None:
            _settings.warn(f"checkpoint not written ({exc}); the fit goes on")
        _settings.failed = True
    _settings.last_saved = _settings.clock()


def resume_state(kind: str, schema=None) -> dict | None:
    """The state saved by a loop of type ``kind`` when ``--resume`` was given, else None.

    schema: a function returning the loop's :mod:`vifit.documents.checkpoints` spec, which the
    state must satisfy (called only when resuming)."""
    if _settings.resume_path is None:
        return None
    return load(_settings.resume_path, kind, _settings.config_key, schema=schema() if schema else None,
                data=_settings.data)


def load(path: str, kind: str, expected_config: str | None = None, *, schema=None, data: dict | None = None) -> dict:
    """Read a checkpoint file; BadInput if it is not one, was altered, belongs to another run
    or other data (``data``: the current fingerprint), or its state does not fit ``schema``."""
    from vifit.documents.parse import parse

    try:
        with np.load(path, allow_pickle=False) as archive:
            raw_meta = bytes(archive["__meta__"])
            arrays = {name: archive[name] for name in archive.files if name != "__meta__"}
    except FileNotFoundError:
        raise BadInput(f"{path}: no such checkpoint file") from None
    except Exception:  # np.load raises many types (EOFError, BadZipFile, ValueError, ...) on junk
        raise BadInput(f"{path}: not a vifit checkpoint file") from None
    meta = parse(raw_meta, path, "vifit checkpoint file")
    if not isinstance(meta, dict):
        raise BadInput(f"{path}: not a vifit checkpoint file")
    if meta.get("format") != FORMAT:
        raise BadInput(f"{path}: checkpoint format {quote(meta.get('format'))} is not {FORMAT}")
    if meta.get("digest") != _digest(meta, arrays):
        raise BadInput(f"{path}: checkpoint was damaged or edited after vifit wrote it (its checksum does not "
                       f"match); fit afresh without --resume")
    if meta.get("kind") != kind:
        raise BadInput(f"{path}: checkpoint of a {quote(meta.get('kind'))} fit cannot resume a {kind} fit")
    if expected_config is not None and meta.get("config") != expected_config:
        raise BadInput(f"{path}: checkpoint was written with other options or data; "
                       f"resume with the same command line")
    if data is not None and meta.get("data") != data:
        raise BadInput(f"{_settings.source}: the data's values differ from those checkpoint {path} was written on; "
                       f"resume on the same data, or fit afresh without --resume")
    try:
        state = _join(meta["state"], arrays)
    except (KeyError, TypeError, ValueError):
        raise BadInput(f"{path}: checkpoint's state refers to arrays it does not hold") from None
    if schema is not None:
        from vifit.documents.schema import Context, validate

        validate(schema, state, Context(path, "state"))
    return state


def _digest(meta: dict, arrays: dict) -> str:
    """SHA-256 of the metadata (less the digest) and of every array's name, type, shape and bytes."""
    digest = hashlib.sha256(json.dumps({k: v for k, v in meta.items() if k != "digest"}, sort_keys=True).encode())
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


FULL_HASH_BYTES = 64 << 20
SAMPLE_BLOCKS, BLOCK_BYTES = 64, 64 << 10


def fingerprint(source: str, table) -> dict | None:
    """What identifies the data a fit runs on.

    In-memory fits hash the values they read (exact, and the data is read anyway); streamed
    fits hash the input file(s): all of a file up to FULL_HASH_BYTES, else SAMPLE_BLOCKS
    blocks spread over it, with its size. Modification times are left out: copying the data
    to a job's scratch disk changes them without changing a value."""
    values = getattr(table, "values", None)
    if isinstance(values, np.ndarray):
        digest = hashlib.sha256(f"{values.dtype.str}|{values.shape}|".encode())
        digest.update(np.ascontiguousarray(values).tobytes())
        return {"values": digest.hexdigest()}
    files = input_files(source)
    return {"files": [_file_fingerprint(f) for f in files]} if files else None


def _file_fingerprint(path: str) -> list:
    size = os.path.getsize(path)
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        if size <= FULL_HASH_BYTES:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        else:
            for i in range(SAMPLE_BLOCKS):
                stream.seek((size - BLOCK_BYTES) * i // (SAMPLE_BLOCKS - 1))
                digest.update(stream.read(BLOCK_BYTES))
    return [size, digest.hexdigest()]


def input_files(source: str | None) -> list[str]:
    """The files a DATA argument names: one path, or the sorted matches of a glob; none for stdin."""
    if not source or source == "-":
        return []
    if os.path.isfile(source):
        return [source]
    return sorted(f for f in glob.glob(source) if os.path.isfile(f))


def _split(value, arrays: dict, prefix: str):
    """Replace arrays by references into ``arrays`` so the rest is plain JSON."""
    if isinstance(value, np.ndarray):
        name = f"a{len(arrays)}"
        arrays[name] = value
        return {"__array__": name}
    if isinstance(value, dict):
        return {str(k): _split(v, arrays, f"{prefix}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_split(v, arrays, f"{prefix}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        value = value.item()  # then as a Python number: a numpy infinity must not become bare JSON Infinity
    if isinstance(value, float) and not np.isfinite(value):
        return {"__float__": repr(value)}
    return value


def _join(value, arrays: dict):
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return arrays[value["__array__"]]
        if set(value) == {"__float__"}:
            return float(value["__float__"])
        return {k: _join(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_join(v, arrays) for v in value]
    return value


def check_paths(checkpoint_path: str | None, resume_path: str | None, every: float, data: str | None = None) -> None:
    """Validate the options before any work is done (exit 2 on nonsense); data: the DATA
    argument, which the checkpoint must not overwrite."""
    if every is not None and every <= 0:
        raise BadInput("--checkpoint-every must be a positive number of seconds")
    if checkpoint_path is not None:
        folder = os.path.dirname(os.path.abspath(checkpoint_path))
        if not os.path.isdir(folder):
            raise BadInput(f"--checkpoint {checkpoint_path}: folder {folder} does not exist")
        for path in input_files(data) if os.path.exists(checkpoint_path) else []:
            if os.path.samefile(path, checkpoint_path):
                raise BadInput(f"--checkpoint {checkpoint_path}: is the input DATA {path}; checkpoints would "
                               f"overwrite it: give another file name")
    if resume_path is not None and not os.path.isfile(resume_path):
        raise BadInput(f"--resume {resume_path}: no such checkpoint file")


class _Files:
    """These settings as a loop's ``inference.policy.Checkpoints``: the ``--checkpoint`` and
    ``--resume`` files of the fit inside :func:`active`."""

    enabled = staticmethod(enabled)
    resuming = staticmethod(resuming)
    due = staticmethod(due)
    save = staticmethod(save)

    @staticmethod
    def resume_path() -> str | None:
        """The ``--resume`` file of the fit under way (for messages), or None."""
        return _settings.resume_path

    @staticmethod
    def resume_state(kind: str, dimensions=None) -> dict | None:
        """resume_state with the schema of ``kind`` (documents.checkpoints.SCHEMAS) for the
        loop's dimensions."""
        def schema():
            from vifit.documents.checkpoints import SCHEMAS

            return SCHEMAS[kind](**dimensions())

        return resume_state(kind, schema if dimensions is not None else None)


FILES = _Files()
