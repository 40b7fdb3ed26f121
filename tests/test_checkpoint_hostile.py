"""Crafted checkpoints, changed data and a checkpoint over the input: exit 2, one line, no result.

Each crafted file is the real checkpoint of a small fit with one member of its state altered,
its checksum recomputed (a careful forger's file reaches the loop's schema) or kept (an edit
is refused as such).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import invoke, run_subprocess
from vifit import checkpoint

FITS = {
    "gmm-cavi": ["gmm", "--k", "2", "--restarts", "2", "--max-iter", "8", "--tol", "0"],
    "gmm-svi": ["gmm", "--k", "2", "--method", "svi", "--batch-size", "20", "--epochs", "3", "--tol", "0"],
    "gmm-svi-memoized": ["gmm", "--k", "2", "--method", "svi", "--memoized", "--batch-size", "20", "--epochs", "3",
                         "--tol", "0"],
    "sgd": ["vae", "--latent", "2", "--hidden", "3", "--epochs", "4"],
}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """{kind: (command line, checkpoint path)} from one small fit each, plus the data path."""
    folder = tmp_path_factory.mktemp("checkpoints")
    rng = np.random.default_rng(0)
    x = np.vstack([rng.uniform(0.0, 0.4, (40, 3)), rng.uniform(0.6, 1.0, (40, 3))])
    data = folder / "data.csv"
    np.savetxt(data, x.astype(np.float32).astype(np.float64), delimiter=",", header="a,b,c", comments="",
               fmt="%.17g")
    out = {}
    for kind, args in FITS.items():
        path = folder / f"{kind}.ckpt"
        line = [*args, data, "--seed", "3", "-q"]
        result = invoke([*line, "-o", folder / f"{kind}.json", "--checkpoint", path, "--checkpoint-every", "1e-9"])
        assert result.exit_code == 0 and path.exists(), result.stderr
        out[kind] = (line, path)
    return folder, data, out


def _read(path):
    with np.load(path, allow_pickle=False) as archive:
        meta = json.loads(bytes(archive["__meta__"]).decode())
        arrays = {name: archive[name] for name in archive.files if name != "__meta__"}
    return meta, arrays


def _write(path, meta, arrays, *, resign: bool):
    if resign:
        meta["digest"] = checkpoint._digest(meta, arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    path.write_bytes(buffer.getvalue())


def _set(state, dotted, value):
    keys = dotted.split(".")
    for key in keys[:-1]:
        state = state[key]
    if value is DELETE:
        del state[keys[-1]]
    else:
        state[keys[-1]] = value


DELETE = object()

# kind -> (member of the state, crafted value): each must be refused by the loop's schema
CRAFTED = [
    ("gmm-cavi", "restart", 99),
    ("gmm-cavi", "restart", -1),
    ("gmm-cavi", "current.iteration", -5),
    ("gmm-cavi", "current.iteration", "5"),
    ("gmm-cavi", "current.iteration", 10**6),
    ("gmm-cavi", "current.neg_entropy", DELETE),
    ("gmm-cavi", "current.elbo", "high"),
    ("gmm-cavi", "best_status", "excellent"),
    ("gmm-cavi", "elbos", [1.0, 2.0, 3.0]),
    ("gmm-cavi", "current.rows", 0),
    ("gmm-cavi", "current.extra", 1),
    ("gmm-cavi", "current.trace", [[1, "x"]]),
    ("gmm-svi", "state.step", -1),
    ("gmm-svi", "state.lam", [[1.0]]),
    ("gmm-svi", "plateau.stale", "2"),
    ("gmm-svi", "plateau.injected", 1),
    ("gmm-svi", "rng", {"bit_generator": "PCG64", "state": "x"}),
    ("gmm-svi", "n_rows", -4),
    ("sgd", "epoch", 99),
    ("sgd", "epoch", -1),
    ("sgd", "best_epoch", 3.5),
    ("sgd", "optimizer.t", DELETE),
    ("sgd", "rng", {"bit_generator": "MT19937"}),
    ("sgd", "train_trace", []),
    ("sgd", "metric_trace", [[1, "x"]]),
    ("sgd", "best_loss", None),
    # members that must agree with the rest of the state (the loops' consistency checks)
    ("gmm-svi", "state.rows_seen", 7),
    ("gmm-svi", "state.step", 2),
    ("gmm-svi", "trace", []),
    ("gmm-svi", "trace", [[4, -1.0], [8, -2.0], [12, -3.0]]),
    ("sgd", "optimizer.t", 5),
    ("sgd", "best_loss", 0.5),
    ("sgd", "best_epoch", 0),
    ("sgd", "check", DELETE),
    ("sgd", "check.ahead", 1.0),
    ("sgd", "check.weights", "x"),
]


def _resume(made, kind, path):
    _, data, fits = made
    line, _ = fits[kind]
    return [*line, "--resume", path]


def _refused(code, stderr, out, case):
    lines = stderr.splitlines()
    assert code == 2, f"{case}: exit {code}: {stderr[-400:]}"
    assert len(lines) == 1 and len(lines[0]) < 400, f"{case}: {stderr[:600]}"
    assert "Traceback" not in stderr
    assert not out.exists(), case


@pytest.mark.parametrize("kind, member, value", CRAFTED, ids=[f"{k}:{m}={v!r}"[:60] for k, m, v in CRAFTED])
def test_crafted_state_is_refused(made, tmp_path, kind, member, value):
    meta, arrays = _read(made[2][kind][1])
    _set(meta["state"], member, value)
    crafted = tmp_path / "crafted.ckpt"
    _write(crafted, meta, arrays, resign=True)
    out = tmp_path / "out.json"
    result = invoke([*_resume(made, kind, crafted), "-o", out])
    _refused(result.exit_code, result.stderr, out, f"{kind} {member}")
    assert crafted.name in result.stderr


def test_swapped_arrays_and_edits_are_refused_as_such(made, tmp_path):
    """Swapping two same-shaped arrays (CAVI's lam and t) passes any shape check: the checksum sees it."""
    meta, arrays = _read(made[2]["gmm-cavi"][1])
    current = meta["state"]["current"]
    current["lam"], current["t"] = current["t"], current["lam"]
    crafted = tmp_path / "swapped.ckpt"
    _write(crafted, meta, arrays, resign=False)
    out = tmp_path / "out.json"
    done = run_subprocess([*_resume(made, "gmm-cavi", crafted), "-o", out])
    _refused(done.returncode, done.stderr.decode(), out, "swapped")
    assert "damaged or edited" in done.stderr.decode()
    for kind, member, value in [("gmm-cavi", "restart", 99), ("sgd", "epoch", -1), ("gmm-cavi", "current.iteration", "5")]:
        meta, arrays = _read(made[2][kind][1])
        _set(meta["state"], member, value)
        _write(crafted, meta, arrays, resign=False)
        done = run_subprocess([*_resume(made, kind, crafted), "-o", out])
        _refused(done.returncode, done.stderr.decode(), out, f"{kind} {member} unsigned")


def test_crafted_states_through_real_processes(made, tmp_path):
    out = tmp_path / "out.json"
    for kind, member, value in [CRAFTED[0], CRAFTED[3], CRAFTED[5], CRAFTED[16], CRAFTED[18], CRAFTED[22]]:
        meta, arrays = _read(made[2][kind][1])
        _set(meta["state"], member, value)
        crafted = tmp_path / "crafted.ckpt"
        _write(crafted, meta, arrays, resign=True)
        done = run_subprocess([*_resume(made, kind, crafted), "-o", out])
        _refused(done.returncode, done.stderr.decode(), out, f"{kind} {member}")


@pytest.mark.parametrize("kind", sorted(FITS))
def test_resuming_on_changed_values_is_refused(made, tmp_path, kind):
    """Same name, same shape, one value changed: the fingerprint differs (exit 2); unchanged: resumes."""
    _, data, _ = made
    copy = tmp_path / "data.csv"
    copy.write_bytes(data.read_bytes())
    line, path = [*FITS[kind], copy, "--seed", "3", "-q"], tmp_path / "fit.ckpt"
    result = invoke([*line, "-o", tmp_path / "first.json", "--checkpoint", path, "--checkpoint-every", "1e-9"])
    assert result.exit_code == 0 and path.exists(), result.stderr
    result = invoke([*line, "--resume", path, "-o", tmp_path / "same.json"])
    assert result.exit_code == 0, result.stderr
    text = copy.read_text().splitlines()
    row = text[5].split(",")
    row[1] = repr(float(row[1]) + 0.0625)
    text[5] = ",".join(row)
    copy.write_text("\n".join(text) + "\n")
    out = tmp_path / "out.json"
    done = run_subprocess([*line, "--resume", path, "-o", out])
    _refused(done.returncode, done.stderr.decode(), out, f"{kind} changed data")
    assert "values differ" in done.stderr.decode()


def test_checkpoint_naming_the_input_is_refused_before_writing(made, tmp_path):
    _, data, _ = made
    copy = tmp_path / "data.csv"
    copy.write_bytes(data.read_bytes())
    before = copy.read_bytes()
    link = tmp_path / "alias.ckpt"
    link.symlink_to(copy)
    for target in (copy, link):
        out = tmp_path / "out.json"
        done = run_subprocess(["gmm", copy, "--k", "2", "--seed", "1", "--checkpoint", target,
                               "--checkpoint-every", "1e-9", "-o", out])
        _refused(done.returncode, done.stderr.decode(), out, f"--checkpoint {target.name}")
        assert "is the input DATA" in done.stderr.decode()
        assert copy.read_bytes() == before


@pytest.mark.parametrize("kind", sorted(FITS))
def test_resigned_edits_of_the_arrays_are_refused(made, tmp_path, kind):
    """The checksum can be recomputed by anyone: a negated array, or two arrays of one shape
    swapped, re-signed, must still be refused (exit 2) by the loop's consistency check (CAVI:
    the factors must give back the state's statistics and ELBO; SVI: the factors must be in
    their domain and give back the trace's last exact ELBO; SGD: the weights, best weights and
    optimiser moments must give back the losses the snapshot recorded for them on a few rows),
    not fail in the maths (exit 1) nor resume silently to another result."""
    meta, arrays = _read(made[2][kind][1])
    edits = [(f"{name} negated", {name: -value}) for name, value in arrays.items()]
    names = sorted(arrays)
    edits += [(f"{a} and {b} swapped", {a: arrays[b], b: arrays[a]})
              for i, a in enumerate(names) for b in names[i + 1:]
              # equal arrays (two restarts that reached one optimum) swap to the same state
              if arrays[a].shape == arrays[b].shape and not np.allclose(arrays[a], arrays[b])]
    if kind != "gmm-svi":  # an SVI state (not memoized) holds one array, its factors lam
        assert any("swapped" in label for label, _ in edits)  # the run holds same-shaped arrays
    out = tmp_path / "out.json"
    for label, change in edits:
        crafted = tmp_path / "crafted.ckpt"
        _write(crafted, json.loads(json.dumps(meta)), {**arrays, **change}, resign=True)
        done = run_subprocess([*_resume(made, kind, crafted), "-o", out])
        _refused(done.returncode, done.stderr.decode(), out, f"{kind} {label}")
        assert crafted.name in done.stderr.decode(), f"{kind} {label}"


@pytest.mark.parametrize("kind", sorted(FITS))
def test_an_unchanged_early_checkpoint_resumes_to_the_uninterrupted_result(made, tmp_path, monkeypatch, kind):
    """The consistency checks leave a true state alone: the first checkpoint a fit wrote (after
    its first sweep or epoch), resumed, ends with the uninterrupted run's document."""
    line, _ = made[2][kind]
    reference = tmp_path / "reference.json"
    assert invoke([*line, "-o", reference]).exit_code == 0
    saved, save = [], checkpoint._Files.save

    def keep(kind_name, state):
        save(kind_name, state)
        saved.append(Path(checkpoint._settings.path).read_bytes())

    monkeypatch.setattr(checkpoint._Files, "save", staticmethod(keep))
    ckpt = tmp_path / "fit.ckpt"
    result = invoke([*line, "-o", tmp_path / "checkpointed.json", "--checkpoint", ckpt, "--checkpoint-every", "1e-9"])
    monkeypatch.undo()
    assert result.exit_code == 0 and len(saved) > 1, result.stderr
    early = tmp_path / "early.ckpt"
    early.write_bytes(saved[0])
    resumed = tmp_path / "resumed.json"
    result = invoke([*line, "--resume", early, "-o", resumed])
    assert result.exit_code == 0, result.stderr
    documents = [json.loads(path.read_text()) for path in (reference, tmp_path / "checkpointed.json", resumed)]
    for document in documents:
        document.pop("run")
    assert documents[0] == documents[1] == documents[2]
