"""Open a MovieLens release's files, in its zip or in a folder laid out like it.

:class:`ReleaseFiles` lists the members, recognises the release's
:class:`~recsys.data.releases.Layout` from the file names, finds a file beside the ratings and
opens it; :func:`check_member_names` refuses a zip whose member paths could escape the folder
they are extracted to. What the files say is read by :mod:`recsys.data.movielens`.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO, Any

from recsys.data.messages import os_error
from recsys.data.releases import LAYOUTS, Layout
from recsys.errors import DataError

__all__ = ["ReleaseFiles", "check_member_names"]


def check_member_names(names: list[str], archive: str) -> None:
    """Reject an archive whose member paths could escape a folder they are extracted to.

    Raises
    ------
    DataError
        For an absolute path, a drive letter, a backslash path or any ``..`` component.
    """
    for name in names:
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if (
            name.startswith(("/", "\\"))
            or re.match(r"^[A-Za-z]:", name)
            or ".." in parts
            or "\x00" in name
        ):
            raise DataError(
                f"{archive}: unsafe member path {name!r} (it points outside the archive's "
                "folder); the file is not a genuine MovieLens release"
            )


class ReleaseFiles:
    """The files of a release, in its zip or in a folder laid out like it.

    Parameters
    ----------
    path : str or Path
        A ``.zip`` file or a folder holding the release's files directly or in one sub-folder.

    Attributes
    ----------
    layout : Layout
        Recognised from the file names (``u.data``, ``ratings.dat`` with or without
        ``users.dat``, ``ratings.csv``).
    folder : str
        Name of the folder the ratings sit in (a hint to the release's name).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._zip: zipfile.ZipFile | None = None
        if self.path.is_dir():
            members = []
            try:
                for entry in sorted(self.path.iterdir()):
                    if entry.is_file():
                        members.append(entry.name)
                    elif entry.is_dir():
                        members.extend(f"{entry.name}/{f.name}" for f in sorted(entry.iterdir())
                                       if f.is_file())
            except OSError as exc:
                raise os_error(exc, str(self.path)) from None
            self.members = members
        elif self.path.is_file():
            try:
                self._zip = zipfile.ZipFile(self.path)
            except PermissionError as exc:
                raise os_error(exc, str(self.path)) from None
            except (zipfile.BadZipFile, OSError) as exc:
                raise DataError(
                    f"{self.path}: not a readable zip file ({exc}); download the release again "
                    "or pass a ratings file"
                ) from None
            self.members = [n for n in self._zip.namelist() if not n.endswith("/")]
            check_member_names(self._zip.namelist(), str(self.path))
        else:
            raise DataError(f"{self.path}: no such file or folder; check the path")
        self.layout, self._ratings = self._detect()
        self.prefix = self._ratings.rpartition("/")[0]
        self.folder = self.prefix.rpartition("/")[2] or (
            self.path.stem if self._zip is not None else self.path.name
        )

    def _detect(self) -> tuple[Layout, str]:
        for kind in ("ml-100k", "ml-1m", "ml-10m", "csv"):
            layout = LAYOUTS[kind]
            found = self._find(layout.ratings)
            if found is None:
                continue
            if kind == "ml-1m" and self._find(layout.users or "", near=found) is None:
                continue
            return layout, found
        raise DataError(
            f"{self.path}: not a MovieLens release (no u.data, ratings.dat or ratings.csv "
            "found); pass a ratings file instead"
        )

    def _find(self, filename: str, near: str | None = None) -> str | None:
        if near is not None:
            folder = near.rpartition("/")[0]
            candidate = f"{folder}/{filename}" if folder else filename
            return candidate if candidate in self.members else None
        hits = [m for m in self.members if m.rpartition("/")[2] == filename]
        return min(hits, key=lambda m: (m.count("/"), m)) if hits else None

    def find(self, filename: str) -> str | None:
        """Member path of ``filename`` in the ratings' folder, or None."""
        return self._find(filename, near=self._ratings)

    @property
    def ratings_member(self) -> str:
        return self._ratings

    def open(self, member: str) -> IO[bytes]:
        """A fresh binary stream of one member."""
        if self._zip is not None:
            return self._zip.open(member)
        return open(self.path / member, "rb")

    def read_text(self, member: str, encoding: str) -> str:
        """The whole member as text (``encoding``, falling back to Latin-1)."""
        with self.open(member) as stream:
            raw = stream.read()
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            return raw.decode("latin-1")

    def label(self, member: str) -> str:
        """``archive.zip:member`` or the file's path, for messages."""
        if self._zip is not None:
            return f"{self.path}:{member}"
        return str(self.path / member)

    def testzip(self) -> str | None:
        """First member whose CRC does not match, or None (folders: always None)."""
        return self._zip.testzip() if self._zip is not None else None

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> "ReleaseFiles":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
