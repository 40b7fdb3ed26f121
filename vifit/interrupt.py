"""SIGINT/SIGTERM handling: one handler from start-up to exit, whose effect depends on the phase.

The command line calls :func:`install` first thing (``python -m vifit`` before it even
imports click), so no signal finds Python's defaults: a KeyboardInterrupt raised in an import
or an ``except`` clause, or a SIGTERM's default action, would end the process by the signal
(status -2 / -15) instead of exit 130 / 143.

- During a fit (:func:`handling_signals`), the first signal only records a request; loops call
  :func:`requested` at the end of each iteration/epoch and stop there, returning their best
  result with status ``"interrupted"``, which is then written atomically (exit 130 / 143).
  A second signal raises SystemExit at once (130 / 143), and the atomic writer removes its
  temporary file, so no partial output is ever left behind.
- Outside a fit (start-up, reading the data, after the result is written) there is no partial
  result worth keeping: a signal raises SystemExit at once with its code.
- Once the exit status is decided (:func:`exiting`), a signal ends the process at once with
  its code (``os._exit``): there is nothing left to clean up, and waiting on a shutdown that
  hangs (a cluster that does not close) must not ignore the user's Ctrl-C.

SystemExit, not KeyboardInterrupt: loops that catch KeyboardInterrupt to return their best
state must not turn a second signal into one more write. Signals are process-wide, so this
state is too.

Python runs a signal handler between bytecodes of whatever runs then, and that may be a callback
it cannot raise from (a weakref's, such as an import lock's cleanup, or a ``__del__``): it prints
the exception as "Exception ignored in ..." with a traceback and goes on. The handler's exit is
marked (:class:`SignalExit`), and :func:`install`'s ``sys.unraisablehook`` carries it out there:
the temporary file the atomic writer holds, if any, removed, the streams flushed, ``os._exit``
with the signal's code, and no traceback.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading

from vifit.errors import EXIT_SIGINT, EXIT_SIGTERM

_EXIT_CODES = {signal.SIGINT: EXIT_SIGINT, signal.SIGTERM: EXIT_SIGTERM}


class _State:
    signum: int | None = None  # the signal that asked a fit to stop
    installed = False  # install() has put the handler in place for the whole run
    phase = "start"  # "start" (no fit yet), in a "fit", "after" it, or "exiting"
    holding = False  # inside deferred(): a signal is recorded, handled on leaving the block
    held_signum: int | None = None


_state = _State()
_temporaries: set = set()  # the atomic writer's temporary files while they exist (vifit.writing)


class SignalExit(SystemExit):
    """The handler's SystemExit (exit 130 / 143)."""


def holding_temporary(path: str) -> None:
    """The atomic writer has created ``path``: remove it if a signal ends the process at once."""
    _temporaries.add(path)


def released_temporary(path: str) -> None:
    """``path`` was renamed over its target or removed."""
    _temporaries.discard(path)


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
    if _state.holding:
        if _state.held_signum is None:
            _state.held_signum = signum
        return
    code = _EXIT_CODES[signum]
    if _state.phase == "exiting":
        os._exit(code)
    if _state.phase == "fit" and _state.signum is None:
        request(signum)
        return
    from vifit.errors import report

    if _state.phase == "start":
        report("stopped by a signal before any result was made; nothing written", prefix="interrupted")
    elif _state.signum is not None:
        report("second signal: stopped at once; no partial file is left", prefix="interrupted")
    else:
        report("stopped by a signal; no partial file is left", prefix="interrupted")
    if _state.installed:  # leaving now: a further signal ends the process at once
        _state.phase = "exiting"
    raise SignalExit(code)


def _unraisable(unraisable, fallback=sys.__unraisablehook__) -> None:
    """sys.unraisablehook: the handler's exit raised where Python cannot raise (see the module
    doc) happens here, without a traceback; anything else goes to Python's hook."""
    if not isinstance(unraisable.exc_value, SignalExit):
        fallback(unraisable)
        return
    for path in list(_temporaries):
        with contextlib.suppress(OSError):
            os.unlink(path)
    exiting()
    os._exit(unraisable.exc_value.code)


def install() -> None:
    """Put the handler on SIGINT and SIGTERM for the rest of the process (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in _EXIT_CODES:
        signal.signal(sig, _handler)
    _state.installed = True
    sys.unraisablehook = _unraisable
    atexit.register(_block_at_exit)  # runs last of the exit callbacks (registered first)


def _block_at_exit() -> None:
    """Ignore SIGINT/SIGTERM for the last moments of the interpreter's shutdown, where Python
    puts the default actions back for handlers it installed (a signal would then end the
    process by the signal, status -2 / -15). The exit status is decided by now.

    Ignoring, not blocking: a signal mask is per thread, and the BLAS's worker threads (numpy
    starts them at import; vifit gmm pins BLAS to one thread, the networks do not) never
    blocked the signals, so the kernel delivered a late signal to one of them and its default
    action killed the process. A disposition of "ignore" is process-wide, and Python's
    shutdown leaves it alone."""
    for sig in _EXIT_CODES:
        signal.signal(sig, signal.SIG_IGN)


def exiting() -> None:
    """The exit status is decided: from now on a signal ends the process at once with its code."""
    if _state.installed:
        for stream in (sys.stdout, sys.stderr):  # what is buffered must not be lost to os._exit
            if stream is None:  # closed at start (>&-): nothing was buffered there
                continue
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        _state.phase = "exiting"


@contextlib.contextmanager
def deferred():
    """SIGINT/SIGTERM held inside the block and handled on leaving it (main thread only): for a
    step a signal must not cut in two, such as creating a temporary file and learning its name,
    after which a cleanup can remove it.

    A flag the handler reads, not a signal mask: a mask is per thread, and a signal sent to the
    process goes to any thread that does not block it (numpy's BLAS workers), whose C-level
    handler then has Python run ours in the main thread at once, inside the block."""
    if threading.current_thread() is not threading.main_thread() or _state.holding:
        yield
        return
    _state.holding, _state.held_signum = True, None
    try:
        yield
    finally:
        _state.holding = False
        held, _state.held_signum = _state.held_signum, None
        if held is not None:
            _handler(held, None)


@contextlib.contextmanager
def handling_signals():
    """The two-stage behaviour for the duration of a fit (main thread only). Without
    :func:`install` (vifit called in-process), the handler is installed for the fit only."""
    _state.signum = None
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = None if _state.installed else {sig: signal.getsignal(sig) for sig in _EXIT_CODES}
    if previous is not None:
        for sig in _EXIT_CODES:
            signal.signal(sig, _handler)
    _state.phase = "fit"
    try:
        yield
    finally:
        _state.phase = "after"
        if previous is not None:
            for sig, old in previous.items():
                signal.signal(sig, old)
