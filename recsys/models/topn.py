"""Top-N lists and nearest items, built on any fitted estimator's scores.

:class:`TopN` is a mixin of :class:`recsys.models.base.Estimator`: it ranks the items a model
scores (``score_users``), leaves out what the user has already rated and items with too little
evidence, and attaches the item metadata the model recorded at fit time (title, year, genres).
It needs only what every fitted estimator has: the id maps, the rating counts, the seen items
and the item metadata (``item_ids_``, ``item_counts_``, ``seen_indptr_``, ``seen_items_``,
``item_titles_``, ``item_years_``, ``item_genres_``), and ``encode`` / ``clip``.

Two ranking objectives (``rank_by``):

* ``"rating"``: the predicted rating, best first (what a rating model is fitted for);
* ``"relevance"``: the chance the user rates the item times a tempered preference for its
  predicted rating, ``ln E(u, j) + beta z_uj`` (:mod:`recsys.models.relevance`: ``E`` an item
  neighbourhood over who rated what, which every model file stores). A held-out hit is an item
  the user rates *and* likes; ranking by the rating alone puts films rated once or twice at the
  top of every list. A model with a relevance of its own (BPR, popularity) overrides
  ``_relevance_scores`` / ``_relevance_profile``.

The frames and arrays always carry the predicted rating (``prediction``); with
``rank_by="relevance"`` the frame also has the ranking score (``relevance``), and rows follow
it. The default is the class's ``default_rank_by`` (:data:`DEFAULT_RANK_BY` for rating models).
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.ratings import lookup_ids
from recsys.errors import ParameterError, RecsysError, UnknownIdError, short_repr
from recsys.models.foldin import UserProfile, parse_ratings, unsupported

__all__ = ["TopN", "RANK_BY", "DEFAULT_RANK_BY", "default_rank_by"]

RANK_BY = ("rating", "relevance")
"""The ranking objectives of ``recommend`` / ``recommend_all``."""

DEFAULT_RANK_BY = "relevance"
"""``rank_by`` of rating models when none is given: ``relevance``, which measures better
(``bench/bench_topn.py``: NDCG@10 above the popularity ranking's with many times its distinct
items on ML-100k ``u1`` and the bundled set, where ``rating`` is far below popularity)."""


def default_rank_by(model: Any) -> str:
    """The ranking ``model``'s lists follow when none is asked for: its class's
    ``default_rank_by`` (BPR, popularity), else :data:`DEFAULT_RANK_BY`."""
    return getattr(model, "default_rank_by", DEFAULT_RANK_BY)


def _rank_by(model: Any, value: Any) -> str:
    """``rank_by`` checked (None: the model's default)."""
    if value is None:
        return default_rank_by(model)
    if not isinstance(value, str) or value not in RANK_BY:
        raise ParameterError(f"rank_by must be 'rating' or 'relevance', got {short_repr(value)}")
    return value


def _count(name: str, value: Any) -> int:
    """An integer argument that must be >= 1 (``n`` of recommend, ...)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ParameterError(f"{name} must be an integer >= 1, got {short_repr(value)}")
    return int(value)


class TopN:
    """``recommend``, ``recommend_all``, ``similar_items`` and ``resolve_item`` for an
    estimator (see the module docstring for what it relies on)."""

    def _seen_mask_indices(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row, item) positions of the training items of each user in ``u`` (vectorised)."""
        valid = u >= 0
        starts = np.where(valid, self.seen_indptr_[np.maximum(u, 0)], 0)
        lengths = np.where(valid, self.seen_indptr_[np.maximum(u, 0) + 1] - starts, 0)
        rows = np.repeat(np.arange(len(u)), lengths)
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return rows, self.seen_items_[np.repeat(starts, lengths) + offsets]

    def _top_n(
        self, u: np.ndarray, n: int, exclude_seen: bool, min_item_ratings: int = 1,
        rank_by: str = "rating",
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Best ``n`` item indices per user, their clipped predictions and ranking scores.

        Items are ranked by the *unclipped* rating (``rank_by="rating"``, so that predictions
        above the top of the scale still rank in order) or by the relevance; items with fewer
        than ``min_item_ratings`` training ratings (and seen items, with ``exclude_seen``) are
        left out and padded with ``-inf``.
        """
        ratings = self.score_users(u)
        key = ratings if rank_by == "rating" else self._relevance_scores(u)
        if exclude_seen:
            key[self._seen_mask_indices(u)] = -np.inf
        return self._rank(key, n, min_item_ratings, ratings)

    def _rank(self, key: np.ndarray, n: int, min_item_ratings: int,
              ratings: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Best ``n`` columns of each row of ``key`` (``-inf`` marks left-out items), the
        clipped ``ratings`` there (``key`` itself when None: ranked by rating) and the keys."""
        key[:, self.item_counts_ < max(min_item_ratings, 1)] = -np.inf
        n = min(n, key.shape[1])
        top = np.argpartition(-key, n - 1, axis=1)[:, :n]
        top_keys = np.take_along_axis(key, top, axis=1)
        order = np.argsort(-top_keys, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        top_keys = np.take_along_axis(top_keys, order, axis=1)
        rated = top_keys if ratings is None else np.take_along_axis(ratings, top, axis=1)
        listed = np.isfinite(top_keys)
        return top, np.where(listed, self.clip(rated), -np.inf), top_keys

    def _relevance_scores(self, u: np.ndarray) -> np.ndarray:
        """Relevance of every item for user indices ``u`` (``-1``: a user without ratings),
        shape (len(u), n_items): ``ln E + beta z`` (:mod:`recsys.models.relevance`)."""
        from recsys.models.relevance import combine, evidence_of

        u = np.asarray(u, dtype=np.int64)
        return combine(evidence_of(self).of_users(u), self._score_users(u))

    def _relevance_profile(self, profile: UserProfile) -> np.ndarray:
        """Relevance of every item for a folded-in user, shape (n_items,)."""
        from recsys.models.relevance import combine, evidence_of

        return combine(evidence_of(self).of_items(profile.items),
                       self._checked_profile_scores(profile))

    def recommend(
        self, user: Any = None, n: int = 10, *, ratings: Any = None,
        profile: UserProfile | None = None, exclude_seen: bool = True,
        min_item_ratings: int = 1, cold_start: bool = False, rank_by: str | None = None,
    ) -> pd.DataFrame:
        """Top-``n`` items for one raw user id, or for a new user.

        Give exactly one of ``user`` (a user the model was trained on), ``ratings`` (a new
        user's ``{item id or title: rating}``, folded in by :meth:`fold_in`) or ``profile``
        (what :meth:`fold_in` returned).

        Items the user rated (in training, or in ``ratings``) are left out (``exclude_seen``),
        and so are items with fewer than ``min_item_ratings`` training ratings (whose scores
        rest on little evidence).

        A user the model learned nothing about (unknown id, or no training rating) raises
        :class:`UnknownIdError`, unless ``cold_start`` is True: then the user gets the items
        with the best non-personal score (biases / global mean), and the returned frame's
        ``attrs["fallback"]`` is True.

        ``rank_by`` is ``"rating"`` (the predicted rating) or ``"relevance"`` (the chance the
        user rates the item times a preference for its predicted rating; see the module
        docstring); None: the model's ``default_rank_by``.

        Returns
        -------
        DataFrame with columns item, title, year, genres, prediction (the predicted rating)
        and, with ``rank_by="relevance"``, relevance (the ranking score); best first.
        """
        self._check_fitted()
        n = _count("n", n)
        min_item_ratings = _count("min_item_ratings", min_item_ratings)
        rank_by = _rank_by(self, rank_by)
        profile = self._profile_of(user, ratings, profile, need_user=True)
        if profile is not None:
            rated = self.rating_map_.to_ratings(self._checked_profile_scores(profile))[None, :]
            key = rated.copy() if rank_by == "rating" else self._relevance_profile(profile)[None, :]
            if exclude_seen:
                key[0, profile.items] = -np.inf
            top, scores, keys = self._rank(key, n, min_item_ratings, rated)
            u = np.array([0])
        else:
            u, _ = self.encode([user], [self.item_ids_[0]] if self.n_items_ else [0])
            if u[0] < 0 and not cold_start:
                raise UnknownIdError(
                    f"unknown user {short_repr(user)}: this model has no training ratings from "
                    "that user; check the id, or pass cold_start=True for the best items by "
                    "the biases (non-personal), or ratings={item: rating} to fold them in"
                )
            top, scores, keys = self._top_n(u, n, exclude_seen, min_item_ratings, rank_by)
        keep = np.isfinite(keys[0])
        frame = self._item_frame(top[0][keep])
        frame["prediction"] = scores[0][keep]
        if rank_by == "relevance":
            frame["relevance"] = keys[0][keep]
        frame.attrs["rank_by"] = rank_by
        frame.attrs["fallback"] = bool(u[0] < 0)
        frame.attrs["user"] = user
        if profile is not None:
            frame.attrs["profile"] = profile
        return frame

    # ------------------------------------------------------------------ fold-in
    def fold_in(self, ratings: Any, *, unknown: str = "error") -> UserProfile:
        """A profile of a user the model has not seen, from a few of their ratings.

        The model's item side stays fixed; only the new user's parameters are solved, with
        the model's own regularised objective (the model class documents it in its
        ``_fold_in``). Pass the profile to :meth:`recommend` / :meth:`predict` (``profile=``),
        or give them the ``ratings`` directly.

        Parameters
        ----------
        ratings : mapping {raw item id or title: rating}
            Titles match as in :meth:`resolve_item` (exact, then without the year, then
            part of a title), except that an ambiguous title is an error naming candidates.
            Ratings must lie within the model's rating scale.
        unknown : {"error", "ignore"}
            An item the model cannot place (no match, or no training rating): an error, or
            left out (listed in the profile's ``skipped``).

        Raises
        ------
        RecsysError
            The model has no fold-in (see :data:`recsys.models.foldin.FOLD_IN_MODELS`).
        UnknownIdError, ParameterError
            An unknown or ambiguous item, a rating that is not a number within the scale.
        """
        self._check_fitted()
        if not self._supports_fold_in():
            raise unsupported(self)
        items, z, skipped = parse_ratings(self, ratings, unknown)
        profile = self._fold_in(items, z)
        return dataclasses.replace(profile, skipped=skipped) if skipped else profile

    @classmethod
    def _supports_fold_in(cls) -> bool:
        """Whether the class implements the fold-in hooks (``_fold_in``, ``_score_profile``)."""
        return cls._fold_in is not TopN._fold_in

    def _fold_in(self, items: np.ndarray, z: np.ndarray) -> UserProfile:
        """Solve a new user from dense item indices and ratings in model units."""
        raise unsupported(self)

    def _score_profile(self, profile: UserProfile) -> np.ndarray:
        """Model-unit scores of every item for a folded-in user, shape (n_items,)."""
        raise unsupported(self)

    def _profile_fallback(self, profile: UserProfile) -> float:
        """Model-unit prediction of a folded-in user for an item the model does not know."""
        return float(self.model_mean_ + profile.bias)

    def _checked_profile_scores(self, profile: UserProfile) -> np.ndarray:
        if not isinstance(profile, UserProfile) or profile.model != type(self).__name__ or (
                profile.items.size and profile.items.max() >= self.n_items_):
            raise ParameterError(
                f"profile must be a UserProfile made by this {type(self).__name__}'s fold_in")
        return np.asarray(self._score_profile(profile), dtype=np.float64)

    def _profile_of(self, user: Any, ratings: Any, profile: UserProfile | None,
                    need_user: bool) -> UserProfile | None:
        """The profile to score (folding in ``ratings``), or None to score ``user``."""
        given = [name for name, v in (("user", user), ("ratings", ratings),
                                      ("profile", profile)) if v is not None]
        if len(given) > 1:
            raise ParameterError(f"give only one of user, ratings and profile, got "
                                 f"{' and '.join(given)}")
        if not given and need_user:
            raise ParameterError("give a user id, or a new user's ratings={item: rating} (or "
                                 "a profile from fold_in)")
        if ratings is not None:
            return self.fold_in(ratings)
        return profile

    def recommend_all(
        self, users: Any | None = None, n: int = 10, *, batch_size: int = 512,
        exclude_seen: bool = True, min_item_ratings: int = 1, rank_by: str | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` raw item ids and scores for many users, scored in batches, ranked by
        ``rank_by`` (as in :meth:`recommend`).

        Returns
        -------
        items : ndarray, shape (n_users, n) of raw item ids
        scores : ndarray, shape (n_users, n): the predicted ratings of the listed items (in
            list order; decreasing with ``rank_by="rating"``); ``-inf`` where fewer than ``n``
            items remain
        """
        self._check_fitted()
        n = _count("n", n)
        batch_size = _count("batch_size", batch_size)
        rank_by = _rank_by(self, rank_by)
        if users is None:
            u_all = np.where(self.user_counts_ > 0, np.arange(self.n_users_), -1)
        else:
            u_all, _ = self.encode(users, np.repeat(self.item_ids_[:1], len(np.atleast_1d(users))))
        tops, scores = [], []
        for start in range(0, len(u_all), batch_size):
            top, sc, _ = self._top_n(
                u_all[start : start + batch_size], n, exclude_seen, min_item_ratings, rank_by
            )
            tops.append(top)
            scores.append(sc)
        top = np.concatenate(tops) if tops else np.zeros((0, n), dtype=np.int64)
        return self.item_ids_[top], np.concatenate(scores) if scores else np.zeros((0, n))

    def _item_vectors(self) -> np.ndarray | None:
        """Item embedding used by :meth:`similar_items` (None if the model has none)."""
        return None

    def similar_items(self, item: Any, n: int = 10, min_item_ratings: int = 1) -> pd.DataFrame:
        """The ``n`` items most similar to ``item`` (raw id or title): by default the cosine
        similarity of the item factors; a model with learned similarities (the neighbourhood
        model) uses those (:meth:`_item_similarities`). Only items with at least
        ``min_item_ratings`` training ratings are listed (a film rated once or twice has
        factors that say little).

        Returns
        -------
        DataFrame with columns item, title, year, genres, similarity (most similar first).
        """
        self._check_fitted()
        n = _count("n", n)
        min_item_ratings = _count("min_item_ratings", min_item_ratings)
        if not self._has_item_similarities():
            raise RecsysError(
                f"{type(self).__name__} has no item factors to compare: use a matrix "
                "factorisation or hybrid model for similar items"
            )
        idx = self.resolve_item(item)
        if self.item_counts_[idx] == 0:
            raise UnknownIdError(
                f"item {short_repr(item)} has no training ratings in this model, so it has no "
                "learned factors to compare: pick an item the model was trained on"
            )
        sims = np.array(self._item_similarities(idx), dtype=np.float64)
        sims[idx] = -np.inf
        sims[self.item_counts_ < min_item_ratings] = -np.inf
        n = min(n, len(sims) - 1)
        top = np.argpartition(-sims, n - 1)[:n] if n > 0 else np.zeros(0, dtype=np.int64)
        top = top[np.argsort(-sims[top], kind="stable")]
        top = top[np.isfinite(sims[top])]
        frame = self._item_frame(top)
        frame["similarity"] = sims[top]
        frame.attrs["query"] = self.item_titles_[idx]
        return frame

    def _has_item_similarities(self) -> bool:
        """Whether :meth:`similar_items` has anything to compare (item factors, by default)."""
        return self._item_vectors() is not None

    def _item_similarities(self, idx: int) -> np.ndarray:
        """Similarity of every item to item ``idx`` (``-inf``: not comparable): the cosine of
        the item vectors. A model with learned similarities overrides this (and
        :meth:`_has_item_similarities`)."""
        vectors = np.asarray(self._item_vectors(), dtype=np.float64)
        norms = np.linalg.norm(vectors, axis=1)
        norms[norms == 0] = 1.0
        return vectors @ vectors[idx] / (norms * norms[idx])

    def resolve_item(self, query: Any) -> int:
        """Dense index of an item given by raw id or by (part of) its title.

        An exact id wins; then an exact title (case-insensitive); then titles containing the
        query, the most-rated first. Raises :class:`UnknownIdError` when nothing matches.
        """
        self._check_fitted()
        idx = int(lookup_ids(self._item_index(), [query])[0])
        if idx >= 0:
            return idx
        text = str(query).strip().lower()
        titles = pd.Series(self.item_titles_).str.lower()
        exact = np.flatnonzero((titles == text).to_numpy())
        candidates = exact if exact.size or not text else np.flatnonzero(
            titles.str.contains(text, regex=False).to_numpy()
        )
        if candidates.size == 0:
            raise UnknownIdError(
                f"unknown item {short_repr(query)}: no item id or title in this model matches it; "
                "check the id, or give part of the title"
            )
        return int(candidates[np.argmax(self.item_counts_[candidates])])

    def _item_frame(self, idx: np.ndarray) -> pd.DataFrame:
        years = self.item_years_[idx]
        years = np.where(np.abs(years) <= 1e5, years, np.nan)  # NaN stays NaN: no year
        return pd.DataFrame(
            {
                "item": self.item_ids_[idx],
                "title": self.item_titles_[idx],
                "year": pd.Series(np.round(years)).astype("Int64").to_numpy(),
                "genres": self.item_genres_[idx],
            }
        )

