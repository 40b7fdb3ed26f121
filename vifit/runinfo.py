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
    """The ``run`` block: start time, wall seconds, and the threads the run could use
    (a thread count the user set, else the usable cores; ``vifit gmm``'s own BLAS pin
    does not count, since its row threads use the cores instead)."""
    from vifit.threads import row_threads

    return {
        "started": wall_start.isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 6),
        "threads": row_threads(),
    }
