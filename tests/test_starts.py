"""Issue 23: the screened start and the split-merge moves on 2,000,000 rows of eight equal,
well-separated, anisotropic Gaussians (centres ~ N(0, 6^2 I), covariances A A^T with
A = I + 0.4 N(0, 1)), at D = 3 for time. On these rows the old default (one k-means++ start,
``--init kmeans++``) merges two clusters and splits another; the new default finds all eight.

The fits are shared between tests (module fixtures): each runs once.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from vifit import GMM

N, D, K = 2_000_000, 3, 8
SEEDS = range(5)
SCORED = slice(0, 250_000)  # ARI on the first 250,000 rows (a uniform sample): predict on 2,000,000 takes ~10 s


DATA_SEED = 9  # at D = 3 some draws of the centres overlap (true-parameter ARI 0.96 for seed 0); this one does not
OLD_SEED = 2  # the first --seed whose old start merges two clusters of these rows (seeds 0 and 1 do not)


def make_mixture(n: int = N, d: int = D, k: int = K, seed: int = DATA_SEED):
    """(x (n, d), labels (n,), centres (k, d), covariances (k, d, d)) of the issue's mixture."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 6.0, size=(k, d))
    mixing = np.eye(d) + 0.4 * rng.standard_normal((k, d, d))
    labels = rng.integers(k, size=n)
    x = rng.standard_normal((n, d))
    for j in range(k):
        rows = labels == j
        x[rows] = x[rows] @ mixing[j].T + centres[j]
    return x, labels, centres, mixing @ np.transpose(mixing, (0, 2, 1))


@pytest.fixture(scope="module")
def mixture():
    return make_mixture()


@pytest.fixture(scope="module")
def old_start(mixture):
    """The old default start alone (--init kmeans++ --moves none): the merge to show."""
    x, _, _, _ = mixture
    return GMM(k=K, init="kmeans++", moves="none", seed=OLD_SEED).fit(x)


@pytest.fixture(scope="module")
def defaults(mixture):
    """The default (screened start, split-merge moves) for every seed."""
    x, _, _, _ = mixture
    return {seed: GMM(k=K, seed=seed).fit(x) for seed in SEEDS}


def ari(fitted, x: np.ndarray, labels: np.ndarray) -> float:
    return adjusted_rand_score(labels[SCORED], fitted.predict(x[SCORED]))


def truth_weights(labels: np.ndarray) -> np.ndarray:
    return np.sort(np.bincount(labels, minlength=K) / labels.size)[::-1]


def test_the_truth_is_recoverable(mixture):
    """The generating parameters classify the rows almost perfectly (so ARI >= 0.99 is a fair bar)."""
    from scipy.stats import multivariate_normal

    x, labels, centres, covariances = mixture
    log_density = np.column_stack([multivariate_normal(centres[j], covariances[j]).logpdf(x[SCORED])
                                   for j in range(K)])
    assert adjusted_rand_score(labels[SCORED], log_density.argmax(axis=1)) > 0.995


def test_the_old_start_merges_two_clusters(mixture, old_start):
    x, labels, _, _ = mixture
    assert old_start.converged_
    assert old_start.weights_.max() > 0.2  # two clusters under one component
    assert ari(old_start, x, labels) < 0.95


@pytest.mark.parametrize("seed", SEEDS)
def test_the_default_finds_every_cluster(mixture, defaults, seed):
    x, labels, _, _ = mixture
    fitted = defaults[seed]
    assert fitted.converged_
    assert np.abs(np.sort(fitted.weights_)[::-1] - truth_weights(labels)).max() <= 0.01
    assert ari(fitted, x, labels) >= 0.99


def test_moves_escape_the_merged_pair_and_never_lower_the_elbo(mixture, old_start):
    """From the old start, the moves find all eight clusters; the run up to convergence is the
    start alone's, sweep for sweep, and every ELBO after it is higher."""
    x, labels, _, _ = mixture
    moved = GMM(k=K, init="kmeans++", seed=OLD_SEED).fit(x)
    before, after = old_start.document_["fit"], moved.document_["fit"]
    assert after["trace"][:len(before["trace"])] == before["trace"]
    assert after["moves"] and after["moves"][0]["elbo_before"] == before["elbo"]
    assert after["moves"][0]["sweep"] == before["n_iter"] + 1
    later = [value for _, value in after["trace"][len(before["trace"]):]]
    assert min(later) > before["elbo"]
    for move in after["moves"]:
        assert move["elbo_after"] > move["elbo_before"]
    assert moved.elbo_ - old_start.elbo_ > 0.01 * abs(old_start.elbo_)  # not a round-off gain
    assert ari(moved, x, labels) >= 0.99
    assert np.abs(np.sort(moved.weights_)[::-1] - truth_weights(labels)).max() <= 0.01


def test_moves_none_is_the_start_alone(mixture, defaults):
    """--moves none gives the fit of the start alone: when the default kept no move, the two
    documents are the same bytes apart from config.moves (and the empty fit.moves)."""
    from vifit.output import render_json

    x, _, _, _ = mixture
    seed = next(seed for seed in SEEDS if defaults[seed].document_["fit"]["moves"] == [])
    alone = GMM(k=K, moves="none", seed=seed).fit(x).document_
    with_moves = dict(defaults[seed].document_)
    assert alone["config"]["moves"] == "none" and with_moves["config"]["moves"] == "split-merge"
    assert "moves" not in alone["fit"]
    for block in ("params", "data"):
        assert render_json(alone[block]) == render_json(with_moves[block])
    fit = {key: value for key, value in with_moves["fit"].items() if key != "moves"}
    assert render_json(alone["fit"]) == render_json(fit)


def test_svi_and_cavi_defaults_reach_the_same_optimum(mixture, defaults):
    x, labels, _, _ = mixture
    svi = GMM(k=K, method="svi", seed=0).fit(x)
    cavi = defaults[0]
    assert abs(svi.elbo_ - cavi.elbo_) <= 1e-3 * abs(cavi.elbo_)
    assert np.abs(np.sort(svi.weights_)[::-1] - truth_weights(labels)).max() <= 0.01


def test_an_svi_file_refits_with_its_moves(tmp_path):
    """An SVI document records its --moves (split-merge by default: tests/test_svi_moves.py) and
    loads back into an estimator that fits again with it."""
    import vifit
    from conftest import invoke

    x, _, _, _ = make_mixture(n=3000)
    data = tmp_path / "rows.csv"
    np.savetxt(data, x, delimiter=",", header="a,b,c", comments="", fmt="%.17g")
    model = tmp_path / "svi.json"
    assert invoke(["gmm", data, "--k", K, "--method", "svi", "--seed", 0, "-q", "-o", model]).exit_code == 0
    loaded = vifit.load(model)
    assert loaded.document_["config"]["moves"] == "split-merge"
    assert loaded.fit(x).document_["config"]["moves"] == "split-merge"


def test_an_interrupt_while_screening_is_not_swallowed(monkeypatch):
    """A Ctrl-C during the candidates' sweeps reaches the caller (it ends the run, exit 130),
    rather than ending one candidate early and the fit going on."""
    from vifit.inference import starts

    calls = []
    real = starts.local_statistics  # the candidates' sweeps on their sample's T(x), built once

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 3:  # in the candidates' sweeps on the sample (the fit's first pass comes after them)
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(starts, "local_statistics", interrupted)
    x, _, _, _ = make_mixture(n=3000)
    with pytest.raises(KeyboardInterrupt):
        GMM(k=K, seed=0).fit(x)


@pytest.mark.parametrize("weights", ["dp", "dirichlet"])
def test_a_merge_alone_only_with_dp_weights(weights):
    """Two clusters, K = 3, started with one cluster cut in two halves: CAVI keeps the halves.
    With dp weights (K a truncation) a merge alone is kept: the bound rises and one component is
    left empty; with dirichlet weights (K components asked for) it is not proposed."""
    from vifit.api import gmm_fit
    from vifit.data import Table
    from vifit.progress import Reporter

    rng = np.random.default_rng(0)
    n = 4000
    labels = rng.integers(2, size=n)
    x = np.array([[-5.0, 0.0], [5.0, 0.0]])[labels] + rng.standard_normal((n, 2))
    halves = np.where(labels == 0, 0, np.where(x[:, 1] > 0, 1, 2))
    table = Table(values=x, columns=["a", "b"], source="rows")
    fits = {moves: gmm_fit.fit(table, seed=0, reporter=Reporter(mode="none"), k=3, weights=weights, resp0=halves,
                               moves=moves) for moves in ("none", "split-merge")}
    assert fits["none"].fit_extra["effective_components"] == 3  # the halves stay apart without moves
    kept = fits["split-merge"].fit_extra["moves"]
    if weights == "dp":
        assert [move["move"] for move in kept] == ["merge"]
        assert fits["split-merge"].fit_extra["effective_components"] == 2
        assert fits["split-merge"].elbo > fits["none"].elbo + 1.0
        weights_kept = np.asarray(fits["split-merge"].params["summary"]["weights"])[:2]
        assert np.abs(np.sort(weights_kept) - np.sort(np.bincount(labels) / n)).max() < 0.01
    else:
        assert kept == [] and fits["split-merge"].elbo == fits["none"].elbo


@pytest.mark.parametrize("kind", ["gaussian", "product", "gaussian-missing"])
def test_the_candidates_sweeps_with_t_built_once_are_the_same_bits(monkeypatch, kind):
    """The screening builds the sample's T(x) once per candidate (inference.starts: the same
    chunks, buffers and order of sums as cavi.Problem.local_stats): the candidates, and so the
    start, are bit for bit those of building T in every sweep. A Gaussian with missing cells has
    another local step, and keeps it."""
    from families_helpers import build, mixed_table
    from gmm_helpers import problem_for
    from vifit.inference import cavi, starts
    from vifit.models import gmm

    rng = np.random.default_rng(5)
    if kind == "product":
        x, _, spec, _ = mixed_table(20000, rng)
        model = build(x, spec)
    else:
        x, _, _, _ = make_mixture(n=20000)
        if kind == "gaussian-missing":
            x = x.copy()
            x[rng.random(x.shape) < 0.01] = np.nan
        model = problem_for(gmm.Spec(K, D, "full", "dirichlet"), np.nan_to_num(x), chunk_rows=3000).model
        if kind == "gaussian-missing":
            from vifit.models.gmm_model import GaussianMixture

            model = GaussianMixture(model.spec, model.prior, model.frame, True)
    sample, weights, scale = starts.uniform_sample(x, None, np.random.default_rng(1), 6000)
    once = starts.candidate_state(model, sample, weights, np.random.default_rng(2), scale)
    assert (starts._feature_blocks(cavi.Problem(model, sample)) is None) == (kind == "gaussian-missing")
    monkeypatch.setattr(starts, "_feature_blocks", lambda problem: None)
    every = starts.candidate_state(model, sample, weights, np.random.default_rng(2), scale)
    assert np.array_equal(once.lam, every.lam) and once.elbo == every.elbo
    assert np.array_equal(once.stats.t, every.stats.t) and once.stats.neg_entropy == every.stats.neg_entropy


def _sample_model(n: int = 8192):
    """A Gaussian mixture model of the test mixture's first n rows (a screening-sized sample)."""
    from gmm_helpers import problem_for
    from vifit.models import gmm

    x, _, _, _ = make_mixture(n=n)
    return problem_for(gmm.Spec(K, D, "full", "dirichlet"), x).model, x


def test_kmeans_plus_plus_on_a_held_sample_picks_the_rows_streaming_picks():
    """The screening keeps its sample's embedding and each row's nearest-centre distance between
    rounds (init.kmeanspp_centres(held=...)); from the same seed it must pick the same rows as
    the streamed seeding, which recomputes every distance from the rows in each round, and Lloyd
    and the one-hot statistics must agree with theirs."""
    from vifit.inference import init, starts
    from vifit.models.mixture import Workspace

    model, x = _sample_model()
    ws = Workspace(model, 2048)
    screen = starts.Screen(model, x, None)
    try:
        held = screen.embedded
        for seed in range(3):
            streamed = init.kmeanspp_centres(model, x, ws, np.random.default_rng(seed))
            kept = init.kmeanspp_centres(model, x, ws, np.random.default_rng(seed), held=held)
            assert np.array_equal(streamed, kept)  # rows of the data: the same rows, the same numbers
            refined = init.lloyd(model, x, ws, streamed, sweeps=5)
            assert np.allclose(init.lloyd(model, x, ws, kept, sweeps=5, held=held), refined, rtol=1e-12, atol=1e-12)
            direct = init.hard_assignment_stats(model, x, ws, refined)
            shared = screen.hard_assignment_stats(refined)
            assert np.allclose(shared.t, direct.t, rtol=1e-12, atol=1e-9) and shared.neg_entropy == direct.neg_entropy == 0.0
            assert shared.rows == direct.rows == x.shape[0]
    finally:
        screen.close()


def test_a_candidate_stops_early_only_when_it_cannot_win(monkeypatch):
    """Stopping a candidate that cannot reach the best ELBO so far (starts._out_of_reach) saves its
    sweeps and changes nothing: the screening with the early stop gives the same winner, to the
    bit, as the screening that runs every candidate to SCREEN_SWEEPS or convergence; and the
    rule stops only a candidate whose every remaining sweep would have to gain more than
    OUT_OF_REACH_FACTOR times its last gain."""
    from vifit.inference import starts
    from vifit.models.mixture import Workspace

    assert not starts._out_of_reach(-100.0, 10.0, 6, -90.0)  # 6 sweeps of 2 x 10 reach -90
    assert starts._out_of_reach(-100.0, 0.5, 6, -90.0)
    assert not starts._out_of_reach(-100.0, 0.5, 6, None)  # the first candidate runs in full
    x, _, _, _ = make_mixture(n=200_000)
    model, _ = _sample_model()
    ws = Workspace(model, 2048)
    sweeps = []
    real_local = starts.Screen.__init__

    def counting_init(self, *args, **kwargs):
        real_local(self, *args, **kwargs)
        inner = self.local_stats

        def counted(theta):
            sweeps.append(1)
            return inner(theta)

        self.local_stats = counted

    monkeypatch.setattr(starts.Screen, "__init__", counting_init)
    saved = []
    for seed in range(3):
        sweeps.clear()
        early = starts.screened_stats(model, x, ws, np.random.default_rng(seed))
        with_stop = len(sweeps)
        with monkeypatch.context() as patched:
            patched.setattr(starts, "_out_of_reach", lambda *args: False)
            sweeps.clear()
            full = starts.screened_stats(model, x, ws, np.random.default_rng(seed))
        assert np.array_equal(early.t, full.t) and early.neg_entropy == full.neg_entropy
        saved.append(len(sweeps) - with_stop)
    assert min(saved) >= 0 and max(saved) > 0  # the stop did cut some losing candidate short
