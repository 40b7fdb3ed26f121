"""``vifit sample``: draw rows from a fitted generative model."""

from __future__ import annotations

import click

from vifit.options import debug_option, quiet_option, seed_option, table_output_options

CHUNK_ROWS = 16384  # rows drawn and written at a time
CHUNK_VALUES = 1 << 18  # at most this many cells per chunk (wide models get fewer rows)


@click.command()
@click.argument("model_file", metavar="MODEL.json")
@click.option("-n", "n", type=click.IntRange(min=1), default=100, show_default=True, help="Number of rows to draw.")
@click.option("--mean/--draw", "mean", default=None,
              help="vae: decode prior draws to the likelihood's means (--mean) or draw x from p(x|z) "
                   "(--draw, the default).")
@table_output_options
@seed_option
@quiet_option
@debug_option
def sample(model_file, n, mean, out, run):
    """Draw N rows from the fitted model's generative distribution (CSV, or Parquet for -o x.parquet).

    pca draws from the probabilistic PCA model; gmm from the posterior
    predictive, with each row's component. Rows are in the units of the
    original data (a --standardize used in the fit is undone). vae decodes
    draws z ~ N(0, I): Bernoulli or Gaussian means with --mean, draws from
    p(x|z) with --draw (the default). Without --seed, the seed drawn is
    printed on stderr, since the CSV cannot hold it.

    \b
    Example:
      vifit pca sample_data/iris.csv --k 2 -o pca.json
      vifit sample pca.json -n 1000 --seed 1 -o draws.csv
      vifit sample pca.json -n 1000 --seed 1 -o draws.parquet
    """
    import numpy as np

    from vifit.commands.common import check_output_target, require_csv_output, resolve_seed
    from vifit.documents.outputs import computed, require_finite
    from vifit.errors import BadInput
    from vifit.output import field_of, read_document, render_rows, render_table, write_text
    from vifit.documents import model_kind

    fmt = require_csv_output("sample", out)
    check_output_target(out["output"], {"MODEL": model_file})
    document = read_document(model_file)
    kind = model_kind(document["model"], model_file)
    seed = resolve_seed(run["seed"])
    rng = np.random.default_rng(seed)
    import inspect

    options = {}
    if mean is not None:
        if "mean" not in inspect.signature(kind.sample).parameters:
            raise BadInput(f"--mean/--draw applies to vae models only, not {document['model']}")
        options["mean"] = mean
    columns = field_of(document, model_file, "data", "columns")
    chunk_rows = max(1, min(CHUNK_ROWS, CHUNK_VALUES // max(1, len(columns) if isinstance(columns, list) else 1)))

    def drawn():
        """(names, rows) in chunks of chunk_rows rows, drawn one after another from rng: memory
        does not grow with -n (the chunk size depends on the model only, so output is reproducible)."""
        for start in range(0, n, chunk_rows):
            names, rows = computed(kind.sample, document, model_file, min(chunk_rows, n - start), rng, **options)
            require_finite(document, model_file, names, rows, "sample")
            if hasattr(kind, "labelled"):  # category codes written as their labels
                rows = kind.labelled(document, names, rows)
            yield names, rows

    if fmt == "parquet":
        from vifit.data.arrow import parquet_pieces

        write_text(parquet_pieces(drawn(), out["output"]), out["output"], compress=False)
    else:  # written as the chunks are drawn
        write_text((render_table(names, rows) if i == 0 else render_rows(rows)
                    for i, (names, rows) in enumerate(drawn())), out["output"])
    if run["seed"] is None and not run["quiet"]:  # a CSV has nowhere to record the seed, so say it
        from vifit.errors import report

        report(f"drew seed {seed}; pass --seed {seed} to repeat these draws", prefix="note")
