"""``vifit compare``: several models fitted on the same rows, ranked on the same held-out rows."""

from __future__ import annotations

import click

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
              help="Fit candidates in N processes sharing the cores; the figures do not depend on N.")
@click.option("--backend", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="Where to fit: only local is supported by compare.")
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
    Every candidate gets the same --seed.

    \b
    Example:
      vifit compare sample_data/iris.csv --models 'gmm:k=1-4;pca:k=1-3' --seed 0
      vifit compare data.csv --models 'gmm:k=2-6:covariance=full,diag;vae:latent=2,4:epochs=50' \\
          --jobs 2 -o ranking.json
    """
    import datetime
    import time
    from dataclasses import replace

    from vifit import __version__
    from vifit.api.compare import CSV_COLUMNS, compare as run_comparison, csv_rows
    from vifit.api.compare_spec import check_candidates, parse_models
    from vifit.commands.common import check_output_target
    from vifit.data import ReadOptions, load_table
    from vifit.errors import BadInput
    from vifit.output import render_json, render_table, resolve_format, write_text
    from vifit.progress import Reporter
    from vifit.runinfo import resolve_seed, run_info
    from vifit.splits import check_fraction

    started, wall_start = time.perf_counter(), datetime.datetime.now(datetime.timezone.utc)
    fmt = resolve_format(out["output"], out["format"])
    check_output_target(out["output"], {"DATA": data})
    if backend == "dask":
        raise BadInput("--backend dask is not supported by compare yet: drop it (compare fits on this machine; "
                       "use --jobs N for processes)")
    check_fraction(validation)
    candidates = parse_models(models)
    shared = {"standardize": bool(read["standardize"])}
    if read["dtype"] is not None:
        shared["dtype"] = read["dtype"]
    check_candidates(candidates, shared)  # every option checked before the table is read or a model fitted
    reporter = Reporter(run["progress"], quiet=run["quiet"])
    opts = replace(ReadOptions(**read), standardize=False, dtype="float64")  # each candidate scales its own rows
    table = load_table(data, opts, min_rows=3, note=reporter.note, require_variation=True)
    reporter.release()  # the table is good: its notes now, before the fits' warnings
    if read["standardize"] and any(c.kind == "mixture" for c in candidates):
        reporter.note("mixture candidates take no --standardize: they are fitted to the rows as read")
    seed = resolve_seed(run["seed"])
    body, seconds = run_comparison(table.values, list(table.columns), candidates, validation=validation, seed=seed,
                                   shared=shared, jobs=jobs, note=reporter.note, warn=reporter.warn)
    described = table.describe()
    del described["preprocessing"]
    timing = run_info(started, wall_start)
    timing.update(jobs=jobs, candidate_seconds=seconds)  # the run block: the only figures that vary
    document = {"schema": body.pop("schema"), "vifit_version": __version__, "models": models, "data": described,
                **body, "run": timing}
    if fmt == "csv":
        write_text(render_table(list(CSV_COLUMNS), csv_rows(document)), out["output"])
    else:
        write_text(render_json(document), out["output"])
    if reporter.mode != "json" and not run["quiet"]:  # json: stderr is one JSON object a line, for scrapers
        import sys

        from vifit.terminal import show_ranking

        show_ranking(sys.stderr, document, seconds)
