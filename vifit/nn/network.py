"""``MLP``: dense layers with an activation after each, built from a list of sizes."""

from __future__ import annotations

import numpy as np

from vifit.nn import init as initialisers
from vifit.nn.layers import Activation, Dense
from vifit.nn.params import Parameters


class MLP:
    """sizes [n0, n1, ..., nL]: L dense layers; ``activation`` after the hidden ones and
    ``output_activation`` after the last. Parameters are declared in ``params`` as
    ``{name}.{l}.W`` (n_{l}, n_{l+1}) and ``{name}.{l}.b``; call ``params.allocate(rng)``
    once every network sharing the buffer is declared.

    forward(x: (rows, n0)) -> (rows, nL); backward(dout: (rows, nL)) writes every
    gradient and returns dC/dx: (rows, n0), or None with ``need_input_grad=False``
    (which skips the first layer's largest GEMM when x is data, not a variable).
    """

    def __init__(self, params: Parameters, name: str, sizes: list[int], activation: str,
                 output_activation: str = "identity"):
        if len(sizes) < 2:
            raise ValueError("an MLP needs at least an input and an output size")
        self.name, self.sizes = name, [int(s) for s in sizes]
        self.activation, self.output_activation = activation, output_activation
        self.layers: list = []
        self.dense: list[Dense] = []
        n_layers = len(sizes) - 1
        for l in range(n_layers):
            act = activation if l < n_layers - 1 else output_activation
            dense = Dense(params, f"{name}.{l}", sizes[l], sizes[l + 1], initialisers.for_activation(act))
            self.dense.append(dense)
            self.layers.append(dense)
            if act != "identity":
                self.layers.append(Activation(act))

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Returns the output in a buffer owned by the last layer (valid until the next forward)."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """dout = dC/d(output); may be overwritten."""
        for i in range(len(self.layers) - 1, -1, -1):
            dout = self.layers[i].backward(dout, need_input_grad=need_input_grad or i > 0)
        return dout

    def predict(self, x: np.ndarray, chunk_rows: int = 4096) -> np.ndarray:
        """forward() in chunks into a fresh (rows, nL) array (safe to keep)."""
        out = np.empty((x.shape[0], self.sizes[-1]), dtype=x.dtype)
        for start in range(0, x.shape[0], chunk_rows):
            out[start:start + chunk_rows] = self.forward(x[start:start + chunk_rows])
        return out
