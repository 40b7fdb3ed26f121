"""The BLAS numpy loaded, and its thread count set at run time through the library's own API.

An environment variable (OPENBLAS_NUM_THREADS) only counts if it is set before numpy is first
imported; a library, a test run or ``vifit.GMM`` in a notebook has usually imported numpy by then.
So, as threadpoolctl does (it is not a dependency), the shared object numpy loaded is found in
``/proc/self/maps`` and its ``*_set_num_threads`` / ``*_get_num_threads`` are called by ctypes.
OpenBLAS builds prefix and suffix their symbols (numpy's wheels: ``scipy_openblas_…64_``), so
each known spelling is tried. Where nothing is found (another OS, a BLAS without such an API)
every function here answers None and changes nothing.

A process often maps two copies: numpy's wheel ships ``numpy.libs/libscipy_openblas64_…`` and
scipy's ships its own ``scipy.libs/libscipy_openblas…``. ``/proc/self/maps`` lists them by
address, not by load order, so scipy's copy can come first; numpy's is the one its GEMMs use, so
it is preferred (the copy under numpy's own folder, else the first), and :func:`set_threads` sets
every copy so that scipy's cholesky and solves follow the same count.
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
    """The BLAS-looking shared objects mapped into this process, in address order, each once."""
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


def numpy_first(paths: list[str], numpy_dir: str) -> list[str]:
    """``paths`` with the libraries under numpy's folder (``numpy/`` or the wheel's ``numpy.libs/``)
    first, the rest after in their order."""
    own = (os.path.join(numpy_dir, ""), os.path.join(numpy_dir + ".libs", ""))
    return sorted(paths, key=lambda path: not path.startswith(own))


@functools.lru_cache(maxsize=None)
def _open(path: str) -> Blas | None:
    try:
        lib = ctypes.CDLL(path)  # already mapped: this only opens a handle on it
    except OSError:
        return None
    return _mkl(path, lib) if "mkl" in os.path.basename(path).lower() else _openblas(path, lib)


def _find_all() -> tuple[Blas, ...]:
    """Every BLAS mapped now, numpy's first. The maps are read on each call (a few hundred lines,
    once or twice a fit) so that a copy loaded later, scipy's say, is seen too."""
    import numpy  # (loads the BLAS, so that it is in the maps)

    paths = numpy_first(_loaded_libraries(), os.path.dirname(os.path.abspath(numpy.__file__)))
    return tuple(found for found in map(_open, paths) if found is not None)


def loaded() -> Blas | None:
    """numpy's BLAS, if it has a thread API vifit knows, else None."""
    every = _find_all()
    return every[0] if every else None


def get_threads() -> int | None:
    """The BLAS's current thread count, or None when it cannot be asked."""
    blas = loaded()
    return None if blas is None else blas.get_threads()


def set_threads(n: int) -> int | None:
    """Set the BLAS to ``n`` threads (at least 1); returns the count it had, None if it has no API."""
    every = _find_all()
    if not every:
        return None
    before = every[0].get_threads()
    for blas in every:
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
