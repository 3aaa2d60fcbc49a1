"""Ratings read by Spark itself (Parquet, CSV) for the DSGD engine: same id maps, same model as
the driver-side path, one-line errors, and no ratings on the driver.

A real local Spark context (``local[2,2]``, loopback, UI off) serves the module and is stopped
at its end (the master is test_spark_engine.py's, so either file can run first).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import recsys
from recsys.data.parquet import write_parquet
from recsys.data.ratings import DuplicateRatingsWarning
from recsys.data.splits import validation_split
from recsys.data.synthetic import make_planted
from recsys.engines.spark import SparkEngine
from recsys.errors import RecsysError
from recsys.models.io import load_model
from recsys.models.mf import MatrixFactorization
from tests._cli import assert_one_clean_error, run

MASTER = "local[2,2]"
NOISE = 0.5
SETTINGS = dict(n_factors=3, n_epochs=3, lr=0.08, lr_bias=0.08, lr_decay=0.0, reg=0.02,
                reg_bias=0.02, init_std=0.1, random_state=0)


@pytest.fixture(scope="module")
def engine():
    with SparkEngine(MASTER, n_blocks=2) as started:
        yield started


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A planted set split into train / test; the training part written as Parquet (with
    titles in the footer) and as MovieLens-style CSV (with a pair rated twice: the last
    rating wins, so both files hold the training part)."""
    data = make_planted(n_users=200, n_items=150, n_ratings=12_000, n_factors=3, noise=NOISE,
                        random_state=0)
    train, test = validation_split(data, valid_size=0.2, random_state=0)
    train = train.subset(np.arange(len(train)))
    train.item_info = pd.DataFrame({"title": [f"Film {i}" for i in train.item_ids]},
                                   index=train.item_ids)
    folder = tmp_path_factory.mktemp("frames")
    parquet = write_parquet(train, folder / "train.parquet")
    frame = train.to_dataframe()
    frame = pd.DataFrame({"userId": frame["user"], "movieId": frame["item"],
                          "rating": frame["rating"], "timestamp": 964982703})
    replaced = frame.iloc[[0]].assign(rating=frame["rating"].iloc[0] * 0.5)
    csv = folder / "train.csv"
    pd.concat([replaced, frame]).to_csv(csv, index=False)  # the later rating counts
    return train, test, parquet, csv


def rmse(model, data) -> float:
    return float(np.sqrt(np.mean((model.predict_ratings(data) - data.ratings) ** 2)))


@pytest.fixture(scope="module")
def driver_model(engine, planted):
    train = planted[0]
    return engine.fit(MatrixFactorization(**SETTINGS), train)


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_spark_read_gives_the_driver_paths_maps_and_model(engine, planted, driver_model,
                                                          kind):
    train, test, parquet, csv = planted
    path = parquet if kind == "parquet" else csv
    if kind == "csv":
        with pytest.warns(DuplicateRatingsWarning, match="1 duplicate"):
            frame = engine.read(path)
        with pytest.warns(DuplicateRatingsWarning):
            local = recsys.load(path)  # the same file through the driver's loader
    else:
        frame = engine.read(path)
        local = train
    assert np.array_equal(frame.user_ids, local.user_ids)
    assert np.array_equal(frame.item_ids, local.item_ids)
    assert np.array_equal(frame.user_counts, local.user_counts())
    assert np.array_equal(frame.item_counts, local.item_counts())
    assert len(frame) == len(local) and abs(frame.global_mean - local.global_mean) < 1e-9
    assert abs(frame.rating_std - float(np.std(local.ratings, dtype=np.float64))) < 1e-6
    assert frame.rating_scale == pytest.approx(local.rating_scale)
    model = engine.fit(MatrixFactorization(**SETTINGS), frame)
    reference = driver_model  # fitted on the training part the driver holds
    ours, theirs = rmse(model, test), rmse(reference, test)
    assert abs(ours - theirs) < 0.01 * theirs, (ours, theirs)
    assert ours < 0.9 * float(np.std(test.ratings))  # it learned
    # the same grid, cells and order: the two paths learn the same model
    assert np.abs(model.predict_ratings(test) - reference.predict_ratings(test)).max() < 1e-3
    assert np.array_equal(model.seen_items_, reference.seen_items_)
    assert np.array_equal(model.seen_indptr_, reference.seen_indptr_)
    if kind == "parquet":  # the footer's titles and scale reach the model
        assert list(model.item_titles_[:2]) == [f"Film {i}" for i in train.item_ids[:2]]
        assert model.rating_scale_ == pytest.approx(train.rating_scale)


def test_text_ids_sort_as_the_local_loader_sorts_them(engine, tmp_path):
    path = tmp_path / "text.csv"
    path.write_text("user,item,rating\nb,x10,4\na,x9,3\nB,x10,2\n10,x9,5\n9,é,1\n")
    frame, local = engine.read(path), recsys.load(path)
    assert list(frame.user_ids) == list(local.user_ids) == ["10", "9", "B", "a", "b"]
    assert list(frame.item_ids) == list(local.item_ids)


def test_carve_is_seeded_and_leaves_no_orphans(engine, planted):
    frame = engine.read(planted[2])
    train, valid = frame.carve(0.2, seed=3)
    again, _ = frame.carve(0.2, seed=3)
    other, _ = frame.carve(0.2, seed=4)
    assert np.array_equal(train.user_counts, again.user_counts)
    assert not np.array_equal(train.user_counts, other.user_counts)
    assert len(train) + len(valid) == len(frame)
    assert 0.17 < len(valid) / len(frame) < 0.23
    assert (train.user_counts[valid.user_counts > 0] > 0).all()
    assert (train.item_counts[valid.item_counts > 0] > 0).all()
    assert abs(train.rating_sum + valid.rating_sum - frame.rating_sum) < 1e-6


def test_cli_reads_parquet_with_spark_not_the_driver(engine, planted, tmp_path, monkeypatch):
    train, _, parquet, _ = planted

    def refuse(*args, **kwargs):
        raise AssertionError("the driver-side loader was called")

    import pyspark.sql

    monkeypatch.setattr("recsys.data.loading.load", refuse)
    monkeypatch.setattr("recsys.data.parquet.read_parquet_file", refuse)
    monkeypatch.setattr(pyspark.sql.DataFrame, "toPandas", refuse)
    monkeypatch.setattr(pyspark.sql.DataFrame, "collect", refuse)
    out = tmp_path / "spark.npz"
    result = run("fit", "--engine", "spark", "--master", MASTER, "--data", parquet,
                 "--factors", 3, "--epochs", 1, "--validation", 0.2, "-o", out)
    assert result.exit_code == 0, result.output
    assert "read by Spark" in result.stdout and "held-out" in result.stderr
    model = load_model(out)
    assert type(model) is MatrixFactorization
    assert np.array_equal(model.user_ids_, train.user_ids)
    assert model.selection_["n_valid"] > 0 and model.item_titles_[0] == f"Film {train.item_ids[0]}"
    listed = run("recommend", "-m", out, "--user", train.user_ids[0], "-n", 3,
                 "--min-ratings", 1, "--format", "csv")
    assert listed.exit_code == 0, listed.output
    assert len(listed.stdout.strip().splitlines()) == 4


def _parquet(path, columns: dict, scale: str | None = None):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(columns)
    if scale is not None:
        table = table.replace_schema_metadata({b"recsys.rating_scale": scale.encode()})
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize("name, content, options, words", [
    ("nan.csv", "userId,movieId,rating\n1,2,4\n1,3,NaN\n", (), ("rating is missing (NaN)",
                                                                 "user 1, item 3")),
    ("word.csv", "userId,movieId,rating\n1,2,4\n1,3,good\n", (), ("'good' is not a number",)),
    ("scale.csv", "userId,movieId,rating\n1,2,4\n1,3,7\n", ("--scale", "1,5"),
     ("rating 7 is outside the rating scale [1, 5]",)),
    ("noid.csv", "userId,movieId,rating\n1,2,4\n,3,5\n", (), ("missing user id",)),
    ("empty.csv", "", (), ("the file is empty",)),
    ("header.csv", "userId,movieId,rating\n", (), ("no ratings found",)),
])
def test_bad_files_are_one_line(engine, tmp_path, name, content, options, words):
    path = tmp_path / name
    path.write_text(content)
    result = run("fit", "--engine", "spark", "--master", MASTER, "--reader", "spark",
                 "--data", path, "--validation", 0, *options, "-o", tmp_path / "m.npz")
    assert_one_clean_error(result, 1, name, *words)
    assert not (tmp_path / "m.npz").exists()


def test_bad_parquet_files_are_one_line(engine, tmp_path):
    outside = _parquet(tmp_path / "outside.parquet",
                       {"user": [1, 2], "item": [3, 4], "rating": [4.0, 9.0]}, "1.0,5.0")
    unknown = _parquet(tmp_path / "columns.parquet",
                       {"user": [1], "item": [3], "foo": [4.0], "bar": [1.0], "baz": [2]})
    empty = _parquet(tmp_path / "empty.parquet",
                     {"user": pd.array([], dtype="int64"), "item": pd.array([], dtype="int64"),
                      "rating": pd.array([], dtype="float64")})
    nan = _parquet(tmp_path / "nan.parquet",
                   {"user": [1, 2], "item": [3, 4], "rating": [4.0, float("nan")]})
    for path, words in ((outside, ("rating 9 is outside the rating scale [1, 5]",)),
                        (unknown, ("cannot tell which column holds the rating",)),
                        (empty, ("no ratings found",)),
                        (nan, ("rating is missing (NaN)", "user 2, item 4"))):
        result = run("fit", "--engine", "spark", "--master", MASTER, "--data", path,
                     "--validation", 0, "-o", tmp_path / "m.npz")
        assert_one_clean_error(result, 1, path.name, *words)


def test_reader_choice(engine, tmp_path):
    assert_one_clean_error(run("fit", "--engine", "spark", "--master", MASTER, "--reader",
                               "spark"), 1, "--reader spark", "bundled")
    with pytest.raises(RecsysError, match="recsys.load"):
        engine.read(tmp_path)  # a folder without Parquet parts
