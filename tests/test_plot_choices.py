"""vifit plot of a choice among candidates: a comparison (vifit.compare/1) as one bar per
candidate, and a gmm or mixture K range (fit.selection) against K, one line per covariance type."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from conftest import SAMPLE, invoke

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return struct.unpack(">II", data[16:24])


def _draw(path, data=None):
    """(plt, the figure vifit plot draws for the file at path, its validated document)."""
    from vifit.data import ReadOptions, load_table
    from vifit.documents.choices import COMPARE_SCHEMA, read_figure_document
    from vifit.plot import require_matplotlib
    from vifit.plot.figures import DRAW

    plt = require_matplotlib()
    document = read_figure_document(str(path))
    kind = "comparison" if document["schema"] == COMPARE_SCHEMA else document["model"]
    table = None if data is None else load_table(str(data), ReadOptions(), required_columns=document["data"]["columns"])
    return plt, DRAW[kind](plt, document, str(path), table, {}), document


@pytest.fixture(scope="module")
def ranking(tmp_path_factory):
    path = tmp_path_factory.mktemp("plot-compare") / "ranking.json"
    result = invoke(["compare", SAMPLE / "iris.csv", "--models", "gmm:k=1-2;pca:k=1-2;autoencoder:hidden=4/2:epochs=2",
                     "--seed", "4", "-q", "-o", path])
    assert result.exit_code == 0, result.stderr
    return path


def test_comparison_is_one_bar_per_ranked_candidate_with_whiskers_and_the_best_marked(tmp_path, ranking):
    from matplotlib.container import BarContainer, ErrorbarContainer

    out = tmp_path / "ranking.png"
    result = invoke(["plot", ranking, "-o", out])
    assert result.exit_code == 0, result.stderr
    assert _png_size(out)[0] == 800
    plt, figure, document = _draw(ranking)
    ranked = [c for c in document["candidates"] if c["rank"] is not None]
    assert [c["kind"] for c in document["candidates"] if c["rank"] is None] == ["autoencoder"]
    (ax,) = figure.axes
    bars = next(c for c in ax.containers if isinstance(c, BarContainer))
    assert len(bars) == len(ranked) == 4
    # each bar ends at its candidate's held-out figure, in rank order, top to bottom
    ends = [bar.get_x() + bar.get_width() for bar in bars]
    assert ends == pytest.approx([c["heldout_log_density_per_row"] for c in ranked], rel=1e-12)
    assert [t.get_text() for t in ax.get_yticklabels()] == [c["name"] for c in ranked]
    assert ax.yaxis_inverted()
    # whiskers: one segment per bar, +- its standard error around its figure
    whiskers = next(c for c in ax.containers if isinstance(c, ErrorbarContainer))
    segments = whiskers.lines[2][0].get_segments()
    for segment, candidate in zip(segments, ranked):
        (left, _), (right, _) = segment
        assert (right - left) / 2 == pytest.approx(candidate["standard_error"], rel=1e-9)
    # the best bar, and only it, is coloured apart and named in the legend
    best = [i for i, bar in enumerate(bars) if bar.get_facecolor() != bars[-1].get_facecolor()]
    assert best == [[c["name"] for c in ranked].index(document["best"])] == [0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"best: {document['best']}" in legend and "± 1 standard error" in legend
    assert "held-out log density per row" in ax.get_xlabel()
    assert any("autoencoder:hidden=4/2:epochs=2" in t.get_text() for t in figure.texts)
    plt.close(figure)


@pytest.mark.parametrize("extra, words", [([str(SAMPLE / "iris.csv")], "drawn without DATA"),
                                          (["--dims", "1,2"], "--dims"), (["--image-shape", "2x2"], "--image-shape")])
def test_comparison_refuses_data_and_the_options_of_models(tmp_path, ranking, extra, words):
    out = tmp_path / "ranking.png"
    result = invoke(["plot", ranking, *extra, "-o", out])
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert words in result.stderr and not out.exists()


@pytest.fixture(scope="module")
def k_range(tmp_path_factory):
    path = tmp_path_factory.mktemp("plot-select") / "gmm.json"
    result = invoke(["gmm", SAMPLE / "iris.csv", "--k", "1-4", "--seed", "0", "-q", "-o", path])
    assert result.exit_code == 0, result.stderr
    return path


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


@pytest.fixture(scope="module")
def old_k_range(tmp_path_factory, k_range):
    """The K range as documents written before the grid carried a covariance per candidate."""
    import json

    document = json.loads(k_range.read_text())
    for candidate in document["fit"]["selection"]["candidates"]:
        candidate.pop("covariance", None)
    path = tmp_path_factory.mktemp("plot-select-old") / "gmm.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize("which", ["today", "before the grid"])
def test_todays_k_range_draws_the_elbo_per_row_against_k_the_chosen_starred(tmp_path, k_range, old_k_range,
                                                                            which):
    k_range = k_range if which == "today" else old_k_range
    out = tmp_path / "gmm.png"
    assert invoke(["plot", k_range, SAMPLE / "iris.csv", "-o", out]).exit_code == 0
    assert _png_size(out) == (1500, 400)  # trace, selection, clusters
    plt, figure, document = _draw(k_range, SAMPLE / "iris.csv")
    selection = document["fit"]["selection"]
    if which == "today":  # the grid writes each candidate's covariance; the fit's, for a K range alone
        assert {c["covariance"] for c in selection["candidates"]} == {document["config"]["covariance"]}
    else:  # older documents: k and elbo only, the covariance taken from config
        assert all("covariance" not in c for c in selection["candidates"])
    trace_ax, chosen_ax, data_ax = figure.axes
    assert chosen_ax.get_xlabel() == "K (components)" and chosen_ax.get_ylabel() == "ELBO per row (nats)"
    assert chosen_ax.get_title() == "choosing K: the training ELBO"
    assert [t.get_text() for t in chosen_ax.get_xticklabels()] == ["1", "2", "3", "4"]
    assert figure.get_suptitle() == (f"gmm, K = {selection['chosen_k']}, "
                                     f"ELBO {document['fit']['elbo_per_row']:.4g} per row")
    line, star = chosen_ax.lines
    assert list(line.get_xdata()) == [1, 2, 3, 4]
    assert list(line.get_ydata()) == [c["elbo_per_row"] for c in selection["candidates"]]
    chosen = next(c for c in selection["candidates"] if c["k"] == selection["chosen_k"])
    assert (list(star.get_xdata()), list(star.get_ydata())) == ([chosen["k"]], [chosen["elbo_per_row"]])
    assert star.get_marker() == "*"
    assert _legend(chosen_ax) == [document["config"]["covariance"], f"chosen: K = {chosen['k']}"]
    assert data_ax.collections[0].get_offsets().shape == (150, 2)
    plt.close(figure)


def _grid_selection(document):
    """A selection as the --covariance grid with --validation writes it: K 1-4 x (full, diag)."""
    rng = np.random.default_rng(2)
    candidates = []
    for covariance in ("full", "diag"):
        for k in range(1, 5):
            candidates.append({"k": k, "covariance": covariance, "elbo": float(rng.normal(-300, 5)),
                               "elbo_per_row": float(rng.normal(-2, 0.1)),
                               "heldout_log_density_per_row": float(rng.normal(-2.2, 0.1)),
                               "heldout_standard_error": float(rng.uniform(0.05, 0.2)), "icl": -310.0,
                               "effective_components": k, "n_iter": 12, "converged": True})
    return {"candidates": candidates, "chosen_k": 3, "chosen": {"k": 3, "covariance": "diag"},
            "criterion": "highest held-out log density", "reason": "made by hand", "edge": False}


def test_a_covariance_grid_with_held_out_figures_is_one_line_per_type_in_each_panel(tmp_path, k_range):
    document = json.loads(k_range.read_text())
    document["fit"]["selection"] = _grid_selection(document)
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(document))
    out = tmp_path / "grid.png"
    result = invoke(["plot", path, "-o", out])
    assert result.exit_code == 0, result.stderr
    assert _png_size(out) == (1500, 400)  # trace, ELBO per row, held-out
    plt, figure, _ = _draw(path)
    _, elbo_ax, heldout_ax = figure.axes
    candidates = document["fit"]["selection"]["candidates"]
    for ax, key in ((elbo_ax, "elbo_per_row"), (heldout_ax, "heldout_log_density_per_row")):
        assert _legend(ax) == ["full", "diag", "chosen: K = 3, diag"]
        named = {line.get_label(): line for line in ax.lines}  # the whiskers' caps are lines too
        full, diag, star = named["full"], named["diag"], named["chosen: K = 3, diag"]
        for line, covariance in ((full, "full"), (diag, "diag")):
            assert list(line.get_ydata()) == [c[key] for c in candidates if c["covariance"] == covariance]
        chosen = next(c for c in candidates if c["k"] == 3 and c["covariance"] == "diag")
        assert (list(star.get_xdata()), list(star.get_ydata())) == ([3], [chosen[key]])
    assert heldout_ax.get_ylabel() == "held-out log density per row (nats)"
    whiskers = [c for c in heldout_ax.containers if type(c).__name__ == "ErrorbarContainer"]
    assert len(whiskers) == 2 and not [c for c in elbo_ax.containers if type(c).__name__ == "ErrorbarContainer"]
    plt.close(figure)


def test_a_mixture_k_range_draws_its_selection_too(tmp_path):
    model = tmp_path / "mixture.json"
    result = invoke(["mixture", SAMPLE / "iris.csv", "--k", "1-3", "--seed", "0", "-q", "-o", model])
    assert result.exit_code == 0, result.stderr
    plt, figure, document = _draw(model)
    trace_ax, chosen_ax, weights_ax = figure.axes
    assert chosen_ax.get_xlabel() == "K (components)" and len(chosen_ax.lines) == 2  # one line, the star
    assert list(chosen_ax.lines[0].get_xdata()) == [1, 2, 3]
    assert weights_ax.get_title() == "mixing weights"
    plt.close(figure)


@pytest.mark.parametrize("change, words", [
    (lambda s: s.update(candidates="none"), "fit.selection.candidates"),
    (lambda s: s["candidates"][0].update(k=0), "fit.selection.candidates[0].k"),
    (lambda s: s["candidates"][1].update(heldout_log_density_per_row="high"),
     "fit.selection.candidates[1].heldout_log_density_per_row"),
    (lambda s: (s.pop("chosen"), s.pop("chosen_k")), "names no chosen candidate"),
])
def test_a_malformed_selection_is_one_line_naming_the_field(tmp_path, k_range, change, words):
    document = json.loads(k_range.read_text())
    document["fit"]["selection"] = _grid_selection(document)
    change(document["fit"]["selection"])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    out = tmp_path / "bad.png"
    result = invoke(["plot", path, "-o", out])
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert words in result.stderr and not out.exists()


def test_a_comparison_with_nothing_ranked_says_so(tmp_path):
    ranking, out = tmp_path / "ranking.json", tmp_path / "ranking.png"
    assert invoke(["compare", SAMPLE / "iris.csv", "--models", "autoencoder:hidden=4/2:epochs=2", "--seed", "1", "-q",
                   "-o", ranking]).exit_code == 0
    assert invoke(["plot", ranking, "-o", out]).exit_code == 0 and out.read_bytes().startswith(PNG_MAGIC)
    plt, figure, _ = _draw(ranking)
    (ax,) = figure.axes
    assert not ax.patches and "autoencoder:hidden=4/2:epochs=2" in ax.get_title()
    plt.close(figure)
