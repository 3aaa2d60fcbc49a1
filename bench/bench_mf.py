"""Speed and accuracy of this project's MatrixFactorization against cornac MF and Surprise SVD.

Run by hand, not by pytest (the peers are bench-only extras: ``pip install cornac
scikit-surprise``). One run fits every system on the same ratings with the same number of
factors and epochs and prints a table of updates per second (ratings x epochs / fit seconds),
the ratio of ours to each peer, and test RMSE; also process CPU seconds (all threads), a
steadier measure of work done when other processes share the cores. Each system is fitted
``--repeat`` times, interleaved, and its fastest fit is kept. numba compilation is excluded
(every kernel is warmed up on a small fit first), and so is converting the data into each
peer's container.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_mf.py   # all sections
    python bench/bench_mf.py --sections synthetic,ml100k --epochs 20
    python bench/bench_mf.py --sections large                                 # 25M, 2 threads

``large`` fits a 25M-rating synthetic set of ML-25M's shape (162k users x 59k items) in a
child process and reports seconds per epoch and the child's peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``), data generation included.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ml100k import ML100K, load_split  # noqa: E402

from recsys.data.ratings import Ratings  # noqa: E402
from recsys.data.synthetic import make_planted  # noqa: E402
from recsys.models.mf import MatrixFactorization  # noqa: E402

LR, REG = 0.005, 0.02  # Surprise's defaults, used by every system in the speed comparison


def planted(n_users: int, n_items: int, n_ratings: int, seed: int = 0) -> Ratings:
    """Synthetic ratings of a planted rank-10 model plus noise (recsys.data.synthetic)."""
    return make_planted(n_users=n_users, n_items=n_items, n_ratings=n_ratings, n_factors=10,
                        noise=0.5, with_timestamps=False, random_state=seed)


def holdout(data: Ratings, fraction: float = 0.1, seed: int = 0) -> tuple[Ratings, Ratings]:
    test = np.random.default_rng(seed).random(len(data)) < fraction
    return data.subset(~test), data.subset(test)


def rmse_of(pred: np.ndarray, data: Ratings) -> float:
    low, high = data.rating_scale
    return float(np.sqrt(np.mean((np.clip(pred, low, high) - data.ratings) ** 2)))


class Clock:
    """Wall-clock and process CPU seconds (all threads) of a block."""

    def __enter__(self) -> "Clock":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def ours(train: Ratings, test: Ratings, epochs: int, threads: int):
    """A callable that fits once and returns (seconds, test RMSE)."""
    params = dict(n_factors=100, n_epochs=epochs, lr=LR, lr_bias=LR, lr_decay=0.0, reg=REG,
                  reg_bias=REG, init_std=0.1, random_state=0, n_threads=threads)
    MatrixFactorization(**{**params, "n_epochs": 1}).fit(train.subset(np.arange(2000)))  # warm up

    def run() -> tuple[float, float, float]:
        with Clock() as clock:
            model = MatrixFactorization(**params).fit(train)
        return clock.wall, clock.cpu, rmse_of(model.predict_ratings(test), test)

    return run


def cornac_mf(train: Ratings, test: Ratings, epochs: int, threads: int):
    import cornac

    triples = list(zip(train.users.tolist(), train.items.tolist(), train.ratings.tolist()))
    train_set = cornac.data.Dataset.from_uir(triples, seed=0)
    umap, imap = train_set.uid_map, train_set.iid_map
    u = np.array([umap.get(x, -1) for x in test.users.tolist()])
    i = np.array([imap.get(x, -1) for x in test.items.tolist()])
    known = (u >= 0) & (i >= 0)
    uk, ik = u[known], i[known]

    def run() -> tuple[float, float, float]:
        model = cornac.models.MF(k=100, max_iter=epochs, learning_rate=LR, lambda_reg=REG,
                                 use_bias=True, early_stop=False, num_threads=threads,
                                 seed=0 if threads == 1 else None)
        with Clock() as clock:
            model.fit(train_set)
        pred = np.full(len(test), train_set.global_mean)
        pred[known] += (model.u_biases[uk] + model.i_biases[ik]
                        + np.einsum("ij,ij->i", model.u_factors[uk], model.i_factors[ik]))
        return clock.wall, clock.cpu, rmse_of(pred, test)

    return run


def surprise_svd(train: Ratings, test: Ratings, epochs: int):
    import surprise

    frame = train.to_dataframe(raw_ids=False)[["user", "item", "rating"]]
    reader = surprise.Reader(rating_scale=train.rating_scale)
    trainset = surprise.Dataset.load_from_df(frame, reader).build_full_trainset()
    u = np.array([trainset._raw2inner_id_users.get(x, -1) for x in test.users.tolist()])
    i = np.array([trainset._raw2inner_id_items.get(x, -1) for x in test.items.tolist()])
    known = (u >= 0) & (i >= 0)
    uk, ik = u[known], i[known]

    def run() -> tuple[float, float, float]:
        algo = surprise.SVD(n_factors=100, n_epochs=epochs, lr_all=LR, reg_all=REG,
                            random_state=0)
        with Clock() as clock:
            algo.fit(trainset)
        pred = np.full(len(test), trainset.global_mean)
        pred[known] += (algo.bu[uk] + algo.bi[ik]
                        + np.einsum("ij,ij->i", algo.pu[uk], algo.qi[ik]))
        return clock.wall, clock.cpu, rmse_of(pred, test)

    return run


def compare(label: str, train: Ratings, test: Ratings, epochs: int, skip_surprise: bool,
            repeat: int) -> None:
    """Fit every system ``repeat`` times, interleaved, and keep each one's fastest fit (the
    machine is shared: the minimum is the least disturbed run)."""
    updates = len(train) * epochs
    print(f"\n## {label}: {len(train):,} training ratings, {len(test):,} test, 100 factors, "
          f"{epochs} epochs, lr {LR}, reg {REG}; best of {repeat} interleaved fits\n")
    runners: dict[str, object] = {}
    for threads in (1, 2):
        runners[f"recsys MF, {threads} thread{'s' * (threads > 1)}"] = ours(
            train, test, epochs, threads)
    try:
        for threads in (1, 2):
            runners[f"cornac MF, {threads} thread{'s' * (threads > 1)}"] = cornac_mf(
                train, test, epochs, threads)
    except ImportError as exc:
        print(f"(cornac not available: {exc})")
    if not skip_surprise:
        try:
            runners["Surprise SVD, 1 thread"] = surprise_svd(train, test, epochs)
        except ImportError as exc:
            print(f"(Surprise not available: {exc})")
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in runners}
    for round_ in range(repeat):
        for name, run in runners.items():
            if name.startswith("Surprise") and round_ > 0:
                continue  # ~25x slower than the others: one fit is enough for its ratio
            results[name].append(run())
    best = {name: min(runs) for name, runs in results.items()}
    speed = {name: updates / r[0] for name, r in best.items()}
    cpu_speed = {name: updates / r[1] for name, r in best.items()}
    print("| system | fit s (best) | updates/s | ours (same threads) / this | CPU s | "
          "updates per CPU s | ours / this, per CPU s | test RMSE |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, (seconds, cpu, rmse) in best.items():
        threads = 2 if "2 threads" in name else 1
        mine = f"recsys MF, {threads} thread{'s' * (threads > 1)}"
        print(f"| {name} | {seconds:.2f} | {speed[name] / 1e6:.1f} M | "
              f"{speed[mine] / speed[name]:.2f}x | {cpu:.2f} | {cpu_speed[name] / 1e6:.1f} M | "
              f"{cpu_speed[mine] / cpu_speed[name]:.2f}x | {rmse:.4f} |")
    all_runs = "; ".join(f"{name}: " + ", ".join(f"{r[0]:.2f}" for r in runs)
                         for name, runs in results.items())
    print(f"\nall fit seconds: {all_runs}")
    sys.stdout.flush()


def large_child(n_users: int, n_items: int, n_ratings: int, epochs: int, threads: int) -> None:
    start = time.perf_counter()
    data = planted(n_users, n_items, n_ratings)
    made = time.perf_counter() - start
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    MatrixFactorization(n_factors=100, n_epochs=1, n_threads=threads).fit(
        data.subset(np.arange(5000)))
    per_epoch: list[float] = []
    last = [time.perf_counter()]

    def tick(epoch: int, history: dict) -> None:
        now = time.perf_counter()
        per_epoch.append(now - last[0])
        last[0] = now

    start = time.perf_counter()
    model = MatrixFactorization(n_factors=100, n_epochs=epochs, lr=LR, lr_bias=LR, reg=REG,
                                reg_bias=REG, lr_decay=0.0, random_state=0, n_threads=threads)
    last[0] = time.perf_counter()
    model.fit(data, callback=tick)
    total = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(dict(ratings=len(data), users=data.n_users, items=data.n_items,
                          make_s=made, fit_s=total, epoch_s=per_epoch,
                          train_rmse=model.history_["train_rmse"],
                          rss_after_data_mb=rss_data / 1024,
                          peak_rss_mb=peak / 1024)))


def large(epochs: int, threads: int) -> None:
    cmd = [sys.executable, __file__, "--child-large", str(epochs), str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print(out.stderr)
        return
    facts = json.loads(out.stdout.strip().splitlines()[-1])
    first, later = facts["epoch_s"][0], facts["epoch_s"][1:]
    print(f"\n## 25M synthetic ({facts['ratings']:,} ratings, {facts['users']:,} users x "
          f"{facts['items']:,} items), 100 factors, {threads} threads, {epochs} epochs\n")
    print(f"- first epoch including the one-off setup (id maps, seen items, block sort, "
          f"initialisation): {first:.2f} s")
    if later:
        mean = float(np.mean(later))
        print(f"- seconds per later epoch: {', '.join(f'{s:.2f}' for s in later)} (mean "
              f"{mean:.2f}; {facts['ratings'] / mean / 1e6:.1f} M updates/s)")
    print(f"- training RMSE per epoch: {', '.join(f'{x:.4f}' for x in facts['train_rmse'])}")
    print(f"- peak RSS of the child: {facts['peak_rss_mb']:.0f} MB "
          f"(after generating the data: {facts['rss_after_data_mb']:.0f} MB; data made in "
          f"{facts['make_s']:.1f} s)")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child-large":
        large_child(162_541, 59_047, 25_000_095, int(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="synthetic,ml100k,large")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--large-epochs", type=int, default=5)
    parser.add_argument("--no-surprise", action="store_true", help="skip the slow Surprise fit")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved fits per system")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    print(f"numba threads available: {os.cpu_count()}; OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', '')!r}")
    if "synthetic" in sections:
        train, test = holdout(planted(20_000, 5_000, 1_780_000))
        compare("synthetic (planted rank 10, noise 0.5)", train, test, args.epochs,
                args.no_surprise, args.repeat)
    if "ml100k" in sections:
        if ML100K.is_dir():
            train, test = load_split("u1")
            compare("ML-100k u1.base / u1.test", train, test, args.epochs, args.no_surprise,
                    args.repeat)
        else:
            print(f"ML-100k not found at {ML100K}: section skipped")
    if "large" in sections:
        large(args.large_epochs, 2)


if __name__ == "__main__":
    main()
