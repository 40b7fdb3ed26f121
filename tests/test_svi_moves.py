"""Issue 23, item 2 for --method svi: the split-merge check after an SVI (or memoized) fit
converges, tried by full passes over the rows (vifit.inference.svi_moves).

The data are test_starts' mixture (eight equal, well-separated, anisotropic Gaussians) at
60,000 rows; the merged optimum is made on purpose: SVI started from labels that put two
clusters under one component and split a third converges there (it only climbs, as CAVI does).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import invoke
from gmm_helpers import problem_for
from test_starts import K, make_mixture, truth_weights
from vifit import GMM
from vifit.inference import cavi, svi, svi_moves
from vifit.models import gmm

N = 60_000


@pytest.fixture(scope="module")
def merged():
    """(x, labels, the SVI problem, its converged result at the merged optimum, the CAVI problem)."""
    x, labels, _, _ = make_mixture(n=N)
    start = labels.copy()
    start[start == 1] = 0  # clusters 0 and 1 under one component
    two = np.flatnonzero(labels == 2)
    start[two[::2]] = 1  # cluster 2 split in two
    spec = gmm.Spec(K, x.shape[1], "full", "dirichlet")
    cavi_problem = problem_for(spec, x, chunk_rows=4096)
    lam0 = cavi.initial_state(cavi_problem, "kmeans++", np.random.default_rng(0), resp0=start).lam
    problem = svi.Problem(cavi_problem.model, svi.ArraySource(x), chunk_rows=4096)
    result = svi.run(problem, svi.State(lam=lam0.copy()), svi.Settings(batch_size=1024), np.random.default_rng(1),
                     n_rows=N)
    return x, labels, problem, result, cavi_problem


def test_svi_moves_escape_a_merged_pair_and_never_lower_the_elbo(merged):
    x, labels, problem, result, cavi_problem = merged
    assert result.status == "converged"
    weights = np.sort(result.state.lam[0] - problem.model.prior.natural[0])[::-1] / N
    assert weights[0] > 0.2  # the merged pair: SVI alone does not leave it
    sample = x[np.random.default_rng(2).choice(N, 16384, replace=False)]
    moved, kept = svi_moves.improve(problem, result, sample, N / sample.shape[0], tol=1e-6)
    assert kept and kept[0]["elbo_before"] == result.elbo and kept[0]["step"] == result.state.step + 1
    assert moved.trace[:len(result.trace)] == result.trace  # the run up to convergence is SVI's alone
    later = [value for _, value in moved.trace[len(result.trace):]]
    assert min(later) > result.elbo
    # after the move's trial passes, full-batch steps are CAVI sweeps: the exact ELBO only rises
    trial = later[svi_moves.moves.TRIAL_SWEEPS - 1:]
    assert all(b >= a - 1e-9 * abs(a) for a, b in zip(trial, trial[1:]))
    assert moved.status == "converged" and moved.elbo == later[-1]
    assert moved.elbo - result.elbo > 0.01 * abs(result.elbo)  # not a round-off gain
    fitted = np.sort(moved.state.lam[0] - problem.model.prior.natural[0])[::-1] / N
    assert np.abs(fitted - truth_weights(labels)).max() <= 0.01
    # the optimum CAVI reaches from the generating labels, to the convergence tolerance
    truth = cavi.initial_state(cavi_problem, "kmeans++", np.random.default_rng(0), resp0=labels)
    truth, status = cavi.run(cavi_problem, truth, tol=1e-9, max_iter=200)
    assert status == "converged"
    assert abs(moved.elbo - cavi_problem.data_units(truth.elbo)) <= 1e-5 * abs(moved.elbo)
    # deterministic: the same converged fit gets the same moves
    again, kept_again = svi_moves.improve(problem, result, sample, N / sample.shape[0], tol=1e-6)
    assert kept_again == kept and np.array_equal(again.state.lam, moved.state.lam)


def test_an_unconverged_or_read_once_fit_gets_no_moves(merged):
    from dataclasses import replace

    x, _, problem, result, _ = merged
    sample = x[:4096]
    for unmoved in (replace(result, status="max_iter"),):
        assert svi_moves.improve(problem, unmoved, sample, N / 4096, tol=1e-6) == (unmoved, [])


def test_svi_default_checks_moves_and_none_is_the_svi_fit_alone():
    """--method svi records its moves; with none kept, --moves none gives the same bytes apart from
    config.moves and the empty fit.moves."""
    from vifit.output import render_json

    x, labels, _, _ = make_mixture(n=N)
    default = GMM(k=K, method="svi", seed=0).fit(x).document_
    assert default["config"]["moves"] == "split-merge" and default["fit"]["moves"] == []
    alone = GMM(k=K, method="svi", moves="none", seed=0).fit(x).document_
    assert alone["config"]["moves"] == "none" and "moves" not in alone["fit"]
    for block in ("params", "data"):
        assert render_json(alone[block]) == render_json(default[block])
    assert render_json(alone["fit"]) == render_json({key: value for key, value in default["fit"].items()
                                                    if key != "moves"})
    weights = np.array(default["params"]["summary"]["weights"])
    assert np.abs(np.sort(weights)[::-1] - truth_weights(labels)).max() <= 0.01


def test_moves_on_the_command_line_for_svi_and_a_note_for_stdin(tmp_path):
    import vifit

    x, _, _, _ = make_mixture(n=3000)
    data = tmp_path / "rows.csv"
    np.savetxt(data, x, delimiter=",", header="a,b,c", comments="", fmt="%.17g")
    model = tmp_path / "svi.json"
    done = invoke(["gmm", data, "--k", K, "--method", "svi", "--moves", "none", "--seed", 0, "-q", "-o", model])
    assert done.exit_code == 0, done.stderr
    loaded = vifit.load(model)
    assert loaded.document_["config"]["moves"] == "none"
    assert loaded.fit(x).document_["config"]["moves"] == "none"  # the refit keeps the option
    piped = invoke(["gmm", "-", "--k", K, "--method", "svi", "--seed", 0], input=data.read_text())
    assert piped.exit_code == 0, piped.stderr
    assert "can be read only once, so no moves were tried" in piped.stderr
    assert json.loads(piped.stdout)["fit"]["moves"] == []
    quiet = invoke(["gmm", "-", "--k", K, "--method", "svi", "--seed", 0, "--moves", "none"], input=data.read_text())
    assert quiet.exit_code == 0 and "no moves were tried" not in quiet.stderr
