"""Where ``vifit gmm`` computes: ``--backend local|dask`` and the Dask connection options,
defined once and applied with one decorator; their values arrive packed in ``backend``.

Nothing here imports dask (an optional extra, ``vifit[dask]``) nor numpy.
"""

from __future__ import annotations

import click

from vifit.options import FiniteFloat, _packed

backend_options = _packed(
    "backend",
    ("backend", "scheduler", "scheduler_file", "worker_wait"),
    [
        click.option("--backend", type=click.Choice(["local", "dask"]), default="local", show_default=True,
                     help="local: this process; dask: partitions on a Dask cluster (needs vifit[dask]; "
                          "DATA may be a glob such as 'data/part-*.csv.gz').")
        ,
        click.option("--scheduler", metavar="ADDRESS", default=None,
                     help="dask: address of a running scheduler (tcp://host:8786).  "
                          "[default: start a local cluster of one single-threaded worker process per usable core, "
                          "at most 8; OMP_NUM_THREADS or MKL_NUM_THREADS, when set, gives the number]")
        ,
        click.option("--scheduler-file", metavar="PATH", default=None,
                     help="dask: the scheduler file written by 'dask scheduler --scheduler-file' or dask-jobqueue.")
        ,
        click.option("--worker-wait", metavar="SECONDS", type=FiniteFloat(0, 86400, min_open=True),
                     default=None,
                     help="dask: when every worker is lost during a run, how long to wait for one to join "
                          "before giving up with an error (a lost worker's partitions are read again).  "
                          "[default: 60]")
        ,
    ],
)
