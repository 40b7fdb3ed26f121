"""Property tests (hypothesis): the loader and the models' local/global steps give finite,
well-formed results for finite inputs at any scale from 1e-8 to 1e8."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import STRICT
from vifit.data import ReadOptions, Table, load_table
from vifit.progress import Reporter

SCALES = st.integers(-8, 8).map(lambda e: 10.0**e)
QUIET = Reporter("none")
PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _data(seed, n, d, scale, offset_scale):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, size=(3, d))
    x = centres[rng.integers(0, 3, n)] + rng.normal(size=(n, d))
    return x * scale + rng.normal(0, 1, size=d) * offset_scale * scale


@PROPERTY
@given(seed=st.integers(0, 2**16), n=st.integers(1, 30), d=st.integers(1, 5), scale=SCALES,
       with_text=st.booleans(), dtype=st.sampled_from(["float64", "float32"]))
def test_loader_reads_back_exactly_what_was_written(tmp_path_factory, seed, n, d, scale, with_text, dtype):
    x = np.random.default_rng(seed).normal(size=(n, d)) * scale
    path = tmp_path_factory.mktemp("prop") / "t.csv"
    lines = [",".join([f"c{j}" for j in range(d)] + (["label"] if with_text else []))]
    lines += [",".join([repr(float(v)) for v in row] + (["text"] if with_text else [])) for row in x]
    path.write_text("\n".join(lines) + "\n")
    table = load_table(str(path), ReadOptions(dtype=dtype))
    assert table.columns == [f"c{j}" for j in range(d)]
    assert np.isfinite(table.values).all()
    assert np.array_equal(table.values, x.astype(dtype))


@PROPERTY
@given(seed=st.integers(0, 2**16), n=st.integers(4, 60), d=st.integers(1, 4), k=st.integers(1, 4),
       scale=SCALES, offset=st.sampled_from([0.0, 1.0, 1e3]),
       covariance=st.sampled_from(["full", "diag", "spherical", "known"]),
       weights=st.sampled_from(["uniform", "dirichlet", "dp"]))
def test_gmm_steps_are_finite_normalised_and_positive_definite(seed, n, d, k, scale, offset, covariance, weights):
    from vifit.api import gmm_fit as runner
    from vifit.documents import gmm as model_file

    x = _data(seed, n, d, scale, offset)
    table = Table(values=x, columns=[f"c{j}" for j in range(d)], source="generated")
    options = {"sigma": scale, "tau": 10 * scale * (1 + offset)} if covariance == "known" else {}
    result = runner.fit(table, seed=seed, reporter=QUIET, k=min(k, n), covariance=covariance, weights=weights,
                        max_iter=8, policy=STRICT, **options)
    assert np.isfinite(result.elbo)
    summary = result.params["summary"]
    weights_ = np.asarray(summary["weights"])
    assert np.isfinite(weights_).all() and abs(weights_.sum() - 1) < 1e-9 and (weights_ >= 0).all()
    assert np.isfinite(np.asarray(summary["means"])).all()
    for covariance_k in np.asarray(summary["covariances"], dtype=float):
        cov = np.atleast_2d(covariance_k)
        cov = np.diag(np.broadcast_to(cov.ravel(), (d,))) if cov.shape != (d, d) else cov
        assert np.isfinite(cov).all()
        assert np.linalg.eigvalsh(cov / scale**2).min() > 0
    document = {"schema": "vifit.fit/1", "model": "gmm", "config": {}, "fit": {},
                "data": {"columns": table.columns, "preprocessing": {}},
                "params": {k_: v for k_, v in result.params.items()}}
    import json

    from vifit.output import render_json

    document = json.loads(render_json(document))  # through the file format, as predict reads it
    names, rows = model_file.predict(document, "model", table)
    rows = np.asarray(rows, dtype=float)
    resp = rows[:, [i for i, name in enumerate(names) if name.startswith("resp_")]]
    assert np.isfinite(rows).all()
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, atol=1e-12)


@PROPERTY
@given(seed=st.integers(0, 2**16), n=st.integers(3, 40), d=st.integers(2, 6), scale=SCALES,
       offset=st.sampled_from([0.0, 1.0, 1e4]))
def test_pca_is_finite_orthonormal_and_scale_equivariant(seed, n, d, scale, offset):
    from vifit.models import pca

    x = _data(seed, n, d, scale, offset)
    k = min(n, d) - 1 if min(n, d) > 1 else 1
    fitted = pca.fit(x, k)
    assert np.isfinite(fitted.components).all() and np.isfinite(fitted.explained_variance).all()
    np.testing.assert_allclose(fitted.components @ fitted.components.T, np.eye(k), atol=1e-8)
    assert (fitted.explained_variance >= 0).all() and fitted.noise_variance >= 0
    unit = pca.fit(x / scale, k)
    np.testing.assert_allclose(fitted.explained_variance / scale**2, unit.explained_variance,
                               rtol=1e-6, atol=1e-9 * unit.total_variance)


# ---------------------------------------------------------------- SVI's global step


def _svi_problem(x, spec):
    """The GMM problem as the SVI runner builds it: data-scaled default prior, in the working frame."""
    from vifit.inference import svi
    from vifit.models import gmm
    from vifit.models.gmm_model import GaussianMixture
    from vifit.models.gmm_moments import MomentAccumulator
    from vifit.api import gmm_fit as runner

    accumulator = MomentAccumulator(spec.d)
    accumulator.add(x)
    moments = accumulator.moments(spec)
    prior, _ = runner.resolve_prior(spec, moments, {}, QUIET.note)
    return svi.Problem(GaussianMixture(spec, gmm.to_frame(prior, spec, moments.frame), moments.frame), svi.ArraySource(x))


def _assert_valid_factors(problem, lam):
    """lam gives a proper q: finite, positive-definite E[Lambda], a Wishart/Gamma with enough
    degrees of freedom, positive mean precisions and valid Dirichlet / Beta parameters."""
    from vifit.models import gmm

    spec = problem.model.spec
    q = gmm.variational(problem.model.prior, lam)
    assert np.isfinite(lam).all()
    assert (q.counts >= 0).all() and (q.mean_precision > 0).all() and np.isfinite(q.means).all()
    if spec.weights == "dirichlet":
        assert (q.weight_concentration > 0).all()
    elif spec.weights == "dp":
        assert q.weight_concentration.shape == (spec.k, 2) and (q.weight_concentration > 0).all()
    e_lambda, e_log_det, _ = gmm.expected_precision(problem.model.prior, q)
    assert np.isfinite(e_lambda).all() and np.isfinite(e_log_det).all()
    if spec.covariance == "full":
        assert (q.dof > spec.d - 1).all()
        assert all(np.linalg.eigvalsh(e_k).min() > 0 for e_k in e_lambda)
    else:
        assert (e_lambda > 0).all()
        if spec.covariance != "known":
            assert (q.dof > 0).all() and (np.asarray(q.scale_inv) > 0).all()
    return q


@PROPERTY
@given(seed=st.integers(0, 2**16), n=st.integers(4, 60), d=st.integers(1, 4), k=st.integers(1, 4),
       scale=SCALES, offset=st.sampled_from([0.0, 1.0, 1e3]), rho=st.floats(0.0, 1.0, exclude_min=True),
       batch_fraction=st.floats(0.05, 1.0),
       covariance=st.sampled_from(["full", "diag", "spherical", "known"]),
       weights=st.sampled_from(["uniform", "dirichlet", "dp"]))
def test_svi_global_step_blends_into_valid_factors(seed, n, d, k, scale, offset, rho, batch_fraction,
                                                   covariance, weights):
    from vifit.inference import svi
    from vifit.inference.init import initial_stats
    from vifit.models import gmm

    rng = np.random.default_rng(seed)
    x = _data(seed, n, d, scale, offset)
    spec = gmm.Spec(k, d, covariance, weights)
    problem = _svi_problem(x, spec)
    start = initial_stats(problem.model, x, gmm.Workspace(spec, n), "random-resp", rng)
    state = svi.State(lam=gmm.global_step(problem.model.prior, start.t))
    # forgetting 1 and delay 1/rho make the first step size rho_0 = (0 + 1/rho)^-1 = rho
    settings = svi.Settings(batch_size=1, forgetting=1.0, delay=1.0 / rho)
    assert svi.step_size(0, settings.delay, settings.forgetting) == pytest.approx(rho, rel=1e-12)
    m = max(1, int(batch_fraction * n))
    batch = x[rng.choice(n, size=m, replace=False)]
    theta = gmm.log_resp_coefficients(problem.model.prior, gmm.variational(problem.model.prior, state.lam))
    lam_hat = gmm.global_step(problem.model.prior, svi.batch_statistics(problem, theta, batch).t, n / m)
    _assert_valid_factors(problem, lam_hat)  # rho = 1: the step lands on lam-hat itself
    stepped, estimate = svi.step(problem, state, batch, n, settings)
    assert np.isfinite(estimate)
    np.testing.assert_allclose(stepped.lam, (1 - rho) * state.lam + rho * lam_hat,
                               rtol=1e-9, atol=1e-9 * np.abs(lam_hat).max())
    q = _assert_valid_factors(problem, stepped.lam)
    resp, lse = gmm.responsibilities(spec, gmm.log_resp_coefficients(problem.model.prior, q), x,
                                     problem.model.frame, gmm.Workspace(spec, n))
    assert np.isfinite(resp).all() and np.isfinite(lse).all()
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, atol=1e-12)


# ---------------------------------------------------------------- neural models


def _standardised(x, dtype):
    """x as ``--standardize`` hands it to a model: standardised in float64, then cast."""
    from vifit.preprocess import apply_preprocessing, standardization

    spec = standardization(x, QUIET.note, [f"c{j}" for j in range(x.shape[1])])
    return np.ascontiguousarray(apply_preprocessing(x, spec), dtype=dtype)


def _unit_range(x, dtype):
    """x as ``--scale minmax`` hands it to a model: each column onto [0, 1]."""
    from vifit.preprocess import apply_preprocessing, minmax_scaling

    spec = minmax_scaling(x, QUIET.note, [f"c{j}" for j in range(x.shape[1])])
    return np.ascontiguousarray(apply_preprocessing(x, spec), dtype=dtype)


def _assert_finite_loss_and_grad(net, value):
    assert np.isfinite(value)
    assert np.isfinite(net.params.grad).all()


# data for the networks: raw rows at any scale and offset, then scaled as the CLI scales them
NN = {"seed": st.integers(0, 2**16), "n": st.integers(2, 24), "d": st.integers(1, 5), "scale": SCALES,
      "offset": st.sampled_from([0.0, 1.0, 1e4]), "dtype": st.sampled_from(["float32", "float64"])}


@PROPERTY
@given(**NN, activation=st.sampled_from(["relu", "tanh", "sigmoid", "softplus"]), loss=st.sampled_from(["mse", "bce"]),
       denoise=st.sampled_from([0.0, 0.3]))
def test_autoencoder_loss_and_gradients_are_finite_after_scaling(seed, n, d, scale, offset, dtype, activation,
                                                                  loss, denoise):
    from vifit.models import autoencoder as model

    raw = _data(seed, n, d, scale, offset)
    x = _standardised(raw, dtype) if loss == "mse" else _unit_range(raw, dtype)
    arch = model.architecture(d, [4, 2], None, activation, "sigmoid" if loss == "bce" else "identity", loss)
    rng = np.random.default_rng(seed)
    net = model.Autoencoder(arch, dtype=dtype, rng=rng, denoise=denoise)
    _assert_finite_loss_and_grad(net, net.loss_and_grad(x, rng))
    assert np.isfinite(net.per_row_loss(x)).all() and np.isfinite(net.reconstruct(x)).all()


@PROPERTY
@given(**NN, likelihood=st.sampled_from(["gaussian", "bernoulli"]), fixed=st.sampled_from([None, 0.5]),
       samples=st.integers(1, 3), beta=st.sampled_from([0.0, 0.5, 1.0, 4.0]))
def test_vae_loss_and_gradients_are_finite_after_scaling(seed, n, d, scale, offset, dtype, likelihood, fixed,
                                                         samples, beta):
    from vifit.models import vae as model

    raw = _data(seed, n, d, scale, offset)
    x = _standardised(raw, dtype) if likelihood == "gaussian" else _unit_range(raw, dtype)
    arch = model.architecture(d, [6], None, 2, "relu", likelihood, fixed if likelihood == "gaussian" else None)
    rng = np.random.default_rng(seed)
    net = model.VAE(arch, dtype=dtype, rng=rng, samples=samples, beta=beta)
    _assert_finite_loss_and_grad(net, net.loss_and_grad(x, rng))
    elbo, iwae = net.scores(x, rng, 5)
    assert np.isfinite(elbo).all() and np.isfinite(iwae).all() and np.isfinite(net.elbo_rows(x, rng)).all()
    mu, sigma = net.encode(x)
    assert np.isfinite(mu).all() and (sigma > 0).all()
