"""``distributed.tasks`` that walk a partition in chunks give what the whole array gives."""

from __future__ import annotations

import numpy as np

from vifit.distributed import tasks
from vifit.models.gmm_moments import MomentAccumulator


def test_chunked_moments_and_standardize_equal_the_whole_array_ones(monkeypatch):
    monkeypatch.setattr(tasks, "CHUNK_ROWS", 7)
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(50, 4))
    whole = MomentAccumulator(4)
    whole.add(x)
    observed = tasks.moments(x)
    chunked = observed.complete  # no missing cell: the rows stay in a MomentAccumulator
    assert observed.n == chunked.n == 50 and not observed.has_missing
    np.testing.assert_allclose(chunked.mean, whole.mean, rtol=1e-13)
    np.testing.assert_allclose(chunked.scatter, whole.scatter, rtol=1e-12)
    np.testing.assert_array_equal(chunked.low, x.min(axis=0))
    np.testing.assert_array_equal(chunked.high, x.max(axis=0))
    mean, scale = x.mean(axis=0), x.std(axis=0)
    out = tasks.standardize(x, mean, scale)
    np.testing.assert_array_equal(out, (x - mean) / scale)
    assert out.flags.c_contiguous and not np.shares_memory(out, x)


def test_a_partition_with_missing_cells_and_weights_gives_the_in_memory_moments(monkeypatch):
    """tasks.moments of a weighted partition with NaN cells, chunked and merged as the client
    merges partitions, is gmm_prior.data_moments of the whole table (observed cells, weights)."""
    from vifit.models.gmm import Spec
    from vifit.models.gmm_observed import ObservedMomentAccumulator
    from vifit.models.gmm_prior import data_moments

    monkeypatch.setattr(tasks, "CHUNK_ROWS", 7)
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, size=(90, 3))
    x[rng.random(x.shape) < 0.2] = np.nan
    w = rng.integers(0, 3, size=90).astype(float)
    parts = [np.column_stack([x[a:b], w[a:b]]) for a, b in ((0, 20), (20, 55), (55, 90))]
    total = ObservedMomentAccumulator(3)
    for part in parts:
        total.merge(tasks.moments(part, weighted=True))
    spec = Spec(2, 3, "full", "dirichlet")
    whole, got = data_moments(spec, x, weights=w), total.moments(spec)
    assert got.n == w.sum()
    np.testing.assert_allclose(got.mean, whole.mean, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(got.cov), np.asarray(whole.cov), rtol=1e-10, atol=1e-13)
    rows, weights = tasks.split(parts[1], True)
    assert rows.shape == (35, 3) and np.array_equal(weights, w[20:55])
    out = tasks.standardize(parts[1], np.zeros(3), np.full(3, 2.0), weighted=True)
    np.testing.assert_array_equal(out[:, 3], w[20:55])  # the weight column is not scaled
    np.testing.assert_array_equal(out[:, :3], x[20:55] / 2.0)
