"""vifit plot of a 1-column mixture (the notes' own model): a histogram of the rows, the fitted
density and each component's weighted density, the posterior predictive's (Student t; Gaussian
for --covariance known), checked against vifit predict and scipy's densities."""

from __future__ import annotations


import numpy as np
import pytest
from scipy import stats

from conftest import SAMPLE, invoke

DATA = SAMPLE / "mixture_1d.csv"


def _fit(tmp_path, *args):
    path = tmp_path / "model.json"
    result = invoke([*args, "--seed", "0", "-q", "-o", path])
    assert result.exit_code == 0, result.stderr
    return path


def _density_figure(path):
    """(plt, the figure vifit plot draws for path and DATA, its document)."""
    from vifit.data import ReadOptions, load_table
    from vifit.documents import model_kind
    from vifit.output import read_document
    from vifit.plot import require_matplotlib
    from vifit.plot.figures import figure_of

    plt = require_matplotlib()
    document = read_document(str(path))
    opts = model_kind(document["model"], str(path)).read_options(document, ReadOptions())
    table = load_table(str(DATA), opts, required_columns=document["data"]["columns"])
    return plt, figure_of(plt, document, str(path), table, {}), document


def _predicted_density(tmp_path, model, grid):
    """exp(log_density) of vifit predict at the grid's points: the oracle for the mixture line."""
    rows = tmp_path / "grid.csv"
    rows.write_text("x\n" + "\n".join(repr(float(v)) for v in grid) + "\n")
    result = invoke(["predict", model, rows])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    column = lines[0].split(",").index("log_density")
    return np.exp([float(line.split(",")[column]) for line in lines[1:]])


def _check_density_panel(ax, weights, n_rows=600):
    """The histogram (a density: bar areas sum to 1), k + 1 lines whose components add up to
    the mixture, one legend entry each; returns (grid, mixture line, component lines)."""
    from matplotlib.patches import Rectangle

    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) >= 30
    assert sum(b.get_width() * b.get_height() for b in bars) == pytest.approx(1.0)
    assert len(ax.lines) == len(weights) + 1
    mixture, *components = ax.lines
    grid = mixture.get_xdata()
    assert np.allclose(sum(c.get_ydata() for c in components), mixture.get_ydata(), rtol=1e-12)
    legend = sorted(t.get_text() for t in ax.get_legend().get_texts())
    assert legend == sorted(["mixture density", f"data ({n_rows} rows)"]
                            + [f"component {j + 1} (w = {w:.2f})" for j, w in enumerate(weights)])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "density")
    return grid, mixture.get_ydata(), [c.get_ydata() for c in components]


@pytest.mark.parametrize("standardize", [False, True])
def test_a_1d_gmm_is_a_histogram_with_the_predictive_density_and_student_t_components(tmp_path, standardize):
    model = _fit(tmp_path, "gmm", DATA, "--k", "3", *(["--standardize"] if standardize else []))
    out = tmp_path / "g.png"
    result = invoke(["plot", model, DATA, "-o", out])
    assert result.exit_code == 0, result.stderr
    plt, figure, document = _density_figure(model)
    trace_ax, density_ax = figure.axes
    weights = document["params"]["summary"]["weights"]
    grid, mixture, components = _check_density_panel(density_ax, weights)
    assert grid.min() < -9 < 5 < grid.max()  # the three modes are in the view
    assert mixture == pytest.approx(_predicted_density(tmp_path, model, grid), rel=1e-9)
    # each component: its weight times the Student t of the Normal-Wishart posterior (Bishop 10.81)
    q = document["params"]["variational"]
    scale = 1.0
    if standardize:
        scale = document["data"]["preprocessing"]["standardize"]["scale"][0]
        shift = document["data"]["preprocessing"]["standardize"]["mean"][0]
    for j, line in enumerate(components):
        beta, nu, w_inv = q["mean_precision"][j], q["dof"][j], np.asarray(q["scale_inv"][j]).item()
        t = stats.t(df=nu, loc=q["means"][j][0], scale=np.sqrt(w_inv * (1 + beta) / (beta * nu)))
        z = (grid - shift) / scale if standardize else grid
        assert line == pytest.approx(weights[j] * t.pdf(z) / scale, rel=1e-9)
    assert figure.get_suptitle() == f"gmm, K = 3, ELBO {document['fit']['elbo_per_row']:.4g} per row"
    plt.close(figure)


def test_the_notes_known_covariance_gmm_has_gaussian_components(tmp_path):
    model = _fit(tmp_path, "gmm", DATA, "--k", "3", "--covariance", "known")
    plt, figure, document = _density_figure(model)
    weights = document["params"]["summary"]["weights"]
    grid, mixture, components = _check_density_panel(figure.axes[1], weights)
    assert mixture == pytest.approx(_predicted_density(tmp_path, model, grid), rel=1e-9)
    sigma = document["params"]["prior"]["sigma"]
    q = document["params"]["variational"]
    for j, line in enumerate(components):  # N(m_k, sigma^2 (1 + 1/beta_k))
        normal = stats.norm(q["means"][j][0], sigma * np.sqrt(1 + 1 / q["mean_precision"][j]))
        assert line == pytest.approx(weights[j] * normal.pdf(grid), rel=1e-9)
    plt.close(figure)


def test_a_1d_gaussian_mixture_is_drawn_the_same_way(tmp_path):
    model = _fit(tmp_path, "mixture", DATA, "--columns", "x", "--k", "3")
    out = tmp_path / "m.png"
    assert invoke(["plot", model, DATA, "-o", out]).exit_code == 0
    plt, figure, document = _density_figure(model)
    trace_ax, weights_ax, density_ax = figure.axes
    weights = document["params"]["expected_weights"]
    grid, mixture, _ = _check_density_panel(density_ax, weights)
    assert mixture == pytest.approx(_predicted_density(tmp_path, model, grid), rel=1e-9)
    assert [t.get_text() for t in weights_ax.get_xticklabels()] == ["1", "2", "3"]
    plt.close(figure)


def test_dims_on_a_1d_gmm_is_one_line_and_no_file(tmp_path):
    model = _fit(tmp_path, "gmm", DATA, "--k", "2")
    out = tmp_path / "g.png"
    result = invoke(["plot", model, DATA, "--dims", "1,2", "-o", out])
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert "--dims" in result.stderr and "one column" in result.stderr and not out.exists()
