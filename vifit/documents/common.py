"""The parts every vifit.fit/1 document shares: the envelope, the data block, the fit traces."""

from __future__ import annotations

from vifit.documents.schema import Array, Int, Nullable, Obj, Strings

PREPROCESSING = Obj({
    "standardize": Obj({"mean": Array("d"), "scale": Array("d", gt=0)}, optional=True),
    "minmax": Obj({"min": Array("d"), "range": Array("d", gt=0)}, optional=True),
}, optional=True)

# data.columns binds d, the number of columns every parameter is shaped against
DATA = Obj({"columns": Strings("d"), "n_features": Int(ge=1, optional=True), "preprocessing": Nullable(PREPROCESSING,
                                                                                                       optional=True)})

PAIRS = Array(("_", 2), optional=True, allow_empty=True)  # [[iteration, value], ...]
FIT = Obj({"trace": PAIRS, "validation_trace": PAIRS})


def check_n_features(document: dict, ctx) -> None:
    """data.n_features, when present, counts data.columns."""
    count = document["data"].get("n_features")
    if count is not None and count != ctx.dims["d"][0]:
        raise ctx.at("data").at("n_features").fail(f"is {count}, but data.columns names {ctx.dims['d'][0]}")
