"""How many blending networks to average (the hybrid's ``n_nets``), chosen on validation carves
only: never a test file.

For ML-100k ``u1.base`` and ml-latest-small's training side (the bundled set, seeded 90/10),
and for each seed: a seeded 10 % carve of the training side; the hybrid is fitted on the rest
with early stopping (network and bases) on one half of the carve and scored on the other half.
Every ``n_nets`` runs from the same seeds, so the base models are the same and only the
network stage differs.

Run by hand (about a minute per fit on 2 cores)::

    python bench/blend_nets.py                      # n_nets 1, 4, 8; seeds 0 and 1
    python bench/blend_nets.py --nets 1,4 --seeds 0
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ml100k import ML100K, load_split  # noqa: E402

import recsys  # noqa: E402
from recsys.data.splits import holdout_split, validation_split  # noqa: E402
from recsys.models.base import SELECTION_PATIENCE  # noqa: E402
from recsys.models.hybrid import HybridRecommender  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", default="1,4,8")
    parser.add_argument("--seeds", default="0,1")
    args = parser.parse_args()
    sets = {"small-train": holdout_split(recsys.load(), test_size=0.1, random_state=0)[0]}
    if ML100K.is_dir():
        sets = {"u1.base": load_split("u1")[0], **sets}
    nets = [int(n) for n in args.nets.split(",")]
    totals = {n: [] for n in nets}
    print("| carve | seed | n_nets | half-B RMSE | network epochs | network s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, train in sets.items():
        for seed in (int(s) for s in args.seeds.split(",")):
            rest, carve = validation_split(train, valid_size=0.1, random_state=seed)
            half = np.random.default_rng(seed).random(len(carve)) < 0.5
            stop_on, score_on = carve.subset(half), carve.subset(~half)
            for n in nets:
                model = HybridRecommender(random_state=seed, n_nets=n,
                                          base_patience=SELECTION_PATIENCE)
                model.fit(rest, validation=stop_on)
                error = float(np.sqrt(np.mean(
                    (model.predict_ratings(score_on) - score_on.ratings) ** 2)))
                totals[n].append(error)
                print(f"| {name} | {seed} | {n} | {error:.4f} | {model.n_epochs_} | "
                      f"{model.stage_seconds_['network']:.1f} |", flush=True)
    print()
    for n, errors in totals.items():
        print(f"n_nets {n}: mean half-B RMSE {np.mean(errors):.4f} over {len(errors)} carves")


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s)")
