"""Optimisers that update the flat parameter buffer in place.

Both take ``step(data, grad)`` on the flat buffers of :class:`~vifit.nn.params.Parameters`
and keep their state in flat buffers of the same size. Every operation is an
in-place ufunc (``out=``), run block by block (``BLOCK`` elements, small enough to stay
in cache across the handful of passes an update needs) and, with ``threads > 1``,
blocks are shared among threads (numpy releases the GIL inside ufuncs).

Adam (Kingma & Ba 2015), the same arithmetic as PyTorch's ``torch.optim.Adam``:

    m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
    p <- p - lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)

stored as m' = m / (1 - b1) and v' = v / (1 - b2), so each moment update is two passes
(m' <- b1 m' + g) and the constants fold into one scalar per step.

SGD with momentum (PyTorch's convention): u <- mu u + g; p <- p - lr u.

Subnormals: a parameter whose gradient stays 0 (a dead relu unit) has its moments
decay geometrically into the subnormal range, where x86 arithmetic is ~100x slower
(measured: Adam's step tripled after ~900 steps of the benchmark network). Every
``FLUSH_EVERY`` steps, moments below ``FLUSH_BELOW`` are set to 0; their contribution
to any update is below 1e-20 of the learning rate.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

BLOCK = 1 << 15
FLUSH_EVERY = 64
FLUSH_BELOW = 1e-30


class _Blocked:
    """Runs ``self._update(lo, hi)`` over blocks of the buffer, optionally on threads."""

    def __init__(self, size: int, dtype, threads: int = 1):
        self.size, self.dtype = int(size), np.dtype(dtype)
        self.threads = max(1, int(threads))
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 and size > 4 * BLOCK else None
        self._tmp = [np.empty(min(BLOCK, max(self.size, 1)), dtype=self.dtype) for _ in range(self.threads)]

    def _run(self):
        self._flush = self.t % FLUSH_EVERY == 0
        starts = range(0, self.size, BLOCK)
        if self._pool is None:
            for lo in starts:
                self._update(lo, min(lo + BLOCK, self.size), self._tmp[0])
            return
        lanes = [list(starts)[t::self.threads] for t in range(self.threads)]

        def lane(t):
            for lo in lanes[t]:
                self._update(lo, min(lo + BLOCK, self.size), self._tmp[t])

        for future in [self._pool.submit(lane, t) for t in range(self.threads)]:
            future.result()

    def close(self):
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __del__(self):
        self.close()


class Adam(_Blocked):
    """state: m', v' (flat, size of the buffer) and the step count t."""

    def __init__(self, size: int, dtype=np.float32, lr: float = 1e-3, betas=(0.9, 0.999),
                 eps: float = 1e-8, threads: int = 1):
        super().__init__(size, dtype, threads)
        self.lr, (self.beta1, self.beta2), self.eps = float(lr), betas, float(eps)
        self.m = np.zeros(self.size, dtype=self.dtype)
        self.v = np.zeros(self.size, dtype=self.dtype)
        self.t = 0

    def step(self, data: np.ndarray, grad: np.ndarray) -> None:
        self.t += 1
        b1, b2, t = self.beta1, self.beta2, self.t
        # sqrt(v / (1 - b2^t)) = sqrt(v') * c, c = sqrt((1 - b2) / (1 - b2^t))
        c = math.sqrt((1 - b2) / (1 - b2**t))
        self._k = self.dtype.type(self.eps / c)
        self._step = self.dtype.type(-self.lr * (1 - b1) / (1 - b1**t) / c)
        self._b1, self._b2 = self.dtype.type(b1), self.dtype.type(b2)
        self._data, self._grad = data, grad
        self._run()

    def _update(self, lo, hi, tmp):
        g, m, v, p = self._grad[lo:hi], self.m[lo:hi], self.v[lo:hi], self._data[lo:hi]
        tmp = tmp[: hi - lo]
        m *= self._b1
        m += g
        v *= self._b2
        np.multiply(g, g, out=tmp)
        v += tmp
        np.sqrt(v, out=tmp)
        tmp += self._k
        np.divide(m, tmp, out=tmp)
        # (BLAS saxpy would save a pass, but OpenBLAS threads it: 15x slower on 32k elements)
        tmp *= self._step
        p += tmp
        if self._flush:
            _flush_tiny(m, v)

    def state(self) -> dict:
        return {"m": self.m.copy(), "v": self.v.copy(), "t": self.t}

    def load_state(self, state: dict) -> None:
        self.m[...], self.v[...], self.t = state["m"], state["v"], int(state["t"])


class SGD(_Blocked):
    """state: the momentum buffer u (flat)."""

    def __init__(self, size: int, dtype=np.float32, lr: float = 1e-2, momentum: float = 0.9, threads: int = 1):
        super().__init__(size, dtype, threads)
        self.lr, self.momentum = float(lr), float(momentum)
        self.u = np.zeros(self.size, dtype=self.dtype)
        self.t = 0

    def step(self, data: np.ndarray, grad: np.ndarray) -> None:
        self.t += 1
        self._data, self._grad = data, grad
        self._mu, self._lr = self.dtype.type(self.momentum), self.dtype.type(-self.lr)
        self._run()

    def _update(self, lo, hi, tmp):
        g, u, p = self._grad[lo:hi], self.u[lo:hi], self._data[lo:hi]
        tmp = tmp[: hi - lo]
        if self.momentum:
            u *= self._mu
            u += g
            g = u
            if self._flush:
                _flush_tiny(u)
        np.multiply(g, self._lr, out=tmp)
        p += tmp

    def state(self) -> dict:
        return {"u": self.u.copy(), "t": self.t}

    def load_state(self, state: dict) -> None:
        self.u[...], self.t = state["u"], int(state["t"])


def _flush_tiny(*arrays):
    """Set entries with |x| < FLUSH_BELOW to 0, in place."""
    for a in arrays:
        a[np.abs(a) < FLUSH_BELOW] = 0


def make_optimizer(name: str, size: int, dtype, *, lr: float, momentum: float = 0.9, threads: int = 1):
    """``adam`` or ``sgd`` for a flat buffer of ``size`` elements."""
    if name == "adam":
        return Adam(size, dtype, lr=lr, threads=threads)
    if name == "sgd":
        return SGD(size, dtype, lr=lr, momentum=momentum, threads=threads)
    raise ValueError(f"unknown optimizer {name!r}")
