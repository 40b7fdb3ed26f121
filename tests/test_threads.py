"""The thread policy: decided from the environment at the command edge (vifit.threads), passed
to the row passes as a number (inference.passes.default_workers reads no environment)."""

from __future__ import annotations

from vifit import threads
from vifit.inference.passes import MAX_WORKERS, default_workers


def _clear(monkeypatch):
    for var in (*threads.BLAS_VARIABLES, threads.PINNED_MARK):
        monkeypatch.delenv(var, raising=False)


def test_default_workers_takes_the_count_it_is_given(monkeypatch):
    _clear(monkeypatch)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # not read here: only the argument counts
    assert default_workers(1) == 1
    assert default_workers(100) == MAX_WORKERS
    assert default_workers(None) == default_workers(0) >= 1


def test_requested_threads_skips_vifits_own_blas_pin(monkeypatch):
    _clear(monkeypatch)
    assert threads.requested_threads() is None
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert threads.requested_threads() == 1  # the user's setting
    monkeypatch.setenv(threads.PINNED_MARK, "1")
    assert threads.requested_threads() is None  # vifit gmm's pin, not the user's
    monkeypatch.setenv("MKL_NUM_THREADS", "2")
    assert threads.requested_threads() == 2 and threads.row_threads() == 2
