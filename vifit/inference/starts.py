"""The screened start (``--init screened``, gmm's default): several k-means++ starts tried cheaply
on a uniform sample of rows, the best by ELBO continued on all rows.

One k-means++ start (``init.kmeanspp_centres``: greedy seeding, 2 + floor(ln K) candidates per
centre, then Lloyd sweeps) lands in a poor optimum with a probability that does not shrink with
N: on 2,000,000 rows of eight well-separated clusters it merged two of them for 3 seeds in 5
(issue 23). Here ``CANDIDATES`` such starts are drawn on a sample of max(``SCREEN_ROWS``,
``ROWS_PER_COMPONENT`` x K) rows (every row when there are fewer), each followed by at most
``SCREEN_SWEEPS`` CAVI sweeps on that sample; the candidate with the highest ELBO on the sample
wins, and its statistics, scaled from the sample to the rows they stand for, are the start of the fit on all rows. The same function starts CAVI (the rows in
memory or on a cluster's sample) and SVI (its initial sample), so the method does not change
which optimum the default start leads to. Costs O(CANDIDATES x SCREEN_ROWS) work per restart,
whatever N.
"""

from __future__ import annotations

import numpy as np

from vifit.inference import init
from vifit.models.mixture import Stats, Workspace, local_statistics

SCREEN_ROWS = 8192  # at least ROWS_PER_COMPONENT * K
ROWS_PER_COMPONENT = 256
CANDIDATES = 6
SCREEN_SWEEPS = 15
SCREEN_TOL = 1e-6
FEATURES_BYTES = 64 << 20  # T(x) of the sample kept across a candidate's sweeps up to this size


def uniform_sample(x: np.ndarray, weights, rng: np.random.Generator, rows: int = SCREEN_ROWS):
    """(rows (m, D), weights (m,) or None, scale): a uniform sample of x (n, D) and the factor from
    its statistics to those of all rows. Every row with its weight (scale 1, rng unused) when
    n <= rows; beyond, weighted rows are drawn in proportion to their weight, with replacement,
    each then counting once (a sample of the rows the weights stand for)."""
    n = x.shape[0]
    if n <= rows:
        return x, weights, 1.0
    if weights is None:
        picked = np.sort(rng.choice(n, size=rows, replace=False))
        return x[picked], None, n / rows
    total = float(weights.sum())
    picked = np.sort(rng.choice(n, size=rows, replace=True, p=weights / total))
    return x[picked], None, total / rows


def candidate_state(model, sample: np.ndarray, weights, rng: np.random.Generator, scale: float = 1.0,
                    workers: int = 1):
    """One k-means++ start on the sample, then at most SCREEN_SWEEPS CAVI sweeps there, the sample's
    statistics scaled by ``scale`` (all rows / sample rows) in each global step and in the bound, as
    SVI scales a minibatch: so the prior weighs as much against the sample as against all rows, and
    the candidates are ranked by an estimate of the full data's ELBO (unscaled, a small sample
    would favour fewer components). Returns cavi.State with the sample's own (unscaled) statistics."""
    from vifit.inference import cavi

    problem = cavi.Problem(model, sample, weights=weights, workers=workers)
    local_stats = _with_fixed_features(problem) or problem.local_stats
    try:
        stats = init.initial_stats(model, sample, problem.workspace, "kmeans++", rng, weights=weights)
        # the sweeps are written out rather than cavi.run's: an interrupt here must reach the caller
        # (cavi.run turns it into an "interrupted" status), and the fit's sweeps are only its own
        value = None
        for _ in range(SCREEN_SWEEPS + 1):
            lam = model.global_step(stats.t, scale)
            q = model.variational(lam)
            theta = model.coefficients(q)
            stats = local_stats(theta)
            new = model.elbo(q, Stats(stats.t * scale, stats.neg_entropy * scale, stats.rows), theta)
            if value is not None and abs(new - value) <= SCREEN_TOL * abs(new):
                value = new
                break
            value = new
    finally:
        problem.rows.close()
    return cavi.State(lam=lam, stats=stats, elbo=value)


def screened_stats(model, x: np.ndarray, ws: Workspace, rng: np.random.Generator, weights=None,
                   candidates: int = CANDIDATES, rows: int | None = None) -> Stats:
    """Statistics standing for all rows x (n, D) (weights (n,) or None) of the best of
    ``candidates`` screened k-means++ starts (see the module doc): the sample's statistics of its
    optimal responsibilities under the winner's factors, times n / sample rows. ws: unused (the
    init.initial_stats signature); rows: the sample's size (None: see the module doc)."""
    rows = max(SCREEN_ROWS, ROWS_PER_COMPONENT * model.k) if rows is None else rows
    sample, sample_weights, scale = uniform_sample(x, weights, rng, rows)
    best = None
    for _ in range(candidates):
        state = candidate_state(model, sample, sample_weights, rng, scale)
        if best is None or state.elbo > best.elbo:
            best = state
    stats = best.stats
    return Stats(stats.t * scale, stats.neg_entropy * scale, x.shape[0])


def _with_fixed_features(problem):
    """problem.local_stats with the sample's T(x) built once, not in every sweep (the sweeps on a
    sample are short: building T was ~40% of each), or None when the model's local step is not
    ``local_statistics`` of ``fill_features`` (a Gaussian with missing cells) or T would pass
    FEATURES_BYTES. The same chunks, buffers and order of sums as problem.local_stats (one
    thread): the same statistics, bit for bit."""
    model, x, w = problem.model, problem.x, problem.weights
    rows = problem.chunk_rows
    if not getattr(model, "fixed_features", False) or model.n_stats * x.shape[0] * 8 > FEATURES_BYTES:
        return None
    # per block of passes.RowPass, its chunks: (T in the workspace's layout (p, chunk_rows), their weights)
    blocks = [[(model.fill_features(x[start:min(start + rows, hi)], np.empty((model.n_stats, rows))),
                None if w is None else w[start:min(start + rows, hi)]) for start in range(lo, hi, rows)]
              for lo, hi in problem.rows.blocks]

    def local_stats(theta: np.ndarray) -> Stats:
        total = Stats.zeros(model)
        for chunks in blocks:  # as RowPass sums: chunks within a block, then blocks
            block = Stats.zeros(model)
            for features, weights in chunks:
                block = block + local_statistics(theta, features, problem.workspace, weights)
            total = total + block
        return total

    return local_stats

