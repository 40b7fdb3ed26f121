"""``vifit vae``: a variational autoencoder trained by hand-written backprop through
the reparameterised sampling step."""

from __future__ import annotations

import click

from vifit.commands.declared import check_declared, declared
from vifit.commands.training import training_options
from vifit.options import data_options, output_options, run_options


@click.command()
@click.argument("data", metavar="DATA")
@declared("vae", "hidden", show_default=True, metavar="SIZES",
          help="Encoder hidden layer sizes, comma-separated ('none' for a linear encoder).")
@declared("vae", "decoder", metavar="SIZES",
          help="Decoder hidden sizes between z and the output ('none' for a linear decoder). "
               "Default: --hidden mirrored.")
@declared("vae", "latent", show_default=True, metavar="K",
          help="Dimension of the latent space z.")
@declared("vae", "activation", show_default=True,
          help="Activation of the hidden layers.")
@declared("vae", "likelihood", show_default=True,
          help="p(x|z): Gaussian (learned per-column variance, or --fixed-variance) or Bernoulli "
               "(data in [0, 1]; see --scale minmax).")
@declared("vae", "fixed_variance", metavar="V",
          help="Gaussian likelihood with variance V for every column instead of a learned one.")
@declared("vae", "samples", show_default=True, metavar="L",
          help="Reparameterised draws of z per row and step.")
@declared("vae", "beta", show_default=True,
          help="Weight of the KL term in the training objective (the reported ELBO always uses 1).")
@declared("vae", "kl_warmup", show_default=True, metavar="EPOCHS",
          help="Raise the KL weight linearly from beta/EPOCHS to beta over the first EPOCHS epochs.")
@declared("vae", "iwae_samples", show_default=True, metavar="K",
          help="Importance samples per row for the IWAE estimate of log p(x) (validation rows; predict).")
@declared("vae", "scale", show_default=True,
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
    options = dict(hidden=hidden, decoder=decoder, latent=latent, activation=activation, likelihood=likelihood,
                   fixed_variance=fixed_variance, samples=samples, beta=beta, kl_warmup=kl_warmup,
                   iwae_samples=iwae_samples, scale=scale)
    check_declared("vae", {**options, **train})
    from vifit.api.vae import plan
    from vifit.commands.common import run_fit

    fit_plan = plan(**options, standardize=read["standardize"], train=train)
    run_fit(source=data, read=read, out=out, run=run, plan=fit_plan)
