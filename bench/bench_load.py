"""Time ``recsys.data.loading.load`` on a 25M-row ratings.csv in the ML-25M format.

Run by hand (not by pytest)::

    python bench/bench_load.py            # 25,000,000 rows
    python bench/bench_load.py --rows 2000000 --zip
    python bench/bench_load.py --parquet  # also: convert to Parquet, then load that

The ratings come from :func:`recsys.data.synthetic.make_planted` when that module is present
(rounded to half stars in [0.5, 5], as in ML-25M), otherwise from a direct vectorised draw. The
file is written in a temporary folder laid out like ``ml-25m/`` (``ratings.csv`` with the header
``userId,movieId,rating,timestamp`` and a ``movies.csv``). Each measurement runs ``load`` in a
fresh Python process (and the data are generated in another one, so the parent stays small:
on Linux ``ru_maxrss`` carries the parent's size over fork/exec). The peak reported is that
process's high-water RSS (``VmHWM``, equal to ``ru_maxrss`` when the parent is small), which
includes the interpreter and imports, reported separately as the baseline.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.synthetic import make_planted

N_USERS, N_ITEMS, N_MOVIES = 162_541, 59_047, 62_423  # ML-25M's shape

CHILD = r"""
import json, resource, sys, time
from recsys.data.loading import load
def hwm():  # this process's own peak RSS in KiB (VmHWM starts afresh at exec)
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
base = hwm()
t0 = time.perf_counter()
r = load(sys.argv[1])
wall = time.perf_counter() - t0
peak = hwm()
maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
del r
if sys.argv[1].endswith(".parquet"):
    print(json.dumps({"wall_s": wall, "peak_mib": peak / 1024, "baseline_mib": base / 1024,
                      "ru_maxrss_mib": maxrss / 1024}))
    sys.exit(0)
# where the time goes: parsing the file vs validating and encoding it (Ratings.from_dataframe)
from pathlib import Path
from recsys.data.movielens import read_ratings_frame
from recsys.data.release_files import ReleaseFiles
from recsys.data.ratings import Ratings
folder = Path(sys.argv[1]) if Path(sys.argv[1]).is_dir() else Path(sys.argv[1]).parent
with ReleaseFiles(folder) as files:
    t1 = time.perf_counter()
    frame, first, src = read_ratings_frame(files)
    t2 = time.perf_counter()
    r = Ratings.from_dataframe(frame, "userId", "movieId", "rating", "timestamp",
                               rating_scale=(0.5, 5.0), source=src, first_line=first)
    t3 = time.perf_counter()
print(json.dumps({"wall_s": wall, "peak_mib": peak / 1024, "baseline_mib": base / 1024,
                  "ru_maxrss_mib": maxrss / 1024, "parse_s": t2 - t1, "encode_s": t3 - t2,
                  "n_ratings": len(r), "n_users": r.n_users, "n_items": r.n_items,
                  "nbytes_mib": (r.users.nbytes + r.items.nbytes + r.ratings.nbytes
                                 + (r.timestamps.nbytes if r.timestamps is not None else 0))
                                / 2**20}))
"""


def generate(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """userId, movieId, rating (half stars), timestamp: ML-25M-like, no duplicate pairs."""
    r = make_planted(n_users=N_USERS, n_items=N_ITEMS, n_ratings=n_rows, n_factors=10,
                     random_state=seed)
    rating = np.clip(np.round(r.ratings * 2) / 2, 0.5, 5.0).astype(np.float32)
    return pd.DataFrame({"userId": r.user_ids[r.users].astype(np.int32),
                         "movieId": r.item_ids[r.items].astype(np.int32),
                         "rating": rating, "timestamp": r.timestamps})


def write_release(folder: Path, n_rows: int) -> Path:
    release = folder / "ml-25m"
    release.mkdir(parents=True)
    frame = generate(n_rows)
    with open(release / "ratings.csv", "w", newline="") as out:
        out.write("userId,movieId,rating,timestamp\n")
        for start in range(0, len(frame), 2_000_000):
            frame.iloc[start:start + 2_000_000].to_csv(out, header=False, index=False,
                                                       float_format="%.1f")
    ids = np.arange(1, N_MOVIES + 1)
    pd.DataFrame({"movieId": ids, "title": [f"Movie {i} ({1900 + i % 120})" for i in ids],
                  "genres": "Drama|Comedy"}).to_csv(release / "movies.csv", index=False)
    return release


def measure(target: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(target)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=25_000_000)
    parser.add_argument("--zip", action="store_true", help="also time loading from a zip")
    parser.add_argument("--parquet", action="store_true",
                        help="also time `recsys data convert` to Parquet and loading that")
    parser.add_argument("--keep", metavar="DIR",
                        help="write the data into DIR and keep it (reused when already there)")
    parser.add_argument("--generate-into", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_into:
        write_release(Path(args.generate_into), args.rows)
        return
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        folder = Path(args.keep) if args.keep else Path(tmp)
        release = folder / "ml-25m"
        if (release / "ratings.csv").is_file():
            print(f"reusing {release / 'ratings.csv'}")
        else:
            subprocess.run([sys.executable, __file__, "--rows", str(args.rows),
                            "--generate-into", str(folder)], check=True)
        size = (release / "ratings.csv").stat().st_size
        print(f"ratings.csv: {args.rows:,} rows ({size / 2**20:,.0f} MiB) "
              f"written in {time.perf_counter() - t0:.1f} s")
        for label, target in (("folder", release), ("ratings.csv", release / "ratings.csv")):
            m = measure(target)
            print(f"load({label}): {m['wall_s']:.2f} s, peak RSS {m['peak_mib']:,.0f} MiB "
                  f"(ru_maxrss {m['ru_maxrss_mib']:,.0f} MiB; after imports "
                  f"{m['baseline_mib']:,.0f} MiB; arrays "
                  f"{m['nbytes_mib']:,.0f} MiB); {m['n_ratings']:,} ratings, "
                  f"{m['n_users']:,} users, {m['n_items']:,} items; again: parse "
                  f"{m['parse_s']:.2f} s + Ratings.from_dataframe {m['encode_s']:.2f} s")
        if args.parquet:
            target = folder / "ratings.parquet"
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "recsys", "data", "convert",
                            str(release / "ratings.csv"), str(target)], check=True,
                           capture_output=True)
            convert_s = time.perf_counter() - t0
            m = measure(target)
            print(f"load(ratings.parquet): {m['wall_s']:.2f} s, peak RSS {m['peak_mib']:,.0f} MiB "
                  f"(ru_maxrss {m['ru_maxrss_mib']:,.0f} MiB; after imports "
                  f"{m['baseline_mib']:,.0f} MiB); file {target.stat().st_size / 2**20:,.0f} MiB, "
                  f"written by `recsys data convert` in {convert_s:.1f} s (a new process)")
        if args.zip:
            archive = folder / "ml-25m.zip"
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
                for f in release.iterdir():
                    z.write(f, f"ml-25m/{f.name}")
            m = measure(archive)
            print(f"load(zip): {m['wall_s']:.2f} s, peak RSS {m['peak_mib']:,.0f} MiB "
                  f"(ru_maxrss {m['ru_maxrss_mib']:,.0f} MiB)")


if __name__ == "__main__":
    main()
