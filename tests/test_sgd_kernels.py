"""The numba SGD kernels on their own: gradient, shuffling, block grid, prediction."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.models import _sgd


def _params(rng, n_users=5, n_items=4, k=6, dtype=np.float64):
    P = rng.normal(0, 0.5, (n_users, k)).astype(dtype)
    Q = rng.normal(0, 0.5, (n_items, k)).astype(dtype)
    bu = rng.normal(0, 0.3, n_users).astype(dtype)
    bi = rng.normal(0, 0.3, n_items).astype(dtype)
    return bu, bi, P, Q


def _loss(r, mu, bu, bi, P, Q, u, i, reg, reg_b, biased):
    """The per-rating loss the step descends (module docstring of _sgd)."""
    pred = P[u] @ Q[i] + ((mu + bu[u] + bi[i]) if biased else 0.0)
    return (0.5 * (r - pred) ** 2 + 0.5 * reg * (P[u] @ P[u] + Q[i] @ Q[i])
            + (0.5 * reg_b * (bu[u] ** 2 + bi[i] ** 2) if biased else 0.0))


@pytest.mark.parametrize("biased", [True, False])
def test_sgd_step_is_minus_lr_times_the_finite_difference_gradient(biased):
    rng = np.random.default_rng(0)
    bu, bi, P, Q = _params(rng)
    mu, r, u, i, reg, reg_b, lr = 3.2, 4.0, 2, 1, 0.07, 0.03, 0.01
    # finite-difference gradient of the loss with respect to every parameter it touches
    h = 1e-6
    grads = {}
    for name, arr, idx in [("bu", bu, (u,)), ("bi", bi, (i,))] + [
        ("P", P, (u, f)) for f in range(P.shape[1])
    ] + [("Q", Q, (i, f)) for f in range(Q.shape[1])]:
        plus, minus = arr.copy(), arr.copy()
        plus[idx] += h
        minus[idx] -= h
        args = {"bu": bu, "bi": bi, "P": P, "Q": Q}
        lp = _loss(r, mu, **{**args, name: plus}, u=u, i=i, reg=reg, reg_b=reg_b, biased=biased)
        lm = _loss(r, mu, **{**args, name: minus}, u=u, i=i, reg=reg, reg_b=reg_b, biased=biased)
        grads[(name, idx)] = (lp - lm) / (2 * h)
    before = {"bu": bu.copy(), "bi": bi.copy(), "P": P.copy(), "Q": Q.copy()}
    e = _sgd.sgd_step(u, i, r, mu, bu, bi, P, Q, lr, lr, reg, reg_b, biased)
    expected_e = r - (before["P"][u] @ before["Q"][i]
                      + ((mu + before["bu"][u] + before["bi"][i]) if biased else 0.0))
    assert e == pytest.approx(expected_e, rel=1e-9)
    after = {"bu": bu, "bi": bi, "P": P, "Q": Q}
    for (name, idx), grad in grads.items():
        step = after[name][idx] - before[name][idx]
        expected = 0.0 if (name in ("bu", "bi") and not biased) else -lr * grad
        assert step == pytest.approx(expected, rel=1e-5, abs=1e-10), (name, idx)
    # only the touched rows change
    others = [v for v in range(P.shape[0]) if v != u]
    assert np.array_equal(P[others], before["P"][others])


def test_many_steps_descend_the_loss_on_one_rating():
    rng = np.random.default_rng(1)
    bu, bi, P, Q = _params(rng, dtype=np.float32)
    f32 = np.float32
    args = (f32(3.0), bu, bi, P, Q, f32(0.05), f32(0.05), f32(0.0), f32(0.0), True)
    errors = [abs(_sgd.sgd_step(0, 0, f32(5.0), *args)) for _ in range(200)]
    assert errors[-1] < 1e-3 < errors[0]


def test_shuffle_is_a_seeded_permutation_that_keeps_rows_together():
    n = 1000
    users = np.arange(n, dtype=np.int32)
    items = (np.arange(n) * 7).astype(np.int32)
    ratings = np.arange(n, dtype=np.float32) / 10
    a = [users.copy(), items.copy(), ratings.copy()]
    b = [users.copy(), items.copy(), ratings.copy()]
    c = [users.copy(), items.copy(), ratings.copy()]
    _sgd.shuffle_range(*a, 100, 900, 42)
    _sgd.shuffle_range(*b, 100, 900, 42)
    _sgd.shuffle_range(*c, 100, 900, 43)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))  # same seed, same order
    assert not np.array_equal(a[0], c[0])  # another seed, another order
    assert np.array_equal(a[0][:100], users[:100]) and np.array_equal(a[0][900:], users[900:])
    assert not np.array_equal(a[0][100:900], users[100:900])
    assert np.array_equal(np.sort(a[0]), users)
    assert np.array_equal(a[1], a[0] * 7) and np.allclose(a[2], a[0] / 10)
    # roughly uniform: every value visits both halves over many seeds
    first_half = np.zeros(n)
    for seed in range(200):
        x = users.copy()
        _sgd.shuffle_range(x, items.copy(), ratings.copy(), 0, n, seed)
        first_half[x[: n // 2]] += 1
    assert 60 < first_half.mean() < 140 and first_half.min() > 50 and first_half.max() < 150


def test_block_order_groups_ratings_by_grid_cell():
    rng = np.random.default_rng(2)
    users = rng.integers(0, 50, 3000).astype(np.int32)
    items = rng.integers(0, 30, 3000).astype(np.int32)
    user_block = rng.integers(0, 3, 50).astype(np.int64)
    item_block = rng.integers(0, 3, 30).astype(np.int64)
    order, indptr = _sgd.block_order(users, items, user_block, item_block, 3)
    assert np.array_equal(np.sort(order), np.arange(3000))
    assert indptr[0] == 0 and indptr[-1] == 3000 and np.all(np.diff(indptr) >= 0)
    for g in range(9):
        rows = order[indptr[g]:indptr[g + 1]]
        assert np.all(user_block[users[rows]] == g // 3)
        assert np.all(item_block[items[rows]] == g % 3)


def test_block_partition_equals_block_order_then_gather():
    rng = np.random.default_rng(8)
    users = rng.integers(0, 50, 3000).astype(np.int32)
    items = rng.integers(0, 30, 3000).astype(np.int32)
    ratings = rng.integers(1, 6, 3000).astype(np.float32)
    user_block = rng.integers(0, 4, 50).astype(np.int64)
    item_block = rng.integers(0, 4, 30).astype(np.int64)
    order, indptr = _sgd.block_order(users, items, user_block, item_block, 4)
    u, i, r, ptr = _sgd.block_partition(users, items, ratings, user_block, item_block, 4)
    assert np.array_equal(ptr, indptr)
    assert np.array_equal(u, users[order]) and np.array_equal(i, items[order])
    assert np.array_equal(r, ratings[order])
    assert u.dtype == np.int32 and r.dtype == np.float32


def _grid_data(seed=3, n=4000, n_users=40, n_items=30, n_blocks=4, n_item_blocks=None):
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n).astype(np.int32)
    items = rng.integers(0, n_items, n).astype(np.int32)
    ratings = rng.integers(1, 6, n).astype(np.float32)
    n_item_blocks = n_blocks if n_item_blocks is None else n_item_blocks
    ub = rng.integers(0, n_blocks, n_users).astype(np.int64)
    ib = rng.integers(0, n_item_blocks, n_items).astype(np.int64)
    order, indptr = _sgd.block_order(users, items, ub, ib, n_blocks,
                                     n_item_blocks=n_item_blocks)
    return users[order], items[order], ratings[order], indptr


def _all_blocks(kernel_args, users, items, ratings, indptr, seed=7, epoch=0):
    """Run every block of the grid once, in grid order; returns the summed squared error."""
    return sum(
        _sgd.sgd_block(users, items, ratings, indptr[g], indptr[g + 1], *kernel_args, seed,
                       epoch, g)
        for g in range(len(indptr) - 1)
    )


def test_block_passes_visit_every_rating_once_and_match_serial():
    users, items, ratings, indptr = _grid_data()
    rng = np.random.default_rng(4)
    bu, bi, P, Q = _params(rng, 40, 30, 5, np.float32)
    f32 = np.float32
    # with zero step sizes nothing moves, so the summed squared error is the same whatever the
    # order: both ways must visit each rating exactly once
    args = (f32(3), bu, bi, P, Q, f32(0), f32(0), f32(0.1), f32(0.1), True)
    serial = _sgd.sgd_epoch_serial(users.copy(), items.copy(), ratings.copy(), *args, 7, 0)
    blocks = _all_blocks(args, users.copy(), items.copy(), ratings.copy(), indptr)
    pred = _sgd.predict_pairs(users, items, f32(3), bu, bi, P, Q, True, 3.0)
    direct = float(np.sum((ratings - pred) ** 2))
    assert serial == pytest.approx(direct, rel=1e-4)
    assert blocks == pytest.approx(direct, rel=1e-4)


def test_block_pass_keeps_ratings_inside_their_block_and_is_seeded():
    users, items, ratings, indptr = _grid_data()
    f32 = np.float32
    results = []
    for _ in range(2):
        rng = np.random.default_rng(5)
        bu, bi, P, Q = _params(rng, 40, 30, 5, np.float32)
        u, i, r = users.copy(), items.copy(), ratings.copy()
        args = (f32(3), bu, bi, P, Q, f32(0.01), f32(0.01), f32(0.05), f32(0.05), True)
        sse = _all_blocks(args, u, i, r, indptr, seed=11)
        results.append((sse, P.copy(), u.copy()))
        for g in range(16):  # a block's ratings were shuffled only among themselves
            s = slice(indptr[g], indptr[g + 1])
            key = lambda a, b: np.sort(a[s].astype(np.int64) * 100 + b[s])  # noqa: E731
            assert np.array_equal(key(u, i), key(users, items))
    assert results[0][0] == results[1][0]
    assert np.array_equal(results[0][1], results[1][1])
    assert not np.array_equal(results[0][2], users)  # it did shuffle


@pytest.mark.parametrize("n_item_blocks", [4, 2, 3])
@pytest.mark.parametrize("within", ["grouped", "shuffle"])
def test_parallel_kernel_two_threads_visit_every_block_once(within, n_item_blocks):
    from concurrent.futures import ThreadPoolExecutor

    n_blocks = 4
    users, items, ratings, indptr = _grid_data(n_blocks=n_blocks, n_item_blocks=n_item_blocks)
    assert len(indptr) == n_blocks * n_item_blocks + 1
    rng = np.random.default_rng(9)
    bu, bi, P, Q = _params(rng, 40, 30, 5, np.float32)
    f32 = np.float32
    order = rng.permutation(n_blocks * n_item_blocks).astype(np.int64)
    claim = _sgd.new_claim(n_blocks, len(order), n_item_blocks)
    sse = np.zeros(n_blocks * n_item_blocks)
    kernel = _sgd.parallel_epoch_kernel(5, within)
    # zero step sizes: the summed squared error is order-free, and each block counts once
    call = (users, items, ratings, indptr, order, n_blocks, n_item_blocks, claim, f32(3), bu,
            bi, P, Q, f32(0), f32(0), f32(0.1), f32(0.1), True, 7, 0, True, sse)
    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(kernel, *call) for _ in range(2)]:
            future.result()
    pred = _sgd.predict_pairs(users, items, f32(3), bu, bi, P, Q, True, 3.0)
    assert sse.sum() == pytest.approx(float(np.sum((ratings - pred) ** 2)), rel=1e-4)
    for g in range(n_blocks * n_item_blocks):
        s = slice(indptr[g], indptr[g + 1])
        assert sse[g] == pytest.approx(float(np.sum((ratings[s] - pred[s]) ** 2)), rel=1e-4)
    assert claim[0] == 0 and claim[1] == len(order)  # lock free, every block taken
    rows_and_columns = n_blocks + n_item_blocks
    assert not claim[2:2 + rows_and_columns].any()  # every row and column freed
    assert claim[2 + rows_and_columns:].all()


def test_fused_shuffle_and_pass_equal_shuffle_then_pass():
    users, items, ratings, indptr = _grid_data()
    f32 = np.float32
    start, end = int(indptr[5]), int(indptr[6])
    out = []
    for fused in (True, False):
        rng = np.random.default_rng(10)
        bu, bi, P, Q = _params(rng, 40, 30, 5, np.float32)
        u, i, r = users.copy(), items.copy(), ratings.copy()
        args = (f32(3), bu, bi, P, Q, f32(0.02), f32(0.02), f32(0.05), f32(0.05), True)
        seed = np.uint64(_sgd._mix_seed(11, 2, 5))
        if fused:
            sse = _sgd.sgd_block(u, i, r, start, end, *args, 11, 2, 5)
        else:
            _sgd.shuffle_range(u, i, r, start, end, seed)
            sse = _sgd.sgd_range(u, i, r, start, end, *args)
        out.append((sse, u, i, r, P))
    (s1, u1, i1, r1, P1), (s2, u2, i2, r2, P2) = out
    assert np.array_equal(u1, u2) and np.array_equal(i1, i2) and np.array_equal(r1, r2)
    assert not np.array_equal(u1, users)
    assert s1 == pytest.approx(s2, rel=1e-5)
    assert np.allclose(P1, P2, rtol=1e-5, atol=1e-6)


def test_block_partition_sorts_each_block_by_user_stably():
    rng = np.random.default_rng(12)
    users = rng.integers(0, 60, 5000).astype(np.int32)
    items = rng.integers(0, 40, 5000).astype(np.int32)
    ratings = np.arange(5000, dtype=np.float32)  # the original position, to check stability
    user_block = rng.integers(0, 3, 60).astype(np.int64)
    item_block = rng.integers(0, 3, 40).astype(np.int64)
    u, i, r, ptr = _sgd.block_partition(users, items, ratings, user_block, item_block, 3,
                                        by_user=True)
    plain = _sgd.block_partition(users, items, ratings, user_block, item_block, 3,
                                 by_user=False)
    assert np.array_equal(ptr, plain[3])
    for g in range(9):
        s = slice(ptr[g], ptr[g + 1])
        assert np.all(np.diff(u[s]) >= 0)  # users ascending inside the block
        key = np.lexsort((r[s], u[s]))  # and each user's ratings in their original order
        assert np.array_equal(key, np.arange(len(key)))
        assert np.array_equal(np.sort(r[s]), np.sort(plain[2][s]))  # the same ratings
    assert np.array_equal(items[r.astype(np.int64)], i) and np.array_equal(
        users[r.astype(np.int64)], u)


def test_user_runs_split_at_user_changes_and_order_them_at_random():
    users = np.array([7, 7, 7, 2, 2, 9, 4, 4, 4, 4, 1], dtype=np.int32)
    bounds, order = _sgd.user_runs(users, 1, 10, np.uint64(5))
    assert np.array_equal(bounds, [1, 3, 5, 6, 10])
    assert np.array_equal(np.sort(order), np.arange(4))
    orders = {tuple(_sgd.user_runs(users, 0, 11, np.uint64(seed))[1]) for seed in range(50)}
    assert len(orders) > 20  # many orders over seeds; the same seed, the same order
    assert np.array_equal(_sgd.user_runs(users, 0, 11, np.uint64(3))[1],
                          _sgd.user_runs(users, 0, 11, np.uint64(3))[1])
    pos = _sgd.grouped_positions(users, 0, 11, np.uint64(3))
    assert np.array_equal(np.sort(pos), np.arange(11))
    runs = [users[pos[k]] for k in range(11)]
    assert sum(a != b for a, b in zip(runs, runs[1:])) == 4  # each user's run kept whole
    empty = _sgd.user_runs(users, 4, 4, np.uint64(1))
    assert len(empty[0]) == 1 and len(empty[1]) == 0


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("biased", [True, False])
def test_grouped_kernel_takes_the_steps_of_the_reference_order(monkeypatch, fused, biased):
    monkeypatch.setattr(_sgd, "GROUPED_LANES", 1)  # one run at a time
    monkeypatch.setattr(_sgd, "FUSED_STEP", fused)  # the step fused with the next dot or not
    users, items, ratings = _grid_data()[:3]
    rng = np.random.default_rng(13)
    ub = rng.integers(0, 4, 40).astype(np.int64)
    ib = rng.integers(0, 4, 30).astype(np.int64)
    u, i, r, indptr = _sgd.block_partition(users, items, ratings, ub, ib, 4, by_user=True)
    f32 = np.float32
    seed, epoch = 21, 3
    blocks = rng.permutation(16).astype(np.int64)
    params = _params(np.random.default_rng(14), 40, 30, 5, np.float32)
    bu, bi, P, Q = (a.copy() for a in params)
    lr, reg = f32(0.02), f32(0.05)
    sse = np.zeros(16)
    frozen = (u.copy(), i.copy(), r.copy())
    _sgd.epoch_kernel(5, "grouped")(u, i, r, indptr, blocks, f32(3), bu, bi, P, Q, lr, lr,
                                     reg, reg, biased, seed, epoch, True, sse)
    assert all(np.array_equal(a, b) for a, b in zip((u, i, r), frozen))  # read only
    # the reference: each block's positions in grouped order, learned by the plain sgd_range
    rbu, rbi, rP, rQ = (a.copy() for a in params)
    for g in blocks:
        pos = _sgd.grouped_positions(u, indptr[g], indptr[g + 1],
                                     np.uint64(_sgd._mix_seed(seed, epoch, g)))
        expected = _sgd.sgd_range(u[pos], i[pos], r[pos], 0, len(pos), f32(3), rbu, rbi, rP,
                                  rQ, lr, lr, reg, reg, biased)
        assert sse[g] == pytest.approx(expected, rel=1e-4)
    assert np.allclose(P, rP, rtol=1e-4, atol=1e-6) and np.allclose(Q, rQ, rtol=1e-4, atol=1e-6)
    assert not np.allclose(P, params[2], atol=1e-4)  # it learned


@pytest.mark.parametrize("biased", [True, False])
def test_two_lane_kernel_takes_the_steps_of_its_reference_order(monkeypatch, biased):
    users, items, ratings = _grid_data(seed=5, n=6000, n_users=50, n_items=12)[:3]
    rng = np.random.default_rng(15)
    ub = rng.integers(0, 2, 50).astype(np.int64)
    ib = rng.integers(0, 2, 12).astype(np.int64)  # few items: lanes often share one
    u, i, r, indptr = _sgd.block_partition(users, items, ratings, ub, ib, 2, by_user=True)
    monkeypatch.setattr(_sgd, "GROUPED_LANES", 2)
    f32 = np.float32
    seed, epoch = 4, 1
    blocks = np.arange(4, dtype=np.int64)
    params = _params(np.random.default_rng(16), 50, 12, 6, np.float32)
    bu, bi, P, Q = (a.copy() for a in params)
    lr, reg = f32(0.02), f32(0.05)
    sse = np.zeros(4)
    _sgd.epoch_kernel(6, "grouped")(u, i, r, indptr, blocks, f32(3), bu, bi, P, Q, lr, lr,
                                     reg, reg, biased, seed, epoch, True, sse)
    rbu, rbi, rP, rQ = (a.copy() for a in params)
    shared = 0
    for g in blocks:
        start, end = indptr[g], indptr[g + 1]
        pos = _sgd.grouped_positions2(u, start, end, np.uint64(_sgd._mix_seed(seed, epoch, g)))
        assert np.array_equal(np.sort(pos), np.arange(start, end))  # each rating once
        # each user's ratings in their stored order, two users' runs taking turns
        for user in np.unique(u[start:end]):
            mine = pos[u[pos] == user]
            assert np.array_equal(mine, np.sort(mine))
        shared += int(np.sum(i[pos[:-1]] == i[pos[1:]]))
        expected = _sgd.sgd_range(u[pos], i[pos], r[pos], 0, len(pos), f32(3), rbu, rbi, rP,
                                  rQ, lr, lr, reg, reg, biased)
        assert sse[g] == pytest.approx(expected, rel=1e-4)
    assert shared > 0  # the one-after-the-other path for a shared item was taken
    assert np.allclose(P, rP, rtol=1e-4, atol=1e-6) and np.allclose(Q, rQ, rtol=1e-4, atol=1e-6)
    assert np.allclose(bu, rbu, rtol=1e-4, atol=1e-6) and not np.allclose(P, params[2], atol=1e-4)


def test_two_lane_order_interleaves_two_runs():
    users = np.array([3, 3, 3, 5, 8, 8], dtype=np.int32)
    pos = _sgd.grouped_positions2(users, 0, 6, np.uint64(9))
    runs = {3: [0, 1, 2], 5: [3], 8: [4, 5]}
    first, second = users[pos[0]], users[pos[1]]
    assert first != second  # the two lanes start on two different users
    assert sorted(pos.tolist()) == list(range(6))
    for user, mine in runs.items():
        assert [p for p in pos.tolist() if users[p] == user] == mine


def test_predict_pairs_fallbacks():
    rng = np.random.default_rng(6)
    bu, bi, P, Q = _params(rng, dtype=np.float32)
    users = np.array([1, -1, 1, -1], dtype=np.int32)
    items = np.array([2, 2, -1, -1], dtype=np.int32)
    mu = np.float32(3.5)
    out = _sgd.predict_pairs(users, items, mu, bu, bi, P, Q, True, 9.0)
    assert out[0] == pytest.approx(3.5 + bu[1] + bi[2] + P[1] @ Q[2], rel=1e-5)
    assert out[1] == pytest.approx(3.5 + bi[2], rel=1e-6)
    assert out[2] == pytest.approx(3.5 + bu[1], rel=1e-6)
    assert out[3] == pytest.approx(3.5)
    funk = _sgd.predict_pairs(users, items, mu, bu, bi, P, Q, False, 9.0)
    assert funk[0] == pytest.approx(P[1] @ Q[2], rel=1e-5)
    assert np.all(funk[1:] == 9.0)
    sse = _sgd.squared_error_clipped(users, items, np.full(4, 5, np.float32), mu, bu, bi, P, Q,
                                     True, 9.0, 1.0, 5.0)
    assert sse == pytest.approx(float(np.sum((5 - np.clip(out, 1, 5)) ** 2)), rel=1e-5)


def test_seen_items_match_a_sort_of_user_then_item():
    from recsys.models._bookkeeping import seen_items

    rng = np.random.default_rng(3)
    n_users, n_items = 40, 25  # user 39 and item 24 may have no ratings
    users = rng.integers(0, n_users - 1, 900).astype(np.int32)
    items = rng.integers(0, n_items - 1, 900).astype(np.int32)
    indptr, seen = seen_items(users, items, n_users, n_items)
    order = np.lexsort((items, users))
    assert seen.dtype == np.int32 and indptr.dtype == np.int64
    assert np.array_equal(seen, items[order])
    assert np.array_equal(np.diff(indptr), np.bincount(users, minlength=n_users))
    assert indptr[-1] == len(users) and np.diff(indptr)[-1] == 0
    for u in range(n_users):
        assert np.array_equal(seen[indptr[u]:indptr[u + 1]], np.sort(items[users == u]))


def test_claims_on_a_rectangular_grid_never_share_a_row_or_column():
    """3 user blocks by 2 item blocks: while a block is held, no block of its user row or
    item column can be taken; freeing it releases both."""
    n_blocks, n_item_blocks = 3, 2
    order = np.array([0, 1, 2, 3, 4, 5], dtype=np.int64)  # g = a * 2 + b
    claim = _sgd.new_claim(n_blocks, len(order), n_item_blocks)
    assert len(claim) == 2 + 3 + 2 + 6
    assert _sgd._claim_block(claim, order, n_blocks, n_item_blocks) == 0  # (0, 0)
    # (0, 1) shares user block 0 and (1, 0) item block 0: next free is (1, 1)
    assert _sgd._claim_block(claim, order, n_blocks, n_item_blocks) == 3
    # both item blocks busy now: nothing can run until one is freed
    assert _sgd._claim_block(claim, order, n_blocks, n_item_blocks) == -2
    _sgd._free_block(claim, 0, n_blocks, n_item_blocks)
    assert _sgd._claim_block(claim, order, n_blocks, n_item_blocks) == 4  # (2, 0)
    _sgd._free_block(claim, 3, n_blocks, n_item_blocks)
    _sgd._free_block(claim, 4, n_blocks, n_item_blocks)
    taken = [_sgd._claim_block(claim, order, n_blocks, n_item_blocks) for _ in range(2)]
    assert taken == [1, 2]  # (0, 1) then (1, 0)
    for g in taken:
        _sgd._free_block(claim, g, n_blocks, n_item_blocks)
    assert _sgd._claim_block(claim, order, n_blocks, n_item_blocks) == 5
    _sgd._free_block(claim, 5, n_blocks, n_item_blocks)
    assert _sgd._claim_block(claim, order, n_blocks, n_item_blocks) == -1  # all taken
    assert not claim[2:2 + n_blocks + n_item_blocks].any()


def test_learns_by_user_follows_the_order_and_the_table_size():
    big, small = _sgd.GROUPED_MIN_BYTES, _sgd.GROUPED_MIN_BYTES - 1
    assert _sgd.learns_by_user(big, "auto") and not _sgd.learns_by_user(small, "auto")
    assert _sgd.learns_by_user(0, "grouped")
    assert not _sgd.learns_by_user(10 * big, "shuffle")
    with pytest.raises(ValueError, match="within-block order"):
        _sgd.learns_by_user(big, "sideways")
