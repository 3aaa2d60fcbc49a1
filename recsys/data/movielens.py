"""Read a MovieLens release (its zip, or a folder laid out like it) into one :class:`Ratings`.

:func:`read_release` reads the ratings, the movies (title, genres as ``"A|B"``, year parsed from
the title's ``"(1995)"``) and, for ML-100K and ML-1M, the users (age, gender, occupation, zip)
of any release in :data:`~recsys.data.releases.REGISTRY` (the layouts are described there).
Ratings that name a movie or a user the side files do not know are kept, with a
:class:`DanglingIdsWarning`.

Large files are read by pandas' C parser with explicit ``int32``/``float32`` dtypes
(:func:`recsys.data.delimited.read_delimited`); ``::`` is parsed as ``:`` keeping every other
field, so there is no Python loop per row.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.delimited import read_delimited
from recsys.data.messages import os_error
from recsys.data.ratings import Ratings
from recsys.data.release_files import ReleaseFiles
from recsys.data.releases import REGISTRY, release_from_folder
from recsys.errors import DataError

__all__ = [
    "DanglingIdsWarning",
    "GENRES_100K",
    "OCCUPATIONS_1M",
    "parse_year",
    "read_movies",
    "read_ratings_frame",
    "read_release",
    "read_users",
]

#: ML-100K genre flags, in the column order of ``u.item`` (as listed in ``u.genre``).
GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)

#: ML-1M occupation codes (``users.dat``), as documented in its README.
OCCUPATIONS_1M = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)

_RATING_TYPES = {"user": np.int32, "item": np.int32, "rating": np.float32, "timestamp": np.int64}
_YEAR = re.compile(r"\((\d{4})(?:\s*[-\u2013]\s*(?:\d{4})?)?\)\s*$")


def parse_year(titles: pd.Series) -> pd.Series:
    """Year of release from titles ending in ``"(1995)"`` (or ``"(2006-2007)"``).

    Returns
    -------
    Series of float64
        The (first) year, NaN where the title has none.
    """
    text = titles.astype("string").str.strip()
    return pd.to_numeric(text.str.extract(_YEAR, expand=False), errors="coerce").astype(
        np.float64
    )


def _item_frame(ids: np.ndarray, titles: pd.Series, genres: pd.Series) -> pd.DataFrame:
    titles = titles.astype(str).str.strip()
    genres = genres.fillna("").astype(str).replace("(no genres listed)", "")
    frame = pd.DataFrame(
        {"title": titles.to_numpy(), "genres": genres.to_numpy(),
         "year": parse_year(titles).to_numpy()},
        index=pd.Index(ids, name="item"),
    )
    return frame[~frame.index.duplicated(keep="last")]


def read_movies(files: ReleaseFiles) -> pd.DataFrame | None:
    """Movies of a release: DataFrame indexed by raw item id with title, genres, year.

    ``genres`` is ``"A|B"`` (empty when none is listed); ``year`` is parsed from the title and,
    for ML-100K, taken from the release date when the title has none.
    """
    layout = files.layout
    member = files.find(layout.movies)
    if member is None:
        return None
    text = files.read_text(member, layout.encoding)
    source = files.label(member)
    try:
        if layout.kind == "ml-100k":
            raw = pd.read_csv(io.StringIO(text), sep="|", header=None, quoting=csv.QUOTE_NONE,
                              dtype=str, keep_default_na=False)
            if raw.shape[1] < 5 + len(GENRES_100K):
                raise DataError(f"{source}: expected {5 + len(GENRES_100K)} fields per line, "
                                f"found {raw.shape[1]}")
            flags = raw.iloc[:, 5:5 + len(GENRES_100K)].to_numpy() == "1"
            labels = np.array([g + "|" for g in GENRES_100K], dtype=object)
            genres = pd.Series(np.where(flags, labels, "").astype(object).sum(axis=1),
                               dtype=object).str.rstrip("|")
            ids = pd.to_numeric(raw[0]).to_numpy(np.int32)
            items = _item_frame(ids, raw[1], genres)
            release_year = pd.to_numeric(raw[2].str[-4:], errors="coerce").to_numpy()
            year = items["year"].to_numpy(copy=True)
            fill = np.isnan(year) & ~np.isnan(release_year[: len(year)])
            year[fill] = release_year[: len(year)][fill]
            items["year"] = year
            return items
        if layout.sep == "::":
            text = text.replace("::", "\t")
            raw = pd.read_csv(io.StringIO(text), sep="\t", header=None, quoting=csv.QUOTE_NONE,
                              dtype={0: np.int32, 1: str, 2: str}, keep_default_na=False)
        else:
            raw = pd.read_csv(io.StringIO(text), dtype={"movieId": np.int32, "title": str,
                                                        "genres": str}, keep_default_na=False)
            raw.columns = range(raw.shape[1])
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{source}: cannot read the movies ({str(exc).strip()[:120]})") from None
    return _item_frame(raw[0].to_numpy(), raw[1], raw[2])


def read_users(files: ReleaseFiles) -> pd.DataFrame | None:
    """Users of ML-100K / ML-1M: age, gender, occupation, zip, indexed by raw user id.

    ML-1M codes age as the lower bound of a bracket (1 = under 18, 18, 25, 35, 45, 50, 56)
    and occupation as a number, translated here to its name.
    """
    layout = files.layout
    member = files.find(layout.users) if layout.users else None
    if member is None:
        return None
    text = files.read_text(member, layout.encoding)
    try:
        if layout.kind == "ml-100k":
            raw = pd.read_csv(io.StringIO(text), sep="|", header=None, quoting=csv.QUOTE_NONE,
                              names=["user", "age", "gender", "occupation", "zip"],
                              dtype={"user": np.int32, "age": np.int32, "gender": str,
                                     "occupation": str, "zip": str})
        else:
            raw = pd.read_csv(io.StringIO(text.replace("::", "\t")), sep="\t", header=None,
                              quoting=csv.QUOTE_NONE,
                              names=["user", "gender", "age", "occupation", "zip"],
                              dtype={"user": np.int32, "age": np.int32, "gender": str,
                                     "occupation": np.int32, "zip": str})
            codes = raw["occupation"].to_numpy()
            names = np.array(OCCUPATIONS_1M, dtype=object)
            known = (codes >= 0) & (codes < len(names))
            raw["occupation"] = np.where(known, names[np.clip(codes, 0, len(names) - 1)], "other")
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(
            f"{files.label(member)}: cannot read the users ({str(exc).strip()[:120]})"
        ) from None
    users = raw.set_index("user")[["age", "gender", "occupation", "zip"]]
    return users[~users.index.duplicated(keep="last")]


def read_ratings_frame(files: ReleaseFiles, member: str | None = None
                       ) -> tuple[pd.DataFrame, int, str]:
    """The ratings of a release (or its ``member``, e.g. ``u1.base``) as read, before
    validation: the frame, the line number of its first row, and its name for messages."""
    layout = files.layout
    member = member or files.ratings_member
    source = files.label(member)
    columns = layout.columns
    frame, first_line = read_delimited(
        lambda: files.open(member),
        sep=layout.sep,
        names=columns,
        header=layout.header,
        dtypes=dict(zip(columns, _RATING_TYPES.values())),
        source=source,
        required=columns[:3],
    )
    return frame, first_line, source


def read_release(
    path: str | Path,
    name: str | None = None,
    *,
    rating_scale: tuple[float, float] | None = None,
    side_info: bool = True,
) -> Ratings:
    """Read a MovieLens release from its zip or folder.

    Parameters
    ----------
    path : str or Path
        ``NAME.zip`` as published, or a folder with the release's files (directly or in one
        sub-folder, as unpacked).
    name : str, optional
        Registry name; guessed from the folder inside the zip (or the folder's name).
    rating_scale : (low, high), optional
        Overrides the release's scale.
    side_info : bool
        Attach ``item_info`` (movies) and ``user_info`` (users, 100K / 1M).

    Returns
    -------
    Ratings
        Named after the release, with ``item_info`` indexed by movie id (title, genres,
        year) and ``user_info`` indexed by user id.
    """
    try:
        return _read_release(path, name, rating_scale, side_info)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise DataError(f"{path}: the zip file is damaged ({exc}); download it again") from None
    except OSError as exc:  # a member that cannot be opened (permissions, I/O)
        raise os_error(exc, str(getattr(exc, "filename", None) or path)) from None


def _read_release(
    path: str | Path, name: str | None, rating_scale: tuple[float, float] | None,
    side_info: bool,
) -> Ratings:
    with ReleaseFiles(path) as files:
        release = REGISTRY.get(name or "") or release_from_folder(files.folder)
        scale = rating_scale or files.layout.rating_scale
        label = release.name if release is not None else (name or files.folder)
        frame, first_line, source = read_ratings_frame(files)
        items = read_movies(files) if side_info else None
        users = read_users(files) if side_info else None
        columns = files.layout.columns
        _warn_dangling(frame[columns[0]], items, users, frame[columns[1]], source)
        return Ratings.from_dataframe(
            frame,
            user=columns[0],
            item=columns[1],
            rating=columns[2],
            timestamp=columns[3],
            rating_scale=scale,
            item_info=items,
            user_info=users,
            name=label,
            source=source,
            first_line=first_line,
        )


class DanglingIdsWarning(UserWarning):
    """Ratings that name a movie (or user) missing from the release's movies (users) file."""


def _warn_dangling(
    users: pd.Series, items: pd.DataFrame | None, user_info: pd.DataFrame | None,
    movie_ids: pd.Series, source: str,
) -> None:
    """Warn, with a count and an example, about ratings whose movie or user the release's
    side files do not know (a sign of a damaged or altered release). They are kept."""
    for ids, info, what, file in ((movie_ids, items, "movie", "movies"),
                                  (users, user_info, "user", "users")):
        if info is None or not len(info):
            continue
        unknown = ~ids.isin(info.index)
        if unknown.any():
            example = ids[unknown].iloc[0]
            warnings.warn(
                f"{source}: {int(unknown.sum())} rating(s) name a {what} missing from the "
                f"{file} file (e.g. {what} {example}); kept, but check the release",
                DanglingIdsWarning,
                stacklevel=4,
            )
