"""``vifit predict``: apply a fitted model to rows."""

from __future__ import annotations

import click

from vifit.commands.backend_options import backend_options
from vifit.options import output_options, run_options


@click.command()
@click.argument("model_file", metavar="MODEL.json")
@click.argument("data", metavar="DATA")
@click.option("--header/--no-header", default=True, show_default=True, help="Whether DATA's first row holds column names.")
@click.option("--delimiter", default=",", show_default=True, help="Field separator of DATA.")
@click.option("--dropna", is_flag=True, help="Skip rows with missing or infinite values instead of failing.")
@click.option("--reconstruct", is_flag=True, help="Write reconstructions of the rows (pca, autoencoder, vae).")
@backend_options
@output_options
@run_options
def predict(model_file, data, header, delimiter, dropna, reconstruct, backend, out, run):
    """Assign, encode or score rows of DATA with a model written by vifit.

    DATA must hold the columns the model was fitted on (by name, or in the
    same order with --no-header); --standardize from the fit is re-applied.
    Output is CSV, one row per input row: pca writes coordinates pc1..pck and
    the PPCA log-likelihood loglik; gmm writes the label, responsibilities and
    log predictive density.

    \b
    Example:
      vifit pca sample_data/iris.csv --k 2 -o pca.json
      vifit predict pca.json sample_data/iris.csv -o coords.csv
      vifit predict gmm.json 'data/part-*.csv.gz' --backend dask -o 'pred/part-*.csv'
    """
    from vifit.commands.common import check_output_target
    from vifit.data import ReadOptions, load_table
    from vifit.errors import BadInput
    from vifit.output import read_document, render_table, write_text
    from vifit.progress import Reporter
    from vifit.runners import runner_for

    reporter = Reporter(run["progress"], quiet=run["quiet"])
    if out["format"] == "json":
        raise BadInput("predict writes CSV only; drop --format json")
    check_output_target(out["output"])
    document = read_document(model_file)
    runner = runner_for(document["model"], model_file)
    columns = document["data"].get("columns")
    if not isinstance(columns, list) or not columns:
        raise BadInput(f"{model_file}: model file lacks the field 'data.columns'")
    opts = ReadOptions(header=header, delimiter=delimiter, dropna=dropna)
    if backend["backend"] == "dask":
        from vifit.distributed import predict as dask_predict

        if reconstruct:
            raise BadInput("--reconstruct is not supported for gmm")
        dask_predict.run(document, model_file, data, opts, out["output"], backend, reporter.note)
        reporter.release()
        return
    table = load_table(data, opts, note=reporter.note, required_columns=columns)
    names, rows = runner.predict(document, model_file, table, reconstruct=reconstruct)
    write_text(render_table(names, rows), out["output"])
    reporter.release()
