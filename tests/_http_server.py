"""A local HTTP server on 127.0.0.1 and tiny MovieLens-like zips, shared by the download tests.

The server serves a folder and misbehaves on request, by path prefix:

``/short/NAME``
    announces the full ``Content-Length``, sends half the body, closes the connection;
``/status/CODE/NAME``
    answers with that HTTP status (500, 503...);
``/slow/NAME``
    sends nothing until the test ends (a server that never answers);
``/stall/NAME``
    sends the headers and the first bytes, then nothing until the test ends;
``/nolength/NAME``
    sends the body without ``Content-Length`` (ends by closing the connection);
``/length/N/NAME``
    announces ``Content-Length: N`` and sends nothing.

Fixtures: import ``server_fixture``, ``tiny_fixture`` and ``cache_fixture`` into a test module
to use them as ``server`` (served folder, base URL, request log), ``tiny`` (the ``ml-tiny``
test release in the registry) and ``cache`` (a cache path, download variables unset).
"""

from __future__ import annotations

import functools
import http.server
import threading
import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from recsys.data.cache import ENV_CACHE
from recsys.data.fetch import ENV_URL
from recsys.data.releases import LAYOUTS, REGISTRY, Release

TINY = Release("ml-tiny", "test release", "ml-tiny", LAYOUTS["csv"], 0.01, "test", True,
               n_ratings=60, n_users=7, n_movies=12, n_rated_items=10)


# ---------------------------------------------------------------- archives
def csv_release_files(n_ratings: int, n_users: int, n_movies: int, n_rated: int) -> dict:
    """ratings.csv / movies.csv with exactly these counts (pairs k % users, k % rated)."""
    k = np.arange(n_ratings)
    users, items = k % n_users + 1, k % n_rated + 1
    rating = (k % 10 + 1) / 2
    ts = 964_982_703 + k
    ratings = "userId,movieId,rating,timestamp\n" + "".join(
        f"{u},{i},{r:.1f},{t}\n" for u, i, r, t in zip(users, items, rating, ts))
    movies = "movieId,title,genres\n" + "".join(
        f"{m},Movie {m} ({1990 + m % 30}),Drama|Comedy\n" for m in range(1, n_movies + 1))
    return {"ratings.csv": ratings, "movies.csv": movies}


def make_zip(path: Path, folder: str, files: dict, extra: dict | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(f"{folder}/{name}", text)
        for name, text in (extra or {}).items():
            archive.writestr(name, text)
    return path


def tiny_files(n_ratings: int = 60) -> dict:
    return csv_release_files(n_ratings, TINY.n_users, TINY.n_movies, TINY.n_rated_items)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ---------------------------------------------------------------- server
class Handler(http.server.SimpleHTTPRequestHandler):
    requests: ClassVar[list[str]] = []
    release: ClassVar[threading.Event] = threading.Event()  # set at test end: stalls return

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _body(self, rest: str) -> bytes:
        return (Path(self.directory) / rest).read_bytes()

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        mode, _, rest = self.path.lstrip("/").partition("/")
        if mode == "short":
            body = self._body(rest)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif mode == "status":
            self.send_error(int(rest.partition("/")[0]))
        elif mode == "slow":
            type(self).release.wait(10)
        elif mode == "stall":
            body = self._body(rest)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:100])
            self.wfile.flush()
            type(self).release.wait(10)
        elif mode == "nolength":
            body = self._body(rest)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
        elif mode == "length":
            self.send_response(200)
            self.send_header("Content-Length", rest.partition("/")[0])
            self.end_headers()
            self.close_connection = True
        else:
            super().do_GET()


@pytest.fixture(name="server")
def server_fixture(tmp_path):
    """(served folder, base URL, list of request paths) of a server on 127.0.0.1."""
    served = tmp_path / "served"
    served.mkdir()
    Handler.requests = []
    Handler.release = threading.Event()
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{httpd.server_address[1]}", Handler.requests
    finally:
        Handler.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture(name="tiny")
def tiny_fixture(monkeypatch):
    monkeypatch.setitem(REGISTRY, "ml-tiny", TINY)
    return TINY


@pytest.fixture(name="cache")
def cache_fixture(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_URL, raising=False)
    monkeypatch.delenv(ENV_CACHE, raising=False)
    return tmp_path / "cache"
