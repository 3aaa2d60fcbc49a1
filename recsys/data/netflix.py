"""The Netflix Prize files: ``training_set/mv_*.txt`` or ``combined_data_*.txt``, titles, probe.

The data set (100,480,507 ratings of 17,770 movies by 480,189 customers) cannot be downloaded
by recsys; :data:`WHERE_TO_GET` says where users get it. A folder is recognised when it (or its
``download/`` sub-folder, the layout of the original archive) holds

* ``training_set/mv_*.txt``: one file per movie, a ``MovieID:`` line, then one
  ``CustomerID,Rating,Date`` line per rating (``Date`` as ``YYYY-MM-DD``); or
* ``combined_data_*.txt`` (Kaggle's copy): several such ``MovieID:`` blocks per file;
* optionally ``movie_titles.csv`` (Latin-1, ``MovieID,Year,Title``; ``Year`` may be ``NULL``,
  and only the first two commas separate fields, titles keep theirs), attached as item info
  (``title``, ``year``);
* optionally ``probe.txt`` (``MovieID:`` lines, then ``CustomerID`` lines): the predefined
  split of :func:`load_probe_split`.

Parsing runs in a numba kernel over each file's bytes (:mod:`recsys.data._netflix_kernels`),
never a Python loop per line. Dates become timestamps at midnight UTC. The first malformed
line (a rating before any ``MovieID:``, a bad date, a rating outside the scale, a line in
neither form) stops the reader with one message naming the file and line.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data import _netflix_kernels as kernels
from recsys.data._pairs_kernels import dense_codes
from recsys.data.messages import os_error, show
from recsys.data.ratings import DuplicateRatingsWarning, Ratings
from recsys.errors import DataError

__all__ = [
    "NETFLIX_NAMES", "WHERE_TO_GET", "NetflixFiles", "find_netflix_files", "is_netflix_name",
    "read_netflix", "read_movie_titles", "load_probe_split",
]

NETFLIX_NAMES = ("netflix", "netflix-prize", "netflix-prize-data", "nf-prize-dataset",
                 "netflix-100m")

WHERE_TO_GET = (
    "the Netflix Prize data set cannot be downloaded by recsys (its licence does not allow "
    "redistribution); get it from Kaggle (https://www.kaggle.com/datasets/netflix-inc/"
    "netflix-prize-data) or archive.org (https://archive.org/details/nf_prize_dataset.tar), "
    "unpack it and pass its folder (the one holding training_set/ or combined_data_1.txt), "
    "e.g. --data ~/data/netflix-prize-data"
)

_MIN_RATING_LINE = 15  # "1,1,2005-09-06\n": no rating line is shorter
_ERRORS = {
    kernels.ERR_BEFORE_MOVIE: "a rating line before any 'MovieID:' line ({line}); a block "
                              "starts with its movie's id and a colon, e.g. '1:'",
    kernels.ERR_HEADER: "{line} is not a 'MovieID:' line (digits, then a colon)",
    kernels.ERR_ID: "an id in {line} is beyond 2147483647",
}


def is_netflix_name(text: str) -> bool:
    """True for names users may try for the Netflix Prize data (``netflix``, ...)."""
    return text.strip().lower().replace("_", "-") in NETFLIX_NAMES


@dataclass(frozen=True)
class NetflixFiles:
    """Where the parts of a Netflix Prize folder are."""

    root: Path
    rating_files: tuple[Path, ...]
    titles: Path | None
    probe: Path | None


def find_netflix_files(path: str | Path) -> NetflixFiles | None:
    """The Netflix Prize files in folder ``path`` (or ``path/download``), else None.

    Raises
    ------
    DataError
        The folder has ``training_set.tar`` but no unpacked ``training_set/``, or an empty
        ``training_set/``.
    """
    path = Path(path).expanduser()
    for root in (path, path / "download"):
        if not root.is_dir():
            continue
        training = root / "training_set"
        combined = sorted(root.glob("combined_data_*.txt"))
        files: list[Path] = []
        if training.is_dir():
            files = sorted(training.glob("mv_*.txt"))
            if not files and not combined:
                raise DataError(f"{training}: no mv_*.txt files in it; unpack training_set.tar "
                                "there (tar -xf training_set.tar)")
        if not files:
            files = combined
        if not files and (root / "training_set.tar").is_file():
            raise DataError(f"{root / 'training_set.tar'}: unpack it first (tar -xf "
                            "training_set.tar), then pass this folder again")
        if files:
            titles = root / "movie_titles.csv"
            probe = root / "probe.txt"
            return NetflixFiles(root, tuple(files), titles if titles.is_file() else None,
                                probe if probe.is_file() else None)
    return None


def _read_bytes(path: Path) -> np.ndarray:
    try:
        return np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise os_error(exc, str(path)) from None


def _line_text(buf: np.ndarray, offset: int) -> str:
    end = offset + int(np.argmax(buf[offset:offset + 200] == 10)) if offset < len(buf) else offset
    if end == offset and offset < len(buf) and buf[offset] != 10:
        end = min(len(buf), offset + 200)
    return bytes(buf[offset:end]).decode("latin-1").rstrip("\r")


def _parse_error(code: int, path: Path, line: int, buf: np.ndarray, offset: int,
                 scale: tuple[int, int], pairs_only: bool) -> DataError:
    text = _line_text(buf, offset)
    shown = show(text)
    prefix = f"{path}, line {line}: "
    if code in _ERRORS:
        return DataError(prefix + _ERRORS[code].format(line=shown) + "; fix or delete the line")
    if code == kernels.ERR_DATE:
        date = text.rsplit(",", 1)[-1]
        return DataError(f"{prefix}date {show(date, 30)} is not a date written YYYY-MM-DD "
                         "(e.g. 2005-09-06); fix or delete the line")
    if code == kernels.ERR_RATING:
        rating = text.split(",")[1] if text.count(",") >= 2 else text
        return DataError(f"{prefix}rating {rating} is outside the rating scale "
                         f"[{scale[0]}, {scale[1]}]; fix or delete the line")
    form = "CustomerID" if pairs_only else "CustomerID,Rating,Date (e.g. '1488844,3,2005-09-06')"
    return DataError(f"{prefix}expected {form} or 'MovieID:', found {shown} (ratings are "
                     "whole numbers); fix or delete the line")


def _parse_files(files: tuple[Path, ...], scale: tuple[int, int], pairs_only: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Raw customer ids, movie ids, stars and seconds since 1970 of every line of ``files``
    (the arrays are written once, in their final types: on big sets, fresh memory's page
    faults cost as much as parsing)."""
    try:
        sizes = [f.stat().st_size for f in files]
    except OSError as exc:
        raise os_error(exc, str(getattr(exc, "filename", files[0]))) from None
    per_line = 2 if pairs_only else _MIN_RATING_LINE
    capacity = sum((size + 1) // per_line for size in sizes) + 1
    users = np.empty(capacity, dtype=np.int32)  # pages past the fill level are never touched
    items = np.empty(capacity, dtype=np.int32)
    stars = np.empty(0 if pairs_only else capacity, dtype=np.float32)
    seconds = np.empty(0 if pairs_only else capacity, dtype=np.int64)
    out = 0
    for path in files:
        buf = _read_bytes(path)
        out, code, line, offset = kernels.parse_netflix(buf, users, items, stars, seconds, out,
                                                        scale[0], scale[1], pairs_only)
        if code != kernels.OK:
            raise _parse_error(code, path, line, buf, offset, scale, pairs_only)
    return users[:out], items[:out], stars[:out], seconds[:out]


def _dense(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct ids (``int32``) and the index of each value of ``raw`` among them."""
    if not len(raw):
        return np.empty(0, dtype=np.int32), raw
    low, high = int(raw.min()), int(raw.max())
    if low >= 0 and high <= max(4 * len(raw), 1 << 24):  # a table of every id: O(n), no sort
        return dense_codes(raw, high, raw)  # raw is int32: coded in place
    ids, inverse = np.unique(raw, return_inverse=True)
    return ids.astype(np.int32), inverse.astype(np.int32)


def read_movie_titles(path: str | Path) -> pd.DataFrame:
    """``movie_titles.csv``: DataFrame indexed by movie id with ``title`` and ``year``
    (float, NaN for ``NULL``). Latin-1; only the first two commas separate fields."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("latin-1")
    except OSError as exc:
        raise os_error(exc, str(path)) from None
    lines = pd.Series(text.splitlines(), dtype=object)
    filled = lines.str.strip() != ""
    parts = lines[filled].str.split(",", n=2, expand=True)
    if parts.shape[1] < 3 or parts[2].isna().any():
        bad = 0 if parts.shape[1] < 3 else int(np.flatnonzero(parts[2].isna().to_numpy())[0])
        row = int(lines.index[filled][bad])
        raise DataError(f"{path}, line {row + 1}: expected MovieID,Year,Title, found "
                        f"{show(lines.iat[row])}; fix or delete the line")
    ids = pd.to_numeric(parts[0].str.strip(), errors="coerce")
    year_text = parts[1].str.strip()
    years = pd.to_numeric(year_text, errors="coerce")
    bad = (ids.isna() | (years.isna() & (year_text.str.upper() != "NULL"))).to_numpy()
    if bad.any():
        row = int(lines.index[filled][int(np.flatnonzero(bad)[0])])
        raise DataError(f"{path}, line {row + 1}: expected MovieID,Year,Title with a number "
                        f"(or NULL) as the year, found {show(lines.iat[row])}; fix the line")
    frame = pd.DataFrame({"title": parts[2].str.strip().to_numpy(),
                          "year": years.to_numpy(dtype=np.float64)},
                         index=pd.Index(ids.to_numpy(dtype=np.int64), name="item"))
    return frame[~frame.index.duplicated(keep="last")]


def _drop_duplicates(users: np.ndarray, items: np.ndarray, n_users: int, source: str
                     ) -> np.ndarray | None:
    """Positions to keep so each (user, item) pair appears once (its last occurrence)."""
    keep = np.empty(len(users), dtype=bool)
    dropped = kernels.mark_duplicates(users, items, n_users, keep)
    if dropped < 0:  # a movie's ratings in two blocks: the general (sorting) way
        key = items.astype(np.int64) * max(n_users, 1) + users
        keep = ~pd.Series(key).duplicated(keep="last").to_numpy()
        dropped = int(len(keep) - keep.sum())
    if not dropped:
        return None
    warnings.warn(f"{source}: {dropped} duplicate (user, item) rating(s); kept the last "
                  "occurrence of each pair", DuplicateRatingsWarning, stacklevel=3)
    return keep


def read_netflix(path: str | Path, *, rating_scale: tuple[float, float] | None = None,
                 files: NetflixFiles | None = None) -> Ratings:
    """All the ratings of a Netflix Prize folder, with the movie titles attached.

    Parameters
    ----------
    path : str or Path
        The folder (see the module docstring for the layouts).
    rating_scale : (low, high), optional
        The scale (default (1, 5)); the whole stars inside it are allowed.

    Raises
    ------
    DataError
        Not a Netflix Prize folder, or the file and line of the first malformed line.
    """
    files = files or find_netflix_files(path)
    if files is None:
        raise DataError(f"{path}: no training_set/mv_*.txt or combined_data_*.txt here; "
                        f"{WHERE_TO_GET}")
    scale = _int_scale(rating_scale)
    raw_users, raw_items, ratings, timestamps = _parse_files(files.rating_files, scale)
    if not len(ratings):
        raise DataError(f"{files.root}: no ratings found in {len(files.rating_files)} "
                        "file(s); each needs a 'MovieID:' line then CustomerID,Rating,Date lines")
    user_ids, users = _dense(raw_users)
    item_ids, items = _dense(raw_items)
    keep = _drop_duplicates(users, items, len(user_ids), str(files.root))
    if keep is not None:
        users, items, ratings, timestamps = users[keep], items[keep], ratings[keep], \
            timestamps[keep]
    info = read_movie_titles(files.titles) if files.titles is not None else None
    return Ratings(users=users, items=items, ratings=ratings, user_ids=user_ids,
                   item_ids=item_ids, timestamps=timestamps,
                   rating_scale=rating_scale or (float(scale[0]), float(scale[1])),
                   item_info=info,
                   name="netflix")


def _int_scale(rating_scale: tuple[float, float] | None) -> tuple[int, int]:
    if rating_scale is None:
        return 1, 5
    low, high = np.ceil(rating_scale[0]), np.floor(rating_scale[1])
    if not low <= high:
        raise DataError(f"rating scale {rating_scale} holds no whole star; Netflix ratings "
                        "are 1 to 5 stars")
    return int(low), int(high)


def load_probe_split(path: str | Path, *, rating_scale: tuple[float, float] | None = None
                     ) -> tuple[Ratings, Ratings]:
    """The Netflix Prize's own split: (training ratings without the probe, the probe ratings).

    ``probe.txt`` lists (movie, customer) pairs whose ratings are part of the training files;
    both parts share the id maps of the whole set.

    Raises
    ------
    DataError
        No ``probe.txt``, a malformed line in it, or a probe pair that has no rating in the
        training files.
    """
    files = find_netflix_files(path)
    if files is None:
        raise DataError(f"{path}: not a Netflix Prize folder; {WHERE_TO_GET}")
    if files.probe is None:
        raise DataError(f"{files.root}: no probe.txt beside the ratings; the probe split "
                        "needs it (it ships with the Netflix Prize data)")
    full = read_netflix(path, rating_scale=rating_scale, files=files)
    probe_users, probe_items, _, _ = _parse_files((files.probe,), (0, 0), pairs_only=True)
    users = full.encode_users(probe_users)
    items = full.encode_items(probe_items)
    missing = (users < 0) | (items < 0)
    pairs = pd.DataFrame({"item": items, "user": users})[~missing].drop_duplicates()
    pairs = pairs.sort_values(["item", "user"])
    starts = np.searchsorted(pairs["item"].to_numpy(), np.arange(full.n_items + 1))
    found = np.zeros(len(pairs), dtype=np.int64)
    hit = kernels.in_pairs(full.users, full.items, starts.astype(np.int64),
                           pairs["user"].to_numpy(np.int32), found)
    if missing.any() or (found == 0).any():
        k = int(np.flatnonzero(missing)[0]) if missing.any() else None
        movie, customer = ((probe_items[k], probe_users[k]) if k is not None else
                           (full.item_ids[pairs["item"].to_numpy()[found == 0][0]],
                            full.user_ids[pairs["user"].to_numpy()[found == 0][0]]))
        raise DataError(f"{files.probe}: customer {customer}'s rating of movie {movie} (and "
                        f"{int(missing.sum() + (found == 0).sum()) - 1} more) is not in the "
                        "training files; use the probe.txt of the same download")
    return (full.subset(~hit, name="netflix training (without probe)"),
            full.subset(hit, name="netflix probe"))
