"""Every command on every file of tests/bad_inputs/ (and every bad option value):
the fitting commands, predict and plot (with a model fitted on the files' columns) on each
file as DATA, sample and the rest on bad model files:
exit 2, exactly one stderr line naming the problem, no traceback, no output file,
and a pre-existing output file byte-identical afterwards.

New commands are picked up from the CLI itself: a fitting command without an
entry in QUICK_FIT (how to fit it cheaply) or BAD_OPTIONS fails the test, so
coverage cannot silently lag behind.
"""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from conftest import SAMPLE, invoke

CORPUS = Path(__file__).parent / "bad_inputs"
FILES = sorted(p.name for p in CORPUS.iterdir() if p.name != "make_corpus.py")

# file -> words its error line must contain (the problem, named)
EXPECTED = {
    "a_directory.csv": ["directory"],
    "all_constant.csv": ["every column is constant"],
    "binary_garbage.csv": ["binary"],
    "blank_lines.csv": ["empty"],
    "bom_header_only.csv": ["no data rows"],
    "dangling_link.csv": ["no such file"],
    "duplicate_header.csv": ["'a'", "more than once"],
    "empty.csv": ["empty"],
    "empty_cell.csv": ["row 2", "'b'", "missing"],
    "empty_header_name.csv": ["column 2", "empty name"],
    "garbage.csv.xz": ["damaged or truncated"],
    "header_only.csv": ["no data rows"],
    "inf_value.csv": ["row 2", "infinite"],
    "latin1_bytes.csv": ["line 2", "UTF-8"],
    "minus_inf_value.csv": ["row 2", "infinite"],
    "na_value.csv": ["row 2", "'a'", "missing"],
    "nan_value.csv": ["row 2", "'b'", "missing"],
    "no_numeric_columns.csv": ["no numeric columns"],
    "not_really.csv.gz": ["damaged or truncated"],
    "nul_bytes.csv": ["binary"],
    "one_row.csv": ["1 usable row"],
    "only_delimiters.csv": ["empty name"],
    "overflow_1e999.csv": ["row 2", "infinite"],
    "quoted_comma.csv": ["row 2", "'a'", "'3,5' is not a number"],
    "ragged_long_row.csv": ["row 2", "4 fields, expected 3"],
    "ragged_short_row.csv": ["row 2", "2 fields, expected 3", "ragged"],
    "tab_separated.csv": ["no numeric columns", "--delimiter"],
    "text_in_numeric.csv": ["row 2", "'b'", "'five' is not a number"],
    "truncated.csv.bz2": ["damaged or truncated"],
    "truncated.csv.gz": ["damaged or truncated"],
    "two_members.zip": ["exactly one file"],
    # Parquet (vifit[arrow]): the CSV's guarantees, rows named without a line
    "corrupt.parquet": ["not a readable Parquet file"],
    "empty.parquet": ["file is empty"],
    "inf_value.parquet": ["row 2, column 'b'", "infinite"],
    "no_rows.parquet": ["no data rows"],
    "text_in_numeric.parquet": ["row 2, column 'b'", "'five' is not a number"],
    "truncated.parquet": ["not a readable Parquet file"],
}

# fitting command -> cheapest options that fit sample_data/iris.csv
QUICK_FIT = {
    "pca": ["--k", "2"],
    "gmm": ["--k", "2", "--max-iter", "5"],
    "mixture": ["--k", "2", "--max-iter", "5"],
    "autoencoder": ["--hidden", "3,2", "--epochs", "2"],
    "vae": ["--hidden", "3", "--latent", "2", "--epochs", "2"],
}

# fitting command -> option sets that must be refused (exit 2) on good data
BAD_OPTIONS = {
    "pca": [["--k", "0"], ["--k", "-3"], ["--k", "1000000"], ["--k", "two"], ["--columns", "1-99"]],
    "gmm": [["--k", "0"], ["--k", "1000000"], ["--tau", "-1"], ["--weight-concentration", "-1"],
            ["--dof-prior", "-5"], ["--tol", "-1"], ["--max-iter", "0"],
            ["--method", "svi", "--forgetting", "0.3"], ["--method", "svi", "--batch-size", "0"],
            ["--method", "svi", "--delay", "-2"], ["--method", "svi", "--epochs", "0"]],
    "autoencoder": [["--hidden", ""], ["--hidden", "4,-2"], ["--hidden", "a,b"], ["--epochs", "0"],
                    ["--lr", "-1"], ["--batch-size", "0"]],
    "vae": [["--latent", "0"], ["--hidden", "x"], ["--epochs", "0"], ["--samples", "0"], ["--beta", "-1"]],
    "mixture": [["--k", "0"], ["--k", "1000000"], ["--weight-concentration", "-1"], ["--tol", "-1"],
                ["--max-iter", "0"], ["--family", "lognormal:1"], ["--family", "poisson:nothere"],
                ["--row-weights", "nothere"], ["--standardize"]],
}
for command in ("gmm", "mixture"):  # a weight column must exist, and be weights
    BAD_OPTIONS[command] += [["--row-weights", "nothere"]] if command == "gmm" else []

# Files that are not bad input for a command: gmm and mixture model missing cells (marginalised,
# tests/test_gmm_missing.py, test_mixture_cli.py), and a mixture reads text columns as categories.
MISSING_CELLS = ("empty_cell.csv", "na_value.csv", "nan_value.csv")
FITS = {("gmm", name) for name in MISSING_CELLS} | {("mixture", name) for name in MISSING_CELLS} \
    | {("mixture", "no_numeric_columns.csv")}


# commands that take the shared data options but write no model: how to run each cheaply
RANKING_COMMANDS = {"compare": ["--models", "pca:k=1"]}


def _fit_commands():
    from vifit.cli import cli

    ctx = click.Context(cli)
    # fitting commands are the ones that take the shared data options (and write a model)
    return [n for n in cli.list_commands(ctx)
            if any(p.name == "standardize" for p in cli.get_command(ctx, n).params) and n not in RANKING_COMMANDS]


FIT_COMMANDS = _fit_commands()


def _check(result, words, target, before):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("vifit: error: ") and "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert result.stdout == ""
    if before is None:
        assert not target.exists()
    else:
        assert target.read_bytes() == before
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]


def _target(tmp_path, existing, name="result.json"):
    target = tmp_path / name
    before = None
    if existing:
        before = b"an earlier result that must survive\n"
        target.write_bytes(before)
    return target, before


def test_corpus_is_complete_and_every_command_is_covered():
    assert len(FILES) >= 25
    assert set(FILES) == set(EXPECTED)
    assert set(FIT_COMMANDS) <= set(QUICK_FIT), "add the new command to QUICK_FIT"
    assert set(FIT_COMMANDS) <= set(BAD_OPTIONS), "add the new command to BAD_OPTIONS"


@pytest.mark.parametrize("existing", [False, True], ids=["fresh", "existing"])
@pytest.mark.parametrize("command", FIT_COMMANDS)
@pytest.mark.parametrize("name", FILES)
def test_fit_commands_refuse_bad_files(tmp_path, name, command, existing):
    target, before = _target(tmp_path, existing)
    result = invoke([command, CORPUS / name, *QUICK_FIT[command], "-o", target])
    if (command, name) in FITS:
        assert result.exit_code == 0, result.stderr
        assert target.read_bytes() != before
        return
    _check(result, EXPECTED[name], target, before)


# commands run as `COMMAND MODEL.json DATA -o NAME` -> NAME; sample reads no DATA and meets
# the corpus as bad model files (test_bad_model_files_are_refused)
MODEL_COMMANDS = {"predict": "predicted.csv", "plot": "figure.png", "score": "scored.json"}
MODEL_ONLY_COMMANDS = {"sample": "sampled.csv"}


def _all_commands():
    from vifit.cli import cli

    return set(cli.list_commands(click.Context(cli)))


@pytest.mark.parametrize("command", sorted(RANKING_COMMANDS))
@pytest.mark.parametrize("name", FILES)
def test_ranking_commands_refuse_bad_files(tmp_path, name, command):
    target, before = _target(tmp_path, True)
    result = invoke([command, CORPUS / name, *RANKING_COMMANDS[command], "-o", target])
    _check(result, EXPECTED[name], target, before)


def test_every_command_is_run_on_the_corpus():
    covered = set(FIT_COMMANDS) | set(MODEL_COMMANDS) | set(MODEL_ONLY_COMMANDS) | set(RANKING_COMMANDS)
    assert _all_commands() <= covered, "say how the new command meets the corpus"


# The models for predict and plot are fitted on columns a and b, the columns the corpus files
# have, so that predict and plot reach each file's real problem rather than stopping at a
# missing column.
MODEL_COLUMNS = ["a", "b"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """One small fitted model file per fitting command, on columns a and b."""
    import pandas as pd

    folder = tmp_path_factory.mktemp("models")
    train = folder / "train.csv"
    iris = pd.read_csv(SAMPLE / "iris.csv")
    iris.iloc[:, :2].set_axis(MODEL_COLUMNS, axis=1).to_csv(train, index=False)
    paths = {}
    for command in FIT_COMMANDS:
        path = folder / f"{command}.json"
        result = invoke([command, train, *QUICK_FIT[command], "--seed", "1", "-q", "-o", path])
        assert result.exit_code == 0, result.stderr
        paths[command] = path
    return paths


# What predict and plot must say about each file: the fit's problem, except where it was the
# columns the fit would choose (these read the model's columns, a and b, instead).
# None: not bad input for them (one row, or constant rows, can be predicted and drawn).
MODEL_EXPECTED = dict(EXPECTED)
MODEL_EXPECTED.update({
    "all_constant.csv": None,
    "one_row.csv": None,
    "no_numeric_columns.csv": ["'a'", "lacks"],
    "tab_separated.csv": ["'a'", "lacks", "--delimiter"],
})


def test_model_commands_meet_each_files_real_problem():
    """Only the files whose problem is column choice may differ from what the fit reports."""
    differing = {name for name in FILES if MODEL_EXPECTED[name] != EXPECTED[name]}
    assert differing == {"all_constant.csv", "one_row.csv", "no_numeric_columns.csv", "tab_separated.csv"}


@pytest.mark.parametrize("command", sorted(MODEL_COMMANDS))
@pytest.mark.parametrize("model_of", FIT_COMMANDS)
@pytest.mark.parametrize("name", FILES)
def test_model_commands_refuse_bad_files(tmp_path, models, name, model_of, command):
    target, before = _target(tmp_path, True, MODEL_COMMANDS[command])
    result = invoke([command, models[model_of], CORPUS / name, "-o", target])
    words = None if model_of in ("gmm", "mixture") and name in MISSING_CELLS else MODEL_EXPECTED[name]
    if words is None:
        assert result.exit_code == 0, result.stderr
        assert target.read_bytes() != before
        return
    _check(result, words, target, before)


@pytest.mark.parametrize("existing", [False, True], ids=["fresh", "existing"])
@pytest.mark.parametrize("command,options", [(c, o) for c in FIT_COMMANDS for o in BAD_OPTIONS[c]],
                         ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_bad_option_values(tmp_path, command, options, existing):
    target, before = _target(tmp_path, existing)
    result = invoke([command, SAMPLE / "iris.csv", *options, "-o", target])
    _check(result, [options[0]] if options[0].startswith("--") else [], target, before)


@pytest.mark.parametrize("command", sorted({**MODEL_COMMANDS, **MODEL_ONLY_COMMANDS}))
@pytest.mark.parametrize("name", ["empty.csv", "binary_garbage.csv", "header_only.csv", "a_directory.csv",
                                  "latin1_bytes.csv", "dangling_link.csv"])
def test_bad_model_files_are_refused(tmp_path, name, command):
    target, before = _target(tmp_path, True, {**MODEL_COMMANDS, **MODEL_ONLY_COMMANDS}[command])
    args = [command, CORPUS / name] + ([SAMPLE / "iris.csv"] if command in MODEL_COMMANDS else [])
    result = invoke([*args, "-o", target])
    _check(result, [name], target, before)
