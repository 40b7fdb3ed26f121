"""What a person at a terminal sees: labelled progress, the summary table, and the table in
place of JSON on a terminal stdout (a pipe still gets the JSON)."""

from __future__ import annotations

import io
import json
import os

import pytest

from conftest import ROOT, SAMPLE
from vifit.progress import Reporter
from vifit.result import FitResult
from vifit.terminal import fitted_columns, summary_rows, title_of



class _Terminal(io.StringIO):
    def isatty(self):
        return True


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _gmm_result(n_features=3, status="converged", n_iter=73):
    means = [[float(j + 10 * c) for j in range(n_features)] for c in range(2)]
    covs = [[[1.0 if i == j else 0.0 for j in range(n_features)] for i in range(n_features)] for _ in range(2)]
    params = {"summary": {"weights": [0.7, 0.3], "means": means, "covariances": covs}}
    return FitResult(model="gmm", method="cavi", params=params, status=status, elbo=-200.0, n_rows=100,
                     n_iter=n_iter, trace=[(0, -300.0), (n_iter, -200.0)])


def test_plain_lines_name_the_k_and_restart_of_a_multi_fit_run():
    stream = io.StringIO()
    reporter = Reporter("plain", stream=stream, clock=_Clock())
    with reporter.group("K = 2-3: fits", total=2):
        for k in (2, 3):
            with reporter.item(f"K={k}"):
                for restart in (1, 2):
                    reporter.start("gmm cavi", total=500, unit="sweep", eta=False, restart=(restart, 2))
                    reporter.update(1, -10.0)
                    reporter.finish("converged")
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("vifit: gmm cavi K=2 restart 1/2 [fit 1/2]  sweep 1/500  elbo")
    assert "vifit: gmm cavi K=3 restart 2/2 [fit 2/2]  sweep 1/500" in stream.getvalue()
    assert "vifit: gmm cavi K=3 restart 2/2: converged at sweep 1 after" in stream.getvalue()
    assert "eta" not in stream.getvalue()  # a bound (--max-iter) is not the run's length


def test_json_records_carry_the_same_fields():
    stream = io.StringIO()
    clock = _Clock()
    reporter = Reporter("json", stream=stream, clock=clock)
    with reporter.group("K = 2-3: fits", total=2):
        with reporter.item("K=2"):
            reporter.start("vae adam", total=10, unit="epoch")
            for epoch in (1, 2, 3):
                clock.now += 2.0
                reporter.update(epoch, -5.0 + epoch)
            reporter.finish("converged")
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    last = [r for r in records if r["event"] == "progress"][-1]
    assert last["task"] == "vae adam K=2" and last["fit"] == 1 and last["fits"] == 2
    # 3 epochs in 6 s: 2 s an epoch, 7 epochs left
    assert last["eta"] == pytest.approx(14.0)
    finish = records[-1]
    assert finish["event"] == "finish" and finish["converged_at"] == 3 and finish["unit"] == "epoch"


def test_rich_line_has_the_label_eta_and_a_full_bar_at_convergence(monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    stream, clock = _Terminal(), _Clock()
    reporter = Reporter("rich", stream=stream, clock=clock)
    with reporter.group("K = 2-4: fits", total=3):
        with reporter.item("K=4"):
            reporter.start("gmm svi", total=100, restart=(2, 3), estimate=True)
            clock.now += 1.0
            reporter.update(10, -120.0, rho=0.5, epoch=1)
            clock.now += 1.0
            reporter.update(20, -110.0, exact_elbo=-100.0, epoch=1)
            assert "eta" in reporter._fields(-110.0, None, {}, reporter._eta_seconds(20, 2.0))
            reporter.finish("converged")
    text = stream.getvalue()
    assert "gmm svi K=4 restart 2/3" in text and "K = 2-4: fits" in text
    assert "100/100" in text and "converged at step 20" in text  # the bar ends full
    assert "elbo -100" in text  # the headline is the last exact ELBO, not the minibatch estimate


def test_fields_keep_a_fixed_width():
    reporter = Reporter("plain", stream=io.StringIO())
    reporter.start("gmm cavi", total=10)
    short = reporter._fields(-1.5, 0.01, {}, None)
    long = reporter._fields(-1234567.0, -2.5e-15, {}, None)
    assert len(short) == len(long)


def test_summary_table_names_the_features_and_the_units():
    data = {"columns": ["sepal_length", "sepal_width", "petal_length"],
            "preprocessing": {"standardize": {"mean": [0, 0, 0], "scale": [1, 1, 1]}}}
    header, rows, caption = summary_rows(_gmm_result(), data)
    assert header == ["component", "weight", "sepal_length", "sepal_width", "petal_length"]
    assert rows[1][:3] == ["2", "0.3000", "10 ± 1"]
    assert "standardised units" in caption
    assert "data units" in summary_rows(_gmm_result(), {"columns": data["columns"]})[2]
    assert title_of(_gmm_result()) == "gmm (cavi), K = 2: ELBO -200 (-2 per row), converged at sweep 73"


def test_summary_table_uses_the_width_before_eliding():
    header, rows, _ = summary_rows(_gmm_result(n_features=30), None)
    wide_header, _ = fitted_columns(header, rows, 400)
    assert wide_header == header  # everything fits in 400 columns
    narrow_header, narrow_rows = fitted_columns(header, rows, 80)
    assert narrow_header[-1].startswith("… ") and narrow_header[-1].endswith("more")
    kept = len(narrow_header) - 1 - 2
    assert 1 <= kept < 30 and narrow_header[-1] == f"… {30 - kept} more"
    assert all(len(row) == len(narrow_header) for row in narrow_rows)


def _run_on_a_pty(args):
    """stdout on a pseudo-terminal (stderr a pipe): what a person at a terminal gets."""
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    process = subprocess.Popen([sys.executable, "-m", "vifit", *map(str, args)], stdout=slave,
                               stderr=subprocess.PIPE, cwd=ROOT, env=env)
    os.close(slave)
    output = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    stderr = process.stderr.read()
    process.wait(timeout=120)
    return process.returncode, output.decode("utf-8", "replace"), stderr.decode()


def test_a_terminal_stdout_gets_the_table_and_a_pipe_the_json(tmp_path):
    import subprocess
    import sys

    args = ["gmm", SAMPLE / "iris.csv", "--k", "3", "--seed", "0", "-q"]
    code, screen, _ = _run_on_a_pty(args)
    assert code == 0
    assert "component" in screen and "sepal_length" in screen and "±" in screen
    assert "-o model.json" in screen and '"schema"' not in screen
    piped = subprocess.run([sys.executable, "-m", "vifit", *map(str, args)], capture_output=True, cwd=ROOT)
    written = tmp_path / "fit.json"
    subprocess.run([sys.executable, "-m", "vifit", *map(str, args), "-o", written], check=True, cwd=ROOT)
    document, saved = json.loads(piped.stdout), json.loads(written.read_text())
    document.pop("run"), saved.pop("run")  # the only block that differs between two runs
    assert document == saved
    # -o - asks for the JSON on stdout, terminal or not
    code, screen, _ = _run_on_a_pty([*args, "-o", "-"])
    assert code == 0 and '"schema": "vifit.fit/1"' in screen


def test_reading_stdin_from_a_terminal_says_so_at_once(tmp_path):
    """`vifit gmm -` with the terminal as stdin would sit silent: one note, before any row."""
    import pty
    import select
    import subprocess
    import sys

    master, slave = pty.openpty()
    out = tmp_path / "fit.json"
    process = subprocess.Popen([sys.executable, "-m", "vifit", "gmm", "-", "--k", "1", "--seed", "0", "-o", out],
                               stdin=slave, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    os.close(slave)
    try:
        ready, _, _ = select.select([process.stderr], [], [], 60)
        assert ready, "no note while waiting for rows"
        first = process.stderr.readline().decode()
        assert first.startswith("vifit: note: reading DATA from stdin, the terminal") and "Ctrl-D" in first
        os.write(master, b"a,b\n1,2\n3,5\n4,4\n\x04")  # the rows, then end-of-file (Ctrl-D)
        rest = process.stderr.read().decode()
        assert process.wait(timeout=120) == 0, rest
    finally:
        os.close(master)
    assert "reading DATA from stdin" not in rest  # said once
    assert json.loads(out.read_text())["data"]["n_rows"] == 3
