"""Fold-in of new users against a full refit, on ML-100k ``u1``.

A sample of ``u1.test`` users (seeded; each with at least ``K_MAX + 5`` test ratings) is made
new: all their ``u1.base`` ratings are removed, and MF (or SVD++; the defaults, seed 0) is
fitted on what remains. Each sampled user's test ratings are shuffled (seeded); the first ``k``
are given to the model, and the ratings after position ``K_MAX`` are scored (the same held-out
ratings at every ``k``, so the curve compares like with like). For each ``k``:

* fold-in: ``model.fold_in({item: rating})`` of the first ``k``, then ``predict(profile=)``;
* refit: the model fitted from scratch (same settings and seed) on the remaining ``u1.base``
  plus every sampled user's first ``k`` ratings at once;
* for reference: fold-in with the penalty of SGD's converged objective alone (``n reg``,
  ``n reg_bias``, without the ``1/T`` early-stopping term of
  :func:`recsys.models.foldin.sgd_penalties`), the bias baseline's fold-in (``b_u`` only),
  and the item-bias fallback (``mu + b_i``, what an unknown user gets).

The given ratings are drawn among items the reduced training set still has (a film only the
removed users rated has no factors to fold in against).

Run: ``python bench/bench_foldin.py [--model mf|svdpp|knn|hybrid|...] [--users 100]
[--seed 0]`` (5 fits: about a second each for MF, a minute each for the hybrid).

Measured (2 cores, seed 0, 100 users, 5,536 scored ratings; RMSE on the 1-5 scale; ratio =
fold-in / refit; ms: ``fold_in`` per user, mean and 95th percentile):

  ``--model mf`` (unknown-user fallback mu + b_i: 1.0145)

  ===  =======  ======  ======  =====  =====  ==============  =================
  k    fold-in  refit   ratio   ms     p95    n reg only      BiasBaseline f-in
  ===  =======  ======  ======  =====  =====  ==============  =================
  1    1.0071   1.0132  0.9940  0.8    4.6    1.1875          1.0215
  5    0.9847   0.9942  0.9905  1.4    5.0    1.0408          1.0032
  10   0.9705   0.9716  0.9990  1.9    5.3    1.0031          0.9908
  20   0.9617   0.9638  0.9978  3.5    6.8    0.9843          0.9824
  ===  =======  ======  ======  =====  =====  ==============  =================

  ``--model svdpp`` (fallback 1.0398): k=1 1.0258 vs 1.0311 (0.9949), k=5 0.9923 vs 1.0058
  (0.9865), k=10 0.9669 vs 0.9699 (0.9968), k=20 0.9523 vs 0.9518 (1.0006); 0.7-3.2 ms.
  ``--seed 1`` (MF, another 100 users): ratios 0.9988, 0.9953, 0.9981, 1.0002.

Without the ``1/T`` term (the "n reg only" column: SGD's converged objective) a user with one
rating puts it nearly all into ``b_u`` and scores worse than no personalisation at all.
Timings vary with the machine's load (0.3-2 ms mean at k=10 across runs).

Settings were not chosen on these test ratings:
fold-in has no setting of its own; it reuses the fitted model's ``reg``, ``reg_bias``, step
sizes and epochs (``recsys.models.foldin.sgd_penalties``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ml100k import load_split  # noqa: E402

from recsys.data.ratings import Ratings  # noqa: E402
from recsys.models.baseline import BiasBaseline  # noqa: E402
from recsys.models.foldin import FOLD_IN_MODELS  # noqa: E402
from recsys.models.registry import model_class  # noqa: E402

KS = (1, 5, 10, 20)
K_MAX = max(KS)


def frame_of(r: Ratings, mask: np.ndarray | None = None) -> pd.DataFrame:
    sel = slice(None) if mask is None else mask
    return pd.DataFrame({"user": r.user_ids[r.users[sel]], "item": r.item_ids[r.items[sel]],
                         "rating": r.ratings[sel].astype(np.float64)})


def converged_penalties(model, n: int) -> tuple[float, float]:
    """SGD's converged objective alone: ``n reg``, ``n reg_bias`` (no ``1/T`` term)."""
    return n * float(model.reg), n * float(model.reg_bias)


def rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred) - truth) ** 2)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", choices=sorted(FOLD_IN_MODELS), default="mf")
    args = ap.parse_args()
    train, test = load_split("u1")
    tr, te = frame_of(train), frame_of(test)
    counts = te.groupby("user").size()
    eligible = np.sort(counts.index[counts >= K_MAX + 5].to_numpy())
    rng = np.random.default_rng(args.seed)
    users = np.sort(rng.choice(eligible, size=min(args.users, len(eligible)), replace=False))
    given, scored = {}, []
    base = tr[~tr.user.isin(users)]
    known = set(base.item)
    for user in users:
        rows = te[te.user == user].sample(frac=1.0, random_state=int(rng.integers(2**31)))
        # the given ratings are of items the reduced training set has (fold-in can use them)
        rows = pd.concat([rows[rows.item.isin(known)], rows[~rows.item.isin(known)]])
        given[user] = rows.iloc[:K_MAX]
        scored.append(rows.iloc[K_MAX:])
    scored = pd.concat(scored)
    truth = scored.rating.to_numpy()
    print(f"u1: {len(eligible)} test users with >= {K_MAX + 5} test ratings; sample of "
          f"{len(users)} made new (removed {len(tr) - len(base):,} of their u1.base ratings); "
          f"{len(scored):,} held-out ratings scored (positions > {K_MAX})")

    def fit(frame: pd.DataFrame, cls=model_class(args.model), **kw):
        data = Ratings.from_dataframe(frame, timestamp=None, rating_scale=(1.0, 5.0))
        start = time.perf_counter()
        model = cls(**kw).fit(data)
        return model, time.perf_counter() - start

    seeded = {} if args.model == "knn" else {"random_state": 0}
    model, seconds = fit(base, **seeded)
    bias, _ = fit(base, BiasBaseline)
    print(f"{type(model).__name__} (its defaults) on the rest: {seconds:.1f} s")
    module = sys.modules[type(model).__module__]
    sgd_fold_in = hasattr(module, "sgd_penalties")  # the "n reg" column: MF and SVD++
    fallback = rmse(model.predict(np.full(len(scored), -1), scored.item.to_numpy()), truth)
    print(f"unknown-user fallback (mu + b_i): RMSE {fallback:.4f}")
    model.fold_in({given[users[0]].item.iloc[0]: 3.0})  # warm-up (pandas title index)
    print(f"{'k':>3} {'fold-in':>8} {'refit':>8} {'ratio':>7} {'ms/user':>8} {'p95 ms':>7} "
          f"{'n*reg':>9} {'bias f-in':>9} {'refit s':>8}")
    rows = []
    for k in KS:
        preds, unscaled, biased, times = [], [], [], []
        for user in users:
            g = given[user].iloc[:k]
            mine = dict(zip(g.item, g.rating))
            items = scored.item[scored.user == user].to_numpy()
            start = time.perf_counter()
            profile = model.fold_in(mine)
            times.append(time.perf_counter() - start)
            preds.append(model.predict(items=items, profile=profile))
            biased.append(bias.predict(items=items, profile=bias.fold_in(mine)))
            # the converged objective alone: n * reg, without the early-stopping term 1/T
            if sgd_fold_in:
                with mock.patch.object(module, "sgd_penalties", converged_penalties):
                    unscaled.append(model.predict(items=items, ratings=mine))
            else:
                unscaled.append(np.full(len(items), np.nan))
        given_k = pd.concat([given[u].iloc[:k] for u in users])
        refit, refit_s = fit(pd.concat([base, given_k]), **seeded)
        r_fold = rmse(np.concatenate(preds), truth)
        r_refit = rmse(refit.predict(scored.user.to_numpy(), scored.item.to_numpy()), truth)
        ms = np.array(times) * 1e3
        row = (k, r_fold, r_refit, r_fold / r_refit, ms.mean(), np.percentile(ms, 95),
               rmse(np.concatenate(unscaled), truth), rmse(np.concatenate(biased), truth),
               refit_s)
        rows.append(row)
        print(f"{k:>3} {row[1]:>8.4f} {row[2]:>8.4f} {row[3]:>7.4f} {row[4]:>8.2f} "
              f"{row[5]:>7.2f} {row[6]:>9.4f} {row[7]:>9.4f} {row[8]:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
