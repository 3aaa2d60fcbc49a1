"""Choose MatrixFactorization's default hyper-parameters on a validation split.

The validation ratings are carved at random from ML-100k ``u1.base`` (never from a test file);
every configuration of the grid is trained once for up to ``--max-epochs`` epochs on the rest,
and the validation RMSE after each epoch gives the best epoch count for free (the step-size
schedule ``lr / (1 + decay * t)`` does not depend on the total). The table of the best
configurations and the chosen setting are printed. No test figure is printed here: ``u1.base``
is ``u2.test`` + ... + ``u5.test``, so a setting chosen on it and scored on u2..u5 would have
seen their test ratings. Test figures with every setting chosen inside each fold's own
``uN.base`` come from ``bench/tune_hybrid.py`` (``recsys evaluate --tune``).

Run by hand::

    python bench/tune_mf.py                # coarse grid, validation RMSE only
    python bench/tune_mf.py --grid fine    # a finer grid around the coarse winner
    python bench/tune_mf.py --grid quick   # a smoke run
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

from recsys.models.mf import MatrixFactorization  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", choices=["coarse", "fine", "quick"], default="coarse",
                        help="coarse: the first search; fine: around its winner; "
                             "quick: a smoke run")
    parser.add_argument("--max-epochs", type=int, default=200)
    parser.add_argument("--valid-size", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    if not ML100K.is_dir():
        sys.exit(f"ML-100k not found at {ML100K}")

    base, _ = load_split("u1")
    rng = np.random.default_rng(args.seed)
    carve = rng.random(len(base)) < args.valid_size
    fit_part, valid = base.subset(~carve), base.subset(carve)
    print(f"tuning on {len(fit_part)} ratings of u1.base, validating on {len(valid)} carved "
          f"from u1.base (seed {args.seed})")

    if args.grid == "quick":
        grid = dict(n_factors=[100], lr=[0.005, 0.01], lr_decay=[0.0, 0.02],
                    reg=[0.08, 0.12], reg_bias=[0.01])
    elif args.grid == "fine":
        grid = dict(n_factors=[100, 150], lr=[0.01], lr_decay=[0.02, 0.05, 0.1],
                    reg=[0.09, 0.1, 0.11], reg_bias=[0.003, 0.01, 0.03])
    else:
        grid = dict(n_factors=[50, 100, 200], lr=[0.005, 0.01], lr_decay=[0.0, 0.02, 0.05],
                    reg=[0.08, 0.1, 0.12, 0.15, 0.2], reg_bias=[0.01, 0.1])
    rows = []
    names = list(grid)
    start = time.perf_counter()
    for values in itertools.product(*grid.values()):
        params = dict(zip(names, values))
        model = MatrixFactorization(n_epochs=args.max_epochs, lr_bias=params["lr"],
                                    random_state=args.seed, **params)
        model.fit(fit_part, validation=valid)
        curve = np.asarray(model.history_["valid_rmse"])
        best = int(np.argmin(curve))
        rows.append((float(curve[best]), best + 1, params))
    rows.sort(key=lambda row: row[0])
    print(f"{len(rows)} configurations in {time.perf_counter() - start:.0f} s\n")
    print("| valid RMSE | best epochs | " + " | ".join(names) + " |")
    print("| --- " * (len(names) + 2) + "|")
    for value, epochs, params in rows[: args.top]:
        print(f"| {value:.4f} | {epochs} | " + " | ".join(str(params[n]) for n in names) + " |")

    value, epochs, params = rows[0]
    chosen = dict(params, lr_bias=params["lr"], n_epochs=epochs)
    print(f"\nchosen: {chosen}")
    defaults = MatrixFactorization().get_params()
    print("current defaults: " + ", ".join(f"{k}={defaults[k]}" for k in chosen))
    print("test figures, each setting chosen inside its own fold's uN.base: "
          "python bench/tune_hybrid.py")


if __name__ == "__main__":
    main()
