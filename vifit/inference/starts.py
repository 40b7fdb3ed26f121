"""The screened start (``--init screened``, gmm's default): several k-means++ starts tried cheaply
on a uniform sample of rows, the best by ELBO continued on all rows.

One k-means++ start (``init.kmeanspp_centres``: greedy seeding, 2 + floor(ln K) candidates per
centre, then Lloyd sweeps) lands in a poor optimum with a probability that does not shrink with
N: on 2,000,000 rows of eight well-separated clusters it merged two of them for 3 seeds in 5
(issue 23). Here ``CANDIDATES`` such starts are drawn on a sample of max(``SCREEN_ROWS``,
``ROWS_PER_COMPONENT`` x K) rows (every row when there are fewer), each with at most
``SCREEN_LLOYD_SWEEPS`` Lloyd sweeps and then at most ``SCREEN_SWEEPS`` CAVI sweeps on that
sample; the candidate with the highest ELBO on the sample wins, and its statistics, scaled from
the sample to the rows they stand for, are the start of the fit on all rows. A candidate whose
sweeps could not lift it to the best one's ELBO stops early (``_out_of_reach``). The candidates
share the sample's embedding and its T(x), built once (``Screen``). The same function starts
CAVI (the rows in memory or on a cluster's sample) and SVI (its initial sample), so the method
does not change which optimum the default start leads to. Costs O(CANDIDATES x SCREEN_ROWS)
work per restart, whatever N.
"""

from __future__ import annotations

import numpy as np

from vifit.inference import init
from vifit.models.mixture import Stats, Workspace, local_statistics

SCREEN_ROWS = 8192  # at least ROWS_PER_COMPONENT * K
ROWS_PER_COMPONENT = 256
CANDIDATES = 6
SCREEN_SWEEPS = 15
# Lloyd sweeps only place a candidate's centres; its CAVI sweeps refine them (20 instead of 5 cost a
# third of the screening on the benchmark's rows and left every candidate's optimum the same)
SCREEN_LLOYD_SWEEPS = 5
SCREEN_TOL = 1e-6
OUT_OF_REACH_FACTOR = 2.0  # the margin on a losing candidate's gains before its sweeps stop
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


class Screen:
    """What every candidate of one screening shares, prepared once: the cavi.Problem of the sample
    rows (m, D) with their weights, its local step (on the sample's T(x) built once, when the
    model allows: ``_feature_blocks``), and the rows' embedding (e, m) for k-means++ and Lloyd
    (when it fits in FEATURES_BYTES). Close it when done (the problem's row threads)."""

    def __init__(self, model, sample: np.ndarray, weights, workers: int = 1):
        from vifit.inference import cavi

        self.model, self.sample, self.weights = model, sample, weights
        self.problem = cavi.Problem(model, sample, weights=weights, workers=workers)
        self.blocks = _feature_blocks(self.problem)
        self.local_stats = _summed_over(self.problem, self.blocks) if self.blocks else self.problem.local_stats
        rows, e = sample.shape[0], model.embed_dim
        self.embedded = model.embed(sample, np.empty((e, rows))) if e * rows * 8 <= FEATURES_BYTES else None

    def hard_assignment_stats(self, centres: np.ndarray) -> Stats:
        """Statistics of one-hot responsibilities of the sample's rows to their nearest centre of
        centres (k, e) (first on ties), as ``init.hard_assignment_stats`` gives them."""
        model, ws = self.model, self.problem.workspace
        if self.blocks is None or self.embedded is None:
            return init.hard_assignment_stats(model, self.sample, ws, centres, self.weights)
        labels = np.argmin(init.squared_distances(self.embedded, centres), axis=0)
        total = Stats.zeros(model)
        start = 0
        for chunks in self.blocks:
            for features, weights in chunks:
                stop = start + features.shape[1]
                resp = np.zeros((model.k, stop - start))
                resp[labels[start:stop], np.arange(stop - start)] = 1.0
                # given_statistics without its sum of r log r: 0 for one-hot rows
                t = features @ (resp if weights is None else resp * weights).T
                total = total + Stats(t, 0.0, stop - start)
                start = stop
        return total

    def close(self) -> None:
        self.problem.rows.close()


def candidate_state(model, sample: np.ndarray, weights, rng: np.random.Generator, scale: float = 1.0,
                    workers: int = 1, screen: Screen | None = None, to_beat: float | None = None):
    """One k-means++ start on the sample, then at most SCREEN_SWEEPS CAVI sweeps there, the sample's
    statistics scaled by ``scale`` (all rows / sample rows) in each global step and in the bound, as
    SVI scales a minibatch: so the prior weighs as much against the sample as against all rows, and
    the candidates are ranked by an estimate of the full data's ELBO (unscaled, a small sample
    would favour fewer components). screen: the sample prepared (None: prepared here). to_beat:
    the best candidate's ELBO so far; the sweeps stop early once this one cannot reach it (see
    ``_out_of_reach``). Returns cavi.State with the sample's own (unscaled) statistics."""
    from vifit.inference import cavi

    own = screen is None
    screen = Screen(model, sample, weights, workers) if own else screen
    try:
        ws, held = screen.problem.workspace, screen.embedded
        centres = init.lloyd(model, sample, ws, init.kmeanspp_centres(model, sample, ws, rng, weights, held=held),
                             sweeps=SCREEN_LLOYD_SWEEPS, weights=weights, held=held)
        stats = screen.hard_assignment_stats(centres)
        # the sweeps are written out rather than cavi.run's: an interrupt here must reach the caller
        # (cavi.run turns it into an "interrupted" status), and the fit's sweeps are only its own
        value = None
        for sweep in range(SCREEN_SWEEPS + 1):
            lam = model.global_step(stats.t, scale)
            q = model.variational(lam)
            theta = model.coefficients(q)
            stats = screen.local_stats(theta)
            new = model.elbo(q, Stats(stats.t * scale, stats.neg_entropy * scale, stats.rows), theta)
            if value is not None and (abs(new - value) <= SCREEN_TOL * abs(new)
                                      or _out_of_reach(new, new - value, SCREEN_SWEEPS - sweep, to_beat)):
                value = new
                break
            value = new
    finally:
        if own:
            screen.close()
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
    screen = Screen(model, sample, sample_weights)
    try:
        for _ in range(candidates):
            state = candidate_state(model, sample, sample_weights, rng, scale, screen=screen,
                                    to_beat=None if best is None else best.elbo)
            if best is None or state.elbo > best.elbo:
                best = state
    finally:
        screen.close()
    stats = best.stats
    return Stats(stats.t * scale, stats.neg_entropy * scale, x.shape[0])


def _out_of_reach(value: float, gain: float, sweeps_left: int, to_beat: float | None) -> bool:
    """Whether a candidate at ``value`` that rose by ``gain`` in its last sweep stays below ``to_beat``
    even if each of its ``sweeps_left`` sweeps gained OUT_OF_REACH_FACTOR times as much. CAVI's
    gains shrink as it nears an optimum, so such a candidate loses the screening anyway; on the
    benchmark's well-separated clusters the merged candidates climbed a few hundred nats a sweep
    with 200,000 to go, and ran all SCREEN_SWEEPS sweeps for nothing."""
    return to_beat is not None and value + OUT_OF_REACH_FACTOR * max(gain, 0.0) * sweeps_left < to_beat


def _feature_blocks(problem):
    """The sample's T(x) built once, not in every sweep (the sweeps on a sample are short: building
    T was ~40% of each): per block of passes.RowPass, its chunks as (T in the workspace's layout
    (p, chunk_rows), their weights); None when the model's local step is not ``local_statistics``
    of ``fill_features`` (a Gaussian with missing cells) or T would pass FEATURES_BYTES."""
    model, x, w = problem.model, problem.x, problem.weights
    rows = problem.chunk_rows
    if not getattr(model, "fixed_features", False) or model.n_stats * x.shape[0] * 8 > FEATURES_BYTES:
        return None
    return [[(model.fill_features(x[start:min(start + rows, hi)], np.empty((model.n_stats, rows))),
              None if w is None else w[start:min(start + rows, hi)]) for start in range(lo, hi, rows)]
            for lo, hi in problem.rows.blocks]


def _summed_over(problem, blocks):
    """problem.local_stats on the T(x) blocks of ``_feature_blocks``: the same chunks, buffers and
    order of sums as problem.local_stats (one thread), so the same statistics, bit for bit."""
    model = problem.model

    def local_stats(theta: np.ndarray) -> Stats:
        total = Stats.zeros(model)
        for chunks in blocks:  # as RowPass sums: chunks within a block, then blocks
            block = Stats.zeros(model)
            for features, weights in chunks:
                block = block + local_statistics(theta, features, problem.workspace, weights)
            total = total + block
        return total

    return local_stats

