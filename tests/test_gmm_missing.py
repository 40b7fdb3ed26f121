"""Missing cells in the Gaussian mixture (models/gmm_missing.py): the bound with q(z_M | c)
checked by Monte Carlo over q(theta) (scipy.stats densities), CAVI monotone for random masks and
every covariance, and a fit on 20% missing cells close to the complete-data fit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from gmm_helpers import blobs
from vifit.inference import cavi
from vifit.models import gmm
from vifit.models.gmm_model import GaussianMixture
from vifit.models.gmm_prior import build_prior


def _problem(x, covariance, k=3, weights="dirichlet"):
    d = x.shape[1]
    spec = gmm.Spec(k, d, covariance, weights)
    seen = ~np.isnan(x)
    mean = np.nanmean(x, axis=0)
    var = np.nanvar(x, axis=0, ddof=1)
    scale_inv = {"full": np.diag(var), "diag": var}.get(covariance, np.asarray(var.mean()))
    prior = build_prior(spec, weight_concentration=1.0 / k, mean=mean, mean_precision=1.0, dof=float(d),
                        scale_inv=scale_inv, sigma=1.0, tau=2.0)
    assert seen.any(axis=1).all()
    return cavi.Problem(GaussianMixture(spec, prior, gmm.Frame.identity(d), missing=True), x, chunk_rows=16)


def _holes(x, fraction, seed):
    rng = np.random.default_rng(seed)
    x = x.copy()
    mask = rng.random(x.shape) < fraction
    mask[mask.all(axis=1), 0] = False  # every row keeps an observed cell
    x[mask] = np.nan
    return x


def _local_factors(problem, lam, x):
    """Per row: responsibilities (n, k) and, per component, the filled rows x_hat (k, n, d) and
    the missing block's covariance C (k, n, d, d) of the optimal q(x_M | c = k), from E[Lambda]."""
    spec, prior = problem.model.spec, problem.model.prior
    q = gmm.variational(prior, lam)
    e_lambda = gmm.expected_precision(prior, q)[0]
    d = spec.d
    if spec.covariance != "full":
        e_lambda = np.array([np.diag(np.broadcast_to(e, (d,))) for e in e_lambda])
    n = x.shape[0]
    filled = np.zeros((spec.k, n, d))
    cov = np.zeros((spec.k, n, d, d))
    for i in range(n):
        mis = np.isnan(x[i])
        obs = ~mis
        for k in range(spec.k):
            row = x[i].copy()
            if mis.any():
                l_mm = e_lambda[k][np.ix_(mis, mis)]
                l_mo = e_lambda[k][np.ix_(mis, obs)]
                row[mis] = q.means[k, mis] - np.linalg.solve(l_mm, l_mo @ (x[i, obs] - q.means[k, obs]))
                cov[k, i][np.ix_(mis, mis)] = np.linalg.inv(l_mm)
            filled[k, i] = row
    return q, filled, cov


def _monte_carlo_elbo(problem, lam, x, draws=3000, seed=0):
    """E_q[log p(x_O, x_M, c, theta) - log q(x_M, c, theta)], the x_M and c expectations in closed
    form for each draw theta ~ q(theta) (scipy), the responsibilities the bound's optimum for lam."""
    spec, prior = problem.model.spec, problem.model.prior
    q, filled, cov = _local_factors(problem, lam, x)
    # responsibilities of the bound: softmax of E[log pi + log N] + H[q(x_M|k)], from the same q
    rng = np.random.default_rng(seed)
    d, k, n = spec.d, spec.k, x.shape[0]
    e_log_pi = gmm.expected_log_weights(prior, q)
    e_lambda, e_log_det, _ = gmm.expected_precision(prior, q)
    if spec.covariance != "full":
        e_lambda = np.array([np.diag(np.broadcast_to(e, (d,))) for e in e_lambda])
    logits = np.zeros((n, k))
    for j in range(k):
        diff = filled[j] - q.means[j]
        expected_quad = np.einsum("nd,de,ne->n", diff, e_lambda[j], diff) + np.einsum("de,ned->n", e_lambda[j], cov[j]) \
            + d / q.mean_precision[j]
        n_missing = np.isnan(x).sum(axis=1)
        entropy = 0.5 * n_missing * (1 + np.log(2 * np.pi)) + 0.5 * np.array(
            [np.linalg.slogdet(cov[j, i][np.ix_(np.isnan(x[i]), np.isnan(x[i]))])[1] if n_missing[i] else 0.0
             for i in range(n)])
        logits[:, j] = e_log_pi[j] + 0.5 * e_log_det[j] - 0.5 * d * np.log(2 * np.pi) - 0.5 * expected_quad + entropy
    resp = np.exp(logits - logits.max(axis=1, keepdims=True))
    resp /= resp.sum(axis=1, keepdims=True)
    local_entropy = -(resp * np.log(np.maximum(resp, 1e-300))).sum() + sum(
        (resp[:, j] * (0.5 * np.isnan(x).sum(axis=1) * (1 + np.log(2 * np.pi)) + 0.5 * np.array(
            [np.linalg.slogdet(cov[j, i][np.ix_(np.isnan(x[i]), np.isnan(x[i]))])[1] if np.isnan(x[i]).any() else 0.0
             for i in range(n)]))).sum() for j in range(k))
    values = np.empty(draws)
    for s in range(draws):
        pi = rng.dirichlet(q.weight_concentration)
        total = stats.dirichlet.logpdf(pi, np.full(k, prior.weight_concentration)) - stats.dirichlet.logpdf(
            pi, q.weight_concentration)
        for j in range(k):
            if spec.covariance == "full":
                w_q = np.linalg.inv(q.scale_inv[j])
                lam_j = stats.wishart.rvs(q.dof[j], w_q, random_state=rng)
                total += stats.wishart.logpdf(lam_j, prior.dof, np.linalg.inv(prior.scale_inv)) - stats.wishart.logpdf(
                    lam_j, q.dof[j], w_q)
            else:  # diag: one Gamma(nu/2, rate psi/2) per feature
                precisions = rng.gamma(0.5 * q.dof[j], 2.0 / q.scale_inv[j])
                lam_j = np.diag(precisions)
                total += (stats.gamma.logpdf(precisions, 0.5 * prior.dof, scale=2.0 / prior.scale_inv)
                          - stats.gamma.logpdf(precisions, 0.5 * q.dof[j], scale=2.0 / q.scale_inv[j])).sum()
            sigma = np.linalg.inv(lam_j)
            mu = rng.multivariate_normal(q.means[j], sigma / q.mean_precision[j])
            total += stats.multivariate_normal.logpdf(mu, prior.mean, sigma / prior.mean_precision) \
                - stats.multivariate_normal.logpdf(mu, q.means[j], sigma / q.mean_precision[j])
            diff = filled[j] - mu
            log_lik = (0.5 * np.linalg.slogdet(lam_j)[1] - 0.5 * d * np.log(2 * np.pi)
                       - 0.5 * (np.einsum("nd,de,ne->n", diff, lam_j, diff) + np.einsum("de,ned->n", lam_j, cov[j])))
            total += (resp[:, j] * (np.log(pi[j]) + log_lik)).sum()
        values[s] = total + local_entropy
    return values.mean(), values.std(ddof=1) / np.sqrt(draws)


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_the_bound_with_missing_cells_matches_a_monte_carlo_estimate(covariance):
    x = _holes(blobs(40, 3, 2, seed=3), 0.2, seed=1)
    problem = _problem(x, covariance, k=2)
    state = cavi.initial_state(problem, "random-resp", None, np.arange(40) % 2)
    for _ in range(4):
        state = cavi.step(problem, state)
    estimate, error = _monte_carlo_elbo(problem, state.lam, x)
    assert abs(estimate - state.elbo) < 4 * error + 1e-9 * abs(state.elbo), (estimate, error, state.elbo)
    assert error < 0.01 * abs(state.elbo)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), fraction=st.floats(0.05, 0.5),
       covariance=st.sampled_from(["full", "diag", "spherical", "known"]))
def test_cavi_is_monotone_for_random_masks(seed, fraction, covariance):
    x = _holes(blobs(60, 3, 3, seed=seed % 97), fraction, seed)
    problem = _problem(x, covariance)
    state = cavi.initial_state(problem, "kmeans++", np.random.default_rng(seed))
    for _ in range(15):
        new = cavi.step(problem, state)
        assert new.elbo >= state.elbo - cavi.decrease_allowance(problem, new.elbo), (state.elbo, new.elbo)
        state = new


@pytest.mark.parametrize("covariance", ["full", "diag", "spherical"])
def test_twenty_percent_missing_leaves_the_posterior_means_close(covariance):
    import vifit

    x = blobs(900, 3, 3, seed=8)
    complete = vifit.GMM(k=3, covariance=covariance, seed=0).fit(x)
    holed = vifit.GMM(k=3, covariance=covariance, seed=0).fit(_holes(x, 0.2, seed=2))
    order_a, order_b = np.argsort(complete.means_[:, 0]), np.argsort(holed.means_[:, 0])
    spread = x.std(axis=0)
    # 20% fewer cells at random: means move by a few standard errors at most (sd / sqrt(~240 rows))
    np.testing.assert_allclose(holed.means_[order_b], complete.means_[order_a], atol=0.15 * spread.max())
    np.testing.assert_allclose(holed.weights_[order_b], complete.weights_[order_a], atol=0.03)
    assert holed.document_["data"]["n_rows"] == 900  # no row dropped


@pytest.mark.parametrize("covariance", ["full", "diag", "spherical"])
def test_predict_scores_the_observed_cells_and_imputes_the_conditional_mean(covariance):
    """A row with a missing cell: its log density is the integral of the complete-row density over
    that cell, and --impute's value is the predictive conditional mean (both by scipy's quad over
    the whole line: the Student t tails matter at 1e-6)."""
    from scipy.integrate import quad

    import vifit
    from vifit.data import Table
    from vifit.documents import gmm as model_file

    x = blobs(400, 2, 3, seed=4)
    fitted = vifit.GMM(k=3, covariance=covariance, seed=0).fit(x)
    for observed in (x[0, 0], x[7, 0] + 0.3):
        def density(t):
            return float(np.exp(fitted.score_samples(np.array([[observed, t]]))[0]))

        centre = float(np.median(x[:, 1]))
        marginal = sum(quad(density, a, b, limit=200, epsabs=1e-13)[0]
                       for a, b in ((-np.inf, centre), (centre, np.inf)))
        first = sum(quad(lambda t: t * density(t), a, b, limit=200, epsabs=1e-13)[0]
                    for a, b in ((-np.inf, centre), (centre, np.inf)))
        assert fitted.score_samples(np.array([[observed, np.nan]]))[0] == pytest.approx(np.log(marginal), abs=1e-7)
        table = Table(values=np.array([[observed, np.nan]]), columns=["x1", "x2"], source="rows")
        _, filled = model_file.predict(fitted.document_, "model", table, impute=True)
        assert filled[0, 0] == observed
        assert filled[0, 1] == pytest.approx(first / marginal, rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("covariance", ["full", "diag", "spherical"])
def test_the_bound_in_data_units_counts_only_the_observed_cells(covariance):
    """With missing cells the ELBO bounds log p(x_O): scaling the data by s (one column for full
    and diag, every column for spherical, the maps each model is equivariant under) lowers it by
    log s per observed cell scaled, not per row (the rows' missing cells have no density)."""
    import vifit

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 3))
    x[:1000] += 4.0
    x[rng.random(x.shape) < 0.2] = np.nan
    x = x[~np.isnan(x).all(axis=1)]
    scaled = x.copy()
    columns = [0] if covariance != "spherical" else [0, 1, 2]
    scaled[:, columns] *= 1000.0
    base = vifit.GMM(k=2, seed=0, covariance=covariance).fit(x)
    other = vifit.GMM(k=2, seed=0, covariance=covariance).fit(scaled)
    observed = int((~np.isnan(x[:, columns])).sum())
    assert observed < x.shape[0] * len(columns)  # some scaled cells are missing
    assert base.elbo_ - other.elbo_ == pytest.approx(observed * np.log(1000.0), rel=1e-9)


@pytest.mark.parametrize("stream", [True, False])
def test_svi_keeps_missing_cells_and_memoized_vb_reaches_the_cavi_optimum(tmp_path, stream):
    """--method svi on a file with missing cells (streamed, or --no-stream): memoized VB's exact
    global steps end at the CAVI fit's optimum of the same rows, with the same data-units bound
    (the observed cells' Jacobian) and the prior from the observed cells' moments."""
    import json

    from conftest import invoke

    rng = np.random.default_rng(4)
    x = rng.normal(size=(4000, 3))
    x[:2000] += 4.0
    x[rng.random(x.shape) < 0.2] = np.nan
    x = x[~np.isnan(x).all(axis=1)]
    path = tmp_path / "holes.csv"
    path.write_text("a,b,c\n" + "\n".join(",".join("" if np.isnan(v) else f"{v:.17g}" for v in row) for row in x)
                    + "\n")
    documents = {}
    for name, args in {"svi": ["--method", "svi", "--memoized", "--epochs", "40"] + ([] if stream else ["--no-stream"]),
                       "cavi": []}.items():
        out = tmp_path / f"{name}.json"
        result = invoke(["gmm", str(path), "-k", "2", "--seed", "0", "--tol", "1e-9", "-o", str(out), *args])
        assert result.exit_code == 0, result.stderr
        documents[name] = json.loads(out.read_text())
    svi_fit, cavi_fit = documents["svi"], documents["cavi"]
    assert svi_fit["data"]["n_rows"] == x.shape[0]
    assert svi_fit["fit"]["elbo"] == pytest.approx(cavi_fit["fit"]["elbo"], rel=1e-6)
    np.testing.assert_allclose(svi_fit["params"]["prior"]["mean"], cavi_fit["params"]["prior"]["mean"], rtol=1e-12)
    means = sorted(m[0] for m in svi_fit["params"]["summary"]["means"])
    np.testing.assert_allclose(means, sorted(m[0] for m in cavi_fit["params"]["summary"]["means"]), atol=1e-3)


def test_svi_refuses_what_it_cannot_count(tmp_path):
    from conftest import invoke

    holes = "a,b\n1,2\n,3\n4,\n5,6\n2,2\n"
    # stdin is read once: the missing cells' count is not known before the steps, so they are refused
    stdin = invoke(["gmm", "-", "-k", "2", "--method", "svi"], input=holes)
    assert stdin.exit_code == 2 and "missing value" in stdin.stderr and "--dropna" in stdin.stderr
    never = tmp_path / "never.csv"
    never.write_text("a,b\n1,\n2,\n3,\n")
    result = invoke(["gmm", str(never), "-k", "2", "--method", "svi"])
    assert result.exit_code == 2 and "column 'b' has no value in any row" in result.stderr
    empty_row = tmp_path / "empty_row.csv"
    empty_row.write_text("a,b\n1,2\n,\n3,1\n2,2\n")
    result = invoke(["gmm", str(empty_row), "-k", "2", "--method", "svi"])
    assert result.exit_code == 2 and "1 row(s) have no value in any column" in result.stderr


@pytest.mark.parametrize("covariance", ["full", "diag", "spherical"])
def test_the_streamed_observed_moments_are_the_in_memory_ones(covariance):
    """models.gmm_observed over blocks (complete ones first, then missing cells, with weights)
    gives gmm_prior.data_moments of the whole table; without a missing cell it is exactly the
    MomentAccumulator (so complete files keep today's prior bit for bit)."""
    from vifit.models.gmm import Spec
    from vifit.models.gmm_moments import MomentAccumulator
    from vifit.models.gmm_observed import ObservedMomentAccumulator
    from vifit.models.gmm_prior import data_moments

    rng = np.random.default_rng(5)
    x = rng.normal(size=(1500, 4)) @ rng.normal(size=(4, 4)) + 1e3
    x[600:][rng.random((900, 4)) < 0.25] = np.nan
    w = rng.integers(0, 3, size=1500).astype(float)
    spec = Spec(3, 4, covariance, "dirichlet")
    whole = data_moments(spec, x, weights=w)
    streamed = ObservedMomentAccumulator(4, covariance == "full")
    for start in range(0, 1500, 256):
        streamed.add(x[start:start + 256], w[start:start + 256])
    got = streamed.moments(spec)
    assert got.n == whole.n == w.sum()
    np.testing.assert_allclose(got.mean, whole.mean, rtol=1e-13)
    np.testing.assert_allclose(got.std, whole.std, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(got.cov), np.asarray(whole.cov), rtol=1e-9, atol=1e-12)
    complete = x[:600]
    plain, observed = MomentAccumulator(4, covariance == "full"), ObservedMomentAccumulator(4, covariance == "full")
    for start in range(0, 600, 128):
        plain.add(complete[start:start + 128])
        observed.add(complete[start:start + 128])
    a, b = plain.moments(spec), observed.moments(spec)
    assert not observed.has_missing and a.n == b.n
    assert np.array_equal(a.mean, b.mean) and np.array_equal(np.asarray(a.cov), np.asarray(b.cov))


def test_a_column_missing_everywhere_leaves_the_other_coordinates_near_the_fit_without_it():
    """A full-covariance fit whose missing cells are one whole column, against the fit of the other
    columns with the prior's marginal (W0^-1 restricted, nu0 - 1: the inverse-Wishart marginal).
    Exact Bayes would make them equal; this bound's q(z_M | c) q(mu, Lambda) uses E[Lambda] for
    the missing coordinate instead of integrating Lambda out, so they agree to about 1e-4, not
    exactly (the stated tolerance is that approximation's size here, not round-off). The CLI
    refuses such a column, since the default prior has no data for it; the model takes one given."""
    from vifit.inference import cavi
    from vifit.models import gmm
    from vifit.models.gmm_frame import Frame
    from vifit.models.gmm_model import GaussianMixture
    from vifit.models.gmm_prior import build_prior

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (300, 3)), rng.normal(3, 1, (300, 3))])
    labels = np.repeat([0, 1], 300)
    holed = x.copy()
    holed[:, 2] = np.nan
    scale_inv = np.array([[2.0, 0.3, 0.2], [0.3, 1.5, 0.1], [0.2, 0.1, 1.0]])

    def fit(data, d, prior_scale_inv, dof):
        spec = gmm.Spec(2, d, "full", "dirichlet")
        prior = build_prior(spec, weight_concentration=0.5, mean=np.zeros(d), mean_precision=1.0, dof=dof,
                            scale_inv=prior_scale_inv)
        frame = Frame(shift=np.zeros(d), scale=np.ones(d))
        model = GaussianMixture(spec, gmm.to_frame(prior, spec, frame), frame, missing=bool(np.isnan(data).any()))
        problem = cavi.Problem(model, data)
        state = cavi.initial_state(problem, "given", rng, resp0=labels)
        for _ in range(300):
            state = cavi.step(problem, state)
        return model.variational(state.lam)

    with_column, without = fit(holed, 3, scale_inv, 5.0), fit(x[:, :2], 2, scale_inv[:2, :2], 4.0)
    np.testing.assert_allclose(with_column.counts, without.counts, rtol=1e-4)
    np.testing.assert_allclose(with_column.means[:, :2], without.means, rtol=1e-3, atol=1e-3)
    expected_cov = with_column.scale_inv[:, :2, :2] / (with_column.dof[:, None, None] - 4)
    np.testing.assert_allclose(expected_cov, without.scale_inv / (without.dof[:, None, None] - 3), rtol=1e-3,
                               atol=1e-3)
