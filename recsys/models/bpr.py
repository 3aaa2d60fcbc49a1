r"""Bayesian personalised ranking (BPR, Rendle et al. 2009): who rates what, by per-triple SGD.

BPR learns a ranking, not ratings: :math:`x_{ui} = b_i + p_u \cdot q_i` orders the items by how
likely user ``u`` is to rate them. Its top-N lists (``recommend``, which ranks by this
relevance by default) are what it is for. The hot loop lives in :mod:`recsys.models._bpr_sgd`.

What ``predict`` means for a ranking model: ``x_ui`` has no rating scale, so BPR also keeps a
small *rating part*, the regularised user and item biases ``mu + b_u + b_i`` of
:class:`~recsys.models.baseline.BiasBaseline` fitted in closed form on the same ratings.
``predict`` returns that rating part's prediction (on the rating scale, clipped), so BPR fits
every place a rating model goes (evaluation, RMSE, the contract), and
``recommend(rank_by="rating")`` ranks by it; ``rank_by="relevance"`` (the default for BPR)
ranks by ``x_ui + beta z_ui`` (:data:`RATING_WEIGHT`): the chance the user rates the item
times a tempered preference for its predicted rating, as :mod:`recsys.models.relevance` does
for rating models.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from recsys import metrics
from recsys.data.ratings import Ratings
from recsys.errors import DivergenceError, RecsysError
from recsys.models import _checks as checks
from recsys.models._bpr_sgd import bpr_epoch
from recsys.models.base import SELECTION_EPOCHS_FACTOR, SELECTION_PATIENCE, Estimator
from recsys.models.io import state_array, state_ints
from recsys.models.popularity import RatingPart, rating_biases
from recsys.models.progress import FitProgress

__all__ = ["BPR"]

logger = logging.getLogger(__name__)

RATING_WEIGHT = 0.5
"""Weight of the rating part ``z`` (model units) added to ``x_ui`` for the ranking: ``x_ui`` is
BPR's log-odds of a rating, so ``x_ui + beta z`` ranks by the chance of a rating times
``exp(beta z)``, as :mod:`recsys.models.relevance` does for rating models. Chosen on
validation carves of the bundled data's and ML-100k ``u1``'s training sides (0, 0.5, 1:
0.5 raised NDCG@10 on both, keeping 9-10x the distinct items of the popularity ranking)."""

VALID_USERS, VALID_K = 1000, 10
"""Validation NDCG@10 is measured on at most this many users (a seeded sample)."""


class BPR(RatingPart, Estimator):
    r"""Bayesian personalised ranking by per-triple SGD, with a bias rating part.

    Relevance :math:`x_{ui} = b_i + p_u \cdot q_i`. Each epoch draws, for every training rating
    ``(u, i)`` in a fresh random order, an item ``j`` that ``u`` did not rate (uniformly among
    the items with training ratings) and takes one ascent step on
    :math:`\ln\sigma(x_{ui} - x_{uj}) - \tfrac{\lambda}{2}(\|p_u\|^2 + \|q_i\|^2 + \|q_j\|^2)
    - \tfrac{\lambda_b}{2}(b_i^2 + b_j^2)`; with :math:`g = \sigma(x_{uj} - x_{ui})`:

    .. math::
        p_u \mathrel{+}= \eta (g (q_i - q_j) - \lambda p_u), \quad
        q_i \mathrel{+}= \eta (g p_u - \lambda q_i), \quad
        q_j \mathrel{+}= \eta (-g p_u - \lambda q_j), \quad
        b_i \mathrel{+}= \eta (g - \lambda_b b_i), \quad
        b_j \mathrel{+}= \eta (-g - \lambda_b b_j)

    from the old values, the step decaying per epoch ``t`` as :math:`\eta_t = \eta/(1 + d t)`.
    Only who rated what is learned, so the relevance is scale-free.

    ``predict`` returns the *rating part*, ``mu + b_u + b_i`` (regularised biases fitted in
    closed form, as :class:`~recsys.models.baseline.BiasBaseline`): BPR has no rating of its
    own to offer, and a bias prediction is the honest one (see the module docstring).

    Parameters
    ----------
    n_factors : int
        Length of ``p_u`` and ``q_i``.
    n_epochs : int
        Epochs (the most, with ``patience``); one epoch draws one triple per training rating.
    lr : float
        Step size ``eta``.
    lr_decay : float
        ``d`` in ``eta_t = eta / (1 + d t)``.
    reg : float
        ``lambda`` of the factors.
    reg_bias : float
        ``lambda_b`` of the item relevance biases.
    init_std : float
        Factors start as ``N(0, init_std^2)``, biases at 0.
    patience : int or None
        Early stopping on the validation NDCG@10 (held-out rated items as the relevant ones,
        training items excluded; up to 1,000 sampled users): stop when it has not improved
        for this many epochs and keep the best epoch. Without a validation set, ``valid_size``
        of the training ratings are carved out for it. None runs every epoch.
    valid_size : float
        Share of the training ratings carved out for early stopping without a validation set.
    random_state : int or None
        Seed of the initialisation, the order, the negatives and the carve.
    verbose : bool
        Log each epoch (logger ``recsys.models.bpr``, level INFO).

    Attributes
    ----------
    user_factors_, item_factors_ : ndarray of float32, (n_users, k) / (n_items, k)
    item_relevance_bias_ : ndarray of float32, (n_items,)
        ``b_i`` of ``x_ui``.
    user_bias_, item_bias_ : ndarray of float32
        The rating part's biases, in model units (:mod:`recsys.models.scaling`).
    history_ : dict
        ``"train_loss"`` (mean ``-ln sigma(x_uij)`` of the epoch's triples) and, with a
        validation set, ``"valid_ndcg"`` and ``"valid_rmse"`` (the rating part's, constant).
    n_epochs_, best_epoch_ : int

    Raises
    ------
    DivergenceError
        A parameter became NaN/inf (lower ``lr``, raise ``reg``).
    """

    default_rank_by = "relevance"

    def __init__(
        self,
        n_factors: int = 64,
        n_epochs: int = 60,
        lr: float = 0.05,
        lr_decay: float = 0.0,
        reg: float = 0.01,
        reg_bias: float = 0.01,
        init_std: float = 0.1,
        patience: int | None = None,
        valid_size: float = 0.1,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr = lr
        self.lr_decay = lr_decay
        self.reg = reg
        self.reg_bias = reg_bias
        self.init_std = init_std
        self.patience = patience
        self.valid_size = valid_size
        self.random_state = random_state
        self.verbose = verbose

    def _validate_params(self) -> None:
        """Check every setting's type and range (one-line ParameterError naming it)."""
        owner = type(self).__name__
        checks.integer(owner, "n_factors", self.n_factors, 1, 100_000)
        checks.integer(owner, "n_epochs", self.n_epochs, 1)
        checks.number(owner, "lr", self.lr, 0.0, strict=True)
        for name in ("lr_decay", "reg", "reg_bias", "init_std"):
            checks.number(owner, name, getattr(self, name), 0.0)
        checks.patience(owner, self.patience)
        checks.number(owner, "valid_size", self.valid_size, 0.0, strict=True, high=1.0,
                      high_strict=True)
        checks.seed(owner, "random_state", self.random_state)
        checks.flag(owner, "verbose", self.verbose)

    # ------------------------------------------------------------------ fitting
    def _fit(self, ratings: Ratings, validation: Ratings | None,
             progress: FitProgress) -> None:
        """Learn the rating part in closed form, then the relevance by per-triple SGD (see
        the class docstring); ``validation`` drives early stopping by its NDCG@10."""
        from recsys.models._bookkeeping import seen_items

        rng = np.random.default_rng(self.random_state)
        patience = int(self.patience or 0)
        train = ratings
        if patience and validation is None:
            carve = rng.random(len(ratings)) < float(self.valid_size)
            if carve.all() or not carve.any():
                raise RecsysError(
                    f"valid_size={self.valid_size} leaves no training or no validation ratings "
                    f"out of {len(ratings)}: change valid_size or pass a validation set")
            train, validation = ratings.subset(~carve), ratings.subset(carve)
        n_users, n_items, k = ratings.n_users, ratings.n_items, int(self.n_factors)
        self.user_bias_, self.item_bias_ = rating_biases(
            ratings.users, ratings.items, ratings.ratings - self.model_mean_, n_users, n_items)
        users = np.ascontiguousarray(train.users, dtype=np.int32)
        items = np.ascontiguousarray(train.items, dtype=np.int32)
        indptr, seen = seen_items(train.users, train.items, n_users, n_items)
        indptr = np.ascontiguousarray(indptr, dtype=np.int64)
        seen = np.ascontiguousarray(seen, dtype=np.int32)
        candidates = np.flatnonzero(np.bincount(train.items, minlength=n_items) > 0)
        candidates = candidates.astype(np.int32)
        P = rng.standard_normal((n_users, k), dtype=np.float32) * np.float32(self.init_std)
        Q = rng.standard_normal((n_items, k), dtype=np.float32) * np.float32(self.init_std)
        b = np.zeros(n_items, dtype=np.float32)
        self.user_factors_, self.item_factors_, self.item_relevance_bias_ = P, Q, b
        check = None if validation is None else self._validation_check(
            validation, indptr, seen, rng)
        history: dict[str, list[float]] = {"train_loss": []}
        if check is not None:
            history["valid_ndcg"], history["valid_rmse"] = [], []
        self.history_ = history
        best = (-math.inf, -1, None)
        n_run = 0
        for epoch in range(int(self.n_epochs)):
            lr = np.float32(self.lr / (1.0 + float(self.lr_decay) * epoch))
            total, done = bpr_epoch(users, items, rng.permutation(len(users)), indptr, seen,
                                    candidates, P, Q, b, lr, np.float32(self.reg),
                                    np.float32(self.reg_bias), int(rng.integers(0, 2**31 - 1)))
            n_run = epoch + 1
            if not (math.isfinite(total) and np.isfinite(P.sum()) and np.isfinite(Q.sum())
                    and np.isfinite(b.sum())):
                raise DivergenceError(
                    f"BPR diverged at epoch {epoch + 1} (a parameter became NaN/inf): lower "
                    f"lr (now {self.lr:g}) or raise reg (now {self.reg:g})")
            history["train_loss"].append(-total / max(done, 1))
            if check is not None:
                history["valid_ndcg"].append(check())
                history["valid_rmse"].append(self._valid_rmse(validation))
                if history["valid_ndcg"][-1] > best[0] + 1e-6:
                    best = (history["valid_ndcg"][-1], epoch,
                            (P.copy(), Q.copy(), b.copy()) if patience else None)
            if self.verbose:
                logger.info("BPR epoch %d: %s", epoch + 1,
                            ", ".join(f"{n} {v[-1]:.4f}" for n, v in history.items()))
            progress.epoch_done(epoch, history)
            if patience and epoch - best[1] >= patience:
                break
        self.n_epochs_, self.best_epoch_ = n_run, n_run - 1
        if patience and best[2] is not None:
            P, Q, b = best[2]
            self.best_epoch_ = best[1]
        self.user_factors_, self.item_factors_, self.item_relevance_bias_ = P, Q, b

    def _validation_check(self, validation: Ratings, indptr: np.ndarray, seen: np.ndarray,
                          rng: np.random.Generator):
        """``check()``: NDCG@10 of the held-out rated items (every rating relevant, the
        fitting part's items excluded) over up to :data:`VALID_USERS` sampled users."""
        users = np.unique(validation.users)
        if users.size > VALID_USERS:
            users = np.sort(rng.choice(users, VALID_USERS, replace=False))
        relevant = metrics.relevant_from_ratings(validation, None, users=users)
        starts, ends = indptr[users], indptr[users + 1]
        rows = np.repeat(np.arange(users.size), ends - starts)
        cols = np.concatenate([seen[s:e] for s, e in zip(starts, ends)]) if users.size \
            else np.zeros(0, dtype=np.int64)
        k = min(VALID_K, self.n_items_)

        def check() -> float:
            top = np.empty((users.size, k), dtype=np.int64)
            for start in range(0, users.size, 256):
                block = slice(start, start + 256)
                scores = self._relevance_of(users[block])
                mask = (rows >= start) & (rows < start + 256)
                scores[rows[mask] - start, cols[mask]] = -np.inf
                part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
                order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
                top[block] = np.take_along_axis(part, order, axis=1)
            return float(metrics.topn_metrics(top, relevant, k=k)["ndcg"])

        return check

    def _valid_rmse(self, validation: Ratings) -> float:
        z = self._predict_in_model_units(validation)
        return self.in_rating_units(float(np.sqrt(np.mean((validation.ratings - z) ** 2))))

    def _relevance_of(self, u: np.ndarray) -> np.ndarray:
        """``x_ui`` for every item, users ``u`` (``-1``: the item biases alone), float64."""
        u = np.asarray(u, dtype=np.int64)
        scores = (self.user_factors_[np.maximum(u, 0)] @ self.item_factors_.T).astype(
            np.float64)
        scores[u < 0] = 0.0
        scores += self.item_relevance_bias_[None, :]
        return scores

    # ------------------------------------------------------------------ choosing epochs
    def validation_settings(self) -> dict[str, Any]:
        return {"patience": SELECTION_PATIENCE if self.patience is None else self.patience,
                "n_epochs": SELECTION_EPOCHS_FACTOR * int(self.n_epochs)}

    def refit_settings(self) -> dict[str, Any]:
        valid = self.history_.get("valid_ndcg")
        if not valid:
            return {}
        return {"n_epochs": int(np.argmax(valid)) + 1, "patience": None}

    # ------------------------------------------------------------------ prediction
    def _relevance_scores(self, u: np.ndarray) -> np.ndarray:
        """What :mod:`recsys.models.topn` ranks by with ``rank_by="relevance"``: the learned
        ``x_ui`` plus :data:`RATING_WEIGHT` times the rating part (model units), for users
        ``u`` (``-1``: ``b_i`` and the item bias alone)."""
        return self._relevance_of(u) + RATING_WEIGHT * self._score_users(u)

    def _item_vectors(self) -> np.ndarray:
        return self.item_factors_

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, Any]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_,
                "item_relevance_bias": self.item_relevance_bias_,
                "user_bias": self.user_bias_, "item_bias": self.item_bias_,
                "epochs": np.array([self.n_epochs_, self.best_epoch_], dtype=np.int64)}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        k = int(self.n_factors)
        self.user_factors_ = state_array(arrays, "user_factors", (self.n_users_, k))
        self.item_factors_ = state_array(arrays, "item_factors", (self.n_items_, k))
        self.item_relevance_bias_ = state_array(arrays, "item_relevance_bias",
                                                (self.n_items_,))
        self.user_bias_ = state_array(arrays, "user_bias", (self.n_users_,))
        self.item_bias_ = state_array(arrays, "item_bias", (self.n_items_,))
        self.n_epochs_, self.best_epoch_ = state_ints(arrays, "epochs", 2)
