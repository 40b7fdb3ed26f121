"""Messages that tell the truth, through a real `python -m vifit` process each."""

from __future__ import annotations

import json
import re

from conftest import SAMPLE, run_subprocess


def test_sample_without_seed_prints_the_seed_it_drew_and_it_repeats_the_draws(tmp_path):
    model = tmp_path / "pca.json"
    assert run_subprocess(["pca", SAMPLE / "iris.csv", "--k", "2", "-q", "-o", model]).returncode == 0
    drawn = run_subprocess(["sample", model, "-n", "5"])
    assert drawn.returncode == 0, drawn.stderr
    note = drawn.stderr.decode().strip()
    match = re.fullmatch(r"vifit: note: drew seed (\d+); pass --seed (\d+) to repeat these draws", note)
    assert match and match.group(1) == match.group(2), note
    again = run_subprocess(["sample", model, "-n", "5", "--seed", match.group(1)])
    assert again.returncode == 0 and again.stdout == drawn.stdout
    assert again.stderr == b""  # a given seed is not repeated back


def test_an_empty_column_range_says_so(tmp_path):
    data = tmp_path / "t.csv"
    data.write_text("a,b,c\n1,2,3\n4,5,7\n7,8,8\n")
    for method in (["pca", data, "--k", "1"], ["gmm", data, "--k", "1", "--method", "svi"]):
        result = run_subprocess([*method, "--columns", "3-2"])
        lines = result.stderr.decode().splitlines()
        assert result.returncode == 2 and result.stdout == b""
        assert lines == [f"vifit: error: {data}: --columns: range '3-2' is empty (it counts up: write 2-3)"]


def test_vifit_alone_prints_the_help_and_exits_0():
    alone, asked = run_subprocess([]), run_subprocess(["--help"])
    assert alone.returncode == 0 and alone.stderr == b""
    assert alone.stdout == asked.stdout
    text = alone.stdout.decode()
    assert text.startswith("Usage: vifit [OPTIONS] COMMAND [ARGS]...\n")
    assert re.search(r"^Commands:\n(  \w+ .*\n)+", text, flags=re.M) and "  gmm " in text


def test_the_k_range_note_gives_the_components_that_carry_weight(tmp_path):
    out = tmp_path / "sel.json"
    result = run_subprocess(["gmm", SAMPLE / "mixture_1d.csv", "--columns", "x", "--k", "4,5", "--seed", "0",
                             "--progress", "none", "-o", out])
    assert result.returncode == 0, result.stderr
    selection = json.loads(out.read_text())["fit"]["selection"]
    chosen = next(c for c in selection["candidates"] if c["k"] == selection["chosen_k"])
    assert chosen["effective_components"] < chosen["k"]  # the case the note must tell
    note = result.stderr.decode().strip()
    assert note.startswith(f"vifit: note: chose K = {chosen['k']} ({chosen['effective_components']} "
                           f"components carry weight): "), note
