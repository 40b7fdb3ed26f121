"""Checkpoint files: exact round trip, no pickles, refusal of foreign or mismatched files."""

from __future__ import annotations

import numpy as np
import pytest

from vifit import checkpoint
from vifit.errors import BadInput


def _state():
    rng = np.random.default_rng(42)
    rng.standard_normal(3)
    return {"iteration": 7, "trace": [[1, -10.5], [2, -9.25]], "best": -np.inf,
            "params": {"m": rng.standard_normal((3, 2)), "alpha": np.array([1.5, 2.5], dtype=np.float32)},
            "rng": rng.bit_generator.state, "status": "running"}


def test_round_trip_is_exact_and_generators_continue(tmp_path):
    path = tmp_path / "fit.ckpt"
    state = _state()
    with checkpoint.active(str(path), 0.0, None, {"k": 3}):
        assert checkpoint.due()
        checkpoint.save("cavi", state)
    loaded = checkpoint.load(str(path), "cavi", checkpoint.config_key({"k": 3}))
    assert loaded["iteration"] == 7 and loaded["trace"] == [[1, -10.5], [2, -9.25]]
    assert loaded["best"] == -np.inf and loaded["status"] == "running"
    np.testing.assert_array_equal(loaded["params"]["m"], state["params"]["m"])
    assert loaded["params"]["alpha"].dtype == np.float32
    original, restored = np.random.default_rng(), np.random.default_rng()
    original.bit_generator.state, restored.bit_generator.state = state["rng"], loaded["rng"]
    np.testing.assert_array_equal(original.standard_normal(5), restored.standard_normal(5))
    # the archive holds no pickled objects
    with np.load(path, allow_pickle=False) as archive:
        assert all(archive[name].dtype != object for name in archive.files)


def test_resume_state_checks_kind_and_configuration(tmp_path):
    path = tmp_path / "fit.ckpt"
    with checkpoint.active(str(path), 0.0, None, {"k": 3}):
        checkpoint.save("cavi", _state())
    with checkpoint.active(None, 600, str(path), {"k": 3}):
        assert checkpoint.resume_state("cavi")["iteration"] == 7
        with pytest.raises(BadInput, match="cannot resume a sgd fit"):
            checkpoint.resume_state("sgd")
    with checkpoint.active(None, 600, str(path), {"k": 4}):
        with pytest.raises(BadInput, match="same command line"):
            checkpoint.resume_state("cavi")


def test_due_waits_for_the_interval(tmp_path, monkeypatch):
    now = [100.0]
    monkeypatch.setattr(checkpoint._settings, "clock", lambda: now[0])
    with checkpoint.active(str(tmp_path / "c"), 60.0, None, {}):
        assert not checkpoint.due()
        now[0] += 59
        assert not checkpoint.due()
        now[0] += 2
        assert checkpoint.due()
    assert not checkpoint.due()  # inactive outside the context


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04garbage"])
def test_garbage_files_are_bad_input(tmp_path, content):
    path = tmp_path / "bad.ckpt"
    path.write_bytes(content)
    with pytest.raises(BadInput, match="not a vifit checkpoint"):
        checkpoint.load(str(path), "cavi")


def test_cli_rejects_bad_checkpoint_options(tmp_path):
    from conftest import SAMPLE, invoke

    result = invoke(["pca", SAMPLE / "iris.csv", "--resume", tmp_path / "none.ckpt"])
    assert result.exit_code == 2 and "--resume" in result.stderr
    result = invoke(["pca", SAMPLE / "iris.csv", "--checkpoint", tmp_path / "x" / "c.ckpt"])
    assert result.exit_code == 2 and "--checkpoint" in result.stderr
    result = invoke(["pca", SAMPLE / "iris.csv", "--checkpoint-every", "0"])
    assert result.exit_code == 2 and "--checkpoint-every" in result.stderr


def test_numpy_infinities_round_trip(tmp_path):
    """A numpy scalar infinity is stored like a Python one (the reader refuses bare JSON Infinity)."""
    path = tmp_path / "fit.ckpt"
    with checkpoint.active(str(path), 0.0, None, {}):
        checkpoint.save("sgd", {"best_loss": np.float64(np.inf), "low": np.float32(-np.inf)})
    loaded = checkpoint.load(str(path), "sgd")
    assert loaded["best_loss"] == np.inf and loaded["low"] == -np.inf
