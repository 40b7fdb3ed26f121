"""Option groups shared by several commands, each defined once.

``data_options``, ``output_options`` and ``run_options`` add their click options
and pack the values into one dict argument (``read``, ``out``, ``run``) so
command functions stay short. Nothing here imports numpy, scipy or pandas:
``vifit --help`` must stay fast.

``run_options`` is the whole set an iterative fit honours. It is built from
smaller groups (``seed_option``, ``report_options``, ``strict_option``,
``debug_option``, ``checkpoint_options``), all packed into the same ``run``
dict, so a command that honours only some of them takes only those and any
other is click's usual usage error (exit 2), not a silently ignored flag.
"""

from __future__ import annotations

import functools
import math

import click

from vifit import errors

PROGRESS_MODES = ("auto", "rich", "plain", "json", "none")


def _packed(name: str, keys: tuple[str, ...], options: list):
    """Decorator factory: add ``options`` and pack their values into kwarg ``name``."""

    def decorator(f):
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            packed = {key: kwargs.pop(key) for key in keys}
            # merged with what an outer group put there, so that several groups fill one
            # argument (see run_options); a group may name its argument after one of its keys
            earlier = kwargs.get(name, {}) if name not in keys else {}
            kwargs[name] = {**earlier, **packed}
            return f(*args, **kwargs)

        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper

    return decorator


class FiniteFloat(click.FloatRange):
    """A float option that must be a finite number, optionally within a range: ``nan``, ``inf``
    and ``-inf`` are usage errors naming the option (exit 2), as a value out of range is. Every
    float option uses it (or FiniteFloat() for no range), so no non-number reaches a fit."""

    name = "float"

    def convert(self, value, param, ctx):
        number = click.types.FloatParamType.convert(self, value, param, ctx)
        if not math.isfinite(number):  # before the range, which is silent about nan
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)

    def _describe_range(self) -> str:
        return "" if self.min is None and self.max is None else super()._describe_range()  # no "x<=None" in --help


def delimiter_problem(value: str) -> str | None:
    """Why ``value`` cannot separate fields (None when it can): one ASCII character, and not a
    line break, a quote or NUL, which would change how every line is split. 'tab' or '\\t' is TAB."""
    value = "\t" if value in ("\\t", "tab") else value
    if len(value) != 1:
        return f"must be one character ('tab' for TAB), got {value!r}"
    if not value.isascii():  # pandas' fast parser splits on one byte; it would fall back to a slow one, noisily
        return f"must be an ASCII character, got {value!r}"
    why = {"\n": "a line break", "\r": "a line break", '"': "the quote character", "\x00": "NUL"}.get(value)
    return f"{value!r} is {why} and cannot separate fields" if why else None


def _check_delimiter(ctx, param, value):
    problem = None if value is None else delimiter_problem(value)
    if problem:
        raise click.BadParameter(problem, ctx=ctx, param=param)
    return value


# DATA's separator and decimal mark: the fitting commands' data options, and predict's and plot's
delimiter_option = click.option(
    "--delimiter", default=None, callback=_check_delimiter,
    help="Field separator (one ASCII character; 'tab' for TAB). Default ',', or ';' or TAB "
         "when the first line holds it and no comma (TAB: not in a .csv file).")
decimal_option = click.option("--decimal", type=click.Choice([".", ","]), default=".", show_default=True,
                              help="Decimal mark of the numbers (',' e.g. with --delimiter ';').")

def model_data_options(f):
    """How predict and score read DATA for a model file: --header/--no-header, --delimiter,
    --decimal, --dropna (the columns are the model's, so no --columns or --standardize)."""
    for option in reversed([
        click.option("--header/--no-header", default=True, show_default=True,
                     help="Whether DATA's first row holds column names."),
        delimiter_option,
        decimal_option,
        click.option("--dropna", is_flag=True, help="Skip rows with missing or infinite values instead of failing."),
    ]):
        f = option(f)
    return f


data_options = _packed(
    "read",
    ("columns", "header", "delimiter", "decimal", "dropna", "standardize", "dtype"),
    [
        click.option("--columns", metavar="SPEC", default=None,
                     help="Numeric columns to use: names, 1-based indices or ranges, e.g. "
                          "'a,b' or '1-4'. Default: every numeric column (text columns are dropped with a note)."),
        click.option("--header/--no-header", default=True, show_default=True,
                     help="Whether the first row holds column names."),
        delimiter_option,
        decimal_option,
        click.option("--dropna", is_flag=True, help="Drop rows with empty, NaN or infinite values instead of failing."),
        click.option("--standardize", is_flag=True,
                     help="Centre and scale each column; the mean and scale are stored in the model."),
        click.option("--dtype", type=click.Choice(["float64", "float32"]), default=None,
                     help="Floating-point precision of the computation."),
    ],
)

def row_weights_option(f):
    """``--row-weights COLUMN`` (gmm, mixture), put into the ``read`` options only when given, so a
    fit without it records the same config as before the option existed."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        column = kwargs.pop("row_weights")
        if column is not None:
            kwargs["read"] = {**kwargs.get("read", {}), "row_weights": column}
        return f(*args, **kwargs)

    return click.option("--row-weights", "row_weights", metavar="COLUMN", default=None,
                        help="A column of non-negative frequency weights (not a feature): weight w counts as "
                             "w copies of its row, 0 drops it.")(wrapper)


output_options = _packed(
    "out",
    ("output", "format"),
    [
        click.option("-o", "--output", metavar="PATH", default=None,
                     help="Write the result here (atomically; .gz/.bz2/.xz compress) instead of stdout."),
        click.option("--format", "format", type=click.Choice(["json", "csv"]), default=None,
                     help="Output format; default from the -o extension (.json, .csv), else json."),
    ],
)


class _CsvOnly(click.Choice):
    """``--format csv`` for commands that write tables: --help offers csv alone, and asking
    for json says why instead of click's bare "not one of"."""

    def __init__(self):
        super().__init__(["csv"])

    def convert(self, value, param, ctx):
        if str(value).lower() == "json":
            self.fail(f"{ctx.info_name if ctx else 'this command'} writes CSV only; drop --format json", param, ctx)
        return super().convert(value, param, ctx)


table_output_options = _packed(
    "out",
    ("output", "format"),
    [
        click.option("-o", "--output", metavar="PATH", default=None,
                     help="Write the table here (atomically; .gz/.bz2/.xz compress; .parquet writes Parquet, "
                          "with vifit[arrow]) instead of stdout."),
        click.option("--format", "format", type=_CsvOnly(), default=None,
                     help="Output format: csv only (needed only for an -o name such as out.txt)."),
    ],
)


def _set_debug(ctx, param, value):
    if value:
        errors.debug.enabled = True
    return value


seed_option = _packed("run", ("seed",), [
    click.option("--seed", type=click.IntRange(min=0), default=None,
                 help="Random seed; drawn and recorded in the output when not given."),
])

report_options = _packed("run", ("progress", "quiet"), [
    click.option("--progress", type=click.Choice(PROGRESS_MODES), default="auto", show_default=True,
                 help="Progress on stderr: rich bar on a terminal, plain lines every 2 s otherwise, "
                      "json lines, or none."),
    click.option("-q", "--quiet", is_flag=True, help="No progress and no notes (warnings still shown)."),
])

# -q for the commands that report no progress (sample, plot)
quiet_option = _packed("run", ("quiet",), [
    click.option("-q", "--quiet", is_flag=True, help="No notes (warnings and errors still shown)."),
])

strict_option = _packed("run", ("strict", "strict_elbo"), [
    click.option("--strict", is_flag=True, help="Exit with status 3 when the fit does not converge."),
    # For vifit's own tests, so hidden; also read from VIFIT_STRICT_ELBO=1, which subprocesses inherit.
    click.option("--strict-elbo", is_flag=True, hidden=True, envvar="VIFIT_STRICT_ELBO",
                 help="An ELBO that decreases between sweeps is an error (a bug: exit 1), not a warning."),
])

debug_option = _packed("run", ("debug",), [
    click.option("--debug", is_flag=True, is_eager=True, expose_value=True, callback=_set_debug,
                 help="Show a traceback for internal errors."),
])

threads_option = _packed("run", ("threads",), [
    click.option("--threads", type=click.IntRange(min=1), default=None, envvar="VIFIT_THREADS", metavar="N",
                 help="Threads for the fit (vifit's row threads, or BLAS's for the networks and PCA), also "
                      "read from VIFIT_THREADS.  [default: the usable cores (affinity, cgroup quota, "
                      "SLURM_CPUS_PER_TASK) or OMP/OPENBLAS/MKL_NUM_THREADS; networks: BLAS on 1 thread, "
                      "so a seed gives the same weights on any machine; pca: 1 thread when the load "
                      "average is at least the cores]"),
])

checkpoint_options = _packed("run", ("checkpoint", "checkpoint_every", "resume"), [
    click.option("--checkpoint", metavar="PATH", default=None,
                 help="Save the full state here (atomically) every --checkpoint-every seconds."),
    click.option("--checkpoint-every", metavar="SECONDS", type=FiniteFloat(), default=600.0, show_default=True,
                 help="Seconds between checkpoints."),
    click.option("--resume", metavar="PATH", default=None,
                 help="Continue from a checkpoint written by the same command; the result equals an "
                      "uninterrupted run's."),
])


def fit_options(f):
    """What every fit honours: seed, progress, quiet, strict, threads, debug (an exact fit such as
    pca takes these; iterative fits add checkpoint_options, see run_options)."""
    return seed_option(report_options(strict_option(threads_option(debug_option(f)))))


def run_options(f):
    """Everything an iterative fit honours: fit_options and checkpoint_options."""
    return fit_options(checkpoint_options(f))
