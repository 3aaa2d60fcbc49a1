"""KNNBaseline against Surprise's KNNBaseline, the similarity timings, and the choice of the
defaults.

Run by hand in an environment with the bench extras (`pip install -e ".[bench]"`: Surprise)::

    python bench/bench_knn.py                   # accuracy + speed + size
    python bench/bench_knn.py --sections speed  # timings only
    python bench/bench_knn.py --choose          # the defaults' grid

``accuracy``: both systems fit ML-100k ``u1.base`` and score ``u1.test`` once, in the same
run: Surprise item-based ``pearson_baseline`` with its defaults (k=40, shrinkage 100, ALS
baselines reg_i 10, reg_u 15), ours with its defaults and with Surprise's settings (which
should match Surprise to the third decimal). Fit and test-prediction seconds, and the ratio.

``speed``: item-item similarities (:func:`recsys.models._knn_kernels.item_neighbours`, the
part of the fit the issue's goal is about) of ML-100k ``u1.base`` and of the bundled
ml-latest-small: the first call in a fresh process with an empty numba cache (compilation
included), and the best of ``--repeat`` warm calls; also a whole fit (biases, residuals,
similarities, in-sample RMSE) and scoring every user on every item (``recommend_all``'s
work). ``size``: the model file of the bundled set.

Measured 2026-12-03 on this machine (2 cores shared with other jobs, load average 4.2)::

    Surprise KNNBaseline (defaults)   fit 1.158 s  test 2.543 s  RMSE 0.9359
    ours, defaults                    fit 0.227 s  test 0.016 s  RMSE 0.9323   (fit 5.1x)
    ours, Surprise's settings         (200 kept)                 RMSE 0.9391
    ours, Surprise's, all neighbours                             RMSE 0.9359   (= Surprise)
    ours, defaults, 400 kept                                     RMSE 0.9300
    similarities, ML-100k u1.base     0.142 s warm; first call 3.2 s compiling, 0.57 s cached
    similarities, ml-latest-small     0.836 s warm; first call 3.4 s compiling, 1.29 s cached
    score all users x items           0.80 s (ML-100k), 2.17 s (ml-latest-small)
    model file, ml-latest-small       16.8 MB, 7.0 MB of it the model's state (1.09 M
                                      neighbours; a dense float32 matrix would be 378 MB)

(An earlier version, numba ``prange`` on 2 threads, took 0.075 s and 0.53 s at a quieter
moment.)

``--choose``: the grid the defaults come from, on a validation carve (10 %, seed 0) of
``u1.base`` only (never ``u1.test``): shrinkage, the bias regularisation, neighbours kept,
and k (k changes only prediction, so each fit is scored at every k).
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ml100k import ML100K, load_split  # noqa: E402

from recsys.data.loading import load  # noqa: E402
from recsys.data.ratings import Ratings  # noqa: E402
from recsys.data.splits import validation_split  # noqa: E402
from recsys.models import _knn_kernels as kernels  # noqa: E402
from recsys.models._blocks import resolve_threads  # noqa: E402
from recsys.models.knn import KNNBaseline  # noqa: E402

SURPRISE_SETTINGS = dict(shrinkage=100.0, reg_user=15.0, reg_item=10.0, k=40)


def rmse(pred: np.ndarray, data: Ratings) -> float:
    return float(np.sqrt(np.mean((pred - data.ratings) ** 2)))


def surprise_u1() -> tuple[float, float, float]:
    """Surprise KNNBaseline (item-based pearson_baseline, defaults) on u1: fit s, test s,
    test RMSE."""
    from surprise import Dataset, KNNBaseline as SurpriseKNN, Reader, accuracy
    from surprise.model_selection import PredefinedKFold

    reader = Reader(line_format="user item rating timestamp", sep="\t")
    folds = [(str(ML100K / "u1.base"), str(ML100K / "u1.test"))]
    data = Dataset.load_from_folds(folds, reader=reader)
    trainset, testset = next(PredefinedKFold().split(data))
    algo = SurpriseKNN(sim_options={"name": "pearson_baseline", "user_based": False},
                       verbose=False)
    start = time.perf_counter()
    algo.fit(trainset)
    fitted = time.perf_counter()
    preds = algo.test(testset)
    done = time.perf_counter()
    return fitted - start, done - fitted, float(accuracy.rmse(preds, verbose=False))


def ours_u1(**settings) -> tuple[float, float, float]:
    train, test = load_split("u1")
    KNNBaseline(**settings).fit(train).predict_ratings(test)  # numba warm-up
    start = time.perf_counter()
    model = KNNBaseline(**settings).fit(train)
    fitted = time.perf_counter()
    pred = model.predict_ratings(test)
    done = time.perf_counter()
    return fitted - start, done - fitted, rmse(pred, test)


def global_u1() -> tuple[float, float, float]:
    """Koren's global neighbourhood model (``knnglobal``) with its defaults on u1."""
    from recsys.models.knnglobal import GlobalNeighbourhood

    train, test = load_split("u1")
    GlobalNeighbourhood(n_epochs=1).fit(train).predict_ratings(test)  # numba warm-up
    start = time.perf_counter()
    model = GlobalNeighbourhood(random_state=0).fit(train)
    fitted = time.perf_counter()
    pred = model.predict_ratings(test)
    done = time.perf_counter()
    return fitted - start, done - fitted, rmse(pred, test)


def accuracy_section() -> None:
    print("== ML-100k u1: test RMSE (settings of ours chosen on a carve of u1.base) ==")
    s_fit, s_pred, s_rmse = surprise_u1()
    rows = [("Surprise KNNBaseline (defaults)", s_fit, s_pred, s_rmse)]
    rows.append(("ours, defaults", *ours_u1()))
    rows.append(("ours, Surprise's settings", *ours_u1(**SURPRISE_SETTINGS)))
    rows.append(("ours, Surprise's, all neighbours", *ours_u1(**SURPRISE_SETTINGS,
                                                               n_neighbors_kept=2000)))
    rows.append(("ours, defaults, 400 kept", *ours_u1(n_neighbors_kept=400)))
    rows.append(("knnglobal (learned weights), defaults", *global_u1()))
    print(f"{'system':38s} {'fit s':>7s} {'test s':>7s} {'RMSE':>7s} {'fit speed-up':>12s}")
    for name, fit_s, pred_s, err in rows:
        print(f"{name:38s} {fit_s:7.3f} {pred_s:7.3f} {err:7.4f} {s_fit / fit_s:11.1f}x")


def residual_lists(data: Ratings, model: KNNBaseline) -> tuple:
    """The similarity kernel's inputs, as a fit builds them (model units)."""
    z = model.rating_map_.to_model(data.ratings.astype(np.float64))
    res = z - model.mu_ - model.user_bias_[data.users] - model.item_bias_[data.items]
    return (*kernels.group_by(data.users, data.items, res, data.n_users),
            *kernels.group_by(data.items, data.users, res, data.n_items))


def time_similarities(name: str, repeat: int, first_only: bool = False) -> None:
    data = load_split("u1")[0] if name == "ml-100k" else load()
    model = KNNBaseline().fit(data) if not first_only else None
    if first_only:  # the fit above would compile the kernel; build the inputs without it
        from recsys.models.scaling import RatingMap

        mapping = RatingMap.of(data)
        z = mapping.to_model(data.ratings.astype(np.float64))
        b_u, b_i = kernels.fit_biases(data.users, data.items, z, 0.0, data.n_users,
                                      data.n_items, 5.0, 2.0, 10)
        res = z - b_u[data.users] - b_i[data.items]
        args = (*kernels.group_by(data.users, data.items, res, data.n_users),
                *kernels.group_by(data.items, data.users, res, data.n_items))
        start = time.perf_counter()
        kernels.item_neighbours(*args, 400.0, 1, 200, resolve_threads(None))
        print(f"FIRST {time.perf_counter() - start:.3f}")
        return
    args = residual_lists(data, model)
    cpu = time.process_time()
    threads = resolve_threads(None)
    best = min(_timed(lambda: kernels.item_neighbours(*args, 400.0, 1, 200, threads))
               for _ in range(repeat))
    cpu = (time.process_time() - cpu) / repeat
    fit = min(_timed(lambda: KNNBaseline().fit(data)) for _ in range(repeat))
    users = np.arange(data.n_users)
    score = _timed(lambda: model.score_users(users))
    print(f"{name:16s} items {data.n_items:5d}  similarities {best:6.3f} s (CPU {cpu:.3f} s, "
          f"all threads)   whole fit "
          f"{fit:6.3f} s   score all {data.n_users} users x {data.n_items} items "
          f"{score:6.3f} s")


def _timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def speed_section(repeat: int) -> None:
    print(f"== item-item similarities (200 kept, shrinkage 400): warm, best of {repeat}; "
          f"{resolve_threads(None)} threads; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores ==")
    for name in ("ml-100k", "ml-latest-small"):
        firsts = []
        for cold in (True, False):
            with tempfile.TemporaryDirectory() as cache:
                env = {**os.environ, "NUMBA_CACHE_DIR": cache} if cold else dict(os.environ)
                out = subprocess.run([sys.executable, __file__, "--first-call", name],
                                     env=env, capture_output=True, text=True,
                                     check=True).stdout
            firsts.append(out.split("FIRST")[-1].strip())
        print(f"{name:16s} first call in a fresh process: {firsts[0]} s with an empty numba "
              f"cache (compiling), {firsts[1]} s with the cache on disk")
        time_similarities(name, repeat)


def size_section() -> None:
    data = load()
    model = KNNBaseline().fit(data)
    with tempfile.TemporaryDirectory() as folder:
        path = model.save(Path(folder) / "knn.npz")
        size = path.stat().st_size
    state = sum(np.asarray(a).nbytes for a in model._state().values())
    print(f"== model file, bundled set ({data.n_items} items, {len(data)} ratings) ==\n"
          f"file {size / 1e6:.1f} MB, of which the model's own state {state / 1e6:.1f} MB "
          f"({len(model.neighbour_items_)} neighbours kept; dense float32 would be "
          f"{data.n_items ** 2 * 4 / 1e6:.0f} MB)")


def choose() -> None:
    train, _ = load_split("u1")
    fit_part, valid = validation_split(train, 0.1, random_state=0)
    ks = (20, 40, 60, 100)
    print(f"validation RMSE on a 10 % carve of u1.base; columns: k = {ks}")
    best = (np.inf, None)
    for shrinkage, (reg_user, reg_item), kept in itertools.product(
            (50, 100, 200, 400, 800), ((15, 10), (5, 5), (5, 2), (2, 2), (10, 3)),
            (200, 1000)):
        model = KNNBaseline(shrinkage=shrinkage, reg_user=reg_user, reg_item=reg_item,
                            n_neighbors_kept=kept).fit(fit_part)
        errors = []
        for k in ks:
            model.k = k  # prediction only
            errors.append(rmse(model.predict_ratings(valid), valid))
            if errors[-1] < best[0]:
                best = (errors[-1], (shrinkage, reg_user, reg_item, kept, k))
        print(f"shrinkage {shrinkage:4d} reg_user {reg_user:3d} reg_item {reg_item:3d} kept "
              f"{kept:5d}: " + " ".join(f"{e:.4f}" for e in errors), flush=True)
    print(f"best {best[0]:.4f} at (shrinkage, reg_user, reg_item, kept, k) = {best[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="accuracy,speed,size")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--choose", action="store_true")
    parser.add_argument("--first-call", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.first_call:
        time_similarities(args.first_call, 1, first_only=True)
        return
    if args.choose:
        choose()
        return
    sections = args.sections.split(",")
    if "accuracy" in sections:
        accuracy_section()
    if "speed" in sections:
        speed_section(args.repeat)
    if "size" in sections:
        size_section()


if __name__ == "__main__":
    main()
