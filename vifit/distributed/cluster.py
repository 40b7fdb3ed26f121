"""Connecting to a Dask cluster, or starting a local one: the edge where dask is imported.

``--scheduler ADDRESS`` (tcp://host:port) or ``--scheduler-file PATH`` (the JSON file that
``dask scheduler --scheduler-file`` and dask-jobqueue write) connect to a running cluster;
with neither, a ``LocalCluster`` of one single-threaded worker process per usable core
(``inference.passes.default_workers``) is started for the run and closed after it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os

from vifit.errors import BadInput, SystemFailure

CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler before giving up (exit 2)
WORKER_WAIT = 60.0  # seconds a fit waits, once every worker is lost, for one to join (--worker-wait)
POLL_SECONDS = 0.5  # how often a wait for results looks at the cluster's workers
EXTRA_HINT = "pip install 'vifit[dask]' (dask and distributed)"


def require_dask() -> None:
    """Import dask and distributed, or exit 2 naming the extra to install (dask.dataframe is
    not needed: the workers parse the CSV pieces themselves, ``distributed.reading``)."""
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise BadInput(f"--backend dask needs the optional extra: {EXTRA_HINT}; {exc}") from None


def scheduler_address(scheduler: str | None, scheduler_file: str | None) -> str | None:
    """The address to connect to, from --scheduler or the file of --scheduler-file (None: start a local cluster)."""
    if scheduler and scheduler_file:
        raise BadInput("give --scheduler or --scheduler-file, not both")
    if not scheduler_file:
        return scheduler or None
    if not os.path.isfile(scheduler_file):
        raise BadInput(f"--scheduler-file {scheduler_file}: no such file (is the scheduler started, "
                       f"and the path on a shared file system?)")
    try:
        with open(scheduler_file, encoding="utf-8") as handle:
            address = json.load(handle)["address"]
    except (OSError, ValueError, KeyError, TypeError):
        raise BadInput(f"--scheduler-file {scheduler_file}: not a Dask scheduler file (JSON with an "
                       f"\"address\")") from None
    return str(address)


def gather(client, futures: list, worker_wait: float = WORKER_WAIT) -> list:
    """The results of futures, like ``client.gather``; but when the cluster has had no worker
    at all for ``worker_wait`` seconds, SystemFailure: the tasks would wait for ever (a lost
    worker's partitions are read again by the others, but with none left nothing runs)."""
    import time

    from distributed import wait

    alone_since = None
    while True:
        try:
            wait(futures, timeout=POLL_SECONDS)
        except TimeoutError:
            if client.scheduler_info(n_workers=1).get("workers"):  # any worker at all (one is enough to ask for)
                alone_since = None
                continue
            alone_since = alone_since if alone_since is not None else time.monotonic()
            if time.monotonic() - alone_since < worker_wait:
                continue
            address = getattr(client.scheduler, "address", None)
            raise SystemFailure(f"the Dask cluster{f' at {address}' if address else ''} has had no worker for "
                                f"{worker_wait:g} s: the workers were lost, and their partitions with them, so the "
                                f"fit cannot go on (start workers again and rerun, or give --worker-wait more "
                                f"seconds to wait for them)") from None
        return client.gather(futures)


@contextlib.contextmanager
def connect(scheduler: str | None = None, scheduler_file: str | None = None, note=lambda message: None,
            workers: int | None = None):
    """A ``distributed.Client`` for the run; an unreachable scheduler is BadInput naming its address.

    workers: local cluster size when no scheduler is given (default: the usable cores)."""
    require_dask()
    from distributed import Client, LocalCluster

    address = scheduler_address(scheduler, scheduler_file)
    cluster = None
    if address is None:
        from vifit.threads import row_threads

        n = workers or row_threads()
        # No dashboard; the scheduler's HTTP server (health checks) on a free port, not on 8787,
        # where a busy port (another cluster, a second vifit run) printed a warning. Its logs are
        # silenced below CRITICAL: a worker whose scheduler closed first at the end of a run logged
        # "Failed to communicate with scheduler during heartbeat" (ERROR) after vifit's one error
        # line; vifit reports lost workers and failed tasks itself.
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                               scheduler_kwargs={"dashboard_address": ":0"}, silence_logs=logging.CRITICAL)
        client = Client(cluster)
        note(f"started a local Dask cluster of {n} worker process(es); give --scheduler to use a running one")
    else:
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise BadInput(f"cannot reach the Dask scheduler at {address} within {CONNECT_TIMEOUT:g} s "
                           f"({reason}); is it running, and is the address right?") from None
        workers_now = len(client.scheduler_info().get("workers", {}))
        note(f"connected to the Dask scheduler at {address} ({workers_now} worker(s))")
        if workers_now == 0:  # batch jobs of workers may still be queued
            note("the scheduler has no workers yet; waiting for the first (Ctrl-C to give up)")
            client.wait_for_workers(1)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
