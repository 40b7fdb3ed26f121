"""--strict: non-convergence exits 3 (the result is still written); without it, a warning
that names the option which would fix it. Every iterative fitting command is covered."""

from __future__ import annotations

import json
import re

import pytest

from conftest import SAMPLE, invoke
from test_bad_input_corpus import FIT_COMMANDS

# command -> options that stop the fit before it converges (None: the fit is exact, one step)
NOT_CONVERGING = {
    "pca": None,
    # --init kmeans++: the default screened start is already at the optimum's fixed point after one
    # sweep on wine (converged at --max-iter 1); the old single start is not, as this test needs
    "gmm": ["--k", "3", "--max-iter", "1", "--init", "kmeans++"],
    "mixture": ["--k", "3", "--max-iter", "1"],
    "autoencoder": ["--hidden", "3,2", "--epochs", "1"],
    "vae": ["--hidden", "3", "--latent", "2", "--epochs", "1"],
}


def test_every_fitting_command_is_listed():
    assert set(FIT_COMMANDS) <= set(NOT_CONVERGING)


@pytest.mark.parametrize("command", [c for c in FIT_COMMANDS if NOT_CONVERGING.get(c)])
def test_strict_exits_3_and_plain_run_warns_with_the_fixing_option(tmp_path, command):
    # mixture refuses --standardize: its gaussian columns have their own frame
    scaled = [] if command == "mixture" else ["--standardize"]
    args = [command, SAMPLE / "wine.csv", *NOT_CONVERGING[command], *scaled, "--seed", "0"]
    out = tmp_path / "fit.json"
    strict = invoke([*args, "--strict", "--progress", "none", "-o", out])
    assert strict.exit_code == 3, strict.stderr
    assert json.loads(out.read_text())["fit"]["converged"] is False
    plain = invoke([*args, "--progress", "none"])
    assert plain.exit_code == 0
    warnings = [line for line in plain.stderr.splitlines() if line.startswith("vifit: warning:")]
    assert warnings and all(re.search(r"--[a-z][a-z-]+", w) for w in warnings), plain.stderr
    options = {p.opts[0] for p in __import__("vifit.cli", fromlist=["cli"]).cli.get_command(None, command).params
               if hasattr(p, "opts")}
    named = set(re.findall(r"--[a-z][a-z-]+", " ".join(warnings)))
    assert named & options, (named, options)  # the option named exists on this command
    assert json.loads(plain.stdout)["fit"]["converged"] is False
