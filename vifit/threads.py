"""The thread policy of a run, decided at the command edge and passed to the loops.

:func:`usable_cores` is the cores this process may use: its affinity mask, bounded by a cgroup
CPU quota (a container or a batch job's limit) and SLURM's ``SLURM_CPUS_PER_TASK``.
:func:`requested_threads` is a thread count the user set (``--threads``/``VIFIT_THREADS``, else
the BLAS variables). :func:`plan` turns these and the load of the machine into a
:class:`ThreadPlan`: vifit's own row threads and the BLAS threads, which the command edge applies
(:func:`running`, through the BLAS's own API: vifit.blas) and passes down as numbers, and which
the ``run`` block records. Nothing below the services reads the environment.

Why: with another busy process on a 2-core node, OpenBLAS's worker threads spin-wait for a core
that is taken. Measured here (benchmarks/README.md, "Threads under contention"), a 784-400-20 VAE
epoch ran 4-13x slower on 2 BLAS threads than on 1 once other processes held the cores. So the
networks run BLAS on 1 thread unless asked (their result also depends on the BLAS's threads, see
:func:`plan`), PCA on the cores unless the machine is busy, and the mixtures keep BLAS on 1 thread
(their small GEMMs run on vifit's row threads instead, inference/passes.py).
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
VIFIT_THREADS = "VIFIT_THREADS"  # vifit's own: row threads and BLAS threads alike
# Set with vifit's own pin, so this process and its children (a local Dask cluster's
# workers) do not take OPENBLAS_NUM_THREADS=1 for a thread count the user chose.
PINNED_MARK = "VIFIT_PINNED_BLAS"
MAX_WORKERS = 8  # as inference.passes: more row threads than this only add reduction work


def pin_blas() -> None:
    """One BLAS thread, unless numpy is already loaded (too late to matter) or the user set a
    thread count (which wins). :func:`running` sets the BLAS at run time as well; this only spares
    OpenBLAS starting threads at import that would then sit idle."""
    if "numpy" not in sys.modules and not any(v in os.environ for v in (*BLAS_VARIABLES, VIFIT_THREADS)):
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
        os.environ[PINNED_MARK] = "1"


def _positive_int(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def requested_threads(environ=None) -> int | None:
    """A thread count the user set: VIFIT_THREADS, else OMP_NUM_THREADS, OPENBLAS_NUM_THREADS,
    MKL_NUM_THREADS (not the pin of :func:`pin_blas`); else None."""
    environ = os.environ if environ is None else environ
    if _positive_int(environ.get(VIFIT_THREADS)):
        return _positive_int(environ.get(VIFIT_THREADS))
    pinned = environ.get(PINNED_MARK) == "1"
    for var in BLAS_VARIABLES:
        if pinned and var == "OPENBLAS_NUM_THREADS":
            continue
        if _positive_int(environ.get(var)):
            return _positive_int(environ.get(var))
    return None


def _own_cgroup(proc: str | Path) -> str | None:
    """This process's cgroup v2 path ("0::/user.slice/job.scope" -> "user.slice/job.scope"), or None."""
    try:
        for line in Path(proc).read_text().splitlines():
            if line.startswith("0::"):
                return line[3:].strip().lstrip("/") or None
    except OSError:
        pass
    return None


def cgroup_cpu_limit(root: str | Path = "/sys/fs/cgroup", proc: str | Path = "/proc/self/cgroup") -> float | None:
    """The cgroup CPU quota in cores (e.g. 1.5 for ``150000 100000``), or None when unlimited.

    cgroup v2: ``cpu.max`` holds "quota period" ("max period": unlimited), in this process's own
    cgroup (from ``proc``; outside a container that is not the root) or at the root (inside one);
    v1: ``cpu/cpu.cfs_quota_us`` (-1: unlimited) over ``cpu/cpu.cfs_period_us`` (or the same files
    directly under root, as some containers mount them)."""
    root = Path(root)
    own = _own_cgroup(proc)
    for folder in ([root / own] if own else []) + [root]:
        try:
            quota, period = (folder / "cpu.max").read_text().split()[:2]
            return None if quota == "max" else _ratio(quota, period)
        except (OSError, ValueError):
            continue
    for folder in (root / "cpu", root / "cpu,cpuacct", root):
        try:
            quota = (folder / "cpu.cfs_quota_us").read_text().strip()
            period = (folder / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            continue
        return None if quota.startswith("-") else _ratio(quota, period)
    return None


def _ratio(quota: str, period: str) -> float | None:
    quota_us, period_us = int(quota), int(period)
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def affinity_cores() -> int:
    """The cores in this process's affinity mask (os.cpu_count() where there is no mask)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def usable_cores(environ=None, cgroup_root: str | Path = "/sys/fs/cgroup", affinity: int | None = None,
                 proc: str | Path = "/proc/self/cgroup") -> int:
    """The cores this process may use: the smallest of its affinity mask, the cgroup quota
    (rounded down, at least 1: 1.5 cores run 1 thread without being throttled) and
    SLURM_CPUS_PER_TASK; at least 1."""
    environ = os.environ if environ is None else environ
    cores = affinity_cores() if affinity is None else affinity
    quota = cgroup_cpu_limit(cgroup_root, proc)
    if quota is not None:
        cores = min(cores, max(1, int(quota)))
    slurm = _positive_int(environ.get("SLURM_CPUS_PER_TASK"))
    if slurm is not None:
        cores = min(cores, slurm)
    return max(1, cores)


def machine_busy(cores: int, load: float | None = None) -> bool:
    """Whether other processes compete for the cores: the 1-minute load average at least the
    usable cores. Read before the fit starts, so it counts the neighbours, not this run."""
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            return False
    return load >= cores


@dataclass(frozen=True)
class ThreadPlan:
    """The threads of one run: ``rows`` (vifit's own threads over blocks of rows) and ``blas``
    (BLAS threads), with why (``source``: 'user', 'cores', 'busy', 'pinned' or 'reproducible')."""

    cores: int
    rows: int
    blas: int
    source: str

    def record(self) -> dict:
        return {"cores": self.cores, "rows": self.rows, "blas": self.blas, "source": self.source}


KINDS = ("rows", "networks", "gemm")


def plan(kind: str = "rows", threads: int | None = None, environ=None, load: float | None = None,
         cores: int | None = None) -> ThreadPlan:
    """The thread plan for a fit of ``kind`` (fitplan.Plan.threads):

    - 'rows' (the mixtures): row threads over the usable cores, BLAS on 1 thread, whatever the load;
    - 'networks': BLAS on 1 thread. Not the cores when the machine is quiet: a network's result
      depends on the BLAS's thread count (a VAE's ELBO moved in the 10th digit between 1 and 2
      threads), and the same seed must give the same document whatever the load of the machine;
      under load 1 thread is also 4-13x faster (benchmarks/README.md). ``--threads N`` opts in;
    - 'gemm' (PCA): BLAS on the usable cores, on 1 thread when the machine is busy (its result
      was bit-identical on 1 and 2 threads, so the load may choose).

    threads: a count the caller chose (wins); else :func:`requested_threads` wins over the
    measured cores and load."""
    if kind not in KINDS:
        raise ValueError(f"thread plan kind {kind!r} is not one of {KINDS}")
    cores = usable_cores(environ) if cores is None else cores
    asked = threads if threads is not None and threads > 0 else requested_threads(environ)
    if kind == "rows":
        return ThreadPlan(cores, min(asked or cores, MAX_WORKERS), 1, "user" if asked else "pinned")
    if asked:
        return ThreadPlan(cores, 1, asked, "user")
    if kind == "networks":
        return ThreadPlan(cores, 1, 1, "reproducible")
    if cores > 1 and machine_busy(cores, load):
        return ThreadPlan(cores, 1, 1, "busy")
    return ThreadPlan(cores, 1, cores, "cores")


_ACTIVE: ThreadPlan | None = None


@contextlib.contextmanager
def running(thread_plan: ThreadPlan):
    """Inside the block: the BLAS on the plan's threads, set through its own API (vifit.blas;
    the environment is read by the BLAS only when it loads), and the plan recorded for
    :func:`row_threads` and the ``run`` block; afterwards the BLAS's count as it was, so that
    ``vifit.VAE().fit`` in a notebook leaves the session's BLAS alone."""
    global _ACTIVE
    from vifit import blas

    saved = _ACTIVE
    _ACTIVE = thread_plan
    try:
        with blas.limited(thread_plan.blas):
            yield thread_plan
    finally:
        _ACTIVE = saved


def active() -> ThreadPlan | None:
    """The plan of the fit running now (None outside :func:`running`)."""
    return _ACTIVE


def row_threads() -> int:
    """The row threads a fit uses: the running plan's, else the user's thread count (at most 8),
    else the usable cores."""
    return _ACTIVE.rows if _ACTIVE is not None else plan("rows").rows


def record() -> dict:
    """The ``run`` block's thread fields: ``threads`` (the row threads, or the BLAS threads of a
    network fit), the plan, and the BLAS (name, version, threads now)."""
    from vifit import blas

    current = _ACTIVE or plan("rows")
    return {"threads": max(current.rows, current.blas), "thread_plan": current.record(), "blas": blas.describe()}
