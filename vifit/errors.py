"""The exit-code contract, in one place.

Library code raises the domain errors below; only the command-line edge
(:func:`vifit.cli.main` via :func:`report`) turns them into one line on
stderr and an exit status.

=====  ==========================================================
code   meaning
=====  ==========================================================
0      success
1      unexpected internal error (traceback only with ``--debug``)
2      bad usage or bad input: one line naming file, row/column, problem
3      did not converge and ``--strict`` was given
130    interrupted by SIGINT (best result so far written)
143    interrupted by SIGTERM (best result so far written)
=====  ==========================================================
"""

from __future__ import annotations

import sys

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_CONVERGED = 3
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class VifitError(Exception):
    """Base of every error vifit reports on purpose."""

    exit_code = EXIT_INTERNAL


class BadInput(VifitError):
    """The data, a model file or an option value cannot be used (exit 2)."""

    exit_code = EXIT_BAD_INPUT


class DataChanged(BadInput):
    """DATA changed (size, modification time, file or row count) between the passes of a
    streamed fit, which reads it once per epoch (exit 2); the fit stops at its last complete
    epoch, written as "interrupted"."""


class SystemFailure(VifitError):
    """The operating system refused an operation (disk full, file too large, read-only folder).

    Exit 1 like an internal error, but reported as the system's reason naming the file, never
    as "a bug in vifit": nothing in the data or in vifit is wrong.
    """

    exit_code = EXIT_INTERNAL


class NotConverged(VifitError):
    """The fit stopped before converging and ``--strict`` was given (exit 3)."""

    exit_code = EXIT_NOT_CONVERGED


class Interrupted(VifitError):
    """A signal stopped the run; the best result so far was written."""

    def __init__(self, message: str, exit_code: int = EXIT_SIGINT):
        super().__init__(message)
        self.exit_code = exit_code


class _DebugState:
    """Whether ``--debug`` was given: set by the option callback, read by :func:`report`."""

    enabled = False


debug = _DebugState()


def one_line(message: str) -> str:
    """Collapse a message to a single line so stderr carries exactly one error line."""
    return " ".join(str(message).split())


def report(message: str, *, prefix: str = "error") -> None:
    """Write one ``vifit: <prefix>: message`` line to stderr."""
    try:
        sys.stderr.write(f"vifit: {prefix}: {one_line(message)}\n")
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # stderr closed: nothing more we can do
        pass
