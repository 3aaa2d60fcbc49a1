"""Top-N lists by ranking objective: NDCG@10, precision@10 and coverage of each model ranked by
predicted rating and by relevance, on ML-100k ``u1`` and the bundled set's seeded holdout,
with cornac's BPR (same factors, steps, regularisation and epochs as ours) in the same run.

Run by hand in an environment with the bench extras (cornac)::

    python bench/bench_topn.py [--models popularity,mf,svdpp,bpr] [--seed 0] [--no-peer]

Each data set goes through :func:`recsys.evaluate` exactly as ``recsys evaluate
--rank-by both`` does (epochs of every learner chosen on a 10 % validation carve of the
training side, then refitted on all of it; the test side scored once; relevant = test rating
>= 4; every test user with a relevant item). ``coverage`` is the share of the trainable items
recommended to anyone; ``distinct`` the number of those items. The relevance weights
(:mod:`recsys.models.relevance`, BPR's ``RATING_WEIGHT``) and BPR's defaults were chosen on
validation carves of the same training sides (10 %, seed 0), never on a test side.

Measured (2 shared cores, busy; ``python bench/bench_topn.py``, seed 0). NDCG@10 /
precision@10 / distinct items recommended (coverage of the trainable items):

=====================  ===========================  ===========================
model, rank_by         ML-100k u1                   bundled, holdout seed 0
=====================  ===========================  ===========================
popularity             0.245 / 0.213 /  51 (3.1 %)  0.159 / 0.119 /  50 (0.6 %)
baseline, rating       0.132 / 0.141 /  38 (2.3 %)  0.095 / 0.078 /  39 (0.4 %)
baseline, relevance    0.405 / 0.346 / 197 (11.9 %) 0.250 / 0.189 / 729 (8.2 %)
mf, rating             0.154 / 0.144 / 163 (9.9 %)  0.045 / 0.040 / 286 (3.2 %)
mf, relevance          0.426 / 0.359 / 255 (15.5 %) 0.256 / 0.197 / 778 (8.7 %)
svdpp, rating          0.124 / 0.121 / 163 (9.9 %)  0.012 / 0.011 / 210 (2.4 %)
svdpp, relevance       0.440 / 0.373 / 263 (15.9 %) 0.268 / 0.201 / 820 (9.2 %)
bpr, relevance         0.418 / 0.358 / 325 (19.7 %) 0.214 / 0.170 / 583 (6.5 %)
cornac BPR (same       0.393 / 0.335 / 453 (27.5 %) 0.192 / 0.149 / 756 (8.5 %)
settings, 60 epochs)
=====================  ===========================  ===========================

Ranked by relevance, MF's NDCG@10 is 1.74x (u1) and 1.61x (bundled) the popularity ranking's
with 5.0x and 15.6x its distinct items; ranked by rating it is 0.63x and 0.28x. Ours BPR
against cornac's: NDCG@10 x1.06 (u1) and x1.11 (bundled); ours chose its epochs on a
validation carve (22-41 s with the refit), cornac ran 60 epochs (7-15 s).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ml100k import ML100K  # noqa: E402

from recsys import metrics  # noqa: E402
from recsys.data.ratings import Ratings  # noqa: E402
from recsys.evaluation.experiment import evaluate  # noqa: E402
from recsys.evaluation.folds import prepare_folds  # noqa: E402
from recsys.models.bpr import BPR  # noqa: E402

SETS = {"u1": (ML100K, "u1"), "bundled": (None, "holdout")}


def table_of(report) -> pd.DataFrame:
    """The report's ranking table with the distinct item count."""
    table = report.topn_table()[["ndcg@10", "precision@10", "coverage"]].copy()
    trained = {r.model: None for r in report.results}
    fitted = report.fitted
    for model in trained:
        n = int((np.asarray(fitted[model].item_counts_) > 0).sum())
        table.loc[model, "distinct"] = np.rint(table.loc[model, "coverage"].to_numpy() * n)
    return table


def cornac_bpr(train: Ratings, test: Ratings, seed: int) -> dict[str, float]:
    """cornac's BPR with our default settings, scored like ``recsys evaluate``."""
    import cornac

    ours = BPR()
    start = time.perf_counter()
    data = cornac.data.Dataset.from_uir(
        list(zip(train.users.astype(str), train.items.astype(str),
                 train.ratings.astype(float))), seed=seed)
    model = cornac.models.BPR(k=ours.n_factors, max_iter=ours.n_epochs, learning_rate=ours.lr,
                              lambda_reg=ours.reg, seed=seed, num_threads=1)
    model.fit(data)
    seconds = time.perf_counter() - start
    relevant = metrics.relevant_from_ratings(test, 4.0)
    users = relevant.users[relevant.counts() > 0]
    relevant = metrics.relevant_from_ratings(test, 4.0, users=users)
    ours_index = np.full(data.num_items, -1)  # our dense item index of each cornac index
    for raw, j in data.iid_map.items():
        ours_index[j] = int(raw)
    top = np.full((len(users), 10), -1, dtype=np.int64)
    for row, u in enumerate(users):
        if str(u) not in data.uid_map:
            continue
        scores = np.asarray(model.score(data.uid_map[str(u)]), dtype=np.float64)
        seen = train.items[train.users == u]
        in_cornac = np.flatnonzero(np.isin(ours_index, seen))
        scores[in_cornac] = -np.inf
        best = np.argsort(-scores, kind="stable")[:10]
        top[row] = ours_index[best]
    figures = metrics.topn_metrics(top, relevant, k=10)
    n_trained = int((np.bincount(train.items, minlength=train.n_items) > 0).sum())
    distinct = np.unique(top[top >= 0]).size
    return {"ndcg@10": figures["ndcg"], "precision@10": figures["precision"],
            "coverage": distinct / n_trained, "distinct": distinct, "fit_seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="popularity,mf,svdpp,bpr")
    parser.add_argument("--sets", default="u1,bundled")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args()
    pd.set_option("display.width", 160)
    for name in args.sets.split(","):
        source, split = SETS[name]
        start = time.perf_counter()
        report = evaluate(source, split=split, models=args.models.split(","), seed=args.seed,
                          k=10, topn_users=None, rank_by="both", keep_models=True)
        table = table_of(report)
        fit = {r.model: r.fit_seconds for r in report.results}
        table["fit_seconds"] = [fit[m] for m, _ in table.index]
        if not args.no_peer:
            _, train, test = prepare_folds(source, split, args.seed)[0][0]
            peer = cornac_bpr(train, test, args.seed)
            row = pd.DataFrame([peer], index=pd.MultiIndex.from_tuples(
                [("cornac BPR", "its score")], names=table.index.names))
            table = pd.concat([table, row])
        print(f"\n## {name} ({split}, seed {args.seed}; {time.perf_counter() - start:.0f} s)\n")
        print(table.round(4).to_string())
        pop = table.loc[("popularity", "relevance")] if "popularity" in args.models else None
        if pop is not None:
            for model in dict.fromkeys(m for m, _ in table.index):
                for objective in ("relevance", "rating"):
                    if (model, objective) in table.index and model != "popularity":
                        row = table.loc[(model, objective)]
                        print(f"{model:>10} {objective:>9}: NDCG@10 x{row['ndcg@10'] / pop['ndcg@10']:.2f} "
                              f"of popularity's, distinct items x{row['distinct'] / pop['distinct']:.1f}")


if __name__ == "__main__":
    main()
