"""The data sets of ``bench/defaults_elsewhere.py`` are built as described: scale, sizes, drop
fraction, seeds reproducible (tiny versions; the bench itself is run by hand)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from recsys.data.ratings import Ratings

BENCH = Path(__file__).resolve().parents[1] / "bench" / "defaults_elsewhere.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("defaults_elsewhere", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and typing look the module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def toy(n_users: int = 30, n_items: int = 20, seed: int = 0) -> tuple[Ratings, Ratings]:
    rng = np.random.default_rng(seed)
    u, i = np.nonzero(rng.random((n_users, n_items)) < 0.5)
    r = rng.integers(1, 6, size=len(u)).astype(float)
    data = Ratings.from_arrays(u + 100, i + 500, r, rating_scale=(1, 5))
    test = np.random.default_rng(1).random(len(data)) < 0.2
    return data.subset(~test), data.subset(test)


def pairs(data: Ratings) -> set[tuple]:
    return set(zip(data.user_ids[data.users].tolist(), data.item_ids[data.items].tolist(),
                   data.ratings.tolist()))


def fake_ml100k(folder: Path) -> None:
    """A tiny ML-100k release folder: u.data and the u1 fold (tab-separated, no header)."""
    rng = np.random.default_rng(3)
    u, i = np.nonzero(rng.random((12, 15)) < 0.6)
    rows = [f"{a + 1}\t{b + 1}\t{int(rng.integers(1, 6))}\t{880000000 + k}"
            for k, (a, b) in enumerate(zip(u, i))]
    test = set(rng.choice(len(rows), size=len(rows) // 5, replace=False).tolist())
    folder.mkdir()
    (folder / "u.data").write_text("\n".join(rows) + "\n")
    (folder / "u1.base").write_text("\n".join(r for k, r in enumerate(rows) if k not in test) + "\n")
    (folder / "u1.test").write_text("\n".join(r for k, r in enumerate(rows) if k in test) + "\n")


def test_times20_maps_ratings_and_scale_and_keeps_the_pair(bench):
    train, test = toy()
    big_train, big_test = bench.times20(train, test)
    for old, new in ((train, big_train), (test, big_test)):
        assert new.rating_scale == (20.0, 100.0)
        np.testing.assert_array_equal(new.ratings, 20 * old.ratings)
        np.testing.assert_array_equal(new.users, old.users)
        np.testing.assert_array_equal(new.items, old.items)
        assert new.user_ids is old.user_ids and new.item_ids is old.item_ids  # one id map
    assert train.rating_scale == (1.0, 5.0) and train.ratings.max() <= 5  # inputs untouched


def test_sparse_drops_80_percent_of_training_only_seeded(bench):
    train, test = toy(60, 40)
    kept, same_test = bench.sparse(train, test)
    assert same_test is test
    assert len(kept) == len(train) - round(0.8 * len(train))
    assert pairs(kept) <= pairs(train)
    again, _ = bench.sparse(train, test)
    np.testing.assert_array_equal(again.ratings, kept.ratings)
    np.testing.assert_array_equal(again.users, kept.users)
    other, _ = bench.sparse(train, test, seed=1)
    assert pairs(other) != pairs(kept)
    assert len(bench.drop_ratings(train, 0.0)) == len(train)


def test_ml100k_builders_on_a_tiny_release(bench, tmp_path):
    fake_ml100k(tmp_path / "ml-100k")
    train, test = bench.ml100k_u1(tmp_path / "ml-100k")
    n = len(train) + len(test)
    assert len(test) == n // 5
    big_train, big_test = bench.times20(train, test)
    assert big_train.rating_scale == big_test.rating_scale == (20.0, 100.0)
    assert set(np.unique(big_train.ratings)) <= {20.0, 40.0, 60.0, 80.0, 100.0}
    kept, same = bench.sparse(train, test)
    assert same is test and len(kept) == len(train) - round(0.8 * len(train))


def test_planted_is_on_1_to_10_with_a_seeded_holdout(bench):
    train, test = bench.planted_1_10(n_users=40, n_items=30, n_ratings=400, seed=0)
    assert train.rating_scale == test.rating_scale == (1.0, 10.0)
    both = np.concatenate([train.ratings, test.ratings])
    assert both.min() == pytest.approx(1.0, abs=1e-5) and both.max() == pytest.approx(10.0, abs=1e-5)
    assert len(train) + len(test) == 400 and len(test) == 40
    assert not {p[:2] for p in pairs(train)} & {p[:2] for p in pairs(test)}
    again = bench.planted_1_10(n_users=40, n_items=30, n_ratings=400, seed=0)
    assert pairs(again[0]) == pairs(train) and pairs(again[1]) == pairs(test)
    other = bench.planted_1_10(n_users=40, n_items=30, n_ratings=400, seed=1)
    assert pairs(other[1]) != pairs(test)
    floor = bench.planted_noise_floor(n_users=40, n_items=30, n_ratings=400, seed=0)
    assert 0 < floor < 9


def test_pure_noise_is_uniform_integers_on_distinct_cells(bench):
    train, test = bench.pure_noise(n_users=50, n_items=40, n_ratings=600, seed=0)
    assert train.rating_scale == test.rating_scale == (1.0, 5.0)
    assert len(train) == 540 and len(test) == 60
    both = np.concatenate([train.ratings, test.ratings])
    assert set(np.unique(both)) == {1.0, 2.0, 3.0, 4.0, 5.0}
    cells = [p[:2] for p in pairs(train) | pairs(test)]
    assert len(set(cells)) == 600  # no cell twice
    assert max(c[0] for c in cells) <= 50 and max(c[1] for c in cells) <= 40
    counts = np.bincount(both.astype(int), minlength=6)[1:]
    assert counts.min() > 80  # about 120 of each
    again = bench.pure_noise(n_users=50, n_items=40, n_ratings=600, seed=0)
    assert pairs(again[0]) == pairs(train) and pairs(again[1]) == pairs(test)
    assert pairs(bench.pure_noise(n_users=50, n_items=40, n_ratings=600, seed=1)[0]) != \
        pairs(train)


def test_latest_small_is_the_bundled_set_90_10(bench):
    train, test = bench.latest_small()
    assert train.rating_scale == (0.5, 5.0) and train.name.startswith("ml-latest-small")
    assert len(train) + len(test) == 100_836 and len(test) == 10_084
    again = bench.latest_small()
    np.testing.assert_array_equal(again[1].ratings, test.ratings)
    np.testing.assert_array_equal(again[1].users, test.users)


def test_the_table_and_goals_read_the_results(bench):
    fits = {"baseline/defaults": {"test_rmse": 1.0}, "mf/defaults": {"test_rmse": 0.9},
            "hybrid/defaults": {"test_rmse": 1.02}}
    results = {"noise": {"title": "pure noise", "scale": (1.0, 5.0), "n_train": 9,
                         "n_test": 1, "fits": fits}}
    text = bench.table(results)
    assert "| pure noise | 1-5 | 9 / 1 | 1.0000 | 0.9000 (+10.0 %) | 1.0200 (-2.0 %) |" in text
    checks = bench.goals(results)
    assert checks[0].startswith("ok") and checks[1].startswith("FAIL")


def test_results_are_saved_as_json(bench, tmp_path):
    import json

    fits = {"baseline/tuned": {"test_rmse": 1.0, "settings": {"hidden": (16, 8)}}}
    results = {"noise": {"title": "t", "scale": (1.0, 5.0), "n_train": 9, "n_test": 1,
                         "fits": fits}}
    bench.save(tmp_path / "r.json", "cmd", 1.5, results)
    back = json.loads((tmp_path / "r.json").read_text())
    assert back["results"]["noise"]["fits"]["baseline/tuned"]["settings"]["hidden"] == [16, 8]
