"""The Netflix Prize reader on small folders in the exact layouts, written by the tests."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import recsys
from recsys.data.netflix import find_netflix_files, load_probe_split, read_movie_titles
from recsys.data.predefined_splits import load_predefined_split
from recsys.data.ratings import DuplicateRatingsWarning
from recsys.errors import DataError

from _cli import assert_one_clean_error, run

# movie -> [(customer, rating, date)]
BLOCKS = {
    1: [(1488844, 3, "2005-09-06"), (822109, 5, "2005-05-13"), (885013, 4, "2005-10-19")],
    2: [(2059652, 4, "2005-09-05"), (1488844, 1, "2004-02-29")],
    30: [(822109, 2, "1999-11-11"), (6, 5, "2005-12-31"), (885013, 3, "2003-01-01")],
}
TITLES = ("1,2003,Dinosaur Planet\r\n2,NULL,Isle of Man TT 2004 Review\r\n"
          "30,1999,Am\u00e9lie, or: Something, with commas\r\n")
PROBE = "1:\n1488844\n30:\n6\n822109\n"


def _block(movie: int, rows) -> str:
    return f"{movie}:\n" + "".join(f"{c},{r},{d}\n" for c, r, d in rows)


def _write(folder: Path, layout: str = "combined", probe: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if layout == "combined":
        (folder / "combined_data_1.txt").write_text(_block(1, BLOCKS[1]) + _block(2, BLOCKS[2]))
        (folder / "combined_data_2.txt").write_text(_block(30, BLOCKS[30]))
    else:
        (folder / "training_set").mkdir()
        for movie, rows in BLOCKS.items():
            (folder / "training_set" / f"mv_{movie:07d}.txt").write_text(_block(movie, rows))
    (folder / "movie_titles.csv").write_bytes(TITLES.encode("latin-1"))
    if probe:
        (folder / "probe.txt").write_text(PROBE)
    return folder


def _triples(r) -> set:
    return {(int(r.user_ids[u]), int(r.item_ids[i]), float(x), int(t))
            for u, i, x, t in zip(r.users, r.items, r.ratings, r.timestamps)}


def _expected() -> set:
    return {(c, m, float(r), int(pd.Timestamp(d, tz="UTC").timestamp()))
            for m, rows in BLOCKS.items() for c, r, d in rows}


@pytest.mark.parametrize("layout", ["combined", "training_set"])
def test_both_layouts_read_every_rating_with_titles(tmp_path, layout):
    folder = _write(tmp_path / "nf", layout)
    r = recsys.load(folder)
    assert len(r) == 8 and r.n_users == 5 and r.n_items == 3
    assert _triples(r) == _expected()
    assert r.rating_scale == (1.0, 5.0)
    assert r.item_info.loc[30, "title"] == "Am\u00e9lie, or: Something, with commas"
    assert np.isnan(r.item_info.loc[2, "year"]) and r.item_info.loc[1, "year"] == 2003
    assert list(r.item_titles()) == ["Dinosaur Planet", "Isle of Man TT 2004 Review",
                                     "Am\u00e9lie, or: Something, with commas"]


def test_original_archive_layout_under_download(tmp_path):
    _write(tmp_path / "nf_prize_dataset" / "download", "training_set")
    assert len(recsys.load(tmp_path / "nf_prize_dataset")) == 8


def test_probe_split_shares_id_maps_and_partitions(tmp_path):
    folder = _write(tmp_path / "nf")
    train, probe = load_probe_split(folder)
    assert len(train) + len(probe) == 8 and len(probe) == 3
    assert train.user_ids is probe.user_ids or np.array_equal(train.user_ids, probe.user_ids)
    assert np.array_equal(train.item_ids, probe.item_ids)
    held = {(int(probe.user_ids[u]), int(probe.item_ids[i])) for u, i in
            zip(probe.users, probe.items)}
    assert held == {(1488844, 1), (6, 30), (822109, 30)}
    kept = {(int(train.user_ids[u]), int(train.item_ids[i])) for u, i in
            zip(train.users, train.items)}
    assert not kept & held
    same = load_predefined_split(folder, "probe")
    assert [len(p) for p in same] == [5, 3]


def test_probe_pair_without_a_rating_is_named(tmp_path):
    folder = _write(tmp_path / "nf")
    (folder / "probe.txt").write_text("2:\n6\n")
    with pytest.raises(DataError, match=r"probe.txt: customer 6's rating of movie 2"):
        load_probe_split(folder)


def test_probe_needs_probe_txt(tmp_path):
    folder = _write(tmp_path / "nf", probe=False)
    with pytest.raises(DataError, match="no probe.txt"):
        load_probe_split(folder)


def test_netflix_name_says_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for call in (lambda: recsys.load("netflix"), lambda: load_predefined_split("netflix", "probe")):
        with pytest.raises(DataError) as info:
            call()
        message = str(info.value)
        assert "kaggle.com" in message and "archive.org" in message and "\n" not in message
    result = run("data", "info", "netflix")
    assert_one_clean_error(result, 1, "Kaggle", "archive.org")


@pytest.mark.parametrize("content, line, words", [
    ("6,3,2005-09-06\n1:\n", 1, ["before any 'MovieID:'"]),
    ("1:\n6,3,2005-09-06\n7,4,2005-13-01\n", 3, ["date '2005-13-01'", "YYYY-MM-DD"]),
    ("1:\n6,3,2005-02-29\n", 2, ["date '2005-02-29'"]),
    ("1:\n6,3,2005-09-06\n\n7,6,2005-09-06\n", 4, ["rating 6 is outside", "[1, 5]"]),
    ("1:\n6,0,2005-09-06\n", 2, ["rating 0 is outside"]),
    ("1:\n6,3.5,2005-09-06\n", 2, ["expected CustomerID,Rating,Date", "'6,3.5,2005-09-06'"]),
    ("1:\n6;3;2005-09-06\n", 2, ["expected CustomerID,Rating,Date"]),
    ("1:\n6,3\n", 2, ["expected CustomerID,Rating,Date"]),
    ("x1:\n6,3,2005-09-06\n", 1, ["not a 'MovieID:' line"]),
])
def test_malformed_line_gives_file_and_line(tmp_path, content, line, words):
    folder = tmp_path / "nf"
    folder.mkdir()
    (folder / "combined_data_1.txt").write_text(_block(5, [(9, 4, "2001-01-01")]))
    (folder / "combined_data_2.txt").write_text(content)
    with pytest.raises(DataError) as info:
        recsys.load(folder)
    message = str(info.value)
    assert message.startswith(f"{folder / 'combined_data_2.txt'}, line {line}: "), message
    assert "\n" not in message
    for word in words:
        assert word in message, message
    assert_one_clean_error(run("data", "info", folder), 1, f"line {line}")


def test_crlf_blank_lines_and_last_line_without_newline(tmp_path):
    folder = tmp_path / "nf"
    folder.mkdir()
    (folder / "combined_data_1.txt").write_bytes(b"\r\n1:\r\n6,3,2005-09-06\r\n\r\n2:\r\n6,4,"
                                                 b"2005-09-07")
    r = recsys.load(folder)
    assert sorted(r.ratings.tolist()) == [3.0, 4.0] and r.item_info is None


def test_rating_scale_narrows_the_stars(tmp_path):
    folder = _write(tmp_path / "nf")
    with pytest.raises(DataError, match="rating 1 is outside the rating scale \\[2, 5\\]"):
        recsys.load(folder, rating_scale=(2, 5))
    assert recsys.load(folder, rating_scale=(0.5, 5)).rating_scale == (0.5, 5.0)


def test_duplicate_pairs_keep_the_last(tmp_path):
    folder = tmp_path / "nf"
    folder.mkdir()
    (folder / "combined_data_1.txt").write_text("1:\n6,3,2005-09-06\n6,5,2005-09-07\n"
                                                "2:\n6,2,2005-09-06\n")
    (folder / "combined_data_2.txt").write_text("1:\n7,1,2005-09-06\n2:\n6,4,2005-09-06\n")
    with pytest.warns(DuplicateRatingsWarning, match="2 duplicate"):
        r = recsys.load(folder)
    got = {(int(r.user_ids[u]), int(r.item_ids[i])): float(x)
           for u, i, x in zip(r.users, r.items, r.ratings)}
    assert got == {(6, 1): 5.0, (6, 2): 4.0, (7, 1): 1.0}


def test_no_duplicates_no_warning(tmp_path):
    folder = _write(tmp_path / "nf")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        recsys.load(folder)


def test_empty_folder_and_empty_files(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert find_netflix_files(empty) is None
    with pytest.raises(DataError):
        recsys.load(empty)
    (empty / "training_set").mkdir()
    with pytest.raises(DataError, match="no mv_\\*.txt files"):
        recsys.load(empty)
    blank = tmp_path / "blank"
    blank.mkdir()
    (blank / "combined_data_1.txt").write_text("1:\n\n")
    with pytest.raises(DataError, match="no ratings found"):
        recsys.load(blank)
    assert_one_clean_error(run("data", "info", blank), 1, "no ratings found")


def test_unpacked_tar_is_asked_for(tmp_path):
    folder = tmp_path / "nf"
    folder.mkdir()
    (folder / "training_set.tar").write_bytes(b"")
    with pytest.raises(DataError, match="tar -xf"):
        recsys.load(folder)


def test_bad_titles_line_is_named(tmp_path):
    path = tmp_path / "movie_titles.csv"
    path.write_bytes(b"1,2003,Fine\n2,circa 1990,Bad year\n")
    with pytest.raises(DataError, match=r"movie_titles.csv, line 2: .*NULL"):
        read_movie_titles(path)
    path.write_bytes(b"1,2003,Fine\n2003\n")
    with pytest.raises(DataError, match=r"line 2: expected MovieID,Year,Title"):
        read_movie_titles(path)


def test_cli_info_and_fit_read_the_folder(tmp_path):
    folder = _write(tmp_path / "nf")
    result = run("data", "info", folder)
    assert result.exit_code == 0, result.output
    assert "ratings      8" in result.output and "Dinosaur Planet" in result.output


def test_evaluate_on_the_probe_split(tmp_path):
    """`recsys evaluate --split probe` scores the probe ratings of a Netflix Prize folder, and
    refuses the split for any other data in one line."""
    import json

    from click.testing import CliRunner

    from recsys.cli import main

    folder = _write(tmp_path / "nf")
    result = CliRunner().invoke(main, ["evaluate", "--data", str(folder), "--split", "probe",
                                       "--models", "baseline", "-o", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert "netflix" in json.dumps(report) and "probe" in json.dumps(report)
    wrong = CliRunner().invoke(main, ["evaluate", "--split", "probe", "--models", "baseline"])
    assert wrong.exit_code != 0 and "exists only for a Netflix Prize folder" in wrong.output
    assert "Traceback" not in wrong.output
