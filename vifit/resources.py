"""What this process may allocate, and the one check that refuses a request before it allocates.

Callers estimate the bytes a request needs (an array's size, a network's parameters and
activations, a sample's rows) and call :func:`require_memory` *before* building anything, so
an impossible request ends as one line, exit 2, with the estimate and what the machine has,
instead of swapping, being killed, or dying with a numpy MemoryError deep inside a fit.
"""

from __future__ import annotations

import os
import resource

from vifit.errors import BadInput


def available_memory() -> int | None:
    """Bytes this process can still allocate, or None when nothing tells us.

    The smallest of: the kernel's MemAvailable, the cgroup's memory limit less its usage
    (containers, SLURM jobs), and the address-space limit (``ulimit -v``) less what this
    process already maps.
    """
    limits = [_meminfo_available(), _cgroup_available(), _address_space_left()]
    known = [value for value in limits if value is not None]
    return min(known) if known else None


def require_memory(needed_bytes: float, what: str, hint: str = "") -> None:
    """Raise BadInput when ``needed_bytes`` exceeds what is available.

    ``what`` names the request ("--k 100000 with --init random-resp on 2,000 rows"); ``hint``
    (optional) says what to do instead. The message quotes both figures.
    """
    available = available_memory()
    if available is None or needed_bytes <= available:
        return
    message = f"{what} would need {format_bytes(needed_bytes)}; this machine has {format_bytes(available)} available"
    raise BadInput(f"{message}; {hint}" if hint else message)


def format_bytes(count: float) -> str:
    """``74.5 GiB``, ``512.0 MiB``, ``12 bytes``: binary units, one decimal."""
    count = float(count)
    for unit, size in (("TiB", 2.0**40), ("GiB", 2.0**30), ("MiB", 2.0**20), ("KiB", 2.0**10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{int(count)} bytes"


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as stream:
            text = stream.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max" (no limit) is not a number


def _cgroup_available() -> int | None:
    for limit_path, usage_path in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit = _read_int(limit_path)
        if limit is not None and limit < 2**60:  # cgroup v1 writes ~2^63 for "no limit"
            usage = _read_int(usage_path) or 0
            return max(limit - usage, 0)
    return None


def _address_space_left() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open(f"/proc/{os.getpid()}/statm", encoding="ascii") as stream:
            mapped = int(stream.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        mapped = 0
    return max(soft - mapped, 0)
