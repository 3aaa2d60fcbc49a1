"""The Ratings container: encoding, validation messages, duplicates policy, id lookups."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys import DataError, Ratings, UnknownIdError
from recsys.data.ratings import DuplicateRatingsWarning


def test_dtypes_and_round_trip_to_dataframe():
    r = Ratings.from_arrays([10, 10, 20], ["b", "a", "a"], [1, 2.5, 5], [3, 2, 1])
    assert r.users.dtype == np.int32 and r.items.dtype == np.int32
    assert r.ratings.dtype == np.float32 and r.timestamps.dtype == np.int64
    frame = r.to_dataframe()
    assert frame["user"].tolist() == [10, 10, 20]
    assert frame["item"].tolist() == ["b", "a", "a"]
    assert r.rating_scale == (1.0, 5.0)  # read from the data
    assert (r.n_users, r.n_items, len(r)) == (2, 2, 3)


@pytest.mark.parametrize(
    "ratings, message",
    [
        (["4", "x", "3"], "line 3: rating 'x' is not a number"),
        ([4, np.nan, 3], "line 3: rating is missing (NaN)"),
        ([4, np.inf, 3], "line 3: rating is infinite"),
        ([4, 6, 3], "line 3: rating 6 is outside the rating scale [1, 5]"),
    ],
)
def test_validation_names_file_and_line(ratings, message):
    frame = pd.DataFrame({"user": [1, 2, 3], "item": [1, 1, 1], "rating": ratings})
    with pytest.raises(DataError) as info:
        Ratings.from_dataframe(frame, rating_scale=(1, 5), source="r.csv", first_line=2)
    assert str(info.value).startswith("r.csv, line")
    assert message in str(info.value)


def test_empty_and_missing_ids_are_errors():
    with pytest.raises(DataError, match="empty"):
        Ratings.from_dataframe(pd.DataFrame({"user": [], "item": [], "rating": []}))
    frame = pd.DataFrame({"user": [1, None], "item": [1, 2], "rating": [3, 4]})
    with pytest.raises(DataError, match="row 2: missing user id"):
        Ratings.from_dataframe(frame)


def test_duplicates_keep_the_last_and_warn_with_a_count():
    with pytest.warns(DuplicateRatingsWarning, match="2 duplicate"):
        r = Ratings.from_arrays([1, 1, 2, 1, 1], [7, 8, 7, 7, 7], [1, 2, 3, 4, 5])
    frame = r.to_dataframe().set_index(["user", "item"])["rating"]
    assert len(frame) == 3 and frame[(1, 7)] == 5.0


def test_no_warning_without_duplicates():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Ratings.from_arrays([1, 2], [1, 1], [3, 4])


def test_lookups_accept_text_for_integer_ids():
    r = Ratings.from_arrays([5, 9], [100, 200], [3, 4])
    assert r.encode_users(["9", 5, "x", "5.5"]).tolist() == [1, 0, -1, -1]
    assert r.item_of("200") == 1
    with pytest.raises(UnknownIdError, match="unknown item"):
        r.item_of(300)


def test_subset_keeps_id_maps_and_fingerprint_tracks_content():
    r = Ratings.from_arrays([1, 2, 3, 3], [1, 1, 2, 3], [1, 2, 3, 4])
    part = r.subset(np.array([0, 3]))
    assert part.n_users == r.n_users and part.n_items == r.n_items
    assert part.to_dataframe()["item"].tolist() == [1, 3]
    assert part.fingerprint() != r.fingerprint()
    assert r.subset(np.arange(4)).fingerprint() == r.fingerprint()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(alphabet="abcxyz019 _-é", min_size=1, max_size=3), st.integers(-5, 5),
                          st.sampled_from([1.0, 2.0, 3.5, 5.0])), min_size=1, max_size=40))
def test_encoding_round_trips_any_ids(rows):
    users, items, values = zip(*rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DuplicateRatingsWarning)
        r = Ratings.from_arrays(list(users), list(items), list(values))
    last = {(u, i): v for u, i, v in rows}
    frame = r.to_dataframe()
    assert len(frame) == len(last)
    for u, i, v in frame.itertuples(index=False):
        assert last[(u, i)] == v
    assert np.all(r.encode_users(r.user_ids) == np.arange(r.n_users))
    assert r.users.max() < r.n_users and r.items.max() < r.n_items


def test_lookup_of_integer_ids_given_as_text_is_exact_at_the_int64_limits():
    """The command line hands ids over as text; near 2**63 a float detour would lose them."""
    from recsys.data.ratings import lookup_ids

    top, bottom = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    index = pd.Index(np.array([top, top - 1, bottom, 5], dtype=np.int64))
    asked = [str(top), "junk", str(top - 1), str(bottom), " 5", "5.0", str(top) + "0", "", "nan"]
    np.testing.assert_array_equal(lookup_ids(index, asked), [0, -1, 1, 2, 3, 3, -1, -1, -1])
    np.testing.assert_array_equal(lookup_ids(index, [str(top), str(top - 1)]), [0, 1])


def test_predict_refuses_lists_of_different_lengths():
    from recsys.errors import ParameterError
    from recsys.models import BiasBaseline

    frame = pd.DataFrame({"user": [1, 1, 2, 2], "item": [1, 2, 1, 3], "rating": [1.0, 2, 3, 4]})
    model = BiasBaseline().fit(Ratings.from_dataframe(frame))
    assert model.predict(1, [1, 2, 3]).shape == (3,)  # one id is repeated
    assert model.predict([1, 2], [3]).shape == (2,)
    with pytest.raises(ParameterError, match="2 users and 3 items"):
        model.predict([1, 2], [1, 2, 3])
