"""A loaded model with what answering needs precomputed, and the answers as plain dicts.

A :class:`Snapshot` never changes once built: the server swaps whole snapshots when the model
file changes (:mod:`recsys.serve.holder`), so a request that took one answers from it to the
end. Building one precomputes the item lists as Python values (ids, titles, years, genres,
rating counts), the lower-case search keys of the titles and an id -> index map; answering
then costs the model's scoring plus a few list look-ups.

Lists for known users come from a :class:`~recsys.serve.ranking.RankTable` built once per
snapshot (:meth:`Snapshot.precompute`), or from the model until it is ready.

Every refusal is a :class:`~recsys.serve.errors.RequestError` naming the field at fault.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from recsys.errors import RecsysError, UnknownIdError
from recsys.models.foldin import FOLD_IN_MODELS, match_item
from recsys.models.topn import default_rank_by
from recsys.serve.errors import NOT_FOUND, UNPROCESSABLE, RequestError
from recsys.serve.ranking import RankTable, Stopped

__all__ = ["FileSignature", "Snapshot", "iso_time"]

_YEAR = re.compile(r"\s*\(\d{4}\)\s*$")
_ARTICLE = re.compile(r"^(.*), (the|a|an|les|la|le|l'|il|el|die|der|das)$")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class FileSignature:
    """What identifies one version of a file: device, inode, size and modification time
    (nanoseconds). An atomic replacement changes the inode; an in-place rewrite changes the
    size or the time."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str | os.PathLike) -> "FileSignature":
        """The signature of ``path`` now (raises ``OSError`` if it cannot be read)."""
        st = os.stat(path)
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    @property
    def modified(self) -> str:
        """The modification time, ISO 8601 in UTC."""
        return iso_time(self.mtime_ns / 1e9)


def iso_time(seconds: float) -> str:
    """Unix time as ISO 8601 in UTC, to the second."""
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


def _search_key(title: str) -> str:
    """Lower-case title and its article-fronted form: "matrix, the (1999)" also reads as
    "the matrix (1999)", so that "the matrix" finds it."""
    text = _SPACES.sub(" ", title.lower()).strip()
    bare = _YEAR.sub("", text)
    fronted = _ARTICLE.sub(r"\2 \1", bare)
    return text if fronted == bare else f"{text}\n{fronted}"


class Snapshot:
    """One loaded model, ready to answer (see the module docstring).

    Parameters
    ----------
    model : fitted Estimator
    path : path of the model file it came from
    signature : FileSignature of that file before it was read
    loaded_at : unix time of the load
    """

    def __init__(self, model: Any, path: str | os.PathLike, signature: FileSignature,
                 loaded_at: float) -> None:
        self.model = model
        self.path = Path(path)
        self.signature = signature
        self.loaded_at = loaded_at
        self.model_class = type(model).__name__
        self.item_ids = model.item_ids_.tolist()
        self.titles = model.item_titles_.tolist()
        self.genres = model.item_genres_.tolist()
        years = np.asarray(model.item_years_, dtype=np.float64)
        self.years = [int(round(y)) if math.isfinite(y) and abs(y) <= 1e5 else None
                      for y in years.tolist()]
        self.counts = np.asarray(model.item_counts_, dtype=np.int64)
        self.count_list = self.counts.tolist()
        self.index_of = {item: i for i, item in enumerate(self.item_ids)}
        self.item_json = [json.dumps(self.item_record(i), ensure_ascii=False,
                                     separators=(",", ":"))[:-1]
                          for i in range(len(self.item_ids))]
        self.user_ids = model.user_ids_
        self.user_of = {str(raw): u for u, (raw, count) in
                        enumerate(zip(self.user_ids.tolist(), model.user_counts_.tolist()))
                        if count > 0}
        self.seen_indptr = np.asarray(model.seen_indptr_)
        self.seen_items = np.asarray(model.seen_items_)
        self.by_count = [i for i in np.argsort(-self.counts, kind="stable").tolist()
                         if self.count_list[i] > 0]
        self.search_keys = [_search_key(t) for t in self.titles]
        self._eligible: dict[int, np.ndarray] = {}
        self.rating_scale = tuple(float(x) for x in model.rating_scale_)
        self.can_fold_in = self._probe_fold_in()
        self.can_compare = self._probe_similar()
        self.n_ratings = int(self.counts.sum())
        self.n_users = int(np.count_nonzero(np.asarray(model.user_counts_) > 0))
        self.n_items = len(self.by_count)
        self.rank_by = default_rank_by(model)
        self.table: RankTable | None = None
        self.table_state = "not built"

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Snapshot":
        """Read and check a model file (:func:`recsys.models.io.load_model`) and precompute.

        Raises
        ------
        ModelFileError, OSError
            The file cannot be read or is not a sound recsys model file.
        """
        import time

        from recsys.models.io import load_model

        try:
            signature = FileSignature.of(path)
        except OSError:
            load_model(path)  # its one-line message: not found, a folder, unreadable...
            raise
        model = load_model(path)
        return cls(model, path, signature, time.time())

    def _probe_fold_in(self) -> bool:
        """Whether the model folds in a new user (it is listed and does it)."""
        if self.model_class not in FOLD_IN_MODELS.values() or not self.by_count:
            return False
        low, high = (float(x) for x in self.model.rating_scale_)
        try:
            self.model.fold_in({self.item_ids[self.by_count[0]]: (low + high) / 2})
        except RecsysError:
            return False
        return True

    def _probe_similar(self) -> bool:
        """Whether the model can list similar items (item factors or learned similarities)."""
        if not self.by_count:
            return False
        try:
            self.model.similar_items(self.item_ids[self.by_count[0]], n=1)
        except RecsysError:
            return False
        return True

    def precompute(self, should_stop: Callable[[], bool] | None = None) -> bool:
        """Build the :class:`~recsys.serve.ranking.RankTable` of the model's default
        ``rank_by`` (assigned at once, when complete). Returns whether it was built (False:
        stopped by ``should_stop()``, or over the table's memory budget)."""
        self.table_state = "building"
        try:
            table = RankTable.build(self.model, self.rank_by, should_stop)
        except Stopped:
            self.table_state = "not built (stopped)"
            return False
        if table is None:
            self.table_state = "off: over the memory budget"
            return False
        self.table = table
        self.table_state = "ready"
        return True

    # ------------------------------------------------------------------ look-ups
    def eligible(self, min_ratings: int) -> np.ndarray:
        """Boolean mask of the items with at least ``min_ratings`` training ratings."""
        mask = self._eligible.get(min_ratings)
        if mask is None:
            mask = self.counts >= max(min_ratings, 1)
            if len(self._eligible) < 64:
                self._eligible[min_ratings] = mask
        return mask

    def user_index(self, user: str) -> int:
        """Dense index of a raw user id with training ratings (404 naming ``user``): the
        id's text, else the model's own matching (``"42.0"`` for user 42)."""
        found = self.user_of.get(user)
        if found is not None:
            return found
        u, _ = self.model.encode([user], self.model.item_ids_[:1])
        if u[0] < 0:
            raise RequestError(NOT_FOUND, f"unknown user {user!r}: this model has no training "
                               "ratings from that user; check the id, or POST /recommend with "
                               "the user's ratings", "user")
        return int(u[0])

    def item_index(self, query: Any, field: str, exact: bool) -> int:
        """Dense index of an item given by raw id or title, with training ratings.

        ``exact``: an ambiguous title is refused, naming candidates (a rating must land on the
        film the person meant, :func:`recsys.models.foldin.match_item`); otherwise the most
        rated of the matching titles is taken (as ``recsys similar`` does).
        """
        text = str(query).strip()
        if not text:
            raise RequestError(UNPROCESSABLE, f"{field} is empty: give an item id or (part "
                               "of) a title", field)
        try:
            idx = match_item(self.model, text) if exact else self.model.resolve_item(text)
        except UnknownIdError as exc:
            status = UNPROCESSABLE if "ambiguous" in str(exc) else NOT_FOUND
            raise RequestError(status, str(exc), field) from None
        if self.count_list[idx] == 0:
            raise RequestError(NOT_FOUND, f"item {text!r} has no training ratings in this "
                               "model: pick an item the model was trained on", field)
        return idx

    def item_record(self, idx: int) -> dict[str, Any]:
        """An item as JSON: id, title, year, genres and its number of training ratings."""
        return {"item": self.item_ids[idx], "title": self.titles[idx], "year": self.years[idx],
                "genres": self.genres[idx], "ratings": self.count_list[idx]}

    def _scored(self, top: np.ndarray, scores: np.ndarray, key: str) -> list[dict[str, Any]]:
        out = []
        for idx, score in zip(top.tolist(), scores.tolist()):
            record = self.item_record(idx)
            record[key] = round(score, 4)
            out.append(record)
        return out

    # ------------------------------------------------------------------ answers
    def _ranked(self, u: int, n: int, min_ratings: int, include_seen: bool,
                rank_by: str) -> tuple[np.ndarray, np.ndarray]:
        """Dense indices and predicted ratings of user ``u``'s top ``n``: from the table
        when it can answer, else from ``model.recommend``."""
        table = self.table
        if table is not None and not include_seen and rank_by == table.rank_by:
            found = table.top(u, n, self.eligible(min_ratings))
            if found is not None:
                return found
        frame = self.model.recommend(self.user_ids[u].item(), n=n, min_item_ratings=min_ratings,
                                     exclude_seen=not include_seen, rank_by=rank_by)
        return self._frame_items(frame), frame["prediction"].to_numpy(dtype=np.float64)

    def _frame_items(self, frame: Any) -> np.ndarray:
        return np.array([self.index_of[item] for item in frame["item"].tolist()],
                        dtype=np.int64)

    def recommend_user(self, user: str, n: int, min_ratings: int, include_seen: bool,
                       rank_by: str | None = None) -> dict[str, Any]:
        """Top-``n`` items for a known user (``GET /recommend``): ``model.recommend``'s list
        (training items and items with fewer than ``min_ratings`` ratings left out; ranked
        by ``rank_by``, None: the model's default), with each item's predicted rating."""
        u = self.user_index(user)
        rank_by = rank_by or self.rank_by
        top, predictions = self._ranked(u, n, min_ratings, include_seen, rank_by)
        return {"user": self.user_ids[u].item(), "model": self.model_class, "rank_by": rank_by,
                "items": self._scored(top, predictions, "prediction")}

    def recommend_user_json(self, user: str, n: int, min_ratings: int, include_seen: bool,
                            rank_by: str | None = None) -> bytes:
        """:meth:`recommend_user` serialised (the same JSON as ``json.dumps`` of it), from
        the items' pre-serialised records: the hot path of the server."""
        u = self.user_index(user)
        rank_by = rank_by or self.rank_by
        top, predictions = self._ranked(u, n, min_ratings, include_seen, rank_by)
        fragments = self.item_json
        items = ",".join(f'{fragments[i]},"prediction":{round(p, 4)!r}}}'
                         for i, p in zip(top.tolist(), predictions.tolist()))
        head = json.dumps({"user": self.user_ids[u].item(), "model": self.model_class,
                           "rank_by": rank_by}, ensure_ascii=False, separators=(",", ":"))
        return f'{head[:-1]},"items":[{items}]}}'.encode()

    def recommend_new(self, ratings: dict[str, float], n: int, min_ratings: int,
                      rank_by: str | None = None) -> dict[str, Any]:
        """Top-``n`` items for a new user from their ``{item id or title: rating}``
        (``POST /recommend``), folded into the model (:meth:`~recsys.models.topn.TopN.fold_in`)."""
        if not self.can_fold_in:
            names = ", ".join(sorted(FOLD_IN_MODELS.values()))
            raise RequestError(UNPROCESSABLE, f"this server's model ({self.model_class}) cannot "
                               f"fold in a new user's ratings; models that can: {names}. Serve "
                               "one of those, or ask GET /recommend?user= for a known user",
                               "ratings")
        resolved: dict[Any, float] = {}
        first: dict[int, str] = {}
        low, high = self.rating_scale
        for key, value in ratings.items():
            field = f"ratings.{key}"
            if not (low <= value <= high):
                raise RequestError(UNPROCESSABLE, f"rating of {key!r} must be within the "
                                   f"model's rating scale {low:g}-{high:g}, got {value:g}", field)
            idx = self.item_index(key, field, exact=True)
            if idx in first:
                raise RequestError(UNPROCESSABLE, f"item {key!r} is rated twice (also as "
                                   f"{first[idx]!r}): give each item once", field)
            first[idx] = key
            resolved[self.item_ids[idx]] = value
        try:
            profile = self.model.fold_in(resolved)
            frame = self.model.recommend(profile=profile, n=n, min_item_ratings=min_ratings,
                                         rank_by=rank_by or self.rank_by)
        except RecsysError as exc:  # checked above; a model's own refusal is still the user's
            raise RequestError(UNPROCESSABLE, str(exc), "ratings") from None
        rated = [dict(self.item_record(idx), rating=resolved[self.item_ids[idx]])
                 for idx in first]
        return {"user": None, "model": self.model_class, "rank_by": rank_by or self.rank_by,
                "rated": rated, "items": self._scored(
                    self._frame_items(frame), frame["prediction"].to_numpy(dtype=np.float64),
                    "prediction")}

    def predict(self, user: str, item: str) -> dict[str, Any]:
        """The predicted rating of one known user for one item (``GET /predict``)."""
        u = self.user_index(user)
        idx = self.item_index(item, "item", exact=True)
        value = float(np.asarray(self.model.predict(self.user_ids[u:u + 1],
                                                    self.model.item_ids_[idx:idx + 1]))[0])
        return {"user": self.user_ids[u].item(), "model": self.model_class,
                **self.item_record(idx), "prediction": round(value, 4)}

    def similar(self, item: str, n: int, min_ratings: int) -> dict[str, Any]:
        """The ``n`` items most similar to one (``GET /similar``), as ``recsys similar``."""
        if not self.can_compare:
            raise RequestError(UNPROCESSABLE, f"this server's model ({self.model_class}) has no "
                               "item factors or similarities to compare; serve a matrix "
                               "factorisation, SVD++ or neighbourhood model", "item")
        idx = self.item_index(item, "item", exact=False)
        frame = self.model.similar_items(self.model.item_ids_[idx], n=n,
                                         min_item_ratings=min_ratings)
        return {"query": self.item_record(idx), "model": self.model_class,
                "items": self._scored(self._frame_items(frame),
                                      frame["similarity"].to_numpy(dtype=np.float64),
                                      "similarity")}

    def search(self, text: str, limit: int) -> dict[str, Any]:
        """Items whose title contains ``text`` (case-insensitive; "the matrix" finds "Matrix,
        The"), titles that start with it first, then the most rated; at most ``limit``. An
        empty ``text`` lists the most rated items."""
        query = _SPACES.sub(" ", text.lower()).strip()
        if not query:
            found = self.by_count
            return {"query": text, "total": len(found),
                    "items": [self.item_record(i) for i in found[:limit]]}
        starts, contains, total = [], [], 0
        keys = self.search_keys
        for i in self.by_count:
            key = keys[i]
            where = key.find(query)
            if where < 0:
                continue
            total += 1
            if where == 0 or key.find("\n" + query) >= 0:
                if len(starts) < limit:
                    starts.append(i)
            elif len(contains) < limit:
                contains.append(i)
        chosen = (starts + contains)[:limit]
        return {"query": text, "total": total, "items": [self.item_record(i) for i in chosen]}

    def facts(self) -> dict[str, Any]:
        """What ``GET /health`` says about the model."""
        return {
            "model": self.model_class,
            "file": os.path.abspath(self.path),
            "file_modified": self.signature.modified,
            "loaded_at": iso_time(self.loaded_at),
            "users": self.n_users,
            "items": self.n_items,
            "ratings": self.n_ratings,
            "rating_scale": list(self.rating_scale),
            "fold_in": self.can_fold_in,
            "similar": self.can_compare,
            "rank_by": self.rank_by,
            "score_table": self.table_state,
        }
