"""CAVI over partitions: the loop of ``inference/cavi.py`` with the local pass on the workers.

:class:`DaskProblem` is a ``cavi.Problem`` whose rows are :class:`Partitions`; it overrides
the two hooks that touch rows. ``local_stats`` maps the model's local step (chunk by chunk)
over the partitions and tree-sums the ``Stats``; the global step, the ELBO, restarts,
interrupts and checkpoints run on the client unchanged, so the fit is the single-machine
fit up to the order of floating-point additions.

Initialisation never brings all rows to the client. ``screened`` (``inference.starts``) screens
its candidates on that sample and scales the winner's statistics to all rows, as ``--method svi``
does with its own sample. ``kmeans++`` and ``random`` run on a
uniform sample of about ``SAMPLE_ROWS`` rows drawn on the workers (each partition samples
a share proportional to its size, without replacement, from a seed spawned from the
restart's generator), then the hard assignment to the centres is summed over partitions.
With at most ``SAMPLE_ROWS`` rows the sample is every row in order and the restart's
generator is used exactly as the single-machine fit uses it, so both start from the same
centres. ``random-resp`` draws each partition's responsibilities from its own spawned seed.
Given initial responsibilities (``resp0``, (n, k) or (n,) labels) are split by partition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vifit.distributed import tasks
from vifit.distributed.partitions import Partitions, sample_sizes
from vifit.inference import cavi
from vifit.inference import init as initialisation
from vifit.models.mixture import Stats

SAMPLE_ROWS = 65536  # as many as --method svi initialises from


@dataclass
class DaskProblem(cavi.Problem):
    """A CAVI problem whose rows x (and row pass) are :class:`Partitions` on a cluster."""

    sample_rows: int = SAMPLE_ROWS

    @property
    def partitions(self) -> Partitions:
        return self.rows

    weight_total: float | None = None  # N of the bound with --row-weights (the weights' sum), else the rows

    @property
    def total_weight(self) -> float:
        return self.n_rows if self.weight_total is None else self.weight_total

    @property
    def weighted(self) -> bool:
        return self.weight_total is not None

    def local_stats(self, theta: np.ndarray) -> Stats:
        return self.partitions.map_sum(tasks.local_stats, self.model, theta, self.chunk_rows, self.partitions.weighted)

    def initial_stats(self, init: str, rng: np.random.Generator, resp0=None) -> Stats:
        parts, model, weighted = self.partitions, self.model, self.partitions.weighted
        if resp0 is not None:
            bounds = zip(parts.offsets[:-1], parts.offsets[1:])
            pieces = parts.client.scatter([np.asarray(resp0[a:b]) for a, b in bounds])
            return parts.tree_sum([parts.submit(tasks.resp_stats, x, model, piece, self.chunk_rows, weighted)
                                   for x, piece in zip(parts.futures, pieces)])
        if init == "random-resp":
            seeds = spawn(rng, len(parts))
            return parts.tree_sum([parts.submit(tasks.random_resp_stats, x, model, seed, self.chunk_rows, weighted)
                                   for x, seed in zip(parts.futures, seeds)])
        sample, w = tasks.split(self.sample(rng), weighted)
        if init == "screened":  # the statistics stand for the sample's rows: scaled to all rows
            stats = initialisation.initial_stats(model, sample, self.workspace, init, rng, weights=w)
            scale = self.n_rows / sample.shape[0]
            return Stats(stats.t * scale, stats.neg_entropy * scale, self.n_rows)
        if init == "kmeans++":
            centres = initialisation.kmeanspp_centres(model, sample, self.workspace, rng, w)
            centres = initialisation.lloyd(model, sample, self.workspace, centres, weights=w)
        elif init == "random":  # as the local start draws them: rows of weight 0 are never centres
            rows = (rng.choice(sample.shape[0], size=model.k, replace=False) if w is None else
                    rng.choice(np.flatnonzero(w > 0), size=model.k, replace=int((w > 0).sum()) < model.k))
            centres = model.embed(sample[np.sort(rows)], self.workspace.features[1:1 + model.embed_dim]).T.copy()
        else:
            raise ValueError(f"unknown init {init!r}")
        return parts.map_sum(tasks.hard_stats, model, centres, self.chunk_rows, weighted)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        return sample_rows(self.partitions, rng, self.sample_rows)

    def move_sample(self):
        """The moves' sample (``inference.moves.strided_sample``): every s-th row of each partition."""
        from vifit.inference.moves import MOVE_ROWS

        parts = self.partitions
        stride = max(1, -(-self.n_rows // MOVE_ROWS))
        pieces = parts.gather([parts.submit(tasks.strided, x, stride) for x in parts.futures])
        rows, weights = tasks.split(np.ascontiguousarray(np.concatenate(pieces, axis=0), dtype=np.float64),
                                    parts.weighted)
        if weights is None:
            return np.ascontiguousarray(rows), None, self.n_rows / rows.shape[0]
        held = float(weights.sum())  # as strided_sample scales a weighted sample: weight to weight
        return np.ascontiguousarray(rows), weights, (self.weight_total / held) if held > 0 else 1.0


def sample_rows(parts: Partitions, rng: np.random.Generator, rows: int = SAMPLE_ROWS) -> np.ndarray:
    """About ``rows`` rows (s, d) drawn uniformly on the workers, in partition order: each partition
    its share, without replacement, from a seed spawned from rng; every row (rng unused) when n <= rows."""
    sizes = sample_sizes(parts.lengths, rows)
    if sizes == parts.lengths:  # every row: no draw, so rng stays as the local fit has it
        futures = [parts.submit(tasks.sample, x, size, None) for x, size in zip(parts.futures, sizes)]
    else:
        futures = [parts.submit(tasks.sample, x, size, seed)
                   for x, size, seed in zip(parts.futures, sizes, spawn(rng, len(parts)))]
    return np.ascontiguousarray(np.concatenate(parts.gather(futures), axis=0))


def spawn(rng: np.random.Generator, count: int) -> list:
    """count independent seeds (SeedSequence children) drawn from rng."""
    return np.random.SeedSequence(int(rng.integers(2**63))).spawn(count)
