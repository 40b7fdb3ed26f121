"""``vifit plot``: a picture of a fitted model."""

from __future__ import annotations

import contextlib
import re

import click

from vifit.options import debug_option


def _image_shape(ctx, param, value):
    if value is None:
        return None
    match = re.fullmatch(r"(\d+)x(\d+)", value.strip().lower())
    if not match or 0 in (int(match.group(1)), int(match.group(2))):
        raise click.BadParameter("give HEIGHTxWIDTH, e.g. 8x8")
    return int(match.group(1)), int(match.group(2))


@click.command()
@click.argument("model_file", metavar="MODEL.json")
@click.argument("data", metavar="[DATA]", required=False)
@click.option("-o", "--output", metavar="PATH", required=True, help="Figure file: .png, .svg or .pdf.")
@click.option("--dims", metavar="A,B", default=None, help="gmm: the two columns to show (default: the first two "
              "principal directions, or the two columns of 2-D data).")
@click.option("--color-by", metavar="COLUMN", default=None, help="Colour points by this column of DATA (e.g. a label).")
@click.option("--image-shape", metavar="HxW", default=None, callback=_image_shape,
              help="vae: draw decoded samples as HxW images, e.g. 8x8.")
@click.option("--header/--no-header", default=True, show_default=True, help="Whether DATA's first row holds names.")
@click.option("--delimiter", default=",", show_default=True, help="Field separator of DATA.")
@debug_option
def plot(model_file, data, output, dims, color_by, image_shape, header, delimiter, run):
    """Draw a fitted model: ELBO or training curves, and the data in 2-D.

    gmm: the ELBO trace and the data coloured by cluster with 2σ ellipses;
    pca: the scree plot and the 2-D projection; autoencoder and vae: training
    and validation curves and the 2-D latent means, plus (vae, --image-shape)
    a grid of decoded samples. Needs matplotlib: pip install 'vifit[plot]'.

    \b
    Example:
      vifit pca sample_data/iris.csv --k 2 -o pca.json
      vifit plot pca.json sample_data/iris.csv --color-by species -o pca.png
    """
    from vifit.commands.common import check_output_target
    from vifit.data import ReadOptions, load_table
    from vifit.output import read_document, write_text
    from vifit.plot import figure_format, render_figure, require_matplotlib
    from vifit.plot.figures import DRAW

    fmt = figure_format(output)
    check_output_target(output)
    document = read_document(model_file)
    plt = require_matplotlib()
    table = None
    if data is not None:
        from vifit.data import display_name
        from vifit.stream import spooled

        columns = list(document["data"].get("columns") or [])
        # --color-by reads DATA a second time: a pipe or stdin is copied to a file first
        with spooled(data) if color_by is not None else contextlib.nullcontext(data) as path:
            table = load_table(path, ReadOptions(header=header, delimiter=delimiter), required_columns=columns)
            table.source = display_name(data)
            if color_by is not None:
                table.extra["color_by"] = _label_column(path, color_by, header, delimiter, data)
    figure = DRAW[document["model"]](plt, document, model_file, table,
                                     {"dims": dims, "color_by": color_by, "image_shape": image_shape})
    try:
        write_text(render_figure(figure, fmt), output)
    finally:
        plt.close(figure)


def _label_column(path, column, header, delimiter, data):
    """The raw values of one column (any type), for colouring; read from path (DATA or its copy)."""
    import io

    import pandas as pd

    from vifit.data import read_bytes, resolve_delimiter
    from vifit.errors import BadInput

    frame = pd.read_csv(io.BytesIO(read_bytes(path)), sep=resolve_delimiter(delimiter),
                        header=0 if header else None, dtype=str, keep_default_na=False)
    if not header:
        frame.columns = [f"x{i + 1}" for i in range(frame.shape[1])]
    if column not in frame.columns:
        raise BadInput(f"--color-by {column}: no such column in {data}")
    return frame[column].to_numpy()
