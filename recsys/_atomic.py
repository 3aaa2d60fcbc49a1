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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
