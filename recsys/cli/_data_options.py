"""Options every command that reads ratings shares: for a user's own file, ``--sep``,
``--header/--no-header`` and ``--scale``, for when the guess from the file is wrong."""

from __future__ import annotations

import functools
from typing import Any, Callable

import click

__all__ = ["file_format_options", "load_data", "file_format_given"]

_SEP_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "pipe": "|", "semicolon": ";",
              "space": " "}


def _parse_sep(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    sep = _SEP_NAMES.get(value.lower(), value)
    if not sep or sep in "\r\n" or sep == '"':
        raise click.BadParameter("give the character(s) between fields, e.g. ',' or tab")
    return sep


def _parse_scale(ctx: click.Context, param: click.Parameter,
                 value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        low, high = (float(part) for part in value.split(","))
    except ValueError:
        raise click.BadParameter("expected LOW,HIGH such as 1,5 or 0.5,5") from None
    if not low < high:
        raise click.BadParameter(f"LOW must be below HIGH (got {value})")
    return low, high


def file_format_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--sep``, ``--header/--no-header`` and ``--scale`` to a command, which receives
    them as one ``file_format`` dict (for :func:`load_data`)."""

    @functools.wraps(command)
    def wrapper(*args: Any, sep: str | None, header: bool | None,
                scale: tuple[float, float] | None, **kwargs: Any) -> Any:
        file_format = {"sep": sep, "header": header, "rating_scale": scale}
        return command(*args, file_format=file_format, **kwargs)

    for option in reversed([
        click.option("--sep", callback=_parse_sep, metavar="SEP",
                     help="Field separator of a ratings file, when the guess is wrong "
                          "(',', tab, '|', '::', ...)."),
        click.option("--header/--no-header", default=None,
                     help="Whether a ratings file starts with a header line, when the guess "
                          "is wrong."),
        click.option("--scale", callback=_parse_scale, metavar="LOW,HIGH",
                     help="Allowed rating range, e.g. 1,5 (default: the release's scale, or "
                          "the file's lowest and highest rating)."),
    ]):
        wrapper = option(wrapper)
    return wrapper


def file_format_given(file_format: dict[str, Any]) -> bool:
    return any(value is not None for value in file_format.values())


def load_data(data: str | None, file_format: dict[str, Any]):
    """:func:`recsys.data.loading.load` with the options given."""
    from recsys.data.loading import load

    return load(data, **{k: v for k, v in file_format.items() if v is not None})
