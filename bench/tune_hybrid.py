"""Tune and measure the hybrid (MF + I-AutoRec blended by a tanh network) on ML-100k u1..u5
and on ml-latest-small; prints RMSE overall and by user activity.

Settings were chosen on a validation split carved from u1.base (``--tune`` reruns that
comparison; no test rating is used in it). The default run fits BiasBaseline, MF (the project's
defaults) and the hybrid on each uN.base, scores uN.test once, and prints the RMSE overall and
by user activity (the user's number of training ratings).

Run by hand::

    python bench/tune_hybrid.py --latest        # u1..u5 and ml-latest-small
    python bench/tune_hybrid.py --tune          # the validation grid on u1.base
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.predefined_splits import load_predefined_split
from recsys.data.ratings import Ratings
from recsys.models.baseline import BiasBaseline
from recsys.models.hybrid import HybridRecommender
from recsys.models.mf import MatrixFactorization

ROOT = Path(__file__).resolve().parents[1]
ML100K = ROOT.parent / "shared" / "datasets" / "ml-100k"
LATEST = ROOT / "data" / "ml-latest-small"

def ml100k_split(name: str, folder: Path = ML100K) -> tuple[Ratings, Ratings]:
    """Official split ``name`` (u1..u5) as (train, test) sharing one id map (library reader)."""
    return load_predefined_split(folder, name, download=False)


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


# ---------------------------------------------------------------------- measuring
GROUPS = (("< 20", 0, 19), ("20-100", 20, 100), ("> 100", 101, 10**9))

# Chosen on a validation split carved at random (10%, seed 0) from u1.base, see --tune.
CHOSEN = dict(hidden=(32, 16), n_folds=3, lr=0.002, use_side=True, use_factors=False)

TUNE_GRID = [
    dict(CHOSEN),
    dict(CHOSEN, n_folds=5),
    dict(CHOSEN, use_side=False),
    dict(CHOSEN, use_factors=True),
    dict(CHOSEN, hidden=(16,)),
    dict(CHOSEN, lr=0.001),
]


def rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred, np.float64) - truth) ** 2)))


def models(seed: int = 0, **hybrid: object) -> dict[str, object]:
    return {
        "BiasBaseline": BiasBaseline(),
        "MF": MatrixFactorization(random_state=seed),
        "Hybrid": HybridRecommender(random_state=seed, **hybrid),
    }


def evaluate(train: Ratings, test: Ratings, seed: int = 0) -> dict[str, dict[str, float]]:
    """Fit the three models on ``train``; RMSE on ``test`` overall and by user activity."""
    counts = train.user_counts()[test.users]
    out: dict[str, dict[str, float]] = {}
    for name, model in models(seed, **CHOSEN).items():
        start = time.perf_counter()
        model.fit(train)
        pred = model.predict_ratings(test)
        row = {"all": rmse(pred, test.ratings), "seconds": time.perf_counter() - start}
        for label, low, high in GROUPS:
            mask = (counts >= low) & (counts <= high)
            row[label] = rmse(pred[mask], test.ratings[mask]) if mask.any() else float("nan")
            row[f"n {label}"] = int(mask.sum())
        out[name] = row
    return out


def print_by_activity(title: str, results: dict[str, dict[str, float]]) -> None:
    first = next(iter(results.values()))
    heads = [f"{label} (n={first[f'n {label}']})" for label, _, _ in GROUPS]
    print(f"\n{title}\n")
    print("| model | all | " + " | ".join(heads) + " | fit s |")
    print("| --- | ---: | " + " | ".join("---:" for _ in heads) + " | ---: |")
    for name, row in results.items():
        cells = " | ".join(f"{row[label]:.4f}" for label, _, _ in GROUPS)
        print(f"| {name} | {row['all']:.4f} | {cells} | {row['seconds']:.0f} |", flush=True)


def tune() -> None:
    """Compare the grid on a validation split of u1.base (the test file is not read)."""
    train, _ = ml100k_split("u1")  # only u1.base ratings are used below
    perm = np.random.default_rng(0).permutation(len(train))
    n_valid = len(train) // 10
    fit, valid = train.subset(np.sort(perm[n_valid:])), train.subset(np.sort(perm[:n_valid]))
    print("| validation RMSE (u1.base carve) | setting |\n| ---: | --- |")
    for params in TUNE_GRID:
        model = HybridRecommender(random_state=0, **params).fit(fit)
        print(f"| {rmse(model.predict_ratings(valid), valid.ratings):.4f} | {params} |",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", default="u1,u2,u3,u4,u5")
    parser.add_argument("--latest", action="store_true", help="also ml-latest-small 90/10")
    parser.add_argument("--no-100k", action="store_true")
    parser.add_argument("--tune", action="store_true", help="validation grid on u1.base only")
    args = parser.parse_args()
    if args.tune:
        tune()
        return
    summary = []
    if not args.no_100k:
        if not ML100K.is_dir():
            sys.exit(f"ML-100k not found at {ML100K}")
        for fold in args.folds.split(","):
            train, test = ml100k_split(fold)
            results = evaluate(train, test)
            print_by_activity(f"ML-100k {fold} (test RMSE by the user's training ratings)",
                              results)
            summary.append((fold, {k: v["all"] for k, v in results.items()}))
        print("\n| fold | BiasBaseline | MF | Hybrid | Hybrid beats MF |")
        print("| --- | ---: | ---: | ---: | --- |")
        for fold, row in summary:
            print(f"| {fold} | {row['BiasBaseline']:.4f} | {row['MF']:.4f} | "
                  f"{row['Hybrid']:.4f} | {row['Hybrid'] < row['MF']} |")
        means = {k: np.mean([row[k] for _, row in summary]) for k in summary[0][1]}
        print(f"| mean | {means['BiasBaseline']:.4f} | {means['MF']:.4f} | "
              f"{means['Hybrid']:.4f} | |")
    if args.latest:
        train, test = latest_small(seed=0)
        print_by_activity("ml-latest-small, seeded 90/10 split (seed 0)", evaluate(train, test))


if __name__ == "__main__":
    main()
