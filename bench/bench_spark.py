"""The spark engine's DSGD against the local engine and Spark MLlib's ALS, in one run.

Run by hand (needs ``pip install -e ".[spark]"`` and Java 17 or 21). Every system is fitted on
the same training ratings and scored on the same test ratings; the table gives test RMSE and
wall seconds of the fit (the Spark context's start is timed apart and excluded; data
conversion into MLlib's DataFrame is excluded too), and each system's time as a ratio of
DSGD's. All Spark work runs on ``--master`` (default ``local[2]``, bound to 127.0.0.1).

* ours, DSGD: ``MatrixFactorization`` (defaults, ``--epochs`` epochs) on a ``B x B`` grid
  (``B`` = ``--blocks``, default the master's cores);
* ours, local: the same settings in this process (``--threads`` threads);
* MLlib ALS: ``pyspark.ml.recommendation.ALS`` (explicit ratings, rank ``--als-rank``,
  ``--als-iters`` iterations, ``regParam`` ``--als-reg``); a test pair ALS cannot score (user or
  item without training ratings) gets the training mean, as ours fall back to biases.

Data sets (``--sets``): ``u1`` (ML-100k ``u1.base`` / ``u1.test`` from
``../shared/datasets/ml-100k``) and ``synthetic`` (``--synthetic-ratings``, default 10M, skewed:
log-normal user activity, Zipf item popularity, from :func:`recsys.data.synthetic.make_planted`
seeded; 100k users x 20k items; a seeded 10 % test holdout). The synthetic set takes many
minutes on two cores::

    python bench/bench_spark.py                          # u1
    python bench/bench_spark.py --sets u1,synthetic      # and 10M synthetic ratings
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ml100k import load_split  # noqa: E402

from recsys.data.ratings import Ratings  # noqa: E402
from recsys.data.synthetic import make_planted  # noqa: E402
from recsys.engines.spark import SparkEngine  # noqa: E402
from recsys.models.mf import MatrixFactorization  # noqa: E402


def rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred, dtype=np.float64) - truth) ** 2)))


def synthetic(n_ratings: int, seed: int = 0, bounded: bool = True) -> tuple[Ratings, Ratings]:
    """Skewed planted ratings and a seeded 10 % test holdout. ``bounded``: rounded to half
    stars in [0.5, 5] as in MovieLens (unbounded, the planted values run from about -5 to 12,
    whose outliers stretch the rating range MF's model units divide by)."""
    data = make_planted(n_users=100_000, n_items=20_000, n_ratings=n_ratings, n_factors=10,
                        noise=0.8, random_state=seed)
    if bounded:
        stars = np.clip(np.round(data.ratings * 2) / 2, 0.5, 5.0).astype(np.float32)
        data = Ratings(users=data.users, items=data.items, ratings=stars,
                       user_ids=data.user_ids, item_ids=data.item_ids,
                       timestamps=data.timestamps, rating_scale=(0.5, 5.0), name=data.name)
    test = np.random.default_rng(seed).random(len(data)) < 0.1
    return data.subset(~test), data.subset(test)


def fit_als(engine: SparkEngine, train: Ratings, test: Ratings, rank: int, iters: int,
            reg: float, seed: int) -> tuple[float, float]:
    """MLlib ALS on the same dense indices; returns (test RMSE, fit seconds)."""
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import SparkSession
    from pyspark.sql.types import FloatType, IntegerType, StructField, StructType

    with warnings.catch_warnings():  # pyspark 4 warns that pandas 3 is not fully supported
        warnings.filterwarnings("ignore", message=".*pandas.*", category=FutureWarning)
        spark = SparkSession(engine.context)
    schema = StructType([StructField("user", IntegerType()), StructField("item", IntegerType()),
                         StructField("rating", FloatType())])

    def frame(data: Ratings):
        rows = list(zip(data.users.tolist(), data.items.tolist(), data.ratings.tolist()))
        return spark.createDataFrame(rows, schema).repartition(engine.n_blocks).cache()

    train_df, test_df = frame(train), frame(test)
    train_df.count()
    test_df.count()
    start = time.perf_counter()
    model = ALS(rank=rank, maxIter=iters, regParam=reg, userCol="user", itemCol="item",
                ratingCol="rating", coldStartStrategy="nan", seed=seed).fit(train_df)
    seconds = time.perf_counter() - start
    rows = model.transform(test_df).select("user", "item", "rating", "prediction").collect()
    pred = np.array([np.nan if r["prediction"] is None else r["prediction"] for r in rows],
                    dtype=np.float64)
    truth = np.array([r["rating"] for r in rows], dtype=np.float64)
    pred = np.where(np.isnan(pred), float(np.mean(train.ratings)), pred)
    low, high = train.rating_scale
    return rmse(np.clip(pred, low, high), truth), seconds


def run_set(name: str, train: Ratings, test: Ratings, engine: SparkEngine,
            args: argparse.Namespace) -> list[tuple[str, float, float]]:
    settings = dict(n_epochs=args.epochs, random_state=args.seed)
    rows = []
    start = time.perf_counter()
    dsgd = engine.fit(MatrixFactorization(**settings), train)
    rows.append(("ours, DSGD on Spark", rmse(dsgd.predict_ratings(test), test.ratings),
                 time.perf_counter() - start))
    start = time.perf_counter()
    local = MatrixFactorization(**settings, n_threads=args.threads).fit(train)
    rows.append((f"ours, local engine ({args.threads} threads)",
                 rmse(local.predict_ratings(test), test.ratings), time.perf_counter() - start))
    score, seconds = fit_als(engine, train, test, args.als_rank, args.als_iters, args.als_reg,
                             args.seed)
    rows.append((f"MLlib ALS (rank {args.als_rank}, {args.als_iters} iterations, reg "
                 f"{args.als_reg:g})", score, seconds))
    base = rows[0][2]
    print(f"\n{name}: {len(train):,} training / {len(test):,} test ratings, "
          f"{train.n_users:,} users x {train.n_items:,} items; MF defaults, "
          f"{args.epochs} epochs, {engine.n_blocks} x {engine.n_blocks} DSGD grid on "
          f"{args.master}")
    print(f"| system | test RMSE | fit s | time / DSGD's |\n| --- | ---: | ---: | ---: |")
    for label, score, seconds in rows:
        print(f"| {label} | {score:.4f} | {seconds:.1f} | {seconds / base:.2f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="u1")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--blocks", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--als-rank", type=int, default=50)
    parser.add_argument("--als-iters", type=int, default=15)
    parser.add_argument("--als-reg", type=float, default=0.1)
    parser.add_argument("--synthetic-ratings", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--unbounded", action="store_true",
                        help="synthetic ratings as planted, not rounded to half stars in [0.5, 5]")
    args = parser.parse_args()
    start = time.perf_counter()
    with SparkEngine(args.master, n_blocks=args.blocks) as engine:
        print(f"Spark context on {args.master} started in {time.perf_counter() - start:.1f} s")
        # warm the workers (imports, numba kernels loaded from cache) on a tiny fit
        tiny = make_planted(n_users=50, n_items=40, n_ratings=600, n_factors=2,
                            random_state=0)
        engine.fit(MatrixFactorization(n_epochs=1), tiny)
        MatrixFactorization(n_epochs=1).fit(tiny)
        for name in args.sets.split(","):
            if name == "u1":
                train, test = load_split("u1")
            elif name == "synthetic":
                train, test = synthetic(args.synthetic_ratings, args.seed,
                                        bounded=not args.unbounded)
            else:
                raise SystemExit(f"unknown set {name!r}: u1 or synthetic")
            run_set(name, train, test, engine, args)


if __name__ == "__main__":
    main()
