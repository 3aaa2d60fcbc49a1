"""The official MovieLens 100K train/test splits: ``u1`` .. ``u5``, ``ua`` and ``ub``.

ML-100K ships its own folds beside ``u.data``: ``uN.base`` / ``uN.test`` are five disjoint
80/20 cuts, ``ua`` / ``ub`` hold out exactly 10 ratings per user. :func:`load_predefined_split`
reads one of them from the release (the cached download, fetched if missing, or a zip or folder)
with one id encoding shared by both parts. Random splits are :mod:`recsys.data.splits`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recsys.data.download import ensure_archive
from recsys.data.movielens import read_movies, read_ratings_frame, read_users
from recsys.data.netflix import WHERE_TO_GET, find_netflix_files, is_netflix_name, load_probe_split
from recsys.data.ratings import Ratings
from recsys.data.release_files import ReleaseFiles
from recsys.data.releases import REGISTRY
from recsys.errors import DataError

__all__ = ["FOLDS", "NETFLIX_FOLDS", "load_predefined_split"]

FOLDS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
NETFLIX_FOLDS = ("probe",)


def load_predefined_split(
    source: str | Path = "ml-100k",
    fold: str = "u1",
    *,
    cache_dir: str | Path | None = None,
    download: bool = True,
    base_url: str | None = None,
) -> tuple[Ratings, Ratings]:
    """One of the official ML-100K train/test splits, or the Netflix Prize's probe split.

    Parameters
    ----------
    source : str or Path
        ``"ml-100k"`` (the cached download, fetched if missing and ``download``), or the
        release's zip or folder; or a Netflix Prize folder (with ``probe.txt``).
    fold : {"u1", "u2", "u3", "u4", "u5", "ua", "ub", "probe"}
        ``uN`` are the five disjoint 80/20 folds; ``ua``/``ub`` hold out exactly 10 ratings
        per user. ``probe``: the Netflix Prize's probe ratings against the rest
        (:func:`recsys.data.netflix.load_probe_split`).

    Returns
    -------
    train, test : Ratings
        ``FOLD.base`` and ``FOLD.test``, sharing one id encoding (over ``u.data`` and both
        files), with the movies and users attached.
    """
    if fold in NETFLIX_FOLDS or is_netflix_name(str(source)):
        if is_netflix_name(str(source)) and not Path(source).exists():
            raise DataError(f"{source}: {WHERE_TO_GET}")
        if find_netflix_files(source) is None:
            raise DataError(f"{source}: the {fold!r} split needs a Netflix Prize folder "
                            "(training_set/ or combined_data_*.txt, and probe.txt)")
        if fold not in NETFLIX_FOLDS:
            raise DataError(f"{source}: a Netflix Prize folder has only the 'probe' split, "
                            f"not {fold!r}")
        return load_probe_split(source)
    if fold not in FOLDS:
        raise DataError(f"unknown ML-100K fold {fold!r}; choose one of {', '.join(FOLDS)}")
    path = Path(source)
    if str(source) in REGISTRY and not path.exists():
        if str(source) != "ml-100k":
            raise DataError(f"{source} has no predefined splits; only ml-100k has u1..u5, ua, ub")
        path = ensure_archive("ml-100k", cache_dir=cache_dir, download=download,
                              base_url=base_url)
    with ReleaseFiles(path) as files:
        if files.layout.kind != "ml-100k":
            raise DataError(f"{path}: not an ML-100K release (no u.data); folds need ML-100K")
        parts = []
        for suffix in ("base", "test"):
            member = files.find(f"{fold}.{suffix}")
            if member is None:
                raise DataError(f"{path}: {fold}.{suffix} is missing from the release")
            frame, first_line, src = read_ratings_frame(files, member)
            parts.append(Ratings.from_dataframe(
                frame, rating_scale=files.layout.rating_scale, source=src,
                first_line=first_line, name=f"ml-100k {fold}.{suffix}",
            ))
        full, _, _ = read_ratings_frame(files)
        user_ids = np.union1d(full["user"].to_numpy(),
                              np.concatenate([p.user_ids for p in parts]))
        item_ids = np.union1d(full["item"].to_numpy(),
                              np.concatenate([p.item_ids for p in parts]))
        items, users = read_movies(files), read_users(files)
    out = []
    for part in parts:
        out.append(Ratings(
            users=np.searchsorted(user_ids, part.user_ids)[part.users],
            items=np.searchsorted(item_ids, part.item_ids)[part.items],
            ratings=part.ratings,
            user_ids=user_ids,
            item_ids=item_ids,
            timestamps=part.timestamps,
            rating_scale=part.rating_scale,
            item_info=items,
            user_info=users,
            name=part.name,
        ))
    return out[0], out[1]

