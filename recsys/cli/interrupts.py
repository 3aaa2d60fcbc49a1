"""Ctrl-C on the command line: a first press asks the fit to stop at the end of its epoch;
:class:`Interrupted` ends the command with exit code 130."""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

import click

from recsys.errors import RecsysError

T = TypeVar("T")

__all__ = ["Interrupted", "INTERRUPTED_EXIT_CODE", "ctrl_c_watch", "fit_failures",
           "save_unless_interrupted"]

INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT, what shells report for Ctrl-C


class Interrupted(click.ClickException):
    """Ctrl-C: one line on stderr and exit code 130."""

    exit_code = INTERRUPTED_EXIT_CODE


@contextmanager
def ctrl_c_watch() -> Iterator[threading.Event]:
    """Turn the first Ctrl-C (SIGINT) during a fit into a request to stop after the epoch.

    Python would raise ``KeyboardInterrupt`` wherever the signal lands, and during a fit that
    is often inside numba's just-in-time compiler (a ctypes callback), where the exception is
    swallowed or becomes another error. So the first Ctrl-C only sets the event that is
    yielded and says so; the command passes ``pressed.is_set`` as the fit's ``should_stop``,
    and the fit stops at the end of the epoch of whatever stage is training. A second Ctrl-C
    raises at once.
    """
    pressed = threading.Event()

    def on_sigint(signum: int, frame: Any) -> None:
        if pressed.is_set():
            raise KeyboardInterrupt
        pressed.set()
        sys.stderr.write("stopping at the end of this epoch (Ctrl-C again to stop at once)\n")

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread: Ctrl-C keeps Python's own behaviour
        yield pressed
        return
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def fit_failures(pressed: threading.Event, output: str) -> Iterator[None]:
    """Around a command's fit: Ctrl-C (or a stop request the fit honoured) becomes
    :class:`Interrupted`, and a library error one line, each saying ``output`` was not
    written; anything else passes through."""
    try:
        yield
    except BaseException as exc:
        if pressed.is_set() or isinstance(exc, KeyboardInterrupt):
            raise Interrupted(f"interrupted during the fit; {output} was not written") from None
        if isinstance(exc, RecsysError):
            raise RecsysError(f"{exc} ({output} was not written)") from None
        raise


def save_unless_interrupted(save: Callable[[], T], pressed: threading.Event | None,
                            output: str) -> T:
    """``save()``, unless Ctrl-C was pressed: then, or on Ctrl-C while saving (files are
    written to a temporary name and moved into place), :class:`Interrupted` saying ``output``
    is unchanged."""
    try:
        if pressed is not None and pressed.is_set():
            raise KeyboardInterrupt
        return save()
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted while saving; {output} is unchanged") from None
