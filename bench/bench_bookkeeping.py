"""What share of a matrix factorisation fit the training-data bookkeeping takes.

``Estimator._remember_data`` (id maps, counts, each user's seen items, item metadata, the data
fingerprint) runs before every fit. Round one ran it on a helper thread beside the epochs; this
measures whether that could matter: its time against a whole 2-thread fit at ML-25M's shape
(10M ratings, 162k users x 59k items, 100 factors, 20 epochs)::

    python bench/bench_bookkeeping.py [--ratings 10000000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from recsys.data.synthetic import make_planted
from recsys.models.mf import MatrixFactorization


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=10_000_000)
    args = parser.parse_args()
    ratings = make_planted(n_users=162_000, n_items=59_000, n_ratings=args.ratings,
                           n_factors=10, noise=0.5, with_timestamps=False, random_state=0)
    warm = MatrixFactorization(n_factors=100, n_epochs=1, n_threads=2, random_state=0)
    warm.fit(ratings.subset(np.arange(100_000)))  # compile the kernels first
    model = MatrixFactorization(n_factors=100, n_epochs=20, lr=0.005, reg=0.02, n_threads=2,
                                random_state=0)
    start = time.perf_counter()
    model._remember_data(ratings)
    bookkeeping = time.perf_counter() - start
    start = time.perf_counter()
    model.fit(ratings)
    fit = time.perf_counter() - start
    print(f"bookkeeping {bookkeeping:.2f} s, whole fit {fit:.1f} s: "
          f"{100 * bookkeeping / fit:.1f} % of the fit")


if __name__ == "__main__":
    main()
