"""Tune and measure the hybrid (MF + I-AutoRec blended by a tanh network) on ML-100k u1..u5
and on ml-latest-small; prints RMSE overall and by user activity.

Run by hand:  /work/venv/bin/python bench/tune_hybrid.py [--folds u1,u2,...] [--latest]
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.ratings import Ratings

ROOT = Path(__file__).resolve().parents[1]
ML100K = ROOT.parent / "shared" / "datasets" / "ml-100k"
LATEST = ROOT / "data" / "ml-latest-small"

GENRES_100K = [
    "unknown", "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
]


def ml100k_info(folder: Path = ML100K) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Item info (title, genres "A|B", year) and user info (age, gender, occupation, zip)."""
    items = pd.read_csv(folder / "u.item", sep="|", header=None, encoding="latin-1")
    flags = items.iloc[:, 5:24].to_numpy().astype(bool)
    genres = ["|".join(g for g, f in zip(GENRES_100K, row) if f) for row in flags]
    year = pd.to_datetime(items[2], format="%d-%b-%Y", errors="coerce").dt.year
    item_info = pd.DataFrame(
        {"title": items[1].to_numpy(), "genres": genres, "year": year.to_numpy()},
        index=pd.Index(items[0].to_numpy(), name="item"),
    )
    users = pd.read_csv(folder / "u.user", sep="|", header=None)
    user_info = pd.DataFrame(
        {"age": users[1].to_numpy(), "gender": users[2].to_numpy(),
         "occupation": users[3].to_numpy(), "zip": users[4].astype(str).to_numpy()},
        index=pd.Index(users[0].to_numpy(), name="user"),
    )
    return item_info, user_info


def ml100k_split(name: str, folder: Path = ML100K) -> tuple[Ratings, Ratings]:
    """Official split ``name`` (u1..u5) as (train, test) sharing one id map."""
    cols = ["user", "item", "rating", "timestamp"]
    base = pd.read_csv(folder / f"{name}.base", sep="\t", header=None, names=cols)
    test = pd.read_csv(folder / f"{name}.test", sep="\t", header=None, names=cols)
    item_info, user_info = ml100k_info(folder)
    both = Ratings.from_dataframe(
        pd.concat([base, test], ignore_index=True), rating_scale=(1, 5),
        item_info=item_info, user_info=user_info, name=f"ml-100k/{name}",
    )
    n = len(base)
    return both.subset(np.arange(n)), both.subset(np.arange(n, len(both)))


def latest_small(seed: int = 0, test_size: float = 0.1) -> tuple[Ratings, Ratings]:
    """ml-latest-small with a seeded random 90/10 split."""
    frame = pd.read_csv(LATEST / "ratings.csv").rename(
        columns={"userId": "user", "movieId": "item"})
    movies = pd.read_csv(LATEST / "movies.csv")
    year = movies["title"].str.extract(r"\((\d{4})\)\s*$")[0].astype(float)
    item_info = pd.DataFrame(
        {"title": movies["title"].to_numpy(), "genres": movies["genres"].to_numpy(),
         "year": year.to_numpy()}, index=pd.Index(movies["movieId"].to_numpy(), name="item"))
    data = Ratings.from_dataframe(frame, rating_scale=(0.5, 5), item_info=item_info,
                                  name="ml-latest-small")
    perm = np.random.default_rng(seed).permutation(len(data))
    n_test = int(round(test_size * len(data)))
    return data.subset(np.sort(perm[n_test:])), data.subset(np.sort(perm[:n_test]))
