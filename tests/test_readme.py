"""README stays in step with the code: exit codes, set-up commands, CI."""

from __future__ import annotations

import re

from conftest import ROOT
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
