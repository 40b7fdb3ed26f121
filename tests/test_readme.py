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


def _cells(line: str) -> list:
    """A CSV line's cells, numbers as floats, so two transcripts can be compared to round-off."""
    cells = []
    for cell in line.split(","):
        try:
            cells.append(float(cell))
        except ValueError:
            cells.append(cell)
    return cells


def _assert_same_to_round_off(printed: list[str], shown: list[str]) -> None:
    """Same lines, same text cells, numbers equal to 1e-12 relative.

    The eigendecomposition behind PCA goes through LAPACK, whose kernels OpenBLAS picks by
    processor (and by ``OPENBLAS_CORETYPE``, which some machines here set): the same command
    prints the same digits on one machine, but the last one or two can differ between
    processors. 1e-12 is four orders above that round-off and far below any real change.
    """
    assert len(printed) == len(shown)
    for got, want in zip(printed, shown):
        got_cells, want_cells = _cells(got), _cells(want)
        assert len(got_cells) == len(want_cells), (got, want)
        for a, b in zip(got_cells, want_cells):
            if isinstance(a, float) and isinstance(b, float):
                assert a == pytest.approx(b, rel=1e-12, abs=1e-15), (got, want)
            else:
                assert a == b, (got, want)


def test_pca_transcripts_are_what_the_commands_print(in_readme_folder):
    for command in ("vifit pca sample_data/iris.csv --k 2 --format csv -q", "vifit sample pca.json -n 2 --seed 1"):
        if command.startswith("vifit sample"):
            _run("vifit pca sample_data/iris.csv --k 2 -q -o pca.json")
        _assert_same_to_round_off(_run(command).stdout.splitlines(), _transcript(command))
    document = json.loads((in_readme_folder / "pca.json").read_text())
    ratio, per_row = _transcript("jq -c '.params.summary.explained_variance_ratio, .fit.elbo_per_row' pca.json")
    assert json.loads(ratio) == pytest.approx(document["params"]["summary"]["explained_variance_ratio"], rel=1e-12)
    assert json.loads(per_row) == pytest.approx(document["fit"]["elbo_per_row"], rel=1e-12)


def test_choosing_k_transcript_is_what_the_command_prints(in_readme_folder):
    command = "vifit gmm sample_data/mixture_1d.csv --k 1-6 --restarts 3 --seed 0 --progress none -o sel.json"
    assert _run(command).stderr.splitlines() == _transcript(command)
    candidates = json.loads((in_readme_folder / "sel.json").read_text())["fit"]["selection"]["candidates"]
    shown = _transcript("jq -c '.fit.selection.candidates[] | [.k, .elbo, .effective_components]' sel.json")
    # ELBOs to round-off, not to the bit: see _assert_same_to_round_off (BLAS kernels by processor).
    assert [json.loads(line) for line in shown] == [[c["k"], pytest.approx(c["elbo"], rel=1e-12),
                                                      c["effective_components"]] for c in candidates]


def _python_transcript() -> list[tuple[str, list[str]]]:
    """The "From Python" section's (statement, lines shown after it) pairs."""
    section = _readme().split("## From Python", 1)[1].split("\n## ", 1)[0]
    pairs: list[tuple[str, list[str]]] = []
    for line in section.splitlines():
        if line.startswith("    >>> "):
            pairs.append((line[8:], []))
        elif line.startswith("    ") and pairs:
            pairs[-1][1].append(line[4:])
        elif pairs and line.strip():
            break
    return pairs


def test_python_transcript_is_what_python_prints(in_readme_folder):
    import contextlib
    import io
    import warnings

    pairs = _python_transcript()
    assert any("vifit.load" in statement for statement, _ in pairs)
    namespace: dict = {}
    for statement, shown in pairs:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed), warnings.catch_warnings():
            warnings.simplefilter("error")  # the transcript shows no warning, so none may be raised
            exec(compile(statement, "<README>", "single"), namespace)
        _assert_same_to_round_off(printed.getvalue().splitlines(), shown)
    assert (in_readme_folder / "gmm.json").exists()
