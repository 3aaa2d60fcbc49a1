"""The ``recsys`` click group: global options, and every exception turned into one line.

Every error a user can cause becomes one line on stderr (``Error: ...``) and a non-zero exit
code, never a traceback (unless ``--debug`` or ``RECSYS_DEBUG=1`` asks for one):

* exit 1: a :class:`recsys.errors.RecsysError` (bad file, unknown id, divergence...) or a
  file-system error, with the message that names what was wrong and what to do;
* exit 2: a wrong option or option value (click's usage errors);
* exit 130: interrupted (Ctrl-C); files are only ever replaced once complete, so nothing is
  left half-written;
* exit 1 with "internal error": anything else, which is a bug in recsys.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import click

from recsys._version import __version__
from recsys.cli import (data_commands, evaluate_command, model_commands, serve_command,
                        tune_command, update_command)
from recsys.cli.interrupts import Interrupted
from recsys.errors import RecsysError

__all__ = ["main", "RecsysGroup"]


def _debugging(ctx: click.Context) -> bool:
    return bool(ctx.params.get("debug")) or os.environ.get("RECSYS_DEBUG", "") not in ("", "0")


def _os_error_line(exc: OSError) -> str:
    """``<reason>: <path>`` for a file-system error, with a hint for the common cases."""
    reason = exc.strerror or type(exc).__name__
    target = f": {exc.filename}" if exc.filename else ""
    hints = {
        PermissionError: " (check the file's permissions, or choose another path)",
        FileNotFoundError: " (check the path)",
        IsADirectoryError: " (give a file, not a folder)",
    }
    return f"{reason}{target}{hints.get(type(exc), '')}"


def _silence_stdout() -> None:
    """Point stdout at the null device, so that Python's final flush of a closed pipe does
    not print an error of its own (the recipe of the ``signal`` module's documentation)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (e.g. under a test runner)
        pass
    finally:
        os.close(devnull)


class RecsysGroup(click.Group):
    """A click group that turns every exception into one clean line and an exit code."""

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        """Run the command; a usage error is one ``Error:`` line that points to ``--help``
        (click alone prints the usage block first)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:  # `recsys data` alone: its help
            click.echo(exc.ctx.get_help() if exc.ctx is not None else str(exc), err=True)
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            click.echo(f"Error: {exc.format_message()}{where}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Error: aborted", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with warnings.catch_warnings():  # restores Python's own on the way out
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:  # `recsys ... | head`: the reader has gone, stop quietly
            _silence_stdout()
            ctx.exit(1)
        except BaseException as exc:
            if _debugging(ctx) or not isinstance(exc, (Exception, KeyboardInterrupt)):
                raise
            raise _one_line(exc) from None


def _one_line(exc: BaseException) -> click.ClickException:
    """The ``Error:`` line (and exit code) for an exception a command let through."""
    if isinstance(exc, KeyboardInterrupt):
        return Interrupted("interrupted; no file was left half-written")
    if isinstance(exc, RecsysError):
        return click.ClickException(str(exc))
    if isinstance(exc, OSError):
        return click.ClickException(_os_error_line(exc))
    if isinstance(exc, MemoryError):
        return click.ClickException("out of memory: try a smaller data set or model")
    return click.ClickException(  # a bug: one line here, the traceback with --debug
        f"internal error ({type(exc).__name__}: {exc}); run again with --debug for the "
        "traceback and please report it")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    click.echo(f"Warning: {message}", err=True)


@click.group(cls=RecsysGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="recsys")
@click.option("--debug", is_flag=True,
              help="Show the full traceback of an error (also: RECSYS_DEBUG=1).")
def main(debug: bool) -> None:
    """recsys: matrix factorisation by SGD and a tanh network, on MovieLens ratings.

    With no --data option every command uses the bundled MovieLens "latest small" set.
    """


# each command module lists its click commands in ``COMMANDS``
for _module in (data_commands, model_commands, evaluate_command, tune_command, update_command,
                serve_command):
    for _command in _module.COMMANDS:
        main.add_command(_command)
