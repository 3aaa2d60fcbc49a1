"""The ``recsys`` command line: a click group whose sub-commands live in sibling modules.

Every error a user can cause becomes one line on stderr (``Error: ...``) and a non-zero exit
code: :class:`recsys.errors.RecsysError` and file-system errors are turned into
:class:`click.ClickException`; wrong options are click's usage errors (exit code 2).
"""

from __future__ import annotations

import warnings
from typing import Any

import click

from recsys import __version__
from recsys.errors import RecsysError

__all__ = ["main", "RecsysGroup"]


class RecsysGroup(click.Group):
    """A click group that turns user-caused exceptions into one clean line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RecsysError as exc:
            raise click.ClickException(str(exc)) from None
        except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            target = exc.filename or ""
            raise click.ClickException(f"{exc.strerror}: {target}".rstrip(": ")) from None
        except MemoryError:
            raise click.ClickException("out of memory: try a smaller data set or model") from None


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    click.echo(f"Warning: {message}", err=True)


@click.group(cls=RecsysGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="recsys")
def main() -> None:
    """recsys: matrix factorisation by SGD and a tanh network, on MovieLens ratings.

    With no --data option every command uses the bundled MovieLens "latest small" set.
    """
    warnings.showwarning = _show_warning


def _register() -> None:
    """Attach the sub-commands; each module lists its click commands in ``COMMANDS``."""
    from recsys.cli import data_commands, evaluate_command, model_commands

    for module in (data_commands, model_commands, evaluate_command):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
