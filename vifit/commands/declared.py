"""click options built from vifit.parameters, the one declaration of every fitting option: its
flag, type, default and choices come from the table, its --help text from the command; and the
table's check of what a command was given. Imports only click (and the table)."""

from __future__ import annotations

import click

from vifit import parameters
from vifit.options import FiniteFloat


class ChoiceList(click.ParamType):
    """A comma list of choices ("full,diag"): the text is kept for vifit.parameters.check, which
    says what is wrong with it; the shell completes the choices after the last comma."""

    name = "choices"

    def __init__(self, choices):
        self.choices = list(choices)

    def get_metavar(self, param, *args) -> str:
        return f"[{'|'.join(self.choices)}][,...]"

    def shell_complete(self, ctx, param, incomplete):
        from click.shell_completion import CompletionItem

        head, _, last = incomplete.rpartition(",")
        prefix = f"{head}," if head else ""
        return [CompletionItem(prefix + choice) for choice in self.choices if choice.startswith(last)]


def click_type(entry):
    """click's type for a vifit.parameters entry (None: click's text). A range with its own words
    is left to parameters.check, so click gets the bare type and the message is the table's."""
    if entry.kind == "choice":
        return click.Choice(list(entry.choices))
    if entry.kind == "choices":
        return ChoiceList(entry.choices)
    ranged = entry.bounded and entry.words is None
    if entry.kind == "int":
        return click.IntRange(entry.low, entry.high, min_open=entry.low_open, max_open=entry.high_open) \
            if ranged else click.INT
    if entry.kind == "float":
        return FiniteFloat(entry.low, entry.high, min_open=entry.low_open, max_open=entry.high_open) \
            if ranged else FiniteFloat()
    return None


def declared(model: str, name: str, short: str | None = None, **kwargs):
    """``click.option`` for ``model``'s option ``name`` as vifit.parameters declares it (its flag,
    type, default and choices); short: a one-letter form too (``-k``); kwargs: what only --help
    needs (help, metavar, show_default)."""
    entry = parameters.of(model)[name]
    decl = f"{entry.option}/--no-{entry.option[2:]}" if entry.negatable else entry.option
    flags = (short, decl) if short else (decl,)
    if entry.kind == "flag":
        flag = {} if entry.negatable else {"is_flag": True}  # --x/--no-x is a flag by its form
        return click.option(*flags, name, default=entry.default, **flag, **kwargs)
    default = str(entry.default) if entry.kind == "krange" else entry.default
    return click.option(*flags, name, type=click_type(entry), default=default, **kwargs)


def check_declared(model: str, values: dict) -> None:
    """vifit.parameters.check of a command's options, an option "given" when it was on the command
    line (``--method cavi --batch-size 1024`` is refused though 1024 is the default)."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    given = {name for name in values if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)}
    parameters.check(model, values, given)
