"""Shared helper of the bench scripts: read an ML-100k official split (never bundled)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.ratings import Ratings

ML100K = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-100k"
COLUMNS = ["user", "item", "rating", "timestamp"]


def load_split(name: str = "u1", root: Path = ML100K) -> tuple[Ratings, Ratings]:
    """(train, test) of split ``name`` sharing one id map (``uN.base`` / ``uN.test``)."""
    base = pd.read_csv(root / f"{name}.base", sep="\t", names=COLUMNS)
    test = pd.read_csv(root / f"{name}.test", sep="\t", names=COLUMNS)
    both = Ratings.from_dataframe(pd.concat([base, test], ignore_index=True),
                                  rating_scale=(1.0, 5.0), name=f"ml-100k/{name}")
    n = len(base)
    return both.subset(np.arange(n)), both.subset(np.arange(n, len(both)))
