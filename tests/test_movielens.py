"""The MovieLens registry and readers, on small files written in each release's format."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.data.loading import load
from recsys.data.movielens import parse_year, read_release
from recsys.data.predefined_splits import FOLDS, load_predefined_split
from recsys.data.release_files import ReleaseFiles, check_member_names
from recsys.data.releases import REGISTRY, get_release
from recsys.errors import DataError

ML100K = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-100k"


def zip_folder(folder: Path, target: Path, inner: str) -> Path:
    """Zip every file of ``folder`` under ``inner/`` (as GroupLens zips are laid out)."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{inner}/", "")
        for path in sorted(folder.iterdir()):
            archive.write(path, f"{inner}/{path.name}")
    return target


# ---------------------------------------------------------------- writers, one per layout
def write_100k(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [(1, 1, 5, 881250949), (1, 2, 3, 881250950), (2, 1, 4, 881250951),
            (2, 3, 1, 881250952), (3, 2, 2, 881250953), (3, 3, 4, 881250954)]
    (folder / "u.data").write_text("".join("\t".join(map(str, r)) + "\n" for r in rows))
    (folder / "u1.base").write_text("".join("\t".join(map(str, r)) + "\n" for r in rows[:4]))
    (folder / "u1.test").write_text("".join("\t".join(map(str, r)) + "\n" for r in rows[4:]))
    flags = {1: [0, 0, 0, 1, 1, 1] + [0] * 13, 2: [0, 1, 1] + [0] * 16, 3: [1] + [0] * 18}
    items = [
        (1, "Toy Story (1995)", "01-Jan-1995"),
        (2, "Misérables, Les (1995)", "01-Jan-1995"),
        (3, "Untitled", "01-Jan-1971"),
    ]
    lines = [f"{i}|{t}|{d}||http://x?{i}|" + "|".join(map(str, flags[i])) + "\n"
             for i, t, d in items]
    (folder / "u.item").write_bytes("".join(lines).encode("latin-1"))
    (folder / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n"
                                   "3|23|M|writer|32067\n")
    return folder


def write_1m(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.dat").write_text("1::1193::5::978300760\n1::661::3::978302109\n"
                                        "2::1193::4::978298413\n")
    (folder / "movies.dat").write_bytes(
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::Star Wars: Episode IV - A New Hope (1977)::Action|Sci-Fi\n"
        "7::Amélie (2001)::Comedy|Romance\n".encode("latin-1"))
    (folder / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n")
    return folder


def write_10m(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.dat").write_text("1::122::5::838985046\n1::185::4.5::838983525\n"
                                        "3::122::0.5::1133571273\n")
    (folder / "movies.dat").write_text("122::Boomerang (1992)::Comedy|Romance\n"
                                       "185::Net, The (1995)::Action|Crime|Thriller\n")
    (folder / "tags.dat").write_text("15::4973::excellent!::1215184630\n")
    return folder


def write_csv(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n"
                                        "1,3,0.5,964981247\n2,1,5.0,964982224\n"
                                        "3,151,3.5,1493846352\n")
    (folder / "movies.csv").write_text(
        "movieId,title,genres\n"
        '1,Toy Story (1995),Adventure|Animation|Children\n'
        '3,"American President, The (1995)",Comedy|Drama|Romance\n'
        '151,"Family Guy (2006–2007) ",(no genres listed)\n'
        '9,Babylon 5,Sci-Fi\n'
    )
    (folder / "links.csv").write_text("movieId,imdbId,tmdbId\n1,0114709,862\n")
    return folder


# ---------------------------------------------------------------- registry
def test_registry_lists_every_release():
    assert set(REGISTRY) == {"ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-32m",
                             "ml-latest-small", "ml-latest"}
    for name, release in REGISTRY.items():
        assert release.url() == f"https://files.grouplens.org/datasets/movielens/{name}.zip"
        assert release.size_mb > 0 and release.licence
    assert REGISTRY["ml-10m"].folder == "ml-10M100K"
    assert REGISTRY["ml-1m"].layout.sep == "::" and REGISTRY["ml-10m"].layout.sep == "::"
    assert REGISTRY["ml-100k"].layout.encoding == "latin-1"
    assert REGISTRY["ml-100k"].rating_scale == (1.0, 5.0) == REGISTRY["ml-1m"].rating_scale
    for name in ("ml-10m", "ml-20m", "ml-25m", "ml-32m", "ml-latest", "ml-latest-small"):
        assert REGISTRY[name].rating_scale == (0.5, 5.0)
    assert not any(REGISTRY[n].redistributable for n in ("ml-100k", "ml-1m", "ml-10m"))
    assert REGISTRY["ml-latest-small"].redistributable
    assert (REGISTRY["ml-100k"].n_ratings, REGISTRY["ml-100k"].n_users,
            REGISTRY["ml-100k"].n_movies) == (100_000, 943, 1_682)
    assert (REGISTRY["ml-1m"].n_ratings, REGISTRY["ml-1m"].n_users,
            REGISTRY["ml-1m"].n_rated_items) == (1_000_209, 6_040, 3_706)
    assert (REGISTRY["ml-latest-small"].n_ratings, REGISTRY["ml-latest-small"].n_users,
            REGISTRY["ml-latest-small"].n_movies) == (100_836, 610, 9_742)
    assert REGISTRY["ml-latest"].n_ratings is None and not REGISTRY["ml-latest"].stable
    assert REGISTRY["ml-1m"].url("http://127.0.0.1:9/x/") == "http://127.0.0.1:9/x/ml-1m.zip"


def test_unknown_release_names_the_known_ones():
    with pytest.raises(DataError, match="ml-100k"):
        get_release("ml-7m")


# ---------------------------------------------------------------- readers
@pytest.mark.parametrize("as_zip", [False, True])
def test_read_100k(tmp_path, as_zip):
    folder = write_100k(tmp_path / "ml-100k")
    source = zip_folder(folder, tmp_path / "ml-100k.zip", "ml-100k") if as_zip else folder
    r = read_release(source)
    assert r.name == "ml-100k" and len(r) == 6 and r.rating_scale == (1.0, 5.0)
    assert r.timestamps is not None and r.timestamps.dtype == np.int64
    assert r.users.dtype == np.int32 and r.ratings.dtype == np.float32
    items = r.item_info
    assert items.loc[2, "title"] == "Misérables, Les (1995)"  # Latin-1 decoded
    assert items.loc[1, "genres"] == "Animation|Children's|Comedy"
    assert items.loc[2, "genres"] == "Action|Adventure"
    assert items.loc[3, "genres"] == "unknown"
    assert items.loc[1, "year"] == 1995
    assert items.loc[3, "year"] == 1971  # no year in the title: the release date's
    users = r.user_info
    assert users.loc[2].tolist() == [53, "F", "other", "94043"]


def test_predefined_split_shares_one_encoding(tmp_path):
    folder = write_100k(tmp_path / "ml-100k")
    train, test = load_predefined_split(folder, "u1")
    assert (len(train), len(test)) == (4, 2)
    assert train.user_ids is test.user_ids and train.item_ids is test.item_ids
    assert train.n_users == 3 and train.n_items == 3
    frame = test.to_dataframe()
    assert frame[["user", "item"]].values.tolist() == [[3, 2], [3, 3]]
    assert train.item_info is not None and train.user_info is not None
    with pytest.raises(DataError, match="u9"):
        load_predefined_split(folder, "u9")
    with pytest.raises(DataError, match="u2.base is missing"):
        load_predefined_split(folder, "u2")
    assert FOLDS == ("u1", "u2", "u3", "u4", "u5", "ua", "ub")


def test_predefined_split_needs_ml100k(tmp_path):
    with pytest.raises(DataError, match="ML-100K"):
        load_predefined_split(write_csv(tmp_path / "x"), "u1")


@pytest.mark.parametrize("as_zip", [False, True])
def test_read_1m(tmp_path, as_zip):
    folder = write_1m(tmp_path / "ml-1m")
    source = zip_folder(folder, tmp_path / "ml-1m.zip", "ml-1m") if as_zip else folder
    r = read_release(source)
    assert r.name == "ml-1m" and len(r) == 3 and r.rating_scale == (1.0, 5.0)
    assert sorted(r.item_ids.tolist()) == [661, 1193]
    items = r.item_info
    assert items.loc[661, "title"] == "Star Wars: Episode IV - A New Hope (1977)"
    assert items.loc[661, "genres"] == "Action|Sci-Fi" and items.loc[661, "year"] == 1977
    assert items.loc[7, "title"] == "Amélie (2001)"
    users = r.user_info
    assert users.loc[1, "age"] == 1 and users.loc[1, "occupation"] == "K-12 student"
    assert users.loc[2, "gender"] == "M" and users.loc[2, "occupation"] == "self-employed"


def test_read_10m_zip_with_its_odd_folder(tmp_path):
    folder = write_10m(tmp_path / "src")
    r = read_release(zip_folder(folder, tmp_path / "ml-10m.zip", "ml-10M100K"))
    assert r.name == "ml-10m" and r.rating_scale == (0.5, 5.0)
    assert sorted(r.ratings.tolist()) == [0.5, 4.5, 5.0]
    assert r.item_info.loc[185, "title"] == "Net, The (1995)"
    assert r.user_info is None


@pytest.mark.parametrize("inner", ["ml-20m", "ml-25m", "ml-latest", "ml-latest-small"])
def test_read_csv_releases(tmp_path, inner):
    folder = write_csv(tmp_path / "src")
    r = read_release(zip_folder(folder, tmp_path / f"{inner}.zip", inner))
    assert r.name == inner and len(r) == 4 and r.rating_scale == (0.5, 5.0)
    items = r.item_info
    assert items.loc[3, "title"] == "American President, The (1995)"
    assert items.loc[151, "title"] == "Family Guy (2006–2007)"
    assert items.loc[151, "year"] == 2006 and items.loc[151, "genres"] == ""
    assert np.isnan(items.loc[9, "year"])
    assert r.item_titles()[r.item_of(1)] == "Toy Story (1995)"


def test_unpacked_release_one_folder_down(tmp_path):
    write_10m(tmp_path / "root" / "ml-10M100K")
    assert read_release(tmp_path / "root").name == "ml-10m"


def test_malformed_release_line_is_named(tmp_path):
    folder = write_1m(tmp_path / "ml-1m")
    with open(folder / "ratings.dat", "a") as f:
        f.write("3::1193::five::978300760\n")
    archive = zip_folder(folder, tmp_path / "ml-1m.zip", "ml-1m")
    with pytest.raises(DataError, match=r"ml-1m\.zip:ml-1m/ratings\.dat, line 4: rating 'five'"):
        read_release(archive)


def test_out_of_scale_release_rating(tmp_path):
    folder = write_100k(tmp_path / "ml-100k")
    with open(folder / "u.data", "a") as f:
        f.write("9\t9\t6\t881250949\n")
    with pytest.raises(DataError, match=r"u\.data, line 7: rating 6 is outside"):
        read_release(folder)


def test_not_a_release(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="not a MovieLens release"):
        read_release(tmp_path / "d")
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(DataError, match="not a readable zip"):
        read_release(tmp_path / "bad.zip")


@pytest.mark.parametrize("member", ["../evil", "ml-100k/../../evil", "/etc/evil", "C:/evil",
                                    "..\\evil"])
def test_zip_with_escaping_member_is_rejected(tmp_path, member):
    folder = write_100k(tmp_path / "ml-100k")
    archive = zip_folder(folder, tmp_path / "ml-100k.zip", "ml-100k")
    with zipfile.ZipFile(archive, "a") as z:
        z.writestr(member, "x")
    with pytest.raises(DataError, match="unsafe member path"):
        read_release(archive)
    with pytest.raises(DataError):
        check_member_names([member], "a.zip")
    check_member_names(["ml-100k/u.data", "ml-100k/", "a..b/c"], "a.zip")


def test_release_files_labels(tmp_path):
    folder = write_csv(tmp_path / "ml-latest-small")
    with ReleaseFiles(folder) as files:
        assert files.layout.kind == "csv" and files.find("movies.csv") == "movies.csv"
        assert files.label("ratings.csv").endswith("ratings.csv")


# ---------------------------------------------------------------- titles
@settings(max_examples=80, deadline=None)
@given(
    title=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40),
    year=st.integers(1000, 2999),
    end=st.sampled_from(["", " ", "-2001", "\u20132012", "\u2013"]),
)
def test_parse_year_takes_the_trailing_year(title, year, end):
    text = f"{title} ({year}{end.strip()}){' ' if end == ' ' else ''}"
    assert parse_year(pd.Series([text])).iloc[0] == year


@settings(max_examples=50, deadline=None)
@given(title=st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="()"),
                     max_size=40))
def test_parse_year_nan_without_parenthesised_year(title):
    assert np.isnan(parse_year(pd.Series([title, f"{title} (12)"])).to_numpy()).all()


# ---------------------------------------------------------------- real data
def test_bundled_latest_small():
    r = load()
    assert r.name == "ml-latest-small" and r.rating_scale == (0.5, 5.0)
    assert len(r.item_info) == 9_742
    assert (len(r), r.n_users, r.n_items) == (100_836, 610, 9_724)  # as its README says
    assert r.item_info.loc[1, "title"] == "Toy Story (1995)"


@pytest.mark.skipif(not ML100K.is_dir(), reason="ML-100K not present in ../shared/datasets")
def test_shared_ml100k_counts_and_u1_split():
    r = read_release(ML100K)
    assert (len(r), r.n_users, r.n_items) == (100_000, 943, 1_682)
    assert r.item_info.loc[1, "title"] == "Toy Story (1995)"
    assert len(r.user_info) == 943
    train, test = load_predefined_split(ML100K, "u1")
    assert (len(train), len(test)) == (80_000, 20_000)
    assert train.user_ids is test.user_ids
    pairs_train = set(zip(train.users.tolist(), train.items.tolist()))
    assert not pairs_train & set(zip(test.users.tolist(), test.items.tolist()))


def test_damaged_zip_member_is_a_data_error(tmp_path):
    folder = write_csv(tmp_path / "ml-latest-small")
    with open(folder / "ratings.csv", "a") as f:
        f.write("".join(f"{k},{k},4.0,964982703\n" for k in range(10, 3000)))
    archive = zip_folder(folder, tmp_path / "x.zip", "ml-latest-small")
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo("ml-latest-small/ratings.csv")
    data = bytearray(archive.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + 40
    for k in range(start, start + 30):
        data[k] ^= 0x5A
    archive.write_bytes(bytes(data))
    with pytest.raises(DataError, match="the zip file is damaged"):
        read_release(archive)


def test_ratings_naming_an_unknown_movie_are_kept_with_a_warning(tmp_path):
    from recsys.data.movielens import DanglingIdsWarning, read_release

    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    (folder / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,10\n2,1,3.0,20\n999,999999,5.0,30\n"
    )
    (folder / "movies.csv").write_text("movieId,title,genres\n1,Toy Story (1995),Comedy\n")
    with pytest.warns(DanglingIdsWarning, match="1 rating.*movie 999999"):
        ratings = read_release(folder)
    assert len(ratings) == 3
