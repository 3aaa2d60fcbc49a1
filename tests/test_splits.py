"""Splits: partitions, no pair leaks, seeds, time order, per-user counts, the dispatcher."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.data.ratings import Ratings
from recsys.data.splits import (
    SPLIT_METHODS,
    holdout_split,
    kfold_splits,
    split,
    temporal_split,
    user_holdout_split,
    validation_split,
)
from recsys.data.synthetic import make_planted
from recsys.errors import DataError


def _keys(r: Ratings) -> np.ndarray:
    return r.users.astype(np.int64) * r.n_items + r.items


def _row_ids(part: Ratings, whole: Ratings) -> np.ndarray:
    """Positions in ``whole`` of the rows of ``part`` (pairs are unique)."""
    order = np.argsort(_keys(whole))
    return order[np.searchsorted(_keys(whole)[order], _keys(part))]


def _assert_partition(whole: Ratings, train: Ratings, test: Ratings) -> None:
    assert len(train) + len(test) == len(whole)
    assert np.intersect1d(_keys(train), _keys(test)).size == 0  # no pair on both sides
    rows = np.concatenate([_row_ids(train, whole), _row_ids(test, whole)])
    np.testing.assert_array_equal(np.sort(rows), np.arange(len(whole)))
    for part in (train, test):
        assert part.user_ids is whole.user_ids and part.item_ids is whole.item_ids  # shared maps
        rows = _row_ids(part, whole)
        assert np.all(np.diff(rows) > 0)  # original order kept
        np.testing.assert_array_equal(part.ratings, whole.ratings[rows])
        np.testing.assert_array_equal(part.timestamps, whole.timestamps[rows])


@st.composite
def ratings_strategy(draw, min_size: int = 2):
    n_users = draw(st.integers(1, 12))
    n_items = draw(st.integers(1, 12))
    cells = n_users * n_items
    if cells < min_size:
        n_items = min_size
        cells = n_users * n_items
    size = draw(st.integers(min_size, min(cells, 60)))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    keys = rng.choice(cells, size=size, replace=False)
    stamps = rng.integers(0, draw(st.sampled_from([3, 1000])), size=size)  # ties when small
    return Ratings(
        users=keys // n_items,
        items=keys % n_items,
        ratings=rng.uniform(1, 5, size),
        user_ids=np.arange(100, 100 + n_users),
        item_ids=np.array([f"i{j}" for j in range(n_items)]),
        timestamps=stamps,
        name="h",
    )


@pytest.fixture(scope="module")
def data() -> Ratings:
    return make_planted(n_users=120, n_items=80, n_ratings=3000, random_state=4)


# ---------------------------------------------------------------------------- holdout
def test_holdout_sizes_and_partition(data):
    train, test = holdout_split(data, test_size=0.2, random_state=1)
    assert len(test) == 600 and len(train) == 2400
    _assert_partition(data, train, test)
    train, test = holdout_split(data, test_size=77)
    assert len(test) == 77
    small = data.subset(np.arange(100))
    assert len(holdout_split(small, test_size=0.07)[1]) == 7  # 0.07 * 100 is 7.000000000000001


def test_holdout_seed_determinism(data):
    a = holdout_split(data, random_state=3)[1]
    b = holdout_split(data, random_state=3)[1]
    c = holdout_split(data, random_state=4)[1]
    np.testing.assert_array_equal(_keys(a), _keys(b))
    assert not np.array_equal(_keys(a), _keys(c))


@settings(max_examples=60, deadline=None)
@given(r=ratings_strategy(), frac=st.floats(0.01, 0.99), seed=st.integers(0, 100))
def test_holdout_property(r, frac, seed):
    wanted = int(np.ceil(round(frac * len(r), 6)))
    if not 1 <= wanted < len(r):  # a part would be empty: refused, not adjusted
        with pytest.raises(DataError, match="leaves the (training|held-out) part empty"):
            holdout_split(r, test_size=frac, random_state=seed)
        return
    train, test = holdout_split(r, test_size=frac, random_state=seed)
    _assert_partition(r, train, test)
    assert len(test) == wanted
    assert len(train) >= 1


# ---------------------------------------------------------------------------- k-fold
def test_kfold_partitions_the_data(data):
    folds = list(kfold_splits(data, k=5, random_state=2))
    assert len(folds) == 5
    tests = [t for _, t in folds]
    assert all(len(t) == 600 for t in tests)
    all_test = np.concatenate([_keys(t) for t in tests])
    np.testing.assert_array_equal(np.sort(all_test), np.sort(_keys(data)))
    for train, test in folds:
        _assert_partition(data, train, test)


@settings(max_examples=40, deadline=None)
@given(r=ratings_strategy(min_size=3), k=st.integers(2, 6), seed=st.integers(0, 100))
def test_kfold_property(r, k, seed):
    k = min(k, len(r))
    folds = list(kfold_splits(r, k=k, random_state=seed))
    sizes = [len(t) for _, t in folds]
    assert len(folds) == k and sum(sizes) == len(r) and max(sizes) - min(sizes) <= 1
    np.testing.assert_array_equal(
        np.sort(np.concatenate([_keys(t) for _, t in folds])), np.sort(_keys(r))
    )
    for train, test in folds:
        _assert_partition(r, train, test)
    again = [_keys(t) for _, t in kfold_splits(r, k=k, random_state=seed)]
    for (_, t), keys in zip(folds, again):
        np.testing.assert_array_equal(_keys(t), keys)


def test_kfold_checks_k_at_call_time(data):
    with pytest.raises(DataError, match="k=1"):
        kfold_splits(data, k=1)
    with pytest.raises(DataError):
        kfold_splits(data.subset(np.arange(3)), k=4)


# ---------------------------------------------------------------------------- per user
def test_user_holdout_exactly_n_per_eligible_user(data):
    train, test = user_holdout_split(data, n_test=2, random_state=0, min_train=1)
    _assert_partition(data, train, test)
    counts = data.user_counts()
    eligible = counts >= 3
    np.testing.assert_array_equal(test.user_counts()[eligible], 2)
    np.testing.assert_array_equal(test.user_counts()[~eligible], 0)
    assert np.all(train.user_counts()[counts > 0] >= 1)


def test_user_holdout_small_users_stay_in_train():
    # user 0: 1 rating, user 1: 3 ratings, user 2: 5 ratings
    users = np.array([0, 1, 1, 1, 2, 2, 2, 2, 2])
    items = np.array([0, 0, 1, 2, 0, 1, 2, 3, 4])
    r = Ratings(users, items, np.full(9, 3.0), np.arange(3), np.arange(5))
    train, test = user_holdout_split(r, n_test=2, min_train=2)
    np.testing.assert_array_equal(test.user_counts(), [0, 0, 2])  # 3 - 2 < min_train for user 1
    np.testing.assert_array_equal(train.user_counts(), [1, 3, 3])


def test_user_holdout_fraction(data):
    train, test = user_holdout_split(data, n_test=0.25, random_state=1)
    counts = data.user_counts()
    want = np.clip(np.floor(0.25 * counts + 0.5), 1, counts - 1)  # e.g. 10 ratings -> 3
    got = test.user_counts()
    ok = counts >= 2
    np.testing.assert_array_equal(got[ok], want[ok])
    np.testing.assert_array_equal(got[~ok], 0)
    # two ratings at 75%: round(1.5) = 2 would leave none, so 1 is tested
    r = Ratings(np.array([0, 0]), np.array([0, 1]), np.ones(2), np.arange(1), np.arange(2))
    assert len(user_holdout_split(r, n_test=0.75)[1]) == 1


@settings(max_examples=60, deadline=None)
@given(
    r=ratings_strategy(),
    n_test=st.integers(1, 3),
    min_train=st.integers(0, 2),
    seed=st.integers(0, 100),
)
def test_user_holdout_property(r, n_test, min_train, seed):
    counts = r.user_counts()
    eligible = counts - n_test >= min_train
    if not eligible.any():
        with pytest.raises(DataError):
            user_holdout_split(r, n_test=n_test, min_train=min_train, random_state=seed)
        return
    train, test = user_holdout_split(r, n_test=n_test, min_train=min_train, random_state=seed)
    _assert_partition(r, train, test)
    np.testing.assert_array_equal(test.user_counts(), np.where(eligible, n_test, 0))
    same = user_holdout_split(r, n_test=n_test, min_train=min_train, random_state=seed)[1]
    np.testing.assert_array_equal(_keys(same), _keys(test))


def test_user_holdout_seed_changes_choice(data):
    a = user_holdout_split(data, n_test=1, random_state=0)[1]
    b = user_holdout_split(data, n_test=1, random_state=1)[1]
    assert not np.array_equal(_keys(a), _keys(b))


# ---------------------------------------------------------------------------- temporal
def test_temporal_global_cut(data):
    train, test = temporal_split(data, test_size=0.1)
    _assert_partition(data, train, test)
    assert len(test) == 300
    assert train.timestamps.max() <= test.timestamps.min()


def test_temporal_needs_timestamps():
    r = make_planted(n_users=20, n_items=10, n_ratings=100, with_timestamps=False)
    with pytest.raises(DataError, match="no timestamps"):
        temporal_split(r)
    with pytest.raises(DataError, match="no timestamps"):
        split(r, "temporal", per_user=True)


def test_temporal_per_user_leaves_last_out():
    users = np.array([0, 0, 0, 1, 1, 2])
    items = np.array([0, 1, 2, 0, 1, 2])
    stamps = np.array([30, 10, 20, 5, 50, 7])
    r = Ratings(users, items, np.ones(6), np.arange(3), np.arange(3), timestamps=stamps)
    train, test = temporal_split(r, test_size=1, per_user=True)
    # user 0's latest is item 0 (t=30), user 1's is item 1 (t=50), user 2 has one rating only
    assert sorted(zip(test.users.tolist(), test.items.tolist())) == [(0, 0), (1, 1)]
    assert len(train) == 4


@settings(max_examples=60, deadline=None)
@given(r=ratings_strategy(), frac=st.floats(0.01, 0.99), per_user=st.booleans())
def test_temporal_property(r, frac, per_user):
    if r.timestamps.min() == r.timestamps.max():
        with pytest.raises(DataError, match="same timestamp"):
            temporal_split(r, test_size=frac, per_user=per_user)
        return
    if not per_user and not 1 <= int(np.ceil(round(frac * len(r), 6))) < len(r):
        with pytest.raises(DataError, match="part empty"):
            temporal_split(r, test_size=frac)
        return
    if per_user and not (r.user_counts() >= 2).any():
        with pytest.raises(DataError):
            temporal_split(r, test_size=frac, per_user=True)
        return
    train, test = temporal_split(r, test_size=frac, per_user=per_user)
    _assert_partition(r, train, test)
    if not per_user:
        assert train.timestamps.max() <= test.timestamps.min()
    else:
        for u in np.unique(test.users):
            latest_train = train.timestamps[train.users == u].max()
            assert latest_train <= test.timestamps[test.users == u].min()


# ---------------------------------------------------------------------------- validation
def test_validation_split_keeps_users_and_items_in_train(data):
    train, valid = validation_split(data, valid_size=0.3, random_state=0)
    _assert_partition(data, train, valid)
    assert 0.25 * len(data) < len(valid) <= 0.3 * len(data) + 1
    assert np.all(train.user_counts()[valid.user_counts() > 0] > 0)
    assert np.all(train.item_counts()[valid.item_counts() > 0] > 0)


@settings(max_examples=60, deadline=None)
@given(r=ratings_strategy(), frac=st.floats(0.05, 0.9), seed=st.integers(0, 50))
def test_validation_property(r, frac, seed):
    if not 1 <= int(np.ceil(round(frac * len(r), 6))) < len(r):
        with pytest.raises(DataError, match="part empty"):
            validation_split(r, valid_size=frac, random_state=seed)
        return
    try:
        train, valid = validation_split(r, valid_size=frac, random_state=seed)
    except DataError:
        spare = (r.user_counts()[r.users] > 1) & (r.item_counts()[r.items] > 1)
        assert not spare.any()  # only when no rating can be validated with others kept
        return
    _assert_partition(r, train, valid)
    assert np.all(train.user_counts()[valid.user_counts() > 0] > 0)
    assert np.all(train.item_counts()[valid.item_counts() > 0] > 0)


def test_validation_without_stratify_is_a_plain_holdout(data):
    train, valid = validation_split(data, valid_size=0.5, stratify=False, random_state=1)
    assert len(valid) == 1500


# ---------------------------------------------------------------------------- dispatcher, errors
def test_split_dispatcher(data):
    a = split(data, "holdout", test_size=0.1, random_state=5)
    b = holdout_split(data, test_size=0.1, random_state=5)
    np.testing.assert_array_equal(_keys(a[1]), _keys(b[1]))
    assert len(list(split(data, "kfold", k=3))) == 3
    assert len(split(data, "user", n_test=1)[1]) == (data.user_counts() >= 2).sum()
    assert len(split(data, "temporal", test_size=0.5)[1]) == 1500
    assert set(SPLIT_METHODS) >= {"holdout", "kfold", "user", "temporal"}


def test_split_dispatcher_errors(data):
    with pytest.raises(DataError, match="unknown split method"):
        split(data, "random-ish")
    with pytest.raises(DataError, match="does not take"):
        split(data, "holdout", k=3)


@pytest.mark.parametrize("size", [0.0, 1.0, 1.5, -0.1, 0, 3000, "x", True])
def test_bad_sizes(data, size):
    with pytest.raises(DataError):
        holdout_split(data, test_size=size)


def test_duplicates_and_tiny_inputs_raise():
    dup = Ratings(np.array([0, 0, 1]), np.array([1, 1, 0]), np.ones(3), np.arange(2), np.arange(2))
    with pytest.raises(DataError, match="more than once"):
        holdout_split(dup)
    one = Ratings(np.array([0]), np.array([0]), np.ones(1), np.arange(1), np.arange(1))
    with pytest.raises(DataError, match="at least 2"):
        kfold_splits(one)
    with pytest.raises(DataError, match="Ratings container"):
        holdout_split([1, 2, 3])  # type: ignore[arg-type]
