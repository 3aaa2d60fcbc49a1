"""SVD++: how its defaults were chosen, its accuracy on ML-100k u1, and its speed against MF
and Surprise SVD++ in the same run.

Run by hand in an environment with the bench extras (`pip install -e ".[bench]"`: Surprise)::

    python bench/bench_svdpp.py --sections tune      # choose defaults
    python bench/bench_svdpp.py --sections accuracy  # u1.test, once
    python bench/bench_svdpp.py --sections speed     # vs MF, Surprise

``tune``: every configuration of a grid is trained on ``u1.base`` less a 10 % validation
carve (seed 0) for up to ``--max-epochs`` epochs with early stopping (patience 8) on that
carve; the best epoch of each run comes from its validation curve (the schedule
``lr / (1 + d t)`` does not depend on the total). No test figure is printed.

``accuracy``: the defaults (epochs included) refitted on all of ``u1.base``; ``u1.test``
scored once; Surprise SVD++ with its defaults in the same run for reference (unless
``--no-surprise``).

``speed``: seconds per epoch of SVD++ and MF at 100 factors on ``u1.base`` (interleaved fits,
the fastest kept, numba compilation excluded), and SVD++ against Surprise SVD++ at 20
factors and 20 epochs on one thread (Surprise's learning rate and regularisation, 0.007 and
0.02, for both), each as a ratio.
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

from recsys.data.ratings import Ratings  # noqa: E402
from recsys.models.mf import MatrixFactorization  # noqa: E402
from recsys.models.svdpp import SVDpp  # noqa: E402

GRIDS = {
    "quick": dict(n_factors=[50], lr=[0.007], lr_decay=[0.02], reg=[0.1],
                  reg_implicit=[0.005, 0.02], reg_bias=[0.01]),
    "coarse": dict(n_factors=[20, 50, 100], lr=[0.004, 0.007, 0.01], lr_decay=[0.02, 0.05],
                   reg=[0.08, 0.1, 0.13], reg_implicit=[0.002, 0.005, 0.01],
                   reg_bias=[0.01]),
    # around the coarse winner (100 factors, lr 0.01, decay 0.02, reg 0.13 at the grid's
    # edge, reg_implicit 0.005)
    "fine": dict(n_factors=[100, 200], lr=[0.007, 0.01], lr_decay=[0.02], reg=[0.13, 0.16, 0.2],
                 reg_implicit=[0.003, 0.005], reg_bias=[0.01, 0.05]),
    # the fine winner (100 factors: 200 gained 0.0001 at twice the cost) with reg and init_std
    "final": dict(n_factors=[100], lr=[0.01], lr_decay=[0.02], reg=[0.11, 0.12, 0.13, 0.14],
                  reg_implicit=[0.005], reg_bias=[0.05], init_std=[0.02, 0.03, 0.05, 0.1]),
}


def rmse_of(pred: np.ndarray, data: Ratings) -> float:
    low, high = data.rating_scale
    return float(np.sqrt(np.mean((np.clip(pred, low, high) - data.ratings) ** 2)))


def tune(grid_name: str, max_epochs: int, top: int) -> None:
    base, _ = load_split("u1")
    carve = np.random.default_rng(0).random(len(base)) < 0.1
    fit_part, valid = base.subset(~carve), base.subset(carve)
    print(f"## tuning on {len(fit_part)} ratings of u1.base, validating on {len(valid)} "
          f"carved from it (seed 0)\n")
    grid = GRIDS[grid_name]
    names = list(grid)
    rows = []
    start = time.perf_counter()
    for values in itertools.product(*grid.values()):
        params = dict(zip(names, values))
        model = SVDpp(n_epochs=max_epochs, lr_bias=params["lr"], patience=8, random_state=0,
                      **params).fit(fit_part, valid)
        curve = np.asarray(model.history_["valid_rmse"])
        rows.append((float(curve.min()), int(curve.argmin()) + 1, params))
    rows.sort(key=lambda row: row[0])
    print(f"{len(rows)} configurations in {time.perf_counter() - start:.0f} s\n")
    print("| valid RMSE | best epochs | " + " | ".join(names) + " |")
    print("| --- " * (len(names) + 2) + "|")
    for value, epochs, params in rows[:top]:
        print(f"| {value:.4f} | {epochs} | " + " | ".join(str(params[n]) for n in names) + " |")
    default = SVDpp(random_state=0, patience=8, n_epochs=max_epochs).fit(fit_part, valid)
    curve = np.asarray(default.history_["valid_rmse"])
    print(f"\nthe class defaults on this carve: {curve.min():.4f} at epoch "
          f"{int(curve.argmin()) + 1} (n_epochs default {SVDpp().n_epochs})")


def surprise_data(train: Ratings):
    import surprise

    frame = train.to_dataframe(raw_ids=False)[["user", "item", "rating"]]
    reader = surprise.Reader(rating_scale=train.rating_scale)
    return surprise.Dataset.load_from_df(frame, reader).build_full_trainset()


def surprise_predict(algo, trainset, test: Ratings) -> np.ndarray:
    return np.array([algo.predict(u, i).est for u, i in
                     zip(test.users.tolist(), test.items.tolist())])


def accuracy(no_surprise: bool) -> None:
    train, test = load_split("u1")
    start = time.perf_counter()
    model = SVDpp(random_state=0).fit(train)
    seconds = time.perf_counter() - start
    print("## ML-100k u1: defaults fitted on u1.base, scored once on u1.test\n")
    print("| system | test RMSE | fit s |")
    print("| --- | --- | --- |")
    print(f"| recsys SVDpp (defaults: {model.n_factors} factors, {model.n_epochs} epochs) | "
          f"{rmse_of(model.predict_ratings(test), test):.4f} | {seconds:.2f} |")
    for seed in (1, 2):
        other = SVDpp(random_state=seed).fit(train)
        print(f"| recsys SVDpp, seed {seed} | "
              f"{rmse_of(other.predict_ratings(test), test):.4f} | |")
    if not no_surprise:
        import surprise

        trainset = surprise_data(train)
        algo = surprise.SVDpp(random_state=0)
        start = time.perf_counter()
        algo.fit(trainset)
        seconds = time.perf_counter() - start
        print(f"| Surprise SVDpp (defaults) | "
              f"{rmse_of(surprise_predict(algo, trainset, test), test):.4f} | {seconds:.1f} |")


def epoch_seconds(make, train: Ratings) -> tuple[float, float]:
    """Wall and process CPU seconds per epoch of one fit (the fit's fixed costs included)."""
    model = make()
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(train)
    return ((time.perf_counter() - wall) / model.n_epochs_,
            (time.process_time() - cpu) / model.n_epochs_)


def speed(no_surprise: bool, repeat: int) -> None:
    train, test = load_split("u1")
    warm = train.subset(np.arange(2000))
    for k in (20, 100):  # compile (or load from the cache) each kernel before timing
        SVDpp(n_factors=k, n_epochs=1).fit(warm)
        MatrixFactorization(n_factors=k, n_epochs=1, n_threads=1).fit(warm)
    common = dict(n_factors=100, n_epochs=20, lr=0.007, lr_bias=0.007, lr_decay=0.0,
                  reg=0.02, reg_bias=0.02, random_state=0)
    runs: dict[str, list[tuple[float, float]]] = {"SVDpp": [], "MF": []}
    for _ in range(repeat):  # interleaved, the fastest of each kept
        runs["SVDpp"].append(epoch_seconds(lambda: SVDpp(**common), train))
        runs["MF"].append(epoch_seconds(
            lambda: MatrixFactorization(**common, n_threads=1), train))
    (svdpp_s, svdpp_cpu), (mf_s, mf_cpu) = (
        (min(r[0] for r in runs[n]), min(r[1] for r in runs[n])) for n in ("SVDpp", "MF"))
    print(f"## epoch time on u1.base ({len(train)} ratings), 100 factors, 1 thread, "
          f"best of {repeat} interleaved 20-epoch fits\n")
    print("| model | wall s / epoch | SVD++ / this | CPU s / epoch | SVD++ / this |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| recsys SVDpp | {svdpp_s * 1e3:.1f} ms | 1.00x | {svdpp_cpu * 1e3:.1f} ms | 1.00x |")
    print(f"| recsys MatrixFactorization | {mf_s * 1e3:.1f} ms | {svdpp_s / mf_s:.2f}x | "
          f"{mf_cpu * 1e3:.1f} ms | {svdpp_cpu / mf_cpu:.2f}x |")

    small = dict(common, n_factors=20)
    ours = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        model = SVDpp(**small).fit(train)
        ours = min(ours, time.perf_counter() - start)
    ours_rmse = rmse_of(model.predict_ratings(test), test)
    print(f"\n## SVD++ at 20 factors, 20 epochs, lr 0.007, reg 0.02, on u1.base, 1 thread\n")
    print("| system | fit s | ours faster by | test RMSE |")
    print("| --- | --- | --- | --- |")
    print(f"| recsys SVDpp | {ours:.3f} | 1x | {ours_rmse:.4f} |")
    if no_surprise:
        return
    try:
        import surprise
    except ImportError as exc:
        print(f"(Surprise not available: {exc})")
        return
    trainset = surprise_data(train)
    algo = surprise.SVDpp(n_factors=20, n_epochs=20, lr_all=0.007, reg_all=0.02,
                          random_state=0)
    start = time.perf_counter()
    algo.fit(trainset)
    theirs = time.perf_counter() - start
    print(f"| Surprise SVDpp | {theirs:.2f} | {theirs / ours:.0f}x | "
          f"{rmse_of(surprise_predict(algo, trainset, test), test):.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="accuracy,speed",
                        help="comma-separated: tune, accuracy, speed")
    parser.add_argument("--grid", choices=sorted(GRIDS), default="coarse")
    parser.add_argument("--max-epochs", type=int, default=300)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-surprise", action="store_true", help="skip the slow Surprise fits")
    args = parser.parse_args()
    if not ML100K.is_dir():
        sys.exit(f"ML-100k not found at {ML100K}")
    sections = set(args.sections.split(","))
    if "tune" in sections:
        tune(args.grid, args.max_epochs, args.top)
    if "accuracy" in sections:
        accuracy(args.no_surprise)
    if "speed" in sections:
        speed(args.no_surprise, args.repeat)


if __name__ == "__main__":
    main()
