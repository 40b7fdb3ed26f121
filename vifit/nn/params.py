"""``Parameters``: all weights of a model in one flat buffer, gradients in another.

Layers *declare* named arrays (shape, initialiser, whether weight decay applies);
:meth:`Parameters.allocate` then lays them out in one contiguous ``data`` buffer and
one ``grad`` buffer of the same size, and every name gets a view into each. The
optimiser updates ``data`` in place from ``grad`` with a handful of whole-buffer
ufuncs, instead of one small update per array.

Arrays subject to weight decay come first, so the L2 penalty is a single slice
operation: ``grad[:n_decay] += wd * data[:n_decay]``.

A 2-D array declared ``transposed`` is stored as its transpose (C order), so its view
has the declared shape but Fortran order: layers use this to pick the storage order
their matrix products run fastest in, while every reader still sees the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass
class Spec:
    name: str
    shape: tuple
    init: Callable  # (rng, shape, dtype) -> array
    decay: bool
    transposed: bool = False  # stored as the transpose of ``shape`` (2-D only)


class Parameters:
    """Named parameter arrays backed by flat ``data`` and ``grad`` buffers.

    Usage::

        params = Parameters(np.float32)
        net = MLP(params, "encoder", [64, 32, 4], "relu")   # declares encoder.0.W, ...
        params.allocate(rng)                                # lays out and initialises
        params["encoder.0.W"]       # (64, 32) view of params.data
        params.grad_of("encoder.0.W")
    """

    def __init__(self, dtype=np.float32):
        self.dtype = np.dtype(dtype)
        self.specs: list[Spec] = []
        self.data: np.ndarray | None = None
        self.grad: np.ndarray | None = None
        self.n_decay = 0
        self._values: dict[str, np.ndarray] = {}
        self._grads: dict[str, np.ndarray] = {}
        self._slices: dict[str, slice] = {}

    # ---------------------------------------------------------------- layout

    def declare(self, name: str, shape: tuple, init: Callable, decay: bool = True,
                transposed: bool = False) -> str:
        if self.data is not None:
            raise RuntimeError("declare() after allocate()")
        if any(s.name == name for s in self.specs):
            raise ValueError(f"parameter {name!r} declared twice")
        if transposed and len(shape) != 2:
            raise ValueError("only a 2-D parameter can be stored transposed")
        self.specs.append(Spec(name, tuple(int(n) for n in shape), init, decay, transposed))
        return name

    def allocate(self, rng: np.random.Generator | None = None) -> "Parameters":
        """Lay out the declared arrays (decayed first, then in declaration order) and
        initialise them in declaration order from ``rng`` (zeros when rng is None)."""
        ordered = [s for s in self.specs if s.decay] + [s for s in self.specs if not s.decay]
        total = sum(int(np.prod(s.shape)) for s in ordered)
        self.data = np.zeros(total, dtype=self.dtype)
        self.grad = np.zeros(total, dtype=self.dtype)
        offset = 0
        for spec in ordered:
            size = int(np.prod(spec.shape))
            where = slice(offset, offset + size)
            self._slices[spec.name] = where
            self._values[spec.name] = _view(self.data[where], spec)
            self._grads[spec.name] = _view(self.grad[where], spec)
            offset += size
            if spec.decay:
                self.n_decay = offset
        if rng is not None:
            for spec in self.specs:  # declaration order: stable under layout changes
                self._values[spec.name][...] = spec.init(rng, spec.shape, self.dtype)
        return self

    # ---------------------------------------------------------------- access

    def __getitem__(self, name: str) -> np.ndarray:
        return self._values[name]

    def grad_of(self, name: str) -> np.ndarray:
        return self._grads[name]

    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    def named(self) -> dict[str, np.ndarray]:
        """{name: view} in declaration order."""
        return {s.name: self._values[s.name] for s in self.specs}

    @property
    def size(self) -> int:
        return 0 if self.data is None else int(self.data.size)

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        """Copy arrays (e.g. read from a model file) into the buffer, checking shapes."""
        for spec in self.specs:
            if spec.name not in arrays:
                raise KeyError(spec.name)
            value = np.asarray(arrays[spec.name], dtype=self.dtype)
            if value.shape != spec.shape:
                raise ValueError(f"{spec.name}: shape {value.shape}, expected {spec.shape}")
            self._values[spec.name][...] = value

    def add_weight_decay(self, weight_decay: float) -> None:
        """grad += weight_decay * data on the decayed arrays (the L2 penalty's gradient)."""
        if weight_decay and self.n_decay:
            g, p = self.grad[: self.n_decay], self.data[: self.n_decay]
            g += p * self.dtype.type(weight_decay)

    def l2_penalty(self) -> float:
        """0.5 * sum of squares of the decayed arrays (the penalty whose gradient is data)."""
        p = self.data[: self.n_decay]
        return 0.5 * float(np.dot(p, p))


def _view(flat: np.ndarray, spec: Spec) -> np.ndarray:
    """The spec's region of a flat buffer as an array of the declared shape."""
    if spec.transposed:
        return flat.reshape(spec.shape[::-1]).T
    return flat.reshape(spec.shape)
