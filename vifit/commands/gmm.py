"""``vifit gmm``: Bayesian Gaussian mixtures by coordinate-ascent variational inference."""

from __future__ import annotations

import click

from vifit.commands.backend_options import backend_options
from vifit.commands.declared import check_declared, declared
from vifit.commands.gmm_svi_options import svi_options
from vifit.commands.selection_options import selection_options
from vifit.options import data_options, output_options, row_weights_option, run_options
from vifit.threads import pin_blas

# The local step's GEMMs are small (K x |T| by |T| x chunk); OpenBLAS threads that spin-wait on
# them made sweeps 5-10x slower on a busy machine, so vifit runs blocks of rows on its own
# threads (inference/passes.py) and keeps BLAS on one thread. This must happen before numpy is
# first imported, i.e. here, when the command is loaded; a thread setting the user gave wins.
pin_blas()


@click.command()
@click.argument("data", metavar="DATA")
@declared("gmm", "k", short="-k", show_default=True, metavar="K|A-B|A,B,...",
          help="Number of components (the truncation level for --weights dp). A range (2-10) or a "
               "list (2,4,8) fits each K and keeps the best by --select (default: the highest ELBO), "
               "recording every candidate in fit.selection.")
@declared("gmm", "covariance", show_default=True, metavar="full|diag|spherical|known[,...]",
          help="Component covariances: full/diag/spherical with a Normal-Wishart (Normal-Gamma) prior, "
               "or known = sigma^2 I (the notes' model). A comma list (full,diag,spherical) fits each "
               "with each --k and keeps the best by --select (ELBOs of different covariance types are in "
               "the same units, nats of the data, so they compare directly).")
@declared("gmm", "weights", show_default=True,
          help="Mixing weights: fixed 1/K, symmetric Dirichlet, or truncated stick-breaking Dirichlet process.")
@declared("gmm", "weight_concentration", metavar="ALPHA0",
          help="Dirichlet concentration per component, or the DP concentration.  [default: 1/K]")
@declared("gmm", "mean_prior", metavar="M0",
          help="Prior mean of the component means: one number or one per column.  "
               "[default: the column means; 0 for --covariance known]")
@declared("gmm", "mean_precision_prior", metavar="BETA0",
          help="beta0: prior precision of a mean, relative to its component's precision.  [default: 1]")
@declared("gmm", "dof_prior", metavar="NU0",
          help="nu0: Wishart degrees of freedom (> D-1 for full; > 0 otherwise).  [default: D]")
@declared("gmm", "covariance_prior", metavar="PSI0",
          help="W0^-1, the prior scale (E[Sigma] ~ W0^-1/nu0): one number (times I) or one per column.  "
               "[default: the sample covariance (full), column variances (diag) or their mean (spherical)]")
@declared("gmm", "sigma", help="Known component standard deviation (--covariance known).  [default: 1]")
@declared("gmm", "tau", help="Prior standard deviation of the means (--covariance known).  "
                             "[default: root mean square of the data about --mean-prior]")
@declared("gmm", "init", show_default=True,
          help="The start. screened: 6 k-means++ starts (greedy seeding, 2 + floor(ln K) candidate rows "
               "per centre, the one lowering the k-means potential most kept; then at most 5 Lloyd sweeps), "
               "each run at most 15 CAVI sweeps on the same uniform sample of 8,192 rows (256 per component "
               "for K > 32), fewer once it cannot reach the best one's ELBO; the highest ELBO there is "
               "continued on all rows (the same for --method svi and "
               "--backend dask). kmeans++: one such start on all rows, unscreened (the default before "
               "screened). random: nearest of K random rows. random-resp: random soft responsibilities.")
@declared("gmm", "moves", show_default=True,
          help="After convergence (every --method and --backend), try split and merge moves: merge the "
               "pair of components whose merge raises the bound, split the component least Gaussian along "
               "its principal axis into a free one, scored on a fixed sample of rows; a move is kept only if "
               "the exact ELBO rises (CAVI: a few sweeps; SVI: a few full passes over the rows, not from "
               "stdin), and moves repeat until none helps. Each kept move is listed in fit.moves. none: no "
               "moves.")
@declared("gmm", "tol", show_default=True,
          help="Stop when the relative ELBO change is at most this: cavi, between sweeps; svi, of the "
               "minibatch ELBO estimate averaged over a window, or of the exact ELBO between epochs (with "
               "minibatches svi also stops when the exact ELBO's mean gain over 3 epochs is within 0.02 "
               "nat per 1000 rows: flat in its noise).")
@declared("gmm", "max_iter", help="cavi: most sweeps per restart; svi: most minibatch steps.  "
                                  "[default: 500 for cavi; no limit for svi, where --epochs bounds the run]")
@declared("gmm", "restarts", show_default=True,
          help="Initialisations to run (seeds spawned from --seed); the best ELBO is kept.")
@declared("gmm", "chunk_rows",
          help="Rows per chunk in the local step (memory: data + O(chunk x (K + D^2)) per thread).  "
               "At most the rows; the value used is recorded as fit.chunk_rows.  "
               "[default: auto, so a chunk's features T(x) take about 4 MB; 512-16384 rows, fewer for a large K]")
@selection_options("gmm")
@svi_options
@backend_options
@row_weights_option
@data_options
@output_options
@run_options
def gmm(data, k, covariance, weights, weight_concentration, mean_prior, mean_precision_prior, dof_prior,
        covariance_prior, sigma, tau, init, moves, tol, max_iter, restarts, chunk_rows, selection, svi, backend, read,
        out, run):
    """Bayesian Gaussian mixture fitted by CAVI, with the full ELBO.

    The default is the full conjugate model: Dirichlet weights and a
    Normal-Wishart prior on each component's mean and precision, with
    data-scaled defaults (m0 = column means, beta0 = 1, nu0 = D,
    W0^-1 = sample covariance, alpha0 = 1/K). --covariance known
    --weights uniform is the notes' model (Blei et al. 2017, Algorithm 2).
    Components are sorted by weight, largest first. The output holds the
    prior, q's parameters, the posterior-mean summary and the ELBO trace.

    \b
    Example:
      vifit gmm sample_data/iris.csv --k 3 -o gmm.json
      vifit gmm sample_data/mixture_1d.csv --k 3 --covariance known --weights uniform
      vifit gmm sample_data/mixture_1d.csv --k 10 --weights dp --restarts 4
      vifit gmm sample_data/wine.csv --k 1-6 --standardize --restarts 3
      vifit gmm sample_data/iris.csv --k 1-5 --covariance full,diag --validation 0.3
      vifit predict gmm.json sample_data/iris.csv | head
      vifit gmm big.csv.gz --k 8 --method svi --batch-size 1024 -o gmm.json
      vifit gmm big.parquet --k 8 --method svi -o gmm.json
      vifit gmm 'data/part-*.csv.gz' --k 8 --backend dask --scheduler tcp://127.0.0.1:8786
    """
    options = {
        "k": k, "covariance": covariance, "weights": weights, "weight_concentration": weight_concentration,
        "mean_prior": mean_prior, "mean_precision_prior": mean_precision_prior, "dof_prior": dof_prior,
        "covariance_prior": covariance_prior, "sigma": sigma, "tau": tau, "init": init, "moves": moves,
        "tol": tol,
        "max_iter": max_iter, "restarts": restarts, "chunk_rows": chunk_rows, **svi, **backend, **selection,
    }
    check_declared("gmm", options)  # before the heavy imports: a usage error is quick
    from vifit.api.gmm import plan
    from vifit.api.gmm_select import parse_k
    from vifit.commands.common import run_fit
    from vifit.commands.selection_options import refuse_checkpoint_split
    from vifit.errors import BadInput

    if (run["checkpoint"] or run["resume"]) and (len(parse_k(k)) > 1 or "," in covariance):
        raise BadInput("--checkpoint/--resume hold one fit's state; give a single --k (not a range) to use them")
    refuse_checkpoint_split(run, selection)
    run_fit(source=data, read=read, out=out, run=run, plan=plan(options, source=data, strict=run["strict"]))
