"""The GMM mathematics against oracles: hand-derived notes' updates, scikit-learn's
BayesianGaussianMixture, ELBO monotonicity, frame equivariance, additivity of statistics."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import digamma

from conftest import STRICT
from gmm_helpers import blobs, posterior, problem_for, sklearn_prior
from vifit.inference import cavi
from vifit.models import gmm
from vifit.models.gmm_elbo import elbo as elbo_of
from vifit.models.gmm_prior import build_prior


@pytest.fixture(autouse=True)
def strict_elbo(monkeypatch):
    monkeypatch.setenv("VIFIT_STRICT_ELBO", "1")


# ---------------------------------------------------------------- the notes' model


def test_notes_updates_match_hand_derivation_on_five_points():
    """One CAVI sweep of the notes' model (D = 1, sigma = 1, uniform weights) equals
    Blei et al. (2017) Algorithm 2 written out by hand."""
    x = np.array([-2.1, -1.7, 0.3, 2.2, 2.9])
    tau, m, s2 = 2.0, np.array([-1.0, 1.5]), np.array([0.5, 0.8])
    # hand-derived: psi_ik = x_i m_k - (s2_k + m_k^2)/2; phi = softmax; then
    # s2_k = 1/(1/tau^2 + sum_i phi_ik); m_k = s2_k sum_i phi_ik x_i
    psi = np.array([[xi * mk - 0.5 * (sk + mk**2) for mk, sk in zip(m, s2)] for xi in x])
    phi = np.exp(psi - psi.max(axis=1, keepdims=True))
    phi /= phi.sum(axis=1, keepdims=True)
    s2_new = np.array([1.0 / (1.0 / tau**2 + phi[:, k].sum()) for k in range(2)])
    m_new = np.array([s2_new[k] * (phi[:, k] * x).sum() for k in range(2)])

    spec = gmm.Spec(2, 1, "known", "uniform")
    prior = build_prior(spec, weight_concentration=1.0, mean=np.zeros(1), sigma=1.0, tau=tau)
    q = gmm.Variational(counts=np.zeros(2), weight_concentration=None, mean_precision=1.0 / s2,
                        means=m[:, None], dof=np.zeros(2), scale_inv=None)
    theta = gmm.log_resp_coefficients(prior, q)
    frame, ws = gmm.Frame.identity(1), gmm.Workspace(spec, 8)
    resp, _ = gmm.responsibilities(spec, theta, x[:, None], frame, ws)
    np.testing.assert_allclose(resp, phi, rtol=1e-12, atol=1e-15)
    stats = gmm.local_step(spec, theta, x[:, None], frame, ws)
    updated = gmm.variational(prior, gmm.global_step(prior, stats.t))
    np.testing.assert_allclose(1.0 / updated.mean_precision, s2_new, rtol=1e-12)  # sigma = 1
    np.testing.assert_allclose(updated.means[:, 0], m_new, rtol=1e-12)


# ---------------------------------------------------------------- scikit-learn oracle


def _sklearn_class():
    from sklearn.mixture import BayesianGaussianMixture

    class FromResp(BayesianGaussianMixture):
        """scikit-learn's BGMM started from given responsibilities."""

        resp0 = None

        def _initialize_parameters(self, X, random_state, xp=None):
            self._initialize(X, self.resp0)

    class ExactLogDet(FromResp):
        """... with E[log|Lambda|] of the diag / spherical Gamma posteriors (scikit-learn uses the
        Wishart formula sum_i digamma((nu - i)/2) there, which is not the expectation under its own
        q; everything else -- M-step, weights, means, quadratic term -- is scikit-learn's code)."""

        def _estimate_log_prob(self, X, xp=None):
            nu, beta, cov = self.degrees_of_freedom_, self.mean_precision_, self.covariances_
            d = X.shape[1]
            if self.covariance_type == "diag":
                e_log_det = d * digamma(nu / 2) + d * np.log(2) - np.log(nu[:, None] * cov).sum(1)
                quad = ((X[:, None, :] - self.means_[None]) ** 2 / cov[None]).sum(-1)
            else:
                e_log_det = d * (digamma(d * nu / 2) - np.log(d * nu * cov / 2))
                quad = ((X[:, None, :] - self.means_[None]) ** 2).sum(-1) / cov[None]
            return -0.5 * d * np.log(2 * np.pi) + 0.5 * e_log_det - 0.5 * (d / beta + quad)

    return FromResp, ExactLogDet


def _compare(q: gmm.Variational, sk, spec: gmm.Spec, tol=1e-6):
    wc = np.column_stack(sk.weight_concentration_) if spec.weights == "dp" else sk.weight_concentration_
    dof = {"full": q.dof[:, None, None], "diag": q.dof[:, None], "spherical": q.dof}[spec.covariance]
    np.testing.assert_allclose(q.weight_concentration, wc, rtol=tol, atol=tol)
    np.testing.assert_allclose(q.mean_precision, sk.mean_precision_, rtol=tol, atol=tol)
    np.testing.assert_allclose(q.means, sk.means_, rtol=tol, atol=tol)
    np.testing.assert_allclose(q.dof, sk.degrees_of_freedom_, rtol=tol, atol=tol)
    np.testing.assert_allclose(q.scale_inv / dof, sk.covariances_, rtol=tol, atol=tol)


@pytest.mark.parametrize("covariance", ["full", "diag", "spherical"])
@pytest.mark.parametrize("weights", ["dirichlet", "dp"])
def test_posterior_matches_sklearn_after_same_iterations(sample_data, covariance, weights):
    import pandas as pd

    x = pd.read_csv(sample_data / "iris.csv").iloc[:, :4].to_numpy()
    k, iterations = 3, 12
    rng = np.random.default_rng(7)
    resp0 = rng.random((x.shape[0], k))
    resp0 /= resp0.sum(axis=1, keepdims=True)
    spec = gmm.Spec(k, 4, covariance, weights)
    problem = problem_for(spec, x, sklearn_prior(spec, x), chunk_rows=37)  # several chunks, a ragged last one
    result = cavi.fit(problem, seed=0, resp0=resp0, tol=0.0, max_iter=iterations, sort=False,
                      policy=STRICT)
    assert result.state.iteration == iterations
    FromResp, ExactLogDet = _sklearn_class()
    cls = FromResp if covariance == "full" else ExactLogDet
    sk = cls(n_components=k, covariance_type=covariance, reg_covar=0.0, tol=0.0, max_iter=iterations,
             weight_concentration_prior_type="dirichlet_process" if weights == "dp" else "dirichlet_distribution")
    sk.resp0 = resp0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk.fit(x)
    _compare(posterior(problem, result.state.lam), sk, spec)

    # the first global step equals unmodified scikit-learn's M-step for every covariance kind
    plain = FromResp(n_components=k, covariance_type=covariance, reg_covar=0.0,
                     weight_concentration_prior_type=sk.weight_concentration_prior_type)
    plain._check_parameters(x)
    plain._initialize(x, resp0)
    stats0 = cavi.initial_stats(problem.model, x, problem.workspace, "random-resp", None, resp0)
    _compare(posterior(problem, gmm.global_step(problem.model.prior, stats0.t)), plain, spec)


# ---------------------------------------------------------------- monotone ELBO


def _fit_sweeps(covariance, weights, x, k, seed, init="random-resp", sweeps=25):
    spec = gmm.Spec(k, x.shape[1], covariance, weights)
    problem = problem_for(spec, x, chunk_rows=16)
    state = cavi.initial_state(problem, init, np.random.default_rng(seed))
    values = [state.elbo]
    for _ in range(sweeps):
        state = cavi.step(problem, state)
        values.append(state.elbo)
    return problem, state, np.array(values)


@pytest.mark.parametrize("covariance", gmm.COVARIANCES)
@pytest.mark.parametrize("weights", gmm.WEIGHTS)
def test_elbo_never_decreases_every_combination(covariance, weights):
    x = blobs(60, 2, 3, seed=3)
    _, _, values = _fit_sweeps(covariance, weights, x, 4, seed=1)
    assert np.all(np.diff(values) >= -1e-9 * np.abs(values[1:]))


@settings(max_examples=40, deadline=None)
@given(covariance=st.sampled_from(gmm.COVARIANCES), weights=st.sampled_from(gmm.WEIGHTS),
       n=st.integers(3, 40), d=st.integers(1, 3), k=st.integers(1, 5), seed=st.integers(0, 2**16),
       log_scale=st.floats(-3, 3), duplicate=st.booleans())
def test_elbo_monotone_hypothesis(covariance, weights, n, d, k, seed, log_scale, duplicate):
    x = blobs(n, d, 3, seed=seed) * 10.0**log_scale
    if duplicate:
        x[n // 2:] = x[0]
    _, state, values = _fit_sweeps(covariance, weights, x, k, seed=seed, sweeps=15)
    assert np.isfinite(values).all()
    assert np.all(np.diff(values) >= -1e-9 * (np.abs(values[1:]) + n))


# ---------------------------------------------------------------- structure


def test_statistics_add_across_chunks_and_elbo_from_stats_matches_lse():
    x = blobs(101, 3, 2, seed=5)
    spec = gmm.Spec(3, 3, "full", "dp")
    p_small, p_whole = problem_for(spec, x, chunk_rows=10), problem_for(spec, x, chunk_rows=1000)
    state = cavi.initial_state(p_small, "kmeans++", np.random.default_rng(0))
    stats_small, elbo_small = cavi.local_pass(p_small, state.lam)
    stats_whole, elbo_whole = cavi.local_pass(p_whole, state.lam)
    np.testing.assert_allclose(stats_small.t, stats_whole.t, rtol=1e-12, atol=1e-9)
    assert elbo_small == pytest.approx(elbo_whole, rel=1e-12)
    # ELBO(r*, q) = sum_i log sum_k exp(theta T(x_i)) - KL terms, computed another way
    q = gmm.variational(p_whole.model.prior, state.lam)
    theta = gmm.log_resp_coefficients(p_whole.model.prior, q)
    _, lse = gmm.responsibilities(spec, theta, x, p_whole.model.frame, gmm.Workspace(spec, 101))
    from vifit.models.gmm_elbo import kl_components, kl_weights

    direct = lse.sum() - kl_weights(p_whole.model.prior, q) - kl_components(p_whole.model.prior, q)
    assert elbo_whole == pytest.approx(direct, rel=1e-10)
    assert elbo_of(p_whole.model.prior, q, stats_whole) == pytest.approx(direct, rel=1e-10)


def test_natural_and_mean_parameters_round_trip():
    x = blobs(50, 3, 2, seed=2)
    for covariance in gmm.COVARIANCES:
        spec = gmm.Spec(2, 3, covariance, "dirichlet")
        problem = problem_for(spec, x)
        state = cavi.initial_state(problem, "kmeans++", np.random.default_rng(1))
        q = gmm.variational(problem.model.prior, state.lam)
        rows = slice(None) if covariance != "known" else slice(0, 4)  # known: q(x) statistics unused
        np.testing.assert_allclose(gmm.natural(problem.model.prior, q)[rows], state.lam[rows], rtol=1e-10, atol=1e-10)


def test_svi_scaled_global_step_is_prior_plus_scaled_stats():
    x = blobs(40, 2, 2, seed=4)
    spec = gmm.Spec(2, 2, "full", "dirichlet")
    problem = problem_for(spec, x)
    state = cavi.initial_state(problem, "kmeans++", np.random.default_rng(0))
    half = gmm.global_step(problem.model.prior, state.stats.t, scale=2.0)
    np.testing.assert_allclose(half - gmm.prior_natural(problem.model.prior)[:, None], 2.0 * state.stats.t)


@pytest.mark.parametrize("covariance", gmm.COVARIANCES)
def test_fit_is_equivariant_under_huge_and_tiny_scales(covariance):
    """The data-scaled prior makes the fit scale-equivariant: ELBO shifts by -N D log(c)."""
    x = blobs(80, 2, 3, seed=8)
    spec = gmm.Spec(3, 2, covariance, "dirichlet")
    base = None
    for c in (1.0, 1e8, 1e-8):
        xc = x * c
        prior = None
        if covariance == "known":
            prior = build_prior(spec, weight_concentration=1 / 3, mean=np.zeros(2), sigma=c, tau=5 * c)
        else:
            prior = sklearn_prior(spec, xc)
        problem = problem_for(spec, xc, prior)
        result = cavi.fit(problem, seed=3, tol=0.0, max_iter=60, policy=STRICT)
        value = problem.data_units(result.state.elbo) + x.size * np.log(c)
        q = posterior(problem, result.state.lam)
        assert np.isfinite(value) and np.isfinite(q.means).all()
        if base is None:
            base, means = value, q.means
        else:
            assert value == pytest.approx(base, rel=1e-8, abs=1e-6)
            np.testing.assert_allclose(q.means / c, means, rtol=1e-6, atol=1e-6)


def test_result_is_identical_for_any_number_of_threads():
    # blocks are whole chunks of at least passes.BLOCK_ROWS (8,192) rows: 30,000 rows in chunks of
    # 2,048 make 4 blocks of 4 chunks each, so 2 and 3 threads each sum several blocks
    x = blobs(30000, 3, 3, seed=9)
    spec = gmm.Spec(3, 3, "full", "dirichlet")
    results = []
    for workers in (1, 2, 3):
        problem = problem_for(spec, x, chunk_rows=2048)
        problem = cavi.Problem(problem.model, x, chunk_rows=2048, workers=workers)
        assert problem.rows.workers == workers and len(problem.rows.blocks) > 3
        state = cavi.fit(problem, seed=4, tol=0.0, max_iter=10, policy=STRICT).state
        problem.rows.close()
        results.append((state.lam, state.elbo))
    for lam, value in results[1:]:
        assert np.array_equal(lam, results[0][0]) and value == results[0][1]
