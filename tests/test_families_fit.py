"""CAVI on product mixtures through the protocol alone: recovery, monotone bounds, missing cells,
row weights and SVI's scaled step."""

from __future__ import annotations

import numpy as np
import pytest

from families_helpers import best_fit, build, fit, kmeanspp_resp, match, mixed_table, stats_of, sweep
from vifit.models import product

SPECS = {
    "gaussian": [("gaussian", [0, 1])],
    "bernoulli": [("bernoulli", [2, 3, 4])],
    "poisson": [("poisson", [5, 6])],
    "categorical": [("categorical", [7])],
    "mixed": [("gaussian", [0, 1]), ("bernoulli", [2, 3, 4]), ("poisson", [5, 6]), ("categorical", [7])],
}


def family_part(desc, name):
    return next(part for part in desc["families"] if part["family"] == name)


# ---------------------------------------------------------------- recovery at N = 20,000


def recovered(x, spec, k, key, name, truth, seed=0):
    model = product.build(x, spec, k)
    _, elbos, q = best_fit(model, x, sweeps=60, restarts=3, seed=seed)
    estimate = np.array(family_part(model.describe(q), name)[key])
    perm = match(truth, estimate)
    return estimate[list(perm)], np.array(model.describe(q)["expected_weights"])[list(perm)]


def test_bernoulli_probabilities_recovered():
    rng = np.random.default_rng(10)
    p = np.array([[0.1, 0.9, 0.2, 0.8, 0.5, 0.1], [0.9, 0.1, 0.7, 0.3, 0.5, 0.9], [0.5, 0.5, 0.1, 0.9, 0.9, 0.5]])
    labels = rng.choice(3, size=20000, p=[0.4, 0.35, 0.25])
    x = (rng.random((20000, 6)) < p[labels]).astype(float)
    estimate, w = recovered(x, [("bernoulli", range(6))], 3, "probability", "bernoulli", p)
    assert np.abs(estimate - p).max() < 0.03  # ~4 standard errors of 5,000 rows
    # overlapping components: the weights are less certain than the labels' frequencies
    assert np.abs(w - [0.4, 0.35, 0.25]).max() < 0.03


def test_poisson_rates_recovered():
    rng = np.random.default_rng(11)
    rate = np.array([[1.0, 8.0, 3.0], [6.0, 1.5, 3.0], [12.0, 12.0, 0.5]])
    labels = rng.choice(3, size=20000, p=[0.5, 0.3, 0.2])
    x = rng.poisson(rate[labels]).astype(float)
    estimate, w = recovered(x, [("poisson", range(3))], 3, "rate", "poisson", rate)
    assert np.all(np.abs(estimate - rate) < 0.04 * rate + 0.03)
    assert np.abs(w - [0.5, 0.3, 0.2]).max() < 0.02


def test_categorical_probabilities_recovered():
    rng = np.random.default_rng(12)
    cat = np.array([[[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]],
                    [[0.1, 0.2, 0.7], [0.8, 0.1, 0.1], [0.1, 0.3, 0.6], [0.3, 0.6, 0.1]]])  # (k, column, level)
    labels = rng.choice(2, size=20000, p=[0.6, 0.4])
    u = rng.random((20000, 4))
    x = (u[:, :, None] > np.cumsum(cat, axis=2)[labels][:, :, :-1]).sum(axis=2).astype(float)
    model = product.build(x, [("categorical", range(4))], 2)
    _, _, q = best_fit(model, x, sweeps=60, restarts=3)
    parts = model.describe(q)["families"]
    estimate = np.stack([np.array(part["probability"]) for part in parts], axis=1)  # (k, column, level)
    perm = list(match(cat, estimate))
    assert np.abs(estimate[perm] - cat).max() < 0.03


def test_mixed_product_recovers_every_family():
    rng = np.random.default_rng(13)
    x, _, spec, truth = mixed_table(20000, rng)
    model = product.build(x, spec, 3)
    _, _, q = best_fit(model, x, sweeps=60, restarts=2)
    desc = model.describe(q)
    perm = list(match(truth["mu"], np.array(family_part(desc, "gaussian")["mean"])))
    assert np.abs(np.array(family_part(desc, "gaussian")["mean"])[perm] - truth["mu"]).max() < 0.1
    assert np.abs(np.array(family_part(desc, "bernoulli")["probability"])[perm] - truth["p"]).max() < 0.03
    rate = np.array(family_part(desc, "poisson")["rate"])[perm]
    assert np.all(np.abs(rate - truth["rate"]) < 0.05 * truth["rate"] + 0.03)
    assert np.abs(np.array(family_part(desc, "categorical")["probability"])[perm] - truth["cat"]).max() < 0.03


# ---------------------------------------------------------------- monotone CAVI


@pytest.mark.parametrize("missing", [0.0, 0.2])
@pytest.mark.parametrize("weights", ["uniform", "dirichlet", "dp"])
@pytest.mark.parametrize("family", sorted(SPECS))
def test_cavi_is_monotone(family, weights, missing):
    rng = np.random.default_rng(3)
    x, _, _, _ = mixed_table(600, rng, missing)
    model = build(x, SPECS[family], k=4, weights=weights)
    _, elbos, _ = fit(model, x, kmeanspp_resp(model, x, rng), 25)
    assert np.all(np.isfinite(elbos))
    assert np.all(np.diff(elbos) >= -1e-10 * np.abs(elbos[1:])), np.diff(elbos).min()


# ---------------------------------------------------------------- missing cells


def test_an_entirely_missing_column_changes_nothing():
    """Columns 8 (gaussian, in the gaussian group) and 9 (poisson) are all NaN: the fit equals the
    fit of the table without them, from the same responsibilities."""
    rng = np.random.default_rng(4)
    x, _, spec, _ = mixed_table(500, rng, 0.1)
    wide = np.column_stack([x, np.full((500, 2), np.nan)])
    spec_wide = [("gaussian", [0, 1, 8]), ("bernoulli", [2, 3, 4]), ("poisson", [5, 6, 9]), ("categorical", [7])]
    narrow, full = product.build(x, spec, 3), product.build(wide, spec_wide, 3)
    resp0 = kmeanspp_resp(narrow, x, rng)
    _, elbo_a, q_a = fit(narrow, x, resp0, 10)
    _, elbo_b, q_b = fit(full, wide, resp0, 10)
    np.testing.assert_allclose(elbo_b, elbo_a, rtol=1e-9, atol=0)
    sa, sb = stats_of(narrow, x, resp0), stats_of(full, wide, resp0)
    assert abs(narrow.data_elbo(q_a, sa) - full.data_elbo(q_b, sb)) < 1e-9 * abs(narrow.data_elbo(q_a, sa))
    np.testing.assert_allclose(full.predict_proba(q_b, wide), narrow.predict_proba(q_a, x), atol=1e-9)
    da, db = narrow.describe(q_a), full.describe(q_b)
    for part_a, part_b in zip(da["families"], db["families"]):
        if part_a["family"] == "categorical":
            np.testing.assert_allclose(part_b["posterior"]["gamma"], part_a["posterior"]["gamma"], rtol=1e-9)
            continue
        for key, value in part_a["posterior"].items():
            keep = [part_b["columns"].index(c) for c in part_a["columns"]]
            np.testing.assert_allclose(np.array(part_b["posterior"][key])[:, keep], value, rtol=1e-9)
    assert full.families[0].n_stats == narrow.families[0].n_stats + 3  # z, z^2 and o of column 8


def test_complete_columns_pay_no_indicator_row():
    x = (np.random.default_rng(0).random((100, 100)) < 0.3).astype(float)
    model = product.build(x, [("bernoulli", range(100))], 10)
    assert model.n_stats == 101  # row 0 and one statistic per column: two GEMMs of (10, 101) x (101, n)
    x[3, 7] = np.nan
    assert product.build(x, [("bernoulli", range(100))], 10).n_stats == 102


def test_cells_missing_at_random_leave_the_posterior_close():
    """20% of the cells missing completely at random: posterior means within stated tolerances
    of the complete-data fit (N = 20,000: a few standard errors of the difference; observed
    differences are about a quarter of these), and CAVI monotone."""
    rng = np.random.default_rng(5)
    x, _, spec, _ = mixed_table(20000, rng)
    holes = x.copy()
    holes[rng.random(x.shape) < 0.2] = np.nan
    complete = product.build(x, spec, 3)
    _, _, q = best_fit(complete, x, 50, restarts=2)
    model = product.build(holes, spec, 3)
    # start from the complete fit's responsibilities (a good start; the fit must then hold it)
    _, elbos, q_holes = fit(model, holes, complete.predict_proba(q, x), 50)
    assert np.all(np.diff(elbos) >= -1e-10 * np.abs(elbos[1:]))
    a, b = complete.describe(q), model.describe(q_holes)
    np.testing.assert_allclose(b["expected_weights"], a["expected_weights"], atol=0.01)
    tolerances = {"gaussian": ("mean", 0.05), "bernoulli": ("probability", 0.02),
                  "poisson": ("rate", 0.06), "categorical": ("probability", 0.02)}
    for part_a, part_b in zip(a["families"], b["families"]):
        key, tol = tolerances[part_a["family"]]
        np.testing.assert_allclose(part_b[key], part_a[key], atol=tol)


# ---------------------------------------------------------------- row weights


def weighted_pair(w, seed=6):
    rng = np.random.default_rng(seed)
    x, _, spec, _ = mixed_table(200, rng, 0.15)
    model = product.build(x, spec, 3, weights="dp")  # one model (one prior) for both tables
    resp0 = kmeanspp_resp(model, x, rng)
    repeat = np.repeat(np.arange(200), w.astype(int))
    _, elbo_w, q_w = fit(model, x, resp0, 12, weights=w)
    _, elbo_r, q_r = fit(model, x[repeat], resp0[repeat], 12)
    return elbo_w, q_w, elbo_r, q_r


def test_integer_weights_equal_repeated_rows():
    w = np.random.default_rng(7).integers(1, 4, size=200).astype(float)
    elbo_w, q_w, elbo_r, q_r = weighted_pair(w)
    np.testing.assert_allclose(elbo_w, elbo_r, rtol=1e-9)
    np.testing.assert_allclose(q_w.lam, q_r.lam, rtol=1e-9, atol=1e-9)


def test_weight_zero_drops_the_row():
    w = np.ones(200)
    w[::3] = 0.0
    elbo_w, q_w, elbo_r, q_r = weighted_pair(w)
    np.testing.assert_allclose(elbo_w, elbo_r, rtol=1e-9)
    np.testing.assert_allclose(q_w.lam, q_r.lam, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------- SVI's step


def test_svi_scaled_step_of_a_full_batch_is_cavi():
    rng = np.random.default_rng(8)
    x, _, spec, _ = mixed_table(400, rng, 0.1)
    model = product.build(x, spec, 3)
    lam = model.global_step(stats_of(model, x, kmeanspp_resp(model, x, rng)).t)
    cavi_lam, stats, _, _ = sweep(model, x, lam)
    np.testing.assert_array_equal(model.global_step(stats.t, scale=400 / 400), cavi_lam)
    # a batch of half the rows of a table holding every row twice, scaled by N/M = 2, is CAVI's step there
    doubled = np.vstack([x, x])
    _, stats_half, _, _ = sweep(model, x, lam)
    cavi_doubled, _, _, _ = sweep(model, doubled, lam)
    np.testing.assert_allclose(model.global_step(stats_half.t, scale=2.0), cavi_doubled, rtol=1e-12)
    # SVI's blend with rho = 1 is the scaled step; with rho < 1 it stays affine in lam
    rho = 0.3
    blend = (1 - rho) * lam + rho * model.global_step(stats_half.t, scale=2.0)
    np.testing.assert_allclose(blend[0], (1 - rho) * lam[0] + rho * 2.0 * stats_half.t[0], rtol=1e-12)
