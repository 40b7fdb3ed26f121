"""``vifit score``: held-out log density of rows under a fitted model, in nats of the data."""

from __future__ import annotations

import click

from vifit.options import debug_option, model_data_options, report_options


@click.command()
@click.argument("model_file", metavar="MODEL.json")
@click.argument("data", metavar="DATA")
@model_data_options
@click.option("--iwae-samples", type=click.IntRange(min=1), default=None, metavar="K",
              help="vae: importance draws per row for the IWAE bound (more: tighter, never above log p(x) "
                   "in expectation).  [default: the fit's --iwae-samples]")
@click.option("--rows", "rows_path", metavar="PATH", default=None,
              help="Also write the per-row scores as CSV here: row (the data row, from 1), log_density, and "
                   "for a vae elbo (autoencoder: reconstruction_error).")
@click.option("-o", "--output", metavar="PATH", default=None,
              help="Write the JSON summary here (atomically) instead of stdout.")
@report_options
@debug_option
def score(model_file, data, header, delimiter, decimal, dropna, iwae_samples, rows_path, output, run):
    """Score rows of DATA under a model written by vifit: log density per row, in nats.

    The figure is in the units of DATA as read: a --standardize or --scale
    of the fit is re-applied and its Jacobian counted, so a standardised
    fit, a raw fit and other model kinds score the same rows comparably.
    Larger is better; score rows the model was not fitted on to compare
    models fairly (the training ELBO favours larger models).

    \b
      gmm, mixture  log posterior predictive density (of a row's observed
                    cells: missing cells are marginalised)
      pca           probabilistic PCA log-likelihood
      vae           the IWAE bound on log p(x) with --iwae-samples draws
                    (seeded by the fit's seed), and the ELBO
      autoencoder   no density: the reconstruction error only, and the
                    summary says so ("has_density": false)

    Writes a vifit.score/1 JSON summary (mean and total log density, the
    standard error of the mean over rows, n_rows, model kind, units) to
    stdout or -o, and with --rows a per-row CSV.

    \b
    Example:
      vifit gmm train.csv --k 3 -o gmm.json
      vifit score gmm.json test.csv
      vifit score vae.json test.csv --iwae-samples 1000 --rows scores.csv
    """
    import numpy as np

    from vifit.commands.common import check_output_target
    from vifit.data import ReadOptions, load_table
    from vifit.documents import model_kind
    from vifit.documents.scores import row_columns, score_rows, summary
    from vifit.errors import BadInput
    from vifit.output import read_document, render_json, render_table, write_text
    from vifit.progress import Reporter

    reporter = Reporter(run["progress"], quiet=run["quiet"])
    reporter.reading_stdin(data)
    for option, path in (("-o", output), ("--rows", rows_path)):
        if path is not None and path != "-" and path.lower().endswith((".parquet", ".feather", ".arrow")):
            raise BadInput(f"{option} {path}: score writes {'JSON' if option == '-o' else 'CSV'} only")
        check_output_target(path, {"DATA": data, "MODEL": model_file})
    if rows_path is not None and output is not None and rows_path == output:
        raise BadInput(f"--rows and -o both name {output}: give them different files")
    if rows_path == "-" and output in (None, "-"):
        raise BadInput("--rows - and the summary would both go to stdout: give the summary -o PATH")
    document = read_document(model_file)
    if iwae_samples is not None and document["model"] != "vae":
        raise BadInput(f"--iwae-samples applies to vae models; {model_file} holds a {document['model']} model")
    kind = model_kind(document["model"], model_file)
    opts = ReadOptions(header=header, delimiter=delimiter, decimal=decimal, dropna=dropna)
    if hasattr(kind, "read_options"):  # the model reads its own kinds of cells (missing, categories)
        opts = kind.read_options(document, opts)
    table = load_table(data, opts, note=reporter.note, required_columns=document["data"]["columns"],
                       row_numbers=True)
    scores = score_rows(document, model_file, table, iwae_samples=iwae_samples)
    result = summary(scores, model_file=model_file, data=data, n_rows=table.n_rows)
    if scores.has_density and result["n_scored"] < table.n_rows:
        reporter.note(f"{table.n_rows - result['n_scored']} row(s) have no finite log density and are left out "
                      f"of the mean (empty in --rows)")
    if not scores.has_density:
        reporter.note(f"{model_file}: an autoencoder has no density; the summary gives its reconstruction error")
    if rows_path is not None:
        names, values = row_columns(scores)
        numbers = (table.row_numbers if table.row_numbers is not None else np.arange(table.n_rows)) + 1
        write_text(render_table(["row"] + names, ([int(i), *cells] for i, cells in zip(numbers, values.tolist()))),
                   rows_path)
    write_text(render_json(result), output)
    reporter.release()
