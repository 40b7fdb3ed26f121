"""Exactly collinear columns (sched_dep_time = 100 hour + minute): the ELBO stays monotone to
round-off for every covariance type, one note names the dependent columns, and a decrease
warning (should one ever fire) quotes the ELBO in the units of fit.trace."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import STRICT, run_subprocess
from gmm_helpers import posterior, problem_for
from vifit.inference import cavi
from vifit.inference.policy import LoopPolicy
from vifit.models import gmm
from vifit.models.gmm_model import GaussianMixture
from vifit.models.gmm_prior import data_moments
from vifit.api.gmm_fit import resolve_prior


def flights(n: int, seed: int, minutes_per_hour: int = 100) -> np.ndarray:
    """Columns hour, minute, sched_dep_time = minutes_per_hour * hour + minute, dep_delay: (n, 4)."""
    rng = np.random.default_rng(seed)
    hour = rng.integers(5, 24, n).astype(float)
    minute = rng.integers(0, 60, n).astype(float)
    delay = rng.normal(0.0, 30.0, n) + 2.0 * (hour - 12.0) + 40.0 * (rng.random(n) < 0.2)
    return np.column_stack([hour, minute, minutes_per_hour * hour + minute, delay])


@settings(max_examples=30, deadline=None)
@given(covariance=st.sampled_from(gmm.COVARIANCES), n=st.integers(800, 4000), k=st.integers(1, 4),
       seed=st.integers(0, 2**16), minutes_per_hour=st.sampled_from([60, 100]))
def test_cavi_elbo_is_monotone_on_exactly_collinear_columns(covariance, n, k, seed, minutes_per_hour):
    x = flights(n, seed, minutes_per_hour)
    problem = problem_for(gmm.Spec(k, 4, covariance, "dirichlet"), x, chunk_rows=1024)
    state = cavi.initial_state(problem, "kmeans++", np.random.default_rng(seed))
    for _ in range(40):
        new = cavi.step(problem, state)
        assert new.elbo >= state.elbo - cavi.decrease_allowance(problem, new.elbo), (
            f"sweep {new.iteration}: {state.elbo!r} -> {new.elbo!r}")
        state = new


def test_rotated_frame_gives_the_same_fit_as_the_plain_frame():
    """The full model is rotation-equivariant: the rotated working frame changes only round-off."""
    x = flights(600, 5)
    spec = gmm.Spec(3, 4, "full", "dirichlet")
    rotated = problem_for(spec, x)
    assert rotated.model.frame.rotation is not None
    moments = data_moments(spec, x)
    prior, _ = resolve_prior(spec, moments, {}, note=lambda message: None)
    frame = replace(moments.frame, rotation=None)
    plain = cavi.Problem(GaussianMixture(spec, gmm.to_frame(prior, spec, frame), frame), x, chunk_rows=64)
    fits = [cavi.fit(p, seed=4, tol=0.0, max_iter=25, policy=LoopPolicy(on_decrease="warn"))
            for p in (rotated, plain)]
    q_rot, q_plain = (posterior(p, f.state.lam) for p, f in zip((rotated, plain), fits))
    assert rotated.data_units(fits[0].state.elbo) == pytest.approx(plain.data_units(fits[1].state.elbo), rel=1e-7)
    np.testing.assert_allclose(q_rot.means, q_plain.means, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(q_rot.counts, q_plain.counts, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(q_rot.dof, q_plain.dof, rtol=1e-6)
    # the degenerate direction's variance is the ridge's, so compare the well-determined block
    np.testing.assert_allclose(q_rot.scale_inv[:, 3, 3], q_plain.scale_inv[:, 3, 3], rtol=1e-6)


def test_collinear_columns_get_one_note_naming_them_and_no_decrease(tmp_path):
    data, model = tmp_path / "flights.csv", tmp_path / "m.json"
    np.savetxt(data, flights(5000, 0), delimiter=",", header="hour,minute,sched_dep_time,dep_delay",
               comments="", fmt="%.17g")
    for covariance in ("full", "diag"):
        # VIFIT_STRICT_ELBO is set for the suite: a decrease would be exit 1
        proc = run_subprocess(["gmm", data, "--k", 3, "--seed", 1, "--covariance", covariance, "-o", model,
                               "--progress", "none"], env={"VIFIT_STRICT_ELBO": "1"})
        stderr = proc.stderr.decode()
        assert proc.returncode == 0, stderr
        notes = [line for line in stderr.splitlines() if "linearly dependent" in line]
        if covariance == "full":
            assert len(notes) == 1, stderr
            assert "'hour', 'minute', 'sched_dep_time'" in notes[0] and "dep_delay" not in notes[0]
            assert "rank 3 in 4 columns" in notes[0]
        else:
            # diag uses only the per-column variances, which are all positive here: no ridge is
            # added and no D x D covariance is formed (wide tables), so there is nothing to note
            assert notes == [], stderr
        assert "singular" not in stderr and "decreased" not in stderr
    document = json.loads(model.read_text())
    assert document["fit"]["status"] == "converged"
    predicted = run_subprocess(["predict", model, data])
    assert predicted.returncode == 0, predicted.stderr.decode()


def test_decrease_warning_quotes_the_elbo_in_the_units_of_the_trace(monkeypatch):
    x = flights(200, 2)
    problem = problem_for(gmm.Spec(2, 4, "full", "dirichlet"), x)
    state = cavi.initial_state(problem, "kmeans++", np.random.default_rng(0))
    real_step = cavi.step

    def worse(problem, state):
        new = real_step(problem, state)
        new.elbo = state.elbo - 5.0
        new.trace[-1] = (new.iteration, problem.data_units(new.elbo))
        return new

    monkeypatch.setattr(cavi, "step", worse)
    with pytest.raises(cavi.ElboDecreased) as caught:
        cavi.run(problem, state, tol=0.0, max_iter=3, policy=STRICT)
    before = problem.data_units(state.elbo)
    assert f"({before:.17g} -> {before - 5.0:.17g})" in str(caught.value)
