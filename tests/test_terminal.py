"""End-of-run sparkline and summary table: shown at a terminal only."""

from __future__ import annotations

import io

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
    assert "weight" in text and "0.6000" in text and "spread" in text
    assert "2, 1" in text  # standard deviations of component 1


def test_nothing_extra_without_a_terminal_or_with_quiet():
    plain = _run(io.StringIO())
    assert BARS[0] not in plain and "weight" not in plain
    assert _run(_Terminal(), quiet=True) == ""
