"""Reading a user's own ratings file: formats, column guessing, line-numbered errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.data import delimited
from recsys.data.files import read_ratings_file
from recsys.data.ratings import DuplicateRatingsWarning
from recsys.data.sniff import guess_columns, sniff_format
from recsys.errors import DataError


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(
    "name, text",
    [
        ("r.csv", "userId,movieId,rating,timestamp\n1,10,4.0,100\n2,10,3.5,200\n2,20,5,300\n"),
        ("r.tsv", "1\t10\t4\t100\n2\t10\t3.5\t200\n2\t20\t5\t300\n"),
        ("u1.base", "1\t10\t4\t100\n2\t10\t3.5\t200\n2\t20\t5\t300\n"),
        ("ratings.dat", "1::10::4::100\n2::10::3.5::200\n2::20::5::300\n"),
        ("r.txt", "user|item|score|time\n1|10|4|100\n2|10|3.5|200\n2|20|5|300\n"),
        ("r.psv", "1;10;4;100\n2;10;3.5;200\n2;20;5;300\n"),
        ("r.ws", "1 10 4 100\n2  10 3.5 200\n2 20 5 300\n"),
        ("r2.csv", "timestamp,rating,item_id,user_id\n100,4,10,1\n200,3.5,10,2\n300,5,20,2\n"),
    ],
)
def test_formats_read_the_same_ratings(tmp_path, name, text):
    r = read_ratings_file(write(tmp_path, name, text))
    frame = r.to_dataframe().sort_values(["user", "item"]).reset_index(drop=True)
    assert frame["user"].tolist() == [1, 2, 2]
    assert frame["item"].tolist() == [10, 10, 20]
    assert np.allclose(frame["rating"], [4.0, 3.5, 5.0])
    assert frame["timestamp"].tolist() == [100, 200, 300]
    assert r.name == name
    assert r.rating_scale == (3.5, 5.0)  # read from the data when not given


def test_headerless_three_columns_and_given_scale(tmp_path):
    r = read_ratings_file(write(tmp_path, "a.csv", "1,2,3\n1,3,4\n"), rating_scale=(1, 5))
    assert len(r) == 2 and r.timestamps is None
    assert r.rating_scale == (1.0, 5.0)


def test_string_ids_and_fast_dtypes(tmp_path):
    r = read_ratings_file(write(tmp_path, "s.csv", "user,item,rating\nalice,Heat,5\nbob,Heat,2\n"))
    assert set(r.user_ids) == {"alice", "bob"}
    r2 = read_ratings_file(write(tmp_path, "n.csv", "user,item,rating\n1,2,5\n3,2,2\n"))
    assert r2.user_ids.dtype == np.int32 and r2.ratings.dtype == np.float32


def test_latin1_file(tmp_path):
    r = read_ratings_file(write(tmp_path, "l.csv", "user,item,rating\nJosé,Amélie,5\nAnn,Amélie,4\n",
                                encoding="latin-1"))
    assert "José" in set(r.user_ids)


def test_overrides(tmp_path):
    path = write(tmp_path, "o.csv", "a,b,c,d\n1,2,3,4\n5,6,7,8\n")
    r = read_ratings_file(path, user="b", item="a", rating="c", timestamp=None)
    assert sorted(r.user_ids.tolist()) == [2, 6]
    with pytest.raises(DataError, match="no column 'zz'"):
        read_ratings_file(path, user="zz")


@pytest.mark.parametrize(
    "text, line, what",
    [
        ("userId,movieId,rating\n1,2,3\n1,3,4,9\n", 3, "expected 3 fields, found 4"),
        ("userId,movieId,rating\n1,2,3\n1,3\n", 3, "missing rating"),
        ("userId,movieId,rating\n1,2,3\n1,3,great\n", 3, "'great' is not a number"),
        ("userId,movieId,rating\n1,2,3\n1,3,4\n2,3,nan\n", 4, "rating is missing (NaN)"),
        ("1\t2\t3\n1\t3\tx\n", 2, "'x' is not a number"),
        ("1::2::3\n1::3::4\n1::4::5::6::7\n", 3, "expected 3 fields, found 5"),
        ("1::2::3\n1::3::4\n1:4::5\n", 3, "a single ':'"),
        ("userId,movieId,rating\n1,2,3\n\n1,3,4\n", 3, "empty line"),
        ("userId,movieId,rating\n1,2,3\n,3,4\n", 3, "missing userId"),
    ],
)
def test_errors_name_file_and_line(tmp_path, text, line, what):
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(DataError) as info:
        read_ratings_file(path)
    message = str(info.value)
    assert f"{path}, line {line}:" in message
    assert what in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "text, line, what",
    [
        ("1\t2\t3\n1\t3\t4\t5\n", 2, "expected 3 fields, found 4"),
        ("1 2 3\n1  3 4 \n1 3 4 5\n", 3, "expected 3 fields, found 4"),
        ("userId,movieId,rating\r\n1,2,3\r\n1,3,4,9\r\n", 3, "expected 3 fields, found 4"),
        ("1,2,3\r1,3,4,9\r", 2, "expected 3 fields, found 4"),
        ("\n\nuserId,movieId,rating\n1,2,3\n1,3,4,9\n", 5, "expected 3 fields, found 4"),
        ('user,item,rating\n1,"a,\nb",3\n1,3,4,5\n', 3, "expected 3 fields, found 4"),
        ('user,item,rating\n1,"a "",b",3\n1,x"y,3,5\n', 3, "expected 3 fields, found 4"),
        ("1|2|3\n1|3|4|5|6\n", 2, "expected 3 fields, found 5"),
        ("1::2::3\n1::4::5:6\n", 2, "expected 3 fields, found 3"),
        ('userId,movieId,rating\n1,2,3\n1,"abc,3\n2,3,4\n', 3, "never closed"),
        ("1,2,3\n" * 30_000 + '1,"2,3\n' + "1,2,3\n" * 10, 30_001, "never closed"),
        ("1,2,3\n" * 30_000 + "1,2,3,4\n", 30_001, "expected 3 fields, found 4"),
    ],
)
def test_a_line_pandas_cannot_parse_is_found_by_our_own_scan(tmp_path, text, line, what):
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(DataError) as info:
        read_ratings_file(path)
    assert f"{path}, line {line}: " in str(info.value) and what in str(info.value)


def test_parser_messages_do_not_depend_on_the_wording_of_pandas(tmp_path, monkeypatch):
    real = delimited.pd.read_csv

    def reworded(*args, **kwargs):
        try:
            return real(*args, **kwargs)
        except delimited.pd.errors.ParserError:
            raise delimited.pd.errors.ParserError("the parser failed (new wording)") from None

    monkeypatch.setattr(delimited.pd, "read_csv", reworded)
    for text, line, what in [("user,item,rating\n1,2,3\n1,3,4,9\n", 3, "expected 3 fields"),
                             ('u,i,r\n1,2,3\n1,"abc,3\n2,3,4\n', 3, "never closed")]:
        path = write(tmp_path, "bad.csv", text)
        with pytest.raises(DataError, match=f"bad.csv, line {line}: .*{what}"):
            read_ratings_file(path)


def test_find_bad_record_counts_records_as_pandas_does():
    find = delimited.find_bad_record
    assert find(["1,2,3", "1,2,3"], sep=",", width=3) is None
    assert find(["1,2,3,4", "1,2,3", "1,2,3,4"], sep=",", width=3) is None  # index column
    assert find(["1,2,3,4", "1,2,3,4,5"], sep=",", width=3) == (2, 5)
    assert find(["h,h", "1,2,3", "1,2,3,4"], sep=",", width=3, skip=1) == (3, 4)
    assert find(['1,"a\n', '"" b",3\n', "1,2\n", "1,2,3,4"], sep=",", width=3) == (3, 4)
    assert find(["1,2,3", '1,"2,3', "4,5,6"], sep=",", width=3) == (2, None)
    assert find(['1\t"2\t3', "4\t5\t6"], sep="\t", width=3) is None  # no quoting
    assert find([" 1 2\t3 ", "1 2 3 4"], sep=r"\s+", width=3) == (2, 4)


def test_out_of_scale_with_line(tmp_path):
    path = write(tmp_path, "s.csv", "userId,movieId,rating\n1,2,3\n1,3,6\n1,4,7\n")
    with pytest.raises(DataError, match=r"line 3: rating 6 is outside .*\(2 such"):
        read_ratings_file(path, rating_scale=(1, 5))


@pytest.mark.parametrize("text", ["", "\n\n", "userId,movieId,rating\n"])
def test_empty_files(tmp_path, text):
    with pytest.raises(DataError, match="empty|no ratings"):
        read_ratings_file(write(tmp_path, "e.csv", text))


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_ratings_file(tmp_path / "nope.csv")


def test_trailing_blank_lines_are_fine(tmp_path):
    r = read_ratings_file(write(tmp_path, "t.csv", "1,2,3\n1,3,4\n\n\n"))
    assert len(r) == 2


def test_duplicates_keep_last_and_warn(tmp_path):
    path = write(tmp_path, "d.csv", "userId,movieId,rating\n1,2,3\n1,2,5\n2,2,1\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = read_ratings_file(path)
    assert any(issubclass(w.category, DuplicateRatingsWarning) for w in caught)
    assert len(r) == 2
    assert r.ratings[r.encode_users([1])[0] == r.users].tolist() == [5.0]


def test_unguessable_columns(tmp_path):
    path = write(tmp_path, "u.csv", "alpha,beta,gamma,delta,epsilon\n1,2,3,4,5\n")
    with pytest.raises(DataError, match="cannot tell which column"):
        read_ratings_file(path)


def test_no_separator():
    with pytest.raises(DataError, match="separator"):
        sniff_format("12345")


ALIASES = {
    "user": ["userId", "user_id", "User", "UID", "customer_id"],
    "item": ["movieId", "itemId", "item_id", "Movie", "item"],
    "rating": ["rating", "Score", "stars", "rating_value"],
    "timestamp": ["timestamp", "time", "TS", "unix_time"],
}


@settings(max_examples=60, deadline=None)
@given(
    picks=st.fixed_dictionaries({k: st.sampled_from(v) for k, v in ALIASES.items()}),
    order=st.permutations(["user", "item", "rating", "timestamp"]),
    with_ts=st.booleans(),
)
def test_guess_columns_finds_every_alias_in_any_order(picks, order, with_ts):
    roles = [r for r in order if with_ts or r != "timestamp"]
    names = [picks[r] for r in roles]
    found = guess_columns(names)
    for role in roles:
        assert found[role] == picks[role]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    order=st.permutations(["userId", "movieId", "rating", "timestamp"]),
    sep=st.sampled_from([",", "\t", "|", ";", "::"]),
    rows=st.lists(
        st.tuples(st.integers(1, 50), st.integers(1, 50), st.integers(1, 10),
                  st.integers(0, 2**31)),
        min_size=1, max_size=30, unique_by=lambda t: (t[0], t[1]),
    ),
)
def test_round_trip_any_header_order_and_separator(tmp_path, order, sep, rows):
    lines = [sep.join(order)]
    for user, item, half_stars, ts in rows:
        value = {"userId": user, "movieId": item, "rating": half_stars / 2, "timestamp": ts}
        lines.append(sep.join(str(value[c]) for c in order))
    path = write(tmp_path, "h.txt", "\n".join(lines) + "\n")
    r = read_ratings_file(path, rating_scale=(0.5, 5))
    frame = r.to_dataframe().sort_values(["user", "item"])
    expected = sorted(rows)
    assert frame["user"].tolist() == [t[0] for t in expected]
    assert frame["item"].tolist() == [t[1] for t in expected]
    assert np.allclose(frame["rating"], [t[2] / 2 for t in expected])
    assert frame["timestamp"].tolist() == [t[3] for t in expected]


def test_ids_beyond_int32_after_the_sample_stay_integers(tmp_path):
    body = "".join(f"{k},{k},3\n" for k in range(1, 20_000))  # more than the sniffed head
    path = write(tmp_path, "big.csv", "user,item,rating\n" + body + "3000000000,5,4\n")
    r = read_ratings_file(path)
    assert r.user_ids.dtype == np.int64 and r.user_ids[-1] == 3_000_000_000
    bad = write(tmp_path, "bad.csv", "user,item,rating\n" + body + "7,5,four\n")
    with pytest.raises(DataError, match="line 20001: rating 'four' is not a number"):
        read_ratings_file(bad)
