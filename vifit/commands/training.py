"""The training options every network command shares (autoencoder, vae), defined once.

Packs ``--epochs`` … ``--patience``, ``--tol`` into one dict argument ``train`` whose keys are
the fields of :class:`vifit.inference.sgd.SGDConfig`. Imports only click.
"""

from __future__ import annotations

import click

from vifit.options import FiniteFloat, _packed

# the activations of vifit.nn.activations, named here so commands need not import numpy
ACTIVATION_NAMES = ["relu", "tanh", "sigmoid", "softplus", "identity"]

training_options = _packed(
    "train",
    ("epochs", "batch_size", "lr", "optimizer", "momentum", "weight_decay", "validation_fraction", "patience",
     "tol"),
    [
        click.option("--epochs", type=click.IntRange(min=1), default=100, show_default=True,
                     help="Most passes over the training rows."),
        click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True,
                     help="Rows per minibatch."),
        click.option("--lr", type=FiniteFloat(min=0, min_open=True), default=1e-3, show_default=True,
                     help="Learning rate."),
        click.option("--optimizer", type=click.Choice(["adam", "sgd"]), default="adam", show_default=True,
                     help="Adam, or SGD with --momentum."),
        click.option("--momentum", type=FiniteFloat(min=0, max=1, max_open=True), default=0.9,
                     show_default=True, help="Momentum of --optimizer sgd."),
        click.option("--weight-decay", type=FiniteFloat(min=0), default=0.0, show_default=True,
                     help="L2 penalty on the weights (not the biases), added to the gradient."),
        click.option("--validation-fraction", type=FiniteFloat(min=0, max=1, max_open=True), default=0.1,
                     show_default=True,
                     help="Rows held out to watch for overfitting; 0 holds out none."),
        click.option("--patience", type=click.IntRange(min=1), default=30, show_default=True, metavar="W",
                     help="Stopping window: \"converged\" when the mean training loss of the last W "
                          "epochs is less than --tol (relative) below the mean of the W epochs before (the "
                          "last weights are kept), or when the mean validation loss rose over the same "
                          "windows by more than the training loss fell (over-fitting: the lowest-validation "
                          "epoch's weights are kept). When the epochs run out the last weights are kept."),
        click.option("--tol", type=FiniteFloat(min=0), default=1e-4, show_default=True,
                     help="Relative improvement of the training loss between the two --patience windows "
                          "below which training has converged."),
    ],
)
