"""``vifit sample``: draw rows from a fitted generative model."""

from __future__ import annotations

import click

from vifit.options import output_options, run_options


@click.command()
@click.argument("model_file", metavar="MODEL.json")
@click.option("-n", "n", type=click.IntRange(min=1), default=100, show_default=True, help="Number of rows to draw.")
@output_options
@run_options
def sample(model_file, n, out, run):
    """Draw N rows from the fitted model's generative distribution (CSV).

    pca draws from the probabilistic PCA model; gmm from the posterior
    predictive, with each row's component. Rows are in the units of the
    original data (a --standardize used in the fit is undone).

    \b
    Example:
      vifit pca sample_data/iris.csv --k 2 -o pca.json
      vifit sample pca.json -n 1000 --seed 1 -o draws.csv
    """
    import numpy as np

    from vifit.commands.common import check_output_target, resolve_seed
    from vifit.errors import BadInput
    from vifit.output import read_document, render_table, write_text
    from vifit.runners import runner_for

    if out["format"] == "json":
        raise BadInput("sample writes CSV only; drop --format json")
    check_output_target(out["output"])
    document = read_document(model_file)
    runner = runner_for(document["model"], model_file)
    rng = np.random.default_rng(resolve_seed(run["seed"]))
    names, rows = runner.sample(document, model_file, n, rng)
    write_text(render_table(names, rows), out["output"])
