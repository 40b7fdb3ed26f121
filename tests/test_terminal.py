"""End-of-run sparkline and summary table: shown at a terminal only."""

from __future__ import annotations

import io
import json

from conftest import SAMPLE, invoke
from vifit.progress import Reporter
from vifit.result import FitResult
from vifit.terminal import BARS, sparkline


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _result():
    params = {"summary": {"weights": [0.6, 0.4], "means": [[0.0, 1.0], [5.0, 6.0]],
                          "covariances": [[[4.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 9.0]]]}}
    return FitResult(model="gmm", method="cavi", params=params, status="converged", elbo=-10.0,
                     n_rows=10, n_iter=3, trace=[(1, -30.0), (2, -12.0), (3, -10.0)])


def test_sparkline_scales_between_min_and_max():
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == BARS
    assert sparkline([-5.0, -5.0]) == BARS[-1] * 2
    assert sparkline([]) == "" and sparkline([float("nan")]) == ""
    line = sparkline(range(100), width=10)
    assert len(line) == 10 and line[0] == BARS[0] and line[-1] == BARS[-1]


def _run(stream, mode="auto", quiet=False):
    reporter = Reporter(mode, quiet=quiet, stream=stream)
    reporter.start("gmm", total=3)
    for step, value in _result().trace:
        reporter.update(step, value)
    reporter.finish("converged")
    reporter.summarise(_result())
    return stream.getvalue()


def test_terminal_gets_sparkline_and_table():
    text = _run(_Terminal())
    assert "elbo " + sparkline([-30.0, -12.0, -10.0]) in text
    assert "weight" in text and "0.6000" in text
    # one column per feature (x1, x2: the result carries no data block), each cell mean ± sd:
    # component 1 has means (0, 1) and standard deviations (2, 1)
    assert "x1" in text and "x2" in text and "0 ± 2" in text and "1 ± 1" in text


def test_nothing_extra_without_a_terminal_or_with_quiet():
    plain = _run(io.StringIO())
    assert BARS[0] not in plain and "weight" not in plain
    assert _run(_Terminal(), quiet=True) == ""


class _Clock:
    """A clock the test moves by hand, so elapsed times are known."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_rich_progress_shows_step_value_change_and_elapsed_time():
    stream, clock = _Terminal(), _Clock()
    reporter = Reporter("rich", stream=stream, clock=clock)
    reporter.start("gmm", total=50, metric="loss")
    reporter.update(1, -12.0)
    clock.now += 65.0
    reporter.update(2, -10.0)
    reporter.finish("converged")
    text = stream.getvalue()
    change = (-10.0 - -12.0) / 12.0
    # a converged fit's bar ends full and says where it converged (it was at step 2 of 50)
    assert "50/50" in text and "converged at step 2" in text
    assert "loss -10" in text and f"change {change:.6g}" in text
    assert "0:01:05" in text  # elapsed, from the reporter's clock


def _elbo_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("elbo ")]
    assert len(lines) == 1, stderr
    return lines[0]


def _fit_with_rich_progress(tmp_path, *args):
    out = tmp_path / "fit.json"
    result = invoke(["gmm", *args, "--seed", "0", "--progress", "rich", "-o", out])
    assert result.exit_code == 0, result.stderr
    return json.loads(out.read_text())["fit"], result.stderr


def test_sparkline_draws_the_kept_restart(tmp_path):
    # --init kmeans++: the screened start's three restarts end at one optimum on wine, so the last
    # restart's ELBO is the kept one's and the test would not bite; the old start's differ
    fit, stderr = _fit_with_rich_progress(tmp_path, SAMPLE / "wine.csv", "--k", "4", "--restarts", "3",
                                          "--init", "kmeans++")
    assert fit["best_restart"] != 2 and f"{fit['restart_elbos'][-1]:.6g}" != f"{fit['elbo']:.6g}"  # test bites
    values = [value for _, value in fit["trace"]]
    assert _elbo_line(stderr) == f"elbo {sparkline(values)} {fit['elbo']:.6g}"


def test_sparkline_draws_the_chosen_k(tmp_path):
    fit, stderr = _fit_with_rich_progress(tmp_path, SAMPLE / "iris.csv", "--k", "2-4")
    candidates = fit["selection"]["candidates"]
    assert fit["selection"]["chosen_k"] != candidates[-1]["k"]  # the last K fitted is not the one kept
    values = [value for _, value in fit["trace"]]
    assert _elbo_line(stderr) == f"elbo {sparkline(values)} {fit['elbo']:.6g}"
