"""The downloader against a local HTTP server on 127.0.0.1 serving zips built by the tests."""

from __future__ import annotations

import json
import os
import socket
import sys
import zipfile
from dataclasses import replace

import numpy as np
import pytest
from _http_server import (  # noqa: F401
    TINY,
    cache_fixture,
    csv_release_files,
    leftovers,
    make_zip,
    server_fixture,
    tiny_files,
    tiny_fixture,
)

from recsys.data import download as dl
from recsys.data.cache import ENV_CACHE, resolve_cache_dir
from recsys.data.fetch import ENV_URL, resolve_base_url
from recsys.data.loading import list_datasets, load
from recsys.data.predefined_splits import load_predefined_split
from recsys.data.releases import REGISTRY
from recsys.data.verify import sha256_file
from recsys.errors import DownloadError


# ---------------------------------------------------------------- archives
def u100k_files(n_ratings=100_000, n_users=943, n_items=1_682) -> dict:
    k = np.arange(n_ratings)
    users, items, rating = k % n_users + 1, k % n_items + 1, k % 5 + 1
    lines = [f"{u}\t{i}\t{r}\t{881250949 + j}\n"
             for j, (u, i, r) in enumerate(zip(users, items, rating))]
    flags = "|".join(["0"] * 18 + ["1"])
    return {
        "u.data": "".join(lines),
        "u1.base": "".join(lines[: n_ratings * 4 // 5]),
        "u1.test": "".join(lines[n_ratings * 4 // 5:]),
        "u.item": "".join(f"{i}|Film {i} (1994)|01-Jan-1994||http://x|{flags}\n"
                          for i in range(1, n_items + 1)),
        "u.user": "".join(f"{u}|30|F|writer|00000\n" for u in range(1, n_users + 1)),
    }


# ---------------------------------------------------------------- tests
def test_good_download_is_verified_recorded_and_reused(server, tiny, cache):
    served, url, requests = server
    make_zip(served / "ml-tiny.zip", "ml-tiny", tiny_files())
    assert not cache.exists()
    path = dl.download("ml-tiny", cache_dir=cache, base_url=url, progress=False)
    assert path == cache / "ml-tiny.zip" and path.is_file()
    assert leftovers(cache) == ["ml-tiny.json", "ml-tiny.zip"]
    record = json.loads((cache / "ml-tiny.json").read_text())
    assert record["sha256"] == sha256_file(path) and record["n_ratings"] == 60
    r = load("ml-tiny", cache_dir=cache, base_url=url)
    assert len(r) == 60 and r.n_users == 7 and r.name == "ml-tiny"
    assert requests == ["/ml-tiny.zip"]  # the second use did not download again
    dl.download("ml-tiny", cache_dir=cache, base_url=url, force=True, progress=False)
    assert requests == ["/ml-tiny.zip"] * 2  # same bytes: accepted


def test_tampered_cache_is_detected_on_later_use(server, tiny, cache):
    served, url, _ = server
    make_zip(served / "ml-tiny.zip", "ml-tiny", tiny_files())
    path = dl.download("ml-tiny", cache_dir=cache, base_url=url, progress=False)
    make_zip(path, "ml-tiny", tiny_files())  # valid zip, same counts, different bytes?
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("ml-tiny/extra.txt", "tampered")
    with pytest.raises(DownloadError, match="changed since it was verified") as info:
        load("ml-tiny", cache_dir=cache, download=False)
    assert "recsys data download ml-tiny" in str(info.value)
    assert not path.exists()  # moved aside: nothing usable-looking stays
    assert "ml-tiny.zip.rejected" in leftovers(cache)


def test_server_side_change_of_a_stable_release_is_refused(server, tiny, cache):
    served, url, _ = server
    make_zip(served / "ml-tiny.zip", "ml-tiny", tiny_files())
    path = dl.download("ml-tiny", cache_dir=cache, base_url=url, progress=False)
    first = sha256_file(path)
    make_zip(served / "ml-tiny.zip", "ml-tiny", tiny_files(), extra={"ml-tiny/x.txt": "new"})
    with pytest.raises(DownloadError, match="differs from the one verified"):
        dl.download("ml-tiny", cache_dir=cache, base_url=url, force=True, progress=False)
    assert sha256_file(path) == first
    assert "ml-tiny.zip.part" not in leftovers(cache)


def test_unstable_release_accepts_a_new_version(server, tiny, cache, monkeypatch):
    monkeypatch.setitem(REGISTRY, "ml-tiny", replace(TINY, stable=False))
    served, url, _ = server
    make_zip(served / "ml-tiny.zip", "ml-tiny", tiny_files())
    dl.download("ml-tiny", cache_dir=cache, base_url=url, progress=False)
    make_zip(served / "ml-tiny.zip", "ml-tiny", tiny_files(), extra={"ml-tiny/x.txt": "new"})
    path = dl.download("ml-tiny", cache_dir=cache, base_url=url, force=True, progress=False)
    assert json.loads((cache / "ml-tiny.json").read_text())["sha256"] == sha256_file(path)


@pytest.mark.parametrize("damage", ["truncated", "short_read", "corrupt", "not_zip"])
def test_broken_downloads_leave_nothing(server, tiny, cache, damage):
    served, url, _ = server
    good = make_zip(served / "good.zip", "ml-tiny", tiny_files())
    data = good.read_bytes()
    base = url
    if damage == "truncated":
        (served / "ml-tiny.zip").write_bytes(data[: len(data) // 2])
    elif damage == "short_read":
        (served / "ml-tiny.zip").write_bytes(data)
        base = url + "/short"
    elif damage == "corrupt":  # flip bytes inside the compressed ratings
        with zipfile.ZipFile(good) as z:
            info = z.getinfo("ml-tiny/ratings.csv")
        start = info.header_offset + 30 + len(info.filename) + 10
        broken = bytearray(data)
        for k in range(start, start + 20):
            broken[k] ^= 0xFF
        (served / "ml-tiny.zip").write_bytes(bytes(broken))
    else:
        (served / "ml-tiny.zip").write_bytes(b"<html>not found</html>")
    with pytest.raises(DownloadError) as info:
        dl.download("ml-tiny", cache_dir=cache, base_url=base, progress=False)
    assert "\n" not in str(info.value)
    assert leftovers(cache) == []


def test_wrong_counts_are_rejected(server, tiny, cache):
    served, url, _ = server
    make_zip(served / "ml-tiny.zip", "ml-tiny", tiny_files(n_ratings=59))
    with pytest.raises(DownloadError, match="has 59 ratings, but ml-tiny documents 60"):
        dl.download("ml-tiny", cache_dir=cache, base_url=url, progress=False)
    assert leftovers(cache) == []


def test_path_traversal_member_is_rejected(server, tiny, cache, tmp_path):
    served, url, _ = server
    make_zip(served / "ml-tiny.zip", "ml-tiny", tiny_files(), extra={"../evil": "boom"})
    with pytest.raises(DownloadError, match="unsafe member path '../evil'"):
        dl.download("ml-tiny", cache_dir=cache, base_url=url, progress=False)
    assert leftovers(cache) == []
    assert not (tmp_path / "evil").exists() and not (cache.parent / "evil").exists()


def test_http_error_and_offline(server, tiny, cache):
    _, url, _ = server
    with pytest.raises(DownloadError, match="HTTP 404"):
        dl.download("ml-tiny", cache_dir=cache, base_url=url, progress=False)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(DownloadError) as info:
        dl.download("ml-tiny", cache_dir=cache, base_url=dead, progress=False, timeout=5)
    message = str(info.value)
    assert "recsys data download ml-tiny" in message and str(cache / "ml-tiny.zip") in message
    assert leftovers(cache) == []


def test_no_cache_and_no_download_says_what_to_do(cache):
    with pytest.raises(DownloadError) as info:
        load("ml-1m", cache_dir=cache, download=False)
    message = str(info.value)
    assert "recsys data download ml-1m" in message
    assert str(cache / "ml-1m.zip") in message and "grouplens.org" in message
    assert not cache.exists()


def test_manually_placed_zip_is_verified_then_recorded(tiny, cache):
    cache.mkdir()
    make_zip(cache / "ml-tiny.zip", "ml-tiny", tiny_files())
    assert dl.ensure_archive("ml-tiny", cache_dir=cache, download=False).is_file()
    assert (cache / "ml-tiny.json").is_file()
    make_zip(cache / "ml-other.zip", "ml-tiny", tiny_files(n_ratings=61))
    os.replace(cache / "ml-other.zip", cache / "ml-tiny.zip")
    with pytest.raises(DownloadError, match="changed since it was verified"):
        dl.ensure_archive("ml-tiny", cache_dir=cache, download=False)


def test_manually_placed_wrong_zip_is_refused(tiny, cache):
    cache.mkdir()
    make_zip(cache / "ml-tiny.zip", "ml-tiny", tiny_files(n_ratings=30))
    with pytest.raises(DownloadError, match="documents 60"):
        dl.ensure_archive("ml-tiny", cache_dir=cache, download=False)
    assert not (cache / "ml-tiny.json").exists()


def test_environment_overrides(server, tiny, tmp_path, monkeypatch):
    served, url, requests = server
    make_zip(served / "ml-tiny.zip", "ml-tiny", tiny_files())
    monkeypatch.setenv(ENV_URL, url)
    monkeypatch.setenv(ENV_CACHE, str(tmp_path / "envcache"))
    r = load("ml-tiny")
    assert len(r) == 60 and (tmp_path / "envcache" / "ml-tiny.zip").is_file()
    assert requests == ["/ml-tiny.zip"]
    assert resolve_cache_dir(tmp_path / "arg") == tmp_path / "arg"  # argument wins
    assert resolve_base_url("http://a") == "http://a"


def test_default_cache_folder_is_not_created(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_CACHE, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    folder = resolve_cache_dir()
    if os.name == "posix" and sys.platform != "darwin":
        assert folder == tmp_path / "xdg" / "recsys"
    assert not folder.exists()
    rows = list_datasets()
    assert not folder.exists() and len(rows) == len(REGISTRY)


def test_real_name_latest_small_download_checks_documented_counts(server, cache):
    served, url, _ = server
    release = REGISTRY["ml-latest-small"]
    files = csv_release_files(release.n_ratings, release.n_users, release.n_movies,
                              release.n_rated_items)
    make_zip(served / "ml-latest-small.zip", "ml-latest-small", files)
    dl.download("ml-latest-small", cache_dir=cache, base_url=url, progress=False)
    r = load("ml-latest-small", cache_dir=cache)  # now from the cache, not the bundle
    assert len(r) == 100_836 and r.item_titles()[0] == "Movie 1 (1991)"
    assert [row["cached"] for row in list_datasets(cache) if row["name"] == "ml-latest-small"]


def test_predefined_split_from_a_downloaded_ml100k(server, cache):
    served, url, _ = server
    make_zip(served / "ml-100k.zip", "ml-100k", u100k_files())
    train, test = load_predefined_split("ml-100k", "u1", cache_dir=cache, base_url=url)
    assert (len(train), len(test)) == (80_000, 20_000)
    assert train.n_users == 943 and train.item_ids is test.item_ids


def test_progress_bar_goes_to_stderr(server, tiny, cache, capsys):
    served, url, _ = server
    make_zip(served / "ml-tiny.zip", "ml-tiny", tiny_files())
    dl.download("ml-tiny", cache_dir=cache, base_url=url, progress=True)
    captured = capsys.readouterr()
    assert "ml-tiny.zip" in captured.err and captured.out == ""


def test_unwritable_cache_folder(tiny, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DownloadError, match="cannot create the cache folder"):
        dl.download("ml-tiny", cache_dir=blocker / "sub", base_url="http://127.0.0.1:9")


def test_bundled_copy_passes_the_real_registry_checks(server, cache):
    from recsys.data.loading import bundled_path

    served, url, _ = server
    folder = bundled_path()
    files = {f.name: f.read_text(encoding="utf-8") for f in folder.iterdir() if f.is_file()}
    make_zip(served / "ml-latest-small.zip", "ml-latest-small", files)
    path = dl.download("ml-latest-small", cache_dir=cache, base_url=url, progress=False)
    record = json.loads((cache / "ml-latest-small.json").read_text())
    assert (record["n_ratings"], record["n_users"], record["n_movies"],
            record["n_rated_items"]) == (100_836, 610, 9_742, 9_724)
    assert path.is_file()
