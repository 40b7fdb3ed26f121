"""Split and merge moves after convergence (``--moves split-merge``, gmm's default), on the
mixture protocol.

CAVI stops at a local optimum; the usual bad one on well-separated clusters is a *merged
pair* (one component over two clusters) with a *split one* (two components over one
cluster). bnpy's merge and birth moves are the anchor: a merge sums the statistics of two
components, a split sends the rows of one component on one side of its principal axis to a
free component. K is fixed here, so a split needs a free component: one left (nearly) empty,
or the one a merge frees in the same move (Ueda et al.'s split-and-merge EM). A merge alone
empties a component; it is proposed only for ``dp`` weights, whose K is a truncation: with
``dirichlet`` or ``uniform`` weights K is the number of components asked for, and a merge
alone would raise the bound by the complexity it saves (on iris, K = 3, it empties one).

Every proposal is scored in closed form on a deterministic sample of rows (every s-th row,
at most ``MOVE_ROWS``): the statistics of the edited responsibilities, scaled to all rows, give
q by one global step and the bound of that (q, r) pair (for a merge, the entropy of the summed
responsibilities is added up on the sample). The split candidates are the components whose
rows are least Gaussian along their principal axis (Sarle's bimodality coefficient
(skewness^2 + 1) / kurtosis of the projections: 1/3 for a Gaussian, towards 1 for two separated
modes). The best proposal whose sample bound rises is tried on all rows: its statistics scaled
to all rows give the factors, a local pass and at most ``TRIAL_SWEEPS`` CAVI sweeps give its
exact ELBO, and the move is kept only when that ELBO is higher than the converged one (the
sweeps then continue to convergence). Rounds repeat until no proposal rises on the sample, or
the best one fails the exact test, or ``MAX_ROUNDS``. Nothing is random: the same converged
state always gets the same moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vifit.models.mixture import Stats, Workspace, responsibilities_into

MOVE_ROWS = 16384
TRIAL_SWEEPS = 5
MAX_ROUNDS = 16
NEIGHBOURS = 3  # merge partners tried per component: the nearest means in the embedding
SPLIT_CANDIDATES = 2  # components tried for a split: the least Gaussian along their principal axis
EMPTY = 0.5  # a component with fewer sample rows (weight) than this is free
EXACT_AXES = 64  # principal axes from each component's e x e scatter up to this embedding size
POWER_SWEEPS = 30  # beyond it, power iterations over the sample


@dataclass
class Proposal:
    """An edit of the sample's statistics: kind, the components named (their fitted indices,
    before sorting), t (p, k) on the sample and its neg_entropy, the sample bound it scores."""

    kind: str
    components: tuple
    t: np.ndarray
    neg_entropy: float
    score: float = -np.inf


def strided_sample(x: np.ndarray, weights, rows: int = MOVE_ROWS):
    """(every s-th row of x (n, D), their weights or None, scale to all rows), s = ceil(n / rows)."""
    stride = max(1, -(-x.shape[0] // rows))
    sample = x[::stride]
    if weights is None:
        return sample, None, x.shape[0] / sample.shape[0]
    picked = weights[::stride]
    held = float(picked.sum())
    return sample, picked, (float(weights.sum()) / held) if held > 0 else 1.0


def _sample_pass(model, theta: np.ndarray, x: np.ndarray, weights, chunk_rows: int):
    """Over the sample x (m, D) in chunks: yield (features T (p, rows), resp (k, rows), z (e, rows),
    w (rows,) or None) under coefficients theta (k, p); the arrays are reused between chunks."""
    ws = Workspace(model, max(1, min(chunk_rows, x.shape[0])))
    z_buffer = np.empty((model.embed_dim, ws.chunk_rows))
    for start in range(0, x.shape[0], ws.chunk_rows):
        stop = min(start + ws.chunk_rows, x.shape[0])
        rows = x[start:stop]
        features = model.fill_features(rows, ws.features)
        resp, lse = ws.logits[:, :stop - start], ws.lse[:stop - start]
        responsibilities_into(theta, features, resp, lse)
        z = model.embed(rows, z_buffer)
        yield features, resp, z, None if weights is None else weights[start:stop]


def _weighted(resp: np.ndarray, w) -> np.ndarray:
    return resp if w is None else resp * w


def _plogp(r: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r > 0, r * np.log(np.where(r > 0, r, 1.0)), 0.0)


def bound(model, t: np.ndarray, neg_entropy: float) -> float:
    """The bound of responsibilities with statistics t (p, k) and their optimal q (one global step)."""
    lam = model.global_step(t)
    return float(model.elbo(model.variational(lam), Stats(t, neg_entropy, 0)))


def proposals(model, lam: np.ndarray, x: np.ndarray, weights, chunk_rows: int, scale: float = 1.0) -> list:
    """Every merge, split and merge-plus-split proposal of the factors lam (p, k) on the sample
    x (m, D), scored (the bound it reaches minus the current responsibilities', the sample's
    statistics scaled by ``scale`` to all rows so the prior weighs as on all rows), best first."""
    k, e = model.k, model.embed_dim
    theta = model.coefficients(model.variational(lam))
    t = np.zeros((model.n_stats, k))
    neg_entropy = 0.0
    exact = e <= EXACT_AXES
    mass, first = np.zeros(k), np.zeros((k, e))
    second = np.zeros((k, e, e)) if exact else None
    for features, resp, z, w in _sample_pass(model, theta, x, weights, chunk_rows):
        rw = _weighted(resp, w)
        t += features @ rw.T
        neg_entropy += float((_plogp(resp) if w is None else _plogp(resp) * w).sum())
        mass += rw.sum(axis=1)
        first += rw @ z.T
        if exact:
            for j in range(k):
                second[j] += (z * rw[j]) @ z.T
    current = bound(model, t * scale, neg_entropy * scale)
    held = mass > EMPTY
    means = first / np.maximum(mass, 1e-300)[:, None]
    pairs = _merge_pairs(means, held)
    if exact:
        axes = _principal_axes(second, first, mass, held)
    else:  # a d x d scatter per component would not fit (5,000 columns: 200 MB each)
        axes = _power_axes(model, theta, x, weights, chunk_rows, means, mass, held)
    # second pass: the merged pairs' entropies, the projections' moments and each split's lower half
    merged_plogp = np.zeros(len(pairs))
    powers = np.zeros((k, 5))  # sum r u^j, j = 0..4
    lower = np.zeros((model.n_stats, k))  # statistics of each component's rows with u <= 0
    offsets = np.einsum("ke,ke->k", axes, means)
    for features, resp, z, w in _sample_pass(model, theta, x, weights, chunk_rows):
        rw = _weighted(resp, w)
        own = _plogp(resp)  # (k, rows), once for every pair
        for index, (a, b) in enumerate(pairs):
            gained = _plogp(resp[a] + resp[b]) - own[a] - own[b]
            merged_plogp[index] += float(gained.sum() if w is None else gained @ w)
        u = axes @ z - offsets[:, None]
        term = rw.copy()  # r u^j by products: numpy's u ** 3 and u ** 4 call pow() per value, 10x slower
        for j in range(5):
            powers[:, j] += term.sum(axis=1)
            if j < 4:
                term *= u
        lower += features @ (rw * (u <= 0)).T
    merges = []
    for index, (a, b) in enumerate(pairs):
        merged = t.copy()
        merged[:, a] += merged[:, b]
        merged[:, b] = 0.0
        merges.append(Proposal("merge", (a, b), merged, neg_entropy + merged_plogp[index]))
    # K is the number of components asked for, except for dp (a truncation): there a merge alone,
    # which empties a component, is a move; otherwise only a merge whose freed component a split fills
    found = list(merges) if model.weights == "dp" else []
    free = [int(j) for j in np.flatnonzero(~held)]
    for c in _split_candidates(powers, mass, held, e):
        for f in free:
            found.append(Proposal("split", (c, f), _split(t, lower, c, f), neg_entropy))
        for index, (a, b) in enumerate(pairs):
            if c not in (a, b):
                merged = merges[index]
                found.append(Proposal("merge+split", (a, b, c), _split(merged.t, lower, c, b), merged.neg_entropy))
    for proposal in found:
        proposal.score = bound(model, proposal.t * scale, min(proposal.neg_entropy, 0.0) * scale) - current
    found.sort(key=lambda proposal: -proposal.score)
    return found


def _split(t: np.ndarray, lower: np.ndarray, c: int, f: int) -> np.ndarray:
    """t (p, k) with the rows of component c on the low side of its axis sent to component f."""
    out = t.copy()
    out[:, c] -= lower[:, c]
    out[:, f] += lower[:, c]
    return out


def _merge_pairs(means: np.ndarray, held: np.ndarray) -> list:
    """(a, b) pairs, a < b, of held components: each one's NEIGHBOURS nearest means."""
    index = np.flatnonzero(held)
    if index.size < 2:
        return []
    d2 = ((means[index, None, :] - means[None, index, :]) ** 2).sum(axis=2)
    np.fill_diagonal(d2, np.inf)
    pairs = set()
    for row, a in enumerate(index):
        for col in np.argsort(d2[row], kind="stable")[:NEIGHBOURS]:
            if np.isfinite(d2[row, col]):
                pairs.add((int(min(a, index[col])), int(max(a, index[col]))))
    return sorted(pairs)


def _principal_axes(second: np.ndarray, first: np.ndarray, mass: np.ndarray, held: np.ndarray) -> np.ndarray:
    """(k, e) unit principal axes of each component's weighted scatter in the embedding (0 when not held)."""
    axes = np.zeros(first.shape)
    for j in np.flatnonzero(held):
        mean = first[j] / mass[j]
        scatter = second[j] / mass[j] - np.outer(mean, mean)
        _, vectors = np.linalg.eigh(scatter)
        axes[j] = vectors[:, -1]
    return axes


def _power_axes(model, theta, x, weights, chunk_rows: int, means: np.ndarray, mass: np.ndarray,
                held: np.ndarray) -> np.ndarray:
    """(k, e) principal axes by POWER_SWEEPS power iterations over the sample, S v computed as
    sum_i r_i (z_i - m) ((z_i - m) . v) without forming S; from a fixed start (nothing random)."""
    k, e = means.shape
    axes = np.ones((k, e)) / np.sqrt(e)
    for _ in range(POWER_SWEEPS):
        product = np.zeros((k, e))
        offsets = np.einsum("ke,ke->k", axes, means)
        for _, resp, z, w in _sample_pass(model, theta, x, weights, chunk_rows):
            weighted_u = _weighted(resp, w) * (axes @ z - offsets[:, None])  # (k, rows)
            product += weighted_u @ z.T - weighted_u.sum(axis=1)[:, None] * means
        norms = np.linalg.norm(product, axis=1)
        axes = np.where((norms > 0)[:, None], product / np.where(norms > 0, norms, 1.0)[:, None], axes)
    axes[~held] = 0.0
    return axes


def _split_candidates(powers: np.ndarray, mass: np.ndarray, held: np.ndarray, e: int) -> list:
    """The SPLIT_CANDIDATES held components with at least 2 (e + 1) sample rows whose projections on
    their principal axis have the largest bimodality coefficient (skew^2 + 1) / kurtosis."""
    scores = np.full(mass.shape, -np.inf)
    for j in np.flatnonzero(held & (mass >= 2 * (e + 1))):
        m = powers[j] / powers[j, 0]
        variance = m[2] - m[1] ** 2
        if not variance > 0:
            continue
        centred3 = m[3] - 3 * m[1] * m[2] + 2 * m[1] ** 3
        centred4 = m[4] - 4 * m[1] * m[3] + 6 * m[1] ** 2 * m[2] - 3 * m[1] ** 4
        scores[j] = ((centred3 / variance ** 1.5) ** 2 + 1.0) / (centred4 / variance ** 2)
    order = [int(j) for j in np.argsort(-scores, kind="stable") if np.isfinite(scores[j])]
    return order[:SPLIT_CANDIDATES]


def improve(problem, state, *, tol: float, max_iter: int, reporter=None, policy=None):
    """Moves from a converged CAVI state (``cavi.State`` of ``problem``, a ``cavi.Problem``) until
    none helps: (state, status, accepted moves [{move, sweep, elbo_before, elbo_after}], the ELBOs
    in data units, sweep the first of the move's). status is that of the last run of sweeps
    ("converged" when no move was kept); the returned state's ELBO is never below the given one."""
    from vifit.inference import cavi

    policy = policy or cavi.DEFAULT
    x, weights, scale = problem.move_sample()
    accepted, status = [], "converged"
    for _ in range(MAX_ROUNDS):
        if policy.should_stop() or state.iteration >= max_iter:
            break
        found = [p for p in proposals(problem.model, state.lam, x, weights, problem.chunk_rows, scale)
                 if p.score > 0]
        if not found:
            break
        best = found[0]
        lam = problem.model.global_step(best.t, scale)
        stats, value = cavi.local_pass(problem, lam)
        sweep = state.iteration + 1
        trial = cavi.State(lam=lam, stats=stats, elbo=value, iteration=sweep,
                           trace=state.trace + [(sweep, problem.data_units(value))])
        trial, trial_status = cavi.run(problem, trial, tol=tol, max_iter=min(max_iter, sweep + TRIAL_SWEEPS),
                                       policy=policy)
        if not trial.elbo > state.elbo + cavi.decrease_allowance(problem, state.elbo):
            status = "interrupted" if trial_status == "interrupted" else status
            break
        if trial_status == "max_iter" and trial.iteration < max_iter:  # still rising: on to convergence
            if reporter is not None:
                reporter.start(f"{problem.model.kind} cavi, after a {best.kind} move", total=max_iter, metric="elbo",
                               unit="sweep", eta=False)
            trial, trial_status = cavi.run(problem, trial, tol=tol, max_iter=max_iter, reporter=reporter,
                                           policy=policy)
            if reporter is not None:
                reporter.finish(trial_status)
        accepted.append({"move": best.kind, "sweep": sweep, "elbo_before": problem.data_units(state.elbo),
                         "elbo_after": problem.data_units(trial.elbo)})
        if reporter is not None:
            reporter.note(f"{best.kind} move kept at sweep {sweep}: ELBO {accepted[-1]['elbo_before']:.10g} -> "
                          f"{accepted[-1]['elbo_after']:.10g}")
        state, status = trial, trial_status
        if status != "converged":
            break
    return state, status, accepted
