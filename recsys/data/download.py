"""Download a MovieLens release into the cache and verify it; hand out only verified zips.

:func:`download` fetches ``NAME.zip`` (:mod:`recsys.data.fetch`) into a fresh
``NAME.zip.part`` in the cache folder while holding its lock (:mod:`recsys.data.cache`), checks
it (:mod:`recsys.data.verify`):

1. the size matches ``Content-Length`` and is at most twice the documented size plus 1 MiB;
2. no member path escapes the archive's folder or is a symbolic link, the members unpack to a
   plausible size, and every member's CRC is right;
3. the ratings are actually read and their counts match the release's README;
4. its SHA-256 is recorded in ``NAME.json`` beside it; a re-download of a stable release must
   match the recorded one,

and only then moves it into place with :func:`os.replace`. :func:`ensure_archive` hands out a
cached zip after hashing it again (a zip that no longer matches its record is refused), and
verifies a zip put there by hand before its first use.

Anything that fails (Ctrl-C included) removes the partial file, leaves a zip already in the
cache untouched, and raises :class:`~recsys.errors.DownloadError` with one line naming what was
wrong and what to do. Nothing ever prompts.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from recsys.data.cache import (
    OTHER_FOLDER,
    cache_lock,
    check_target,
    make_folder,
    open_part,
    resolve_cache_dir,
)
from recsys.data.fetch import by_hand, fetch_into, manual_hint, resolve_base_url
from recsys.data.messages import os_reason
from recsys.data.releases import Release, get_release
from recsys.data.verify import (
    ArchiveRefused,
    check_sha,
    inspect_archive,
    read_record,
    record_data,
    record_path,
    sha256_file,
    verify_archive,
    write_json,
    write_record,
)
from recsys.errors import DownloadError

__all__ = ["download", "ensure_archive"]


def _install(part: Path, target: Path, release: Release, digest: str, counts: dict[str, int],
             url: str, previous: dict[str, Any] | None) -> None:
    """Move a verified ``.part`` into place with its record.

    The record is written to a temporary name first; an out-of-date record is removed before
    the zip is replaced, so an interruption at any point leaves either the old zip or the new
    one with a matching record or none (a zip without a record is verified in full on its
    next use).
    """
    record = record_path(target)
    try:
        tmp = write_json(record, record_data(target, release, digest, counts, url,
                                             part.stat().st_size))
    except OSError as exc:
        raise DownloadError(
            f"cannot write {record} ({os_reason(exc)}); nothing was changed: {OTHER_FOLDER}"
        ) from None
    try:
        if previous is not None and previous.get("sha256") != digest:
            record.unlink(missing_ok=True)
        os.replace(part, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise DownloadError(
            f"cannot move the verified download into place as {target} ({os_reason(exc)}); "
            f"{OTHER_FOLDER}"
        ) from None
    try:
        os.replace(tmp, record)
    except OSError:  # the zip is in place and verified; it is re-verified on its next use
        with contextlib.suppress(OSError):
            tmp.unlink()


def download(
    name: str,
    *,
    cache_dir: str | Path | None = None,
    base_url: str | None = None,
    force: bool = False,
    progress: bool | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download a release into the cache and verify it (see the module docstring).

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"ml-1m"``.
    cache_dir : str or Path, optional
        Cache folder (else ``$RECSYS_DATA``, else the user cache folder).
    base_url : str, optional
        Where ``NAME.zip`` is fetched from (else ``$RECSYS_DOWNLOAD_URL``, else GroupLens).
    force : bool
        Download again even if a verified copy is cached.
    progress : bool, optional
        Show a progress bar on stderr; default: only when stderr is a terminal.
    timeout : float
        Seconds to wait for the server to answer or to send the next bytes.

    Returns
    -------
    Path
        The verified ``NAME.zip``.

    Raises
    ------
    DownloadError
        Server error, timeout, dropped connection, a size that does not match
        ``Content-Length`` or the documented size, a corrupt or foreign archive, unsafe member
        paths, wrong counts, an archive that differs from the one recorded earlier, or a cache
        folder that cannot be written. Whatever fails (Ctrl-C included), the ``.part`` file is
        removed and a zip already in the cache is left as it was.
    """
    release = get_release(name)
    folder = resolve_cache_dir(cache_dir)
    target = folder / release.filename
    base = resolve_base_url(base_url)
    check_target(target)
    if target.is_file() and not force:
        return ensure_archive(name, cache_dir=folder, download=False, base_url=base)
    url = release.url(base)
    make_folder(folder)
    with cache_lock(folder):
        if target.is_file() and not force:  # another process fetched it while this one waited
            return ensure_archive(name, cache_dir=folder, download=False, base_url=base)
        return _download_into(release, url, target, folder, base, progress, timeout)


def _download_into(release: Release, url: str, target: Path, folder: Path, base: str | None,
                   progress: bool | None, timeout: float) -> Path:
    """Fetch ``url`` to ``NAME.zip.part``, verify it and move it into place (lock held)."""
    part = target.with_name(target.name + ".part")
    out = open_part(part, folder)
    try:
        with out:
            fetch_into(url, out, release, progress, timeout, target, base)
        try:
            counts = inspect_archive(part, release)
        except ArchiveRefused as exc:
            raise DownloadError(
                f"{url} did not send a valid {release.name}: {exc}; nothing was kept: try "
                f"again, or {by_hand(release, target, None)}"
            ) from None
        digest = sha256_file(part)
        previous = read_record(target)
        if previous is not None and release.stable and previous.get("sha256") != digest:
            raise DownloadError(
                f"the downloaded {release.filename} (SHA-256 {digest[:12]}...) differs from the "
                f"one verified here before ({str(previous.get('sha256'))[:12]}...); if "
                f"GroupLens republished it, delete {record_path(target)} and try again"
            )
        _install(part, target, release, digest, counts, url, previous)
    except BaseException:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
        raise
    return target


_download = download  # ensure_archive's ``download`` flag shadows the function's name


def ensure_archive(
    name: str,
    *,
    cache_dir: str | Path | None = None,
    download: bool = True,
    base_url: str | None = None,
    progress: bool | None = None,
) -> Path:
    """Path of a verified ``NAME.zip`` in the cache, downloading it if missing and allowed.

    A cached zip is hashed and compared with the SHA-256 recorded when it was first verified;
    a zip put there by hand (no record yet) is verified in full and then recorded. A left-over
    ``NAME.zip.part`` is never taken for the archive.

    Raises
    ------
    DownloadError
        Not cached and ``download`` is False or the network fails (the message names the
        command to run and where to put a zip downloaded by hand), the cached zip changed or
        cannot be read, or the cache path is not a folder.
    """
    release = get_release(name)
    folder = resolve_cache_dir(cache_dir)
    target = folder / release.filename
    base = resolve_base_url(base_url)
    check_target(target)
    if target.is_file():
        try:
            digest = sha256_file(target)
        except OSError as exc:
            raise DownloadError(
                f"cannot read the cached {target} ({os_reason(exc)}); check its permissions, or "
                f"delete it and run `recsys data download {release.name}`"
            ) from None
        record = read_record(target)
        if record is not None:
            check_sha(target, release, digest, record)
            return target
        counts = verify_archive(target, release)
        write_record(target, release, digest, counts, None)
        return target
    if not download:
        raise DownloadError(
            f"{release.name} is not in the cache ({folder}); " + manual_hint(release, target, base)
        )
    return _download(name, cache_dir=folder, base_url=base, progress=progress)
