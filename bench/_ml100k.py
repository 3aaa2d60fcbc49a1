"""Shared helper of the bench scripts: the ML-100k official splits, read from
``../shared/datasets/ml-100k`` (never bundled: its licence forbids redistribution)."""

from __future__ import annotations

from pathlib import Path

from recsys.data.predefined_splits import load_predefined_split
from recsys.data.ratings import Ratings

ML100K = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-100k"


def load_split(name: str = "u1", root: Path = ML100K) -> tuple[Ratings, Ratings]:
    """(train, test) of split ``name`` (``uN.base`` / ``uN.test``) sharing one id map."""
    return load_predefined_split(root, name)
