"""The cache folder of downloaded releases: where it is, its lock, and the ``.part`` file.

Cache folder: the ``cache_dir`` argument, else ``$RECSYS_DATA``, else the platform's user cache
folder (``$XDG_CACHE_HOME/recsys`` or ``~/.cache/recsys`` on Linux, ``~/Library/Caches/recsys``
on macOS, ``%LOCALAPPDATA%\\recsys\\Cache`` on Windows). It is created only when something is
written to it (:func:`make_folder`), never at import.

A release lives there as ``NAME.zip`` with its record ``NAME.json``
(:mod:`recsys.data.verify`). A download is written to ``NAME.zip.part``
(:func:`open_part`: a stale one is unlinked, never followed or resumed) while the folder is
locked (:func:`cache_lock`), and moved into place only once verified
(:mod:`recsys.data.download`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import BinaryIO, Iterator

from recsys.data.messages import os_reason
from recsys.data.releases import get_release
from recsys.errors import DownloadError

__all__ = [
    "ENV_CACHE",
    "OTHER_FOLDER",
    "archive_path",
    "cache_lock",
    "check_target",
    "default_cache_dir",
    "disk_error",
    "make_folder",
    "open_part",
    "resolve_cache_dir",
]

ENV_CACHE = "RECSYS_DATA"

#: What to do when the cache folder cannot be used (the end of several messages).
OTHER_FOLDER = f"use another cache folder (--cache-dir, cache_dir= or ${ENV_CACHE})"


def default_cache_dir() -> Path:
    """The platform's user cache folder for recsys (not created)."""
    if sys.platform.startswith("win"):
        root = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(root) / "recsys" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "recsys"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache") / "recsys"


def resolve_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """``cache_dir`` > ``$RECSYS_DATA`` > :func:`default_cache_dir` (not created)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(ENV_CACHE)
    return Path(env).expanduser() if env else default_cache_dir()


def archive_path(name: str, cache_dir: str | Path | None = None) -> Path:
    """Where ``NAME.zip`` lives in the cache."""
    return resolve_cache_dir(cache_dir) / get_release(name).filename


def disk_error(exc: OSError, path: Path) -> DownloadError:
    """A file in the cache folder could not be written (a full disk, most often)."""
    return DownloadError(
        f"cannot write {path} ({os_reason(exc)}); free some disk space or {OTHER_FOLDER}"
    )


def make_folder(folder: Path) -> None:
    """Create the cache folder, or say in one line why it cannot be."""
    for parent in (folder, *folder.parents):
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                what = "it" if parent == folder else str(parent)
                raise DownloadError(
                    f"cannot create the cache folder {folder}: {what} is a file, not a folder; "
                    f"move that file away or {OTHER_FOLDER}"
                )
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"cannot create the cache folder {folder} ({os_reason(exc)}); {OTHER_FOLDER}"
        ) from None


@contextlib.contextmanager
def cache_lock(folder: Path) -> Iterator[None]:
    """Let one process at a time download into ``folder``.

    An advisory ``flock`` on the cache folder itself (so no lock file is left behind),
    released when the descriptor is closed, also if the process dies. A second process waits,
    saying so on stderr, and then finds the archive the first one installed. Where ``flock``
    does not exist (Windows) downloads are not serialised.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another recsys download into {folder} to finish ...",
                  file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def open_part(part: Path, folder: Path) -> BinaryIO:
    """Open a fresh ``NAME.zip.part``; a stale one from an earlier run is discarded first.

    The old name is unlinked (so a stale symbolic link is removed, never followed) and the
    new file is created exclusively.
    """
    if part.is_dir() and not part.is_symlink():
        raise DownloadError(
            f"{part} is a folder left in the way of the download; delete it and try again"
        )
    try:
        part.unlink(missing_ok=True)
        return open(part, "xb")
    except FileExistsError:
        raise DownloadError(
            f"another download is writing {part}; wait for it to finish, or delete that file "
            "if none is running, and try again"
        ) from None
    except OSError as exc:
        raise DownloadError(
            f"cannot write to the cache folder {folder} ({os_reason(exc)}); {OTHER_FOLDER}"
        ) from None


def check_target(target: Path) -> None:
    """Refuse a cache entry ``NAME.zip`` that is there but is not a file."""
    if (target.exists() or target.is_symlink()) and not target.is_file():
        raise DownloadError(
            f"{target} is in the cache but is not a file (a folder or a broken link); delete "
            "it and try again"
        )
