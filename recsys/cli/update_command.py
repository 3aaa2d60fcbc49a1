"""``recsys update``: see the command's docstring."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
