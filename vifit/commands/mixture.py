"""``vifit mixture``: mixtures of mixed tables (gaussian, bernoulli, poisson, categorical columns)."""

from __future__ import annotations

import click

from vifit.commands.backend_options import mixture_backend_options
from vifit.commands.declared import check_declared, declared
from vifit.commands.gmm_svi_options import mixture_svi_options
from vifit.commands.selection_options import selection_options
from vifit.options import data_options, output_options, row_weights_option, run_options
from vifit.threads import pin_blas

pin_blas()  # the local step's small GEMMs run on vifit's row threads, as in `vifit gmm`


@click.command()
@click.argument("data", metavar="DATA")
@declared("mixture", "k", short="-k", show_default=True, metavar="K|A-B|A,B,...",
          help="Number of components, or candidates to choose among by --select ('2-10', '2,4,8'; CAVI; "
               "default: the highest ELBO), every one recorded in fit.selection.")
@declared("mixture", "family", metavar="SPEC",
          help="Families of columns, e.g. 'gaussian:1-4,poisson:visits,categorical:region' (names, 1-based "
               "numbers or ranges among the columns read). Columns not named are inferred: text -> "
               "categorical, 0/1 -> bernoulli, non-negative integers with more than two values -> poisson, "
               "else gaussian.")
@declared("mixture", "weights", show_default=True,
          help="Mixing weights: fixed 1/K, symmetric Dirichlet, or truncated stick-breaking Dirichlet process.")
@declared("mixture", "weight_concentration", metavar="ALPHA0",
          help="Dirichlet concentration per component, or the DP concentration.  [default: 1/K]")
@declared("mixture", "init", show_default=True,
          help="Initial responsibilities: nearest of K k-means centres of the standardised columns "
               "(categories one-hot), nearest of K random rows, or random soft responsibilities.")
@declared("mixture", "tol", show_default=True,
          help="Stop when the relative ELBO change between sweeps (svi: epochs) is at most this; svi with "
               "minibatches also stops when the exact ELBO's mean gain over 3 epochs is within 0.02 nat per "
               "1000 rows.")
@declared("mixture", "max_iter", help="cavi: most sweeps per restart; svi: most minibatch steps.  "
                                      "[default: 500 for cavi; no limit for svi, where --epochs bounds the run]")
@declared("mixture", "restarts", show_default=True,
          help="Initialisations to run (seeds spawned from --seed); the best ELBO is kept.")
@declared("mixture", "chunk_rows", help="Rows per chunk in the local step.  [default: auto]")
@selection_options("mixture")
@mixture_svi_options
@mixture_backend_options
@row_weights_option
@data_options
@output_options
@run_options
def mixture(data, k, family, weights, weight_concentration, init, tol, max_iter, restarts, chunk_rows,
            selection, svi, backend, read, out, run):
    """Mixture of per-column exponential families, fitted by CAVI (or SVI) with the full ELBO.

    Each component models each column with its family and a conjugate
    prior: gaussian (Normal-Gamma), bernoulli (Beta), poisson (Gamma),
    categorical (Dirichlet, one column of C levels). Empty or NaN cells are
    missing at random and marginalised in the model (no row is dropped
    unless --dropna). The families used are printed as a note and recorded
    in the output (fit.families).

    \b
    Example:
      vifit mixture survey.csv --k 4 -o mixture.json
      vifit mixture visits.csv --k 3 --family 'gaussian:age,poisson:visits,categorical:region'
      vifit predict mixture.json survey.csv --impute > filled.csv
      vifit mixture big.csv --k 8 --method svi --batch-size 4096 -o mixture.json
      vifit mixture 'data/part-*.csv.gz' --k 4 --backend dask --scheduler tcp://127.0.0.1:8786
    """
    options = {"k": k, "family": family, "weights": weights, "weight_concentration": weight_concentration,
               "init": init, "tol": tol, "max_iter": max_iter, "restarts": restarts, "chunk_rows": chunk_rows, **svi,
               **backend, **selection}
    check_declared("mixture", options)
    from vifit.api.mixture import plan
    from vifit.commands.common import run_fit
    from vifit.commands.selection_options import refuse_checkpoint_split

    refuse_checkpoint_split(run, selection)
    run_fit(source=data, read=read, out=out, run=run, plan=plan(options, strict=run["strict"]))
