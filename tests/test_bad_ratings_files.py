"""The catalogue of bad ratings files: each gives one DataError line naming the file (and the
line, where there is one) and what to do, or is read the documented way.

Everything goes through the library entry points ``recsys.data.loading.load`` and
``recsys.data.files.read_ratings_file``.
"""

from __future__ import annotations

import builtins
import warnings
from pathlib import Path

import numpy as np
import pytest

from recsys.data.files import read_ratings_file
from recsys.data.loading import load
from recsys.data.ratings import DuplicateRatingsWarning
from recsys.data.splits import holdout_split, kfold_splits, temporal_split, validation_split
from recsys.errors import DataError


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def expect(path: Path, *parts: str, line: int | None = None, reader=load, **kwargs) -> str:
    """Read ``path``, expect exactly DataError; check it is one line naming file and line."""
    with pytest.raises(DataError) as info:
        reader(path, **kwargs)
    assert type(info.value) is DataError
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert str(path) in message
    if line is not None:
        assert f"{path}, line {line}:" in message
    for part in parts:
        assert part in message, (part, message)
    return message


# ---------------------------------------------------------------------------- empty files
@pytest.mark.parametrize("data", [b"", b"\n\n  \n", b"\r\n\r\n"], ids=["empty", "blank", "crlf"])
def test_empty_file(tmp_path, data):
    expect(write(tmp_path, "e.csv", data), "the file is empty", "one rating per line")


@pytest.mark.parametrize("data", ["userId,movieId,rating\n", "userId,movieId,rating\n\n\n"])
def test_header_only(tmp_path, data):
    expect(write(tmp_path, "h.csv", data), "no data lines", "add one rating per line")


# ---------------------------------------------------------------------------- separators
def test_unguessable_separator_names_the_likely_one(tmp_path):
    path = write(tmp_path, "hash.txt", "1#10#4\n2#10#3\n")
    expect(path, "cannot find the field separator", "tried '::', tab", "pass sep='#'", line=1)
    # ... and passing it works, through both entry points
    assert len(load(path, sep="#")) == 2
    assert len(read_ratings_file(path, sep="#")) == 2


def test_single_column_file(tmp_path):
    expect(write(tmp_path, "one.txt", "12345\n678\n"), "cannot find the field separator",
           "user, item and rating on each line", line=1)


@pytest.mark.parametrize("reader", [load, read_ratings_file])
@pytest.mark.parametrize("sep, shown", [("\t", "tab"), (";", "';'")])
def test_given_separator_that_does_not_match(tmp_path, reader, sep, shown):
    path = write(tmp_path, "r.csv", "userId,movieId,rating\n1,10,4\n")
    expect(path, f"splitting on {shown} (the given sep)", "pass sep=','", "or leave it unset",
           line=1, reader=reader, sep=sep)


def test_single_colon_separator_is_guessed(tmp_path):
    r = load(write(tmp_path, "c.txt", "1:10:4\n2:10:3\n"))
    assert sorted(r.user_ids.tolist()) == [1, 2]


# ---------------------------------------------------------------------------- columns
def test_missing_rating_column_with_header(tmp_path):
    expect(write(tmp_path, "m.csv", "userId,movieId\n1,2\n"),
           "cannot tell which column holds the rating", "name the columns")


def test_missing_rating_column_without_header(tmp_path):
    expect(write(tmp_path, "m.csv", "1,2\n3,4\n"), "2 field(s)",
           "each line needs user, item and rating", line=1)


def test_short_line_names_its_line(tmp_path):
    expect(write(tmp_path, "s.csv", "1,2,3\n1,3\n"), "missing rating", "fill it in", line=2)


def test_partly_named_header_takes_the_rest_by_position(tmp_path):
    r = load(write(tmp_path, "p.csv", "u,i,rating\n1,10,4\n2,10,3\n"))
    assert sorted(r.user_ids.tolist()) == [1, 2] and r.item_ids.tolist() == [10]


def test_extra_columns_with_header_are_ignored(tmp_path):
    r = load(write(tmp_path, "x.csv",
                   "userId,movieId,rating,timestamp,tag,comment\n1,10,4,100,a,b\n2,10,3,200,c,d\n"))
    assert len(r) == 2 and sorted(r.timestamps.tolist()) == [100, 200]


def test_extra_columns_without_header_fourth_is_the_timestamp(tmp_path):
    r = load(write(tmp_path, "x.csv", "1,10,4,100,7,8\n2,10,3,200,9,9\n"))
    assert len(r) == 2 and sorted(r.timestamps.tolist()) == [100, 200]
    r = load(write(tmp_path, "d.csv", "1,10,4,2020-01-02\n2,10,3,2020-01-03\n"))
    assert sorted(r.timestamps.tolist()) == [1577923200, 1578009600]


@pytest.mark.parametrize("value, shown", [("soon", "'soon'"), ("10\x1c", "'10\\x1c'"),
                                          ("0001-01-10", "'0001-01-10'"), ("1e30", "'1e+30'"),
                                          ("nan", "'nan'")])
def test_fourth_column_that_is_no_timestamp(tmp_path, value, shown):
    # "10\x1c" parsed as a date of year 1 crashed the date conversion (found by fuzzing)
    expect(write(tmp_path, "t.csv", f"1,10,4,100\n2,10,3,{value}\n"),
           f"timestamp {shown} is not a number of seconds", "drop the column", line=2)


def test_duplicate_column_names(tmp_path):
    expect(write(tmp_path, "d.csv", "userId,movieId,rating,rating\n1,2,3,4\n"),
           "names a column twice", line=1)


# ---------------------------------------------------------------------------- ratings
@pytest.mark.parametrize(
    "value, what",
    [
        ("abc", "rating 'abc' is not a number"),
        ("4 stars", "rating '4 stars' is not a number"),
        ("nan", "rating is missing (NaN)"),
        ("NaN", "rating is missing (NaN)"),
        ("inf", "rating is infinite"),
        ("-inf", "rating is infinite"),
        ("1e300", "rating is"),  # beyond float32: infinite once stored
        ("", "missing rating"),
    ],
)
def test_bad_rating_values(tmp_path, value, what):
    expect(write(tmp_path, "r.csv", f"userId,movieId,rating\n1,2,3\n1,3,{value}\n"), what,
           line=3)


def test_rating_outside_a_given_scale(tmp_path):
    path = write(tmp_path, "s.csv", "1,2,3\n1,3,6\n")
    expect(path, "rating 6 is outside the rating scale [1, 5]", "rating_scale=(low, high)",
           line=2, rating_scale=(1, 5))


def test_scale_edges_are_inside_in_float32(tmp_path):
    r = load(write(tmp_path, "f.csv", "1,2,0.1\n1,3,0.3\n"), rating_scale=(0.1, 0.3))
    assert len(r) == 2


@pytest.mark.parametrize(
    "folder, member, text, scale, line",
    [
        ("ml-latest-small", "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4,9\n1,2,6,9\n",
         "[0.5, 5]", 3),
        ("ml-100k", "u.data", "1\t1\t4\t9\n1\t2\t0\t9\n", "[1, 5]", 2),
    ],
)
def test_rating_outside_a_movielens_release_scale(tmp_path, folder, member, text, scale, line):
    (tmp_path / folder).mkdir()
    path = write(tmp_path / folder, member, text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no movies file: dangling ids
        with pytest.raises(DataError) as info:
            load(tmp_path / folder)
    message = str(info.value)
    assert f"{path}, line {line}: rating" in message and f"outside the rating scale {scale}" in message


# ---------------------------------------------------------------------------- ids
def test_negative_ids_are_labels_that_round_trip(tmp_path):
    r = load(write(tmp_path, "n.csv", "-1,-20,3\n-5,7,4\n-1,7,5\n"))
    assert r.user_ids.dtype.kind == "i"
    frame = r.to_dataframe()
    assert sorted(zip(frame["user"], frame["item"])) == [(-5, 7), (-1, -20), (-1, 7)]
    assert r.user_ids[r.user_of(-5)] == -5 and r.item_ids[r.item_of("-20")] == -20


@pytest.mark.parametrize("big", ["9223372036854775808", "99999999999999999999",
                                 "-9223372036854775809"])
@pytest.mark.parametrize("where", ["head", "tail"])
def test_ids_beyond_int64_stay_exact_text(tmp_path, big, where):
    filler = "".join(f"{k},{k},3\n" for k in range(2, 8000)) if where == "tail" else ""
    path = write(tmp_path, "b.csv", f"{filler}{big},1,4\n1,1,2\n")
    r = load(path)
    assert r.user_ids.dtype == object  # text: nothing wrapped or rounded
    assert big in r.user_ids.tolist() and "1" in r.user_ids.tolist()
    assert r.ratings[r.users == r.user_of(big)].tolist() == [4.0]


def test_int64_extremes_stay_integers(tmp_path):
    top, bottom = 2**63 - 1, -(2**63)
    r = load(write(tmp_path, "b.csv", f"{top},1,4\n{bottom},1,2\n"))
    assert r.user_ids.dtype == np.int64 and sorted(r.user_ids.tolist()) == [bottom, top]


def test_mixed_ids_are_all_text(tmp_path):
    r = load(write(tmp_path, "m.csv", "1,10,4\n1.5,10,3\nNA,10,2\nnull,10,1\n"))
    assert sorted(r.user_ids.tolist()) == ["1", "1.5", "NA", "null"]


def test_missing_id_names_its_line(tmp_path):
    expect(write(tmp_path, "m.csv", "userId,movieId,rating\n1,2,3\n  ,3,4\n"),
           "missing userId", "fill it in or delete the line", line=3)


# ---------------------------------------------------------------------------- encodings
def test_non_utf8_bytes_are_read_as_latin1(tmp_path):
    r = load(write(tmp_path, "l.csv", b"user,item,rating\nj\xe9r\xf4me,Am\xe9lie,5\nann,x,4\n"))
    assert "jérôme" in r.user_ids.tolist() and "Amélie" in r.item_ids.tolist()


def test_non_utf8_bytes_after_the_sniffed_head(tmp_path):
    body = b"".join(b"u%d,i%d,3\n" % (k, k) for k in range(10_000))
    r = load(write(tmp_path, "l.csv", b"user,item,rating\n" + body + b"j\xe9r\xf4me,x,5\n"))
    assert "jérôme" in r.user_ids.tolist() and len(r) == 10_001


@pytest.mark.parametrize("end", [b"\r\n", b"\r"], ids=["crlf", "cr"])
@pytest.mark.parametrize("head", [b"userId,movieId,rating", b""], ids=["header", "no-header"])
@pytest.mark.parametrize("blank", [0, 2], ids=["", "blank-lines-first"])
def test_windows_and_old_mac_line_ends(tmp_path, end, head, blank):
    """Blank lines before the data are skipped, and with bare CR line ends no rating is lost
    (pandas, skipping rows, merged a CR-ended line with the next: the first rating vanished)."""
    lines = [b""] * blank + ([head] if head else []) + [b"1,10,4", b"2,10,3.5", b"alice,20,5"]
    r = load(write(tmp_path, "w.csv", end.join(lines) + end))
    assert len(r) == 3 and sorted(r.user_ids.tolist()) == ["1", "2", "alice"]
    assert sorted(r.ratings.tolist()) == [3.5, 4.0, 5.0]


@pytest.mark.parametrize("text", ["userId,movieId,rating\n1,10,4\n", "1,10,4\n",
                                  "1\t10\t4\n", "1::10::4\n"])
def test_byte_order_mark(tmp_path, text):
    r = load(write(tmp_path, "bom.txt", b"\xef\xbb\xbf" + text.encode() + b"2,10,3\n"
                   .replace(b",", {"\t": b"\t", ":": b"::"}.get(text[1], b","))))
    assert sorted(r.user_ids.tolist()) == [1, 2]


@pytest.mark.parametrize(
    "data, what",
    [
        ("userId,movieId,rating\n1,2,3\n".encode("utf-16"), "UTF-16"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "gzip-compressed"),
        (b"PK\x03\x04\x14\x00\x00\x00", "zip archive"),
        (b"1,2,3\n\x00\x00\x01\x02\n", "NUL bytes"),
    ],
)
def test_binary_compressed_and_utf16_files(tmp_path, data, what):
    expect(write(tmp_path, "bin.csv", data), what)


def test_unclosed_quote(tmp_path):
    expect(write(tmp_path, "q.csv", 'userId,movieId,rating\n1,2,3\n1,"abc,3\n2,3,4\n'),
           "opens a field that is never closed", line=3)


def test_blank_line_between_ratings(tmp_path):
    expect(write(tmp_path, "b.csv", "1,2,3\n\n1,3,4\n"), "empty line", "remove blank lines",
           line=2)


def test_leading_blank_lines_before_the_header(tmp_path):
    r = load(write(tmp_path, "l.csv", "\n\nuserId,movieId,rating\n1,2,3\n1,3,4\n"))
    assert len(r) == 2
    expect(write(tmp_path, "l2.csv", "\n\nuserId,movieId,rating\n1,2,3\n1,3,x\n"),
           "rating 'x' is not a number", line=5)


# ---------------------------------------------------------------------------- duplicates, tiny
def test_duplicate_pairs_warn_and_keep_the_last(tmp_path):
    path = write(tmp_path, "d.csv", "1,2,3\n1,2,5\n1,3,4\n1,2,1\n")
    with pytest.warns(DuplicateRatingsWarning, match=r"2 duplicate .*kept the last"):
        r = load(path)
    assert len(r) == 2 and r.ratings[r.items == r.item_of(2)].tolist() == [1.0]


def test_single_user_and_single_item_files_load(tmp_path):
    one_user = load(write(tmp_path, "u.csv", "1,10,4\n1,11,3\n1,12,5\n"))
    one_item = load(write(tmp_path, "i.csv", "1,10,4\n2,10,3\n3,10,5\n"))
    one = load(write(tmp_path, "o.csv", "1,10,4\n"))
    assert (one_user.n_users, one_item.n_items, len(one)) == (1, 1, 1)


def test_too_few_ratings_to_validate_says_how_to_skip_validation(tmp_path):
    r = load(write(tmp_path, "u.csv", "1,10,4\n1,11,3\n1,12,5\n"))
    with pytest.raises(DataError) as info:
        validation_split(r, valid_size=0.1)
    message = str(info.value)
    assert "too few ratings to carve a validation part" in message
    assert "--validation 0" in message and "validation=0" in message
    assert "stratify" not in message and "\n" not in message
    train, valid = validation_split(r, valid_size=0)  # no validation part at all
    assert len(train) == 3 and len(valid) == 0 and train.user_ids is r.user_ids
    train, valid = validation_split(load(write(tmp_path, "o.csv", "1,10,4\n")), valid_size=0.0)
    assert (len(train), len(valid)) == (1, 0)


# ---------------------------------------------------------------------------- paths
@pytest.mark.parametrize("reader", [load, read_ratings_file])
def test_missing_path(tmp_path, reader):
    message = expect(tmp_path / "nope.csv", "no such file", "check the path", reader=reader)
    assert "Traceback" not in message


def test_folder_given_as_a_ratings_file(tmp_path):
    expect(tmp_path, "is a folder, not a ratings file", "pass the ratings file inside it",
           reader=read_ratings_file)
    expect(tmp_path, "not a MovieLens release", "pass a ratings file")


def _deny(monkeypatch, target: Path) -> None:
    """Make opening ``target`` fail as for a file without read permission (we may be root)."""
    real_open = builtins.open

    def fake_open(file, *args, **kwargs):
        if Path(str(file)) == target:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)


@pytest.mark.parametrize("reader", [load, read_ratings_file])
def test_unreadable_file(tmp_path, monkeypatch, reader):
    path = write(tmp_path, "r.csv", "1,2,3\n")
    _deny(monkeypatch, path)
    expect(path, "permission denied", "check its permissions", reader=reader)


def test_unreadable_file_in_a_release_folder(tmp_path, monkeypatch):
    (tmp_path / "ml-latest-small").mkdir()
    path = write(tmp_path / "ml-latest-small", "ratings.csv", "userId,movieId,rating\n1,2,3\n")
    _deny(monkeypatch, path)
    expect(path, "permission denied", "check its permissions")


# ---------------------------------------------------------------------------- splits
@pytest.fixture()
def five(tmp_path):
    return load(write(tmp_path, "f.csv", "1,10,4,100\n1,11,3,100\n2,10,5,100\n2,12,2,100\n"
                                          "3,11,4,100\n"))


def test_more_folds_than_ratings(five):
    with pytest.raises(DataError, match=r"k=6 folds: use an integer between 2 and 5 .*no fold"):
        kfold_splits(five, k=6)


@pytest.mark.parametrize("size, part", [(0.9, "training"), (1e-9, "held-out")])
def test_holdout_fraction_leaving_a_part_empty(five, size, part):
    with pytest.raises(DataError, match=f"test_size={size!r} of 5 ratings leaves the {part} "
                                        "part empty"):
        holdout_split(five, test_size=size)


@pytest.mark.parametrize("per_user", [False, True])
def test_temporal_split_of_one_timestamp(five, per_user):
    with pytest.raises(DataError, match="same timestamp.*'holdout' or 'user' split"):
        temporal_split(five, test_size=0.2, per_user=per_user)


# ---------------------------------------------------------------------------- pairs files
def test_pairs_file_paths(tmp_path, monkeypatch):
    from recsys.data.pairs import iter_pairs

    for path, what in ((tmp_path, "is a folder"), (tmp_path / "none.csv", "no such file"),
                       (write(tmp_path, "e.csv", "\n"), "the file is empty")):
        with pytest.raises(DataError, match=what) as info:
            list(iter_pairs(path))
        assert str(path) in str(info.value)
    path = write(tmp_path, "p.csv", "user,item\n1,2\n")
    _deny(monkeypatch, path)
    with pytest.raises(DataError, match="permission denied"):
        list(iter_pairs(path))


@pytest.mark.parametrize("text, other, sep", [
    ("userId,movieId,rating\n1,2,3\n1\t3\t4\n", "tab", "','"),
    ("userId;movieId;rating\n1;2;3\n1,3,4\n", "','", "';'"),
    ("userId,movieId,rating\n1,2,3\n1|3|4\n", "'|'", "','"),
])
def test_a_line_with_another_separator_is_named_as_such(tmp_path, text, other, sep):
    expect(write(tmp_path, "mixed.csv", text), "missing movieId",
           f"the line seems to use {other}, not {sep}", line=3)


def test_a_short_line_without_another_separator_says_only_what_is_missing(tmp_path):
    message = expect(write(tmp_path, "short.csv", "userId,movieId,rating\n1,2,3\n1\n"),
                     "missing movieId", line=3)
    assert "seems to use" not in message
