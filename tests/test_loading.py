"""The single entry point ``load``, ``describe`` and ``list_datasets``."""

from __future__ import annotations

import socket
import zipfile
from pathlib import Path

import numpy as np
import pytest

from recsys.data.cache import ENV_CACHE
from recsys.data.fetch import ENV_URL
from recsys.data.loading import DEFAULT_DATASET, bundled_path, describe, list_datasets, load
from recsys.data.ratings import Ratings
from recsys.data.releases import REGISTRY
from recsys.errors import DataError, DownloadError

ML100K = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-100k"


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(ENV_URL, raising=False)
    monkeypatch.delenv(ENV_CACHE, raising=False)


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_default_is_the_bundled_latest_small():
    r = load()
    assert isinstance(r, Ratings) and r.name == DEFAULT_DATASET
    assert r.rating_scale == (0.5, 5.0) and r.item_info is not None
    assert (bundled_path() / "ratings.csv").is_file()


def test_latest_small_by_name_uses_the_bundle_without_network(tmp_path):
    r = load("ml-latest-small", cache_dir=tmp_path / "c", base_url=dead_url())
    assert r.name == DEFAULT_DATASET and len(r) > 100_000
    assert not (tmp_path / "c").exists()


def test_paths_folder_zip_and_file(tmp_path):
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4,10\n2,1,3,20\n")
    (folder / "movies.csv").write_text("movieId,title,genres\n1,Heat (1995),Action|Crime\n")
    from_folder = load(folder)
    with zipfile.ZipFile(tmp_path / "x.zip", "w") as z:
        for f in folder.iterdir():
            z.write(f, f"ml-latest-small/{f.name}")
    from_zip = load(tmp_path / "x.zip")
    from_file = load(str(folder / "ratings.csv"))
    for r in (from_folder, from_zip, from_file):
        assert len(r) == 2 and sorted(r.user_ids.tolist()) == [1, 2]
    assert from_folder.item_info.loc[1, "year"] == 1995
    assert from_folder.rating_scale == (0.5, 5.0)  # a release's scale
    assert from_file.rating_scale == (3.0, 4.0)  # a plain file's: from the data
    assert from_file.item_info is None


def test_rating_scale_is_passed_on(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("user,item,rating\n1,1,4\n1,2,7\n")
    assert load(path).rating_scale == (4.0, 7.0)
    with pytest.raises(DataError, match=r"r\.csv, line 3: rating 7 is outside"):
        load(path, rating_scale=(1, 5))


def test_unknown_source(tmp_path):
    with pytest.raises(DataError, match="not a known data set .*ml-100k"):
        load("ml-5m")
    with pytest.raises(DataError, match="no such file"):
        load(tmp_path / "missing.csv")


def test_named_release_offline(tmp_path):
    with pytest.raises(DownloadError, match="recsys data download ml-100k"):
        load("ml-100k", cache_dir=tmp_path, download=False)
    with pytest.raises(DownloadError, match="could not download ml-25m"):
        load("ml-25m", cache_dir=tmp_path / "c", base_url=dead_url())
    assert list((tmp_path / "c").iterdir()) == []


def test_describe_small():
    r = Ratings.from_arrays([1, 1, 2, 3, 3, 3], [10, 20, 10, 10, 20, 30],
                            [5, 4, 3, 4, 4, 1], timestamps=[0, 86400, 86400 * 2, 3, 4, 86400 * 365],
                            rating_scale=(1, 5), name="six")
    d = describe(r, top=2)
    assert d["name"] == "six" and (d["n_ratings"], d["n_users"], d["n_items"]) == (6, 3, 3)
    assert d["histogram"] == {1.0: 1, 3.0: 1, 4.0: 3, 5.0: 1}
    assert sum(d["histogram"].values()) == 6
    assert d["sparsity"] == pytest.approx(1 - 6 / 9)
    assert [t["item"] for t in d["top_items"]] == [10, 20]
    assert d["top_items"][0]["count"] == 3 and d["top_items"][0]["mean"] == pytest.approx(4.0)
    assert d["top_items"][0]["title"] == "10"  # no titles known: the id as text
    assert d["date_range"] == ("1970-01-01", "1971-01-01")
    assert d["ratings_per_user"] == {"min": 1, "median": 2.0, "max": 3}
    assert d["rating_scale"] == (1.0, 5.0)


def test_describe_continuous_histogram_and_bundled_titles():
    rng = np.random.default_rng(0)
    r = Ratings.from_arrays(np.arange(100) % 13, np.arange(100) % 11, rng.uniform(1, 5, 100),
                            rating_scale=(1, 5))
    d = describe(r)
    assert len(d["histogram"]) == 10 and sum(d["histogram"].values()) == 100
    assert d["date_range"] is None
    top = describe(load())["top_items"]
    assert top[0]["title"] == "Forrest Gump (1994)" and top[0]["count"] >= top[1]["count"]


def test_list_datasets(tmp_path):
    rows = list_datasets(tmp_path)
    assert [row["name"] for row in rows] == list(REGISTRY)
    by_name = {row["name"]: row for row in rows}
    assert not any(row["cached"] for row in rows)
    assert by_name["ml-latest-small"]["bundled"] and by_name["ml-latest-small"]["path"]
    assert not by_name["ml-1m"]["redistributable"] and by_name["ml-25m"]["size_mb"] > 100
    (tmp_path / "ml-1m.zip").write_bytes(b"x")
    by_name = {row["name"]: row for row in list_datasets(tmp_path)}
    assert by_name["ml-1m"]["cached"] and by_name["ml-1m"]["path"].endswith("ml-1m.zip")


@pytest.mark.skipif(not ML100K.is_dir(), reason="ML-100K not present in ../shared/datasets")
def test_load_shared_ml100k_folder_and_fold_file():
    r = load(ML100K)
    assert (r.name, len(r), r.n_users, r.n_items) == ("ml-100k", 100_000, 943, 1_682)
    base = load(ML100K / "u1.base", rating_scale=(1, 5))
    assert len(base) == 80_000 and base.rating_scale == (1.0, 5.0)
    d = describe(r)
    assert d["top_items"][0]["title"] == "Star Wars (1977)"
    assert d["date_range"][0].startswith("1997")
