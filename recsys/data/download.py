"""Download MovieLens releases into a cache folder, verify them, and keep them honest.

Cache folder: the ``cache_dir`` argument, else ``$RECSYS_DATA``, else the platform's user cache
folder (``$XDG_CACHE_HOME/recsys`` or ``~/.cache/recsys`` on Linux, ``~/Library/Caches/recsys``
on macOS, ``%LOCALAPPDATA%\\recsys\\Cache`` on Windows). It is created only when something is
written to it, never at import.

Download address: the ``base_url`` argument, else ``$RECSYS_DOWNLOAD_URL``, else GroupLens
(:data:`recsys.data.movielens.BASE_URL`), followed by ``/NAME.zip``.

A download goes to ``NAME.zip.part`` (with a progress bar on stderr when it is a terminal) and
is checked before it is moved into place with :func:`os.replace`:

1. the size matches ``Content-Length``;
2. every member's CRC is right (:meth:`zipfile.ZipFile.testzip`) and no member path escapes
   the archive's folder (``../evil``, absolute paths);
3. the ratings are actually read and their counts match the release's README;
4. its SHA-256 is recorded in ``NAME.json`` beside it. Every later use hashes the zip again and
   refuses one that no longer matches; a re-download of a stable release must match too.

Anything that fails removes the partial file and raises :class:`~recsys.errors.DownloadError`
with one line. Nothing ever prompts.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from recsys.data.movielens import REGISTRY, Release, get_release, read_release
from recsys.errors import DataError, DownloadError

__all__ = [
    "ENV_CACHE",
    "ENV_URL",
    "default_cache_dir",
    "resolve_cache_dir",
    "resolve_base_url",
    "archive_path",
    "is_cached",
    "read_record",
    "download",
    "ensure_archive",
    "verify_archive",
    "sha256_file",
    "cached_names",
]

ENV_CACHE = "RECSYS_DATA"
ENV_URL = "RECSYS_DOWNLOAD_URL"
_CHUNK = 1 << 20


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


def _line(exc: BaseException) -> str:
    """An exception's text on one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _manual_hint(release: Release, zip_path: Path, base_url: str | None) -> str:
    return (
        f"run `recsys data download {release.name}` when online, or download "
        f"{release.url(base_url)} by hand and save it as {zip_path}"
    )


# ---------------------------------------------------------------------- verification
def verify_archive(path: Path, release: Release) -> dict[str, int]:
    """Check a release zip: CRCs, member paths, and the README's counts.

    Returns
    -------
    dict
        The counts found: ``n_ratings``, ``n_users``, ``n_movies``, ``n_rated_items``.

    Raises
    ------
    DownloadError
        One line naming the first check that failed.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DownloadError(f"{release.filename} is not a valid zip file ({_line(exc)})") from None
    except Exception as exc:  # zlib.error and friends from a corrupt stream
        raise DownloadError(f"{release.filename} is corrupt ({_line(exc)})") from None
    if bad is not None:
        raise DownloadError(f"{release.filename} is corrupt: member {bad} fails its CRC check")
    try:
        ratings = read_release(path, release.name)
    except DataError as exc:
        raise DownloadError(
            f"{release.filename} does not read as {release.name}: {_line(exc)}"
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
            raise DownloadError(
                f"{release.filename} has {value:,} {key[2:].replace('_', ' ')}, but "
                f"{release.name} documents {expected:,}: the archive is not the genuine release"
            )
    return found


def _check_sha(zip_path: Path, release: Release, digest: str, record: dict[str, Any]) -> None:
    if record.get("sha256") != digest:
        rejected = zip_path.with_name(zip_path.name + ".rejected")
        os.replace(zip_path, rejected)
        raise DownloadError(
            f"{zip_path} changed since it was verified (SHA-256 {digest[:12]}... is not the "
            f"recorded {str(record.get('sha256'))[:12]}...); moved it to {rejected.name}: "
            f"run `recsys data download {release.name}` to fetch it again"
        )


def _record(zip_path: Path, release: Release, digest: str, counts: dict[str, int],
            url: str | None) -> None:
    _write_json(_record_path(zip_path), {
        "name": release.name,
        "file": zip_path.name,
        "sha256": digest,
        "size": zip_path.stat().st_size,
        "url": url,
        "verified": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **counts,
    })


# ---------------------------------------------------------------------- download
def _fetch(url: str, part: Path, label: str, progress: bool | None, timeout: float) -> None:
    from tqdm.auto import tqdm

    request = urllib.request.Request(url, headers={"User-Agent": "recsys-downloader"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(part, "wb") as out:
        total = response.headers.get("Content-Length")
        total = int(total) if total and total.isdigit() else None
        show = sys.stderr.isatty() if progress is None else progress
        received = 0
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
                  file=sys.stderr, disable=not show, leave=False) as bar:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        out.flush()
        os.fsync(out.fileno())
    if total is not None and received != total:
        raise DownloadError(
            f"download of {label} was cut short ({received:,} of {total:,} bytes); try again"
        )


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

    Returns
    -------
    Path
        The verified ``NAME.zip``.

    Raises
    ------
    DownloadError
        Network failure, truncated or corrupt archive, unsafe member paths, wrong counts, or an
        archive that differs from the one recorded earlier.
    """
    release = get_release(name)
    folder = resolve_cache_dir(cache_dir)
    target = folder / release.filename
    base = resolve_base_url(base_url)
    if target.is_file() and not force:
        return ensure_archive(name, cache_dir=folder, download=False, base_url=base)
    url = release.url(base)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"cannot create the cache folder {folder} ({exc.strerror}); "
            f"pass another one or set ${ENV_CACHE}"
        ) from None
    part = target.with_name(target.name + ".part")
    try:
        try:
            _fetch(url, part, release.filename, progress, timeout)
        except urllib.error.HTTPError as exc:
            raise DownloadError(
                f"could not download {release.name}: {url} answered HTTP {exc.code} {exc.reason}"
            ) from None
        except http.client.HTTPException as exc:  # IncompleteRead, bad status line...
            raise DownloadError(
                f"download of {release.name} from {url} broke off ({type(exc).__name__}); "
                "try again"
            ) from None
        except (urllib.error.URLError, socket.timeout, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc.strerror or exc
            raise DownloadError(
                f"could not download {release.name} from {url} ({_line(reason)}); "
                + _manual_hint(release, target, base)
            ) from None
        counts = verify_archive(part, release)
        digest = sha256_file(part)
        previous = read_record(target)
        if previous is not None and release.stable and previous.get("sha256") != digest:
            raise DownloadError(
                f"the downloaded {release.filename} (SHA-256 {digest[:12]}...) differs from the "
                f"one verified here before ({str(previous.get('sha256'))[:12]}...); if "
                f"GroupLens republished it, delete {_record_path(target)} and try again"
            )
        os.replace(part, target)
        _record(target, release, digest, counts, url)
    except BaseException:
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
    a zip put there by hand (no record yet) is verified in full and then recorded.

    Raises
    ------
    DownloadError
        Not cached and ``download`` is False or the network fails (the message names the
        command to run and where to put a zip downloaded by hand), or the cached zip changed.
    """
    release = get_release(name)
    folder = resolve_cache_dir(cache_dir)
    target = folder / release.filename
    base = resolve_base_url(base_url)
    if target.is_file():
        digest = sha256_file(target)
        record = read_record(target)
        if record is not None:
            _check_sha(target, release, digest, record)
            return target
        try:
            counts = verify_archive(target, release)
        except DownloadError as exc:
            raise DownloadError(f"{target}: {exc}") from None
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
