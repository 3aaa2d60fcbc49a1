"""The wording shared by the data readers' one-line messages.

Every problem with a file is told in one line that starts with where it is (``FILE, line N:``)
and ends with what to do. These helpers give the pieces the readers have in common: the
``FILE, line N:`` prefix, a short quoted excerpt of the file, an exception's text on one line,
and the :class:`~recsys.errors.DataError` for a file the system will not let us read.
"""

from __future__ import annotations

from recsys.errors import DataError

__all__ = ["os_error", "os_reason", "one_line", "show", "where"]


def show(text: object, limit: int = 60) -> str:
    """``repr`` of a (shortened) piece of the file, safe inside a one-line message."""
    text = str(text)
    return repr(text[:limit] + "..." if len(text) > limit else text)


def where(source: str | None, line: int | None = None) -> str:
    """``"FILE, line N: "`` (either part may be missing), or ``""``."""
    parts = [p for p in (source, f"line {line}" if line is not None else None) if p]
    return ", ".join(parts) + ": " if parts else ""


def one_line(exc: BaseException | object) -> str:
    """An exception's text on one line (its type's name when it has no text)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def os_reason(exc: OSError) -> str:
    """The reason of an OS error without its file name (that is in the message already)."""
    return exc.strerror or one_line(exc)


def os_error(exc: OSError, source: str) -> DataError:
    """A one-line :class:`DataError` for a file that exists but cannot be opened or read."""
    if isinstance(exc, PermissionError):
        return DataError(
            f"{source}: cannot read the file (permission denied); check its permissions "
            "(or copy it to a folder you can read)"
        )
    if isinstance(exc, IsADirectoryError):
        return DataError(f"{source}: is a folder, not a file; pass the ratings file inside it")
    reason = exc.strerror or type(exc).__name__
    return DataError(f"{source}: cannot read the file ({reason}); check the path and the disk")
