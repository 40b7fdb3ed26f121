"""Independent fits in parallel processes (``--jobs N``): a grid of candidates, a comparison.

Each worker is a fresh (spawned) process whose BLAS and row threads share the usable cores:
``cores // jobs`` each, set in its environment before it imports numpy, so N jobs on a
2-core node do not run 2N spinning BLAS threads (see :mod:`vifit.threads`). Results come
back in the order of the tasks; an error in a task is raised in the caller as it was raised
in the worker (a BadInput stays exit 2).
"""

from __future__ import annotations

import contextlib
import os
from typing import Callable, Iterable

from vifit.threads import BLAS_VARIABLES, PINNED_MARK, VIFIT_THREADS


def usable_cores() -> int:
    """The cores this process may use (vifit.threads.usable_cores: affinity, cgroup quota, SLURM)."""
    from vifit.threads import usable_cores as cores

    return cores()


def threads_per_job(jobs: int) -> int:
    return max(1, usable_cores() // max(1, jobs))


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    """os.environ with ``values`` set while the workers are spawned (they copy it), then restored."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_tasks(function: Callable, tasks: Iterable, jobs: int = 1) -> list:
    """[function(task) for task in tasks], in order; with jobs > 1 in that many spawned processes.

    function must be importable by name (a module-level function) and tasks picklable."""
    tasks = list(tasks)
    jobs = max(1, min(int(jobs), len(tasks)))
    if jobs == 1:
        return [function(task) for task in tasks]
    import multiprocessing

    threads = str(threads_per_job(jobs))
    # the user's own thread count is divided too: each job gets its share of the cores
    env = {name: threads for name in (*BLAS_VARIABLES, VIFIT_THREADS)}
    env[PINNED_MARK] = "0"  # a thread count vifit chose for the job, which requested_threads() reads
    with _environment(env):
        pool = multiprocessing.get_context("spawn").Pool(processes=jobs)
    with pool:
        try:
            return pool.map(function, tasks, chunksize=1)
        except KeyboardInterrupt:
            pool.terminate()
            raise
