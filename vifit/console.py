"""The terminal under the progress line: a console that leaves room for "^C", streams that never raise."""

from __future__ import annotations


ECHO_MARGIN = 2  # columns the live bar leaves free on the right: room for the terminal's "^C"


def _margin_console(stream):
    """A rich Console on ``stream`` whose lines stop ``ECHO_MARGIN`` columns short of its width.

    Ctrl-C makes the terminal echo "^C" at the cursor, which sits at the end of the live bar's
    line. A bar as wide as the terminal (rich truncates it to the width) then wraps the echo onto
    a new line, and every redraw after it (the last one included) rewrites that new line only,
    leaving a stale copy of the bar above. With the margin the echo stays on the bar's line,
    which the next redraw erases."""
    from rich.console import Console, ConsoleDimensions

    class MarginConsole(Console):
        @property
        def size(self):
            width, height = super().size
            return ConsoleDimensions(max(1, width - ECHO_MARGIN), height)

        @size.setter
        def size(self, new_size):
            Console.size.fset(self, new_size)

    return MarginConsole(file=stream, stderr=True)


class _Forgiving:
    """A stream whose writes never raise: a stderr refusing writes must not stop the fit."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (OSError, ValueError):
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError):
            pass

    def __getattr__(self, name):  # isatty, fileno, encoding: as the stream's
        return getattr(self._stream, name)


class _Nowhere:
    """A stderr that was never there."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
