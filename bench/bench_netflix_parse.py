"""Time the Netflix Prize reader (:mod:`recsys.data.netflix`) on generated files.

Run by hand (not by pytest)::

    python bench/bench_netflix_parse.py                   # 10M ratings, combined_data_*.txt
    python bench/bench_netflix_parse.py --layout training_set --ratings 2000000
    python bench/bench_netflix_parse.py --keep nf-files   # keep (and reuse) the files

The files are written in the exact format of the Netflix Prize data (``MovieID:`` lines, then
``CustomerID,Rating,Date`` lines; the four ``combined_data_*.txt`` of Kaggle's copy, or one
``training_set/mv_0000001.txt`` per movie) with Netflix's shape scaled to ``--ratings``:
17,770 movies with Zipf-like popularity, customer ids drawn from 1..2,649,429 (480,189 of
them), log-normal activity, ratings 1..5, dates from 1999-11-11 to 2005-12-31, seeded. The
load runs in a fresh process (after a warm-up on a tiny folder, so numba's compilation or
cache load is not counted; it is reported apart) and its peak RSS (``VmHWM``) is reported.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

N_MOVIES, N_CUSTOMERS, MAX_CUSTOMER = 17_770, 480_189, 2_649_429

CHILD = r"""
import json, sys, time
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
t0 = time.perf_counter()
from recsys.data.netflix import read_netflix
read_netflix(sys.argv[2])  # warm-up: numba compiles or loads its cache
warm = time.perf_counter() - t0
base = hwm()
t0 = time.perf_counter()
r = read_netflix(sys.argv[1])
wall = time.perf_counter() - t0
print(json.dumps({"wall_s": wall, "warmup_s": warm, "peak_mib": hwm(), "base_mib": base,
                  "n": len(r), "users": r.n_users, "items": r.n_items,
                  "titles": 0 if r.item_info is None else len(r.item_info)}))
"""


def generate(n_ratings: int, seed: int = 0) -> pd.DataFrame:
    """movie, customer, rating, day (index into the date range), sorted by movie."""
    rng = np.random.default_rng(seed)
    customers = np.sort(rng.choice(np.arange(1, MAX_CUSTOMER + 1), N_CUSTOMERS, replace=False))
    activity = rng.lognormal(0.0, 1.2, N_CUSTOMERS)
    popularity = 1.0 / np.arange(1, N_MOVIES + 1) ** 0.9
    rng.shuffle(popularity)
    # pairs drawn independently (a fifth more), repeated pairs dropped, then n_ratings kept
    draws = int(n_ratings * 1.2) + 100
    user = rng.choice(N_CUSTOMERS, draws, p=activity / activity.sum())
    movie = rng.choice(N_MOVIES, draws, p=popularity / popularity.sum()) + 1
    frame = pd.DataFrame({"movie": movie.astype(np.int32), "customer": customers[user],
                          "rating": rng.integers(1, 6, draws, dtype=np.int8),
                          "day": rng.integers(0, 2243, draws, dtype=np.int16)})
    frame = frame.drop_duplicates(["movie", "customer"]).iloc[:n_ratings]
    return frame.sort_values("movie", kind="stable").reset_index(drop=True)


def _text(block: pd.DataFrame, dates: np.ndarray) -> str:
    """The lines of a run of whole movie blocks, headers included."""
    body = (block["customer"].astype(str) + "," + block["rating"].astype(str) + ","
            + dates[block["day"].to_numpy()])
    starts = np.flatnonzero(np.r_[True, block["movie"].to_numpy()[1:]
                                  != block["movie"].to_numpy()[:-1]])
    lines = np.empty(len(body) + len(starts), dtype=object)
    at = starts + np.arange(len(starts))  # where each header lands
    lines[at] = (block["movie"].iloc[starts].astype(str) + ":").to_numpy()
    mask = np.ones(len(lines), dtype=bool)
    mask[at] = False
    lines[mask] = body.to_numpy()
    return "\n".join(lines) + "\n"


def write_folder(folder: Path, n_ratings: int, layout: str, seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    frame = generate(n_ratings, seed)
    dates = pd.date_range("1999-11-11", periods=2243, freq="D").strftime("%Y-%m-%d").to_numpy(
        dtype=object)
    movies = frame["movie"].to_numpy()
    if layout == "combined":
        cuts = np.searchsorted(movies, [1, 4500, 9211, 13368, N_MOVIES + 1])
        for k in range(4):
            block = frame.iloc[cuts[k]:cuts[k + 1]]
            (folder / f"combined_data_{k + 1}.txt").write_text(_text(block, dates))
    else:
        training = folder / "training_set"
        training.mkdir(exist_ok=True)
        bounds = np.searchsorted(movies, np.arange(1, N_MOVIES + 2))
        for m in range(N_MOVIES):
            block = frame.iloc[bounds[m]:bounds[m + 1]]
            if len(block):
                (training / f"mv_{m + 1:07d}.txt").write_text(_text(block, dates))
    years = np.where(np.arange(N_MOVIES) % 500 == 7, "NULL",
                     (1900 + np.arange(N_MOVIES) % 106).astype(str))
    titles = [f"{m},{y},Movie {m}, Part {m % 3} (Am\u00e9lie)" for m, y in
              zip(range(1, N_MOVIES + 1), years)]
    (folder / "movie_titles.csv").write_bytes(("\n".join(titles) + "\n").encode("latin-1"))


def measure(folder: Path, tiny: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(tiny)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=10_000_000)
    parser.add_argument("--layout", choices=["combined", "training_set"], default="combined")
    parser.add_argument("--keep", metavar="DIR", help="write the files into DIR and keep them")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp) / "netflix"
        tiny = Path(tmp) / "tiny"
        tiny.mkdir()
        (tiny / "combined_data_1.txt").write_text("1:\n6,3,2005-09-06\n")
        if not any(folder.glob("combined_data_*.txt")) and not (folder / "training_set").is_dir():
            t0 = time.perf_counter()
            write_folder(folder, args.ratings, args.layout, args.seed)
            print(f"generated in {time.perf_counter() - t0:.1f} s")
        else:
            print(f"reusing {folder}")
        size = sum(f.stat().st_size for f in folder.rglob("*.txt"))
        m = measure(folder, tiny)
        rate = m["n"] / m["wall_s"]
        print(f"read_netflix({args.layout}): {m['n']:,} ratings ({size / 2**20:,.0f} MiB of "
              f"text), {m['users']:,} users, {m['items']:,} items, {m['titles']:,} titles: "
              f"{m['wall_s']:.2f} s = {rate / 1e6:.1f}M ratings/s; peak RSS "
              f"{m['peak_mib']:,.0f} MiB (after imports and warm-up {m['base_mib']:,.0f} MiB); "
              f"warm-up {m['warmup_s']:.1f} s")
        print(f"extrapolated to 100,480,507 ratings: {100_480_507 / rate:.1f} s")


if __name__ == "__main__":
    main()
