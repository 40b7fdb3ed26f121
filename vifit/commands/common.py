"""The flow every fitting command shares: load, fit, assemble, write, exit code.

Commands call :func:`run_fit` with their model's fit function; nothing here
knows any mathematics.
"""

from __future__ import annotations

import datetime
import os
import time
from typing import Callable

from vifit import checkpoint, errors, interrupt


def resolve_seed(seed: int | None) -> int:
    """The given seed, or a fresh one drawn from OS entropy (recorded in the output)."""
    if seed is not None:
        return int(seed)
    import numpy as np

    return int(np.random.SeedSequence().entropy % (2**63))


def check_output_target(output: str | None) -> None:
    """Fail before fitting when ``-o`` cannot be written (exit 2, nothing written)."""
    if output is None or output == "-":
        return
    target = os.path.abspath(output)
    if os.path.isdir(target):
        raise errors.BadInput(f"{output}: is a directory; give a file name for -o")
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise errors.BadInput(f"{output}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise errors.BadInput(f"{output}: folder {folder} is not writable")


def require_csv_output(command: str, out: dict) -> None:
    """predict and sample write CSV tables only: refuse JSON whether it is asked for with
    --format or by a .json name for -o (exit 2, before anything is read or written)."""
    from vifit.output import resolve_format

    output, fmt = out["output"], out["format"]
    if fmt is None and output not in (None, "-"):
        inferred = resolve_format(output, None)
        # resolve_format falls back to json for unknown extensions; only a .json name asks for it
        fmt = inferred if output.lower().endswith("." + inferred) else None
    if fmt in (None, "csv"):
        return
    asked = f"--format {fmt}: " if out["format"] else f"-o {output}: "
    fix = f"drop --format {fmt}" if out["format"] else "give -o a .csv name, or write to stdout"
    raise errors.BadInput(f"{asked}{command} writes CSV only; {fix}")


def run_info(started: float, wall_start: datetime.datetime) -> dict:
    """The ``run`` block: start time, wall seconds, and the threads the run could use
    (a thread count the user set, else the usable cores; ``vifit gmm``'s own BLAS pin
    does not count, since its row threads use the cores instead)."""
    from vifit.inference.passes import default_workers

    return {
        "started": wall_start.isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 6),
        "threads": default_workers(),
    }


def run_fit(
    *,
    source: str,
    read: dict,
    out: dict,
    run: dict,
    config: dict,
    fit: Callable,
    min_rows: int = 1,
    default_dtype: str = "float64",
    not_converged_hint: str = "raise --max-iter or loosen --tol",
    load: Callable | None = None,
) -> None:
    """Load ``source``, call ``fit(table, seed=, reporter=)`` -> FitResult, write the document.

    config: the command's own resolved options; read options and the seed are added.
    Raises NotConverged (exit 3) after writing when ``--strict`` and the fit did not
    converge, and Interrupted after writing a result marked interrupted.
    load: optional ``load(source, ReadOptions, note)`` returning what ``fit`` takes, with a
    ``describe()`` for the data block (called after the fit); e.g. a streamed source.
    """
    from vifit.data import ReadOptions, load_table
    from vifit.output import build_document, render, resolve_format, write_text
    from vifit.progress import Reporter

    started, wall_start = time.perf_counter(), datetime.datetime.now(datetime.timezone.utc)
    reporter = Reporter(run["progress"], quiet=run["quiet"])
    fmt = resolve_format(out["output"], out["format"])
    check_output_target(out["output"])
    checkpoint.check_paths(run.get("checkpoint"), run.get("resume"), run.get("checkpoint_every"))
    read = dict(read, dtype=read.get("dtype") or default_dtype)
    if load is None:
        table = load_table(source, ReadOptions(**read), min_rows=min_rows, note=reporter.note,
                           require_variation=True)
    else:
        table = load(source, ReadOptions(**read), reporter.note)
    seed = resolve_seed(run["seed"])
    # The handlers stay in place through the write: a second signal then raises,
    # and the atomic writer removes its temporary file on the way out.
    identity = {"config": {**config, **read, "seed": seed}, "data": table.describe()}
    with interrupt.handling_signals(), checkpoint.active(run.get("checkpoint"), run.get("checkpoint_every") or 600.0,
                                                         run.get("resume"), identity):
        result = fit(table, seed=seed, reporter=reporter)
        # config is read again after the fit: a command may add what the fit resolved (priors)
        document = build_document(result, {**config, **read, "seed": seed}, table.describe(),
                                  run_info(started, wall_start))
        write_text(render(document, result.table, fmt), out["output"])
    reporter.release()
    reporter.summarise(result)
    if result.status == "interrupted":
        where = out["output"] if out["output"] not in (None, "-") else "stdout"
        if result.stopped_by is not None:  # not a signal: e.g. the data changed (exit 2)
            raise type(result.stopped_by)(f"{result.stopped_by}; the best result so far was written to {where} "
                                          f"with \"status\": \"interrupted\"")
        raise errors.Interrupted(f"stopped by a signal; the best result so far was written to {where} "
                                 f"with \"status\": \"interrupted\"", interrupt.exit_code())
    if not result.converged:
        message = f"{result.model}: did not converge in {result.n_iter} iterations"
        if run["strict"]:
            raise errors.NotConverged(message + f" (--strict); {not_converged_hint}")
        reporter.warn(message + f"; {not_converged_hint} (\"converged\": false in the output)")
