"""``vifit pca``: exact PCA and the probabilistic-PCA baseline."""

from __future__ import annotations

import click

from vifit.commands.declared import check_declared, declared
from vifit.options import data_options, fit_options, output_options


@click.command()
@click.argument("data", metavar="DATA")
@declared("pca", "k", short="-k", show_default=True,
          help="Number of principal components.")
@declared("pca", "whiten", help="Scale coordinates written by predict to unit variance.")
@data_options
@output_options
@fit_options
def pca(data, k, whiten, read, out, run):
    """Principal components and the probabilistic PCA (Tipping & Bishop) fit.

    Exact PCA (eigendecomposition of the scatter matrix when rows >= columns,
    SVD otherwise), components sign-normalised so the largest loading is
    positive, plus the PPCA noise variance and log-likelihood (reported as the
    elbo, which PPCA attains exactly), so PCA can be compared with the
    autoencoders in the same units.

    \b
    Example:
      vifit pca sample_data/iris.csv --k 2 -o pca.json
      vifit predict pca.json sample_data/iris.csv > coords.csv
      vifit sample pca.json -n 5
    """
    options = {"k": k, "whiten": whiten}
    check_declared("pca", options)
    from vifit.api.pca import plan
    from vifit.commands.common import run_fit

    run_fit(source=data, read=read, out=out, run=run, plan=plan(options))
