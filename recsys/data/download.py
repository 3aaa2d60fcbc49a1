"""Download MovieLens releases into a cache folder, verify them, and keep them honest.

Cache folder: the ``cache_dir`` argument, else ``$RECSYS_DATA``, else the platform's user cache
folder (``$XDG_CACHE_HOME/recsys`` or ``~/.cache/recsys`` on Linux, ``~/Library/Caches/recsys``
on macOS, ``%LOCALAPPDATA%\\recsys\\Cache`` on Windows). It is created only when something is
written to it, never at import.

Download address: the ``base_url`` argument, else ``$RECSYS_DOWNLOAD_URL``, else GroupLens
(:data:`recsys.data.movielens.BASE_URL`), followed by ``/NAME.zip``.

A download goes to a fresh ``NAME.zip.part`` (a stale one from an earlier run is unlinked
first, never followed or resumed; a progress bar goes to stderr when it is a terminal) and is
checked before it is moved into place with :func:`os.replace`:

1. the size matches ``Content-Length`` and is at most twice the documented size plus 1 MiB;
2. no member path escapes the archive's folder (``../evil``, absolute paths) or is a symbolic
   link, the members unpack to a plausible size, and every member's CRC is right
   (:meth:`zipfile.ZipFile.testzip`);
3. the ratings are actually read and their counts match the release's README;
4. its SHA-256 is recorded in ``NAME.json`` beside it. Every later use hashes the zip again and
   refuses one that no longer matches; a re-download of a stable release must match too.

Anything that fails (Ctrl-C included) removes the partial file, leaves a zip already in the
cache untouched, and raises :class:`~recsys.errors.DownloadError` with one line naming what was
wrong and what to do. Nothing ever prompts.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import socket
import stat
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from recsys.data.movielens import (
    REGISTRY,
    Release,
    check_member_names,
    get_release,
    read_release,
)
from recsys.errors import DataError, DownloadError

__all__ = [
    "ENV_CACHE",
    "ENV_URL",
    "archive_path",
    "cached_names",
    "default_cache_dir",
    "download",
    "ensure_archive",
    "is_cached",
    "read_record",
    "resolve_base_url",
    "resolve_cache_dir",
    "sha256_file",
    "verify_archive",
]

ENV_CACHE = "RECSYS_DATA"
ENV_URL = "RECSYS_DOWNLOAD_URL"
_CHUNK = 1 << 20
_MIB = 1 << 20


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


def resolve_base_url(base_url: str | None = None) -> str | None:
    """``base_url`` > ``$RECSYS_DOWNLOAD_URL`` > None (GroupLens)."""
    return base_url or os.environ.get(ENV_URL) or None


def archive_path(name: str, cache_dir: str | Path | None = None) -> Path:
    """Where ``NAME.zip`` lives in the cache."""
    return resolve_cache_dir(cache_dir) / get_release(name).filename


def _record_path(zip_path: Path) -> Path:
    return zip_path.with_suffix(".json")


def is_cached(name: str, cache_dir: str | Path | None = None) -> bool:
    """Whether ``NAME.zip`` is in the cache (not verified: see :func:`ensure_archive`)."""
    return archive_path(name, cache_dir).is_file()


def read_record(zip_path: Path) -> dict[str, Any] | None:
    """The JSON record written beside a verified zip, or None."""
    try:
        record = json.loads(_record_path(zip_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "sha256" in record else None


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _line(exc: BaseException | object) -> str:
    """An exception's text on one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _why(exc: OSError) -> str:
    """The reason of an OS error without its file name (that is in the message already)."""
    return exc.strerror or _line(exc)


def _write_json(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` to ``PATH.tmp`` and return that name (the caller moves it into place)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return tmp


def _manual_hint(release: Release, zip_path: Path, base_url: str | None) -> str:
    return (
        f"run `recsys data download {release.name}` when online, or download "
        f"{release.url(base_url)} by hand and save it as {zip_path}"
    )


def _by_hand(release: Release, zip_path: Path, base_url: str | None) -> str:
    return f"download {release.url(base_url)} by hand and save it as {zip_path}"


_OTHER_FOLDER = f"use another cache folder (--cache-dir, cache_dir= or ${ENV_CACHE})"


def _max_download_bytes(release: Release) -> int:
    """Largest download accepted: twice the documented size plus 1 MiB (4x for ``ml-latest``).

    A server that announces or sends more is not serving the release; this keeps a wrong
    address from filling the disk.
    """
    factor = 2.0 if release.stable else 4.0
    return int((factor * release.size_mb + 1.0) * _MIB)


def _max_unpacked_bytes(release: Release) -> int:
    """Largest total uncompressed size accepted in a release zip (a zip-bomb guard).

    MovieLens zips unpack to 3-5 times their size; 20 times plus 64 MiB is far above that.
    """
    return int((20.0 * release.size_mb + 64.0) * _MIB)


# ---------------------------------------------------------------------- verification
class _Refused(Exception):
    """What is wrong with an archive (internal: callers add what to do)."""


def _inspect(path: Path, release: Release) -> dict[str, int]:
    """Check member paths, sizes, CRCs and counts; raise :class:`_Refused` naming the fault."""
    try:
        archive = zipfile.ZipFile(path)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise _Refused(f"it cannot be read ({_why(exc)})") from None
    except Exception as exc:  # noqa: BLE001  BadZipFile, ValueError... from damaged headers
        raise _Refused(f"it is not a zip file ({_line(exc)})") from None
    with archive:
        try:
            infos = archive.infolist()
            unpacked = 0
            for info in infos:
                try:
                    check_member_names([info.filename], "")
                except DataError:
                    raise _Refused(
                        f"it has an unsafe member path {info.filename!r} (it points outside "
                        "the archive's folder)"
                    ) from None
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise _Refused(f"its member {info.filename!r} is a symbolic link")
                unpacked += info.file_size
            limit = _max_unpacked_bytes(release)
            if unpacked > limit:
                raise _Refused(
                    f"it unpacks to {unpacked / _MIB:,.0f} MB, far more than the "
                    f"{limit / _MIB:,.0f} MB a release of about {release.size_mb:g} MB can"
                )
            bad = archive.testzip()
        except _Refused:
            raise
        except Exception as exc:  # noqa: BLE001  zlib, EOF, encrypted, unknown method...
            raise _Refused(f"it is corrupt ({_line(exc)})") from None
    if bad is not None:
        raise _Refused(f"member {bad!r} fails its CRC check (the file is damaged)")
    try:
        ratings = read_release(path, release.name)
    except DataError as exc:
        raise _Refused(f"it does not read as {release.name} ({_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001  a reader bug must not escape as a traceback
        raise _Refused(
            f"it does not read as {release.name} ({type(exc).__name__}: {_line(exc)})"
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
            raise _Refused(
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
        return _inspect(Path(path), release)
    except _Refused as exc:
        raise DownloadError(
            f"{path} is not a valid {release.name}: {exc}; delete it and run "
            f"`recsys data download {release.name}`"
        ) from None


def _check_sha(zip_path: Path, release: Release, digest: str, record: dict[str, Any]) -> None:
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


def _record_data(zip_path: Path, release: Release, digest: str, counts: dict[str, int],
                 url: str | None, size: int) -> dict[str, Any]:
    return {
        "name": release.name,
        "file": zip_path.name,
        "sha256": digest,
        "size": size,
        "url": url,
        "verified": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **counts,
    }


def _record(zip_path: Path, release: Release, digest: str, counts: dict[str, int],
            url: str | None) -> None:
    """Record a verified zip; a record that cannot be written only costs a re-check later."""
    record = _record_path(zip_path)
    with contextlib.suppress(OSError):
        data = _record_data(zip_path, release, digest, counts, url, zip_path.stat().st_size)
        os.replace(_write_json(record, data), record)


# ---------------------------------------------------------------------- download
def _network_error(exc: BaseException, release: Release, url: str, target: Path,
                   base: str | None, timeout: float) -> DownloadError:
    """One line for a failure of the connection or the server."""
    name = release.name
    if isinstance(exc, urllib.error.HTTPError):
        if exc.code >= 500:
            return DownloadError(
                f"could not download {name}: {url} answered HTTP {exc.code} {exc.reason} (a "
                f"problem on the server); try again later, or {_by_hand(release, target, base)}"
            )
        return DownloadError(
            f"could not download {name}: {url} answered HTTP {exc.code} {exc.reason}; check "
            f"the download address (--url or ${ENV_URL}), or {_by_hand(release, target, base)}"
        )
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return DownloadError(
            f"could not download {name}: {url} did not answer within {timeout:g} s; try again "
            f"later, or {_by_hand(release, target, base)}"
        )
    if isinstance(reason, (http.client.HTTPException, ConnectionResetError,
                           ConnectionAbortedError, BrokenPipeError)):
        return DownloadError(
            f"could not download {name}: the connection to {url} broke off "
            f"({type(reason).__name__}); nothing was kept, try again"
        )
    if isinstance(reason, ValueError):  # unknown url type, bad port...
        return DownloadError(
            f"could not download {name}: {url!r} is not a valid download address "
            f"({_line(reason)}); pass an http:// or https:// address with --url or ${ENV_URL}"
        )
    why = _why(reason) if isinstance(reason, OSError) else _line(reason)
    return DownloadError(
        f"could not download {name} from {url} ({why}); " + _manual_hint(release, target, base)
    )


_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, OSError, ValueError)


def _fetch(url: str, out: BinaryIO, release: Release, progress: bool | None, timeout: float,
           target: Path, base: str | None) -> None:
    """Stream ``url`` into the open ``.part`` file, keeping network and disk errors apart."""
    from tqdm.auto import tqdm

    limit = _max_download_bytes(release)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "recsys-downloader"})
        response = urllib.request.urlopen(request, timeout=timeout)
    except _NETWORK_ERRORS as exc:
        raise _network_error(exc, release, url, target, base, timeout) from None
    with response:
        total = response.headers.get("Content-Length")
        total = int(total) if total and total.strip().isdigit() else None
        if total is not None and total > limit:
            raise DownloadError(
                f"could not download {release.name}: {url} announces {total:,} bytes, but the "
                f"release is about {release.size_mb:g} MB; check the download address (--url "
                f"or ${ENV_URL}), or {_by_hand(release, target, base)}"
            )
        show = sys.stderr.isatty() if progress is None else progress
        received = 0
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                  desc=release.filename, file=sys.stderr, disable=not show, leave=False) as bar:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except _NETWORK_ERRORS as exc:
                    raise _network_error(exc, release, url, target, base, timeout) from None
                if not chunk:
                    break
                received += len(chunk)
                if received > limit:
                    raise DownloadError(
                        f"could not download {release.name}: {url} sent more than "
                        f"{limit:,} bytes, but the release is about {release.size_mb:g} MB; "
                        f"check the download address (--url or ${ENV_URL}), or "
                        + _by_hand(release, target, base)
                    )
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise _disk_error(exc, Path(out.name)) from None
                bar.update(len(chunk))
    if total is not None and received != total:
        raise DownloadError(
            f"could not download {release.name}: the connection to {url} dropped after "
            f"{received:,} of {total:,} bytes; nothing was kept, try again"
        )
    try:
        out.flush()
        os.fsync(out.fileno())
    except OSError as exc:
        raise _disk_error(exc, Path(out.name)) from None


def _disk_error(exc: OSError, path: Path) -> DownloadError:
    return DownloadError(
        f"cannot write {path} ({_why(exc)}); free some disk space or {_OTHER_FOLDER}"
    )


def _make_folder(folder: Path) -> None:
    """Create the cache folder, or say in one line why it cannot be."""
    for parent in (folder, *folder.parents):
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                what = "it" if parent == folder else str(parent)
                raise DownloadError(
                    f"cannot create the cache folder {folder}: {what} is a file, not a folder; "
                    f"move that file away or {_OTHER_FOLDER}"
                )
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"cannot create the cache folder {folder} ({_why(exc)}); {_OTHER_FOLDER}"
        ) from None


@contextlib.contextmanager
def _cache_lock(folder: Path) -> Iterator[None]:
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


def _open_part(part: Path, folder: Path) -> BinaryIO:
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
            f"cannot write to the cache folder {folder} ({_why(exc)}); {_OTHER_FOLDER}"
        ) from None


def _check_target(target: Path) -> None:
    if (target.exists() or target.is_symlink()) and not target.is_file():
        raise DownloadError(
            f"{target} is in the cache but is not a file (a folder or a broken link); delete "
            "it and try again"
        )


def _install(part: Path, target: Path, release: Release, digest: str, counts: dict[str, int],
             url: str, previous: dict[str, Any] | None) -> None:
    """Move a verified ``.part`` into place with its record.

    The record is written to a temporary name first; an out-of-date record is removed before
    the zip is replaced, so an interruption at any point leaves either the old zip or the new
    one with a matching record or none (a zip without a record is verified in full on its
    next use).
    """
    record = _record_path(target)
    try:
        tmp = _write_json(record, _record_data(target, release, digest, counts, url,
                                               part.stat().st_size))
    except OSError as exc:
        raise DownloadError(
            f"cannot write {record} ({_why(exc)}); nothing was changed: {_OTHER_FOLDER}"
        ) from None
    try:
        if previous is not None and previous.get("sha256") != digest:
            record.unlink(missing_ok=True)
        os.replace(part, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise DownloadError(
            f"cannot move the verified download into place as {target} ({_why(exc)}); "
            f"{_OTHER_FOLDER}"
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
    _check_target(target)
    if target.is_file() and not force:
        return ensure_archive(name, cache_dir=folder, download=False, base_url=base)
    url = release.url(base)
    _make_folder(folder)
    with _cache_lock(folder):
        if target.is_file() and not force:  # another process fetched it while this one waited
            return ensure_archive(name, cache_dir=folder, download=False, base_url=base)
        return _download_into(release, url, target, folder, base, progress, timeout)


def _download_into(release: Release, url: str, target: Path, folder: Path, base: str | None,
                   progress: bool | None, timeout: float) -> Path:
    """Fetch ``url`` to ``NAME.zip.part``, verify it and move it into place (lock held)."""
    part = target.with_name(target.name + ".part")
    out = _open_part(part, folder)
    try:
        with out:
            _fetch(url, out, release, progress, timeout, target, base)
        try:
            counts = _inspect(part, release)
        except _Refused as exc:
            raise DownloadError(
                f"{url} did not send a valid {release.name}: {exc}; nothing was kept: try "
                f"again, or {_by_hand(release, target, None)}"
            ) from None
        digest = sha256_file(part)
        previous = read_record(target)
        if previous is not None and release.stable and previous.get("sha256") != digest:
            raise DownloadError(
                f"the downloaded {release.filename} (SHA-256 {digest[:12]}...) differs from the "
                f"one verified here before ({str(previous.get('sha256'))[:12]}...); if "
                f"GroupLens republished it, delete {_record_path(target)} and try again"
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
    _check_target(target)
    if target.is_file():
        try:
            digest = sha256_file(target)
        except OSError as exc:
            raise DownloadError(
                f"cannot read the cached {target} ({_why(exc)}); check its permissions, or "
                f"delete it and run `recsys data download {release.name}`"
            ) from None
        record = read_record(target)
        if record is not None:
            _check_sha(target, release, digest, record)
            return target
        counts = verify_archive(target, release)
        _record(target, release, digest, counts, None)
        return target
    if not download:
        raise DownloadError(
            f"{release.name} is not in the cache ({folder}); " + _manual_hint(release, target, base)
        )
    return _download(name, cache_dir=folder, base_url=base, progress=progress)


def cached_names(cache_dir: str | Path | None = None) -> list[str]:
    """Registry names whose zip is in the cache (not verified)."""
    folder = resolve_cache_dir(cache_dir)
    return [n for n, r in REGISTRY.items() if (folder / r.filename).is_file()]
