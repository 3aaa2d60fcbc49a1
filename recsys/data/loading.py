"""One entry point for ratings: :func:`load`, plus :func:`describe` and :func:`list_datasets`.

``load()`` with no argument returns the bundled MovieLens "latest small" set, so everything
works on a fresh machine without the network. A registry name (``"ml-1m"``) is read from the
cache, downloaded and verified first if needed; a path may be a release's folder, a release's
zip, or any ratings file (see :mod:`recsys.data.files`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.cache import resolve_cache_dir
from recsys.data.download import ensure_archive
from recsys.data.files import read_ratings_file
from recsys.data.movielens import read_release
from recsys.data.netflix import WHERE_TO_GET, find_netflix_files, is_netflix_name, read_netflix
from recsys.data.parquet import is_parquet, read_parquet_file
from recsys.data.ratings import Ratings
from recsys.data.releases import REGISTRY
from recsys.errors import DataError

__all__ = ["load", "describe", "list_datasets", "bundled_path", "DEFAULT_DATASET"]

DEFAULT_DATASET = "ml-latest-small"


def bundled_path() -> Path:
    """Folder of the bundled ml-latest-small (wheel: ``recsys/_bundled``; else ``data/``)."""
    package = Path(__file__).resolve().parents[1]  # recsys/ (not ``import recsys``: a cycle)
    for candidate in (
        package / "_bundled" / DEFAULT_DATASET,
        package.parent / "data" / DEFAULT_DATASET,
    ):
        if (candidate / "ratings.csv").is_file():
            return candidate
    raise DataError(
        f"the bundled {DEFAULT_DATASET} data is missing from this installation "
        f"(looked in {package / '_bundled'} and {package.parent / 'data'}); "
        f"reinstall recsys or run `recsys data download {DEFAULT_DATASET}`"
    )


def load(
    source: str | Path | None = None,
    *,
    cache_dir: str | Path | None = None,
    rating_scale: tuple[float, float] | None = None,
    download: bool = True,
    base_url: str | None = None,
    sep: str | None = None,
    header: bool | None = None,
) -> Ratings:
    """Load ratings from the bundled set, a MovieLens release, or a file.

    Parameters
    ----------
    source : str or Path, optional
        None: the bundled ``ml-latest-small``. A registry name (``"ml-100k"`` ...
        ``"ml-latest"``): the verified zip in the cache, downloaded first if missing and
        ``download`` is True (``ml-latest-small`` comes from the bundle when not cached).
        A path: a release folder, a release zip, a ratings file (CSV, TSV, ``::``, pipe),
        a Parquet file (or folder of parts, :mod:`recsys.data.parquet`), or a Netflix Prize
        folder (:mod:`recsys.data.netflix`; the name ``"netflix"`` says where to get it).
    cache_dir : str or Path, optional
        Cache folder (else ``$RECSYS_DATA``, else the user cache folder).
    rating_scale : (low, high), optional
        Allowed rating range; default: the release's scale, or the file's (min, max).
    download : bool
        Allow a download when a named release is not cached.
    base_url : str, optional
        Download address (else ``$RECSYS_DOWNLOAD_URL``, else GroupLens).
    sep, header : optional
        For a ratings file: its separator and whether it has a header line, when the guess
        from the first line is wrong (see :func:`recsys.data.files.read_ratings_file`).

    Raises
    ------
    DataError
        Unknown name, missing file, or a file that fails validation (with its line number).
    DownloadError
        A named release that is neither cached nor downloadable, or fails verification.
    """
    if source is None:
        return read_release(bundled_path(), DEFAULT_DATASET, rating_scale=rating_scale)
    text = str(source)
    path = Path(text).expanduser()
    if is_netflix_name(text) and not path.exists():
        raise DataError(f"{text}: {WHERE_TO_GET}")
    if text in REGISTRY and not path.exists():
        folder = resolve_cache_dir(cache_dir)
        if text == DEFAULT_DATASET and not (folder / REGISTRY[text].filename).is_file():
            return read_release(bundled_path(), DEFAULT_DATASET, rating_scale=rating_scale)
        archive = ensure_archive(text, cache_dir=folder, download=download, base_url=base_url)
        return read_release(archive, text, rating_scale=rating_scale)
    if path.is_dir():
        netflix = find_netflix_files(path)
        if netflix is not None:
            return read_netflix(path, rating_scale=rating_scale, files=netflix)
        if is_parquet(path):
            return read_parquet_file(path, rating_scale=rating_scale)
        return read_release(path, rating_scale=rating_scale)
    if path.is_file():
        if path.suffix.lower() == ".zip":
            return read_release(path, rating_scale=rating_scale)
        if is_parquet(path):
            return read_parquet_file(path, rating_scale=rating_scale)
        return read_ratings_file(path, rating_scale=rating_scale, sep=sep, header=header)
    if path.exists():
        raise DataError(f"{text}: not a regular file or folder; pass a ratings file")
    raise DataError(
        f"{text}: no such file or folder, and not a known data set "
        f"({', '.join(REGISTRY)}); check the path or use one of those names"
    )


def _date(seconds: int) -> str:
    return pd.Timestamp(int(seconds), unit="s", tz="UTC").strftime("%Y-%m-%d")


def describe(ratings: Ratings, top: int = 10) -> dict[str, Any]:
    """Summary of a data set for ``recsys data info``.

    Returns
    -------
    dict
        ``name``, ``n_ratings``, ``n_users``, ``n_items`` (with at least one rating),
        ``rating_scale``, ``mean_rating``, ``histogram`` (rating value -> count, or bin label
        -> count for continuous ratings), ``sparsity`` (1 - ratings / (users x items)),
        ``ratings_per_user`` and ``ratings_per_item`` (min, median, max), ``top_items``
        (``top`` most rated: id, title, count, mean) and ``date_range`` (first, last as
        ``YYYY-MM-DD``, or None without timestamps).
    """
    n = len(ratings)
    user_counts = ratings.user_counts()
    item_counts = ratings.item_counts()
    n_users = int((user_counts > 0).sum())
    n_items = int((item_counts > 0).sum())
    values, counts = np.unique(ratings.ratings, return_counts=True)
    if len(values) <= 20:
        histogram = {float(v): int(c) for v, c in zip(values, counts)}
    else:
        low, high = ratings.rating_scale
        edges = np.linspace(low, high, 11)
        binned, _ = np.histogram(ratings.ratings, bins=edges)
        histogram = {f"{a:g}-{b:g}": int(c) for a, b, c in zip(edges[:-1], edges[1:], binned)}
    sums = np.bincount(ratings.items, weights=ratings.ratings, minlength=ratings.n_items)
    order = np.lexsort((np.arange(ratings.n_items), -item_counts))[:top]
    titles = ratings.item_titles()
    top_items = [
        {
            "item": getattr(ratings.item_ids[k], "item", lambda: ratings.item_ids[k])(),
            "title": str(titles[k]),
            "count": int(item_counts[k]),
            "mean": float(sums[k] / item_counts[k]),
        }
        for k in order
        if item_counts[k] > 0
    ]
    cells = n_users * n_items

    def spread(c: np.ndarray) -> dict[str, float]:
        c = c[c > 0]
        if not c.size:
            return {"min": 0, "median": 0.0, "max": 0}
        return {"min": int(c.min()), "median": float(np.median(c)), "max": int(c.max())}

    date_range = None
    if ratings.timestamps is not None and n:
        date_range = (_date(ratings.timestamps.min()), _date(ratings.timestamps.max()))
    return {
        "name": ratings.name,
        "n_ratings": n,
        "n_users": n_users,
        "n_items": n_items,
        "rating_scale": tuple(ratings.rating_scale),
        "mean_rating": ratings.global_mean,
        "histogram": histogram,
        "sparsity": 1.0 - n / cells if cells else 1.0,
        "ratings_per_user": spread(user_counts),
        "ratings_per_item": spread(item_counts),
        "top_items": top_items,
        "date_range": date_range,
    }


def list_datasets(cache_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """One row per MovieLens release: name, title, size, licence, where it is.

    Returns
    -------
    list of dict
        ``name``, ``title``, ``size_mb``, ``licence``, ``redistributable``, ``cached``
        (its zip is in the cache), ``bundled`` (ships with recsys), ``path`` (cached zip or
        bundled folder, else None), ``ratings`` (documented count or None).
    """
    folder = resolve_cache_dir(cache_dir)
    try:
        bundle: Path | None = bundled_path()
    except DataError:
        bundle = None
    rows = []
    for name, release in REGISTRY.items():
        zip_path = folder / release.filename
        cached = zip_path.is_file()
        bundled = name == DEFAULT_DATASET and bundle is not None
        rows.append({
            "name": name,
            "title": release.title,
            "size_mb": release.size_mb,
            "licence": release.licence,
            "redistributable": release.redistributable,
            "cached": cached,
            "bundled": bundled,
            "path": str(zip_path) if cached else (str(bundle) if bundled else None),
            "ratings": release.n_ratings,
        })
    return rows
