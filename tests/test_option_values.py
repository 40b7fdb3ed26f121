"""Option values that are not numbers, separators that cannot separate, and options the chosen
method ignores: each is a usage error naming the option (exit 2, one line), through a real
``python -m vifit``. The float options are found from the commands themselves, so a new one
that forgets the finite type fails here."""

from __future__ import annotations

import click
import pytest

from conftest import SAMPLE, run_subprocess
from vifit.cli import COMMANDS, cli
from vifit.options import FiniteFloat


def _float_options():
    """(command, --option) for every float-valued option of every command."""
    found = []
    for name in COMMANDS:
        command = cli.get_command(click.Context(cli), name)
        for param in command.params:
            if isinstance(param, click.Option) and isinstance(param.type, click.types.FloatParamType):
                found.append((name, param.opts[0], param))
    return found


FLOAT_OPTIONS = _float_options()


def test_every_float_option_is_finite():
    assert len(FLOAT_OPTIONS) >= 15  # gmm's priors and steps, the training options, vae's, checkpoints
    plain = [f"{name} {opt}" for name, opt, param in FLOAT_OPTIONS if not isinstance(param.type, FiniteFloat)]
    assert plain == []


def _one_usage_line(result, *words):
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr and "bug" not in stderr, stderr
    for word in words:
        assert word in stderr, stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
@pytest.mark.parametrize("command,option", [(name, opt) for name, opt, _ in FLOAT_OPTIONS])
def test_non_finite_float_option_is_a_usage_error(tmp_path, command, option, value):
    out = tmp_path / "out.json"
    result = run_subprocess([command, SAMPLE / "iris.csv", option, value, "-o", out])
    _one_usage_line(result, f"'{option}'", repr(value))
    assert not out.exists()


@pytest.mark.parametrize("delimiter,words", [("\n", ["line break"]), ("\r", ["line break"]),
                                             ('"', ["quote"]), (";;", ["one character"]),
                                             ("\u00e9", ["ASCII"])])
@pytest.mark.parametrize("command", ["gmm", "pca"])
def test_delimiter_that_cannot_separate_fields(command, delimiter, words):
    _one_usage_line(run_subprocess([command, SAMPLE / "iris.csv", "--delimiter", delimiter]), "--delimiter", *words)


def test_delimiter_nul_in_process():
    """A NUL byte cannot be passed in an argv; click can be handed one in-process."""
    from conftest import invoke

    result = invoke(["pca", SAMPLE / "iris.csv", "--delimiter", "\0"])
    assert result.exit_code == 2 and "NUL" in result.stderr and "--delimiter" in result.stderr


@pytest.mark.parametrize("given", [["--memoized"], ["--batch-size", "64"], ["--forgetting", "0.8"], ["--delay", "2"],
                                   ["--epochs", "3"], ["--no-stream"], ["--stream"]])
@pytest.mark.parametrize("method", [[], ["--method", "cavi"]])
def test_svi_options_with_cavi_are_refused(tmp_path, given, method):
    out = tmp_path / "out.json"
    result = run_subprocess(["gmm", SAMPLE / "iris.csv", "--k", "2", *method, *given, "-o", out])
    _one_usage_line(result, given[0], "--method svi")
    assert not out.exists()


def test_svi_options_with_svi_still_work(tmp_path):
    result = run_subprocess(["gmm", SAMPLE / "iris.csv", "--k", "2", "--method", "svi", "--batch-size", "64",
                             "--epochs", "2", "--memoized", "--no-stream", "--seed", "0", "-q"])
    assert result.returncode == 0, result.stderr.decode()
