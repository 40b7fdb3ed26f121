"""Shared test helpers: run vifit in-process (CliRunner) or as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

# An ELBO that decreases between sweeps is a bug: in the whole suite it raises instead of
# warning. The command line takes it from its hidden --strict-elbo flag, whose environment
# variable is VIFIT_STRICT_ELBO: set in os.environ at import, so in-process runs, subprocesses
# (run_subprocess copies the environment) and Dask clusters started by tests all see it; a test
# may still delenv it. Tests that call a runner or a loop directly pass STRICT as its policy.
os.environ["VIFIT_STRICT_ELBO"] = "1"

ROOT = Path(__file__).resolve().parents[1]


def _strict_policy():
    from vifit.inference.policy import LoopPolicy

    return LoopPolicy(on_decrease="raise")


STRICT = _strict_policy()
SAMPLE = ROOT / "sample_data"


def invoke(args, input=None):
    """Run vifit in-process; returns click's Result (exit_code, stdout, stderr)."""
    from vifit.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def run_subprocess(args, input=None, cwd=None, env=None):
    """Run ``python -m vifit`` as a real process; returns CompletedProcess (bytes)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "vifit", *[str(a) for a in args]], input=input,
                          capture_output=True, cwd=cwd or ROOT, env=full_env, timeout=300)


@pytest.fixture
def sample_data():
    return SAMPLE
