"""Ctrl-C on the command line: the exception that ends a command with exit code 130."""

from __future__ import annotations

import click

__all__ = ["Interrupted", "INTERRUPTED_EXIT_CODE"]

INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT, what shells report for Ctrl-C


class Interrupted(click.ClickException):
    """Ctrl-C: one line on stderr and exit code 130."""

    exit_code = INTERRUPTED_EXIT_CODE
