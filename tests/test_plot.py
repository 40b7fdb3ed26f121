"""vifit plot: each model kind renders to a real image with the expected artists."""

from __future__ import annotations

import struct
import sys

import pytest

from conftest import SAMPLE, invoke, run_subprocess

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def pca_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("plot") / "pca.json"
    assert invoke(["pca", SAMPLE / "iris.csv", "--k", "3", "-q", "-o", path]).exit_code == 0
    return path


def _suptitle(figure):
    return figure.get_suptitle()


def test_pca_png_has_scree_and_projection(tmp_path, pca_model):
    out = tmp_path / "pca.png"
    result = invoke(["plot", pca_model, SAMPLE / "iris.csv", "--color-by", "species", "-o", out])
    assert result.exit_code == 0, result.stderr
    assert _png_size(out) == (1000, 400)
    assert out.stat().st_size > 10_000

    plt, figure, document = _figure("pca", pca_model, color_by="species")
    scree, projection = figure.axes
    assert len(scree.patches) == 3 and len(scree.lines) == 1       # 3 bars, cumulative line
    assert [t.get_text() for t in scree.get_legend().get_texts()] == ["cumulative", "explained variance ratio"]
    assert len(projection.collections) == 1
    assert projection.collections[0].get_offsets().shape == (150, 2)
    assert (projection.get_xlabel(), projection.get_ylabel()) == ("pc1", "pc2")
    # one legend entry per level of the column, titled with its name, coloured as its points
    legend = projection.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["setosa", "versicolor", "virginica"]
    assert legend.get_title().get_text() == "species"
    colours = projection.collections[0].get_facecolors()
    species = ["setosa"] * 50 + ["versicolor"] * 50 + ["virginica"] * 50  # iris.csv's order
    from matplotlib.colors import to_rgb

    for handle, level in zip(legend.legend_handles, ["setosa", "versicolor", "virginica"]):
        assert all(tuple(colours[i][:3]) == pytest.approx(to_rgb(handle.get_color()))
                   for i, s in enumerate(species) if s == level)
    elbo = document["fit"]["elbo_per_row"]
    assert _suptitle(figure) == f"pca, K = 3, ELBO {elbo:.4g} per row"
    plt.close(figure)


def test_a_numeric_colour_column_is_a_colour_bar(pca_model):
    plt, figure, _ = _figure("pca", pca_model, color_by="sepal_length")
    scree, projection, bar = figure.axes
    assert projection.get_legend() is None
    assert bar.get_ylabel() == "sepal_length"
    import pandas as pd

    values = pd.read_csv(SAMPLE / "iris.csv")["sepal_length"].to_numpy()
    assert list(projection.collections[0].get_array()) == list(values)
    plt.close(figure)


def test_pca_with_one_component_draws_a_histogram_of_its_scores(tmp_path):
    model, out = tmp_path / "pca1.json", tmp_path / "pca1.png"
    assert invoke(["pca", SAMPLE / "iris.csv", "--k", "1", "-q", "-o", model]).exit_code == 0
    result = invoke(["plot", model, SAMPLE / "iris.csv", "--color-by", "species", "-o", out])
    assert result.exit_code == 0, result.stderr
    plt, figure, _ = _figure("pca", model, color_by="species")
    scree, projection = figure.axes
    assert len(scree.patches) == 1 and projection.get_xlabel() == "pc1 score"
    assert [t.get_text() for t in projection.get_legend().get_texts()] == ["setosa", "versicolor", "virginica"]
    # three histograms on shared bins: their bars hold the 150 rows, 50 per level
    heights = [p.get_height() for p in projection.patches]
    assert sum(heights) == 150 and len(heights) % 3 == 0
    per_level = len(heights) // 3
    assert [sum(heights[i * per_level:(i + 1) * per_level]) for i in range(3)] == [50, 50, 50]
    plt.close(figure)
    plt, figure, _ = _figure("pca", model)
    assert sum(p.get_height() for p in figure.axes[1].patches) == 150 and figure.axes[1].get_legend() is None
    plt.close(figure)


def test_plot_without_data_and_in_every_format(tmp_path, pca_model):
    for ext, magic in (("png", PNG_MAGIC), ("svg", b"<?xml"), ("pdf", b"%PDF")):
        out = tmp_path / f"scree.{ext}"
        result = invoke(["plot", pca_model, "-o", out])
        assert result.exit_code == 0, result.stderr
        assert out.read_bytes().startswith(magic)


@pytest.mark.parametrize("ext", ["png", "svg", "pdf"])
def test_plot_files_are_deterministic(tmp_path, pca_model, ext):
    first, second = tmp_path / f"a.{ext}", tmp_path / f"b.{ext}"
    assert invoke(["plot", pca_model, SAMPLE / "iris.csv", "-o", first]).exit_code == 0
    assert invoke(["plot", pca_model, SAMPLE / "iris.csv", "-o", second]).exit_code == 0
    assert first.read_bytes() == second.read_bytes()


def test_missing_matplotlib_names_the_extra(tmp_path, pca_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "x.png"
    result = invoke(["plot", pca_model, "-o", out])
    assert result.exit_code == 2
    assert "pip install 'vifit[plot]'" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("args,words", [
    (["-o", "fig.gif"], ".png, .svg or .pdf"),
    (["--image-shape", "8by8", "-o", "f.png"], "--image-shape"),
    (["--color-by", "colour", "-o", "f.png"], "colour"),
])
def test_plot_bad_options(tmp_path, pca_model, args, words, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(["plot", pca_model, SAMPLE / "iris.csv", *args])
    assert result.exit_code == 2 and words in result.stderr
    assert not any(p.suffix in (".png", ".gif") for p in tmp_path.iterdir())


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plot-models")
    commands = {
        "gmm": ["gmm", SAMPLE / "iris.csv", "--k", "3", "--seed", "0"],
        "autoencoder": ["autoencoder", SAMPLE / "iris.csv", "--hidden", "6,2", "--epochs", "5", "--standardize",
                        "--seed", "0"],
        "vae": ["vae", SAMPLE / "iris.csv", "--hidden", "6", "--latent", "2", "--epochs", "5", "--standardize",
                "--seed", "0"],
    }
    paths = {}
    for kind, args in commands.items():
        paths[kind] = folder / f"{kind}.json"
        result = invoke([*args, "-q", "-o", paths[kind]])
        assert result.exit_code == 0, result.stderr
    return paths


def _figure(kind, path, data=SAMPLE / "iris.csv", **options):
    """(plt, the Figure vifit plot saves for the model at path and DATA, the document), read as
    the command reads them (a model's own cell kinds, the --color-by column)."""
    from vifit.data import ReadOptions, load_table, read_column
    from vifit.documents import model_kind
    from vifit.output import read_document
    from vifit.plot import require_matplotlib
    from vifit.plot.figures import figure_of

    plt = require_matplotlib()
    document = read_document(str(path))
    assert document["model"] == kind
    table = None
    if data is not None:
        opts = ReadOptions()
        if hasattr(model_kind(kind, str(path)), "read_options"):
            opts = model_kind(kind, str(path)).read_options(document, opts)
        table = load_table(str(data), opts, required_columns=document["data"]["columns"])
        if options.get("color_by"):
            table.extra["color_by"] = read_column(str(data), options["color_by"], ReadOptions())
    return plt, figure_of(plt, document, str(path), table, options), document


def _integer_ticks(ax):
    """The x axis places ticks on whole numbers only (an iteration 2.5 does not exist)."""
    from matplotlib.ticker import MaxNLocator

    locator = ax.xaxis.get_major_locator()
    low, high = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if low <= t <= high]
    return isinstance(locator, MaxNLocator) and len(ticks) >= 2 and all(float(t).is_integer() for t in ticks)


def test_gmm_plot_has_elbo_trace_points_and_one_ellipse_per_component(tmp_path, models):
    from matplotlib.patches import Ellipse

    out = tmp_path / "gmm.png"
    assert invoke(["plot", models["gmm"], SAMPLE / "iris.csv", "-o", out]).exit_code == 0
    assert _png_size(out) == (1000, 400)
    plt, figure, document = _figure("gmm", models["gmm"])
    trace_ax, data_ax = figure.axes
    assert len(trace_ax.lines[0].get_xdata()) == len(document["fit"]["trace"])
    assert (trace_ax.get_xlabel(), trace_ax.get_ylabel()) == ("iteration", "ELBO (nats)")
    assert _integer_ticks(trace_ax)
    assert data_ax.collections[0].get_offsets().shape == (150, 2)
    from vifit.plot.common import point_style

    assert data_ax.collections[0].get_alpha() == point_style(150)["alpha"]  # the rule for N, not a constant
    assert sum(isinstance(p, Ellipse) for p in data_ax.patches) == 3
    weights = document["params"]["summary"]["weights"]
    assert [t.get_text() for t in data_ax.get_legend().get_texts()] == [
        f"component {j + 1} (w = {w:.2f})" for j, w in enumerate(weights)]
    # each entry is coloured as its ellipse
    ellipses = [p for p in data_ax.patches if isinstance(p, Ellipse)]
    from matplotlib.colors import to_rgb

    for handle, ellipse in zip(data_ax.get_legend().legend_handles, ellipses):
        assert to_rgb(handle.get_color()) == pytest.approx(tuple(ellipse.get_edgecolor()[:3]))
    assert _suptitle(figure) == f"gmm, K = 3, ELBO {document['fit']['elbo_per_row']:.4g} per row"
    plt.close(figure)
    _, chosen, _ = _figure("gmm", models["gmm"], dims="petal_length,petal_width")
    assert chosen.axes[1].get_xlabel() == "petal_length"
    plt.close(chosen)


def test_point_size_and_transparency_fall_with_the_number_of_points():
    from vifit.plot.common import point_style

    few, some, many = point_style(150), point_style(20_000), point_style(200_000)
    assert few["alpha"] == 0.8 and few["s"] == 12 and not few["rasterized"]
    assert many["alpha"] < some["alpha"] < few["alpha"] and many["s"] < some["s"] < few["s"]
    assert many["alpha"] <= 0.1 and many["s"] <= 1.5 and many["rasterized"] and many["linewidths"] == 0


def test_large_elbos_are_written_in_full_without_an_offset(tmp_path, models):
    import json

    document = json.loads(models["gmm"].read_text())
    document["fit"]["trace"] = [[i, -1.02e6 + 10 * i - 0.5 * i * i] for i in range(8)]  # -1,020,000 ... -1,019,954
    path = tmp_path / "big.json"
    path.write_text(json.dumps(document))
    plt, figure, _ = _figure("gmm", path, data=None)
    (trace_ax,) = figure.axes
    figure.canvas.draw()
    assert trace_ax.yaxis.get_offset_text().get_text() == ""
    shown = [t.get_text().replace("\u2212", "-") for t in trace_ax.get_yticklabels() if t.get_text()]
    assert shown and all("e" not in t and len(t.lstrip("-").split(".")[0]) == 7 for t in shown)
    assert _integer_ticks(trace_ax)
    plt.close(figure)


def test_a_converged_flat_trace_keeps_short_tick_labels(tmp_path, models):
    import json

    document = json.loads(models["gmm"].read_text())
    document["fit"]["trace"] = [[0, -325.60477523631], [1, -325.60477523630]]  # equal to 12 digits
    path = tmp_path / "flat.json"
    path.write_text(json.dumps(document))
    plt, figure, _ = _figure("gmm", path, data=None)
    figure.canvas.draw()
    shown = [t.get_text().replace("\u2212", "-") for t in figure.axes[0].get_yticklabels() if t.get_text()]
    assert shown and all(len(t) <= 8 for t in shown), shown  # -325.605, not -325.6047752361
    plt.close(figure)


def test_mixture_plot_colours_rows_by_component_with_weights_in_the_legend(tmp_path):
    model = tmp_path / "mixture.json"
    assert invoke(["mixture", SAMPLE / "iris.csv", "--k", "3", "--seed", "0", "-q", "-o", model]).exit_code == 0
    plt, figure, document = _figure("mixture", model)
    trace_ax, weights_ax, data_ax = figure.axes
    weights = document["params"]["expected_weights"]
    assert [p.get_height() for p in weights_ax.patches] == pytest.approx(weights)
    assert data_ax.collections[0].get_offsets().shape == (150, 2)
    assert [t.get_text() for t in data_ax.get_legend().get_texts()] == [
        f"component {j + 1} (w = {w:.2f})" for j, w in enumerate(weights)]
    assert _integer_ticks(trace_ax) and trace_ax.get_ylabel() == "ELBO (nats)"
    assert figure.get_suptitle() == f"mixture, K = 3, ELBO {document['fit']['elbo_per_row']:.4g} per row"
    plt.close(figure)


@pytest.mark.parametrize("kind", ["autoencoder", "vae"])
def test_network_plots_have_curves_and_latent_means(tmp_path, models, kind):
    out = tmp_path / f"{kind}.png"
    result = invoke(["plot", models[kind], SAMPLE / "iris.csv", "--color-by", "species", "-o", out])
    assert result.exit_code == 0, result.stderr
    assert out.stat().st_size > 10_000
    assert _png_size(out) == (1000, 400)  # two 5 x 4 inch panels at 100 dpi, as for pca and gmm
    plt, figure, document = _figure(kind, models[kind], color_by="species")
    curves, latent = figure.axes
    assert len(curves.lines) == 2  # training and validation
    assert [t.get_text() for t in curves.get_legend().get_texts()] == ["training", "validation"]
    assert curves.get_xlabel() == "epoch" and _integer_ticks(curves)
    assert latent.collections[0].get_offsets().shape == (150, 2)
    assert [t.get_text() for t in latent.get_legend().get_texts()] == ["setosa", "versicolor", "virginica"]
    fit = document["fit"]
    if kind == "vae":
        assert curves.get_ylabel() == fit["trace_units"]
        assert _suptitle(figure) == f"vae, latent = 2, ELBO {fit['elbo_per_row']:.4g} per row"
    else:
        assert curves.get_ylabel() == "mse loss"
        assert _suptitle(figure) == f"autoencoder, code = 2, mse loss {fit['loss']:.4g}"
    plt.close(figure)


def test_a_one_dimensional_code_is_a_histogram_per_level(tmp_path):
    model = tmp_path / "ae1.json"
    result = invoke(["autoencoder", SAMPLE / "iris.csv", "--hidden", "4,1", "--epochs", "2", "--standardize",
                     "--seed", "0", "-q", "-o", model])
    assert result.exit_code == 0, result.stderr
    plt, figure, _ = _figure("autoencoder", model, color_by="species")
    curves, codes = figure.axes
    assert codes.get_xlabel() == "code1" and codes.get_ylabel() == "rows"
    assert sum(p.get_height() for p in codes.patches) == 150
    assert [t.get_text() for t in codes.get_legend().get_texts()] == ["setosa", "versicolor", "virginica"]
    plt.close(figure)


@pytest.fixture(scope="module")
def digits_vae(tmp_path_factory):
    path = tmp_path_factory.mktemp("plot-digits") / "vae.json"
    result = invoke(["vae", SAMPLE / "digits.csv", "--likelihood", "bernoulli", "--scale", "minmax", "--hidden",
                     "16", "--latent", "2", "--epochs", "3", "--seed", "3", "-q", "-o", path])
    assert result.exit_code == 0, result.stderr
    return path


def test_vae_image_grid_is_sixteen_decoded_digits_with_gaps_between(tmp_path, digits_vae):
    from matplotlib.image import AxesImage

    out = tmp_path / "digits.png"
    result = invoke(["plot", digits_vae, SAMPLE / "digits.csv", "--image-shape", "8x8", "-o", out])
    assert result.exit_code == 0, result.stderr
    assert _png_size(out) == (1500, 400)  # curves, latent means and the grid: three 5 x 4 inch panels
    plt, figure, _ = _figure("vae", digits_vae, data=SAMPLE / "digits.csv", image_shape=(8, 8))
    curves, latent, grid = figure.axes
    assert len(curves.lines) == 2 and latent.collections[0].get_offsets().shape[1] == 2
    tiles = [artist for artist in grid.get_children() if isinstance(artist, AxesImage)]
    assert len(tiles) == 16 and all(t.get_array().shape == (8, 8) for t in tiles)  # 16 draws of 8 x 8 pixels
    # tiles in a 4 x 4 layout, each 8 wide and tall, with white space between neighbours
    lefts = sorted({t.get_extent()[0] for t in tiles})
    tops = sorted({min(t.get_extent()[2:]) for t in tiles})
    assert len(lefts) == len(tops) == 4
    assert all(b - a > 8 for a, b in zip(lefts, lefts[1:])) and all(b - a > 8 for a, b in zip(tops, tops[1:]))
    assert all(t.get_extent()[1] - t.get_extent()[0] == pytest.approx(8) for t in tiles)
    assert len({t.norm.vmin for t in tiles}) == 1 and len({t.norm.vmax for t in tiles}) == 1  # one grey scale
    assert grid.get_title() == "decoded draws from the prior"
    plt.close(figure)


OPTIONS_THAT_DRAW_NOTHING = [  # (model kind, options with DATA given or not, the flag named)
    ("gmm", ["--color-by", "species"], "--color-by"),
    ("gmm", ["--image-shape", "2x2"], "--image-shape"),
    ("pca", ["--image-shape", "2x2"], "--image-shape"),
    ("autoencoder", ["--image-shape", "2x2"], "--image-shape"),
    ("pca", ["--dims", "1,2"], "--dims"),
    ("autoencoder", ["--dims", "1,2"], "--dims"),
    ("vae", ["--dims", "1,2"], "--dims"),
]
WITHOUT_DATA = [  # options about DATA, given without it
    ("gmm", ["--dims", "1,2"], "--dims"),
    ("pca", ["--color-by", "species"], "--color-by"),
    ("vae", ["--color-by", "species"], "--color-by"),
    ("gmm", ["--no-header"], "--no-header"),
    ("pca", ["--delimiter", ";"], "--delimiter"),
]


@pytest.mark.parametrize("kind,args,flag", OPTIONS_THAT_DRAW_NOTHING + WITHOUT_DATA)
def test_plot_refuses_an_option_that_draws_nothing_for_the_model(tmp_path, models, pca_model, kind, args, flag):
    model = pca_model if kind == "pca" else models[kind]
    data = [SAMPLE / "iris.csv"] if (kind, args, flag) in OPTIONS_THAT_DRAW_NOTHING else []
    out = tmp_path / "figure.png"
    result = run_subprocess(["plot", model, *data, *args, "-o", out])
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert len(stderr.splitlines()) == 1 and stderr.startswith("vifit: error: ") and flag in stderr
    assert (kind in stderr) if data else ("no DATA" in stderr)
    assert not out.exists()
