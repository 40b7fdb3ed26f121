"""Property tests (hypothesis): the loader and the models' local/global steps give finite,
well-formed results for finite inputs at any scale from 1e-8 to 1e8."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    from vifit.runners import gmm as runner

    x = _data(seed, n, d, scale, offset)
    table = Table(values=x, columns=[f"c{j}" for j in range(d)], source="generated")
    options = {"sigma": scale, "tau": 10 * scale * (1 + offset)} if covariance == "known" else {}
    result = runner.fit(table, seed=seed, reporter=QUIET, k=min(k, n), covariance=covariance, weights=weights,
                        max_iter=8, **options)
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
    names, rows = runner.predict(document, "model", table)
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
