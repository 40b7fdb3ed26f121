"""Requests sized by the user's numbers: refused before allocating when they cannot fit,
streamed when they need no memory proportional to the request, and wide tables with a
diagonal covariance in memory linear in the columns.

Every run is a real subprocess under an address-space limit, so a regression fails the
test instead of taking the machine down."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT

LIMIT = 4 << 30


def run_limited(args, limit=LIMIT, timeout=240, wrapper=None):
    """``python -m vifit args`` under RLIMIT_AS = limit; CompletedProcess (text)."""

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")  # BLAS threads' stacks would count against the limit
    command = [sys.executable, "-m", "vifit"] if wrapper is None else [sys.executable, "-c", wrapper]
    return subprocess.run([*command, *[str(a) for a in args]], capture_output=True, text=True, cwd=ROOT, env=env,
                          preexec_fn=cap, timeout=timeout)


def write_csv(path, x):
    header = ",".join(f"c{j}" for j in range(x.shape[1]))
    np.savetxt(path, x, delimiter=",", header=header, comments="")
    return path


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    rng = np.random.default_rng(0)
    rows = np.vstack([rng.normal(size=(1000, 3)), rng.normal(size=(1000, 3)) + 4.0])
    return {"rows": write_csv(folder / "rows.csv", rows),
            "wide": write_csv(folder / "wide.csv", rng.normal(size=(10, 5000)))}


REFUSALS = [
    ("rows", ["gmm", "--k", "100000000", "--init", "random-resp"], "--k 100000000"),
    ("rows", ["gmm", "--restarts", "1000000000"], "--restarts 1000000000"),
    ("rows", ["gmm", "--restarts", "1000000000", "--method", "svi"], "--restarts 1000000000"),
    ("wide", ["gmm"], "--covariance diag"),
    ("wide", ["gmm", "--method", "svi"], "--covariance diag"),
    ("rows", ["autoencoder", "--hidden", "100000,100000"], "--hidden 100000,100000"),
    ("rows", ["vae", "--hidden", "100000,100000"], "--hidden 100000,100000"),
    ("rows", ["vae", "--latent", "100000000"], "--latent 100000000"),
    ("rows", ["vae", "--iwae-samples", "1000000000"], "--iwae-samples 1000000000"),
    ("rows", ["vae", "--samples", "1000000"], "--samples 1000000"),
]


@pytest.mark.parametrize("table, args, named", REFUSALS, ids=[" ".join(a) for _, a, _ in REFUSALS])
def test_impossible_requests_are_refused_with_the_estimate(tables, tmp_path, table, args, named):
    output = tmp_path / "out.json"
    done = run_limited([args[0], tables[table], *args[1:], "--seed", 1, "-o", output])
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and named in lines[0], lines
    assert "would need" in lines[0] and "available" in lines[0]
    assert not output.exists()


def test_many_components_fit_in_chunks_sized_by_k():
    from vifit.inference.passes import RESP_VALUES, auto_chunk_rows
    from vifit.models import gmm

    assert auto_chunk_rows(gmm.Spec(3, 4)) == 16384  # small K: the row cap (T would be 15 x 34,952 rows)
    for k in (2000, 100000, 10**7):
        assert 1 <= auto_chunk_rows(gmm.Spec(k, 3)) * k <= max(RESP_VALUES, k)


def test_restart_seeds_are_spawned_one_at_a_time_as_spawn_would():
    from vifit.inference.init import SpawnedSeeds

    lazy = list(SpawnedSeeds(np.random.SeedSequence(7), 5))
    eager = np.random.SeedSequence(7).spawn(5)
    assert len(SpawnedSeeds(np.random.SeedSequence(7), 10**12)) == 10**12  # nothing is built up front
    assert [s.generate_state(4).tolist() for s in lazy] == [s.generate_state(4).tolist() for s in eager]


@pytest.mark.parametrize("method", ["cavi", "svi"])
def test_chunk_rows_above_the_rows_is_clamped_and_recorded(tables, tmp_path, method):
    big, exact = tmp_path / "big.json", tmp_path / "exact.json"
    common = ["gmm", tables["rows"], "--method", method, "--seed", 3]
    done = run_limited([*common, "--chunk-rows", 10**9, "-o", big])
    assert done.returncode == 0, done.stderr
    assert "--chunk-rows 1000000000 is more than the 2000 rows; using 2000" in done.stderr
    assert run_limited([*common, "--chunk-rows", 2000, "-o", exact]).returncode == 0
    fit_big, fit_exact = (json.loads(p.read_text()) for p in (big, exact))
    assert fit_big["fit"]["chunk_rows"] == 2000
    assert fit_big["params"] == fit_exact["params"]


@pytest.mark.parametrize("method", ["cavi", "svi"])
def test_wide_diag_fits_in_memory_linear_in_the_columns(tables, tmp_path, method):
    output = tmp_path / "wide.json"
    # a d x d float64 matrix alone is 200 MB; the old diag fit peaked at 3.2 GB
    done = run_limited(["gmm", tables["wide"], "--covariance", "diag", "--method", method, "--seed", 1, "-q",
                        "-o", output], limit=1 << 30)
    assert done.returncode == 0, done.stderr
    summary = json.loads(output.read_text())["params"]["summary"]
    assert np.asarray(summary["covariances"]).shape == (2, 5000)
    assert np.isfinite(np.asarray(summary["covariances"])).all()


def test_diag_fit_recovers_known_per_feature_variances(tmp_path):
    rng = np.random.default_rng(5)
    d, n = 40, 1500
    means = np.stack([np.zeros(d), np.full(d, 6.0)])
    sds = np.stack([np.linspace(0.5, 2.0, d), np.linspace(2.0, 0.5, d)])
    labels = rng.integers(2, size=n)
    x = means[labels] + sds[labels] * rng.normal(size=(n, d))
    output = tmp_path / "diag.json"
    done = run_limited(["gmm", write_csv(tmp_path / "x.csv", x), "--covariance", "diag", "--seed", 2, "-q",
                        "-o", output])
    assert done.returncode == 0, done.stderr
    summary = json.loads(output.read_text())["params"]["summary"]
    order = np.argsort(np.asarray(summary["means"])[:, 0])
    np.testing.assert_allclose(np.asarray(summary["means"])[order], means, atol=0.25)
    np.testing.assert_allclose(np.sqrt(np.asarray(summary["covariances"])[order]), sds, rtol=0.12)
    np.testing.assert_allclose(np.sort(summary["weights"]), np.sort(np.bincount(labels) / n), atol=0.02)


PEAK = """
import resource, runpy, sys
sys.argv = ["vifit", *sys.argv[1:]]
try:
    runpy.run_module("vifit", run_name="__main__")
finally:
    print("peak-kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def _peak_kb(done) -> int:
    return int([line for line in done.stderr.splitlines() if line.startswith("peak-kb")][0].split()[1])


def test_sample_streams_rows_in_chunks(tables, tmp_path):
    model = tmp_path / "pca.json"
    assert run_limited(["pca", tables["rows"], "--k", 1, "-q", "-o", model]).returncode == 0
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    first = run_limited(["sample", model, "-n", 100000, "--seed", 1, "-o", small], wrapper=PEAK)
    second = run_limited(["sample", model, "-n", 500000, "--seed", 1, "-o", large], wrapper=PEAK)
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    lines = large.read_text().splitlines()
    assert len(lines) == 500001 and lines[0] == "c0,c1,c2" and lines.count("c0,c1,c2") == 1
    from vifit.commands.sample import CHUNK_ROWS

    full_chunks = 1 + CHUNK_ROWS * (100000 // CHUNK_ROWS)  # the same full chunks, drawn in the same order
    assert lines[:full_chunks] == small.read_text().splitlines()[:full_chunks]
    # both runs write several chunks; holding the whole text would grow the peak by more than the
    # extra rows' size
    grown = (_peak_kb(second) - _peak_kb(first)) * 1024
    assert grown < (large.stat().st_size - small.stat().st_size) / 2


def test_sample_to_a_device_writes_in_place(tables, tmp_path):
    model = tmp_path / "pca.json"
    assert run_limited(["pca", tables["rows"], "--k", 1, "-q", "-o", model]).returncode == 0
    done = run_limited(["sample", model, "-n", 200000, "--seed", 1, "-o", os.devnull], limit=1 << 30)
    assert done.returncode == 0, done.stderr
    assert not os.path.isfile(os.devnull)  # still the device, not a file renamed over it


def test_diagonal_moments_are_the_full_moments_diagonal():
    from vifit.models.gmm import Spec
    from vifit.models.gmm_moments import MomentAccumulator

    rng = np.random.default_rng(3)
    blocks = [rng.normal(size=(m, 6)) * np.arange(1, 7) + 5.0 for m in (7, 1, 30)]
    full, diagonal = MomentAccumulator(6), MomentAccumulator(6, full=False)
    for block in blocks:
        full.add(block)
        diagonal.add(block)
    other = MomentAccumulator(6, full=False)
    other.add(blocks[0])
    merged = MomentAccumulator(6, full=False)
    for block in blocks[1:]:
        merged.add(block)
    other.merge(merged)
    expected = full.moments(Spec(2, 6, "full"))
    for accumulator in (diagonal, other):
        got = accumulator.moments(Spec(2, 6, "diag"))
        np.testing.assert_allclose(got.cov, np.diag(expected.cov), rtol=1e-12)
        np.testing.assert_allclose(got.std, expected.std, rtol=1e-12)
        np.testing.assert_allclose(got.mean, expected.mean, rtol=1e-12)
