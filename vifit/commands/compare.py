"""``vifit compare``: several models fitted on the same rows, ranked on the same held-out rows."""

from __future__ import annotations

import click

from vifit.commands.backend_options import compare_backend_options
from vifit.options import FiniteFloat, data_options, debug_option, output_options, report_options, seed_option


@click.command()
@click.argument("data", metavar="DATA")
@click.option("--models", "models", metavar="SPEC", required=True,
              help="The candidates: KIND:OPTION=VALUES[:OPTION=VALUES...] separated by ';'. KIND is gmm, "
                   "mixture, pca, vae or autoencoder; OPTION an option of the model (its estimator's name: "
                   "k, covariance, latent, hidden, epochs...); VALUES a value, a list A,B or an integer range "
                   "A-B, each giving a candidate (lists multiply). Layer sizes take '/': hidden=32/4.")
@click.option("--validation", metavar="FRACTION", type=FiniteFloat(), default=0.2, show_default=True,
              help="Fraction of the rows held out to score every candidate on (the same rows for all).")
@click.option("--jobs", metavar="N", type=click.IntRange(min=1), default=1, show_default=True,
              help="Fit candidates in N processes sharing the cores; the figures do not depend on N "
                   "(not with --backend dask, whose workers fit them).")
@compare_backend_options
@data_options
@output_options
@seed_option
@report_options
@debug_option
def compare(data, models, validation, jobs, backend, read, out, run):
    """Rank models by held-out log density per row, in nats of the data.

    Reads DATA once, holds out --validation of the rows (by --seed), fits
    every candidate of --models on the other rows and scores each on the
    held-out rows as `vifit score` does: gmm and mixture by the posterior
    predictive density, pca by the PPCA likelihood, vae by the IWAE bound,
    all in the units of DATA as read (a --standardize is each candidate's
    own preprocessing, its Jacobian counted). Each candidate's difference to
    the best comes with its standard error paired over the same rows (the
    spread all candidates share cancels). The training ELBO per row is shown
    beside, in the same units; it favours larger models, the held-out figure
    does not. An autoencoder has no density: it is listed unranked
    with its held-out reconstruction error.

    Writes a vifit.compare/1 JSON document (or with --format csv one row per
    candidate) to stdout or -o, and a ranking table on stderr (unless -q).
    Every candidate gets the same --seed. With --backend dask each
    candidate's fit and score is one task on a Dask cluster (--scheduler,
    or a local cluster), with the figures of --jobs 1.

    \b
    Example:
      vifit compare sample_data/iris.csv --models 'gmm:k=1-4;pca:k=1-3' --seed 0
      vifit compare data.csv --models 'gmm:k=2-6:covariance=full,diag;vae:latent=2,4:epochs=50' \\
          --jobs 2 -o ranking.json
      vifit compare data.csv --models 'gmm:k=1-9:covariance=full,diag' \\
          --backend dask --scheduler tcp://127.0.0.1:8786 -o ranking.json
    """
    from dataclasses import replace

    from vifit.api.compare import CSV_COLUMNS, MIN_ROWS, cluster_options, csv_rows, prepare, run_comparison
    from vifit.commands.common import check_output_target
    from vifit.commands.declared import check_declared
    from vifit.data import ReadOptions, load_table
    from vifit.output import render_json, render_table, resolve_format, write_text
    from vifit.progress import Reporter
    from vifit.runinfo import resolve_seed

    fmt = resolve_format(out["output"], out["format"])
    check_output_target(out["output"], {"DATA": data})
    check_declared("gmm", backend)  # --scheduler without --backend dask is refused, as by gmm
    cluster = cluster_options(backend, jobs)  # before the table is read and any cluster reached
    shared = {"standardize": bool(read["standardize"]), **({"dtype": read["dtype"]} if read["dtype"] else {})}
    candidates = prepare(models, validation, shared)  # every option checked before the table is read
    reporter = Reporter(run["progress"], quiet=run["quiet"])
    reporter.reading_stdin(data)
    opts = replace(ReadOptions(**read), standardize=False, dtype="float64")  # each candidate scales its own rows
    table = load_table(data, opts, min_rows=MIN_ROWS, note=reporter.note, require_variation=True)
    reporter.release()  # the table is good: its notes now, before the fits' warnings
    document = run_comparison(table, models, candidates, validation=validation, seed=resolve_seed(run["seed"]),
                              shared=shared, jobs=jobs, reporter=reporter, backend=cluster)
    if fmt == "csv":
        write_text(render_table(list(CSV_COLUMNS), csv_rows(document)), out["output"])
    else:
        write_text(render_json(document), out["output"])
    if reporter.mode != "json" and not run["quiet"]:  # json: stderr is one JSON object a line, for scrapers
        import sys

        from vifit.terminal import show_ranking

        show_ranking(sys.stderr, document)
