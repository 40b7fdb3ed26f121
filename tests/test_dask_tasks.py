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
    chunked = tasks.moments(x)
    assert chunked.n == 50
    np.testing.assert_allclose(chunked.mean, whole.mean, rtol=1e-13)
    np.testing.assert_allclose(chunked.scatter, whole.scatter, rtol=1e-12)
    np.testing.assert_array_equal(chunked.low, x.min(axis=0))
    np.testing.assert_array_equal(chunked.high, x.max(axis=0))
    mean, scale = x.mean(axis=0), x.std(axis=0)
    out = tasks.standardize(x, mean, scale)
    np.testing.assert_array_equal(out, (x - mean) / scale)
    assert out.flags.c_contiguous and not np.shares_memory(out, x)
