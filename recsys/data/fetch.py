"""Stream a release zip over HTTP into an open file, and word what went wrong on the way.

Download address: the ``base_url`` argument, else ``$RECSYS_DOWNLOAD_URL``, else GroupLens
(:data:`recsys.data.releases.BASE_URL`), followed by ``/NAME.zip``
(:func:`resolve_base_url`). :func:`fetch_into` refuses a body larger than
:func:`max_download_bytes` (announced or sent) and one shorter than its ``Content-Length``;
a progress bar goes to stderr when it is a terminal. Every failure of the server, the
connection or the address is one :class:`~recsys.errors.DownloadError` line saying what to do.
Where the bytes go and what happens to them next is :mod:`recsys.data.download`.
"""

from __future__ import annotations

import http.client
import os
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

from recsys.data.cache import disk_error
from recsys.data.messages import one_line, os_reason
from recsys.data.releases import Release
from recsys.errors import DownloadError

__all__ = [
    "ENV_URL",
    "by_hand",
    "fetch_into",
    "manual_hint",
    "max_download_bytes",
    "network_error",
    "resolve_base_url",
]

ENV_URL = "RECSYS_DOWNLOAD_URL"
_CHUNK = 1 << 20
_MIB = 1 << 20
_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, OSError, ValueError)


def resolve_base_url(base_url: str | None = None) -> str | None:
    """``base_url`` > ``$RECSYS_DOWNLOAD_URL`` > None (GroupLens)."""
    return base_url or os.environ.get(ENV_URL) or None


def by_hand(release: Release, zip_path: Path, base_url: str | None) -> str:
    """``download URL by hand and save it as PATH`` (the end of a message)."""
    return f"download {release.url(base_url)} by hand and save it as {zip_path}"


def manual_hint(release: Release, zip_path: Path, base_url: str | None) -> str:
    """The command to run when online, or where to put a zip downloaded by hand."""
    return (
        f"run `recsys data download {release.name}` when online, or "
        + by_hand(release, zip_path, base_url)
    )


def max_download_bytes(release: Release) -> int:
    """Largest download accepted: twice the documented size plus 1 MiB (4x for ``ml-latest``).

    A server that announces or sends more is not serving the release; this keeps a wrong
    address from filling the disk.
    """
    factor = 2.0 if release.stable else 4.0
    return int((factor * release.size_mb + 1.0) * _MIB)


def network_error(exc: BaseException, release: Release, url: str, target: Path,
                  base: str | None, timeout: float) -> DownloadError:
    """One line for a failure of the connection or the server."""
    name = release.name
    if isinstance(exc, urllib.error.HTTPError):
        if exc.code >= 500:
            return DownloadError(
                f"could not download {name}: {url} answered HTTP {exc.code} {exc.reason} (a "
                f"problem on the server); try again later, or {by_hand(release, target, base)}"
            )
        return DownloadError(
            f"could not download {name}: {url} answered HTTP {exc.code} {exc.reason}; check "
            f"the download address (--url or ${ENV_URL}), or {by_hand(release, target, base)}"
        )
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return DownloadError(
            f"could not download {name}: {url} did not answer within {timeout:g} s; try again "
            f"later, or {by_hand(release, target, base)}"
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
            f"({one_line(reason)}); pass an http:// or https:// address with --url or ${ENV_URL}"
        )
    why = os_reason(reason) if isinstance(reason, OSError) else one_line(reason)
    return DownloadError(
        f"could not download {name} from {url} ({why}); " + manual_hint(release, target, base)
    )


def fetch_into(url: str, out: BinaryIO, release: Release, progress: bool | None,
               timeout: float, target: Path, base: str | None) -> None:
    """Stream ``url`` into the open ``.part`` file, keeping network and disk errors apart.

    ``target`` (the final ``NAME.zip``) and ``base`` (the download address) only feed the
    messages. The file is flushed to disk before this returns.
    """
    from tqdm.auto import tqdm

    limit = max_download_bytes(release)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "recsys-downloader"})
        response = urllib.request.urlopen(request, timeout=timeout)
    except _NETWORK_ERRORS as exc:
        raise network_error(exc, release, url, target, base, timeout) from None
    with response:
        total = response.headers.get("Content-Length")
        total = int(total) if total and total.strip().isdigit() else None
        if total is not None and total > limit:
            raise DownloadError(
                f"could not download {release.name}: {url} announces {total:,} bytes, but the "
                f"release is about {release.size_mb:g} MB; check the download address (--url "
                f"or ${ENV_URL}), or {by_hand(release, target, base)}"
            )
        show = sys.stderr.isatty() if progress is None else progress
        received = 0
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                  desc=release.filename, file=sys.stderr, disable=not show, leave=False) as bar:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except _NETWORK_ERRORS as exc:
                    raise network_error(exc, release, url, target, base, timeout) from None
                if not chunk:
                    break
                received += len(chunk)
                if received > limit:
                    raise DownloadError(
                        f"could not download {release.name}: {url} sent more than "
                        f"{limit:,} bytes, but the release is about {release.size_mb:g} MB; "
                        f"check the download address (--url or ${ENV_URL}), or "
                        + by_hand(release, target, base)
                    )
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise disk_error(exc, Path(out.name)) from None
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
        raise disk_error(exc, Path(out.name)) from None
