"""Command-line conventions: -k for --k, -q on every command, and a missing argument that
points to the command's --help."""

from __future__ import annotations

import json

import pytest

from conftest import SAMPLE, invoke, run_subprocess


@pytest.mark.parametrize("command", ["gmm", "pca"])
def test_short_k_is_long_k(command, tmp_path):
    short = invoke([command, SAMPLE / "iris.csv", "-k", "3", "--seed", "1", "-q"])
    long = invoke([command, SAMPLE / "iris.csv", "--k", "3", "--seed", "1", "-q"])
    assert short.exit_code == long.exit_code == 0, short.stderr
    a, b = json.loads(short.stdout), json.loads(long.stdout)
    a.pop("run"), b.pop("run")
    assert a == b and a["config"]["k"] == 3


@pytest.mark.parametrize("args", [["gmm"], ["pca"], ["predict", "model.json"], ["sample"], ["plot"],
                                  ["vae"], ["autoencoder"]])
def test_a_missing_argument_points_to_the_commands_help(args):
    done = run_subprocess(args)
    lines = done.stderr.decode().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("vifit: error: Missing argument") and lines[0].endswith(
        f"see 'vifit {args[0]} --help'")


def test_every_command_takes_q():
    for command in ("gmm", "pca", "autoencoder", "vae", "predict", "sample", "plot"):
        assert "-q, --quiet" in invoke([command, "--help"]).stdout, command


def test_q_silences_the_notes_of_sample_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    model = tmp_path / "gmm.json"
    assert invoke(["gmm", SAMPLE / "iris.csv", "--k", "2", "--seed", "0", "-q", "-o", model]).exit_code == 0
    noted = invoke(["sample", model, "-n", "3"])
    assert noted.exit_code == 0 and "note: drew seed" in noted.stderr
    quiet = invoke(["sample", model, "-n", "3", "-q"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    semicolons = tmp_path / "iris.csv"
    semicolons.write_text((SAMPLE / "iris.csv").read_text().replace(",", ";"))
    noted = invoke(["plot", model, semicolons, "-o", tmp_path / "a.png"])
    assert noted.exit_code == 0 and "reading fields separated by ';'" in noted.stderr, noted.stderr
    quiet = invoke(["plot", model, semicolons, "-o", tmp_path / "b.png", "-q"])
    assert quiet.exit_code == 0 and quiet.stderr == "" and (tmp_path / "b.png").stat().st_size > 0
