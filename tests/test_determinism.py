"""Same command, same seed: byte-identical output apart from the run block —
for every command, in-process and across processes with 1 and 2 BLAS threads."""

from __future__ import annotations

import json
import re

import pytest

from conftest import SAMPLE, invoke, run_subprocess
from test_bad_input_corpus import FIT_COMMANDS, QUICK_FIT

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
SPACE = re.compile(r"\s*")


def _top_level_members(text: str):
    """(key, start, end) of each member of the top-level JSON object in text: start where the
    key's opening quote is, end just after the value; positions found by the JSON decoder itself."""
    decoder = json.JSONDecoder()
    position = text.index("{") + 1
    members = []
    while True:
        position = SPACE.match(text, position).end()
        if text[position] == "}":
            return members
        start = position
        key, position = decoder.raw_decode(text, position)
        position = SPACE.match(text, text.index(":", position) + 1).end()
        _, position = decoder.raw_decode(text, position)
        members.append((key, start, position))
        position = SPACE.match(text, position).end()
        if text[position] == ",":
            position += 1


def _without_run(output) -> bytes:
    """The output's bytes with the top-level "run" block (time, threads) cut out and nothing
    else touched: the member and the comma that separates it from its neighbour."""
    text = output.decode("utf-8") if isinstance(output, bytes) else output
    members = _top_level_members(text)
    runs = [i for i, (key, _, _) in enumerate(members) if key == "run"]
    assert len(runs) == 1, "expected one run block"
    index = runs[0]
    if index > 0:  # from the end of the previous value (its comma) to the end of the run block
        cut = (members[index - 1][2], members[index][2])
    else:  # the first member: up to the next member's key
        cut = (members[index][1], members[index + 1][1] if len(members) > 1 else members[index][2])
    remainder = text[:cut[0]] + text[cut[1]:]
    assert "run" not in json.loads(remainder)  # what is left is still one valid document
    return remainder.encode("utf-8")


def test_without_run_cuts_exactly_the_run_block():
    middle, last = '{\n  "a": 1,\n  "run": {"s": [1, {"}": 2}]},\n  "b": "run"\n}\n', '{"a": [1], "run": {}}'
    assert _without_run(middle) == b'{\n  "a": 1,\n  "b": "run"\n}\n'
    assert _without_run(last) == b'{"a": [1]}'
    assert _without_run('{"run": 3, "x": 1}') == b'{"x": 1}'


@pytest.mark.parametrize("command", FIT_COMMANDS)
def test_fit_predict_sample_repeat_exactly(tmp_path, command):
    outputs = []
    for attempt in range(2):
        (tmp_path / str(attempt)).mkdir()
        model = tmp_path / str(attempt) / f"{command}.json"
        fit = invoke([command, SAMPLE / "wine.csv", *QUICK_FIT[command], "--seed", "11", "-q", "-o", model])
        assert fit.exit_code == 0, fit.stderr
        predicted = invoke(["predict", model, SAMPLE / "wine.csv"])
        assert predicted.exit_code == 0, predicted.stderr
        sampled = invoke(["sample", model, "-n", "50", "--seed", "3"])
        refusal = sampled.stderr.replace(str(model.parent), "")  # a model kind that cannot sample
        outputs.append((_without_run(model.read_bytes()), predicted.stdout_bytes,
                        sampled.stdout_bytes if sampled.exit_code == 0 else refusal))
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize("command", FIT_COMMANDS)
def test_one_and_two_blas_threads_agree(command):
    texts = []
    for threads in ("1", "2"):
        env = {var: threads for var in THREAD_VARS}
        proc = run_subprocess([command, SAMPLE / "wine.csv", *QUICK_FIT[command], "--seed", "5", "-q"], env=env)
        assert proc.returncode == 0, proc.stderr
        texts.append(_without_run(proc.stdout))
    assert texts[0] == texts[1]


@pytest.mark.parametrize("command", FIT_COMMANDS)
def test_predict_and_sample_agree_across_thread_counts(tmp_path, command):
    model = tmp_path / f"{command}.json"
    fit = invoke([command, SAMPLE / "wine.csv", *QUICK_FIT[command], "--seed", "11", "-q", "-o", model])
    assert fit.exit_code == 0, fit.stderr
    outputs = []
    for threads in ("1", "2"):
        env = {var: threads for var in THREAD_VARS}
        predicted = run_subprocess(["predict", model, SAMPLE / "wine.csv"], env=env)
        assert predicted.returncode == 0, predicted.stderr
        sampled = run_subprocess(["sample", model, "-n", "50", "--seed", "3"], env=env)
        # a model kind that cannot sample refuses the same way with either thread count
        outputs.append((predicted.stdout, sampled.returncode, sampled.stdout, sampled.stderr))
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize("extra", [["--restarts", "3"], ["--method", "svi", "--batch-size", "32", "--epochs", "3"],
                                   ["--method", "svi", "--memoized", "--batch-size", "32", "--epochs", "3"],
                                   ["--k", "2-4", "--restarts", "2"]], ids=["restarts", "svi", "memoized", "select"])
def test_gmm_variants_repeat_exactly_across_thread_counts(extra):
    texts = []
    for threads in ("1", "2", "2"):
        env = {var: threads for var in THREAD_VARS}
        proc = run_subprocess(["gmm", SAMPLE / "wine.csv", "--k", "3", "--standardize", *extra, "--seed", "9", "-q"],
                              env=env)
        assert proc.returncode == 0, proc.stderr
        texts.append(_without_run(proc.stdout))
    assert texts[0] == texts[1] == texts[2]
