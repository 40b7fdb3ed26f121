"""A small numpy neural-network kit with hand-written backpropagation.

Pieces (forward and backward side by side in each module):

- :mod:`.params`      ``Parameters``: every weight and its gradient in one flat buffer,
                      with a named view per array (optimisers and the gradient checker
                      see only the flat buffers).
- :mod:`.init`        Glorot / He initialisation from a passed ``np.random.Generator``.
- :mod:`.activations` identity, relu, tanh, sigmoid, softplus (in place, derivative from the output).
- :mod:`.layers`      ``Dense`` and ``Activation`` layers.
- :mod:`.network`     ``MLP``: a stack of layers built from a list of sizes.
- :mod:`.losses`      squared error and binary cross-entropy from logits.
- :mod:`.optim`       ``SGD`` (with momentum) and ``Adam``, updating the flat buffer in place.
- :mod:`.gradcheck`   central finite differences against the analytic gradient.

Conventions: arrays are (rows, features); ``backward(dout)`` writes (overwrites, never
accumulates) the gradients of its parameters into ``Parameters.grad`` and returns the
gradient with respect to its input; it may overwrite ``dout``.
"""

from vifit.nn.activations import ACTIVATIONS
from vifit.nn.layers import Activation, Dense
from vifit.nn.losses import LOSSES, BinaryCrossEntropyLogits, SquaredError
from vifit.nn.network import MLP
from vifit.nn.optim import SGD, Adam, make_optimizer
from vifit.nn.params import Parameters

__all__ = ["ACTIVATIONS", "Activation", "Dense", "LOSSES", "SquaredError", "BinaryCrossEntropyLogits",
           "MLP", "SGD", "Adam", "make_optimizer", "Parameters"]
