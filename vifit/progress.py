"""One progress reporter for every loop. It writes to stderr only, never stdout.

Modes (``--progress``):

- ``rich``:  a live line with iteration, ELBO or loss, its change and elapsed time;
- ``plain``: a line at most every ``PLAIN_INTERVAL`` seconds (plus the first and
  last), so batch-job logs stay readable;
- ``json``:  one JSON object per line per update, for log scrapers;
- ``none``:  nothing; ``auto`` picks ``rich`` when stderr is a terminal, else ``plain``.

``-q`` silences progress and notes; warnings are always shown. Notes raised
before the work starts (while reading data, say) are held until ``start`` or
``release``, so a run that fails on bad input prints only its one error line.
"""

from __future__ import annotations

import json
import math
import sys
import time

MODES = ("auto", "rich", "plain", "json", "none")
PLAIN_INTERVAL = 2.0
FROM_PREVIOUS = object()  # Reporter.update's default: the change from the previous value


def _fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.6g}"


class Reporter:
    """Progress, notes and warnings for one run.

    Loops call ``start(task, total, metric)``, then ``update(step, value)`` once
    per iteration/epoch (``value`` is the ELBO or loss, ``extra`` any other
    numbers worth showing), then ``finish(status)``.
    """

    def __init__(self, mode: str = "auto", quiet: bool = False, stream=None, clock=time.monotonic):
        self.stream = stream if stream is not None else sys.stderr
        if mode not in MODES:
            raise ValueError(f"unknown progress mode {mode!r}")
        if self.stream is None:  # stderr closed before we started (2>&-): say nothing, fit on
            self.stream, mode = _Nowhere(), "none"
        if quiet:
            mode = "none"
        elif mode == "auto":
            mode = "rich" if _is_terminal(self.stream) else "plain"
        self.mode = mode
        self.quiet = quiet
        self.clock = clock
        self.history: list[tuple[int, float]] = []
        self._task = ""
        self._metric = "elbo"
        self._total: int | None = None
        self._started = clock()
        self._last_plain = -math.inf
        self._last_line: str | None = None
        self._live = None
        self._live_task = None
        self._held: list[str] | None = []

    # ------------------------------------------------------------ messages

    def note(self, message: str) -> None:
        """Something the user may want to know; hidden by ``-q``."""
        if self.quiet:
            return
        if self._held is not None:
            self._held.append(message)
        else:
            self._message("note", message)

    def release(self) -> None:
        """Print the notes held back until now; later notes print at once."""
        held, self._held = self._held or [], None
        for message in held:
            self._message("note", message)

    def warn(self, message: str) -> None:
        """Something that may make the result wrong; always shown."""
        self._message("warning", message)

    def _message(self, kind: str, message: str) -> None:
        if self.mode == "json":
            self._write(json.dumps({"event": kind, "message": message}) + "\n")
        elif self._live is not None:
            self._live.console.print(f"vifit: {kind}: {message}", markup=False, highlight=False)
        else:
            self._write(f"vifit: {kind}: {message}\n")

    # ------------------------------------------------------------ progress

    def start(self, task: str, total: int | None = None, metric: str = "elbo") -> None:
        self.release()
        self._task, self._total, self._metric = task, total, metric
        self._started = self.clock()
        self._last_plain = -math.inf
        self.history = []
        if self.mode == "rich":
            self._start_rich()

    def update(self, step: int, value: float | None, *, change=FROM_PREVIOUS, **extra: float) -> None:
        """Report ``value`` at ``step`` with its relative change from the previous value, or
        with ``change`` as given (None: unknown) when the loop knows a truer one: SVI at an
        epoch's end shows the exact ELBO's change between epochs, ``value`` there repeating
        the last minibatch estimate."""
        previous = self.history[-1][1] if self.history else None
        if value is not None:
            self.history.append((step, float(value)))
        if change is FROM_PREVIOUS:
            change = None
            if previous is not None and value is not None and previous != 0:
                change = (value - previous) / abs(previous)
        now = self.clock()
        elapsed = now - self._started
        if self.mode == "json":
            record = {"event": "progress", "task": self._task, "step": step, self._metric: value,
                      "change": change, "elapsed": round(elapsed, 3)}
            record.update(extra)
            self._write(json.dumps(_finite(record)) + "\n")
        elif self.mode == "plain":
            line = self._line(step, value, change, elapsed, extra)
            self._last_line = line
            if now - self._last_plain >= PLAIN_INTERVAL:
                self._last_plain = now
                self._write(line + "\n")
                self._last_line = None
        elif self.mode == "rich" and self._live is not None:
            fields = f"{self._metric} {_fmt(value)}  change {_fmt(change)}"
            fields += "".join(f"  {k} {_fmt(v)}" for k, v in extra.items())
            self._live.update(self._live_task, completed=step, fields=fields)

    def finish(self, status: str | None = None) -> None:
        elapsed = self.clock() - self._started
        if self.mode == "plain":
            if self._last_line is not None:
                self._write(self._last_line + "\n")
            if status:
                self._write(f"vifit: {self._task}: {status} after {elapsed:.1f}s\n")
        elif self.mode == "json" and status:
            self._write(json.dumps({"event": "finish", "task": self._task, "status": status,
                                    "elapsed": round(elapsed, 3)}) + "\n")
        elif self.mode == "rich":
            self._stop_live()
        self._last_line = None

    def _stop_live(self) -> None:
        """Draw the bar's last state once, end its line and show the cursor again."""
        import atexit

        live, self._live = self._live, None
        if live is not None:
            atexit.unregister(self._stop_live)
            try:
                live.stop()
            except (BrokenPipeError, ValueError):
                pass

    def summarise(self, result) -> None:
        """At a terminal (rich mode) only: ELBO sparkline and per-component table.

        The sparkline draws the kept fit's trace: ``history`` holds only the last loop
        started (the last restart, the last K of a range), not necessarily the one kept."""
        if self.mode != "rich":
            return
        from vifit.terminal import show

        trace = list(result.trace) or self.history
        metric = "elbo" if result.elbo is not None else self._metric
        try:
            show(self.stream, result, trace, metric)
        except (OSError, ValueError):
            pass

    # ------------------------------------------------------------ helpers

    def _line(self, step, value, change, elapsed, extra) -> str:
        total = f"/{self._total}" if self._total else ""
        text = f"vifit: {self._task}  step {step}{total}  {self._metric} {_fmt(value)}  change {_fmt(change)}"
        text += "".join(f"  {k} {_fmt(v)}" for k, v in extra.items())
        return text + f"  {elapsed:.1f}s"

    def _start_rich(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        console = _margin_console(_Forgiving(self.stream))
        self._live = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[fields]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            get_time=self.clock,  # elapsed time from the reporter's clock, as in plain and json modes
        )
        self._live.start()
        self._live_task = self._live.add_task(self._task, total=self._total, fields="")
        # A second Ctrl-C leaves at once (SystemExit from vifit.interrupt): stop the bar on the
        # way out too, or its line is left unfinished and the terminal's cursor hidden.
        import atexit

        atexit.register(self._stop_live)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # stderr gone or refusing writes (2>/dev/full); progress is optional
            pass


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


def _finite(record: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
