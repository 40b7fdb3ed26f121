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
gradient with respect to its input; it may overwrite ``dout``. ``forward`` and
``backward`` return buffers owned by the layer (one per batch size, reused): valid
until the layer's next forward/backward — copy what must outlive that.

Typical use (how the autoencoder and the VAE build on it)::

    params = Parameters(np.float32)
    encoder = MLP(params, "encoder", [d, 64, 2 * k], "relu")
    decoder = MLP(params, "decoder", [k, 64, d], "relu")
    params.allocate(rng)                    # one flat buffer, initialised from rng
    out = decoder.forward(z)                # ...custom loss...
    value, dout = SquaredError().value_and_grad(out, x)
    dz = decoder.backward(dout)             # dC/dz, e.g. for the reparameterisation trick
    encoder.backward(dh, need_input_grad=False)
    Adam(params.size, params.dtype, lr=1e-3).step(params.data, params.grad)
"""

from vifit.nn.activations import ACTIVATIONS
from vifit.nn.layers import Activation, Dense
from vifit.nn.losses import LOSSES, BinaryCrossEntropyLogits, SquaredError
from vifit.nn.network import MLP
from vifit.nn.optim import SGD, Adam, make_optimizer
from vifit.nn.params import Parameters

__all__ = ["ACTIVATIONS", "Activation", "Dense", "LOSSES", "SquaredError", "BinaryCrossEntropyLogits",
           "MLP", "SGD", "Adam", "make_optimizer", "Parameters"]
