"""What the progress line shows, through a real `python -m vifit` process."""

from __future__ import annotations

import json

import pytest

from conftest import SAMPLE, run_subprocess


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
