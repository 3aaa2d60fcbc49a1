"""Issue 6 catalogue: every way a download can go wrong, against a server on 127.0.0.1.

Each failure must be a :class:`DownloadError` with one line that names what was wrong and what
to do; afterwards nothing is left under the final archive name, no ``.part`` lingers, and a
previously verified archive in the cache is untouched (the ``before`` fixture runs every case
once on an empty cache and once over a good cached copy, with ``force=True``).
"""

from __future__ import annotations

import http.client
import io
import os
import stat
import time
import zipfile
from pathlib import Path

import pytest
from _http_server import (  # noqa: F401
    TINY,
    cache_fixture,
    leftovers,
    make_zip,
    server_fixture,
    tiny_files,
    tiny_fixture,
)
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from recsys.cli import main
from recsys.data import cache as cache_folder
from recsys.data import download as dl
from recsys.data.cache import ENV_CACHE
from recsys.data.fetch import ENV_URL, max_download_bytes
from recsys.data.loading import list_datasets, load
from recsys.data.verify import max_unpacked_bytes, read_record, sha256_file, verify_archive
from recsys.errors import DownloadError

ZIP, RECORD, PART = "ml-tiny.zip", "ml-tiny.json", "ml-tiny.zip.part"


# ---------------------------------------------------------------- helpers
@pytest.fixture(params=["empty", "cached"])
def before(request, server, tiny, cache):
    """None on an empty cache; else the SHA-256 of a verified copy already in the cache."""
    served, url, _ = server
    make_zip(served / ZIP, "ml-tiny", tiny_files())
    if request.param == "empty":
        return None
    path = dl.download("ml-tiny", cache_dir=cache, base_url=url, progress=False)
    return sha256_file(path)


def fetch(cache: Path, base: str, **kwargs) -> Path:
    return dl.download("ml-tiny", cache_dir=cache, base_url=base, force=True, progress=False,
                       **kwargs)


def failure(cache: Path, before: str | None, info: pytest.ExceptionInfo, *needles: str) -> str:
    """The one-line message; checks the cache is as it was before the failed download."""
    assert info.type is DownloadError
    message = str(info.value)
    assert "\n" not in message and message.strip() == message
    for needle in needles:
        assert needle in message, (needle, message)
    if before is None:
        assert leftovers(cache) == []
    else:
        assert leftovers(cache) == [RECORD, ZIP]
        assert sha256_file(cache / ZIP) == before
        assert read_record(cache / ZIP)["sha256"] == before
    return message


def release_zip(path: Path, extra: dict | None = None, stored: bool = False) -> bytes:
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, text in tiny_files().items():
            archive.writestr(f"ml-tiny/{name}", text)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path.read_bytes()


# ---------------------------------------------------------------- server side
@pytest.mark.parametrize("code", [500, 503])
def test_server_error(server, before, cache, code):
    _, url, _ = server
    with pytest.raises(DownloadError) as info:
        fetch(cache, f"{url}/status/{code}")
    failure(cache, before, info, f"HTTP {code}", "try again later", str(cache / ZIP))


def test_not_found_names_the_address_setting(server, before, cache):
    _, url, _ = server
    with pytest.raises(DownloadError) as info:
        fetch(cache, f"{url}/nowhere")
    failure(cache, before, info, "HTTP 404", "--url", ENV_URL, str(cache / ZIP))


def test_invalid_address(before, cache):
    with pytest.raises(DownloadError) as info:
        fetch(cache, "not-an-address")
    failure(cache, before, info, "not a valid download address", "--url", ENV_URL)


def test_connection_dropped_midway(server, before, cache):
    _, url, _ = server
    with pytest.raises(DownloadError) as info:
        fetch(cache, f"{url}/short")
    failure(cache, before, info, "dropped after", "bytes", "try again")


@pytest.mark.parametrize("mode", ["slow", "stall"])
def test_timeout(server, before, cache, mode):
    _, url, _ = server
    start = time.perf_counter()
    with pytest.raises(DownloadError) as info:
        fetch(cache, f"{url}/{mode}", timeout=0.3)
    assert time.perf_counter() - start < 5
    failure(cache, before, info, "did not answer within 0.3 s", "try again", str(cache / ZIP))


# ---------------------------------------------------------------- sizes
def test_announced_size_far_above_the_documented_one(server, before, cache):
    _, url, _ = server
    with pytest.raises(DownloadError) as info:
        fetch(cache, f"{url}/length/9999999999")
    failure(cache, before, info, "announces 9,999,999,999 bytes", "about 0.01 MB", "--url")


def test_endless_body_without_length_is_cut_off(server, before, cache):
    served, url, _ = server
    limit = max_download_bytes(TINY)
    release_zip(served / ZIP, extra={"ml-tiny/padding.bin": b"\0" * (limit + 1)}, stored=True)
    with pytest.raises(DownloadError) as info:
        fetch(cache, f"{url}/nolength")
    failure(cache, before, info, f"sent more than {limit:,} bytes", "--url")


def test_zip_bomb_is_refused_before_unpacking(server, before, cache):
    served, url, _ = server
    big = max_unpacked_bytes(TINY) + 1  # compresses to ~70 kB
    with zipfile.ZipFile(served / ZIP, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in tiny_files().items():
            archive.writestr(f"ml-tiny/{name}", text)
        with archive.open("ml-tiny/bomb.bin", "w", force_zip64=True) as member:
            for _ in range(big // (1 << 20) + 1):
                member.write(b"\0" * (1 << 20))
    with pytest.raises(DownloadError) as info:
        fetch(cache, url)
    failure(cache, before, info, "unpacks to", "nothing was kept")


# ---------------------------------------------------------------- tampering
def test_crc_mismatch_in_the_download(server, before, cache, tmp_path):
    served, url, _ = server
    data = bytearray(release_zip(tmp_path / "good.zip", stored=True))
    at = data.index(b"userId,movieId") + 40  # inside the stored ratings.csv
    data[at] ^= 0x01
    (served / ZIP).write_bytes(bytes(data))
    with pytest.raises(DownloadError) as info:
        fetch(cache, url)
    failure(cache, before, info, "'ml-tiny/ratings.csv' fails its CRC check", "try again")


def test_cached_archive_changed_after_download_is_caught_on_next_use(server, tiny, cache):
    served, url, _ = server
    make_zip(served / ZIP, "ml-tiny", tiny_files())
    path = dl.download("ml-tiny", cache_dir=cache, base_url=url, progress=False)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DownloadError) as info:
        load("ml-tiny", cache_dir=cache, download=False)
    message = str(info.value)
    assert "changed since it was verified" in message and "\n" not in message
    assert "recsys data download ml-tiny" in message
    assert not path.exists() and (cache / (ZIP + ".rejected")).is_file()
    # doing what the message says repairs the cache
    dl.download("ml-tiny", cache_dir=cache, base_url=url, progress=False)
    assert len(load("ml-tiny", cache_dir=cache, download=False)) == 60


def test_cached_archive_changed_and_record_lost_is_verified_in_full(server, tiny, cache):
    cache.mkdir()
    data = bytearray(release_zip(cache / ZIP, stored=True))
    data[data.index(b"userId,movieId") + 40] ^= 0x01
    (cache / ZIP).write_bytes(bytes(data))
    with pytest.raises(DownloadError) as info:
        dl.ensure_archive("ml-tiny", cache_dir=cache, download=False)
    message = str(info.value)
    assert "fails its CRC check" in message and "delete it" in message
    assert str(cache / ZIP) in message
    assert not (cache / RECORD).exists()


# ---------------------------------------------------------------- members escaping
@pytest.mark.parametrize("member", ["../x", "/etc/x", "ml-tiny/../../x", "C:/x", "..\\x"])
def test_member_escaping_the_folder(server, before, cache, tmp_path, member):
    served, url, _ = server
    release_zip(served / ZIP, extra={member: "boom"})
    with pytest.raises(DownloadError) as info:
        fetch(cache, url)
    failure(cache, before, info, f"unsafe member path {member!r}", "nothing was kept")
    assert not (tmp_path / "x").exists() and not (cache.parent.parent / "x").exists()


def test_symlink_member(server, before, cache):
    served, url, _ = server
    link = zipfile.ZipInfo("ml-tiny/link")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(served / ZIP, "w") as archive:
        for name, text in tiny_files().items():
            archive.writestr(f"ml-tiny/{name}", text)
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(DownloadError) as info:
        fetch(cache, url)
    failure(cache, before, info, "'ml-tiny/link' is a symbolic link")


def test_hand_placed_archive_with_escaping_member(tiny, cache):
    cache.mkdir()
    release_zip(cache / ZIP, extra={"../x": "boom"})
    with pytest.raises(DownloadError) as info:
        dl.ensure_archive("ml-tiny", cache_dir=cache, download=False)
    message = str(info.value)
    assert "unsafe member path '../x'" in message and "delete it" in message
    assert not (cache / RECORD).exists() and not (cache.parent / "x").exists()


# ---------------------------------------------------------------- local file system
def test_cache_folder_cannot_be_created(tiny, cache, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(DownloadError) as info:
        fetch(cache, "http://127.0.0.1:9")
    message = failure(cache, None, info, "cannot create the cache folder", str(cache),
                      "Permission denied", "--cache-dir", "$RECSYS_DATA")
    assert message.count("Permission denied") == 1


def _refuse_part(monkeypatch, error: OSError) -> None:
    real_open = open

    def fake_open(path, mode="r", *args, **kwargs):
        if str(path).endswith(".part"):
            raise error
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(cache_folder, "open", fake_open, raising=False)


def test_part_file_cannot_be_created(server, before, cache, monkeypatch):
    _, url, requests = server
    _refuse_part(monkeypatch, PermissionError(13, "Permission denied"))
    n = len(requests)
    with pytest.raises(DownloadError) as info:
        fetch(cache, url)
    failure(cache, before, info, f"cannot write to the cache folder {cache}",
            "Permission denied", "--cache-dir", "$RECSYS_DATA")
    assert len(requests) == n  # nothing was fetched


def test_disk_full_while_writing(server, before, cache, monkeypatch):
    _, url, _ = server
    real_open = open

    class Full(io.FileIO):
        def write(self, data):
            raise OSError(28, "No space left on device")

    def fake_open(path, mode="r", *args, **kwargs):
        if str(path).endswith(".part"):
            return Full(path, "xb")
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(cache_folder, "open", fake_open, raising=False)
    with pytest.raises(DownloadError) as info:
        fetch(cache, url)
    failure(cache, before, info, "No space left on device", "free some disk space",
            "--cache-dir")


def test_cannot_move_into_place(server, before, cache, monkeypatch):
    _, url, _ = server
    real_replace = os.replace

    def fake_replace(src, dst):
        if str(src).endswith(".part"):
            raise PermissionError(13, "Permission denied")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", fake_replace)
    with pytest.raises(DownloadError) as info:
        fetch(cache, url)
    failure(cache, before, info, f"into place as {cache / ZIP}", "Permission denied")


def test_cache_path_is_a_file(server, tiny, tmp_path, monkeypatch):
    _, url, _ = server
    monkeypatch.delenv(ENV_CACHE, raising=False)
    blocker = tmp_path / "cachefile"
    blocker.write_text("mine")
    with pytest.raises(DownloadError) as info:
        fetch(blocker, url)
    message = str(info.value)
    assert "\n" not in message and f"cache folder {blocker}: it is a file" in message
    assert "--cache-dir" in message and "$RECSYS_DATA" in message
    assert blocker.read_text() == "mine"
    with pytest.raises(DownloadError, match="is not in the cache"):
        dl.ensure_archive("ml-tiny", cache_dir=blocker, download=False)


def test_final_name_is_a_folder(server, tiny, cache):
    _, url, _ = server
    (cache / ZIP).mkdir(parents=True)
    for call in (lambda: fetch(cache, url),
                 lambda: dl.ensure_archive("ml-tiny", cache_dir=cache, download=False)):
        with pytest.raises(DownloadError) as info:
            call()
        assert f"{cache / ZIP} is in the cache but is not a file" in str(info.value)
        assert "delete it" in str(info.value)
    assert (cache / ZIP).is_dir()


# ---------------------------------------------------------------- stale and interrupted
def test_stale_part_is_discarded(server, before, cache):
    _, url, _ = server
    cache.mkdir(exist_ok=True)
    (cache / PART).write_bytes(b"left over from a run that was killed" * 1000)
    path = fetch(cache, url)
    assert leftovers(cache) == [RECORD, ZIP]
    assert read_record(path)["sha256"] == sha256_file(path)
    assert len(load("ml-tiny", cache_dir=cache, download=False)) == 60


def test_stale_part_is_removed_when_the_new_download_fails(server, before, cache):
    _, url, _ = server
    cache.mkdir(exist_ok=True)
    (cache / PART).write_bytes(b"old")
    with pytest.raises(DownloadError) as info:
        fetch(cache, f"{url}/status/503")
    failure(cache, before, info, "HTTP 503")


def test_complete_looking_part_is_never_taken_for_the_archive(tiny, cache):
    cache.mkdir()
    release_zip(cache / PART)  # a whole, valid release under the .part name
    assert not (cache / ZIP).exists()
    assert not next(row for row in list_datasets(cache) if row["name"] == "ml-tiny")["cached"]
    with pytest.raises(DownloadError, match="ml-tiny is not in the cache"):
        dl.ensure_archive("ml-tiny", cache_dir=cache, download=False)
    assert leftovers(cache) == [PART]


def test_stale_part_symlink_is_not_followed(server, tiny, cache, tmp_path):
    served, url, _ = server
    make_zip(served / ZIP, "ml-tiny", tiny_files())
    precious = tmp_path / "precious.txt"
    precious.write_text("do not overwrite")
    cache.mkdir()
    (cache / PART).symlink_to(precious)
    fetch(cache, url)
    assert precious.read_text() == "do not overwrite"
    assert leftovers(cache) == [RECORD, ZIP] and not (cache / ZIP).is_symlink()


def test_stale_part_folder(server, before, cache):
    _, url, _ = server
    (cache / PART).mkdir(parents=True)
    with pytest.raises(DownloadError) as info:
        fetch(cache, url)
    message = str(info.value)
    assert f"{cache / PART} is a folder" in message and "delete it" in message
    assert "\n" not in message
    if before is None:
        assert leftovers(cache) == [PART]
    else:
        assert leftovers(cache) == [RECORD, ZIP, PART]
        assert sha256_file(cache / ZIP) == before


@pytest.mark.parametrize("when", ["receiving", "verifying"])
def test_ctrl_c(server, before, cache, monkeypatch, when):
    served, url, _ = server
    if when == "receiving":
        real_read, calls = http.client.HTTPResponse.read, []

        def read(self, amt=None):
            calls.append(amt)
            if len(calls) > 1:
                raise KeyboardInterrupt
            return real_read(self, 100)  # some bytes reach the .part first

        monkeypatch.setattr(http.client.HTTPResponse, "read", read)
    else:
        def interrupt(path, release):
            assert path.name == PART  # the whole download is there, under the .part name
            assert path.stat().st_size == (served / ZIP).stat().st_size
            raise KeyboardInterrupt

        monkeypatch.setattr(dl, "inspect_archive", interrupt)
    with pytest.raises(KeyboardInterrupt):
        fetch(cache, url)
    if before is None:
        assert leftovers(cache) == []
    else:
        assert leftovers(cache) == [RECORD, ZIP] and sha256_file(cache / ZIP) == before


# ---------------------------------------------------------------- command line
def _cli(*args: str):
    return CliRunner().invoke(main, ["data", "download", "ml-tiny", *args])


@pytest.mark.parametrize("case", ["server_error", "dropped", "cache_is_a_file"])
def test_cli_download_failure_is_one_error_line(server, tiny, cache, tmp_path, case):
    served, url, _ = server
    make_zip(served / ZIP, "ml-tiny", tiny_files())
    if case == "server_error":
        result = _cli("--cache-dir", str(cache), "--url", f"{url}/status/503")
        expected = "HTTP 503"
    elif case == "dropped":
        result = _cli("--cache-dir", str(cache), "--url", f"{url}/short")
        expected = "dropped after"
    else:  # click's own check of --cache-dir answers first (a usage error)
        blocker = tmp_path / "cachefile"
        blocker.write_text("x")
        result = _cli("--cache-dir", str(blocker), "--url", url)
        expected = "is a file"
    assert result.exit_code not in (0, None)
    assert "Traceback" not in result.output
    stderr = result.stderr
    assert stderr.startswith("Error:") and stderr.strip().count("\n") == 0, stderr
    assert expected in stderr
    assert leftovers(cache) == []


# ---------------------------------------------------------------- fuzzing
def _seed_archives() -> list[bytes]:
    out = []
    for stored in (False, True):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w",
                             zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as archive:
            for name, text in tiny_files().items():
                archive.writestr(f"ml-tiny/{name}", text)
        out.append(buffer.getvalue())
    return out


SEEDS = _seed_archives()


def _header_offsets(data: bytes) -> list[int]:
    """Offsets of the zip's local headers, central directory entries and end record."""
    return [k for k in range(len(data) - 3)
            if data[k:k + 2] == b"PK" and data[k + 2:k + 4] in (b"\x03\x04", b"\x01\x02",
                                                               b"\x05\x06")]


HEADERS = [_header_offsets(seed) for seed in SEEDS]


@st.composite
def mutated_archives(draw) -> bytes:
    which = draw(st.integers(0, len(SEEDS) - 1))
    data = bytearray(SEEDS[which])
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.booleans()):  # inside a header: names, sizes, methods, attributes
            at = draw(st.sampled_from(HEADERS[which])) + draw(st.integers(0, 60))
        else:
            at = draw(st.integers(0, len(data) - 1))
        at = min(at, len(data) - 1)
        kind = draw(st.sampled_from(["set", "flip", "insert", "delete"]))
        if kind == "set":
            data[at] = draw(st.one_of(st.integers(0, 255), st.sampled_from(b"./\\:\0\n")))
        elif kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif len(data) > 1:
            del data[at:at + draw(st.integers(1, 8))]
    if draw(st.booleans()) and draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


_REASONS = ("not a zip file", "cannot be read", "unsafe member path", "symbolic link",
            "unpacks to", "is corrupt", "CRC check", "does not read as", "documents")


@pytest.mark.fuzz
@settings(suppress_health_check=[*settings.default.suppress_health_check,
                                 HealthCheck.function_scoped_fixture])
@given(data=mutated_archives())
def test_verify_archive_accepts_or_refuses_mutated_zips(tmp_path, tiny, data):
    path = tmp_path / ZIP
    path.write_bytes(data)
    try:
        counts = verify_archive(path, TINY)
    except DownloadError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith(str(path))
        assert "delete it and run `recsys data download ml-tiny`" in message
        reason = message.split(": ", 1)[1]
        event("refused: " + next((k for k in _REASONS if k in reason), reason[:40]))
    else:
        event("accepted")
        assert counts == {"n_ratings": 60, "n_users": 7, "n_movies": 12, "n_rated_items": 10}


# ---------------------------------------------------------------- two downloads at once
def test_two_downloads_at_once_fetch_once_and_both_succeed(server, tiny, cache, monkeypatch,
                                                          capfd):
    """A second download into the same cache waits for the first (a lock on the cache
    folder), then finds the verified archive: one request, no clash over the ``.part``."""
    import threading

    served, url, requests = server
    make_zip(served / ZIP, "ml-tiny", tiny_files())
    fetching = threading.Event()
    real_fetch = dl.fetch_into

    def slow_fetch(*args, **kwargs):
        fetching.set()
        time.sleep(0.5)
        return real_fetch(*args, **kwargs)

    monkeypatch.setattr(dl, "fetch_into", slow_fetch)
    results, errors = [], []

    def job():
        try:
            results.append(dl.download("ml-tiny", cache_dir=cache, base_url=url, progress=False))
        except BaseException as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)

    first = threading.Thread(target=job)
    first.start()
    assert fetching.wait(10)
    second = threading.Thread(target=job)
    second.start()
    first.join(30)
    second.join(30)
    assert errors == [] and len(results) == 2 and results[0] == results[1]
    assert len([path for path in requests if path.endswith(ZIP)]) == 1
    assert PART not in leftovers(cache) and ZIP in leftovers(cache)
    assert "waiting for another recsys download" in capfd.readouterr().err
