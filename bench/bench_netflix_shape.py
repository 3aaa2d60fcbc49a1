"""MatrixFactorization's speed and memory at Netflix Prize scale, on skewed synthetic ratings.

Run by hand, not by pytest. Each fit runs in a child process of its own (numba warmed up on a
small fit first, then timed), with fixed settings: 100 factors, 20 epochs, lr 0.005, reg 0.02
(biases too), no decay, no validation and no early stopping, so every fit runs all its epochs.
Reported per shape and thread count: updates per second (ratings x epochs / fit seconds, setup
included), the same per CPU second (all threads; steadier when other processes share the
cores), seconds per later epoch, the training RMSE of the last epoch and the RMSE on 1M held-out
pairs drawn from the same model, and the fit's peak resident memory beyond what the process held
before it (the ratings, ids, Python and numba): the peak is reset through
``/proc/self/clear_refs`` just before the fit and read from ``VmHWM`` after it.

Shapes (users x items, ratings): ``small`` 20,000 x 4,000, 1.2M; ``ml25m`` ML-25M's
162,541 x 59,047, 20.3M; ``netflix`` the Netflix Prize's 480,189 x 17,770, 100M.

The data (:func:`make_skewed`, seeded): users' activity log-normal (sigma 0.5, every user at
least one rating), items' popularity Zipf (weight ``1 / rank``, over a random ranking), distinct
(user, item) pairs, values from a planted rank-10 biased model plus N(0, 0.5^2) noise (so 0.5 is
the best possible RMSE), int32 ids and float32 ratings (100M ratings: 1.2 GB). Generated sets
are cached as ``.npy`` files in ``--cache`` (default: a folder in the system's temp dir).

cornac's MF (Cython SGD, same settings) is fitted on the ``small`` set in the same run, for
the ratio; it needs cornac in the running environment (a venv with the bench peers):

    python bench/bench_netflix_shape.py                               # all shapes, 1 and 2 threads
    python bench/bench_netflix_shape.py --shapes small,ml25m --epochs 5 --repeat 2
    python bench/bench_netflix_shape.py --shapes netflix --threads 2
    python bench/bench_netflix_shape.py --shapes ml25m --threads 2 --epochs 3 \\
        --variant old:_sgd.WITHIN_BLOCK_ORDER=shuffle --variant new:

``--variant NAME:MODULE.ATTR=VALUE,...`` sets attributes of ``recsys.models._sgd`` or
``recsys.models._blocks`` in the child before the fit (an A/B knob); variants are run
interleaved, ``--repeat`` rounds, and every run is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

SHAPES = {
    "small": (20_000, 4_000, 1_200_000),
    "ml25m": (162_541, 59_047, 20_300_000),
    "netflix": (480_189, 17_770, 100_000_000),
}
LR, REG, FACTORS = 0.005, 0.02, 100
N_TEST = 1_000_000
PLANTED_RANK, NOISE = 10, 0.5


# ---------------------------------------------------------------------------- data
@numba.njit(cache=True)
def _draw_items(counts, item_cum, seed, items):
    """For each user ``u`` (in index order), ``counts[u]`` distinct items drawn by popularity
    (inverse CDF over ``item_cum``, rejection of repeats through a per-item stamp)."""
    np.random.seed(seed)
    n_items = item_cum.shape[0]
    stamp = np.full(n_items, -1, dtype=np.int64)
    total = item_cum[-1]
    pos = 0
    for u in range(counts.shape[0]):
        got = 0
        while got < counts[u]:
            i = np.searchsorted(item_cum, np.random.random() * total, side="right")
            if i >= n_items:
                i = n_items - 1
            if stamp[i] != u:
                stamp[i] = u
                items[pos] = i
                pos += 1
                got += 1


@numba.njit(cache=True)
def _planted_values(users, items, P, Q, bu, bi, mean, noise, seed, out):
    np.random.seed(seed)
    for k in range(users.shape[0]):
        u = users[k]
        i = items[k]
        dot = 0.0
        for f in range(P.shape[1]):
            dot += P[u, f] * Q[i, f]
        out[k] = mean + bu[u] + bi[i] + dot + noise * np.random.standard_normal()


def make_skewed(n_users: int, n_items: int, n_ratings: int, seed: int = 0):
    """Skewed synthetic ratings as arrays: ``(users int32, items int32, ratings float32,
    test_users, test_items, test_ratings)`` (see the module docstring). The training pairs
    are distinct and come in a random order (user indices relabelled at random too); the
    test pairs are drawn independently from the same distributions."""
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(0.0, 0.5, n_users)
    cap = max(1, n_items // 2)
    counts = 1 + rng.multinomial(n_ratings - n_users, activity / activity.sum())
    counts = np.minimum(counts, cap).astype(np.int64)
    popularity = np.empty(n_items)
    popularity[rng.permutation(n_items)] = 1.0 / np.arange(1, n_items + 1)
    item_cum = np.cumsum(popularity)
    n = int(counts.sum())
    users = np.repeat(np.arange(n_users, dtype=np.int32), counts)
    items = np.empty(n, dtype=np.int32)
    _draw_items(counts, item_cum, int(rng.integers(2**31)), items)
    scale = np.sqrt(0.5 / PLANTED_RANK)  # factor part of std about 0.5
    P = rng.normal(0, scale, (n_users, PLANTED_RANK))
    Q = rng.normal(0, scale, (n_items, PLANTED_RANK))
    bu = rng.normal(0, 0.5, n_users)
    bi = rng.normal(0, 0.5, n_items)
    ratings = np.empty(n, dtype=np.float32)
    _planted_values(users, items, P, Q, bu, bi, 3.5, NOISE, int(rng.integers(2**31)), ratings)
    test_users = np.minimum(np.searchsorted(np.cumsum(counts), rng.random(N_TEST) * n,
                                            side="right"), n_users - 1).astype(np.int32)
    test_items = np.minimum(np.searchsorted(item_cum, rng.random(N_TEST) * item_cum[-1],
                                            side="right"), n_items - 1).astype(np.int32)
    test_ratings = np.empty(N_TEST, dtype=np.float32)
    _planted_values(test_users, test_items, P, Q, bu, bi, 3.5, NOISE,
                    int(rng.integers(2**31)), test_ratings)
    relabel = rng.permutation(n_users).astype(np.int32)
    np.take(relabel, users, out=users)
    np.take(relabel, test_users, out=test_users)
    shuffle = rng.permutation(n)  # file order of no help: not grouped by user or by item
    users, items, ratings = users[shuffle], items[shuffle], ratings[shuffle]
    return users, items, ratings, test_users, test_items, test_ratings


def load_or_make(shape: str, cache: Path, seed: int = 0):
    """The arrays of ``shape`` from the cache folder, generated (and saved) the first time."""
    n_users, n_items, n_ratings = SHAPES[shape]
    names = ["users", "items", "ratings", "test_users", "test_items", "test_ratings"]
    stem = f"skewed2-{n_users}x{n_items}-{n_ratings}-seed{seed}"
    paths = [cache / f"{stem}-{name}.npy" for name in names]
    if all(p.exists() for p in paths):
        return [np.load(p) for p in paths]
    cache.mkdir(parents=True, exist_ok=True)
    arrays = make_skewed(n_users, n_items, n_ratings, seed)
    for array, path in zip(arrays, paths):
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, array)
        os.replace(tmp, path)
    return list(arrays)


# ---------------------------------------------------------------------------- memory
def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------- children
def _huge_fraction(array: np.ndarray) -> float:
    """The share of ``array``'s memory in transparent huge pages, from the memory mappings it
    overlaps (Linux; NaN elsewhere). numpy asks for huge pages for large arrays; with 4 kB
    pages the random user-row accesses of a large table would miss the TLB."""
    low = array.ctypes.data
    high = low + array.nbytes
    try:
        lines = Path("/proc/self/smaps").read_text().splitlines()
    except OSError:
        return float("nan")
    huge = size = 0
    inside = False
    for text in lines:
        head = text.split()[0] if text else ""
        if "-" in head and ":" not in head:
            start, end = (int(x, 16) for x in head.split("-"))
            inside = start < high and end > low
            size += (end - start) if inside else 0
        elif inside and head == "AnonHugePages:":
            huge += int(text.split()[1]) * 1024
    return huge / size if size else float("nan")


def _container(users, items, ratings, n_users, n_items):
    from recsys.data.ratings import Ratings

    return Ratings(users=users, items=items, ratings=ratings,
                   user_ids=np.arange(1, n_users + 1), item_ids=np.arange(1, n_items + 1),
                   rating_scale=(float(ratings.min()), float(ratings.max())),
                   name="skewed synthetic")


def _apply_variant(settings: str) -> None:
    from recsys.models import _blocks, _sgd

    modules = {"_sgd": _sgd, "_blocks": _blocks}
    for item in filter(None, settings.split(",")):
        target, value = item.split("=", 1)
        module, attr = target.split(".", 1)
        old = getattr(modules[module], attr)
        setattr(modules[module], attr, type(old)(value) if not isinstance(old, bool)
                else value.lower() in ("1", "true", "yes"))


def child_ours(shape: str, threads: int, epochs: int, cache: Path, variant: str) -> dict:
    from recsys.models.mf import MatrixFactorization

    _apply_variant(variant)
    n_users, n_items, _ = SHAPES[shape]
    start = time.perf_counter()
    users, items, ratings, tu, ti, tr = load_or_make(shape, cache)
    data_s = time.perf_counter() - start
    data = _container(users, items, ratings, n_users, n_items)
    del users, items, ratings
    params = dict(n_factors=FACTORS, n_epochs=epochs, lr=LR, lr_bias=LR, lr_decay=0.0, reg=REG,
                  reg_bias=REG, init_std=0.1, patience=None, random_state=0, n_threads=threads)
    MatrixFactorization(**{**params, "n_epochs": 1}).fit(data.subset(np.arange(20_000)))
    ticks: list[float] = []

    cpu_ticks: list[float] = []

    def tick(epoch: int, history: dict) -> None:
        ticks.append(time.perf_counter())
        cpu_ticks.append(time.process_time())

    rss_before = _status_kb("VmRSS")
    reset = _reset_peak()
    model = MatrixFactorization(**params)
    wall, cpu = time.perf_counter(), time.process_time()
    start_wall, start_cpu = wall, cpu
    model.fit(data, callback=tick)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = _status_kb("VmHWM")
    epoch_s = np.diff(ticks).tolist()
    epoch_cpu = np.diff(cpu_ticks).tolist()
    # the setup (id bookkeeping, model units, initialisation, block partition): the time to
    # the end of the first epoch less a later epoch's
    setup_s = ticks[0] - start_wall - (float(np.median(epoch_s)) if epoch_s else 0.0)
    setup_cpu = cpu_ticks[0] - start_cpu - (float(np.median(epoch_cpu)) if epoch_cpu else 0.0)
    huge = _huge_fraction(model.user_factors_)
    pred = model.predict_indices(tu, ti)  # rating units, clipped
    test_rmse = float(np.sqrt(np.mean((pred - tr) ** 2)))
    n = len(data)
    return dict(system="recsys", shape=shape, threads=threads, epochs=epochs, variant=variant,
                ratings=n, data_s=data_s, fit_s=wall, cpu_s=cpu, epoch_s=epoch_s,
                epoch_cpu=epoch_cpu, setup_s=setup_s, setup_cpu=setup_cpu,
                ups=n * epochs / wall, ups_cpu=n * epochs / cpu,
                train_rmse=model.history_["train_rmse"][-1], test_rmse=test_rmse,
                rss_before_mb=rss_before / 1024,
                peak_beyond_mb=(peak - rss_before) / 1024 if reset else float("nan"),
                ratings_mb=n * 12 / 2**20, user_rows_huge=huge)


def child_cornac(shape: str, threads: int, epochs: int, cache: Path) -> dict:
    import cornac

    users, items, ratings, tu, ti, tr = load_or_make(shape, cache)
    triples = list(zip(users.tolist(), items.tolist(), ratings.tolist()))
    train_set = cornac.data.Dataset.from_uir(triples, seed=0)
    del triples
    umap, imap = train_set.uid_map, train_set.iid_map
    u = np.array([umap.get(x, -1) for x in tu.tolist()])
    i = np.array([imap.get(x, -1) for x in ti.tolist()])
    known = (u >= 0) & (i >= 0)
    model = cornac.models.MF(k=FACTORS, max_iter=epochs, learning_rate=LR, lambda_reg=REG,
                             use_bias=True, early_stop=False, num_threads=threads,
                             seed=0 if threads == 1 else None)
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(train_set)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    pred = np.full(len(tr), train_set.global_mean)
    pred[known] += (model.u_biases[u[known]] + model.i_biases[i[known]]
                    + np.einsum("ij,ij->i", model.u_factors[u[known]],
                                model.i_factors[i[known]]))
    pred = np.clip(pred, ratings.min(), ratings.max())
    n = len(ratings)
    return dict(system="cornac", shape=shape, threads=threads, epochs=epochs, variant="",
                ratings=n, fit_s=wall, cpu_s=cpu, ups=n * epochs / wall,
                ups_cpu=n * epochs / cpu, test_rmse=float(np.sqrt(np.mean((pred - tr) ** 2))))


def run_child(args: list[str]) -> dict | None:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print(f"child {' '.join(args)} failed:\n{out.stderr[-3000:]}", flush=True)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- report
def line(r: dict) -> str:
    later = r.get("epoch_s", [])[1:]
    later_cpu = r.get("epoch_cpu", [])[1:]
    per_epoch = f"{np.mean(later):.2f}" if later else "-"
    if later_cpu:
        per_epoch += f" ({np.mean(later_cpu):.2f})"
    setup = f"{r['setup_s']:.1f} ({r['setup_cpu']:.1f})" if "setup_s" in r else "-"
    name = r["system"] + (f" [{r['variant'].split(':')[0]}]" if r.get("variant") else "")
    peak = r.get("peak_beyond_mb")
    huge = f"{r['user_rows_huge']:.0%}" if "user_rows_huge" in r else "-"
    return (f"| {r['shape']} | {name} | {r['threads']} | {r['ratings']:,} | {r['fit_s']:.1f} | "
            f"{r['ups'] / 1e6:.1f} M | {r['cpu_s']:.1f} | {r['ups_cpu'] / 1e6:.1f} M | "
            f"{per_epoch} | {setup} | {r.get('train_rmse', float('nan')):.4f} | "
            f"{r['test_rmse']:.4f} | "
            f"{'-' if peak is None else f'{peak:.0f}'} | {huge} |")


HEADER = ("| shape | system | threads | ratings | fit s | updates/s | CPU s | updates/CPU s | "
          "s per later epoch (CPU s) | setup s (CPU s) | train RMSE | test RMSE | "
          "peak MB beyond data | user rows on huge pages |\n"
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        system, shape, threads, epochs, cache = sys.argv[2:7]
        variant = sys.argv[7] if len(sys.argv) > 7 else ""
        if system == "cornac":
            result = child_cornac(shape, int(threads), int(epochs), Path(cache))
        else:
            result = child_ours(shape, int(threads), int(epochs), Path(cache),
                                variant.split(":", 1)[1] if ":" in variant else variant)
            result["variant"] = variant
        print(json.dumps(result))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="small,ml25m,netflix")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=1, help="interleaved rounds")
    parser.add_argument("--variant", action="append", default=None,
                        help="NAME:MODULE.ATTR=VALUE,... (repeatable; A/B in one run)")
    parser.add_argument("--no-cornac", action="store_true")
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "recsys-bench-skewed")
    args = parser.parse_args()
    variants = args.variant or [""]
    threads = [int(t) for t in args.threads.split(",")]
    print(f"cores: {os.cpu_count()}; numba threads: {numba.config.NUMBA_NUM_THREADS}; "
          f"{args.epochs} epochs, {FACTORS} factors, lr {LR}, reg {REG}\n", flush=True)
    print(HEADER, flush=True)
    results = []
    for shape in args.shapes.split(","):
        load_or_make(shape, args.cache)  # generate once, outside the timed children
        for _ in range(args.repeat):
            for t in threads:
                for variant in variants:
                    r = run_child(["recsys", shape, str(t), str(args.epochs), str(args.cache),
                                   variant])
                    if r:
                        results.append(r)
                        print(line(r), flush=True)
                if shape == "small" and not args.no_cornac:
                    r = run_child(["cornac", shape, str(t), str(args.epochs), str(args.cache)])
                    if r:
                        results.append(r)
                        print(line(r), flush=True)
    small = [r for r in results if r["shape"] == "small"]
    for t in threads:
        ours = [r["ups"] for r in small if r["system"] == "recsys" and r["threads"] == t]
        peer = [r["ups"] for r in small if r["system"] == "cornac" and r["threads"] == t]
        if ours and peer:
            print(f"\nsmall, {t} thread(s): recsys / cornac updates/s (best of each) = "
                  f"{max(ours) / max(peer):.2f}x")


if __name__ == "__main__":
    main()
