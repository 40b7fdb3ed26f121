"""The thread policy of a run, decided at the command edge and passed to the loops.

:func:`pin_blas` keeps OpenBLAS on one thread (``vifit gmm`` calls it when loaded, before
numpy is imported) and :func:`requested_threads` is the thread count the user set, which the
command passes to the loops (``inference.passes.default_workers``) and records in ``run``.
"""

from __future__ import annotations

import os
import sys

BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# Set with vifit's own pin, so this process and its children (a local Dask cluster's
# workers) do not take OPENBLAS_NUM_THREADS=1 for a thread count the user chose.
PINNED_MARK = "VIFIT_PINNED_BLAS"


def pin_blas() -> None:
    """One BLAS thread, unless numpy is already loaded (too late to matter) or the user set a
    thread count (which wins)."""
    if "numpy" not in sys.modules and not any(v in os.environ for v in BLAS_VARIABLES):
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
        os.environ[PINNED_MARK] = "1"


def requested_threads() -> int | None:
    """A thread count the user set (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS; not
    the pin of :func:`pin_blas`), else None."""
    pinned = os.environ.get(PINNED_MARK) == "1"
    for var in BLAS_VARIABLES:
        if pinned and var == "OPENBLAS_NUM_THREADS":
            continue
        if os.environ.get(var, "").isdigit() and int(os.environ[var]) > 0:
            return int(os.environ[var])
    return None


def row_threads() -> int:
    """The row threads a fit uses: the user's thread count (at most 8), else the usable cores."""
    from vifit.inference.passes import default_workers

    return default_workers(requested_threads())
