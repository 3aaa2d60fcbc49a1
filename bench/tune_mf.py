"""Choose MatrixFactorization's default hyper-parameters on validation carves of two data sets.

Each configuration of the grid is fitted on validation carves of two training sets, ML-100k
``u1.base`` and the bundled ml-latest-small, three seeded carves of 10 % each (never a test
file), up to ``--max-epochs`` epochs with early stopping (patience 15). The best validation
RMSE of each fit (its best epoch comes for free: the step-size schedule ``lr / (1 + decay t)``
does not depend on the total) is averaged over the seeds; configurations are ranked by the sum
of the two data sets' means, so that the defaults suit a sparse catalogue (ml-latest-small:
9,742 films, most rated a few times) as well as ML-100k. No test figure is printed here:
``u1.base`` is ``u2.test`` + ... + ``u5.test``. Test figures with every setting chosen inside
each fold's own ``uN.base`` come from ``recsys evaluate --tune`` (``bench/tune_hybrid.py``).

The defaults of round two came from ``--grid defaults`` (reg 0.06 and 256 factors ranked first,
by 0.0005-0.002 of summed RMSE; the band 0.04-0.08 is flat).

Run by hand::

    python bench/tune_mf.py                  # the grid the defaults came from
    python bench/tune_mf.py --grid wide      # a wider first search
    python bench/tune_mf.py --grid quick     # a smoke run
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ml100k import ML100K, load_split  # noqa: E402

import recsys  # noqa: E402
from recsys.data.splits import validation_split  # noqa: E402
from recsys.models.mf import MatrixFactorization  # noqa: E402

GRIDS = {
    "quick": dict(n_factors=[64], reg=[0.06, 0.1], init_std=[0.01]),
    "defaults": dict(n_factors=[128, 256], reg=[0.04, 0.05, 0.06, 0.07, 0.08, 0.1],
                     init_std=[0.01]),
    "wide": dict(n_factors=[100, 200, 300], lr=[0.01, 0.02, 0.03], reg=[0.06, 0.08, 0.1, 0.12],
                 init_std=[0.003, 0.01, 0.03, 0.1]),
}


def best_valid(params: dict, train_set, seed: int, max_epochs: int) -> tuple[float, int]:
    fit_part, valid = validation_split(train_set, valid_size=0.1, random_state=seed)
    model = MatrixFactorization(n_epochs=max_epochs, patience=15, random_state=seed, **params)
    curve = np.asarray(model.fit(fit_part, validation=valid).history_["valid_rmse"])
    return float(curve.min()), int(curve.argmin()) + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", choices=sorted(GRIDS), default="defaults")
    parser.add_argument("--max-epochs", type=int, default=200)
    parser.add_argument("--seeds", default="1,2,3")
    args = parser.parse_args()
    if not ML100K.is_dir():
        sys.exit(f"ML-100k not found at {ML100K}")
    sets = {"u1.base": load_split("u1")[0], "ml-latest-small": recsys.load()}
    seeds = [int(s) for s in args.seeds.split(",")]
    grid = GRIDS[args.grid]
    names = list(grid)
    rows = []
    start = time.perf_counter()
    for values in itertools.product(*grid.values()):
        params = dict(zip(names, values))
        means, epochs = {}, {}
        for name, data in sets.items():
            runs = [best_valid(params, data, seed, args.max_epochs) for seed in seeds]
            means[name] = float(np.mean([r[0] for r in runs]))
            epochs[name] = int(np.median([r[1] for r in runs]))
        rows.append((sum(means.values()), means, epochs, params))
        print(".", end="", flush=True)
    rows.sort(key=lambda row: row[0])
    print(f"\n{len(rows)} configurations x {len(sets)} data sets x {len(seeds)} carves in "
          f"{time.perf_counter() - start:.0f} s\n")
    print("| sum | " + " | ".join(f"{n} valid | epochs" for n in sets) + " | "
          + " | ".join(names) + " |")
    print("| --- " * (1 + 2 * len(sets) + len(names)) + "|")
    for total, means, epochs, params in rows:
        print(f"| {total:.4f} | " + " | ".join(f"{means[n]:.4f} | {epochs[n]}" for n in sets)
              + " | " + " | ".join(str(params[n]) for n in names) + " |")
    defaults = MatrixFactorization().get_params()
    print("\ncurrent defaults: " + ", ".join(f"{k}={defaults[k]}" for k in
                                              ("n_factors", "n_epochs", "lr", "reg", "init_std")))


if __name__ == "__main__":
    main()
