"""Write a file so that readers see either the old file or the complete new one.

The data goes to a temporary file in the target's folder, is flushed to disk, gets the
permissions a normally created file would get (``0o666`` less the umask, where ``mkstemp``
alone gives ``0o600``), and is then renamed over the target with :func:`os.replace`. If
anything fails, the temporary file is removed and the target is left untouched.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

__all__ = ["atomic_write"]


def _proc_umask() -> int | None:
    """The umask as Linux reports it in ``/proc/self/status`` (4.7 and later), else None."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _new_file_mode(folder: Path) -> int:
    """The permission bits a file newly created in ``folder`` gets (``0o666`` less the umask).

    Never calls ``os.umask``: reading it that way sets it to 0 for a moment, process-wide, and
    a file another thread creates meanwhile would be world-writable.
    """
    mask = _proc_umask()
    if mask is not None:
        return 0o666 & ~mask
    # No /proc (macOS, Windows): let the system apply the umask to a throwaway file.
    probe = folder / f".mode-probe.{os.getpid()}.{os.urandom(4).hex()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError:
        return 0o644  # the usual umask 022
    try:
        return os.fstat(fd).st_mode & 0o777
    finally:
        os.close(fd)
        probe.unlink(missing_ok=True)


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb",
                 encoding: str | None = None, newline: str | None = None) -> Iterator[IO]:
    """Context manager yielding a file object whose content replaces ``path`` on success."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode, encoding=encoding, newline=newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _new_file_mode(folder))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
