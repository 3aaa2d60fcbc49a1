"""Accuracy of predicted ratings (RMSE, MAE) and quality of top-N lists, vectorised.

Rating accuracy
    :math:`\\mathrm{RMSE} = \\sqrt{\\tfrac1n \\sum_k (\\hat r_k - r_k)^2}`,
    :math:`\\mathrm{MAE} = \\tfrac1n \\sum_k |\\hat r_k - r_k|`.

Top-N conventions
    ``recommended`` is an integer array of shape (n_users, K): row ``r`` lists item *indices*
    best first, ``-1`` pads lists shorter than ``K``; metrics ``@k`` use the first ``k``
    columns. ``relevant`` (a :class:`Relevant`, or a list of item-index arrays) gives the set
    :math:`T_r` of relevant items of the same row. With hits :math:`h_{rj} = [\\text{item } j
    \\text{ of row } r \\in T_r]`, :math:`j = 0..k-1`:

    * precision@k :math:`= \\sum_j h_{rj} / k` (padding counts as a miss);
    * recall@k :math:`= \\sum_j h_{rj} / |T_r|`;
    * NDCG@k :math:`= \\mathrm{DCG}/\\mathrm{IDCG}` with binary gains and a log2 discount,
      :math:`\\mathrm{DCG} = \\sum_j h_{rj} / \\log_2(j + 2)`,
      :math:`\\mathrm{IDCG} = \\sum_{j < \\min(k, |T_r|)} 1 / \\log_2(j + 2)`;
    * hit rate@k :math:`= [\\sum_j h_{rj} > 0]`;
    * each is averaged over the rows with :math:`|T_r| > 0`; rows without relevant items are
      left out (and counted in ``n_skipped``);
    * catalogue coverage :math:`= |\\bigcup_r \\{\\text{items in row } r\\}| / n_\\text{items}`
      over *all* rows.

A row may not list the same item twice. Empty, mismatched or malformed inputs raise
:class:`~recsys.errors.DataError` (a ``ValueError``) with a one-line message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from recsys.data.ratings import Ratings
from recsys.errors import DataError

__all__ = [
    "rmse",
    "mae",
    "Relevant",
    "relevant_from_ratings",
    "as_relevant",
    "precision_at_k",
    "recall_at_k",
    "ndcg_at_k",
    "hit_rate_at_k",
    "catalogue_coverage",
    "topn_metrics",
    "topn_per_user",
]


# ---------------------------------------------------------------------------- rating accuracy
def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape:
        raise DataError(
            f"y_true has shape {t.shape} but y_pred has shape {p.shape}; they must match"
        )
    if t.size == 0:
        raise DataError("no ratings to score (y_true and y_pred are empty)")
    for arr, label in ((t, "y_true"), (p, "y_pred")):
        if not np.all(np.isfinite(arr)):
            raise DataError(f"{label} contains NaN or infinite values")
    return t.ravel(), p.ravel()


def rmse(y_true: Any, y_pred: Any) -> float:
    """Root mean squared error :math:`\\sqrt{\\tfrac1n \\sum_k (\\hat r_k - r_k)^2}`."""
    t, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def mae(y_true: Any, y_pred: Any) -> float:
    """Mean absolute error :math:`\\tfrac1n \\sum_k |\\hat r_k - r_k|`."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(p - t)))


# ---------------------------------------------------------------------------- relevance sets
@dataclass(frozen=True)
class Relevant:
    """Relevant items per row, in CSR form.

    Attributes
    ----------
    indptr : ndarray of int64, shape (n_rows + 1,)
        Row ``r``'s items are ``indices[indptr[r]:indptr[r + 1]]``.
    indices : ndarray of int64
        Item indices, sorted and distinct within each row.
    users : ndarray of int64, shape (n_rows,), optional
        Dense user index of each row (``-1`` if unknown).
    user_ids : ndarray, shape (n_rows,), optional
        Raw user id of each row.
    n_items : int, optional
        Catalogue size (for coverage and index checks).
    """

    indptr: np.ndarray
    indices: np.ndarray
    users: np.ndarray | None = None
    user_ids: np.ndarray | None = None
    n_items: int | None = None

    def __len__(self) -> int:
        return int(self.indptr.size - 1)

    def counts(self) -> np.ndarray:
        """Number of relevant items of each row, :math:`|T_r|`."""
        return np.diff(self.indptr)

    def items_of(self, row: int) -> np.ndarray:
        """Relevant item indices of one row."""
        return self.indices[self.indptr[row] : self.indptr[row + 1]]


def as_relevant(relevant: Relevant | Sequence[Any], n_items: int | None = None) -> Relevant:
    """A :class:`Relevant` from itself or from a list of item-index collections (one per row)."""
    if isinstance(relevant, Relevant):
        return relevant
    if isinstance(relevant, np.ndarray) and relevant.ndim == 2:
        raise DataError("relevant must be a list of item-index arrays (one per user), not a matrix")
    try:
        rows = [np.unique(np.asarray(list(r), dtype=np.int64)) for r in relevant]
    except (TypeError, ValueError) as exc:
        raise DataError(f"relevant must hold integer item indices per user ({exc})") from None
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([r.size for r in rows], out=indptr[1:])
    indices = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    if indices.size and indices.min() < 0:
        raise DataError("relevant item indices must be >= 0")
    return Relevant(indptr=indptr, indices=indices, n_items=n_items)


def relevant_from_ratings(
    test: Ratings, threshold: float | None = 4.0, users: Any | None = None
) -> Relevant:
    """Relevant items per user: the test items each user rated at least ``threshold``.

    Parameters
    ----------
    test : Ratings
        Held-out ratings.
    threshold : float or None
        Minimum rating of a relevant item (``None``: every test item is relevant).
    users : array of dense user indices, optional
        Rows to build, in this order (empty rows for users with nothing relevant). Default:
        every user with at least one test rating, in increasing index order.

    Returns
    -------
    Relevant
        With ``users``, ``user_ids`` and ``n_items = test.n_items`` set; recommend for
        ``rel.users`` in that order to get a matching ``recommended`` array.
    """
    if not isinstance(test, Ratings):
        raise DataError(f"test must be a Ratings container, got {type(test).__name__}")
    if len(test) == 0:
        raise DataError(f"{test.name} has no ratings to take relevant items from")
    keep = np.ones(len(test), dtype=bool) if threshold is None else test.ratings >= threshold
    if users is None:
        rows_users = np.unique(test.users).astype(np.int64)
    else:
        rows_users = np.asarray(users, dtype=np.int64).ravel()
        if rows_users.size and (rows_users.min() < 0 or rows_users.max() >= test.n_users):
            raise DataError(f"users must be dense user indices in [0, {test.n_users - 1}]")
    if np.unique(rows_users).size != rows_users.size:
        raise DataError("users lists a user more than once")
    # row of each kept rating: position of its user in rows_users (users not listed dropped)
    row_of_user = np.full(test.n_users, -1, dtype=np.int64)
    row_of_user[rows_users] = np.arange(rows_users.size)
    row = row_of_user[test.users[keep]]
    item = test.items[keep].astype(np.int64)
    ok = row >= 0
    row, item = row[ok], item[ok]
    key = np.sort(row * max(test.n_items, 1) + item)  # by row, then item
    key = key[np.concatenate([[True], key[1:] != key[:-1]])] if key.size else key
    row, item = key // max(test.n_items, 1), key % max(test.n_items, 1)
    indptr = np.zeros(rows_users.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=rows_users.size), out=indptr[1:])
    return Relevant(
        indptr=indptr,
        indices=item,
        users=rows_users,
        user_ids=test.user_ids[rows_users],
        n_items=test.n_items,
    )


# ---------------------------------------------------------------------------- top-N
def _recommended(recommended: Any, k: int | None) -> tuple[np.ndarray, int]:
    rec = np.asarray(recommended)
    if rec.ndim != 2:
        raise DataError(
            f"recommended must be a 2-D array (users x list length), got {rec.ndim} dimension(s)"
        )
    if rec.shape[0] == 0 or rec.shape[1] == 0:
        raise DataError(f"recommended is empty (shape {rec.shape})")
    if not np.issubdtype(rec.dtype, np.integer):
        raise DataError(f"recommended must hold integer item indices, got dtype {rec.dtype}")
    if k is None:
        k = rec.shape[1]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= rec.shape[1]:
        raise DataError(f"k={k!r} must be an integer between 1 and {rec.shape[1]} (list length)")
    rec = rec[:, : int(k)].astype(np.int64)
    if rec.min() < -1:
        raise DataError("recommended item indices must be >= 0 (or -1 for padding)")
    ordered = np.sort(rec, axis=1)
    if np.any((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)):
        raise DataError("a recommended list names the same item twice")
    return rec, int(k)


def _hits(rec: np.ndarray, rel: Relevant) -> np.ndarray:
    """Boolean (n_rows, k): is each recommended item in its row's relevant set."""
    if len(rel) != rec.shape[0]:
        raise DataError(
            f"recommended has {rec.shape[0]} rows but relevant has {len(rel)} users; "
            "they must be aligned row by row"
        )
    width = int(max(rec.max(), rel.indices.max() if rel.indices.size else 0)) + 1
    rows = np.repeat(np.arange(len(rel), dtype=np.int64), rel.counts())
    rel_keys = np.sort(rows * width + rel.indices)
    rec_keys = np.arange(rec.shape[0], dtype=np.int64)[:, None] * width + rec
    if rel_keys.size == 0:
        return np.zeros(rec.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(rel_keys, rec_keys), rel_keys.size - 1)
    return (rel_keys[pos] == rec_keys) & (rec >= 0)


def topn_per_user(
    recommended: Any, relevant: Relevant | Sequence[Any], k: int | None = None
) -> dict[str, np.ndarray]:
    """Per-row precision, recall, NDCG and hit at ``k`` (NaN for rows with no relevant item).

    Returns
    -------
    dict with arrays ``precision``, ``recall``, ``ndcg``, ``hit`` of shape (n_rows,) and
    ``n_relevant`` (:math:`|T_r|`).
    """
    rec, k = _recommended(recommended, k)
    rel = as_relevant(relevant)
    hits = _hits(rec, rel)
    n_rel = rel.counts()
    valid = n_rel > 0
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.concatenate([[0.0], np.cumsum(discount)])[np.minimum(n_rel, k)]
    n_hits = hits.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {
            "precision": n_hits / k,
            "recall": n_hits / n_rel,
            "ndcg": (hits * discount).sum(axis=1) / ideal,
            "hit": (n_hits > 0).astype(np.float64),
        }
    for name in out:
        out[name] = np.where(valid, out[name], np.nan)
    out["n_relevant"] = n_rel
    return out


def _mean_over_valid(values: np.ndarray) -> float:
    valid = ~np.isnan(values)
    if not valid.any():
        raise DataError(
            "no user has a relevant item, so top-N metrics are undefined "
            "(lower the relevance threshold or use more test data)"
        )
    return float(values[valid].mean())


RelevantLike = Relevant | Sequence[Any]


def precision_at_k(recommended: Any, relevant: RelevantLike, k: int | None = None) -> float:
    """Mean over users with relevant items of :math:`|\\text{top-}k \\cap T_r| / k`."""
    return _mean_over_valid(topn_per_user(recommended, relevant, k)["precision"])


def recall_at_k(recommended: Any, relevant: RelevantLike, k: int | None = None) -> float:
    """Mean over users with relevant items of :math:`|\\text{top-}k \\cap T_r| / |T_r|`."""
    return _mean_over_valid(topn_per_user(recommended, relevant, k)["recall"])


def ndcg_at_k(recommended: Any, relevant: RelevantLike, k: int | None = None) -> float:
    """Mean NDCG@k with binary gains and a log2 discount (see the module docstring)."""
    return _mean_over_valid(topn_per_user(recommended, relevant, k)["ndcg"])


def hit_rate_at_k(recommended: Any, relevant: RelevantLike, k: int | None = None) -> float:
    """Fraction of users with relevant items who get at least one of them in their top-k."""
    return _mean_over_valid(topn_per_user(recommended, relevant, k)["hit"])


def catalogue_coverage(recommended: Any, n_items: int, k: int | None = None) -> float:
    """Distinct items recommended (first ``k`` columns, all rows) divided by ``n_items``."""
    rec, _ = _recommended(recommended, k)
    if isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer)) or n_items < 1:
        raise DataError(f"n_items must be a positive integer (the catalogue size), got {n_items!r}")
    if rec.max() >= n_items:
        raise DataError(
            f"recommended item index {int(rec.max())} is outside a catalogue of {n_items}"
        )
    shown = np.zeros(int(n_items), dtype=bool)
    shown[rec[rec >= 0]] = True
    return float(shown.mean())


def topn_metrics(
    recommended: Any,
    relevant: Relevant | Sequence[Any],
    k: int | None = None,
    n_items: int | None = None,
) -> dict[str, float]:
    """All top-N metrics at once.

    Parameters
    ----------
    recommended : int array, shape (n_rows, K)
        Item indices best first, ``-1`` padding.
    relevant : Relevant or list of arrays
        Relevant item indices of each row (aligned with ``recommended``).
    k : int, optional
        Cut-off (default ``K``).
    n_items : int, optional
        Catalogue size for coverage (default ``relevant.n_items``; coverage is left out when
        neither is known).

    Returns
    -------
    dict
        ``precision``, ``recall``, ``ndcg``, ``hit_rate`` (means over rows with relevant
        items), ``coverage``, ``k``, ``n_users`` (rows averaged) and ``n_skipped`` (rows
        without relevant items).
    """
    rel = as_relevant(relevant)
    per = topn_per_user(recommended, rel, k)
    k_used = int(k if k is not None else np.asarray(recommended).shape[1])
    out: dict[str, float] = {
        "precision": _mean_over_valid(per["precision"]),
        "recall": _mean_over_valid(per["recall"]),
        "ndcg": _mean_over_valid(per["ndcg"]),
        "hit_rate": _mean_over_valid(per["hit"]),
    }
    catalogue = n_items if n_items is not None else rel.n_items
    if catalogue is not None:
        out["coverage"] = catalogue_coverage(recommended, int(catalogue), k_used)
    n_valid = int((per["n_relevant"] > 0).sum())
    out.update(k=k_used, n_users=n_valid, n_skipped=len(rel) - n_valid)
    return out
