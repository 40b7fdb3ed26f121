"""The exit-code contract, in one place.

Library code raises the domain errors below; only the command-line edge
(:func:`vifit.cli.main` via :func:`report`) turns them into one line on
stderr and an exit status.

=====  ==========================================================
code   meaning
=====  ==========================================================
0      success
1      unexpected internal error (traceback only with ``--debug``), or the
       OS refused a write (SystemFailure: the file and the reason, no "bug")
2      bad usage or bad input: one line naming file, row/column, problem
3      did not converge and ``--strict`` was given
130    interrupted by SIGINT (best result so far written)
143    interrupted by SIGTERM (best result so far written)
=====  ==========================================================
"""

from __future__ import annotations

import errno
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


class BadInput(VifitError, ValueError):
    """The data, a model file or an option value cannot be used (exit 2). A ValueError too, so
    that Python callers of the estimators (and scikit-learn's checks) catch it as one."""

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


# Errors of the OS that are never vifit's fault, whatever operation met them.
SYSTEM_ERRNOS = frozenset(getattr(errno, name) for name in ("ENOSPC", "EFBIG", "EDQUOT", "EROFS", "EIO")
                          if hasattr(errno, name))


def system_failure(exc: OSError) -> SystemFailure:
    """An OSError with one of SYSTEM_ERRNOS as a SystemFailure naming the file and the reason."""
    reason = exc.strerror or str(exc)
    return SystemFailure(f"{exc.filename}: {reason}" if exc.filename else reason)


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


def quote(value, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages that show a value from a file:
    a 50 MB column name must not make a 50 MB error line."""
    if isinstance(value, (str, bytes)) and len(value) > limit:
        return repr(value[:limit]) + f"... ({len(value):,} characters)"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def one_line(message: str) -> str:
    """Collapse a message to a single line so stderr carries exactly one error line."""
    return " ".join(str(message).split())


def report(message: str, *, prefix: str = "error") -> None:
    """Write one ``vifit: <prefix>: message`` line to stderr."""
    stream = sys.stderr
    if stream is None:  # stderr closed before we started (2>&-): nowhere to say it
        return
    try:
        stream.write(f"vifit: {prefix}: {one_line(message)}\n")
        stream.flush()
    except (OSError, ValueError):  # stderr closed, or refusing writes (2>/dev/full): nothing more we can do
        pass
