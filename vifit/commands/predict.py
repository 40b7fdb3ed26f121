"""``vifit predict``: apply a fitted model to rows."""

from __future__ import annotations

import click

from vifit.commands.backend_options import backend_options
from vifit.options import debug_option, model_data_options, report_options, table_output_options


@click.command()
@click.argument("model_file", metavar="MODEL.json")
@click.argument("data", metavar="DATA")
@model_data_options
@click.option("--reconstruct", is_flag=True, help="Write reconstructions of the rows (pca, autoencoder, vae).")
@click.option("--keep-columns", metavar="SPEC", default=None,
              help="Copy these columns of DATA, as written, first in the output: 'all', or names, 1-based "
                   "indices or ranges as --columns takes them (e.g. 'id,name').")
@click.option("--id-column", metavar="COLUMN", default=None,
              help="The column of DATA (name or 1-based index) that identifies a row, written first. Default: "
                   "the row index of a pandas or R export; with --dropna, the data row number (column 'row').")
@click.option("--impute", is_flag=True,
              help="gmm, mixture: write DATA's model columns with each missing cell replaced by E[x_miss | x_obs] "
                   "under the posterior predictive (a category: its most probable level).")
@backend_options
@table_output_options
@report_options
@debug_option
def predict(model_file, data, header, delimiter, decimal, dropna, reconstruct, keep_columns, id_column, impute,
            backend, out, run):
    """Assign, encode or score rows of DATA with a model written by vifit.

    DATA must hold the columns the model was fitted on (by name, or in the
    same order with --no-header). The fit's --standardize and --scale minmax
    are reapplied from the values stored in the model. DATA may be a CSV
    file, a Parquet / Feather / Arrow file (.parquet, .feather, .arrow), or
    a folder of Parquet parts as Spark or pandas partition_cols write (its
    key=value folders are columns; with the extra vifit[arrow] for all
    three). Output is CSV (stdout, or -o a .csv name;
    .csv.gz compresses) or Parquet (-o a .parquet name), one row per input row:

    \b
      pca          pc1..pck (whitened if the fit was) and the PPCA
                   log-likelihood loglik
      gmm          label, resp_1..resp_k (responsibilities) and
                   log_density (log predictive density; of the observed
                   cells of a row with missing cells)
      autoencoder  code1..codek and reconstruction_error (the row's
                   training loss)
      vae          mu1..muk and sigma1..sigmak (the encoder's q(z|x)),
                   elbo and log_likelihood_iwae (per row, nats; the IWAE
                   draws are seeded by the fit's seed: reproducible)
      mixture      component, resp_1..resp_k and log_density (of the
                   row's observed cells; missing cells are marginalised);
                   with --impute, the rows with missing cells filled

    With --reconstruct (pca, autoencoder, vae) the output has the model's
    columns instead: each row rebuilt by the model, in the data's units.

    Rows line up with DATA: a row that cannot be scored gets empty result
    cells, never a shifted row. The row id comes first (--id-column, else
    the row index of a pandas to_csv() or R write.csv export, under its
    empty name; with --dropna and neither, 'row', the data row number from
    1), then the --keep-columns, then the results. With --backend dask
    (gmm, mixture, pca) -o names one file per partition ('pred/part-*.csv'
    or .parquet), each lined up with its partition; the row number counts
    the data rows of all of DATA.

    \b
    Example:
      vifit pca sample_data/iris.csv --k 2 -o pca.json
      vifit predict pca.json sample_data/iris.csv -o coords.csv
      vifit predict pca.json sample_data/iris.csv --keep-columns species
      vifit predict gmm.json 'data/part-*.csv.gz' --backend dask -o 'pred/part-*.csv'
    """
    from vifit.commands.common import check_output_target, require_csv_output
    from vifit.data import ReadOptions, load_table, spooled
    from vifit.data.lineup import lined_up, wanted
    from vifit.documents.outputs import computed, require_finite_somewhere
    from vifit.errors import BadInput
    from vifit.output import read_document, render_table, write_text
    from vifit.progress import Reporter
    from vifit.documents import model_kind

    reporter = Reporter(run["progress"], quiet=run["quiet"])
    reporter.reading_stdin(data)
    fmt = require_csv_output("predict", out)
    check_output_target(out["output"], {"DATA": data, "MODEL": model_file})
    document = read_document(model_file)
    kind = model_kind(document["model"], model_file)
    columns = document["data"]["columns"]  # validated: a non-empty list of distinct names
    opts = ReadOptions(header=header, delimiter=delimiter, decimal=decimal, dropna=dropna)
    if hasattr(kind, "read_options"):  # the model reads its own kinds of cells (missing, categories)
        opts = kind.read_options(document, opts)
    if backend["backend"] == "dask":
        from vifit.distributed import predict as dask_predict

        if reconstruct or impute:
            option = "--reconstruct" if reconstruct else "--impute"
            raise BadInput(f"{option} is not supported with --backend dask: predict locally")
        dask_predict.run(document, model_file, data, opts, out["output"], backend, reporter.note, fmt=fmt,
                         keep_columns=keep_columns, id_column=id_column)
        reporter.release()
        return
    if impute and document["model"] not in ("gmm", "mixture"):
        raise BadInput(f"--impute applies to gmm and mixture models; {model_file} holds a {document['model']} model")
    with spooled(data) as path:  # read twice: the rows, then the id and kept columns written with them
        want = wanted(path, opts, columns, keep_columns, id_column)  # the specs checked before the rows are read
        table = load_table(path, opts, note=reporter.note, required_columns=columns, row_numbers=True)
        lineup = lined_up(want, table, reporter.note) if want is not None else None
    extra = {"impute": True} if impute else {}
    names, rows = computed(kind.predict, document, model_file, table, reconstruct=reconstruct, **extra)
    # A column that overflows on every row says the model is unusable (refused, exit 2); cells
    # beyond float64 on some rows are the data's extreme values: written empty, named in a note.
    require_finite_somewhere(document, model_file, names, rows, "predict")
    note_empty_cells(names, rows, reporter.note, table.row_numbers)
    if impute and hasattr(kind, "labelled"):  # category codes written as their labels
        rows = kind.labelled(document, names, rows)
    if lineup is not None:
        names, rows = lineup.joined(names, rows)
    if fmt == "parquet":
        from vifit.data.arrow import parquet_pieces

        write_text(parquet_pieces([(names, rows)], out["output"]), out["output"], compress=False)
    else:
        write_text(render_table(names, rows), out["output"])
    reporter.release()


def note_empty_cells(names: list[str], rows, note, row_numbers=None) -> None:
    """One note naming the rows (1-based, as read) and columns of cells that will be written
    empty because their value is not a finite number (undefined, or beyond float64).
    row_numbers: (n,) the input's 0-based row of each row (rows --dropna left out are not counted)."""
    import numpy as np

    cells = ~np.isfinite(np.asarray(rows, dtype=np.float64).reshape(len(rows), len(names)))
    bad_rows = np.flatnonzero(cells.any(axis=1))
    if row_numbers is not None:
        bad_rows = np.asarray(row_numbers)[bad_rows]
    if not bad_rows.size:
        return
    listed = ", ".join(str(i + 1) for i in bad_rows[:10]) + (f" and {bad_rows.size - 10} more" if bad_rows.size > 10 else "")
    columns = ", ".join(name for name, bad in zip(names, cells.any(axis=0)) if bad)
    note(f"{bad_rows.size} row(s) have empty cells ({columns}): the value is undefined for this model or "
         f"beyond float64 for these rows; rows {listed}")
