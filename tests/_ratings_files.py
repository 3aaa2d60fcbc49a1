"""Small random ratings files for command-line tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def write_random_ratings(path: Path, n_users: int, n_items: int, per_user: int,
                         seed: int) -> Path:
    """``userId,movieId,rating`` with ``per_user`` distinct items (1..n_items) for each user
    1..n_users and integer ratings 1..5, all drawn from one seeded generator."""
    rng = np.random.default_rng(seed)
    rows = [(user, int(item), float(rng.integers(1, 6)))
            for user in range(1, n_users + 1)
            for item in rng.choice(np.arange(1, n_items + 1), size=per_user, replace=False)]
    pd.DataFrame(rows, columns=["userId", "movieId", "rating"]).to_csv(path, index=False)
    return path
