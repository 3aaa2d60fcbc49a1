"""Parquet ratings: reading by column names, ``recsys data convert``, damaged files."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import recsys
from recsys.data.parquet import read_parquet_file, write_parquet
from recsys.errors import DataError

from _cli import assert_one_clean_error, run


def _same(a, b) -> None:
    assert np.array_equal(a.user_ids, b.user_ids) and np.array_equal(a.item_ids, b.item_ids)
    assert np.array_equal(a.users, b.users) and np.array_equal(a.items, b.items)
    assert np.array_equal(a.ratings, b.ratings)
    assert (a.timestamps is None) == (b.timestamps is None)
    if a.timestamps is not None:
        assert np.array_equal(a.timestamps, b.timestamps)
    assert a.rating_scale == b.rating_scale


def test_bundled_csv_convert_round_trip(tmp_path):
    out = tmp_path / "small.parquet"
    result = run("data", "convert", "ml-latest-small", out)
    assert result.exit_code == 0, result.output
    assert "100,836 ratings" in result.output
    assert pq.read_schema(out).names == ["user", "item", "rating", "timestamp"]
    _same(recsys.load(), recsys.load(out))


def test_titles_years_and_genres_travel_with_the_file(tmp_path):
    out = tmp_path / "small.parquet"
    assert run("data", "convert", "ml-latest-small", out).exit_code == 0
    original, again = recsys.load(), recsys.load(out)
    assert again.item_info is not None and len(again.item_info) == len(original.item_info)
    for column in ("title", "year", "genres"):
        left = original.item_info[column].reindex(original.item_ids)
        right = again.item_info[column].reindex(again.item_ids)
        assert left.fillna(-1).tolist() == right.fillna(-1).tolist(), column
    model = tmp_path / "b.npz"
    assert run("fit", "--data", out, "--model", "baseline", "-o", model).exit_code == 0
    listed = run("recommend", "-m", model, "--user", "1", "-n", "3", "--format", "json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)  # the titles reach the model and its lists
    assert [row["title"] for row in rows] == [
        original.item_info.loc[int(row["item"]), "title"] for row in rows]


def test_user_information_and_text_ids_in_the_metadata(tmp_path):
    ratings = recsys.load()
    info = pd.DataFrame({"age": [30] * ratings.n_users, "zip": ["01234"] * ratings.n_users},
                        index=ratings.user_ids)
    ratings.user_info = info
    out = write_parquet(ratings, tmp_path / "u.parquet")
    again = recsys.load(out)
    assert again.user_info["zip"].tolist() == ["01234"] * ratings.n_users  # text stays text
    assert list(again.user_info.index) == list(ratings.user_ids)


def test_a_damaged_metadata_entry_loses_only_the_titles(tmp_path):
    out = tmp_path / "small.parquet"
    write_parquet(recsys.load(), out)
    table = pq.read_table(out)
    metadata = dict(table.schema.metadata)
    metadata[b"recsys.item_info"] = b"{not json"
    pq.write_table(table.replace_schema_metadata(metadata), out)
    again = recsys.load(out)
    assert again.item_info is None and len(again) == 100_836


def test_csv_with_text_ids_round_trip(tmp_path):
    csv = tmp_path / "r.csv"
    csv.write_text("user,item,rating,timestamp\nalice,Heat,5,964982703\nbob,Heat,2,964982224\n"
                   "alice,Up,3.5,964983815\n")
    out = tmp_path / "r.parquet"
    assert run("data", "convert", csv, out).exit_code == 0
    original, again = recsys.load(csv), recsys.load(out)
    _same(original, again)
    assert list(again.user_ids) == ["alice", "bob"]


def test_columns_recognised_by_name_and_dates(tmp_path):
    path = tmp_path / "spark.parquet"
    table = pa.table({"extra": ["x", "y", "z"], "rating": np.array([4.0, 3.0, 5.0], np.float64),
                      "movieId": np.array([10, 20, 10], np.int64),
                      "userId": np.array([1, 1, 2], np.int64),
                      "timestamp": pa.array(pd.to_datetime(["2005-09-06", "2005-09-07",
                                                            "2005-09-08"]))})
    pq.write_table(table, path)
    r = recsys.load(path)
    assert len(r) == 3 and list(r.user_ids) == [1, 2] and list(r.item_ids) == [10, 20]
    assert r.timestamps[0] == int(pd.Timestamp("2005-09-06", tz="UTC").timestamp())
    assert r.rating_scale == (3.0, 5.0)


def test_folder_of_parts_and_magic_bytes(tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(pa.table({"user": [1, 2], "item": [5, 5], "rating": [1.0, 2.0]}),
                   folder / "part-0.parquet")
    pq.write_table(pa.table({"user": [3], "item": [6], "rating": [3.0]}),
                   folder / "part-1.parquet")
    assert len(recsys.load(folder)) == 3
    unnamed = tmp_path / "ratings.bin"
    unnamed.write_bytes((folder / "part-0.parquet").read_bytes())
    assert len(recsys.load(unnamed)) == 2


def test_corrupt_parquet_gives_one_line(tmp_path):
    path = tmp_path / "broken.parquet"
    write_parquet(recsys.load(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="broken.parquet: not a readable Parquet file"):
        recsys.load(path)
    assert_one_clean_error(run("data", "info", path), 1, "not a readable Parquet file")
    path.write_bytes(b"PAR1" + b"\x00" * 40 + b"PAR1")
    assert_one_clean_error(run("data", "info", path), 1, "not a readable Parquet file")


def test_missing_columns_and_bad_values_named(tmp_path):
    path = tmp_path / "cols.parquet"
    pq.write_table(pa.table({"a": [1], "b": [2], "c": [3], "d": [4], "e": [5]}), path)
    with pytest.raises(DataError, match="cannot tell which column holds the user"):
        read_parquet_file(path)
    pq.write_table(pa.table({"user": [1, 2], "item": [5, 5], "rating": [1.0, np.nan]}), path)
    with pytest.raises(DataError, match=r"cols.parquet, row 2: rating is missing"):
        read_parquet_file(path)


def test_convert_refuses_other_suffixes_and_keeps_the_target(tmp_path):
    csv = tmp_path / "r.csv"
    csv.write_text("user,item,rating\n1,2,3\n")
    before = csv.read_bytes()
    assert_one_clean_error(run("data", "convert", csv, csv), 1, "*.parquet")
    other = tmp_path / "out.csv"
    assert_one_clean_error(run("data", "convert", csv, other), 1, "*.parquet", "out.parquet")
    assert csv.read_bytes() == before and not other.exists()
    assert_one_clean_error(run("data", "convert", tmp_path / "nope.csv", tmp_path / "o.parquet"),
                           1, "nope.csv")
    assert not (tmp_path / "o.parquet").exists()


def test_convert_is_atomic(tmp_path, monkeypatch):
    out = tmp_path / "r.parquet"
    out.write_bytes(b"old")

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", fail)
    assert_one_clean_error(run("data", "convert", "ml-latest-small", out), 1,
                           "No space left on device")
    assert out.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["r.parquet"]  # no temporary file left behind


def test_repeated_pairs_keep_the_last_as_in_csv(tmp_path):
    path = tmp_path / "dup.parquet"
    pq.write_table(pa.table({"user": [1, 2, 1], "item": [5, 5, 5], "rating": [1.0, 2.0, 4.0]}),
                   path)
    with pytest.warns(recsys.data.DuplicateRatingsWarning, match="1 duplicate"):
        r = recsys.load(path)
    assert len(r) == 2 and sorted(r.ratings.tolist()) == [2.0, 4.0]


def test_duplicate_kernel_agrees_with_sorting():
    from recsys.data._pairs_kernels import has_duplicate_pairs

    rng = np.random.default_rng(0)
    for n in (1, 50, 400):
        users = rng.integers(0, 30, n).astype(np.int32)
        items = rng.integers(0, 40, n).astype(np.int32)
        expected = len(np.unique(users.astype(np.int64) * 40 + items)) < n
        for order in (np.arange(n), np.argsort(users, kind="stable"),
                      np.argsort(items, kind="stable")):  # scattered, by user, by item
            assert has_duplicate_pairs(users[order], items[order], 30, 40) == expected
    unique = np.array([0, 0, 1, 1], np.int32), np.array([0, 1, 0, 1], np.int32)
    assert not has_duplicate_pairs(*unique, 2, 2)
    assert not has_duplicate_pairs(unique[1], unique[0], 2, 2)


def test_dense_codes_match_factorize():
    from recsys.data._pairs_kernels import dense_codes

    raw = np.array([7, 3, 7, 0, 12], dtype=np.int64)
    ids, codes = dense_codes(raw, 12, np.empty(5, dtype=np.int32))
    expected_codes, expected_ids = pd.factorize(raw, sort=True)
    assert np.array_equal(ids, expected_ids) and np.array_equal(codes, expected_codes)
    assert ids.dtype == np.int64 and codes.dtype == np.int32
    same = raw.astype(np.int32)  # coded in place
    ids, codes = dense_codes(same, 12, same)
    assert codes is same and np.array_equal(same, expected_codes)


def test_negative_and_text_ids_take_the_general_path(tmp_path):
    path = tmp_path / "neg.parquet"
    pq.write_table(pa.table({"user": [-3, 7], "item": ["b", "a"], "rating": [1.0, 2.0]}), path)
    r = recsys.load(path)
    assert list(r.user_ids) == [-3, 7] and list(r.item_ids) == ["a", "b"]
    assert r.user_ids[r.users[0]] == -3 and r.item_ids[r.items[0]] == "b"
