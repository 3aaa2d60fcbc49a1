"""Side information features and training-only standardisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data.ratings import Ratings
from recsys.features import Standardizer, item_features, log_counts, user_features


def _data(with_users=True):
    item_info = pd.DataFrame(
        {"title": ["A", "B", "C"], "genres": ["Drama|Comedy", "(no genres listed)", "Drama"],
         "year": [1995, np.nan, 2001]}, index=pd.Index([10, 20, 30]))
    user_info = pd.DataFrame(
        {"age": [25, 40], "gender": ["M", "F"], "occupation": ["writer", "doctor"]},
        index=pd.Index([1, 2])) if with_users else None
    return Ratings.from_arrays([1, 1, 2, 2], [10, 20, 20, 30], [4, 3, 5, 1],
                               item_info=item_info, user_info=user_info)


def test_item_features_genres_multi_hot_and_year():
    X, names = item_features(_data())
    assert names == ["genre:Comedy", "genre:Drama", "year", "year_missing"]
    np.testing.assert_array_equal(X[:, :2], [[1, 1], [0, 0], [0, 1]])
    assert X[1, 2] == pytest.approx(1998.0)  # missing year -> mean year, flagged
    np.testing.assert_array_equal(X[:, 3], [0, 1, 0])


def test_user_features_demographics_and_absent_info():
    X, names = user_features(_data())
    assert names == ["age", "gender:F", "gender:M", "occupation:doctor", "occupation:writer"]
    np.testing.assert_array_equal(X, [[25, 0, 1, 0, 1], [40, 1, 0, 1, 0]])
    X, names = user_features(_data(with_users=False))
    assert X.shape == (2, 0) and names == []


def test_features_never_depend_on_rating_values():
    a = _data()
    b = _data()
    b.ratings = b.ratings[::-1].copy()
    for fn in (item_features, user_features):
        np.testing.assert_array_equal(fn(a)[0], fn(b)[0])
    assert log_counts([0, 1, 3]) == pytest.approx(np.log([1, 2, 4]))


def test_standardizer_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    train = rng.normal(5, 2, size=(200, 3))
    train[:, 2] = 7.0  # constant column
    test = rng.normal(50, 20, size=(10, 3))
    s = Standardizer().fit(train)
    z = s.transform(train)
    assert np.abs(z.mean(0)).max() < 1e-9
    assert z[:, :2].std(0) == pytest.approx([1, 1])
    assert np.all(z[:, 2] == 0)
    # test rows are transformed with the training mean/scale, not their own
    np.testing.assert_allclose(s.transform(test), (test - train.mean(0)) / s.scale_)
    copy = Standardizer.from_arrays(s.mean_, s.scale_)
    np.testing.assert_array_equal(copy.transform(test), s.transform(test))


def test_movielens_100k_side_information():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-100k"
    if not (folder / "u1.base").is_file():
        pytest.skip("ML-100k not found at ../shared/datasets/ml-100k")
    from recsys.data.predefined_splits import load_predefined_split

    train, _ = load_predefined_split(folder, "u1", download=False)
    X_items, item_names = item_features(train)
    X_users, user_names = user_features(train)
    assert X_items.shape[0] == train.n_items and X_users.shape[0] == train.n_users
    genres = [n for n in item_names if n.startswith("genre:")]
    assert 17 <= len(genres) <= 19 and "genre:Drama" in genres
    assert X_items[:, :len(genres)].sum(1).max() >= 3  # multi-hot
    assert "age" in user_names and sum(n.startswith("occupation:") for n in user_names) == 21
    assert {"gender:F", "gender:M"} <= set(user_names)
    assert np.isfinite(X_items).all() and np.isfinite(X_users).all()
