"""Online updates against refits on ML-100k ordered by time (issue 14, "Fresh ratings").

Protocol. The 100,000 ratings of ``../shared/datasets/ml-100k/u.data`` sorted by timestamp
(ties in file order):

* evaluation: fit on the first 85 %, then stream the next 10 % in ten steps of 1 % (1,000
  ratings each), then score the last 5 % (the evaluation slice, never used for any choice).
  After every step, ``update`` is the model after ``partial_fit(step)`` and ``refit`` a model
  fitted from scratch, with the same settings, on everything seen so far (the 85 % and the
  steps so far). Each model knows only the users and items of the ratings it saw; users of
  the evaluation slice that it has not seen are predicted from the biases (both alike).
* also reported, prequential: each step scored before it is streamed, by the updated
  model, the refit and the model never updated (``static``) after the step before.
* choosing the update's settings (``--tune``): the same protocol inside the first 85 %: fit
  on the first 75 %, stream 75-80 % in five 1 % steps, score 80-85 % (the validation carve).
  Grid: epochs over the new ratings, the step size (a multiple of the step the fit ended
  on) and the replay size (ratings drawn per new rating from all the ratings seen before the
  step). The settings with the lowest mean validation RMSE over the five steps win.

Both models are :class:`~recsys.models.mf.MatrixFactorization` with its defaults
(``random_state`` 0, one thread), or SVD++ with its defaults (``--model svdpp``). Times: ``partial_fit`` per step (id maps, bookkeeping,
fold-in of new users, SGD) against one refit per step, wall clock, interleaved.

Run (from the repository root, with the project installed)::

    python bench/bench_update.py --tune      # choose the settings on the carve, then evaluate
    python bench/bench_update.py             # evaluate the defaults of partial_fit
    python bench/bench_update.py --model svdpp

Measured (2 shared cores, busy; times noisy). ``--tune`` chose 10 epochs at half the fit's
final step, no replay, for MF (3-10 epochs at 0.5-1x scored within 0.0003; replay of 1 or 4
old ratings per new one no better) and 5 epochs at half the step for SVD++ (``--model svdpp
--tune``); these are ``partial_fit``'s defaults. ``python bench/bench_update.py``, MF:

| step | ratings seen | RMSE update | RMSE refit | update/refit | update s | refit s |
|---:|---:|---:|---:|---:|---:|---:|
| 0 | 85,000 | 1.0240 | 1.0240 | 1.0000 |  |  |
| 1 | 86,000 | 1.0263 | 1.0281 | 0.9983 | 0.048 | 1.43 |
| 2 | 87,000 | 1.0262 | 1.0273 | 0.9989 | 0.090 | 1.62 |
| 3 | 88,000 | 1.0248 | 1.0259 | 0.9989 | 0.061 | 1.59 |
| 4 | 89,000 | 1.0241 | 1.0270 | 0.9972 | 0.038 | 1.35 |
| 5 | 90,000 | 1.0242 | 1.0257 | 0.9986 | 0.035 | 1.55 |
| 6 | 91,000 | 1.0246 | 1.0251 | 0.9995 | 0.037 | 1.67 |
| 7 | 92,000 | 1.0248 | 1.0259 | 0.9989 | 0.041 | 1.66 |
| 8 | 93,000 | 1.0241 | 1.0260 | 0.9982 | 0.058 | 1.81 |
| 9 | 94,000 | 1.0280 | 1.0304 | 0.9977 | 0.086 | 1.77 |
| 10 | 95,000 | 1.0273 | 1.0298 | 0.9976 | 0.056 | 1.80 |

Total update time 0.55 s against 16.2 s of refits (30x; per step 35-90 ms against 1.4-1.8 s);
the update is within 0.05 % of the refit or better at every step (the refit's users seen by
both: 0.9641 against the update's 0.9574 after step 10). Prequential mean RMSE: never
updated 0.9996, update 0.9820, refit 0.9842. ``--seed 1``: worst ratio 1.0006, 20x
(prequential 0.9996 / 0.9821 / 0.9840). ``--model svdpp``: worst ratio 1.0040 (step 10),
29x (0.44 s against 12.9 s), prequential 1.0071 / 0.9834 / 0.9828.

Most of the evaluation slice's ratings (2,830 of 5,000 after step 10) come from users no
model has seen, predicted by ``mu + b_i`` alike, which is why the figures move little.
Fold-in of new users: on the carve, leaving them to the SGD epochs alone scored 0.001 better
(mean validation RMSE 1.0246 against 1.0256), but on planted data where new users bring
about 100 ratings each it leaves them near zero (``tests/test_partial_fit.py``'s split:
0.89 against 0.60, refit 0.59), so fold-in stays.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import os
import time

# One core each: the refit runs one numba thread, so the update's small linear solves (the
# fold-in of new users) run on one BLAS thread too. (On a machine busier than its cores,
# OpenBLAS's spinning threads made those solves 50x slower than on one thread.)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.loading import load
from recsys.data.ratings import Ratings
from recsys.models.registry import make_model

ML100K = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-100k"


def by_time(root: Path = ML100K) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """All ratings as a frame (raw ids) sorted by timestamp, and the item information."""
    ratings = load(str(root))
    frame = ratings.to_dataframe()
    order = np.argsort(frame["timestamp"].to_numpy(), kind="stable")
    return frame.iloc[order].reset_index(drop=True), ratings.item_info


def container(frame: pd.DataFrame, info: pd.DataFrame | None, name: str) -> Ratings:
    """Ratings of ``frame`` alone (their own id maps), on the 1-5 scale."""
    return Ratings.from_dataframe(frame, rating_scale=(1.0, 5.0), item_info=info, name=name)


def rmse_on(model, frame: pd.DataFrame) -> tuple[float, float, int]:
    """RMSE on all of ``frame``, RMSE on its ratings by users the model has seen, and their
    count."""
    users, items = frame["user"].to_numpy(), frame["item"].to_numpy()
    pred = model.predict(users, items)
    err = (frame["rating"].to_numpy() - pred) ** 2
    warm = model.encode(users, items)[0] >= 0
    return (float(np.sqrt(err.mean())), float(np.sqrt(err[warm].mean())) if warm.any()
            else float("nan"), int(warm.sum()))


def stream(frame: pd.DataFrame, info, fit_end: float, n_steps: int, step: float,
           eval_end: float, settings: dict, *, refit: bool, seed: int = 0,
           base_model=None, model: str = "mf") -> list[dict]:
    """Fit on ``[0, fit_end)``, stream ``n_steps`` steps of ``step``, score
    ``[fit_end + n_steps step, eval_end)``. Returns one row per step."""
    n = len(frame)
    cut = [int(round((fit_end + s * step) * n)) for s in range(n_steps + 1)]
    evaluation = frame.iloc[cut[-1]:int(round(eval_end * n))]
    name = model
    model = copy.deepcopy(base_model) if base_model is not None else \
        make_model(name, random_state=seed).fit(container(frame.iloc[:cut[0]], info, "fit"))
    static = copy.deepcopy(model)  # never updated
    first = rmse_on(model, evaluation)
    rows = [{"step": 0, "seen": cut[0], "update": first[0], "refit": first[0],
             "update_warm": first[1], "refit_warm": first[1], "warm": first[2]}]
    for s in range(n_steps):
        new = container(frame.iloc[cut[s]:cut[s + 1]], info, f"step {s + 1}")
        replay = container(frame.iloc[:cut[s]], info, "seen") \
            if settings.get("replay_size") else None
        start = time.perf_counter()
        model.partial_fit(new, replay=replay, random_state=seed + s, **settings)
        row = {"step": s + 1, "seen": cut[s + 1], "update_s": time.perf_counter() - start}
        row["update"], row["update_warm"], row["warm"] = rmse_on(model, evaluation)
        if refit:
            start = time.perf_counter()
            fresh = make_model(name, random_state=seed).fit(
                container(frame.iloc[:cut[s + 1]], info, "seen"))
            row["refit_s"] = time.perf_counter() - start
            row["refit"], row["refit_warm"], _ = rmse_on(fresh, evaluation)
        if refit and s + 2 < len(cut):  # prequential: the next step, before it is streamed
            upcoming = frame.iloc[cut[s + 1]:cut[s + 2]]
            row["next"] = {name: rmse_on(m, upcoming)[0]
                           for name, m in (("update", model), ("refit", fresh),
                                           ("static", static))}
        rows.append(row)
    return rows


def tune(frame: pd.DataFrame, info, model: str = "mf") -> dict:
    """The grid on the validation carve (75 % fit, five 1 % steps, 80-85 % scored)."""
    base = make_model(model, random_state=0).fit(
        container(frame.iloc[:int(0.75 * len(frame))], info, "fit"))
    fit_lr = base.lr / (1.0 + base.lr_decay * base.best_epoch_)
    results = []
    for epochs, scale, replay in itertools.product((1, 3, 5, 10, 20), (0.5, 1.0, 2.0, 4.0),
                                                   (0.0, 1.0, 4.0)):
        settings = {"n_epochs": epochs, "lr": fit_lr * scale, "replay_size": replay}
        rows = stream(frame, info, 0.75, 5, 0.01, 0.85, settings, refit=False,
                      base_model=base)
        mean = float(np.mean([r["update"] for r in rows[1:]]))
        results.append((mean, rows[-1]["update"], epochs, scale, replay))
        print(f"epochs {epochs:2d}  lr x{scale:<4g} replay {replay:<3g}: mean valid RMSE "
              f"{mean:.4f}, last {rows[-1]['update']:.4f}", flush=True)
    results.sort()
    best = results[0]
    print(f"best on the carve: epochs {best[2]}, lr x{best[3]:g}, replay {best[4]:g} "
          f"(mean valid RMSE {best[0]:.4f})")
    return {"n_epochs": best[2], "lr": fit_lr * best[3], "replay_size": best[4]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune", action="store_true",
                        help="choose the update's settings on the validation carve first")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", choices=["mf", "svdpp"], default="mf")
    args = parser.parse_args()
    frame, info = by_time()
    settings = tune(frame, info, args.model) if args.tune else {}
    rows = stream(frame, info, 0.85, 10, 0.01, 1.0, settings, refit=True, seed=args.seed,
                  model=args.model)
    print(f"\nsettings: {settings or 'partial_fit defaults'}; evaluation slice: the last 5 % "
          f"({len(frame) - rows[-1]['seen']:,} ratings)")
    print("| step | ratings seen | RMSE update | RMSE refit | update/refit | known users' "
          "ratings | their RMSE update | refit | update s | refit s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        times = (f"{r['update_s']:.3f} | {r['refit_s']:.2f}" if "update_s" in r else " | ")
        print(f"| {r['step']} | {r['seen']:,} | {r['update']:.4f} | {r['refit']:.4f} | "
              f"{r['update'] / r['refit']:.4f} | {r['warm']:,} | {r['update_warm']:.4f} | "
              f"{r['refit_warm']:.4f} | {times} |")
    nexts = [r["next"] for r in rows if "next" in r]
    print("\nprequential (each of steps 2-10 scored before it is streamed, by the models after "
          "the step before; mean RMSE): " + ", ".join(
              f"{name} {np.mean([x[name] for x in nexts]):.4f}"
              for name in ("static", "update", "refit")))
    upd = sum(r["update_s"] for r in rows[1:])
    ref = sum(r["refit_s"] for r in rows[1:])
    worst = max(r["update"] / r["refit"] for r in rows[1:])
    print(f"\ntotal update time {upd:.2f} s, total refit time {ref:.2f} s: {ref / upd:.0f}x; "
          f"worst update/refit RMSE ratio {worst:.4f}, after the last step "
          f"{rows[-1]['update'] / rows[-1]['refit']:.4f}")


if __name__ == "__main__":
    main()
