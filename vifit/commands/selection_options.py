"""The options of held-out rows and of the selection grid (``vifit gmm``, ``vifit mixture``):
``--validation``, ``--folds``, ``--select``, ``--jobs``, defined once and applied with one
decorator; their values arrive packed in the ``selection`` argument. Their types, defaults and
ranges are vifit.parameters' entries. Nothing here imports numpy, scipy or pandas."""

from __future__ import annotations

from vifit.commands.declared import declared
from vifit.options import _packed


def selection_options(model: str):
    """The held-out and grid option group of ``model``'s command."""
    return _packed("selection", ("validation", "folds", "select", "jobs"), [
        declared(model, "validation", metavar="FRACTION",
                 help="Hold out this fraction of the rows (chosen by --seed) and report their log predictive "
                      "density per row, in nats of the data as read, in fit.validation. The model written is "
                      "the one fitted on the other rows (the training rows). Row weights count as copies. "
                      "Rows in memory only (not a streamed --method svi file, not --backend dask)."),
        declared(model, "folds", metavar="F",
                 help="Cross-validate: split the rows into F parts (by --seed), fit on all but one and score "
                      "it, for each part; fit.validation holds the mean held-out log density per row over all "
                      "rows and each fold's. The model written is refitted on all rows."),
        declared(model, "select",
                 help="How a grid (a --k range"
                      + (", a --covariance list" if model == "gmm" else "")
                      + ") chooses: elbo (highest ELBO), heldout (highest held-out log density per row; needs "
                        "--validation or --folds) or icl (ELBO minus the entropy of the responsibilities, "
                        "sum_n H(r_n): the bound with hard assignments). fit.selection tabulates every "
                        "candidate.  [default: heldout with --validation or --folds, else elbo]"),
        declared(model, "jobs", show_default=True, metavar="N",
                 help="Fit a grid's candidates (and folds) in N processes sharing the cores; the result is "
                      "the same as with 1."),
    ])


def refuse_checkpoint_split(run: dict, selection: dict) -> None:
    """BadInput for --checkpoint/--resume with held-out rows: a split runs several fits."""
    if (run.get("checkpoint") or run.get("resume")) and (selection.get("validation") is not None
                                                         or selection.get("folds") is not None):
        from vifit.errors import BadInput

        raise BadInput("--checkpoint/--resume hold one fit's state; drop --validation/--folds to use them")
