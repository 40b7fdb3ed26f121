"""What the progress line shows, through a real `python -m vifit` process."""

from __future__ import annotations

import json

import pytest

from conftest import ROOT, SAMPLE, run_subprocess


def test_svi_progress_at_an_epoch_end_shows_the_exact_elbos_change(tmp_path):
    out = tmp_path / "svi.json"
    result = run_subprocess(["gmm", SAMPLE / "iris.csv", "--columns", "1-4", "--k", "3", "--method", "svi",
                             "--batch-size", "30", "--epochs", "4", "--tol", "0", "--seed", "0",
                             "--progress", "json", "-o", out])
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.decode().splitlines() if line.startswith("{")]
    ends = [r for r in records if r.get("event") == "progress" and "exact_elbo" in r]
    trace = json.loads(out.read_text())["fit"]["trace"]
    assert [[r["step"], r["exact_elbo"]] for r in ends] == trace and len(ends) == 4
    assert ends[0]["change"] is None  # no exact ELBO before the first epoch's
    for before, after in zip(ends, ends[1:]):
        expected = (after["exact_elbo"] - before["exact_elbo"]) / abs(before["exact_elbo"])
        assert after["change"] == pytest.approx(expected, rel=1e-12) and after["change"] != 0
    steps = [r for r in records if r.get("event") == "progress" and "exact_elbo" not in r]
    # within an epoch the change is still the minibatch estimate's, step to step
    assert steps[1]["change"] == pytest.approx((steps[1]["elbo"] - steps[0]["elbo"]) / abs(steps[0]["elbo"]))


# ---------------------------------------------------------------- Ctrl-C at a terminal

WIDTH = 80  # narrow enough that rich truncates the bar to the full width of the terminal


def _screen(output: bytes, width: int = WIDTH) -> list[str]:
    """The lines a terminal shows after ``output``: printable text, CR, LF, cursor up (CSI A),
    erase line (CSI K), autowrap at ``width``; other escape sequences are ignored."""
    import re

    lines, row, col = [[]], 0, 0
    for token in re.findall(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[^\[]|\r|\n|[^\x1b\r\n]+", output):
        if token == b"\r":
            col = 0
        elif token == b"\n":
            row += 1
            col = min(col, width - 1)
        elif token.startswith(b"\x1b["):
            kind, count = token[-1:], token[2:-1]
            if kind == b"A":
                row, col = max(0, row - int(count or 1)), min(col, width - 1)
            elif kind == b"K":
                lines[row][:] = []
        elif not token.startswith(b"\x1b"):
            for char in token.decode("utf-8", "replace"):
                if col >= width:  # a character past the right margin wraps to the next line
                    row, col = row + 1, 0
                while len(lines) <= row:
                    lines.append([])
                line = lines[row]
                line.extend(" " * (col - len(line)))
                line[col:col + 1] = [char]
                col += 1
        while len(lines) <= row:
            lines.append([])
    return ["".join(line).rstrip() for line in lines]


def _run_at_a_terminal(args, until: bytes, then: bytes = b""):
    """Run ``python args`` (from the checkout) on a pseudo-terminal of WIDTH columns (its controlling
    terminal, so a written b"\\x03" is a real Ctrl-C: the line discipline echoes "^C" and
    sends SIGINT); write ``then`` once ``until`` has appeared. Returns (exit code, output)."""
    import fcntl
    import os
    import select
    import struct
    import subprocess
    import sys
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, WIDTH, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env["TERM"] = "xterm"

    def controlling_terminal():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen([sys.executable, *map(str, args)], stdin=slave, stdout=slave, stderr=slave,
                               cwd=ROOT, env=env, preexec_fn=controlling_terminal)
    os.close(slave)
    output, sent = b"", False
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 120)
            if not ready:
                raise AssertionError(f"no output for 120 s: {output[-500:]!r}")
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every copy of the terminal's other end is closed
                break
            if not chunk:
                break
            output += chunk
            if not sent and until in output:
                os.write(master, then)
                sent = True
    finally:
        os.close(master)
        code = process.wait(timeout=120)
    return code, output


def test_ctrl_c_during_a_rich_bar_leaves_the_bar_once(tmp_path):
    import numpy as np

    data = tmp_path / "rows.csv"
    np.savetxt(data, np.random.default_rng(0).normal(size=(4000, 5)), delimiter=",", header="a,b,c,d,e",
               comments="")
    code, output = _run_at_a_terminal(["-m", "vifit", "autoencoder", data, "--hidden", "16,2",
                                       "--epochs", "1000000", "--patience", "1000000", "--seed", "0",
                                       "--progress", "rich", "-o", tmp_path / "ae.json"],
                                      until=b"change", then=b"\x03")  # the bar is drawn
    screen = _screen(output)
    bars = [line for line in screen if line.startswith("autoencoder adam ━")]
    assert code == 130, screen
    assert len(bars) == 1, "\n".join(screen)
    assert any(line.startswith("vifit: interrupted:") for line in screen), screen
    assert output.rfind(b"\x1b[?25h") > output.rfind(b"\x1b[?25l")  # the cursor is shown again


def test_a_bar_left_by_sys_exit_is_ended_and_the_cursor_shown():
    # vifit.interrupt's second signal raises SystemExit wherever the loop is, with the bar live
    script = ("import sys; from vifit.progress import Reporter; r = Reporter('rich'); "
              "r.start('demo', total=10); r.update(1, -5.0); sys.stderr.write('leaving\\n'); raise SystemExit(130)")
    code, output = _run_at_a_terminal(["-c", script], until=b"")
    screen = [line for line in _screen(output) if line]
    assert code == 130
    assert [line.split(" ", 1)[0] for line in screen] == ["leaving", "demo"]
    assert b"\n" in output[output.rfind(b"demo"):]  # the bar's line is ended
    assert output.rfind(b"\x1b[?25h") > output.rfind(b"\x1b[?25l")
