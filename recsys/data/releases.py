"""The registry of MovieLens releases: what each one is, where it lives, how it is written.

Every release published by GroupLens at ``https://files.grouplens.org/datasets/movielens/``
is described by a :class:`Release` (URL, approximate size, licence, file layout, rating scale
and the counts its README documents) in :data:`REGISTRY`. A release's :class:`Layout` (one of
:data:`LAYOUTS`) says where its files are and how they are written:

==========  =================  ======  ===================================================
layout      ratings file       sep     side information
==========  =================  ======  ===================================================
ml-100k     ``u.data``         tab     ``u.item`` (Latin-1, ``|``, 19 genre flags), ``u.user``
ml-1m       ``ratings.dat``    ``::``  ``movies.dat`` (Latin-1), ``users.dat`` (coded)
ml-10m      ``ratings.dat``    ``::``  ``movies.dat`` (folder ``ml-10M100K`` in the zip)
csv         ``ratings.csv``    ``,``   ``movies.csv`` (UTF-8, quoted titles); header line
==========  =================  ======  ===================================================

Reading the files is :mod:`recsys.data.movielens`; fetching them, :mod:`recsys.data.download`.
"""

from __future__ import annotations

from dataclasses import dataclass

from recsys.errors import DataError

__all__ = [
    "BASE_URL",
    "LAYOUTS",
    "REGISTRY",
    "Layout",
    "Release",
    "get_release",
    "release_from_folder",
]

BASE_URL = "https://files.grouplens.org/datasets/movielens"

NO_REDISTRIBUTION = (
    "research use only; no redistribution without permission; no commercial use; "
    "cite Harper & Konstan (2015)"
)
REDISTRIBUTION = (
    "research use; may be redistributed under the same licence terms; no commercial use; "
    "cite Harper & Konstan (2015)"
)


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


def release_from_folder(folder: str) -> Release | None:
    """The release whose zip folder (or registry name) is ``folder``, or None."""
    for release in REGISTRY.values():
        if folder.lower() in (release.folder.lower(), release.name):
            return release
    return None
