"""Documents of a choice among candidates, validated before ``vifit plot`` draws them:

- a comparison, ``vifit.compare/1`` (``vifit compare``): candidates of any kind with their
  held-out log density per row;
- a selection, ``fit.selection`` of a gmm or mixture fit document (``--k 1-9``, and the grid
  of covariance types): candidates by K with their ELBO and, with a held-out split, their held-out
  log density. Older documents lack ``covariance`` (the fit's config covariance then),
  ``chosen`` (``chosen_k`` then) and the held-out fields; newer ones may add fields, kept unread.

:func:`read_figure_document` reads a file that is either a comparison or a model file.
"""

from __future__ import annotations

from vifit.documents.parse import parse, read_bytes
from vifit.documents.schema import Bool, Context, Int, Items, Nullable, Num, Obj, Str, validate

COMPARE_SCHEMA = "vifit.compare/1"

_NUMBER = Nullable(Num(), optional=True)
COMPARISON = Obj({
    "n_train": Int(ge=1), "n_heldout": Int(ge=1), "best": Nullable(Str()),
    "candidates": Items(Obj({"name": Str(), "kind": Str(), "rank": Nullable(Int(ge=1)),
                             "heldout_log_density_per_row": Nullable(Num()),
                             "standard_error": Nullable(Num(ge=0), optional=True),
                             "train_elbo_per_row": _NUMBER})),
})
SELECTION = Obj({
    "candidates": Items(Obj({"k": Int(ge=1), "covariance": Nullable(Str(max_len=100), optional=True),
                             "elbo": _NUMBER, "elbo_per_row": _NUMBER,
                             "heldout_log_density_per_row": _NUMBER,
                             "heldout_standard_error": Nullable(Num(ge=0), optional=True),
                             "converged": Nullable(Bool(), optional=True)})),
    "chosen_k": Nullable(Int(ge=1), optional=True),
    "chosen": Nullable(Obj({"k": Int(ge=1), "covariance": Nullable(Str(max_len=100), optional=True)}), optional=True),
})


def read_figure_document(path: str) -> dict:
    """A comparison (validated here) or a model file (validated as :func:`read_model` does)."""
    from vifit.documents import validate_model

    document = parse(read_bytes(path, "model file"), path, "vifit model file", "; write one with -o model.json")
    if isinstance(document, dict) and document.get("schema") == COMPARE_SCHEMA:
        return validate(COMPARISON, document, Context(path))
    return validate_model(document, path)


def selection_of(document: dict, path: str) -> dict | None:
    """A model document's fit.selection, validated, each candidate with its covariance filled in
    (the fit's config covariance when absent) and ``chosen`` as {"k", "covariance"}; None when
    the fit chose nothing (one K)."""
    selection = (document.get("fit") or {}).get("selection")
    if selection is None:
        return None
    selection = validate(SELECTION, selection, Context(path, "fit.selection"))
    fallback = (document.get("config") or {}).get("covariance")
    candidates = [{**c, "covariance": c.get("covariance") or fallback} for c in selection["candidates"]]
    chosen = selection.get("chosen") or {}
    k = chosen.get("k", selection.get("chosen_k"))
    if k is None:
        raise Context(path, "fit.selection").fail("names no chosen candidate (chosen or chosen_k)")
    chosen = {"k": k, "covariance": chosen.get("covariance") or fallback}
    return {**selection, "candidates": candidates, "chosen": chosen}
