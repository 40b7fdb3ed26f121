"""SVI and memoized VB over partitions: each partition is one minibatch.

:class:`DaskSviProblem` is an ``svi.Problem`` whose source is :class:`Partitions`; it overrides
the three hooks that touch rows, so ``svi.run`` (steps, step sizes, the plateau test, the
exact ELBO once per epoch, checkpoints) runs on the client unchanged. A step sends the
coefficients to the worker holding the step's partition and receives its statistics; an epoch
visits the partitions in an order permuted by the run's generator (memoized: the same order
every epoch, so each partition keeps its memo slot); the exact ELBO is a tree sum over all
partitions. ``--batch-size`` is replaced by the partition size (a note says so): to take
smaller steps, write smaller files or, for plain CSV, let them be split in more blocks.
The prior, frame and initial sample come from the workers as for CAVI (``distributed.cavi``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from vifit.distributed import tasks
from vifit.distributed.cavi import SAMPLE_ROWS, sample_rows
from vifit.inference import svi
from vifit.models import gmm
from vifit.models.gmm_model import GaussianMixture
from vifit.models.mixture import Stats, Workspace


class PartitionBatch:
    """A minibatch that stays on its worker: the partition's future and its row count."""

    def __init__(self, future, rows: int):
        self.future, self.shape = future, (int(rows),)


@dataclass
class DaskSviProblem(svi.Problem):
    """An SVI problem whose source is :class:`Partitions` on a cluster."""

    def batches(self, batch_size: int, rng: np.random.Generator):
        parts = self.source
        return [PartitionBatch(parts.futures[i], parts.lengths[i])
                for i in rng.permutation(len(parts)) if parts.lengths[i]]

    def batch_statistics(self, theta: np.ndarray, batch) -> Stats:
        return self.source.result(self.source.submit(tasks.local_stats, batch.future, self.model, theta,
                                                     self.chunk_rows, self.source.weighted))

    def pass_statistics(self, theta: np.ndarray) -> Stats:
        return self.source.map_sum(tasks.local_stats, self.model, theta, self.chunk_rows, self.source.weighted)


def fit(table, *, seed: int, reporter, settings: svi.Settings, k: int, covariance: str = "full",
        weights: str = "dirichlet", init: str = "screened", moves: str = "split-merge", restarts: int = 1,
        chunk_rows: int | None = None, policy=None, **prior_options):
    """``api.gmm_svi.fit`` with the partitions as minibatches; the same output document."""
    from vifit.api import gmm_fit
    from vifit.api.gmm_svi import after_moves, run_restarts, svi_result
    from vifit.inference.policy import DEFAULT

    parts = table.partitions
    n, d = parts.shape
    gmm_fit.check_k([k], n, init)
    spec = gmm.Spec(k, d, covariance, weights)
    batch = math.ceil(n / len(parts))
    reporter.note(f"--backend dask: each of the {len(parts)} partitions is a minibatch (about {batch} rows); "
                  f"--batch-size is not used")
    settings = replace(settings, batch_size=batch)
    moments = gmm_fit.accumulated_moments(spec, table.accumulator, table.columns, table.source)
    prior, prior_document = gmm_fit.resolve_prior(spec, moments, prior_options, reporter.note, table.columns)
    frame = moments.frame
    accumulator = table.accumulator
    model = GaussianMixture(spec, gmm.to_frame(prior, spec, frame), frame, accumulator.has_missing)
    problem = DaskSviProblem(model, parts, chunk_rows=chunk_rows,
                             weight_total=float(accumulator.n) if parts.weighted else None,
                             jacobian_total=model.cells_log_jacobian(accumulator.observed)
                             if accumulator.has_missing else None)
    children = np.random.SeedSequence(int(seed)).spawn(restarts + 1)
    sample = sample_rows(parts, np.random.default_rng(children[0]), SAMPLE_ROWS)
    sample_ws = Workspace(spec, max(1, min(problem.chunk_rows, sample.shape[0])))
    method = "memoized" if settings.memoized else "svi"
    total = len(parts) * settings.epochs
    if settings.max_iter is not None:
        total = min(total, settings.max_iter)
    best, best_index, elbos = run_restarts(problem, settings, reporter, sample=sample, sample_ws=sample_ws,
                                           init=init, seeds=children[1:], scale=n / sample.shape[0],
                                           n_rows=n, total=total, method=method, policy=policy or DEFAULT)
    best, kept = after_moves(problem, best, moves, sample=sample, scale=n / sample.shape[0], tol=settings.tol,
                             reporter=reporter, policy=policy or DEFAULT, name=table.source, elbos=elbos,
                             best_index=best_index)
    document = svi_result(spec, prior, prior_document, problem, best, settings, method, init, restarts, best_index,
                       elbos, table, kept)
    document.fit_extra.update(backend="dask", partitions=len(parts), workers=parts.workers)
    return document
