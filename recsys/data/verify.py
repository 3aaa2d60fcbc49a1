"""Check that a release zip is the genuine release, and keep the SHA-256 record that says so.

:func:`inspect_archive` (and :func:`verify_archive`, its form for a zip already in the cache)
checks, in order:

1. no member path escapes the archive's folder (``../evil``, absolute paths, drive letters)
   and no member is a symbolic link;
2. the members unpack to a plausible size (:func:`max_unpacked_bytes`, a zip-bomb guard);
3. every member's CRC is right (:meth:`zipfile.ZipFile.testzip`);
4. the ratings are actually read and their counts match the release's README.

A verified zip gets a record ``NAME.json`` beside it with its SHA-256 (:func:`write_record`);
every later use hashes the zip again and refuses one that no longer matches (:func:`check_sha`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import time
import zipfile
from pathlib import Path
from typing import Any

from recsys.data.messages import one_line, os_reason
from recsys.data.movielens import read_release
from recsys.data.release_files import check_member_names
from recsys.data.releases import Release
from recsys.errors import DataError, DownloadError

__all__ = [
    "ArchiveRefused",
    "check_sha",
    "inspect_archive",
    "max_unpacked_bytes",
    "read_record",
    "record_data",
    "record_path",
    "sha256_file",
    "verify_archive",
    "write_json",
    "write_record",
]

_CHUNK = 1 << 20
_MIB = 1 << 20


def max_unpacked_bytes(release: Release) -> int:
    """Largest total uncompressed size accepted in a release zip (a zip-bomb guard).

    MovieLens zips unpack to 3-5 times their size; 20 times plus 64 MiB is far above that.
    """
    return int((20.0 * release.size_mb + 64.0) * _MIB)


class ArchiveRefused(Exception):
    """What is wrong with an archive; the caller words what to do (a download is retried,
    a cached zip is deleted)."""


def inspect_archive(path: Path, release: Release) -> dict[str, int]:
    """Check member paths, sizes, CRCs and counts; raise :class:`ArchiveRefused` naming the
    fault, or return the counts found (see :func:`verify_archive`)."""
    try:
        archive = zipfile.ZipFile(path)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise ArchiveRefused(f"it cannot be read ({os_reason(exc)})") from None
    except Exception as exc:  # noqa: BLE001  BadZipFile, ValueError... from damaged headers
        raise ArchiveRefused(f"it is not a zip file ({one_line(exc)})") from None
    with archive:
        try:
            infos = archive.infolist()
            unpacked = 0
            for info in infos:
                try:
                    check_member_names([info.filename], "")
                except DataError:
                    raise ArchiveRefused(
                        f"it has an unsafe member path {info.filename!r} (it points outside "
                        "the archive's folder)"
                    ) from None
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise ArchiveRefused(f"its member {info.filename!r} is a symbolic link")
                unpacked += info.file_size
            limit = max_unpacked_bytes(release)
            if unpacked > limit:
                raise ArchiveRefused(
                    f"it unpacks to {unpacked / _MIB:,.0f} MB, far more than the "
                    f"{limit / _MIB:,.0f} MB a release of about {release.size_mb:g} MB can"
                )
            bad = archive.testzip()
        except ArchiveRefused:
            raise
        except Exception as exc:  # noqa: BLE001  zlib, EOF, encrypted, unknown method...
            raise ArchiveRefused(f"it is corrupt ({one_line(exc)})") from None
    if bad is not None:
        raise ArchiveRefused(f"member {bad!r} fails its CRC check (the file is damaged)")
    try:
        ratings = read_release(path, release.name)
    except DataError as exc:
        raise ArchiveRefused(f"it does not read as {release.name} ({one_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001  a reader bug must not escape as a traceback
        raise ArchiveRefused(
            f"it does not read as {release.name} ({type(exc).__name__}: {one_line(exc)})"
        ) from None
    found = {
        "n_ratings": len(ratings),
        "n_users": ratings.n_users,
        "n_movies": len(ratings.item_info) if ratings.item_info is not None else 0,
        "n_rated_items": ratings.n_items,
    }
    for key, value in found.items():
        expected = getattr(release, key)
        if expected is not None and value != expected:
            raise ArchiveRefused(
                f"it has {value:,} {key[2:].replace('_', ' ')}, but {release.name} documents "
                f"{expected:,} (not the genuine release)"
            )
    return found


def verify_archive(path: Path, release: Release) -> dict[str, int]:
    """Check a release zip: member paths, sizes, CRCs, and the README's counts.

    Checks, in order: no member path escapes the archive's folder (``../x``, absolute paths,
    drive letters) and no member is a symbolic link; the members' total uncompressed size is
    at most 20 s + 64 MiB for a release documented at s MB; every member's
    CRC is right (:meth:`zipfile.ZipFile.testzip`); the ratings read and their counts match
    the release's README.

    Returns
    -------
    dict
        The counts found: ``n_ratings``, ``n_users``, ``n_movies``, ``n_rated_items``.

    Raises
    ------
    DownloadError
        One line naming the first check that failed and what to do; nothing else.
    """
    try:
        return inspect_archive(Path(path), release)
    except ArchiveRefused as exc:
        raise DownloadError(
            f"{path} is not a valid {release.name}: {exc}; delete it and run "
            f"`recsys data download {release.name}`"
        ) from None


# ---------------------------------------------------------------------- the SHA-256 record
def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def record_path(zip_path: Path) -> Path:
    """``NAME.json`` beside ``NAME.zip``."""
    return zip_path.with_suffix(".json")


def read_record(zip_path: Path) -> dict[str, Any] | None:
    """The JSON record written beside a verified zip, or None."""
    try:
        record = json.loads(record_path(zip_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "sha256" in record else None


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` to ``PATH.tmp`` and return that name (the caller moves it into place)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return tmp


def record_data(zip_path: Path, release: Release, digest: str, counts: dict[str, int],
                url: str | None, size: int) -> dict[str, Any]:
    """The content of a verified zip's record."""
    return {
        "name": release.name,
        "file": zip_path.name,
        "sha256": digest,
        "size": size,
        "url": url,
        "verified": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **counts,
    }


def write_record(zip_path: Path, release: Release, digest: str, counts: dict[str, int],
                 url: str | None) -> None:
    """Record a verified zip; a record that cannot be written only costs a re-check later."""
    record = record_path(zip_path)
    with contextlib.suppress(OSError):
        data = record_data(zip_path, release, digest, counts, url, zip_path.stat().st_size)
        os.replace(write_json(record, data), record)


def check_sha(zip_path: Path, release: Release, digest: str, record: dict[str, Any]) -> None:
    """Refuse a cached zip whose SHA-256 is not the recorded one (it is moved aside)."""
    if record.get("sha256") == digest:
        return
    rejected = zip_path.with_name(zip_path.name + ".rejected")
    try:
        os.replace(zip_path, rejected)
        todo = f"it was moved aside to {rejected.name}: run"
    except OSError:
        todo = "delete it and run"
    raise DownloadError(
        f"{zip_path} changed since it was verified (SHA-256 {digest[:12]}... is not the "
        f"recorded {str(record.get('sha256'))[:12]}...); {todo} "
        f"`recsys data download {release.name}` to fetch it again"
    )
