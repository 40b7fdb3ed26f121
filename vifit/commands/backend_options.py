"""Where ``vifit gmm`` (and ``vifit mixture``) computes: ``--backend local|dask`` and the Dask connection options,
defined once and applied with one decorator; their values arrive packed in ``backend``. Their
types and defaults are vifit.parameters' entries, which also say that the connection options
apply with ``--backend dask`` only.

Nothing here imports dask (an optional extra, ``vifit[dask]``) nor numpy.
"""

from __future__ import annotations

from vifit.commands.declared import declared
from vifit.options import _packed


PARTITIONS = ("local: this process; dask: partitions on a Dask cluster (needs vifit[dask]; "
              "DATA may be a glob such as 'data/part-*.csv.gz').")


WAIT = ("dask: when every worker is lost during a run, how long to wait for one to join before giving up with an "
        "error (a lost worker's partitions are read again).  [default: 60]")


def _backend_options(model: str, backend_help: str = PARTITIONS, wait_help: str = WAIT):
    """The --backend option group of ``model``'s command (backend_help: what --backend dask does
    there; wait_help: --worker-wait's, what becomes of a lost worker's share)."""
    return _packed(
        "backend",
        ("backend", "scheduler", "scheduler_file", "worker_wait"),
        [
            declared(model, "backend", show_default=True, help=backend_help),
            declared(model, "scheduler", metavar="ADDRESS",
                     help="dask: address of a running scheduler (tcp://host:8786).  "
                          "[default: start a local cluster of one single-threaded worker process per usable core, "
                          "at most 8; OMP_NUM_THREADS or MKL_NUM_THREADS, when set, gives the number]"),
            declared(model, "scheduler_file", metavar="PATH",
                     help="dask: the scheduler file written by 'dask scheduler --scheduler-file' or dask-jobqueue."),
            declared(model, "worker_wait", metavar="SECONDS", help=wait_help),
        ],
    )


backend_options = _backend_options("gmm")
mixture_backend_options = _backend_options("mixture")
# compare has no options table of its own: its connection options are gmm's entries, the same
# flags, types and rule (they need --backend dask), checked with check_declared("gmm", ...)
compare_backend_options = _backend_options(
    "gmm", "local: this machine (--jobs processes); dask: each candidate one task on a Dask cluster, the rows "
           "sent once (needs vifit[dask] on the client and the workers).",
    "dask: as for vifit gmm; here the rows are on every worker, so a lost worker's candidate is fitted by "
    "another, and losing every worker loses the rows, which ends the run at once.  [default: 60]")
