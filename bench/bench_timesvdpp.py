"""timeSVD++ (SVD++ with time-aware biases): how its defaults were chosen, its accuracy on
ML-100k u1 against SVD++ and the time-aware baseline, and its epoch time against SVD++.

Run by hand (the bench venv or the project's)::

    python bench/bench_timesvdpp.py --sections tune      # choose defaults on a carve
    python bench/bench_timesvdpp.py --sections accuracy  # u1.test, once
    python bench/bench_timesvdpp.py --sections speed     # seconds per epoch vs SVDpp

``tune``: a coordinate search on ``u1.base`` less a 10 % validation carve (seed 0, the carve
``bench/bench_svdpp.py`` tuned SVDpp on): starting from the class defaults, each setting in
turn tries a few values with the others held at the best so far (``--rounds`` passes), each
configuration fitted on the rest of ``u1.base`` for up to ``--max-epochs`` epochs with early
stopping (patience 8) on the carve; the best epoch comes from the validation curve. The
winner and the start are refitted with two other shuffling seeds. No test figure is
printed.

``accuracy``: SVDpp's defaults and TimeSVDpp's defaults (epochs included), each fitted on all
of ``u1.base`` and scored once on ``u1.test`` (TimeSVDpp at the test ratings' timestamps, and
at "now" for reference), with TimeAwareBaseline's defaults in the same run.

``speed``: CPU seconds per epoch of TimeSVDpp and SVDpp at their default 100 factors on
``u1.base`` (interleaved fits without validation, the fastest of ``--repeat`` kept, numba
compilation excluded), as a ratio.

Measured (2 shared cores; see the report of the commit that added this script).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ml100k import load_split  # noqa: E402

from recsys.data.ratings import Ratings  # noqa: E402
from recsys.models.svdpp import SVDpp  # noqa: E402
from recsys.models.timebias import TimeAwareBaseline  # noqa: E402
from recsys.models.timesvdpp import TimeSVDpp  # noqa: E402

# the settings each stage of the coordinate search visits, in this order, and the values it
# tries: "first" from the class's first guess (SVDpp's defaults, TimeAwareBaseline's time
# terms), "second" around the first stage's winner (then the class defaults)
SEARCHES: dict[str, list[tuple[str, list[Any]]]] = {
    "first": [
        ("lr_day", [0.001, 0.0025, 0.005, 0.01]),
        ("reg_day", [0.005, 0.02, 0.05, 0.1]),
        ("min_day_ratings", [1, 2, 3, 5]),
        ("lr_user", [0.003, 0.005, 0.01]),
        ("reg_user", [0.01, 0.05, 0.1]),
        ("lr_item", [0.003, 0.005, 0.01]),
        ("reg_item", [0.01, 0.05, 0.1]),
        ("lr_alpha", [0.0, 1e-5, 1e-4]),
        ("lr_bin", [0.0, 5e-5, 5e-4, 0.002]),
        ("reg", [0.09, 0.11, 0.13]),
    ],
    "second": [
        ("lr_day", [0.0, 0.0005, 0.001, 0.002]),
        ("reg", [0.07, 0.08, 0.09, 0.1]),
        ("lr", [0.007, 0.01, 0.013]),
        ("reg_implicit", [0.003, 0.005, 0.01]),
        ("lr_decay", [0.01, 0.02, 0.05]),
        ("lr_item", [0.002, 0.003, 0.005]),
        ("reg_item", [0.05, 0.1, 0.2]),
        ("lr_user", [0.002, 0.003, 0.005]),
        ("reg_user", [0.003, 0.01, 0.03]),
        ("init_std", [0.02, 0.03, 0.05]),
    ],
}

# every time term off: SVD++ with TimeSVDpp's separate bias step sizes (an ablation)
NO_TIME = dict(lr_alpha=0.0, lr_day=0.0, lr_bin=0.0, min_day_ratings=None)


def rmse_of(pred: np.ndarray, data: Ratings) -> float:
    low, high = data.rating_scale
    return float(np.sqrt(np.mean((np.clip(pred, low, high) - data.ratings) ** 2)))


def carve() -> tuple[Ratings, Ratings]:
    base, _ = load_split("u1")
    held = np.random.default_rng(0).random(len(base)) < 0.1
    return base.subset(~held), base.subset(held)


def on_carve(fit_part: Ratings, valid: Ratings, params: dict[str, Any], max_epochs: int,
             seed: int = 0) -> tuple[float, int]:
    model = TimeSVDpp(**{**params, "n_epochs": max_epochs, "patience": 8,
                         "random_state": seed}).fit(fit_part, valid)
    curve = np.asarray(model.history_["valid_rmse"])
    return float(curve.min()), int(curve.argmin()) + 1


def tune(stage: str, max_epochs: int, rounds: int) -> None:
    fit_part, valid = carve()
    print(f"## coordinate search on {len(fit_part)} ratings of u1.base, validating on "
          f"{len(valid)} carved from it (seed 0)\n")
    start = time.perf_counter()
    best: dict[str, Any] = {}
    best_rmse, best_epochs = on_carve(fit_part, valid, best, max_epochs)
    print(f"class defaults: {best_rmse:.4f} at epoch {best_epochs}\n")
    print("| setting | value | valid RMSE | best epoch |")
    print("| --- | --- | --- | --- |")
    runs = 1
    for _ in range(rounds):
        for name, values in SEARCHES[stage]:
            current = best.get(name, TimeSVDpp().get_params()[name])
            for value in values:
                if value == current:
                    continue
                score, epochs = on_carve(fit_part, valid, {**best, name: value}, max_epochs)
                runs += 1
                mark = ""
                if score < best_rmse - 1e-4:
                    best, best_rmse, best_epochs, mark = {**best, name: value}, score, epochs, " *"
                print(f"| {name} | {value} | {score:.4f}{mark} | {epochs} |")
    print(f"\n{runs} fits in {time.perf_counter() - start:.0f} s; best {best_rmse:.4f} at "
          f"epoch {best_epochs} with {best or 'the defaults'}")
    for seed in (1, 2):
        start_score = on_carve(fit_part, valid, {}, max_epochs, seed)
        won = on_carve(fit_part, valid, best, max_epochs, seed)
        print(f"seed {seed}: defaults {start_score[0]:.4f} (epoch {start_score[1]}), "
              f"winner {won[0]:.4f} (epoch {won[1]})")
    for seed in (0, 1, 2):
        ablation = on_carve(fit_part, valid, {**best, **NO_TIME}, max_epochs, seed)
        print(f"seed {seed}: the winner without its time terms {ablation[0]:.4f} "
              f"(epoch {ablation[1]})")
    svdpp = SVDpp(n_epochs=max_epochs, patience=8, random_state=0).fit(fit_part, valid)
    curve = np.asarray(svdpp.history_["valid_rmse"])
    print(f"SVDpp defaults on the carve: {curve.min():.4f} at epoch {int(curve.argmin()) + 1}")


def accuracy() -> None:
    train, test = load_split("u1")
    print("## ML-100k u1: defaults fitted on u1.base, scored once on u1.test\n")
    print("| system | test RMSE | fit s |")
    print("| --- | --- | --- |")
    rows = []
    for name, make in (("SVDpp", lambda: SVDpp(random_state=0)),
                       ("TimeSVDpp", lambda: TimeSVDpp(random_state=0)),
                       ("TimeAwareBaseline", lambda: TimeAwareBaseline(random_state=0))):
        start = time.perf_counter()
        model = make().fit(train)
        seconds = time.perf_counter() - start
        score = rmse_of(model.predict_ratings(test), test)
        rows.append((name, score))
        print(f"| recsys {name} (defaults, {model.n_epochs} epochs) | {score:.4f} | "
              f"{seconds:.1f} |")
        if name == "TimeSVDpp":
            users, items = test.user_ids[test.users], test.item_ids[test.items]
            now = rmse_of(model.predict(users, items), test)
            print(f"| recsys TimeSVDpp at \"now\" (test timestamps not used) | {now:.4f} | |")
    scores = dict(rows)
    print(f"\nTimeSVDpp - SVDpp: {scores['TimeSVDpp'] - scores['SVDpp']:+.4f}")


def speed(repeat: int) -> None:
    train, _ = load_split("u1")
    warm = train.subset(np.arange(2000))
    SVDpp(n_epochs=1).fit(warm)
    TimeSVDpp(n_epochs=1).fit(warm)
    runs: dict[str, list[float]] = {"SVDpp": [], "TimeSVDpp": []}
    for _ in range(repeat):
        for name, cls in (("SVDpp", SVDpp), ("TimeSVDpp", TimeSVDpp)):
            model = cls(n_epochs=20, random_state=0)
            cpu = time.process_time()
            model.fit(train)
            runs[name].append((time.process_time() - cpu) / model.n_epochs_)
    best = {name: min(values) for name, values in runs.items()}
    print("## seconds per epoch (process CPU, u1.base, 100 factors, 20 epochs, fastest of "
          f"{repeat})\n")
    for name, value in best.items():
        print(f"- {name}: {value * 1000:.1f} ms")
    print(f"- ratio TimeSVDpp / SVDpp: {best['TimeSVDpp'] / best['SVDpp']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", default=["accuracy", "speed"],
                        choices=["tune", "accuracy", "speed"])
    parser.add_argument("--max-epochs", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--stage", default="second", choices=sorted(SEARCHES))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for section in args.sections:
        if section == "tune":
            tune(args.stage, args.max_epochs, args.rounds)
        elif section == "accuracy":
            accuracy()
        else:
            speed(args.repeat)
        print()


if __name__ == "__main__":
    main()
