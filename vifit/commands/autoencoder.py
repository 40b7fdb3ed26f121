"""``vifit autoencoder``: a classical autoencoder trained by numpy backpropagation."""

from __future__ import annotations

import click

from vifit.commands.declared import check_declared, declared
from vifit.commands.training import training_options
from vifit.options import data_options, output_options, run_options


@click.command()
@click.argument("data", metavar="DATA")
@declared("autoencoder", "hidden", show_default=True, metavar="SIZES",
          help="Encoder layer sizes, comma-separated; the last is the bottleneck (code) size.")
@declared("autoencoder", "decoder", metavar="SIZES",
          help="Decoder hidden sizes between the code and the output ('none' for a single layer). "
               "Default: the encoder's hidden sizes mirrored.")
@declared("autoencoder", "activation", show_default=True,
          help="Activation of the hidden layers (the code layer is linear).")
@declared("autoencoder", "output_activation",
          help="Activation of the output layer. Default: identity for --loss mse, sigmoid for bce.")
@declared("autoencoder", "loss", show_default=True,
          help="Reconstruction loss per row: squared error summed over columns, or binary "
               "cross-entropy (data in [0, 1], sigmoid output).")
@declared("autoencoder", "denoise", show_default=True,
          metavar="P", help="Masking noise: zero each input entry with probability P while training.")
@training_options
@data_options
@output_options
@run_options
def autoencoder(data, hidden, decoder, activation, output_activation, loss, denoise, train, read, out, run):
    """Classical autoencoder: encoder -> bottleneck -> decoder, hand-written backprop.

    Trains by minibatch Adam (or SGD with momentum) on float32 by default,
    holding out --validation-fraction of the rows to stop over-fitting (see
    --patience). Writes the architecture, every weight, the per-feature
    reconstruction error and the training curve. With --activation identity
    and --loss mse it recovers the PCA subspace.

    \b
    Example:
      vifit autoencoder sample_data/digits.csv --hidden 32,4 --standardize -o ae.json
      vifit predict ae.json sample_data/digits.csv > codes.csv
      vifit predict ae.json sample_data/digits.csv --reconstruct > rebuilt.csv
    """
    options = dict(hidden=hidden, decoder=decoder, activation=activation, output_activation=output_activation,
                   loss=loss, denoise=denoise)
    check_declared("autoencoder", {**options, **train})
    from vifit.api.autoencoder import plan
    from vifit.commands.common import run_fit

    fit_plan = plan(**options, train=train)
    run_fit(source=data, read=read, out=out, run=run, plan=fit_plan)
