"""The MovieLens releases: a registry of what each one is, and readers for each layout.

Every release published by GroupLens at ``https://files.grouplens.org/datasets/movielens/``
is described by a :class:`Release` (URL, approximate size, licence, file layout, separator,
encoding, rating scale and the counts its README documents). :func:`read_release` reads the
ratings, the movies (title, genres as ``"A|B"``, year parsed from the title's ``"(1995)"``) and,
for ML-100K and ML-1M, the users (age, gender, occupation, zip) straight from the release's
zip file or from a folder laid out like it, into one :class:`~recsys.data.ratings.Ratings`.
:func:`load_predefined_split` returns the official ML-100K folds ``u1..u5``, ``ua`` and ``ub``.

The four layouts:

==========  =================  ======  ===================================================
layout      ratings file       sep     side information
==========  =================  ======  ===================================================
ml-100k     ``u.data``         tab     ``u.item`` (Latin-1, ``|``, 19 genre flags), ``u.user``
ml-1m       ``ratings.dat``    ``::``  ``movies.dat`` (Latin-1), ``users.dat`` (coded)
ml-10m      ``ratings.dat``    ``::``  ``movies.dat`` (folder ``ml-10M100K`` in the zip)
csv         ``ratings.csv``    ``,``   ``movies.csv`` (UTF-8, quoted titles); header line
==========  =================  ======  ===================================================

Large files are read by pandas' C parser with explicit ``int32``/``float32`` dtypes; ``::`` is
parsed as ``:`` keeping every other field, so there is no Python loop per row.
"""

from __future__ import annotations

import warnings

import csv
import io
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

import numpy as np
import pandas as pd

from recsys.data.delimited import read_delimited
from recsys.data.messages import os_error
from recsys.data.ratings import Ratings
from recsys.errors import DataError

__all__ = [
    "Layout",
    "Release",
    "REGISTRY",
    "LAYOUTS",
    "FOLDS",
    "BASE_URL",
    "ReleaseFiles",
    "check_member_names",
    "get_release",
    "read_release",
    "read_movies",
    "read_users",
    "parse_year",
    "load_predefined_split",
]

BASE_URL = "https://files.grouplens.org/datasets/movielens"
FOLDS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")

NO_REDISTRIBUTION = (
    "research use only; no redistribution without permission; no commercial use; "
    "cite Harper & Konstan (2015)"
)
REDISTRIBUTION = (
    "research use; may be redistributed under the same licence terms; no commercial use; "
    "cite Harper & Konstan (2015)"
)

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


@dataclass(frozen=True)
class Layout:
    """Where a release keeps its files and how they are written.

    Attributes
    ----------
    kind : str
        ``"ml-100k"``, ``"ml-1m"``, ``"ml-10m"`` or ``"csv"``.
    ratings, movies, users : str
        File names of the ratings, the movies and (100K, 1M) the users.
    sep : str
        Separator of the ratings file.
    header : bool
        Whether the ratings file starts with a header line.
    columns : tuple of str
        Names of user, item, rating, timestamp in the ratings file.
    encoding : str
        Encoding of the movies and users files (UTF-8 falls back to Latin-1).
    rating_scale : (float, float)
        Scale of every release with this layout.
    """

    kind: str
    ratings: str
    movies: str
    users: str | None
    sep: str
    header: bool
    columns: tuple[str, str, str, str]
    encoding: str
    rating_scale: tuple[float, float]


_ROLES = ("user", "item", "rating", "timestamp")
LAYOUTS: dict[str, Layout] = {
    "ml-100k": Layout("ml-100k", "u.data", "u.item", "u.user", "\t", False, _ROLES, "latin-1",
                      (1.0, 5.0)),
    "ml-1m": Layout("ml-1m", "ratings.dat", "movies.dat", "users.dat", "::", False, _ROLES,
                    "latin-1", (1.0, 5.0)),
    "ml-10m": Layout("ml-10m", "ratings.dat", "movies.dat", None, "::", False, _ROLES, "utf-8",
                     (0.5, 5.0)),
    "csv": Layout("csv", "ratings.csv", "movies.csv", None, ",", True,
                  ("userId", "movieId", "rating", "timestamp"), "utf-8", (0.5, 5.0)),
}


@dataclass(frozen=True)
class Release:
    """One MovieLens release.

    Attributes
    ----------
    name : str
        Registry name, also the zip's file name (``NAME.zip``).
    title : str
        Human-readable title.
    folder : str
        Top folder inside the zip (``ml-10M100K`` for ML-10M).
    layout : Layout
    rating_scale : (float, float)
    size_mb : float
        Approximate size of the zip in megabytes.
    licence : str
        One-line summary of the GroupLens usage licence.
    redistributable : bool
        Whether the licence allows passing the data on (under the same terms).
    n_ratings, n_users, n_movies, n_rated_items : int or None
        Counts documented by the README: ratings, users with ratings, rows of the movies file,
        movies with at least one rating; None where not documented or not stable.
    stable : bool
        False for ``ml-latest``, which GroupLens regenerates from time to time.
    """

    name: str
    title: str
    folder: str
    layout: Layout
    size_mb: float
    licence: str
    redistributable: bool
    n_ratings: int | None
    n_users: int | None
    n_movies: int | None
    n_rated_items: int | None = None
    stable: bool = True

    @property
    def rating_scale(self) -> tuple[float, float]:
        return self.layout.rating_scale

    @property
    def filename(self) -> str:
        return f"{self.name}.zip"

    def url(self, base_url: str | None = None) -> str:
        """Download address: ``base_url`` (or :data:`BASE_URL`) + ``/NAME.zip``."""
        return f"{(base_url or BASE_URL).rstrip('/')}/{self.filename}"


REGISTRY: dict[str, Release] = {
    r.name: r
    for r in (
        Release("ml-100k", "MovieLens 100K (1998)", "ml-100k", LAYOUTS["ml-100k"], 4.9,
                NO_REDISTRIBUTION, False, 100_000, 943, 1_682, 1_682),
        Release("ml-1m", "MovieLens 1M (2003)", "ml-1m", LAYOUTS["ml-1m"], 5.9,
                NO_REDISTRIBUTION, False, 1_000_209, 6_040, 3_883, 3_706),
        Release("ml-10m", "MovieLens 10M (2009)", "ml-10M100K", LAYOUTS["ml-10m"], 63.0,
                NO_REDISTRIBUTION, False, 10_000_054, None, 10_681),
        Release("ml-20m", "MovieLens 20M (2015)", "ml-20m", LAYOUTS["csv"], 190.0,
                NO_REDISTRIBUTION, False, 20_000_263, 138_493, 27_278),
        Release("ml-25m", "MovieLens 25M (2019)", "ml-25m", LAYOUTS["csv"], 250.0,
                NO_REDISTRIBUTION, False, 25_000_095, 162_541, 62_423),
        Release("ml-32m", "MovieLens 32M (2023)", "ml-32m", LAYOUTS["csv"], 239.0,
                NO_REDISTRIBUTION, False, 32_000_204, 200_948, 87_585),
        Release("ml-latest-small", "MovieLens latest small (2018)", "ml-latest-small",
                LAYOUTS["csv"], 1.0, REDISTRIBUTION, True, 100_836, 610, 9_742, 9_724),
        Release("ml-latest", "MovieLens latest full (changes over time)", "ml-latest",
                LAYOUTS["csv"], 335.0, REDISTRIBUTION, True, None, None, None, stable=False),
    )
}


def get_release(name: str) -> Release:
    """The registry entry of ``name``; :class:`DataError` naming the known ones otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise DataError(
            f"unknown data set {name!r}; known: {', '.join(REGISTRY)}"
        ) from None


# ---------------------------------------------------------------------- files of a release
def check_member_names(names: list[str], archive: str) -> None:
    """Reject an archive whose member paths could escape a folder they are extracted to.

    Raises
    ------
    DataError
        For an absolute path, a drive letter, a backslash path or any ``..`` component.
    """
    for name in names:
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if (
            name.startswith(("/", "\\"))
            or re.match(r"^[A-Za-z]:", name)
            or ".." in parts
            or "\x00" in name
        ):
            raise DataError(
                f"{archive}: unsafe member path {name!r} (it points outside the archive's "
                "folder); the file is not a genuine MovieLens release"
            )


class ReleaseFiles:
    """The files of a release, in its zip or in a folder laid out like it.

    Parameters
    ----------
    path : str or Path
        A ``.zip`` file or a folder holding the release's files directly or in one sub-folder.

    Attributes
    ----------
    layout : Layout
        Recognised from the file names (``u.data``, ``ratings.dat`` with or without
        ``users.dat``, ``ratings.csv``).
    folder : str
        Name of the folder the ratings sit in (a hint to the release's name).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._zip: zipfile.ZipFile | None = None
        if self.path.is_dir():
            members = []
            try:
                for entry in sorted(self.path.iterdir()):
                    if entry.is_file():
                        members.append(entry.name)
                    elif entry.is_dir():
                        members.extend(f"{entry.name}/{f.name}" for f in sorted(entry.iterdir())
                                       if f.is_file())
            except OSError as exc:
                raise os_error(exc, str(self.path)) from None
            self.members = members
        elif self.path.is_file():
            try:
                self._zip = zipfile.ZipFile(self.path)
            except PermissionError as exc:
                raise os_error(exc, str(self.path)) from None
            except (zipfile.BadZipFile, OSError) as exc:
                raise DataError(
                    f"{self.path}: not a readable zip file ({exc}); download the release again "
                    "or pass a ratings file"
                ) from None
            self.members = [n for n in self._zip.namelist() if not n.endswith("/")]
            check_member_names(self._zip.namelist(), str(self.path))
        else:
            raise DataError(f"{self.path}: no such file or folder; check the path")
        self.layout, self._ratings = self._detect()
        self.prefix = self._ratings.rpartition("/")[0]
        self.folder = self.prefix.rpartition("/")[2] or (
            self.path.stem if self._zip is not None else self.path.name
        )

    def _detect(self) -> tuple[Layout, str]:
        for kind in ("ml-100k", "ml-1m", "ml-10m", "csv"):
            layout = LAYOUTS[kind]
            found = self._find(layout.ratings)
            if found is None:
                continue
            if kind == "ml-1m" and self._find(layout.users or "", near=found) is None:
                continue
            return layout, found
        raise DataError(
            f"{self.path}: not a MovieLens release (no u.data, ratings.dat or ratings.csv "
            "found); pass a ratings file instead"
        )

    def _find(self, filename: str, near: str | None = None) -> str | None:
        if near is not None:
            folder = near.rpartition("/")[0]
            candidate = f"{folder}/{filename}" if folder else filename
            return candidate if candidate in self.members else None
        hits = [m for m in self.members if m.rpartition("/")[2] == filename]
        return min(hits, key=lambda m: (m.count("/"), m)) if hits else None

    def find(self, filename: str) -> str | None:
        """Member path of ``filename`` in the ratings' folder, or None."""
        return self._find(filename, near=self._ratings)

    @property
    def ratings_member(self) -> str:
        return self._ratings

    def open(self, member: str) -> IO[bytes]:
        """A fresh binary stream of one member."""
        if self._zip is not None:
            return self._zip.open(member)
        return open(self.path / member, "rb")

    def read_text(self, member: str, encoding: str) -> str:
        """The whole member as text (``encoding``, falling back to Latin-1)."""
        with self.open(member) as stream:
            raw = stream.read()
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            return raw.decode("latin-1")

    def label(self, member: str) -> str:
        """``archive.zip:member`` or the file's path, for messages."""
        if self._zip is not None:
            return f"{self.path}:{member}"
        return str(self.path / member)

    def testzip(self) -> str | None:
        """First member whose CRC does not match, or None (folders: always None)."""
        return self._zip.testzip() if self._zip is not None else None

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> "ReleaseFiles":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ---------------------------------------------------------------------- readers
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


def _read_ratings_frame(files: ReleaseFiles, member: str | None = None
                        ) -> tuple[pd.DataFrame, int, str]:
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
        release = REGISTRY.get(name or "") or _release_from_folder(files.folder)
        scale = rating_scale or files.layout.rating_scale
        label = release.name if release is not None else (name or files.folder)
        frame, first_line, source = _read_ratings_frame(files)
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


def _release_from_folder(folder: str) -> Release | None:
    for release in REGISTRY.values():
        if folder.lower() in (release.folder.lower(), release.name):
            return release
    return None


# ---------------------------------------------------------------------- ML-100K folds
def load_predefined_split(
    source: str | Path = "ml-100k",
    fold: str = "u1",
    *,
    cache_dir: str | Path | None = None,
    download: bool = True,
    base_url: str | None = None,
) -> tuple[Ratings, Ratings]:
    """One of the official ML-100K train/test splits.

    Parameters
    ----------
    source : str or Path
        ``"ml-100k"`` (the cached download, fetched if missing and ``download``), or the
        release's zip or folder.
    fold : {"u1", "u2", "u3", "u4", "u5", "ua", "ub"}
        ``uN`` are the five disjoint 80/20 folds; ``ua``/``ub`` hold out exactly 10 ratings
        per user.

    Returns
    -------
    train, test : Ratings
        ``FOLD.base`` and ``FOLD.test``, sharing one id encoding (over ``u.data`` and both
        files), with the movies and users attached.
    """
    if fold not in FOLDS:
        raise DataError(f"unknown ML-100K fold {fold!r}; choose one of {', '.join(FOLDS)}")
    path = Path(source)
    if str(source) in REGISTRY and not path.exists():
        if str(source) != "ml-100k":
            raise DataError(f"{source} has no predefined splits; only ml-100k has u1..u5, ua, ub")
        from recsys.data.download import ensure_archive

        path = ensure_archive("ml-100k", cache_dir=cache_dir, download=download,
                              base_url=base_url)
    with ReleaseFiles(path) as files:
        if files.layout.kind != "ml-100k":
            raise DataError(f"{path}: not an ML-100K release (no u.data); folds need ML-100K")
        parts = []
        for suffix in ("base", "test"):
            member = files.find(f"{fold}.{suffix}")
            if member is None:
                raise DataError(f"{path}: {fold}.{suffix} is missing from the release")
            frame, first_line, src = _read_ratings_frame(files, member)
            parts.append(Ratings.from_dataframe(
                frame, rating_scale=files.layout.rating_scale, source=src,
                first_line=first_line, name=f"ml-100k {fold}.{suffix}",
            ))
        full, _, _ = _read_ratings_frame(files)
        user_ids = np.union1d(full["user"].to_numpy(),
                              np.concatenate([p.user_ids for p in parts]))
        item_ids = np.union1d(full["item"].to_numpy(),
                              np.concatenate([p.item_ids for p in parts]))
        items, users = read_movies(files), read_users(files)
    out = []
    for part in parts:
        out.append(Ratings(
            users=np.searchsorted(user_ids, part.user_ids)[part.users],
            items=np.searchsorted(item_ids, part.item_ids)[part.items],
            ratings=part.ratings,
            user_ids=user_ids,
            item_ids=item_ids,
            timestamps=part.timestamps,
            rating_scale=part.rating_scale,
            item_info=items,
            user_info=users,
            name=part.name,
        ))
    return out[0], out[1]

