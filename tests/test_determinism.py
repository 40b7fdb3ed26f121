"""Same command, same seed: byte-identical output apart from the run block —
for every command, in-process and across processes with 1 and 2 BLAS threads."""

from __future__ import annotations

import json

import pytest

from conftest import SAMPLE, invoke, run_subprocess
from test_bad_input_corpus import FIT_COMMANDS, QUICK_FIT

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _without_run(text: str) -> str:
    document = json.loads(text)
    document.pop("run")
    return json.dumps(document, sort_keys=True)


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
        outputs.append((_without_run(model.read_text()), predicted.stdout,
                        sampled.stdout if sampled.exit_code == 0 else refusal))
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
