"""The flow every fitting command shares: load, fit, assemble, write, exit code.

Every fitting command calls :func:`run_fit` with the Plan the API made from its options
(:mod:`vifit.fitplan`); nothing here knows any mathematics. The
loops' policy (strict-ELBO mode, the stop request, the checkpoint files) is built here, at
the command edge, and passed to the fit as ``policy``.
"""

from __future__ import annotations

import datetime
import os
import stat
import sys
import time

from vifit import checkpoint, errors, interrupt, threads
from vifit.runinfo import resolve_seed, run_info  # noqa: F401 (the commands import them from here)


def check_output_target(output: str | None, inputs: dict[str, str] | None = None) -> None:
    """Fail before reading anything when ``-o`` cannot or must not be written.

    inputs: what the command reads, e.g. {"DATA": path, "MODEL": path}: ``-o`` naming one of
    them (the same file, also through a symlink or a hard link) is BadInput (exit 2), since
    the result would destroy it. A folder the OS will not write in is a SystemFailure.
    """
    if output is None or output == "-":
        return
    from vifit.writing import check_writable

    check_writable(output)
    for label, path in (inputs or {}).items():
        if path is not None and _same_file(output, path):
            shown = "<stdin>" if path == "-" else path
            raise errors.BadInput(f"-o {output}: is the input {label} {shown}; writing there would destroy it: "
                                  f"give -o another name")


def _same_file(output: str, source: str) -> bool:
    """Whether the regular file ``output`` (or a file matching an output pattern with '*') is
    ``source``: a path, a glob pattern of paths, or "-" (stdin)."""
    import glob

    outputs = glob.glob(output) if "*" in output else [output]
    sources = [None] if source == "-" else (glob.glob(source) if glob.has_magic(source) else [source])
    for out_path in outputs:
        try:
            written = os.stat(out_path)
        except OSError:
            continue
        if not stat.S_ISREG(written.st_mode):
            continue  # a device or FIFO is written in place; /dev/stdin and /dev/stdout may be one tty
        for path in sources:
            try:
                read = os.fstat(0) if path is None else os.stat(path)
            except (OSError, ValueError):
                continue
            if (read.st_dev, read.st_ino) == (written.st_dev, written.st_ino):
                return True
    return False


def stdout_is_terminal() -> bool:
    try:
        return sys.stdout is not None and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _command_path() -> str:
    """"vifit gmm": the command being run, for the line that says how to save the JSON."""
    import click

    context = click.get_current_context(silent=True)
    return context.command_path if context is not None else "vifit"


def loop_policy(run: dict):
    """The loops' policy for a command-line fit: ``--strict-elbo`` (VIFIT_STRICT_ELBO), the
    signal handler's stop request, and the checkpoint files of :func:`checkpoint.active`."""
    from vifit.inference.policy import LoopPolicy

    return LoopPolicy(on_decrease="raise" if run.get("strict_elbo") else "warn",
                      should_stop=interrupt.requested, checkpoints=checkpoint.FILES)


def run_fit(*, source: str, read: dict, out: dict, run: dict, plan) -> None:
    """Load ``source`` as ``plan`` says, run ``plan.fit(rows, seed=, reporter=, policy=)`` -> FitResult,
    write the document (config: :func:`vifit.fitplan.recorded_config`).

    plan: the :class:`vifit.fitplan.Plan` the API made from the command's options. Raises
    NotConverged (exit 3) after writing when ``--strict`` and the fit (or, for a plan with a
    ``strict_check``, any candidate it covers) did not converge, and Interrupted after writing a
    result marked interrupted.
    """
    from vifit.data import ReadOptions, load_table
    from vifit.fitplan import recorded_config
    from vifit.output import build_document, render, resolve_format, write_text
    from vifit.progress import Reporter
    from vifit.terminal import show_result
    from vifit.units import with_data_units

    started, wall_start = time.perf_counter(), datetime.datetime.now(datetime.timezone.utc)
    reporter = Reporter(run["progress"], quiet=run["quiet"])
    reporter.reading_stdin(source)
    fmt = resolve_format(out["output"], out["format"])
    # no -o and stdout a terminal: the summary table instead of a screenful of JSON (-o - writes it)
    on_screen = out["output"] is None and stdout_is_terminal()
    check_output_target(out["output"], {"DATA": source})
    checkpoint.check_paths(run.get("checkpoint"), run.get("resume"), run.get("checkpoint_every"), data=source)
    read = dict(read, dtype=read.get("dtype") or plan.default_dtype)
    with plan.resources:  # e.g. a cluster connection the load opens: closed when the command ends
        if plan.load is None:
            table = load_table(source, ReadOptions(**read), min_rows=plan.min_rows, note=reporter.note,
                               require_variation=True)
        else:
            table = plan.load(source, ReadOptions(**read), reporter.note)
        seed = resolve_seed(run["seed"])
        # The handlers stay in place through the write: a second signal then raises,
        # and the atomic writer removes its temporary file on the way out.
        identity = {"config": recorded_config(plan, None, read, seed), "data": table.describe()}
        with interrupt.handling_signals(), checkpoint.active(run.get("checkpoint"),
                                                             run.get("checkpoint_every") or 600.0,
                                                             run.get("resume"), identity, data=(source, table),
                                                             warn=reporter.warn):
            with threads.running(threads.plan(plan.threads, run.get("threads"))):
                result = plan.fit(table, seed=seed, reporter=reporter, policy=loop_policy(run))
                run_block = run_info(started, wall_start)
            with_data_units(result, table, table.describe())
            document = build_document(result, recorded_config(plan, result, read, seed), table.describe(),
                                      run_block)
            if on_screen:
                show_result(sys.stdout, result, table.describe(), _command_path())
            else:
                write_text(render(document, result.table, fmt), out["output"])
    reporter.release()
    if not on_screen:
        reporter.summarise(result, table.describe())
    if result.status == "interrupted":
        where = out["output"] if out["output"] not in (None, "-") else "stdout"
        where = "the terminal (not saved: -o PATH saves it)" if on_screen else where
        if result.stopped_by is not None:  # not a signal: e.g. the data changed (exit 2)
            raise type(result.stopped_by)(f"{result.stopped_by}; the best result so far was written to {where} "
                                          f"with \"status\": \"interrupted\"")
        raise errors.Interrupted(f"stopped by a signal; the best result so far was written to {where} "
                                 f"with \"status\": \"interrupted\"", interrupt.exit_code())
    if not result.converged:
        message = f"{result.model}: did not converge in {result.n_iter} iterations"
        if run["strict"]:
            raise errors.NotConverged(message + f" (--strict); {plan.not_converged_hint}")
        reporter.warn(message + f"; {plan.not_converged_hint} (\"converged\": false in the output)")
    if run["strict"] and plan.strict_check is not None:
        message = plan.strict_check(result)
        if message:
            raise errors.NotConverged(message)
