"""The command-line contract: help, version, streams, formats, atomic writes, imports."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import numpy as np
import pytest

from conftest import ROOT, SAMPLE, invoke, run_subprocess
from vifit.cli import cli


def _commands():
    ctx = click.Context(cli)
    return [(name, cli.get_command(ctx, name)) for name in cli.list_commands(ctx)]


def test_version():
    result = invoke(["--version"])
    from vifit import __version__

    assert result.exit_code == 0 and result.stdout.strip() == f"vifit {__version__}"


def test_every_command_has_help_with_an_example():
    commands = _commands()
    assert {"pca", "predict", "sample"} <= {name for name, _ in commands}
    for name, command in commands:
        result = invoke([name, "--help"])
        assert result.exit_code == 0, name
        assert command.help and command.short_help != "", name
        assert "Example:" in result.stdout, name
        assert f"vifit {name}" in result.stdout or name in ("predict", "sample"), name
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts} lacks help"
    top = invoke(["--help"])
    assert top.exit_code == 0 and "Example:" in top.stdout


def test_help_does_not_import_scipy_pandas_or_models():
    code = ("import sys; from vifit.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('scipy', 'pandas', 'numpy', 'vifit.models', 'vifit.data') if m in sys.modules]\n"
            "print('HEAVY=' + ','.join(heavy))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY="


def test_python_dash_m_and_console_script():
    proc = run_subprocess(["--version"])
    assert proc.returncode == 0 and proc.stdout.startswith(b"vifit ")
    script = __import__("shutil").which("vifit", path=str(__import__("pathlib").Path(sys.executable).parent))
    assert script, "the vifit console script is not installed next to this python"
    assert subprocess.run([script, "--version"], capture_output=True).returncode == 0


@pytest.mark.parametrize("mode", ["plain", "json", "rich"])
def test_stdout_is_clean_json_with_progress(mode):
    proc = run_subprocess(["pca", SAMPLE / "iris.csv", "--k", "2", "--progress", mode])
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["schema"] == "vifit.fit/1"
    if mode == "json":
        events = [json.loads(line) for line in proc.stderr.decode().splitlines()]
        assert any(e["event"] == "progress" for e in events)
    if mode == "plain":
        assert b"pca" in proc.stderr


def test_quiet_silences_stderr():
    proc = run_subprocess(["pca", SAMPLE / "iris.csv", "-q"])
    assert proc.returncode == 0 and proc.stderr == b""


def test_floats_round_trip_exactly(tmp_path):
    from vifit.models import pca as model

    out = tmp_path / "p.json"
    assert invoke(["pca", SAMPLE / "wine.csv", "--k", "3", "-q", "-o", out]).exit_code == 0
    document = json.loads(out.read_text())
    x = np.loadtxt(SAMPLE / "wine.csv", delimiter=",", skiprows=1, usecols=range(13))
    fitted = model.fit(x, 3)
    assert np.array_equal(np.asarray(document["params"]["summary"]["explained_variance"]), fitted.explained_variance)
    assert np.array_equal(np.asarray(document["params"]["summary"]["components"]), fitted.components)


def test_json_writer_refuses_nan():
    from vifit.output import render_json

    with pytest.raises(ValueError, match="non-finite"):
        render_json({"a": np.array([1.0, np.nan])})
    with pytest.raises(ValueError):
        render_json({"a": float("inf")})


def test_format_inferred_from_extension(tmp_path):
    out = tmp_path / "pca.csv"
    assert invoke(["pca", SAMPLE / "iris.csv", "-q", "-o", out]).exit_code == 0
    assert out.read_text().startswith("component,explained_variance")
    forced = tmp_path / "pca.txt"
    assert invoke(["pca", SAMPLE / "iris.csv", "-q", "-o", forced, "--format", "csv"]).exit_code == 0
    assert forced.read_text().startswith("component,")
    # a name without an extension gets the default (JSON); one naming no format is refused
    # (contract change, issue 15: `-o pca.out` used to be silently JSON)
    default = tmp_path / "pca"
    assert invoke(["pca", SAMPLE / "iris.csv", "-q", "-o", default]).exit_code == 0
    assert json.loads(default.read_text())["model"] == "pca"
    unknown = invoke(["pca", SAMPLE / "iris.csv", "-q", "-o", tmp_path / "pca.out"])
    assert unknown.exit_code == 2 and "cannot tell the format from '.out'" in unknown.stderr
    assert not (tmp_path / "pca.out").exists()


def test_same_seed_same_bytes_apart_from_run_block():
    first = json.loads(invoke(["pca", SAMPLE / "iris.csv", "--seed", "5", "-q"]).stdout)
    second = json.loads(invoke(["pca", SAMPLE / "iris.csv", "--seed", "5", "-q"]).stdout)
    first.pop("run"), second.pop("run")
    assert first == second
    unseeded = json.loads(invoke(["pca", SAMPLE / "iris.csv", "-q"]).stdout)
    assert isinstance(unseeded["config"]["seed"], int)


def test_atomic_write_leaves_old_file_when_rendering_fails(tmp_path, monkeypatch):
    from vifit import output

    target = tmp_path / "keep.json"
    target.write_text("old")

    def explode(*args, **kwargs):
        raise ValueError("non-finite value")

    monkeypatch.setattr(output, "render", explode)
    result = invoke(["pca", SAMPLE / "iris.csv", "-q", "-o", target])
    assert result.exit_code == 1
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.json"]


def test_closed_pipe_ends_quietly():
    # `vifit sample ... | head -c 20`: the reader closes the pipe early
    proc = subprocess.Popen([sys.executable, "-m", "vifit", "pca", str(SAMPLE / "digits.csv"), "--k", "30", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    proc.stdout.read(20)
    proc.stdout.close()
    stderr = proc.stderr.read()
    proc.wait(timeout=60)
    assert b"Traceback" not in stderr and b"BrokenPipe" not in stderr
    assert proc.returncode == 0


def test_missing_output_folder_is_bad_input(tmp_path):
    result = invoke(["pca", SAMPLE / "iris.csv", "-o", tmp_path / "nope" / "x.json"])
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_reporter_plain_mode_throttles_and_never_touches_stdout(capsys):
    import io

    from vifit.progress import Reporter

    clock = iter([0.0, 0.0, 0.5, 1.0, 2.5, 3.0, 3.1]).__next__
    stream = io.StringIO()
    reporter = Reporter("plain", stream=stream, clock=clock)
    reporter.start("fit", total=10)
    for step, value in enumerate([-10.0, -9.0, -8.5, -8.4], start=1):
        reporter.update(step, value)
    reporter.finish("converged")
    lines = stream.getvalue().splitlines()
    # first update printed, next ones within 2 s suppressed, one at 2.5 s, final line at finish
    assert [line.split("  ")[1] for line in lines[:-1]] == ["step 1/10", "step 3/10", "step 4/10"]
    assert lines[-1].startswith("vifit: fit: converged")
    assert capsys.readouterr().out == ""


def test_activation_names_offered_by_commands_are_the_kits():
    from vifit.commands.training import ACTIVATION_NAMES
    from vifit.nn.activations import ACTIVATIONS

    assert set(ACTIVATION_NAMES) == set(ACTIVATIONS)


# ---------------------------------------------------------------- option sets of predict, sample, pca


@pytest.fixture(scope="module")
def quick_models(tmp_path_factory):
    """A small model file per fitting command (the corpus test's cheapest settings)."""
    from test_bad_input_corpus import FIT_COMMANDS, QUICK_FIT

    folder = tmp_path_factory.mktemp("models")
    paths = {}
    for command in FIT_COMMANDS:
        paths[command] = folder / f"{command}.json"
        fitted = invoke([command, SAMPLE / "iris.csv", *QUICK_FIT[command], "--seed", "1", "-q", "-o",
                         paths[command]])
        assert fitted.exit_code == 0, fitted.stderr
    return paths


@pytest.mark.parametrize("how", [["-o", "{dir}/out.json"], ["--format", "json"], ["-o", "{dir}/out.JSON"]],
                         ids=["json-extension", "format-flag", "upper-case-extension"])
@pytest.mark.parametrize("command", ["predict", "sample"])
def test_predict_and_sample_refuse_json_output_however_asked(tmp_path, quick_models, command, how):
    args = [command, quick_models["pca"]] + ([SAMPLE / "iris.csv"] if command == "predict" else [])
    result = invoke([*args, *(word.format(dir=tmp_path) for word in how)])
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{command} writes CSV only" in lines[0]
    assert result.stdout == "" and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["predict", "sample"])
def test_predict_and_sample_still_write_csv_to_csv_and_other_names(tmp_path, quick_models, command):
    args = [command, quick_models["pca"]] + ([SAMPLE / "iris.csv"] if command == "predict" else [])
    # out.txt needs --format csv since issue 15 (an extension naming no format is refused)
    for name, format_option in (("out.csv", []), ("out", []), ("out.txt", ["--format", "csv"])):
        result = invoke([*args, "-o", tmp_path / name, *format_option])
        assert result.exit_code == 0, result.stderr
        assert (tmp_path / name).read_text().splitlines()[0] == invoke(args).stdout.splitlines()[0]


# command -> run options it does not honour (each must be a usage error, not silently ignored)
UNHONOURED = {
    "predict": [["--seed", "1"], ["--strict"], ["--checkpoint", "ck.npz"], ["--checkpoint-every", "5"],
                ["--resume", "ck.npz"]],
    "sample": [["--strict"], ["--checkpoint", "ck.npz"], ["--checkpoint-every", "5"], ["--resume", "ck.npz"],
               ["--progress", "plain"]],  # -q it honours: it silences the drawn-seed note
    "pca": [["--checkpoint", "ck.npz"], ["--checkpoint-every", "5"], ["--resume", "ck.npz"]],
}


@pytest.mark.parametrize("command,option", [(c, o) for c in UNHONOURED for o in UNHONOURED[c]],
                         ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_options_a_command_ignores_are_usage_errors(tmp_path, quick_models, command, option):
    first = {"predict": [quick_models["pca"], SAMPLE / "iris.csv"], "sample": [quick_models["pca"]],
             "pca": [SAMPLE / "iris.csv"]}[command]
    result = invoke([command, *first, *option, "-o", tmp_path / "out.csv"], )
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no such option" in lines[0].lower() and option[0] in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_options_a_command_honours_are_still_offered(tmp_path, quick_models):
    """The split option groups: each command keeps the run options it uses."""
    offered = {name: {opt for p in command.params for opt in getattr(p, "opts", [])} for name, command in _commands()}
    assert {"--progress", "-q", "--debug"} <= offered["predict"]
    assert {"--seed", "-q", "--debug"} <= offered["sample"]
    assert {"--seed", "--progress", "-q", "--strict", "--debug"} <= offered["pca"]
    assert {"--checkpoint", "--checkpoint-every", "--resume", "--strict"} <= offered["gmm"]
    assert {"-q", "--debug"} <= offered["plot"]
    result = invoke(["predict", quick_models["pca"], SAMPLE / "iris.csv", "--progress", "json", "-q", "--debug"])
    assert result.exit_code == 0, result.stderr
    draws = [invoke(["sample", quick_models["pca"], "-n", "5", "--seed", "4", "--debug"]).stdout for _ in range(2)]
    assert draws[0] == draws[1] and draws[0]


def test_predict_help_names_every_output_column_and_the_reapplied_scaling(quick_models):
    """The help is checked against what predict really writes for each kind of model."""
    import re

    text = " ".join(invoke(["predict", "--help"]).stdout.split())
    assert "--standardize" in text and "--scale minmax" in text and "reapplied" in text
    for command, model in quick_models.items():
        header = invoke(["predict", model, SAMPLE / "iris.csv"]).stdout.splitlines()[0].split(",")
        for column in header:
            stem = re.sub(r"\d+$", "", column)  # mu1, mu2 -> mu (the help writes mu1..muk)
            assert stem in text, (command, column)
