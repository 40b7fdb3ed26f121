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


def test_pca_png_has_scree_and_projection(tmp_path, pca_model):
    out = tmp_path / "pca.png"
    result = invoke(["plot", pca_model, SAMPLE / "iris.csv", "--color-by", "species", "-o", out])
    assert result.exit_code == 0, result.stderr
    assert _png_size(out) == (1000, 400)
    assert out.stat().st_size > 10_000

    from vifit.data import ReadOptions, load_table
    from vifit.output import read_document
    from vifit.plot import require_matplotlib
    from vifit.plot.figures import draw_pca

    plt = require_matplotlib()
    document = read_document(str(pca_model))
    table = load_table(str(SAMPLE / "iris.csv"), ReadOptions(), required_columns=document["data"]["columns"])
    figure = draw_pca(plt, document, str(pca_model), table, {})
    scree, projection = figure.axes
    assert len(scree.patches) == 3 and len(scree.lines) == 1       # 3 bars, cumulative line
    assert len(projection.collections) == 1
    assert projection.collections[0].get_offsets().shape == (150, 2)
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
    from vifit.data import ReadOptions, load_table
    from vifit.output import read_document
    from vifit.plot import require_matplotlib
    from vifit.plot.figures import DRAW

    plt = require_matplotlib()
    document = read_document(str(path))
    table = load_table(str(data), ReadOptions(), required_columns=document["data"]["columns"])
    return plt, DRAW[kind](plt, document, str(path), table, options), document


def test_gmm_plot_has_elbo_trace_points_and_one_ellipse_per_component(tmp_path, models):
    from matplotlib.patches import Ellipse

    out = tmp_path / "gmm.png"
    assert invoke(["plot", models["gmm"], SAMPLE / "iris.csv", "-o", out]).exit_code == 0
    assert _png_size(out) == (1000, 400)
    plt, figure, document = _figure("gmm", models["gmm"])
    trace_ax, data_ax = figure.axes
    assert len(trace_ax.lines[0].get_xdata()) == len(document["fit"]["trace"])
    assert data_ax.collections[0].get_offsets().shape == (150, 2)
    assert sum(isinstance(p, Ellipse) for p in data_ax.patches) == 3
    plt.close(figure)
    _, chosen, _ = _figure("gmm", models["gmm"], dims="petal_length,petal_width")
    assert chosen.axes[1].get_xlabel() == "petal_length"
    plt.close(chosen)


@pytest.mark.parametrize("kind", ["autoencoder", "vae"])
def test_network_plots_have_curves_and_latent_means(tmp_path, models, kind):
    out = tmp_path / f"{kind}.png"
    result = invoke(["plot", models[kind], SAMPLE / "iris.csv", "--color-by", "species", "-o", out])
    assert result.exit_code == 0, result.stderr
    assert out.stat().st_size > 10_000
    assert _png_size(out) == (1000, 400)  # two 5 x 4 inch panels at 100 dpi, as for pca and gmm
    plt, figure, _ = _figure(kind, models[kind])
    curves, latent = figure.axes
    assert len(curves.lines) == 2  # training and validation
    assert latent.collections[0].get_offsets().shape == (150, 2)
    plt.close(figure)


@pytest.fixture(scope="module")
def digits_vae(tmp_path_factory):
    path = tmp_path_factory.mktemp("plot-digits") / "vae.json"
    result = invoke(["vae", SAMPLE / "digits.csv", "--likelihood", "bernoulli", "--scale", "minmax", "--hidden",
                     "16", "--latent", "2", "--epochs", "3", "--seed", "3", "-q", "-o", path])
    assert result.exit_code == 0, result.stderr
    return path


def test_vae_image_grid_is_an_image_of_four_by_four_decoded_digits(tmp_path, digits_vae):
    from matplotlib.image import AxesImage

    out = tmp_path / "digits.png"
    result = invoke(["plot", digits_vae, SAMPLE / "digits.csv", "--image-shape", "8x8", "-o", out])
    assert result.exit_code == 0, result.stderr
    assert _png_size(out) == (1500, 400)  # curves, latent means and the grid: three 5 x 4 inch panels
    plt, figure, _ = _figure("vae", digits_vae, data=SAMPLE / "digits.csv", image_shape=(8, 8))
    curves, latent, grid = figure.axes
    assert len(curves.lines) == 2 and latent.collections[0].get_offsets().shape[1] == 2
    images = [artist for artist in grid.get_children() if isinstance(artist, AxesImage)]
    assert len(images) == 1 and images[0].get_array().shape == (4 * 8, 4 * 8)  # 16 draws of 8 x 8 pixels
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
