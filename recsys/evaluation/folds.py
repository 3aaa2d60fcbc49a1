"""The folds of an evaluation: load the data and cut it into labelled (train, test) pairs.

A split is a random cut of :mod:`recsys.data.splits` (``holdout``, ``kfold``, ``user``,
``temporal``, seeded) or one of the official MovieLens 100K folds (``u1`` .. ``u5``, ``ua``,
``ub``, or ``all-folds`` = ``u1`` .. ``u5``). :func:`prepare_folds` also describes the data for
the report (name, sizes, rating scale and a fingerprint of the ratings).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Callable, Iterable

from recsys.data.loading import load
from recsys.data.netflix import find_netflix_files
from recsys.data.predefined_splits import load_predefined_split
from recsys.data.ratings import Ratings
from recsys.data.splits import split as split_ratings
from recsys.errors import EvaluationError

__all__ = ["SPLITS", "PREDEFINED_FOLDS", "Fold", "prepare_folds"]

PREDEFINED_FOLDS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
SPLITS = ("holdout", "kfold", "user", "temporal", *PREDEFINED_FOLDS, "all-folds", "probe")

Fold = tuple[str, Ratings, Ratings]
"""A labelled ``(fold, train, test)`` triple."""


def _is_ml100k(source: Any) -> bool:
    """True when ``source`` can hold the official ML-100k folds: the registry name, a folder
    with ``u1.base`` (or ``ml-100k/u1.base``), or a zip (checked when it is read)."""
    if source is None or isinstance(source, Ratings):
        return False
    text = str(source)
    if text.lower().replace("_", "-") in ("ml-100k", "ml100k", "movielens-100k"):
        return True
    path = Path(text).expanduser()
    if path.is_dir():
        return (path / "u1.base").is_file() or (path / "ml-100k" / "u1.base").is_file()
    return path.is_file() and path.suffix.lower() == ".zip"


def _folds_for(split: str) -> list[str]:
    if split == "all-folds":
        return ["u1", "u2", "u3", "u4", "u5"]
    return [split]


def _as_pairs(result: Any, split: str) -> list[tuple[Ratings, Ratings]]:
    """Normalise what a split function returns to a list of (train, test) pairs."""
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], Ratings):
        return [result]
    pairs = list(result)
    if not pairs or not all(
        isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], Ratings) for p in pairs
    ):
        raise EvaluationError(f"split {split!r} did not produce (train, test) pairs")
    return pairs


def _combined_fingerprint(parts: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
    return digest.hexdigest()[:16]


def _data_info(ratings: Ratings, source: str) -> dict[str, Any]:
    """The description of the data that the report keeps."""
    return {
        "name": ratings.name,
        "source": source,
        "n_ratings": int(len(ratings)),
        "n_users": int(ratings.n_users),
        "n_items": int(ratings.n_items),
        "rating_scale": list(ratings.rating_scale),
        "fingerprint": ratings.fingerprint(),
    }


def _predefined_folds(
    data: str | os.PathLike | None, split: str
) -> tuple[list[Fold], dict[str, Any]]:
    """The official ML-100k fold(s) ``split`` of ``data``, and the description of the data."""
    if not _is_ml100k(data):
        what = "the bundled ml-latest-small" if data is None else (
            data.name if isinstance(data, Ratings) else str(data)
        )
        raise EvaluationError(
            f"split {split!r} exists only for MovieLens 100K, not for {what}: use "
            "--data ml-100k (or the path of an ml-100k folder), or --split holdout/kfold"
        )
    triples = []
    for fold in _folds_for(split):
        train, test = load_predefined_split(data, fold)
        triples.append((fold, train, test))
    train0, test0 = triples[0][1], triples[0][2]
    info = {
        "name": train0.name.split(" ")[0] if train0.name else "ml-100k",
        "source": str(data),
        "n_ratings": int(len(train0) + len(test0)),
        "n_users": int(train0.n_users),
        "n_items": int(train0.n_items),
        "rating_scale": list(train0.rating_scale),
        "fingerprint": _combined_fingerprint(
            [t.fingerprint() + s.fingerprint() for _, t, s in triples]
        ),
    }
    return triples, info


def _probe_fold(data: Ratings | str | os.PathLike | None) -> tuple[list[Fold], dict[str, Any]]:
    """The Netflix Prize's probe split of a Netflix Prize folder, and the description."""
    if data is None or isinstance(data, Ratings) or find_netflix_files(data) is None:
        raise EvaluationError(
            "split 'probe' exists only for a Netflix Prize folder (training_set/ or "
            "combined_data_*.txt, with probe.txt): pass it with --data, or use --split holdout"
        )
    train, test = load_predefined_split(data, "probe")
    info = {
        "name": "netflix",
        "source": str(data),
        "n_ratings": int(len(train) + len(test)),
        "n_users": int(train.n_users),
        "n_items": int(train.n_items),
        "rating_scale": list(train.rating_scale),
        "fingerprint": _combined_fingerprint([train.fingerprint() + test.fingerprint()]),
    }
    return [("probe", train, test)], info


_SPLIT_ARGS: dict[str, Callable[[int], dict[str, Any]]] = {
    "holdout": lambda seed: {"test_size": 0.2, "random_state": seed},
    "kfold": lambda seed: {"k": 5, "random_state": seed},
    "user": lambda seed: {"n_test": 0.2, "random_state": seed},
    "temporal": lambda seed: {"test_size": 0.2},
}
"""Arguments of :func:`recsys.data.splits.split` for each random split: 20 % test ratings
(of all ratings, of each user's, or the latest 20 %), or five folds."""


def _random_folds(
    data: Ratings | str | os.PathLike | None, split: str, seed: int
) -> tuple[list[Fold], dict[str, Any]]:
    """``data`` (loaded if needed) cut by ``split`` with ``seed``, and its description."""
    if isinstance(data, Ratings):
        ratings, source = data, data.name
    else:
        ratings = load(data)
        source = "bundled ml-latest-small" if data is None else str(data)
    pairs = _as_pairs(split_ratings(ratings, split, **_SPLIT_ARGS[split](seed)), split)
    labels = [split] if len(pairs) == 1 else [f"{split}{n + 1}" for n in range(len(pairs))]
    folds = [(label, tr, te) for label, (tr, te) in zip(labels, pairs)]
    return folds, _data_info(ratings, source)


def prepare_folds(
    data: Ratings | str | os.PathLike | None, split: str, seed: int
) -> tuple[list[Fold], dict[str, Any]]:
    """Load the data and cut it into labelled (fold, train, test) triples.

    Returns the triples and the description of the data the report keeps (name, source, sizes,
    rating scale, fingerprint). Raises :class:`EvaluationError` for an unknown split or an
    official ML-100k fold asked of another data set.
    """
    if split not in SPLITS:
        raise EvaluationError(f"unknown split {split!r} (choose from {', '.join(SPLITS)})")
    if split == "probe":
        return _probe_fold(data)
    if split in PREDEFINED_FOLDS or split == "all-folds":
        return _predefined_folds(data, split)
    return _random_folds(data, split, seed)
