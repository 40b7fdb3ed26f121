"""The options of ``vifit gmm --method svi`` (and ``vifit mixture --method svi``),
defined once and applied to each command with one decorator; their values arrive packed in the
``svi`` argument.

Their types, defaults and ranges are vifit.parameters' entries; the ranges with their own words
and the refusal of an SVI option under --method cavi are vifit.parameters.check's (the command
calls it first). Nothing here imports numpy, scipy or pandas.
"""

from __future__ import annotations

from vifit.commands.declared import declared
from vifit.options import _packed

def _svi_options(model: str, stream: bool, streamed: str = ""):
    """The SVI option group of ``model``'s command (``stream``: with --stream/--no-stream;
    streamed: what --method's help says a streamed fit reads)."""
    names = ("method", "batch_size", "forgetting", "delay", "epochs", "memoized") + (("stream",) if stream else ())
    options = [
        declared(model, "method", show_default=True,
                 help="cavi: full-data coordinate ascent; svi: stochastic VI on minibatches"
                      + (streamed if stream else " of the rows in memory.")),
        declared(model, "batch_size", show_default=True, metavar="M",
                 help="svi: rows per minibatch (more than the rows: all of them, with a note)."),
        declared(model, "forgetting", show_default=True, metavar="KAPPA",
                 help="svi: step size rho_t = (t + tau0)^-kappa, kappa in (0.5, 1]."),
        declared(model, "delay", show_default=True, metavar="TAU0",
                 help="svi: tau0 >= 0 in the step size; larger damps the early steps."),
        declared(model, "epochs", show_default=True,
                 help="svi: most passes over the data (--max-iter bounds the steps). Stops earlier "
                      "when the ELBO stops improving (see --tol); a run still climbing at the bound warns."),
        declared(model, "memoized",
                 help="svi: memoized online VB (Hughes & Sudderth 2013) instead of decaying steps: "
                      "per-batch statistics are replaced, no step size to tune."),
    ]
    if stream:
        options.append(declared(model, "stream", show_default=True,
                                help="svi: read the data in chunks (memory independent of N), or load it whole first."))
    return _packed("svi", names, options)


mixture_svi_options = _svi_options("mixture", stream=True, streamed=(
    ", streaming the file (a first pass for the columns' families, levels and priors, then one pass per "
    "epoch; from stdin add --no-stream)."))

svi_options = _svi_options("gmm", stream=True,
                           streamed=", streaming the file (one pass per epoch; stdin: one online pass).")
