"""The options of ``vifit gmm --method svi``, defined once and applied to the gmm command
with one decorator; their values arrive packed in the ``svi`` argument.

Ranges are checked by :func:`vifit.api.gmm_svi.check_settings` (exit 2 naming the
option), so plain types here. Nothing here imports numpy, scipy or pandas.
"""

from __future__ import annotations

import click

from vifit.options import FiniteFloat, _packed

svi_options = _packed(
    "svi",
    ("method", "batch_size", "forgetting", "delay", "epochs", "memoized", "stream"),
    [
        click.option("--method", type=click.Choice(["cavi", "svi"]), default="cavi", show_default=True,
                     help="cavi: full-data coordinate ascent; svi: stochastic VI on minibatches, streaming "
                          "the file (one pass per epoch; stdin: one online pass).")
        ,
        click.option("--batch-size", type=int, default=1024, show_default=True, metavar="M",
                     help="svi: rows per minibatch (more than the rows: all of them, with a note).")
        ,
        click.option("--forgetting", type=FiniteFloat(), default=0.7, show_default=True, metavar="KAPPA",
                     help="svi: step size rho_t = (t + tau0)^-kappa, kappa in (0.5, 1].")
        ,
        click.option("--delay", type=FiniteFloat(), default=1.0, show_default=True, metavar="TAU0",
                     help="svi: tau0 >= 0 in the step size; larger damps the early steps.")
        ,
        click.option("--epochs", type=int, default=10, show_default=True,
                     help="svi: most passes over the data (--max-iter bounds the steps). Stops earlier "
                          "when the ELBO estimate stops improving by --tol.")
        ,
        click.option("--memoized", is_flag=True,
                     help="svi: memoized online VB (Hughes & Sudderth 2013) instead of decaying steps: "
                          "per-batch statistics are replaced, no step size to tune.")
        ,
        click.option("--stream/--no-stream", default=True, show_default=True,
                     help="svi: read the data in chunks (memory independent of N), or load it whole first.")
        ,
    ],
)


def reject_unused(ctx: click.Context, svi: dict) -> None:
    """--method cavi ignores every SVI option: one given on the command line is an error naming
    it (exit 2), as --sigma is with --covariance full, never a silently ignored flag."""
    from click.core import ParameterSource

    from vifit.errors import BadInput

    if svi["method"] == "svi":
        return
    for param in ctx.command.params:
        if param.name in svi and param.name != "method" and ctx.get_parameter_source(param.name) not in (
                ParameterSource.DEFAULT, None):
            given = param.opts[0] if svi[param.name] or not param.secondary_opts else param.secondary_opts[0]
            raise BadInput(f"{given} applies to --method svi only; add --method svi or drop {given}")
