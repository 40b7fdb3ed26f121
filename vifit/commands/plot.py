"""``vifit plot``: a picture of a fitted model."""

from __future__ import annotations

import contextlib
import re

import click

from vifit.options import debug_option, decimal_option, delimiter_option, quiet_option


def _image_shape(ctx, param, value):
    if value is None:
        return None
    match = re.fullmatch(r"(\d+)x(\d+)", value.strip().lower())
    if not match or 0 in (int(match.group(1)), int(match.group(2))):
        raise click.BadParameter("give HEIGHTxWIDTH, e.g. 8x8")
    return int(match.group(1)), int(match.group(2))


# Which model kinds each figure option draws something for; an option given for another
# kind is refused (exit 2) rather than silently ignored.
APPLIES_TO = {"--dims": ("gmm",), "--color-by": ("pca", "autoencoder", "vae"), "--image-shape": ("vae",)}
# Options about DATA's points or its parsing: meaningless without DATA.
NEEDS_DATA = ("--dims", "--color-by", "--header", "--no-header", "--delimiter", "--decimal")


def _given(ctx, dims, color_by, image_shape, header) -> list[str]:
    """The figure options given on the command line, by their flag."""
    from click.core import ParameterSource

    given = [flag for flag, value in (("--dims", dims), ("--color-by", color_by), ("--image-shape", image_shape))
             if value is not None]
    if ctx.get_parameter_source("header") not in (ParameterSource.DEFAULT, None):
        given.append("--header" if header else "--no-header")
    for name in ("delimiter", "decimal"):
        if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None):
            given.append(f"--{name}")
    return given


def check_applicable(model: str, given: list[str], has_data: bool) -> None:
    """BadInput for the first option in ``given`` that does nothing for this model or without DATA."""
    from vifit.errors import BadInput

    for flag in given:
        kinds = APPLIES_TO.get(flag)
        if kinds is not None and model not in kinds:
            listed = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " and " + kinds[-1]
            why = " (a gmm plot colours the points by cluster)" if flag == "--color-by" and model == "gmm" else ""
            raise BadInput(f"{flag} applies to {listed} models only, not {model}{why}")
    for flag in given:
        if flag in NEEDS_DATA and not has_data:
            raise BadInput(f"{flag} applies to DATA, and no DATA was given: vifit plot MODEL.json DATA {flag} ...")


@click.command()
@click.argument("model_file", metavar="MODEL.json")
@click.argument("data", metavar="[DATA]", required=False)
@click.option("-o", "--output", metavar="PATH", required=True,
              help="Figure file: .png, .svg or .pdf (or any path, a device or a FIFO, with --format).")
@click.option("--format", "fmt", type=click.Choice(["png", "svg", "pdf"]), default=None,
              help="Figure format; default from the -o extension.")
@click.option("--dims", metavar="A,B", default=None, help="gmm: the two columns to show (default: the first two "
              "principal directions, or the two columns of 2-D data).")
@click.option("--color-by", metavar="COLUMN", default=None, help="pca, autoencoder, vae: colour points by this column of DATA (e.g. a label).")
@click.option("--image-shape", metavar="HxW", default=None, callback=_image_shape,
              help="vae: draw decoded samples as HxW images, e.g. 8x8.")
@click.option("--header/--no-header", default=True, show_default=True, help="Whether DATA's first row holds names.")
@delimiter_option
@decimal_option
@quiet_option
@debug_option
@click.pass_context
def plot(ctx, model_file, data, output, fmt, dims, color_by, image_shape, header, delimiter, decimal, run):
    """Draw a fitted model: ELBO or training curves, and the data in 2-D.

    gmm: the ELBO trace and the data coloured by cluster with 2σ ellipses
    (one column: a histogram with the fitted density and its components),
    and for a K range the ELBO per row (and held-out log density) against K,
    one line per covariance type, the chosen one starred; pca: the scree plot
    and the 2-D projection (--k 1: a histogram of pc1); autoencoder and vae:
    training and validation curves and the 2-D latent means, plus (vae,
    --image-shape) a grid of decoded samples. A comparison written by vifit compare (no DATA): one
    bar per candidate, its held-out log density per row with standard-error
    whiskers, the best coloured. An option that draws nothing for the model
    (--color-by on a gmm, --image-shape on anything but a vae, --dims on
    anything but a gmm, DATA's options without DATA) is an error (exit 2).
    Needs matplotlib: pip install 'vifit[plot]'.

    \b
    Example:
      vifit pca sample_data/iris.csv --k 2 -o pca.json
      vifit plot pca.json sample_data/iris.csv --color-by species -o pca.png
      vifit compare sample_data/iris.csv --models 'gmm:k=1-4;pca:k=1-3' -o ranking.json
      vifit plot ranking.json -o ranking.png
    """
    from vifit.commands.common import check_output_target
    from vifit.data import ReadOptions, load_table
    from vifit.documents.choices import COMPARE_SCHEMA, read_figure_document
    from vifit.errors import BadInput
    from vifit.output import write_text
    from vifit.plot import figure_format, render_figure, require_matplotlib
    from vifit.plot.figures import figure_of

    fmt = figure_format(output, fmt)
    check_output_target(output, {"DATA": data, "MODEL": model_file})
    document = read_figure_document(model_file)
    if document["schema"] == COMPARE_SCHEMA:  # a ranking of candidates, not a model: no rows to draw
        document["model"] = "comparison"
        if data is not None:
            raise BadInput(f"{model_file} is a comparison (vifit.compare/1): it is drawn without DATA; drop {data}")
    check_applicable(document["model"], _given(ctx, dims, color_by, image_shape, header), data is not None)
    plt = require_matplotlib()
    table = None
    if data is not None:
        from vifit.data import display_name, read_column, spooled
        from vifit.documents import model_kind
        from vifit.progress import Reporter

        notes = Reporter("none", quiet=run.get("quiet", False))  # held until DATA is read: bad input is one line

        columns = list(document["data"]["columns"])  # validated by read_document
        # --color-by reads DATA a second time: a pipe or stdin is copied to a file first
        with spooled(data) if color_by is not None else contextlib.nullcontext(data) as path:
            opts = ReadOptions(header=header, delimiter=delimiter, decimal=decimal)
            kind = model_kind(document["model"], model_file)
            if hasattr(kind, "read_options"):  # the model reads its own kinds of cells (missing, categories)
                opts = kind.read_options(document, opts)
            table = load_table(path, opts, required_columns=columns, note=notes.note)
            table.source = display_name(data)
            if color_by is not None:
                table.extra["color_by"] = read_column(path, color_by,
                                                      ReadOptions(header=header, delimiter=delimiter, decimal=decimal))
        notes.release()
    figure = figure_of(plt, document, model_file, table,
                       {"dims": dims, "color_by": color_by, "image_shape": image_shape})
    try:
        write_text(render_figure(figure, fmt), output)
    finally:
        plt.close(figure)

