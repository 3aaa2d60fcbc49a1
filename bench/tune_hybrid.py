"""The README's "Results" table: bias, MF and the hybrid on ML-100k u1..u5, defaults vs tuned,
with every setting chosen inside that fold's ``uN.base`` (nested evaluation).

For each fold ``uN`` this runs :func:`recsys.evaluate` on the official split (what
``recsys evaluate --data ML100K --split uN`` does), twice:

* **defaults**: each model's own settings; the epochs of every learner are chosen by early
  stopping on a seeded 10 % carve of ``uN.base``, then the model is refitted on all of
  ``uN.base``;
* **tuned** (``--trials``, default 30): :func:`recsys.tune` on ``uN.base`` only (its trials
  compared on a seeded 10 % carve of it) for the bias baseline and MF, the best refitted on all
  of ``uN.base``; the hybrid searches its network settings (``--hybrid-trials``, default 4,
  each a whole hybrid fit) with its base MF settings taken from the MF search of the same fold.

``uN.test`` is read by the runner and scored once per model, after that model's settings were
chosen and it was refitted; nothing chosen on one fold is used on another (``u1.base`` is
``u2.test`` + ... + ``u5.test``, so a choice made on ``u1.base`` and used on u2..u5 would have
seen their test ratings). A fold's line is printed only once its evaluation is finished. The
settings each fold chose are printed with it (they come from the reports' ``chosen``).

Run by hand. Nearly all the time is the hybrid's: 2 whole fits per fold for the defaults
(choose the epochs, refit) and ``--hybrid-trials`` + 1 for tuned; on a 2-core machine shared
with other jobs the defaults took 32 minutes for u1..u5 and the tuned hybrid 16 minutes a fold,
bias and MF 3 minutes in all::

    python bench/tune_hybrid.py                          # u1..u5, defaults and tuned
    python bench/tune_hybrid.py --folds u1 --no-hybrid   # quick: bias and MF on u1
    python bench/tune_hybrid.py --json results.json      # also keep every figure
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

import recsys
from _ml100k import ML100K, load_split

GROUPS = (("< 20", 0, 19), ("20-100", 20, 100), ("> 100", 101, 10**9))
NAMES = {"baseline": "BiasBaseline", "mf": "MF", "hybrid": "Hybrid"}


def run_fold(fold: str, models: tuple[str, ...], tune: int | bool, hybrid_trials: int,
             seed: int) -> recsys.evaluation.report.Report:
    """One nested evaluation of ``fold`` (settings chosen inside ``uN.base``)."""
    return recsys.evaluate(data=ML100K, split=fold, models=models, seed=seed, tune=tune,
                           hybrid_trials=hybrid_trials, validation=0.1)


def by_activity(report, fold: str) -> dict[str, dict[str, float]]:
    """Test RMSE of each model by the user's number of training ratings."""
    train, test = load_split(fold)
    counts = train.user_counts()[test.users]
    out = {}
    for r in report.results:
        if r.model == "mean" or r.errors.size != counts.size:
            continue
        err = r.errors.astype(np.float64)
        out[r.model] = {label: float(np.sqrt(np.mean(err[(counts >= lo) & (counts <= hi)] ** 2)))
                        for label, lo, hi in GROUPS}
        out[r.model]["n"] = {label: int(((counts >= lo) & (counts <= hi)).sum())
                             for label, lo, hi in GROUPS}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", default="u1,u2,u3,u4,u5")
    parser.add_argument("--trials", type=int, default=30, help="trials per model and fold")
    parser.add_argument("--hybrid-trials", type=int, default=4)
    parser.add_argument("--no-hybrid", action="store_true")
    parser.add_argument("--no-defaults", action="store_true")
    parser.add_argument("--no-tuned", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write every figure to this file")
    args = parser.parse_args()
    if not ML100K.is_dir():
        sys.exit(f"ML-100k not found at {ML100K}")
    models = ("baseline", "mf") if args.no_hybrid else ("baseline", "mf", "hybrid")
    variants = [v for v, skip in (("defaults", args.no_defaults), ("tuned", args.no_tuned))
                if not skip]
    folds = args.folds.split(",")
    rmse: dict[tuple[str, str], dict[str, float]] = {}  # (variant, model) -> fold -> RMSE
    keep: dict = {"seconds": {}, "chosen": {}, "activity": {}}
    for fold in folds:
        for variant in variants:
            start = time.perf_counter()
            report = run_fold(fold, models, args.trials if variant == "tuned" else False,
                              args.hybrid_trials, args.seed)
            seconds = time.perf_counter() - start
            keep["seconds"][f"{variant}/{fold}"] = seconds
            keep["chosen"][f"{variant}/{fold}"] = report.chosen()
            for r in report.results:
                rmse.setdefault((variant, r.model), {})[fold] = r.rmse
            figures = ", ".join(f"{NAMES.get(r.model, r.model)} {r.rmse:.4f}"
                                for r in report.results)
            print(f"{fold} {variant} ({seconds:.0f} s): {figures}", flush=True)
            for key, record in report.chosen().items():
                from recsys.evaluation.nested import describe_chosen

                print(f"    {key}: {describe_chosen(record)}", flush=True)
            if fold == "u1":
                keep["activity"][variant] = by_activity(report, fold)

    reference = "defaults" if "defaults" in variants else variants[0]
    # "vs bias": against the bias baseline with its default settings, fold means
    bias = np.mean([rmse[(reference, "baseline")][f] for f in folds])
    print("\n| model | settings | " + " | ".join(folds) + f" | mean | vs bias ({reference}) |")
    print("| --- | --- |" + " ---: |" * (len(folds) + 2))
    for variant in variants:
        for model in ("mean", *models):
            row = rmse[(variant, model)]
            mean = float(np.mean([row[f] for f in folds]))
            vs = 100 * (bias - mean) / bias
            cells = " | ".join(f"{row[f]:.4f}" for f in folds)
            print(f"| {NAMES.get(model, 'global mean')} | {variant} | {cells} | {mean:.4f} | "
                  f"{vs:.1f} % |")
    for variant, table in keep["activity"].items():
        print(f"\nu1 {variant}, test RMSE by the user's number of training ratings")
        first = next(iter(table.values()))["n"]
        print("| model | " + " | ".join(f"{g} ({first[g]:,})" for g, _, _ in GROUPS) + " |")
        print("| --- |" + " ---: |" * len(GROUPS))
        for model, row in table.items():
            print(f"| {NAMES[model]} | " + " | ".join(f"{row[g]:.4f}" for g, _, _ in GROUPS)
                  + " |")
    if args.json:
        keep["rmse"] = {f"{v}/{m}": row for (v, m), row in rmse.items()}
        with open(args.json, "w") as fh:
            json.dump(keep, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
