"""A converged CAVI fit is a fixed point: further exact sweeps from the written q gain
less than the tolerance (in particular for --weights dp, whose sticks are sorted at the end)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_subprocess
from vifit.inference import cavi
from vifit.models import gmm
from vifit.models.gmm_model import GaussianMixture
from vifit.documents.gmm import _frame, load_model


def extra_sweeps_gain(path, x: np.ndarray, sweeps: int = 30) -> tuple[float, float, float]:
    """(ELBO of the written q with its optimal responsibilities in data units and in the working
    frame, gain of one more sweep, gain of ``sweeps`` more), recomputed through the model
    functions from the document alone."""
    document = json.loads(path.read_text())
    prior, q = load_model(document, str(path))
    spec = prior.spec
    frame = _frame(document, str(path), spec.d)
    problem = cavi.Problem(GaussianMixture(spec, gmm.to_frame(prior, spec, frame), frame), x)
    lam = gmm.natural(problem.model.prior, gmm.to_frame(q, spec, frame))
    stats, value = cavi.local_pass(problem, lam)
    state = cavi.State(lam=lam, stats=stats, elbo=value)
    gains = []
    for _ in range(sweeps):
        state = cavi.step(problem, state)
        gains.append(state.elbo - value)
    return problem.data_units(value), value, gains[0], gains[-1]


def four_blobs(seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(centre, 1.0, (n, 2))
                      for centre, n in [([0, 0], 150), ([4, 4], 120), ([8, 0], 80), ([0, 8], 30)]])


@pytest.mark.parametrize("seed", [0, 1, 5])
def test_dp_fit_that_says_converged_is_a_fixed_point(tmp_path, seed):
    # these seeds converge with the sticks out of order: sorting them moved the fit off the fixed point
    x = four_blobs()
    data, out = tmp_path / "d.csv", tmp_path / "m.json"
    np.savetxt(data, x, delimiter=",", header="a,b", comments="")
    tol = 1e-6
    proc = run_subprocess(["gmm", data, "--k", 8, "--weights", "dp", "--seed", seed, "--tol", tol,
                           "-q", "-o", out])
    assert proc.returncode == 0, proc.stderr.decode()
    document = json.loads(out.read_text())
    assert document["fit"]["status"] == "converged"
    weights = document["params"]["summary"]["weights"]
    assert weights == sorted(weights, reverse=True)
    elbo, elbo_frame, one, thirty = extra_sweeps_gain(out, x)
    assert elbo == pytest.approx(document["fit"]["elbo"], rel=1e-12)
    assert document["fit"]["trace"][-1][1] == pytest.approx(elbo, rel=1e-12)
    allowance = tol * abs(elbo_frame)  # --tol is relative to the working frame's ELBO
    assert -1e-9 * abs(elbo) <= one <= allowance
    assert thirty <= 30 * allowance
    assert document["fit"]["restart_elbos"][document["fit"]["best_restart"]] == document["fit"]["elbo"]
