"""README stays in step with the code: exit codes, set-up commands, CI."""

from __future__ import annotations

import json
import re
import shlex

import pytest

from conftest import ROOT, SAMPLE, invoke
from vifit import errors


def _readme():
    return (ROOT / "README.md").read_text()


def test_exit_code_table_matches_errors_module():
    section = _readme().split("## Failure behaviour", 1)[1]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", section, flags=re.M)}
    defined = {getattr(errors, name) for name in dir(errors) if name.startswith("EXIT_")}
    assert documented == defined


def test_setup_commands_and_ci_agree():
    readme = _readme()
    install_and_test = "pip install '.[test]' && pytest"
    assert install_and_test in readme
    assert re.search(r"pip install \. && vifit \w+ sample_data/\S+", readme)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install '.[test]'" in ci and re.search(r"^pytest$", ci, flags=re.M)
    assert "venv" in ci and "mktemp" in ci


def _transcript(command: str) -> list[str]:
    """The lines the README shows under ``$ command``, up to the next prompt or the block's end."""
    lines = _readme().splitlines()
    start = lines.index("    $ " + command)
    shown = []
    for line in lines[start + 1:]:
        if not line.startswith("    ") or line.startswith("    $ "):
            break
        shown.append(line[4:])
    return shown


@pytest.fixture
def in_readme_folder(tmp_path, monkeypatch):
    """Run commands as the README does: from a folder holding sample_data/."""
    (tmp_path / "sample_data").symlink_to(SAMPLE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(command: str):
    result = invoke(shlex.split(command)[1:])
    assert result.exit_code == 0, result.stderr
    return result


def test_pca_transcripts_are_what_the_commands_print(in_readme_folder):
    for command in ("vifit pca sample_data/iris.csv --k 2 --format csv -q", "vifit sample pca.json -n 2 --seed 1"):
        if command.startswith("vifit sample"):
            _run("vifit pca sample_data/iris.csv --k 2 -q -o pca.json")
        assert _run(command).stdout.splitlines() == _transcript(command)
    document = json.loads((in_readme_folder / "pca.json").read_text())
    ratio, per_row = _transcript("jq -c '.params.summary.explained_variance_ratio, .fit.elbo_per_row' pca.json")
    assert json.loads(ratio) == document["params"]["summary"]["explained_variance_ratio"]
    assert json.loads(per_row) == document["fit"]["elbo_per_row"]


def test_choosing_k_transcript_is_what_the_command_prints(in_readme_folder):
    command = "vifit gmm sample_data/mixture_1d.csv --k 1-6 --restarts 3 --seed 0 --progress none -o sel.json"
    assert _run(command).stderr.splitlines() == _transcript(command)
    candidates = json.loads((in_readme_folder / "sel.json").read_text())["fit"]["selection"]["candidates"]
    shown = _transcript("jq -c '.fit.selection.candidates[] | [.k, .elbo, .effective_components]' sel.json")
    assert [json.loads(line) for line in shown] == [[c["k"], c["elbo"], c["effective_components"]]
                                                     for c in candidates]
