"""Posterior predictive of product mixtures against scipy.stats; normalisation; imputation;
sampling; describe/from_description; infer_family; the gaussian family against the diag GMM."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from scipy import stats as st
from scipy.special import logsumexp

from families_helpers import build, fit, kmeanspp_resp, mixed_table, stats_of
from vifit.models import gmm, product
from vifit.models.gmm_model import GaussianMixture
from vifit.models.gmm_prior import build_prior, data_moments

SPEC = [("gaussian", [0, 1]), ("bernoulli", [2, 3, 4]), ("poisson", [5, 6]), ("categorical", [7])]


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(20)
    x, labels, spec, truth = mixed_table(2000, rng, 0.1)
    model = build(x, spec)
    _, _, q = fit(model, x, kmeanspp_resp(model, x, rng), 20)
    return model, q, x


def scipy_component_log_density(desc, x):
    """(n, k) from each family's raw posterior parameters, with scipy.stats, missing cells skipped."""
    total = 0.0
    for part in desc["families"]:
        xs = x[:, part["columns"]]
        seen = ~np.isnan(xs)
        filled = np.where(seen, xs, 0.0)[:, None, :]
        post = part["posterior"]
        if part["family"] == "bernoulli":
            logp = st.betabinom.logpmf(filled, 1, np.array(post["a"]), np.array(post["b"]))
        elif part["family"] == "poisson":
            a, b = np.array(post["a"]), np.array(post["b"])
            logp = st.nbinom.logpmf(filled, a, b / (b + 1.0))
        elif part["family"] == "categorical":
            gamma = np.array(post["gamma"])
            onehot = np.eye(gamma.shape[1])[filled[:, 0, 0].astype(int)]
            logp = np.stack([st.dirichlet_multinomial.logpmf(onehot, gamma[j], 1) for j in range(len(gamma))],
                            axis=1)[:, :, None]
        else:
            beta, m, nu, psi = (np.array(post[key]) for key in ("beta", "m", "nu", "psi"))
            logp = st.t.logpdf(filled, df=nu, loc=m, scale=np.sqrt(psi * (1 + beta) / (beta * nu)))
        total = total + np.where(seen[:, None, :], logp, 0.0).sum(axis=2)
    return total


def test_component_log_density_matches_scipy(fitted):
    model, q, x = fitted
    np.testing.assert_allclose(model.component_log_density(q, x), scipy_component_log_density(model.describe(q), x),
                               rtol=1e-10, atol=1e-10)


def test_log_density_normalises_over_discrete_support(fitted):
    model, q, _ = fitted
    # bernoulli (3 columns) x poisson (first column, 0..150) x categorical (4 levels); the rest missing
    grid = np.array([(b1, b2, b3, c, lvl) for b1, b2, b3 in itertools.product([0, 1], repeat=3)
                     for c in range(151) for lvl in range(4)], dtype=float)
    x = np.full((len(grid), 8), np.nan)
    x[:, [2, 3, 4, 5, 7]] = grid
    assert abs(np.exp(logsumexp(model.log_density(q, x))) - 1.0) < 1e-10


def test_log_density_integrates_to_one_over_a_gaussian_column(fitted):
    model, q, x = fitted
    grid = np.linspace(-40.0, 40.0, 200001)
    rows = np.full((len(grid), 8), np.nan)
    rows[:, 0] = grid
    assert abs(np.trapezoid(np.exp(model.log_density(q, rows)), grid) - 1.0) < 1e-4


def test_missing_cells_are_marginalised(fitted):
    model, q, x = fitted
    row = x[:1].copy()
    row[0, 2] = np.nan
    both = np.repeat(row, 2, axis=0)
    both[:, 2] = [0.0, 1.0]
    assert abs(model.log_density(q, row)[0] - logsumexp(model.log_density(q, both))) < 1e-12
    assert np.allclose(model.log_density(q, np.full((1, 8), np.nan)), 0.0)


def test_impute_beats_the_column_means_and_keeps_observed_cells():
    rng = np.random.default_rng(21)
    x, _, spec, _ = mixed_table(6000, rng)
    holes = x.copy()
    gaps = rng.random(x.shape) < 0.15
    holes[gaps] = np.nan
    model = build(holes, spec)
    _, _, q = fit(model, holes, kmeanspp_resp(model, holes, rng), 40)
    filled = model.impute(q, holes)
    assert not np.isnan(filled).any()
    np.testing.assert_array_equal(filled[~gaps], x[~gaps])
    means = np.nanmean(holes, axis=0)
    # numeric columns: squared error below mean imputation's, by how much the components separate
    # each column (the third bernoulli column, p = 0.5, 0.5, 0.05, carries little: ratio ~0.86)
    bounds = [0.4, 0.4, 0.7, 0.85, 0.95, 0.5, 0.5]
    for column, bound in enumerate(bounds):
        g = gaps[:, column]
        ratio = np.mean((filled[g, column] - x[g, column]) ** 2) / np.mean((means[column] - x[g, column]) ** 2)
        assert ratio < bound, (column, ratio)
    g = gaps[:, 7]  # the categorical column: a level, and more often right than the majority level
    assert set(np.unique(filled[g, 7])) <= {0.0, 1.0, 2.0, 3.0}
    majority = np.bincount(holes[~np.isnan(holes[:, 7]), 7].astype(int)).argmax()
    assert np.mean(filled[g, 7] == x[g, 7]) > np.mean(x[g, 7] == majority) + 0.1


def test_impute_is_the_posterior_weighted_mean(fitted):
    """E[x_miss | x_obs] from scipy's component densities and describe's means."""
    model, q, x = fitted
    row = x[:5].copy()
    row[:, 0] = np.nan
    row[:, 5] = np.nan
    desc = model.describe(q)
    joint = scipy_component_log_density(desc, row) + np.log(desc["expected_weights"])
    post = np.exp(joint - logsumexp(joint, axis=1, keepdims=True))
    filled = model.impute(q, row)
    np.testing.assert_allclose(filled[:, 0], post @ np.array(desc["families"][0]["mean"])[:, 0], rtol=1e-10)
    np.testing.assert_allclose(filled[:, 5], post @ np.array(desc["families"][2]["rate"])[:, 0], rtol=1e-10)


def test_samples_follow_the_predictive_means(fitted):
    model, q, _ = fitted
    draws, labels = model.sample(q, 40000, np.random.default_rng(22))
    desc = model.describe(q)
    w = np.array(desc["expected_weights"])
    np.testing.assert_allclose(np.bincount(labels, minlength=3) / 40000, w, atol=0.01)
    expected = np.concatenate([w @ np.array(desc["families"][0]["mean"]), w @ np.array(desc["families"][1]["probability"]),
                               w @ np.array(desc["families"][2]["rate"])])
    np.testing.assert_allclose(draws[:, :7].mean(axis=0), expected, rtol=0.03, atol=0.02)
    levels = np.bincount(draws[:, 7].astype(int), minlength=4) / 40000
    np.testing.assert_allclose(levels, w @ np.array(desc["families"][3]["probability"]), atol=0.01)
    assert set(np.unique(draws[:, 2:5])) <= {0.0, 1.0}


def test_describe_round_trip_gives_the_same_coefficients(fitted):
    model, q, x = fitted
    rebuilt, q2 = product.ProductMixture.from_description(json.loads(json.dumps(model.describe(q))))
    assert rebuilt.n_stats == model.n_stats and rebuilt.weights == model.weights
    np.testing.assert_allclose(rebuilt.coefficients(q2), model.coefficients(q), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rebuilt.natural, model.natural, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rebuilt.log_density(q2, x), model.log_density(q, x), rtol=1e-12)
    stats = stats_of(model, x, model.predict_proba(q, x))
    assert abs(rebuilt.data_elbo(q2, stats) - model.data_elbo(q, stats)) < 1e-9 * abs(model.data_elbo(q, stats))


@pytest.mark.parametrize("values, is_text, family", [
    ([0, 1, 1, np.nan, 0], False, "bernoulli"),
    ([1, 1, 1], False, "bernoulli"),
    ([0, 3, 7, 2, np.nan], False, "poisson"),
    ([3, 5, 3, 5], False, "gaussian"),  # two distinct non-negative integers other than 0/1
    ([0, 2.5, 1], False, "gaussian"),
    ([-1, 2, 3], False, "gaussian"),
    ([np.nan, np.nan], False, "gaussian"),
    ([0, 1, 2], True, "categorical"),
])
def test_infer_family(values, is_text, family):
    assert product.infer_family(np.array(values, dtype=float), is_text) == family


def test_a_gaussian_product_is_the_diag_gmm():
    """Gaussian columns with no missing cell and the default prior are vifit's diag GMM with the
    same prior: the same coefficients and ELBO at every sweep from the same responsibilities."""
    rng = np.random.default_rng(23)
    x, _, _, _ = mixed_table(500, rng)
    x = x[:, [0, 1, 5]]
    model = product.build(x, [("gaussian", [0, 1, 2])], 3)
    spec = gmm.Spec(3, 3, "diag", "dirichlet")
    moments = data_moments(spec, x)
    prior = build_prior(spec, weight_concentration=1 / 3, mean=x.mean(0), mean_precision=1.0, dof=3.0,
                        scale_inv=x.var(0, ddof=1))
    reference = GaussianMixture(spec, gmm.to_frame(prior, spec, moments.frame), moments.frame)
    resp0 = kmeanspp_resp(model, x, rng)
    _, elbo_a, q_a = fit(model, x, resp0, 10)
    _, elbo_b, q_b = fit(reference, x, resp0, 10)
    np.testing.assert_allclose(elbo_a, elbo_b, rtol=1e-10)
    np.testing.assert_allclose(model.coefficients(q_a), reference.coefficients(q_b), rtol=1e-9, atol=1e-9)
    assert abs(model.log_jacobian - reference.log_jacobian) < 1e-12


@pytest.mark.parametrize("name, values", [("bernoulli", [0, 2]), ("poisson", [1, -1]), ("poisson", [0.5, 1]),
                                          ("categorical", [0, 1.5]), ("gaussian", [0, np.inf])])
def test_build_names_a_column_that_does_not_fit_its_family(name, values):
    x = np.column_stack([np.zeros(2), np.array(values, dtype=float)])
    with pytest.raises(ValueError, match="column 1"):
        product.build(x, [(name, [1])], 2)


def test_build_takes_categorical_levels():
    x = np.array([[0.0], [2.0], [np.nan]])
    model = product.build(x, [("categorical", [0])], 2, levels={0: ["a", "b", "c", "d"]})
    assert model.families[0].n_levels == 4 and model.families[0].levels == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="column 0"):
        product.build(x, [("categorical", [0])], 2, levels={0: ["a", "b"]})
