"""The classical autoencoder: encoder MLP -> bottleneck code -> decoder MLP.

Pure mathematics on numpy arrays; training is :func:`vifit.inference.sgd.train`.

Architecture: ``encoder`` sizes [d, h1, ..., k] and ``decoder`` sizes [k, ..., d]
(the mirror [k, ..., h1, d] by default). Hidden layers use ``activation``; the code
layer is linear (identity), so the linear autoencoder is exactly the notes'
min_W sum_i ||W W^T x_i - x_i||^2 problem; the decoder's last layer uses
``output_activation``. With ``loss="bce"`` the decoder outputs logits and the sigmoid
is folded into the loss (numerically stable); reconstructions apply it.

Masking noise (denoising autoencoder): during training each input entry is set to
0 with probability ``denoise``; the loss compares with the clean row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vifit.nn import LOSSES, MLP, Parameters
from vifit.nn.activations import apply as apply_activation


@dataclass(frozen=True)
class Architecture:
    """encoder: [d, ..., k]; decoder: [k, ..., d]; activations and loss by name."""

    encoder: tuple
    decoder: tuple
    activation: str = "relu"
    output_activation: str = "identity"
    loss: str = "mse"

    @property
    def code_size(self) -> int:
        return self.encoder[-1]

    def as_dict(self) -> dict:
        return {"encoder": list(self.encoder), "decoder": list(self.decoder), "code_size": self.code_size,
                "activation": self.activation, "output_activation": self.output_activation,
                "code_activation": "identity", "loss": self.loss}


def parse_sizes(text: str, option: str, allow_empty: bool = False) -> list[int]:
    """'64,8' -> [64, 8]; ValueError with a readable reason otherwise."""
    stripped = text.strip()
    if allow_empty and stripped.lower() in ("", "none"):
        return []
    sizes = []
    for token in stripped.split(","):
        token = token.strip()
        if not token.isdigit() or int(token) < 1:
            raise ValueError(f"{option} {text!r}: {token!r} is not a positive whole number of units; "
                             f"give sizes like 64,8")
        sizes.append(int(token))
    return sizes


def architecture(d: int, hidden: list[int], decoder_hidden: list[int] | None, activation: str,
                 output_activation: str, loss: str) -> Architecture:
    """Encoder [d, *hidden]; decoder [k, *decoder_hidden, d] (mirror of hidden[:-1] if None)."""
    if not hidden:
        raise ValueError("--hidden needs at least the bottleneck size")
    if decoder_hidden is None:
        decoder_hidden = list(reversed(hidden[:-1]))
    return Architecture(encoder=(d, *hidden), decoder=(hidden[-1], *decoder_hidden, d),
                        activation=activation, output_activation=output_activation, loss=loss)


class Autoencoder:
    """Parameters, forward passes and the training objective of one autoencoder.

    params names: ``encoder.{l}.W`` (n_l, n_{l+1}), ``encoder.{l}.b``, ``decoder.{l}.W``, ...
    """

    def __init__(self, arch: Architecture, dtype=np.float32, rng: np.random.Generator | None = None,
                 denoise: float = 0.0):
        self.arch, self.denoise = arch, float(denoise)
        self.loss_fn = LOSSES[arch.loss]()
        self.params = Parameters(dtype)
        self.encoder = MLP(self.params, "encoder", list(arch.encoder), arch.activation, "identity")
        # with bce the sigmoid lives in the loss: the decoder's output is the logit
        net_out = "identity" if arch.loss == "bce" else arch.output_activation
        self.decoder = MLP(self.params, "decoder", list(arch.decoder), arch.activation, net_out)
        self.params.allocate(rng)

    # ------------------------------------------------------------ training objective

    def loss_and_grad(self, x: np.ndarray, rng: np.random.Generator) -> float:
        """Mean per-row loss on x: (rows, d); writes params.grad."""
        inputs = x
        if self.denoise > 0:
            keep = rng.random(x.shape, dtype=np.float32 if x.dtype == np.float32 else np.float64) >= self.denoise
            inputs = x * keep
        code = self.encoder.forward(inputs)
        out = self.decoder.forward(code)
        value, dout = self.loss_fn.value_and_grad(out, x)
        dcode = self.decoder.backward(dout)
        self.encoder.backward(dcode, need_input_grad=False)
        return value

    def loss(self, x: np.ndarray, rng: np.random.Generator | None = None) -> float:
        """Mean per-row loss on clean x: (n, d), no gradient."""
        return float(self.per_row_loss(x).mean())

    # ------------------------------------------------------------ use

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Codes (n, k)."""
        return self.encoder.predict(x)

    def decoder_output(self, x: np.ndarray) -> np.ndarray:
        """Raw decoder output (logits with bce), (n, d)."""
        return self.decoder.predict(self.encode(x))

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        """Reconstructions (n, d) in the model's input space."""
        out = self.decoder_output(x)
        return apply_activation("sigmoid", out) if self.arch.loss == "bce" else out

    def per_row_loss(self, x: np.ndarray, chunk_rows: int = 4096) -> np.ndarray:
        """Loss of each row (n,), float64."""
        out = np.empty(x.shape[0])
        for start in range(0, x.shape[0], chunk_rows):
            block = x[start:start + chunk_rows]
            out[start:start + chunk_rows] = self.loss_fn.per_row(self.decoder_output(block), block)
        return out

    def per_feature_loss(self, x: np.ndarray, chunk_rows: int = 4096) -> np.ndarray:
        """Mean loss per column (d,), float64; its sum is the mean per-row loss."""
        total = np.zeros(x.shape[1])
        for start in range(0, x.shape[0], chunk_rows):
            block = x[start:start + chunk_rows]
            total += self.loss_fn.elementwise(self.decoder_output(block), block).sum(axis=0, dtype=np.float64)
        return total / x.shape[0]
