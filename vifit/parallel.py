"""Independent fits in parallel processes (``--jobs N``): a grid of candidates, a comparison.

Each worker is a fresh (spawned) process whose BLAS and row threads share the usable cores:
``cores // jobs`` each, set in its environment before it imports numpy, so N jobs on a
2-core node do not run 2N spinning BLAS threads (see :mod:`vifit.threads`). Results come
back in the order of the tasks; an error in a task is raised in the caller as it was raised
in the worker (a BadInput stays exit 2).

Stopping (``stop``): the caller's signal handler owns SIGINT and SIGTERM (a terminal's Ctrl-C,
or a batch system's SIGTERM, reaches every process of the group; a worker killed by it would
leave its task unfinished and the pool waiting for ever), so a task function that fits
ignores them in the worker and asks :func:`stop_requested` between iterations instead. The
caller polls ``stop()`` while the tasks run and passes a request on through an Event every
worker shares: the fits under way end after their current iteration as "interrupted", the
tasks not yet started end after their first.
"""

from __future__ import annotations

import contextlib
import os
from typing import Callable, Iterable

from vifit.threads import BLAS_VARIABLES, PINNED_MARK, VIFIT_THREADS

POLL_SECONDS = 0.2  # how often the caller looks at its stop request while the tasks run
_stop_event = None  # in a worker of run_tasks(stop=...): the Event the caller sets to stop the fits


def _start_worker(event) -> None:
    """Each worker's start, before it takes a task. With a stop Event, SIGINT and SIGTERM are left
    to the caller (module doc): a worker killed between two tasks would also leave the pool
    waiting for ever."""
    global _stop_event
    _stop_event = event
    if event is not None:
        ignore_signals_in_worker()


def stop_requested() -> bool:
    """In a worker of ``run_tasks(stop=...)``: whether the caller asked the fits to stop (else False)."""
    return _stop_event is not None and _stop_event.is_set()


def ignore_signals_in_worker() -> None:
    """SIGINT and SIGTERM left to the caller's handler (see the module doc): for a task function
    that asks :func:`stop_requested` instead."""
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


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


def run_tasks(function: Callable, tasks: Iterable, jobs: int = 1, stop: Callable[[], bool] | None = None) -> list:
    """[function(task) for task in tasks], in order; with jobs > 1 in that many spawned processes.

    function must be importable by name (a module-level function) and tasks picklable. stop:
    the caller's stop request, passed on to the workers' :func:`stop_requested` (module doc)."""
    tasks = list(tasks)
    jobs = max(1, min(int(jobs), len(tasks)))
    if jobs == 1:
        return [function(task) for task in tasks]
    import multiprocessing

    threads = str(threads_per_job(jobs))
    # the user's own thread count is divided too: each job gets its share of the cores
    env = {name: threads for name in (*BLAS_VARIABLES, VIFIT_THREADS)}
    env[PINNED_MARK] = "0"  # a thread count vifit chose for the job, which requested_threads() reads
    context = multiprocessing.get_context("spawn")
    event = None if stop is None else context.Event()
    before = set(multiprocessing.active_children())
    with _environment(env):
        pool = context.Pool(processes=jobs, initializer=_start_worker, initargs=(event,))
    try:
        pending = pool.map_async(function, tasks, chunksize=1)
        while not pending.ready():
            pending.wait(POLL_SECONDS)
            if event is not None and not event.is_set() and stop():
                event.set()
        results = pending.get()
        pool.close()
        pool.join()
        return results
    except BaseException:  # an error in a task, or a second signal: the workers go at once
        # SIGKILL, as the workers of a stop Event ignore the SIGTERM of Pool.terminate
        for worker in set(multiprocessing.active_children()) - before:
            worker.kill()
        pool.terminate()
        raise
