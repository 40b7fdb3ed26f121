"""``vifit sample``: draw rows from a fitted generative model."""

from __future__ import annotations

import click

from vifit.options import debug_option, table_output_options, seed_option


@click.command()
@click.argument("model_file", metavar="MODEL.json")
@click.option("-n", "n", type=click.IntRange(min=1), default=100, show_default=True, help="Number of rows to draw.")
@click.option("--mean/--draw", "mean", default=None,
              help="vae: decode prior draws to the likelihood's means (--mean) or draw x from p(x|z) "
                   "(--draw, the default).")
@table_output_options
@seed_option
@debug_option
def sample(model_file, n, mean, out, run):
    """Draw N rows from the fitted model's generative distribution (CSV only).

    pca draws from the probabilistic PCA model; gmm from the posterior
    predictive, with each row's component. Rows are in the units of the
    original data (a --standardize used in the fit is undone). vae decodes
    draws z ~ N(0, I): Bernoulli or Gaussian means with --mean, draws from
    p(x|z) with --draw (the default).

    \b
    Example:
      vifit pca sample_data/iris.csv --k 2 -o pca.json
      vifit sample pca.json -n 1000 --seed 1 -o draws.csv
    """
    import numpy as np

    from vifit.commands.common import check_output_target, require_csv_output, resolve_seed
    from vifit.errors import BadInput
    from vifit.output import read_document, render_table, write_text
    from vifit.runners import runner_for

    require_csv_output("sample", out)
    check_output_target(out["output"], {"MODEL": model_file})
    document = read_document(model_file)
    runner = runner_for(document["model"], model_file)
    rng = np.random.default_rng(resolve_seed(run["seed"]))
    import inspect

    options = {}
    if mean is not None:
        if "mean" not in inspect.signature(runner.sample).parameters:
            raise BadInput(f"--mean/--draw applies to vae models only, not {document['model']}")
        options["mean"] = mean
    names, rows = runner.sample(document, model_file, n, rng, **options)
    write_text(render_table(names, rows), out["output"])
