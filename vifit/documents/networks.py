"""Schema of an autoencoder or vae document's ``params``: the architecture, then weights of
exactly the shapes it implies (checked before any network is built, so a claimed
architecture of a million-by-a-million layer is refused, not allocated); and the weights
read into a built network."""

from __future__ import annotations

from vifit.documents.schema import Array, Context, Num, Obj, Spec, Str, validate
from vifit.errors import BadInput, quote
from vifit.output import array_of

MAX_UNITS = 1 << 24  # per layer; the weights' own count is bounded by the document's size


class Sizes(Spec):
    """A list of at least ``min_len`` layer sizes, whole numbers from 1 to MAX_UNITS."""

    optional = False

    def __init__(self, min_len: int = 2):
        self.min_len = min_len

    def check(self, value, ctx):
        if not isinstance(value, list) or len(value) < self.min_len:
            raise ctx.fail(f"must be a list of at least {self.min_len} layer size(s), got {quote(value)}")
        for i, size in enumerate(value):
            Num(ge=1, integer=True).check(size, ctx.at(i))
            if size > MAX_UNITS:
                raise ctx.at(i).fail(f"is {size:,} units; at most {MAX_UNITS:,} are allowed")
        return [int(s) for s in value]


def mlp_shapes(name: str, sizes: list[int]) -> dict:
    """{"name.l.W": (n_l, n_l+1), "name.l.b": (n_l+1,)} for an MLP of these sizes."""
    shapes = {}
    for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes[f"{name}.{layer}.W"] = (n_in, n_out)
        shapes[f"{name}.{layer}.b"] = (n_out,)
    return shapes


def check_chain(arch: dict, ctx: Context, first: tuple, last: tuple, joint: tuple) -> None:
    """Sizes that must agree: encoder input and decoder output = d, and the code/latent joint."""
    d = ctx.dims["d"][0]
    for (part, index) in (first, last):
        if arch[part][index] != d:
            raise ctx.at(part).at(index).fail(f"is {arch[part][index]}, but data.columns names {d} columns")
    (part_a, index_a), (part_b, index_b) = joint
    a = arch[part_a] if index_a is None else arch[part_a][index_a]
    if a != arch[part_b][index_b]:
        raise ctx.at(part_b).at(index_b).fail(f"is {arch[part_b][index_b]}, but the {part_a} gives {a}")


def validate_weights(weights, shapes: dict, ctx: Context) -> dict:
    """params.weights: exactly the arrays ``shapes`` names, finite, of those shapes."""
    if not isinstance(weights, dict):
        return validate(Obj({}), weights, ctx)
    extra = sorted(set(weights) - set(shapes))
    if extra:
        raise ctx.at(extra[0]).fail("is not a weight of this architecture")
    return validate(Obj({name: Array(shape) for name, shape in shapes.items()}), weights, ctx)


ACTIVATION = Str(choices=("identity", "relu", "tanh", "sigmoid", "softplus"))


def load_weights(net, document: dict, path: str):
    """Fill ``net.params`` from ``params.weights`` of the document; BadInput if malformed."""
    arrays = {name: array_of(document, path, "params", "weights", name) for name in net.params.names()}
    try:
        net.params.load(arrays)
    except ValueError as exc:
        raise BadInput(f"{path}: field 'params.weights' is malformed ({exc})") from None
    return net
