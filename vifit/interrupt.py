"""SIGINT/SIGTERM handling for long fits.

While :func:`handling_signals` is active, the first SIGINT or SIGTERM only
records a request; loops call :func:`requested` at the end of each
iteration/epoch and stop there, returning their best result with status
``"interrupted"``, which is then written atomically (exit 130 / 143). A second
signal raises at once (KeyboardInterrupt or SystemExit), and the atomic writer
removes its temporary file, so no partial output is ever left behind.
Signals are process-wide, so this state is too.
"""

from __future__ import annotations

import contextlib
import signal
import threading

from vifit.errors import EXIT_SIGINT, EXIT_SIGTERM

_EXIT_CODES = {signal.SIGINT: EXIT_SIGINT, signal.SIGTERM: EXIT_SIGTERM}


class _State:
    signum: int | None = None


_state = _State()


def requested() -> bool:
    """True once a stop was asked for; loops check this between iterations."""
    return _state.signum is not None


def exit_code() -> int:
    """130 for SIGINT, 143 for SIGTERM (130 when nothing was received)."""
    return _EXIT_CODES.get(_state.signum, EXIT_SIGINT)


def request(signum: int = signal.SIGINT) -> None:
    """Ask loops to stop (used by the handler, and by tests)."""
    _state.signum = signum


def _handler(signum, frame):
    if _state.signum is not None:  # second signal: leave now
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(_EXIT_CODES[signum])
    request(signum)


@contextlib.contextmanager
def handling_signals():
    """Install the two-stage handlers for the duration of a fit (main thread only)."""
    _state.signum = None
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in _EXIT_CODES}
    for sig in _EXIT_CODES:
        signal.signal(sig, _handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
