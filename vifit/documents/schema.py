"""A small declarative language for the fields of a document read from a file.

A schema is a tree of specs; :func:`validate` walks a parsed JSON value along it and returns
the value with every ``Array`` converted to a float64 numpy array, or raises BadInput
naming the file, the field's dotted path and the problem (values quoted short)::

    PRIOR = Obj({"mean": Array("d"), "sigma": Num(gt=0), "weights": Str(choices=WEIGHTS)})
    prior = validate(PRIOR, document["params"]["prior"], Context(path, "params.prior"))

Array shapes name their dimensions: the first field to use a name binds it (``k``
components, ``d`` columns), every later use must agree, and the message says where the
binding came from. Members an ``Obj`` does not list are kept unchecked (informational
fields such as ``run`` or ``fit.loss_name``); listed members are required unless optional.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from vifit.errors import BadInput, quote


@dataclass
class Context:
    """Where we are: the file, the dotted path in it, and the dimensions bound so far."""

    path: str
    where: str = ""
    dims: dict = field(default_factory=dict)  # name -> (size, where it was bound)

    def at(self, key) -> "Context":
        if isinstance(key, str) and len(key) > 60:  # a member name from the file: keep messages short
            key = key[:60] + "..."
        where = f"{self.where}[{key}]" if isinstance(key, int) else (f"{self.where}.{key}" if self.where else key)
        return Context(self.path, where, self.dims)

    def fail(self, problem: str) -> BadInput:
        return BadInput(f"{self.path}: field {self.where!r} {problem}")

    def bind(self, name: str, size: int, where: str | None = None) -> None:
        """Fix dimension ``name`` to ``size``, or check it against an earlier binding."""
        if name not in self.dims:
            self.dims[name] = (size, where or self.where)
        elif self.dims[name][0] != size:
            bound, origin = self.dims[name]
            raise self.fail(f"has {size} along {name}, but {origin!r} gives {name} = {bound}")


def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _domain(value: np.ndarray | float, ctx: Context, gt, ge, nonzero) -> None:
    bad = None
    values = np.asarray(value)
    if gt is not None and not (values > gt).all():
        bad, need = values[~(values > gt)].flat[0], f"greater than {gt:g}" if gt else "positive"
    elif ge is not None and not (values >= ge).all():
        bad, need = values[~(values >= ge)].flat[0], f"at least {ge:g}" if ge else "non-negative"
    elif nonzero and not (values != 0).all():
        bad, need = 0.0, "non-zero"
    if bad is not None:
        raise ctx.fail(f"must be {need}{'' if values.ndim == 0 else ' everywhere'}, got {float(bad):g}")


class Spec:
    optional = False

    def check(self, value, ctx: Context):  # -> the validated (possibly converted) value
        raise NotImplementedError


@dataclass
class Num(Spec):
    """A finite number (not a boolean), with optional bounds."""

    gt: float | None = None
    ge: float | None = None
    nonzero: bool = False
    optional: bool = False
    integer: bool = False
    allow_inf: bool = False  # a loop's "no best yet" (checkpoints); never NaN

    def check(self, value, ctx):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ctx.fail(f"must be a number, got {_kind(value)} {quote(value)}")
        if self.integer and not isinstance(value, int):
            raise ctx.fail(f"must be a whole number, got {quote(value)}")
        if not math.isfinite(value):
            if self.allow_inf and not math.isnan(value):
                return value
            raise ctx.fail(f"must be finite, got {quote(value)}")
        _domain(float(value), ctx, self.gt, self.ge, self.nonzero)
        return value


def Int(ge: float | None = None, optional: bool = False) -> Num:
    return Num(ge=ge, optional=optional, integer=True)


@dataclass
class Bool(Spec):
    optional: bool = False

    def check(self, value, ctx):
        if not isinstance(value, bool):
            raise ctx.fail(f"must be true or false, got {_kind(value)} {quote(value)}")
        return value


@dataclass
class Str(Spec):
    """A string, one of ``choices`` when given, at most ``max_len`` characters."""

    choices: tuple | None = None
    max_len: int = 1000
    optional: bool = False

    def check(self, value, ctx):
        if not isinstance(value, str):
            raise ctx.fail(f"must be a string, got {_kind(value)} {quote(value)}")
        if self.choices is not None and value not in self.choices:
            raise ctx.fail(f"must be one of {', '.join(self.choices)}; got {quote(value)}")
        if len(value) > self.max_len:
            raise ctx.fail(f"is a string of {len(value):,} characters; at most {self.max_len:,} are allowed")
        return value


@dataclass
class Nullable(Spec):
    """``spec`` or null."""

    spec: Spec
    optional: bool = False

    def check(self, value, ctx):
        return None if value is None else self.spec.check(value, ctx)


@dataclass
class Array(Spec):
    """Nested lists of finite numbers of the given shape: names bind dimensions, ints are exact,
    ``"_"`` is free. The result is a float64 array."""

    shape: tuple | str
    gt: float | None = None
    ge: float | None = None
    nonzero: bool = False
    optional: bool = False
    allow_empty: bool = False  # [] stands for an array with no rows (an empty trace)

    def check(self, value, ctx):
        if self.allow_empty and value == []:
            return np.empty((0,) + tuple(self.shape[1:]))
        shape = (self.shape,) if isinstance(self.shape, str) else tuple(self.shape)
        if not isinstance(value, (list, np.ndarray)) and shape:
            raise ctx.fail(f"must be a list of {len(shape)} dimension(s), got {_kind(value)} {quote(value)}")
        try:
            array = np.array(value)
        except (ValueError, OverflowError):  # ragged lists, integers beyond int64
            raise ctx.fail("must be a rectangular array of numbers") from None
        if array.dtype.kind not in "fiu":
            raise ctx.fail("must hold numbers only" + (" (it holds booleans)" if array.dtype.kind == "b" else ""))
        array = array.astype(np.float64)
        if array.ndim != len(shape):
            raise ctx.fail(f"must have {len(shape)} dimension(s) {_shape_text(shape)}, got shape {array.shape}")
        for axis, (name, size) in enumerate(zip(shape, array.shape)):
            if isinstance(name, int):
                if size != name:
                    raise ctx.fail(f"must have {name} entries along axis {axis}, got shape {array.shape}")
            elif name != "_":
                if size == 0:
                    raise ctx.fail(f"is empty (shape {array.shape})")
                ctx.bind(name, size)
        if not np.isfinite(array).all():
            raise ctx.fail("holds a value beyond the range of a 64-bit float")
        _domain(array, ctx, self.gt, self.ge, self.nonzero)
        return array


def _shape_text(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


@dataclass
class Strings(Spec):
    """A list of distinct strings (column names) whose length binds dimension ``length``."""

    length: str
    max_len: int = 1000
    optional: bool = False

    def check(self, value, ctx):
        if not isinstance(value, list) or not value:
            raise ctx.fail(f"must be a non-empty list of names, got {_kind(value)} {quote(value)}")
        for i, item in enumerate(value):
            Str(max_len=self.max_len).check(item, ctx.at(i))
        if len(set(value)) != len(value):
            repeated = next(v for v in value if value.count(v) > 1)
            raise ctx.fail(f"names {quote(repeated)} twice")
        ctx.bind(self.length, len(value))
        return value


@dataclass
class Obj(Spec):
    """An object with the listed members (each a spec); others are kept as they are."""

    members: dict
    optional: bool = False

    def check(self, value, ctx):
        if not isinstance(value, dict):
            raise ctx.fail(f"must be an object, got {_kind(value)} {quote(value)}")
        out = dict(value)
        for key, spec in self.members.items():
            if key not in value:
                if spec.optional:
                    continue
                raise ctx.at(key).fail("is missing")
            out[key] = spec.check(value[key], ctx.at(key))
        return out


@dataclass
class Items(Spec):
    """A non-empty list (at most ``max_items``) whose every item is ``spec``."""

    spec: Spec
    max_items: int = 100_000
    optional: bool = False

    def check(self, value, ctx):
        if not isinstance(value, list) or not value:
            raise ctx.fail(f"must be a non-empty list, got {_kind(value)} {quote(value)}")
        if len(value) > self.max_items:
            raise ctx.fail(f"holds {len(value):,} items; at most {self.max_items:,} are allowed")
        return [self.spec.check(item, ctx.at(i)) for i, item in enumerate(value)]


@dataclass
class Check(Spec):
    """``spec``, then ``rule(value, ctx)`` for what a spec cannot say (positive definiteness)."""

    spec: Spec
    rule: Callable[[Any, Context], None]
    optional: bool = False

    def check(self, value, ctx):
        value = self.spec.check(value, ctx)
        self.rule(value, ctx)
        return value


def validate(spec: Spec, value, ctx: Context):
    return spec.check(value, ctx)


def positive_definite(value: np.ndarray, ctx: Context) -> None:
    """A symmetric positive-definite matrix (d, d), or a stack of them (k, d, d)."""
    stack = value.reshape((-1,) + value.shape[-2:])
    scale = np.maximum(np.abs(stack).max(axis=(1, 2)), np.finfo(float).tiny)
    asymmetry = np.abs(stack - stack.transpose(0, 2, 1)).max(axis=(1, 2)) / scale
    for index in np.flatnonzero(asymmetry > 1e-8):
        raise ctx.fail(f"must be symmetric{_which(value, index)}")
    for index, matrix in enumerate(stack):
        try:
            np.linalg.cholesky(matrix)
        except np.linalg.LinAlgError:
            raise ctx.fail(f"must be positive definite{_which(value, index)}") from None


# How far from 1 a probability vector's sum may be: vifit writes them normalised in float64
# (off by ~1e-16 per entry); 1e-6 also admits entries rounded to 7 significant figures.
SIMPLEX_TOL = 1e-6


def simplex(value: np.ndarray, ctx: Context) -> None:
    """Probabilities (k,) (mixture weights): each >= 0 (its Array's ge=0) and summing to 1."""
    total = float(value.sum())
    if not abs(total - 1.0) <= SIMPLEX_TOL:
        raise ctx.fail(f"must sum to 1 (probabilities), got a sum of {total:.9g}")


def sub_simplex(value: np.ndarray, ctx: Context) -> None:
    """Fractions (k,) of one whole (explained variance ratios): each >= 0, summing to at most 1."""
    total = float(value.sum())
    if not total <= 1.0 + SIMPLEX_TOL:
        raise ctx.fail(f"must sum to at most 1 (fractions of the total), got a sum of {total:.9g}")


def _which(value: np.ndarray, index: int) -> str:
    return f" (matrix {index + 1} is not)" if value.ndim == 3 else ""
