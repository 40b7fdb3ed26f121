"""``vifit compare --backend dask``: each candidate's fit-and-score as one task on a Dask cluster.

The comparison's rows are in memory on the client (read once, split once by ``api.compare``);
here they are scattered to the workers once and every candidate is one ``client.submit`` of the
same module-level function ``--jobs`` runs in local processes (``api.compare.fit_and_score``),
so a worker computes exactly what a local process would and the document is the local one.

The connection is ``cluster.connect``'s, as for the other Dask commands (it starts a local
cluster without ``--scheduler``, and closes what it opened). Results come back in candidate
order; an error in a task is raised here as the worker raised it (a BadInput stays exit 2).
"""

from __future__ import annotations

from typing import Callable

from vifit.distributed import cluster
from vifit.errors import SystemFailure


def run_on_cluster(function: Callable, tasks: list[dict], arrays: dict, backend: dict, note) -> tuple[list, int]:
    """([function({**task, **arrays}) for task in tasks] computed on the cluster, in order; the
    number of workers). arrays: the large values every task shares (name -> array), sent once.
    backend: scheduler, scheduler_file, worker_wait (the --backend dask options)."""
    wait = backend.get("worker_wait") or cluster.WORKER_WAIT
    with cluster.connect(backend.get("scheduler"), backend.get("scheduler_file"), note) as client:
        names = list(arrays)
        try:
            # broadcast: a candidate may run on any worker, and scattered data cannot be recomputed,
            # so one lost worker must not take the only copy of the rows with it
            scattered = dict(zip(names, client.scatter([arrays[name] for name in names], broadcast=True)))
        except (OSError, TimeoutError):  # distributed's CommClosedError is an OSError
            raise SystemFailure(f"{_where(client)} lost its workers while the rows were sent to them, so the "
                                f"comparison cannot go on (start workers again and rerun)") from None
        # no retries: a fit is seeded, so a failed one fails again; a task of a lost worker is
        # rescheduled by the scheduler itself (retries are for exceptions only)
        futures = [client.submit(function, {**task, **scattered}, pure=False) for task in tasks]
        workers = len(client.scheduler_info().get("workers", {}))
        note(f"sent the rows to {workers} worker(s): {len(futures)} candidate(s) to fit, one task each")
        try:
            return cluster.gather(client, futures, wait), workers
        except Exception as exc:
            raise _lost(exc, client) from None


def _where(client) -> str:
    address = getattr(client.scheduler, "address", None)
    return f"the Dask cluster{f' at {address}' if address else ''}"


def _lost(exc: Exception, client) -> Exception:
    """The error to raise for exc from gather: a SystemFailure for what losing workers does to a
    run (a task whose workers kept dying, rows gone with every worker), else exc itself."""
    from concurrent.futures import CancelledError

    from distributed import KilledWorker

    where = _where(client)
    if isinstance(exc, KilledWorker):
        return SystemFailure(f"{where}: the workers running a candidate were lost several times (out of memory, "
                             f"killed?), so the comparison cannot go on; give the workers more memory and rerun")
    if isinstance(exc, CancelledError):
        # every worker holding the scattered rows went: the scheduler cancels the tasks at once
        # (nothing can recompute scattered data), so no --worker-wait applies
        return SystemFailure(f"{where} lost every worker holding the rows sent to it, and the rows with them, so "
                             f"the comparison cannot go on (start workers again and rerun)")
    return exc
