"""The training options every network command shares (autoencoder, vae), defined once.

Packs ``--epochs`` … ``--patience``, ``--tol`` into one dict argument ``train`` whose keys are
the fields of :class:`vifit.inference.sgd.SGDConfig`. Imports only click.
"""

from __future__ import annotations

from vifit import parameters
from vifit.commands.declared import declared
from vifit.options import _packed

ACTIVATION_NAMES = list(parameters.ACTIVATIONS)  # vifit.nn.activations' names, without importing numpy
NETWORK = "vae"  # the training entries are the autoencoder's and the vae's alike

training_options = _packed(
    "train",
    ("epochs", "batch_size", "lr", "optimizer", "momentum", "weight_decay", "validation_fraction", "patience",
     "tol"),
    [
        declared(NETWORK, "epochs", show_default=True,
                 help="Most passes over the training rows."),
        declared(NETWORK, "batch_size", show_default=True,
                 help="Rows per minibatch."),
        declared(NETWORK, "lr", show_default=True,
                 help="Learning rate."),
        declared(NETWORK, "optimizer", show_default=True,
                 help="Adam, or SGD with --momentum."),
        declared(NETWORK, "momentum", show_default=True, help="Momentum of --optimizer sgd."),
        declared(NETWORK, "weight_decay", show_default=True,
                 help="L2 penalty on the weights (not the biases), added to the gradient."),
        declared(NETWORK, "validation_fraction", show_default=True,
                 help="Rows held out to watch for overfitting; 0 holds out none."),
        declared(NETWORK, "patience", show_default=True, metavar="W",
                 help="Stopping window: \"converged\" when the mean training loss of the last W "
                      "epochs is less than --tol (relative) below the mean of the W epochs before (the "
                      "last weights are kept), or when the mean validation loss rose over the same "
                      "windows by more than the training loss fell (over-fitting: the lowest-validation "
                      "epoch's weights are kept). When the epochs run out the last weights are kept."),
        declared(NETWORK, "tol", show_default=True,
                 help="Relative improvement of the training loss between the two --patience windows "
                      "below which training has converged."),
    ],
)
