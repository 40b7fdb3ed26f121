"""``vifit vae``: a variational autoencoder trained by hand-written backprop through
the reparameterised sampling step."""

from __future__ import annotations

import click

from vifit.commands.training import ACTIVATION_NAMES, training_options
from vifit.options import FiniteFloat, data_options, output_options, run_options


@click.command()
@click.argument("data", metavar="DATA")
@click.option("--hidden", default="64", show_default=True, metavar="SIZES",
              help="Encoder hidden layer sizes, comma-separated ('none' for a linear encoder).")
@click.option("--decoder", "decoder", default=None, metavar="SIZES",
              help="Decoder hidden sizes between z and the output ('none' for a linear decoder). "
                   "Default: --hidden mirrored.")
@click.option("--latent", type=click.IntRange(min=1), default=2, show_default=True, metavar="K",
              help="Dimension of the latent space z.")
@click.option("--activation", type=click.Choice(ACTIVATION_NAMES), default="relu", show_default=True,
              help="Activation of the hidden layers.")
@click.option("--likelihood", type=click.Choice(["gaussian", "bernoulli"]), default="gaussian", show_default=True,
              help="p(x|z): Gaussian (learned per-column variance, or --fixed-variance) or Bernoulli "
                   "(data in [0, 1]; see --scale minmax).")
@click.option("--fixed-variance", type=FiniteFloat(min=0, min_open=True), default=None, metavar="V",
              help="Gaussian likelihood with variance V for every column instead of a learned one.")
@click.option("--samples", type=click.IntRange(min=1), default=1, show_default=True, metavar="L",
              help="Reparameterised draws of z per row and step.")
@click.option("--beta", type=FiniteFloat(min=0), default=1.0, show_default=True,
              help="Weight of the KL term in the training objective (the reported ELBO always uses 1).")
@click.option("--kl-warmup", type=click.IntRange(min=0), default=0, show_default=True, metavar="EPOCHS",
              help="Raise the KL weight linearly from beta/EPOCHS to beta over the first EPOCHS epochs.")
@click.option("--iwae-samples", type=click.IntRange(min=1), default=100, show_default=True, metavar="K",
              help="Importance samples per row for the IWAE estimate of log p(x) (validation rows; predict).")
@click.option("--scale", type=click.Choice(["none", "minmax"]), default="none", show_default=True,
              help="minmax: map each column onto [0, 1] (stored in the model; predict and sample reuse it).")
@training_options
@data_options
@output_options
@run_options
def vae(data, hidden, decoder, latent, activation, likelihood, fixed_variance, samples, beta, kl_warmup,
        iwae_samples, scale, train, read, out, run):
    """Variational autoencoder: q(z|x) = N(mu(x), diag sigma^2(x)), z = mu + sigma * eps.

    Minimises -ELBO = -E_q[log p(x|z)] + KL(q(z|x) || N(0, I)) (KL exact) by
    minibatch Adam on float32 by default, holding out --validation-fraction of
    the rows to stop over-fitting. Reports the training and validation ELBO per
    row each epoch; writes the full ELBO of the data (nats, every constant),
    and the importance-weighted (IWAE) log-likelihood of the validation rows.

    \b
    Example:
      vifit vae sample_data/digits.csv --likelihood bernoulli --scale minmax \\
          --hidden 128 --latent 8 -o vae.json
      vifit predict vae.json sample_data/digits.csv > latent.csv
      vifit sample vae.json -n 16 --mean > digits.csv
    """
    from vifit.api.vae import plan
    from vifit.commands.common import run_fit

    fit_plan = plan(hidden=hidden, decoder=decoder, latent=latent, activation=activation, likelihood=likelihood,
                    fixed_variance=fixed_variance, samples=samples, beta=beta, kl_warmup=kl_warmup,
                    iwae_samples=iwae_samples, scale=scale, standardize=read["standardize"], train=train)
    run_fit(source=data, read=read, out=out, run=run, plan=fit_plan)
