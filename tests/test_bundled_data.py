"""The bundled ml-latest-small matches the counts its README documents."""

from __future__ import annotations

import numpy as np

from recsys.data.loading import bundled_path, load


def test_bundled_counts_match_the_readme():
    ratings = load()
    assert ratings.name == "ml-latest-small"
    assert len(ratings) == 100_836
    assert int((ratings.user_counts() > 0).sum()) == 610
    assert ratings.rating_scale == (0.5, 5.0)
    # every rated movie has a title from movies.csv
    titles = ratings.item_info["title"].reindex(ratings.item_ids)
    assert titles.notna().all()
    assert len(ratings.item_info) == 9_742


def test_bundled_ratings_are_half_stars_with_timestamps():
    ratings = load()
    assert np.all(np.isin(ratings.ratings, np.arange(0.5, 5.01, 0.5)))
    assert ratings.timestamps is not None and ratings.timestamps.min() > 8e8


def test_bundled_folder_ships_its_licence():
    readme = (bundled_path() / "README.txt").read_text(encoding="utf-8")
    assert "Usage License" in readme and "redistribute" in readme
