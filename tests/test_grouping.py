"""The threaded counting sorts of recsys.models._grouping give the one-thread results."""

import numpy as np
import pytest

from recsys.models import _grouping, _sgd


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of a few hundred ratings, so small arrays take the several-thread path."""
    monkeypatch.setattr(_grouping, "PARALLEL_MIN_RATINGS", 256)


def _data(seed, n=20_000, n_users=300, n_items=120, n_blocks=5):
    rng = np.random.default_rng(seed)
    # skewed ids, so blocks and users differ in size; user n_users - 1 and item n_items - 1
    # may have no rating at all
    users = (rng.pareto(1.5, n) * 20).astype(np.int64) % (n_users - 1)
    items = (rng.pareto(1.2, n) * 10).astype(np.int64) % (n_items - 1)
    ratings = np.arange(n, dtype=np.float32)  # the original position: checks stability
    ub = rng.integers(0, n_blocks, n_users)
    ib = rng.integers(0, n_blocks, n_items)
    return users.astype(np.int32), items.astype(np.int32), ratings, ub, ib


@pytest.mark.parametrize("n_threads", [2, 3, 7])
@pytest.mark.parametrize("by_user", [True, False])
def test_block_partition_on_threads_equals_one_thread(small_chunks, n_threads, by_user):
    users, items, ratings, ub, ib = _data(1)
    one = _grouping.block_partition(users, items, ratings, ub, ib, 5, by_user, 1)
    many = _grouping.block_partition(users, items, ratings, ub, ib, 5, by_user, n_threads)
    for a, b in zip(one, many):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def test_block_partition_matches_the_reference_order(small_chunks):
    users, items, ratings, ub, ib = _data(2)
    order, indptr = _sgd.block_order(users, items, ub, ib, 5, by_user=True)
    u, i, r, ptr = _sgd.block_partition(users, items, ratings, ub, ib, 5, by_user=True,
                                        n_threads=3)
    assert np.array_equal(ptr, indptr)
    assert np.array_equal(u, users[order]) and np.array_equal(i, items[order])
    assert np.array_equal(r, ratings[order])
    for g in range(25):  # inside a block: users ascending, each user's ratings in file order
        s = slice(ptr[g], ptr[g + 1])
        assert np.array_equal(np.lexsort((r[s], u[s])), np.arange(ptr[g + 1] - ptr[g]))
        assert np.all(ub[u[s]] == g // 5) and np.all(ib[i[s]] == g % 5)


@pytest.mark.parametrize("n_threads", [1, 2, 5])
def test_seen_items_on_threads_match_a_sort(small_chunks, n_threads):
    users, items, _, _, _ = _data(3)
    indptr, seen, item_counts = _grouping.seen_items(users, items, 300, 120, n_threads)
    order = np.lexsort((items, users))
    assert seen.dtype == np.int32 and indptr.dtype == np.int64
    assert np.array_equal(seen, items[order])
    assert np.array_equal(np.diff(indptr), np.bincount(users, minlength=300))
    assert np.array_equal(item_counts, np.bincount(items, minlength=120))
    assert np.diff(indptr)[-1] == 0 and item_counts[-1] == 0


def test_empty_input_gives_empty_groups(small_chunks):
    empty = np.zeros(0, dtype=np.int32)
    u, i, r, ptr = _grouping.block_partition(empty, empty, np.zeros(0, np.float32),
                                             np.zeros(3, np.int64), np.zeros(2, np.int64), 2,
                                             True, 2)
    assert len(u) == len(i) == len(r) == 0 and np.array_equal(ptr, np.zeros(5))
    indptr, seen, counts = _grouping.seen_items(empty, empty, 3, 2, 2)
    assert np.array_equal(indptr, np.zeros(4)) and len(seen) == 0 and counts.sum() == 0


@pytest.mark.parametrize("n_threads", [1, 4])
def test_model_units_equal_the_float64_expression(small_chunks, n_threads):
    rng = np.random.default_rng(4)
    values = (rng.random(5000) * 99 + 1).astype(np.float32)
    z = _grouping.to_model_units(values, 50.123, 24.75, n_threads)
    expected = ((values.astype(np.float64) - 50.123) / 24.75).astype(np.float32)
    assert z.dtype == np.float32 and np.array_equal(z, expected)


def test_std_of_equals_numpy_in_float64():
    values = np.random.default_rng(5).normal(3.0, 2.0, 10_001).astype(np.float32)
    assert _grouping.std_of(values) == pytest.approx(np.std(values.astype(np.float64)),
                                                     rel=1e-12)
    assert _grouping.std_of(np.zeros(0, np.float32)) == 0.0


@pytest.mark.parametrize("n_item_blocks", [2, 3, 7])
def test_rectangular_grid_matches_the_reference_order(small_chunks, n_item_blocks):
    """5 user blocks by n_item_blocks item blocks: block g = a * n_item_blocks + b."""
    users, items, ratings, ub, _ = _data(4)
    ib = np.random.default_rng(8).integers(0, n_item_blocks, items.max() + 1)
    order, indptr = _sgd.block_order(users, items, ub, ib, 5, by_user=True,
                                     n_item_blocks=n_item_blocks)
    one = _sgd.block_partition(users, items, ratings, ub, ib, 5, by_user=True, n_threads=1,
                               n_item_blocks=n_item_blocks)
    u, i, r, ptr = _sgd.block_partition(users, items, ratings, ub, ib, 5, by_user=True,
                                        n_threads=3, n_item_blocks=n_item_blocks)
    assert len(ptr) == 5 * n_item_blocks + 1 and np.array_equal(ptr, indptr)
    assert np.array_equal(u, users[order]) and np.array_equal(i, items[order])
    assert np.array_equal(r, ratings[order])
    assert all(np.array_equal(a, b) for a, b in zip(one, (u, i, r, ptr)))
    for g in range(5 * n_item_blocks):
        s = slice(ptr[g], ptr[g + 1])
        assert np.all(ub[u[s]] == g // n_item_blocks) and np.all(ib[i[s]] == g % n_item_blocks)
        assert np.array_equal(np.lexsort((r[s], u[s])), np.arange(ptr[g + 1] - ptr[g]))
