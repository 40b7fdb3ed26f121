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

import contextlib
import json
import math
import sys
import time

from vifit.console import _Forgiving, _is_terminal, _margin_console, _Nowhere

MODES = ("auto", "rich", "plain", "json", "none")
PLAIN_INTERVAL = 2.0
FROM_PREVIOUS = object()  # Reporter.update's default: the change from the previous value
VALUE_WIDTH, CHANGE_WIDTH = 12, 11  # "-1.23457e+06", "-0.00130949": the widest %.6g values
# The bar is as wide as rich's (40) on a wide terminal and shrinks to MIN_BAR on a narrow one,
# leaving the room to the label and the numbers (about NUMBERS_WIDTH columns with the count)
BAR_WIDTH, MIN_BAR, NUMBERS_WIDTH = 40, 8, 110
SMOOTHING = 0.9  # the weight of the past in the minibatch estimate's moving average (SVI lines)


def _width(name: str) -> int:
    return 4 if name in ("epoch", "rho") else VALUE_WIDTH


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


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
        self._unit, self._eta, self._restart, self._estimate = "step", True, None, False
        self._context: list[str] = []  # labels of the fit within a multi-fit run ("K=4")
        self._group: dict | None = None  # {"label", "total", "done", "task"}: the run's overall bar
        self._first_step: int | None = None
        self._last_step = 0
        self._last_fields = ""  # the rich line's last numbers, kept on it beside the final status
        self._last_exact: float | None = None
        self._smoothed: float | None = None

    # ------------------------------------------------------------ messages

    def note(self, message: str) -> None:
        """Something the user may want to know; hidden by ``-q``."""
        if self.quiet:
            return
        if self._held is not None:
            self._held.append(message)
        else:
            self._message("note", message)

    def reading_stdin(self, source: str) -> None:
        """Say at once (not held as other notes are) that DATA is stdin when stdin is a terminal,
        where the command would otherwise sit silent, waiting for rows to be typed."""
        if source != "-" or self.quiet:
            return
        try:
            waiting = sys.stdin is not None and sys.stdin.isatty()
        except (AttributeError, ValueError):
            waiting = False
        if waiting:
            self._message("note", "reading DATA from stdin, the terminal: type or paste CSV rows and end "
                                  "with Ctrl-D (or give a file name instead of -)")

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

    def start(self, task: str, total: int | None = None, metric: str = "elbo", *, unit: str = "step",
              eta: bool = True, restart: tuple[int, int] | None = None, estimate: bool = False) -> None:
        """A loop begins: ``task`` names model and method ("gmm cavi"); total: the steps, when
        known; unit: what a step is (sweep, step, epoch); eta: whether ``total`` is the steps the
        run will take (epochs, SVI steps) rather than a bound (CAVI's --max-iter), so that an ETA
        means something; restart: (i, R), 1-based, of R > 1 restarts; estimate: the values
        are a minibatch estimate and ``exact_elbo`` extras the figure to headline (SVI)."""
        self.release()
        self._task, self._total, self._metric = task, total, metric
        self._unit, self._eta, self._estimate = unit, bool(eta and total), estimate
        self._restart = restart if restart is not None and restart[1] > 1 else None
        self._started = self.clock()
        self._last_plain = -math.inf
        self._first_step, self._last_step, self._last_fields = None, 0, ""
        self._last_exact = self._smoothed = None
        self.history = []
        if self.mode == "rich":
            self._start_rich()

    @property
    def label(self) -> str:
        """What is running: "gmm cavi K=4 restart 2/3"."""
        parts = [self._task, *self._context]
        if self._restart is not None:
            parts.append(f"restart {self._restart[0]}/{self._restart[1]}")
        return " ".join(p for p in parts if p)

    @contextlib.contextmanager
    def group(self, label: str, total: int):
        """A run of ``total`` fits (a K range, a grid, a comparison): one overall bar, fits done
        of total, with the current fit's line beneath it (rich); each fit is an :meth:`item`."""
        self._group = {"label": label, "total": int(total), "done": 0, "task": None}
        try:
            yield self
        finally:
            if self.mode == "rich":
                self._stop_live()
            self._group = None

    @contextlib.contextmanager
    def item(self, label: str):
        """One fit of a :meth:`group` (or any labelled part of a run): ``label`` ("K=4") joins
        the progress lines' label while it runs; the group's count rises when it ends."""
        self._context.append(label)
        try:
            yield self
        finally:
            self._context.pop()
            if self._group is not None:
                self._group["done"] += 1
                if self._live is not None and self._group["task"] is not None:
                    self._live.update(self._group["task"], completed=self._group["done"])

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
        if self._first_step is None:
            self._first_step = step
        self._last_step = step
        if "exact_elbo" in extra and extra["exact_elbo"] is not None:
            self._last_exact = float(extra["exact_elbo"])
        if self._estimate and value is not None and math.isfinite(value):
            self._smoothed = value if self._smoothed is None else (
                SMOOTHING * self._smoothed + (1 - SMOOTHING) * value)
        eta = self._eta_seconds(step, elapsed)
        if self.mode == "json":
            record = {"event": "progress", "task": self.label, "step": step, self._metric: value,
                      "change": change, "elapsed": round(elapsed, 3)}
            record.update(self._position())
            if self._estimate:
                record.update({"last_exact_elbo": self._last_exact, "smoothed_estimate": self._smoothed})
            if eta is not None:
                record["eta"] = round(eta, 1)
            record.update(extra)
            self._write(json.dumps(_finite(record)) + "\n")
        elif self.mode == "plain":
            line = self._line(step, value, change, elapsed, extra, eta)
            self._last_line = line
            if now - self._last_plain >= PLAIN_INTERVAL:
                self._last_plain = now
                self._write(line + "\n")
                self._last_line = None
        elif self.mode == "rich" and self._live is not None:
            self._last_fields = self._fields(value, change, extra, None, pad=False)
            self._live.update(self._live_task, completed=step, description=self.label,
                              fields=self._fields(value, change, extra, eta))

    def _eta_seconds(self, step: int, elapsed: float) -> float | None:
        """Seconds left at the pace so far, when the total is the steps the run will take."""
        if not self._eta or self._first_step is None or step <= self._first_step or not self._total:
            return None
        pace = elapsed / (step - self._first_step + 1)
        return max(0.0, pace * (self._total - step))

    def _position(self) -> dict:
        """The fit's place in a multi-fit run, for json records: fit i of n, restart i of R."""
        out = {}
        if self._group is not None:
            out.update({"fit": self._group["done"] + 1, "fits": self._group["total"]})
        if self._restart is not None:
            out.update({"restart": self._restart[0], "restarts": self._restart[1]})
        return out

    def _fields(self, value, change, extra: dict, eta: float | None, pad: bool = True) -> str:
        """The line's numbers at fixed widths, so the line does not jump: the headline (for an
        estimate, the last exact ELBO, with the smoothed estimate beside it), change, extras, ETA.
        pad=False: unpadded, for a line that no longer moves (a finished fit's)."""
        wide, narrow = (VALUE_WIDTH, CHANGE_WIDTH) if pad else (0, 0)
        if self._estimate:
            text = (f"{self._metric} {_fmt(self._last_exact):>{wide}}  "
                    f"estimate {_fmt(self._smoothed):>{wide}}")
            extra = {k: v for k, v in extra.items() if k != "exact_elbo"}
        else:
            text = f"{self._metric} {_fmt(value):>{wide}}"
        text += f"  change {_fmt(change):>{narrow}}"
        text += "".join(f"  {k} {_fmt(v):>{_width(k) if pad else 0}}" for k, v in extra.items())
        if eta is not None:
            text += f"  eta {_clock(eta)}"
        return text

    def finish(self, status: str | None = None) -> None:
        elapsed = self.clock() - self._started
        said = self._status_text(status)
        if self.mode == "plain":
            if self._last_line is not None:
                self._write(self._last_line + "\n")
            if status:
                self._write(f"vifit: {self.label}: {said} after {elapsed:.1f}s\n")
        elif self.mode == "json" and status:
            record = {"event": "finish", "task": self.label, "status": status, "elapsed": round(elapsed, 3)}
            if status == "converged":
                record.update({"converged_at": self._last_step, "unit": self._unit})
            record.update(self._position())
            self._write(json.dumps(record) + "\n")
        elif self.mode == "rich":
            if self._live is not None and status:
                done = self._total if status == "converged" and self._total else self._last_step
                self._live.update(self._live_task, completed=done, description=self.label,
                                  fields=f"{said}  {self._last_fields}".strip())
            if self._group is None:
                self._stop_live()
        self._last_line = None

    def _status_text(self, status: str | None) -> str:
        """"converged at sweep 73", "stopped at epoch 5 (max_iter)", or the status as given."""
        if status == "converged" and self._last_step:
            return f"converged at {self._unit} {self._last_step}"
        if status == "max_iter" and self._last_step:
            return f"stopped at {self._unit} {self._last_step} (max_iter)"
        return status or ""

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

    def summarise(self, result, data: dict | None = None) -> None:
        """At a terminal (rich mode) only: ELBO sparkline and per-component table.

        The sparkline draws the kept fit's trace: ``history`` holds only the last loop
        started (the last restart, the last K of a range), not necessarily the one kept.
        data: the document's data block (column names, preprocessing: the table's units)."""
        if self.mode != "rich":
            return
        from vifit.terminal import show

        trace = list(result.trace) or self.history
        metric = "elbo" if result.elbo is not None else self._metric
        try:
            show(self.stream, result, trace, metric, data)
        except (OSError, ValueError):
            pass

    # ------------------------------------------------------------ helpers

    def _line(self, step, value, change, elapsed, extra, eta=None) -> str:
        total = f"/{self._total}" if self._total else ""
        where = ""
        if self._group is not None:
            where = f" [fit {self._group['done'] + 1}/{self._group['total']}]"
        text = f"vifit: {self.label}{where}  {self._unit} {step}{total}  {self._fields(value, change, extra, eta)}"
        return text + f"  {elapsed:.1f}s"

    def _start_rich(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        from rich.table import Column

        if self._live is not None and self._group is not None:  # the group's next fit: the same line
            self._live.reset(self._live_task, total=self._total, completed=0, description=self.label, fields="")
            return
        self._stop_live()
        console = _margin_console(_Forgiving(self.stream))
        self._live = Progress(
            TextColumn("{task.description}", table_column=Column(no_wrap=True)),
            BarColumn(bar_width=max(MIN_BAR, min(BAR_WIDTH, console.width - NUMBERS_WIDTH))),
            MofNCompleteColumn(),
            # the numbers take the room left and are cut at the right edge first: the label, the
            # bar and the count stay whole on a narrow terminal
            TextColumn("{task.fields[fields]}", table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis")),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            get_time=self.clock,  # elapsed time from the reporter's clock, as in plain and json modes
            expand=True,
        )
        self._live.start()
        if self._group is not None:
            group = self._group
            group["task"] = self._live.add_task(group["label"], total=group["total"], completed=group["done"],
                                                fields="fits done")
        self._live_task = self._live.add_task(self.label, total=self._total, fields="")
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


def _finite(record: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
