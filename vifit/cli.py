"""The ``vifit`` command group: lazy loading of commands and the error edge.

Commands live in ``vifit.commands.<name>`` and are imported only when run or
listed, and their modules import nothing heavy at import time, so
``vifit --help`` never loads scipy, pandas or the models.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback

import click

from vifit import __version__, errors, interrupt

# name -> "module:attribute"; order is the order shown by --help.
COMMANDS = {
    "gmm": "vifit.commands.gmm:gmm",
    "mixture": "vifit.commands.mixture:mixture",
    "pca": "vifit.commands.pca:pca",
    "autoencoder": "vifit.commands.autoencoder:autoencoder",
    "vae": "vifit.commands.vae:vae",
    "predict": "vifit.commands.predict:predict",
    "score": "vifit.commands.score:score",
    "compare": "vifit.commands.compare:compare",
    "sample": "vifit.commands.sample:sample",
    "plot": "vifit.commands.plot:plot",
}


def _available(name: str) -> bool:
    module = COMMANDS[name].split(":")[0]
    return importlib.util.find_spec(module) is not None


class VifitGroup(click.Group):
    """A group that loads commands on demand and owns the exit-code contract."""

    def list_commands(self, ctx):
        return [name for name in COMMANDS if _available(name)]

    def get_command(self, ctx, name):
        if name not in COMMANDS or not _available(name):
            return None
        module, attribute = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attribute)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Run a command; turn every failure into one stderr line and an exit code."""
        errors.debug.enabled = False
        from vifit.writing import protect_standard_streams

        protect_standard_streams()  # before any file is opened: a closed fd 1 or 2 must not be reused
        try:
            code = super().main(args=args, prog_name=prog_name or "vifit", complete_var=complete_var,
                                standalone_mode=False, **extra)
            code = code if isinstance(code, int) else 0
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except click.exceptions.Abort:
            code = errors.EXIT_SIGINT
        except click.ClickException as exc:
            message = exc.format_message()
            if isinstance(exc, click.MissingParameter) and isinstance(exc.param, click.Argument) and exc.ctx:
                message = f"{message.rstrip('.')}: see '{exc.ctx.command_path} --help'"  # what it takes, examples
            errors.report(message)
            code = errors.EXIT_BAD_INPUT if exc.exit_code in (1, 2) else exc.exit_code
        except errors.Interrupted as exc:
            errors.report(str(exc), prefix="interrupted")
            code = exc.exit_code
        except errors.VifitError as exc:
            errors.report(str(exc))
            code = exc.exit_code
        except KeyboardInterrupt:
            errors.report("interrupted", prefix="interrupted")
            code = errors.EXIT_SIGINT
        except BrokenPipeError:
            from vifit.output import silence_stdout

            silence_stdout()
            code = errors.EXIT_OK
        except OSError as exc:
            if exc.errno not in errors.SYSTEM_ERRNOS:
                code = _internal_error(exc)
            else:  # a full disk or a file-size limit met outside the writers: the system's reason, no "bug"
                errors.report(str(errors.system_failure(exc)))
                code = errors.EXIT_INTERNAL
        except Exception as exc:  # the last resort: a bug in vifit
            code = _internal_error(exc)
        sys.exit(code)


def _internal_error(exc: Exception) -> int:
    if errors.debug.enabled and sys.stderr is not None:
        traceback.print_exc()
    errors.report(f"{type(exc).__name__}: {exc} (this is a bug in vifit; rerun with --debug "
                  f"for a traceback)", prefix="internal error")
    return errors.EXIT_INTERNAL


@click.group(cls=VifitGroup, context_settings={"help_option_names": ["-h", "--help"]},
             invoke_without_command=True, subcommand_metavar="COMMAND [ARGS]...")
@click.version_option(__version__, "--version", prog_name="vifit", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx):
    """Fit variational models to a table of numbers.

    Reads a CSV (a path, a compressed path or - for stdin) or a Parquet,
    Feather or Arrow file (with the extra: pip install 'vifit[arrow]'), fits
    one model, shows the ELBO as it climbs on stderr, and writes the fitted
    model as JSON or CSV to stdout or -o PATH.

    \b
    Example:
      vifit pca sample_data/iris.csv --k 2 -o pca.json
      vifit predict pca.json sample_data/iris.csv | head
    """
    if ctx.invoked_subcommand is None:  # bare `vifit`: the help, as --help prints it
        click.echo(ctx.get_help())


def main(argv=None):
    """Console-script entry point: signal handlers first (see vifit.interrupt), then the command."""
    interrupt.install()
    try:
        cli.main(args=argv, prog_name="vifit")
    finally:
        interrupt.exiting()
