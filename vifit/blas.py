"""The BLAS numpy loaded, and its thread count set at run time through the library's own API.

An environment variable (OPENBLAS_NUM_THREADS) only counts if it is set before numpy is first
imported; a library, a test run or ``vifit.GMM`` in a notebook has usually imported numpy by then.
So, as threadpoolctl does (it is not a dependency), the shared object numpy loaded is found in
``/proc/self/maps`` and its ``*_set_num_threads`` / ``*_get_num_threads`` are called by ctypes.
OpenBLAS builds prefix and suffix their symbols (numpy's wheels: ``scipy_openblas_…64_``), so
each known spelling is tried. Where nothing is found (another OS, a BLAS without such an API)
every function here answers None and changes nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import re
from dataclasses import dataclass

# (prefix, suffix) spellings of OpenBLAS's symbols, as threadpoolctl lists them
_OPENBLAS_NAMES = (("openblas", ""), ("openblas", "64_"), ("scipy_openblas", ""), ("scipy_openblas", "64_"))
_LIBRARY = re.compile(r"lib(scipy_)?openblas|libmkl_rt|libblis|libflexiblas", re.IGNORECASE)


@dataclass(frozen=True)
class Blas:
    """One loaded BLAS: its name ('openblas' or 'mkl'), version (or None) and file, with its
    thread getter and setter (ctypes functions)."""

    name: str
    version: str | None
    path: str
    _get: object
    _set: object

    def get_threads(self) -> int:
        return int(self._get())

    def set_threads(self, n: int) -> None:
        if self.name == "mkl":
            self._set(ctypes.byref(ctypes.c_int(int(n))))  # MKL_Set_Num_Threads takes int*
        else:
            self._set(int(n))


def _loaded_libraries(maps: str = "/proc/self/maps") -> list[str]:
    """The BLAS-looking shared objects mapped into this process, in load order, each once."""
    try:
        with open(maps, encoding="utf-8", errors="replace") as handle:
            paths = [line.split(None, 5)[-1].strip() for line in handle if ".so" in line]
    except OSError:
        return []
    seen: list[str] = []
    for path in paths:
        if _LIBRARY.search(os.path.basename(path)) and path not in seen:
            seen.append(path)
    return seen


def _openblas(path: str, lib) -> Blas | None:
    for prefix, suffix in _OPENBLAS_NAMES:
        get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
        put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
        if get is None or put is None:
            continue
        get.restype, put.restype, put.argtypes = ctypes.c_int, None, [ctypes.c_int]
        version = None
        config = getattr(lib, f"{prefix}_get_config{suffix}", None)
        if config is not None:
            config.restype = ctypes.c_char_p
            # "OpenBLAS 0.3.29.dev DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64"
            found = re.search(rb"OpenBLAS\s+(\S+)", config() or b"")
            version = found.group(1).decode() if found else None
        return Blas("openblas", version, path, get, put)
    return None


def _mkl(path: str, lib) -> Blas | None:
    get, put = getattr(lib, "MKL_Get_Max_Threads", None), getattr(lib, "MKL_Set_Num_Threads", None)
    if get is None or put is None:
        return None
    get.restype, put.restype = ctypes.c_int, None
    version = None
    buffer = ctypes.create_string_buffer(200)
    get_version = getattr(lib, "MKL_Get_Version_String", None)
    if get_version is not None:
        get_version(buffer, len(buffer))
        found = re.search(rb"Version\s+(\S+)", buffer.value)
        version = found.group(1).decode() if found else None
    return Blas("mkl", version, path, get, put)


@functools.lru_cache(maxsize=1)
def _find() -> Blas | None:
    import numpy  # noqa: F401  (loads the BLAS, so that it is in the maps)

    for path in _loaded_libraries():
        try:
            lib = ctypes.CDLL(path)  # already mapped: this only opens a handle on it
        except OSError:
            continue
        found = _mkl(path, lib) if "mkl" in os.path.basename(path).lower() else _openblas(path, lib)
        if found is not None:
            return found
    return None


def loaded() -> Blas | None:
    """numpy's BLAS, if it has a thread API vifit knows, else None (found once per process)."""
    return _find()


def get_threads() -> int | None:
    """The BLAS's current thread count, or None when it cannot be asked."""
    blas = loaded()
    return None if blas is None else blas.get_threads()


def set_threads(n: int) -> int | None:
    """Set the BLAS to ``n`` threads (at least 1); returns the count it had, None if it has no API."""
    blas = loaded()
    if blas is None:
        return None
    before = blas.get_threads()
    blas.set_threads(max(1, int(n)))
    return before


@contextlib.contextmanager
def limited(n: int | None):
    """BLAS on ``n`` threads inside the block, then as before (None: unchanged)."""
    before = None if n is None else set_threads(n)
    try:
        yield
    finally:
        if before is not None:
            set_threads(before)


def describe() -> dict:
    """For the ``run`` block: {"name", "version", "threads"}, or {"name": None} with no known BLAS."""
    blas = loaded()
    if blas is None:
        return {"name": None}
    return {"name": blas.name, "version": blas.version, "threads": blas.get_threads()}
