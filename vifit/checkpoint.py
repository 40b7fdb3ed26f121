"""Checkpoint and resume for long fits (``--checkpoint``, ``--checkpoint-every``, ``--resume``).

A loop calls :func:`due` at the end of an iteration/epoch and, when it is,
:func:`save` with its complete state: a flat dict of numpy arrays, numbers,
strings and nested dicts/lists of those (random generators' states included).
The file is an ``.npz`` archive written atomically; it never holds pickled
objects, so loading one cannot run code. On ``--resume`` a loop asks
:func:`resume_state` for the state to continue from: the same command with the
same seed then ends with the same result as an uninterrupted run.

The configuration of the run is stored with the state, and resuming under a
different configuration is refused (exit 2), since the result would be neither
run's. Like signals, the active checkpoint settings are process-wide.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time

import numpy as np

from vifit.errors import BadInput, SystemFailure

FORMAT = "vifit.checkpoint/1"


class _Settings:
    path: str | None = None
    every: float = 600.0
    resume_path: str | None = None
    config_key: str = ""
    last_saved: float = 0.0
    warn = None  # the run's reporter.warn: a checkpoint that cannot be written is a warning
    failed: bool = False
    clock = staticmethod(time.monotonic)


_settings = _Settings()


def config_key(config: dict) -> str:
    """A canonical string of the options that determine the result."""
    return json.dumps(config, sort_keys=True, default=str)


@contextlib.contextmanager
def active(path: str | None, every: float, resume_path: str | None, config: dict, warn=None):
    """Configure checkpointing for the duration of one fit; ``warn(message)`` hears (once)
    that a checkpoint could not be written."""
    _settings.path, _settings.every, _settings.resume_path = path, float(every), resume_path
    _settings.warn, _settings.failed = warn, False
    _settings.config_key = config_key(config)
    _settings.last_saved = _settings.clock()
    try:
        yield
    finally:
        _settings.path = _settings.resume_path = None


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
    meta = {"format": FORMAT, "kind": kind, "config": _settings.config_key, "state": skeleton}
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


def resume_state(kind: str) -> dict | None:
    """The state saved by a loop of type ``kind`` when ``--resume`` was given, else None."""
    if _settings.resume_path is None:
        return None
    return load(_settings.resume_path, kind, _settings.config_key)


def load(path: str, kind: str, expected_config: str | None = None) -> dict:
    """Read a checkpoint file; BadInput if it is not one, or belongs to another run."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(bytes(archive["__meta__"]).decode("utf-8"))
            arrays = {name: archive[name] for name in archive.files if name != "__meta__"}
    except FileNotFoundError:
        raise BadInput(f"{path}: no such checkpoint file") from None
    except Exception:  # np.load raises many types (EOFError, BadZipFile, ValueError, ...) on junk
        raise BadInput(f"{path}: not a vifit checkpoint file") from None
    if meta.get("format") != FORMAT:
        raise BadInput(f"{path}: checkpoint format {meta.get('format')!r} is not {FORMAT}")
    if meta.get("kind") != kind:
        raise BadInput(f"{path}: checkpoint of a {meta.get('kind')} fit cannot resume a {kind} fit")
    if expected_config is not None and meta.get("config") != expected_config:
        raise BadInput(f"{path}: checkpoint was written with other options or data; "
                       f"resume with the same command line")
    return _join(meta["state"], arrays)


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
        return value.item()
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


def check_paths(checkpoint_path: str | None, resume_path: str | None, every: float) -> None:
    """Validate the options before any work is done (exit 2 on nonsense)."""
    if every is not None and every <= 0:
        raise BadInput("--checkpoint-every must be a positive number of seconds")
    if checkpoint_path is not None:
        folder = os.path.dirname(os.path.abspath(checkpoint_path))
        if not os.path.isdir(folder):
            raise BadInput(f"--checkpoint {checkpoint_path}: folder {folder} does not exist")
    if resume_path is not None and not os.path.isfile(resume_path):
        raise BadInput(f"--resume {resume_path}: no such checkpoint file")
