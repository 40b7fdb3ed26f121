"""Shell completion, as README enables it: the source script for each shell, and completions
of a command, an option and an option's choices from a real process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT


def _vifit(env: dict) -> str:
    done = subprocess.run([sys.executable, "-c", "from vifit.__main__ import main; main()"], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr, done.stderr
    return done.stdout


@pytest.mark.parametrize("shell, marker", [("bash", "complete -o nosort -F _vifit_completion vifit"),
                                           ("zsh", "#compdef vifit"), ("fish", "complete --no-files --command vifit")])
def test_each_shell_gets_a_completion_script(shell, marker):
    assert marker in _vifit({"_VIFIT_COMPLETE": f"{shell}_source"})


@pytest.mark.parametrize("words, expected", [("vifit gm", {"gmm"}), ("vifit gmm --cov", {"--covariance",
                                                                                         "--covariance-prior"}),
                                             ("vifit gmm x --covariance ", {"full", "diag", "spherical", "known"})])
def test_completions_of_commands_options_and_choices(words, expected):
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    out = _vifit({"_VIFIT_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)})
    assert {line.split(",", 1)[1] for line in out.splitlines()} == expected
