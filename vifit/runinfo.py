"""The seed a run uses and the ``run`` block it records: shared by the command line and the API,
so both write the same document. Light on purpose (numpy only when a seed must be drawn):
the API's estimators import it before any fit.
"""

from __future__ import annotations

import datetime
import time


def resolve_seed(seed: int | None) -> int:
    """The given seed, or a fresh one drawn from OS entropy (recorded in the output)."""
    if seed is not None:
        return int(seed)
    import numpy as np

    return int(np.random.SeedSequence().entropy % (2**63))


def run_info(started: float, wall_start: datetime.datetime) -> dict:
    """The ``run`` block: start time, wall seconds, and the threads the run used (vifit.threads.record:
    ``threads``, the plan's cores, row and BLAS threads and why, and the BLAS's name, version and
    thread count as the fit ran). Called inside the fit's ``threads.running`` block."""
    from vifit.threads import record

    return {
        "started": wall_start.isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 6),
        **record(),
    }
