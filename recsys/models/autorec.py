"""I-AutoRec: an item-based autoencoder, a tanh network trained by hand-written backprop.

Each item ``i`` is one example: its column of training ratings ``x^(0) = r_i`` (one entry per
user, 0 where the user did not rate it). One tanh hidden layer and a linear output layer
reconstruct the column, and the error counts the *observed* entries only (Sedhain et al.,
"AutoRec", 2015). In the lecture's notation, with weights ``W^(1)`` of shape
``(n_users + 1, k)`` and ``W^(2)`` of shape ``(k + 1, n_users)`` (row 0 = bias weights)::

    s^(1) = W^(1)^T [1; r_i],   x^(1) = tanh(s^(1)),   x^(2) = W^(2)^T [1; x^(1)]   (linear)
    E = sum_i sum_{u in R(i)} (x_u^(2) - r_iu)^2  +  reg (||W^(1)||^2 + ||W^(2)||^2)

(bias rows are not regularised). Backpropagation over all items at once (full batch)::

    delta^(2)_iu = 2 (x_u^(2) - r_iu)  for u in R(i), 0 otherwise      (linear output)
    delta^(1)_i  = (1 - x^(1)_i^2) * (W^(2)[1:] delta^(2)_i)
    dE/dW^(1) = [1; R]^T delta^(1) + 2 reg W^(1),   dE/dW^(2) = [1; X^(1)]^T delta^(2) + 2 reg W^(2)

Only observed entries are ever touched, so each product costs ``nnz * k`` (numba kernels over
the sparse rating lists, in parallel), not ``n_items * n_users * k``. Steps are full-batch Adam.
The prediction for ``(u, i)`` is ``x_u^(2)`` of item ``i``'s training column; users or items
without training ratings fall back to ``mu + b_u + b_i`` (regularised biases).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
from numba import njit, prange

from recsys.data.ratings import Ratings
from recsys.errors import DivergenceError
from recsys.models import _checks as checks
from recsys.models.base import Estimator
from recsys.models.baseline import BiasBaseline
from recsys.models.foldin import UserProfile, ridge_user
from recsys.models.io import state_array, state_ints
from recsys.models.progress import FitProgress

__all__ = ["AutoRec", "autorec_gradient", "observed_lists"]

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------- sparse kernels
@njit(cache=True, parallel=True, fastmath=True)
def _rows_times(indptr, cols, vals, M, out):  # pragma: no cover - numba
    """``out[r] = sum_{k in row r} vals[k] * M[cols[k]]`` (sparse @ dense, row-parallel)."""
    width = M.shape[1]
    for r in prange(indptr.shape[0] - 1):
        acc = np.zeros(width, dtype=out.dtype)
        for k in range(indptr[r], indptr[r + 1]):
            v = vals[k]
            row = M[cols[k]]
            for j in range(width):
                acc[j] += v * row[j]
        out[r] = acc


@njit(cache=True, parallel=True, fastmath=True)
def _observed_outputs(indptr, cols, X1, W2T, b2, out):  # pragma: no cover - numba
    """``out[k] = b2[u] + X1[i] . W2T[u]`` for every observed entry ``k = (i, u)``."""
    width = X1.shape[1]
    for i in prange(indptr.shape[0] - 1):
        h = X1[i]
        for k in range(indptr[i], indptr[i + 1]):
            u = cols[k]
            w = W2T[u]
            total = 0.0
            for j in range(width):
                total += h[j] * w[j]
            out[k] = b2[u] + total


def observed_lists(ratings: Ratings) -> tuple[np.ndarray, ...]:
    """The observed entries item-major (CSR over items) and user-major (CSR over users).

    Returns ``i_ptr, i_cols, r_item, u_ptr, u_cols, r_user, user_to_item`` where item ``i``'s
    users are ``i_cols[i_ptr[i]:i_ptr[i+1]]`` with ratings ``r_item[...]`` (and the same over
    users), and ``user_to_item[k]`` is the item-major position of user-major entry ``k``.
    """
    n_users, n_items = ratings.n_users, ratings.n_items
    by_item = np.lexsort((ratings.users, ratings.items))
    i_ptr = np.concatenate([[0], np.cumsum(ratings.item_counts())]).astype(np.int64)
    i_cols = ratings.users[by_item].astype(np.int64)
    r_item = ratings.ratings[by_item]
    by_user = np.lexsort((ratings.items, ratings.users))
    u_ptr = np.concatenate([[0], np.cumsum(ratings.user_counts())]).astype(np.int64)
    u_cols = ratings.items[by_user].astype(np.int64)
    r_user = ratings.ratings[by_user]
    pos = np.empty(len(by_item), dtype=np.int64)
    pos[by_item] = np.arange(len(by_item))
    assert len(i_ptr) == n_items + 1 and len(u_ptr) == n_users + 1
    return i_ptr, i_cols, r_item, u_ptr, u_cols, r_user, pos[by_user]


def autorec_gradient(
    W1: np.ndarray, W2: np.ndarray, lists: tuple[np.ndarray, ...], reg: float
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Error ``E`` and gradients ``dE/dW^(1)``, ``dE/dW^(2)`` by backpropagation (full batch).

    Forward ``X^(1) = tanh([1; R] W^(1))``, outputs ``x^(2)_iu = [1; x^(1)_i] . W^(2)[:, u]``
    at observed ``(i, u)`` only; backward ``delta^(2)_iu = 2 (x^(2)_iu - r_iu)``,
    ``delta^(1) = (1 - X^(1)^2) * (delta^(2) W^(2)[1:]^T)``; gradients
    ``[1; R]^T delta^(1) + 2 reg W^(1)`` and ``[1; X^(1)]^T delta^(2) + 2 reg W^(2)`` (no
    decay on the bias rows). Arrays keep the dtype of ``W1``.

    Returns
    -------
    E : float, G1, G2 : arrays shaped like W1, W2, outputs : x^(2) at the observed entries
    (item-major order)
    """
    i_ptr, i_cols, r_item, u_ptr, u_cols, r_user, user_to_item = lists
    dt = W1.dtype
    r_item = r_item.astype(dt, copy=False)
    r_user = r_user.astype(dt, copy=False)
    n_items, k = len(i_ptr) - 1, W1.shape[1]
    n_users = len(u_ptr) - 1
    S1 = np.empty((n_items, k), dtype=dt)
    _rows_times(i_ptr, i_cols, r_item, np.ascontiguousarray(W1[1:]), S1)
    X1 = np.tanh(S1 + W1[0])
    W2T = np.ascontiguousarray(W2[1:].T)
    out = np.empty(len(r_item), dtype=dt)
    _observed_outputs(i_ptr, i_cols, X1, W2T, np.ascontiguousarray(W2[0]), out)
    diff = out - r_item
    delta2 = (2.0 * diff).astype(dt)
    back = np.empty((n_items, k), dtype=dt)
    _rows_times(i_ptr, i_cols, delta2, W2T, back)
    delta1 = ((1.0 - X1 * X1) * back).astype(dt)
    G1 = np.empty_like(W1)
    G1_rows = np.empty((n_users, k), dtype=dt)
    _rows_times(u_ptr, u_cols, r_user, delta1, G1_rows)
    G1[1:] = G1_rows + (2.0 * reg) * W1[1:]
    G1[0] = delta1.sum(axis=0)
    G2T = np.empty((n_users, k), dtype=dt)
    _rows_times(u_ptr, u_cols, np.ascontiguousarray(delta2[user_to_item]), X1, G2T)
    G2 = np.empty_like(W2)
    G2[1:] = G2T.T + (2.0 * reg) * W2[1:]
    G2[0] = np.bincount(i_cols, weights=delta2, minlength=n_users)
    E = float(np.sum(diff.astype(np.float64) ** 2)) + reg * float(
        np.sum(W1[1:].astype(np.float64) ** 2) + np.sum(W2[1:].astype(np.float64) ** 2))
    return E, G1, G2, out


class AutoRec(Estimator):
    """Item-based autoencoder (I-AutoRec) rating predictor.

    Parameters
    ----------
    n_hidden : int
        Hidden tanh units ``k``.
    reg : float
        L2 weight ``reg`` on the *summed* squared error (see the module docstring).
    n_steps : int
        Full-batch Adam steps; one step = one epoch over all items.
    lr : float
        Adam step size.
    beta1, beta2 : float
        Adam moment decay rates.
    eval_every : int
        Record train (and validation) RMSE every this many steps (and call ``callback``).
        A stop request (``should_stop``) is honoured after any step.
    patience : int or None
        Early stopping: with a validation set, stop when its RMSE has not improved for this
        many evaluations (``eval_every`` steps each) and keep the best weights; None runs every
        step.
    random_state : int or None
        Seed of the initial weights.
    verbose : bool
        Log progress (logger ``recsys.models.autorec``, level INFO).

    Attributes
    ----------
    weights1_, weights2_ : ndarray of float32
        ``W^(1)`` (``(n_users + 1, k)``) and ``W^(2)`` (``(k + 1, n_users)``), row 0 the bias
        weights.
    hidden_ : ndarray of float32, shape (n_items, k)
        Each item's hidden code ``x^(1)``.
    user_bias_, item_bias_ : ndarray of float32
        The fallback's biases (of a :class:`BiasBaseline` fitted on the same ratings).
    input_offset_ : float
        The network sees ratings in model units plus this offset, which puts the lowest rating
        at 1 so that an unobserved entry (0) stays below every rating (on 1-5 data: the stars
        themselves).
    """

    def __init__(
        self,
        n_hidden: int = 500,
        reg: float = 500.0,
        n_steps: int = 200,
        lr: float = 0.003,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eval_every: int = 50,
        patience: int | None = None,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.n_hidden = n_hidden
        self.reg = reg
        self.n_steps = n_steps
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.eval_every = eval_every
        self.patience = patience
        self.random_state = random_state
        self.verbose = verbose

    def _validate_params(self) -> None:
        owner = type(self).__name__
        checks.integer(owner, "n_hidden", self.n_hidden, 1, 100_000)
        checks.integer(owner, "n_steps", self.n_steps, 1)
        checks.integer(owner, "eval_every", self.eval_every, 1)
        checks.patience(owner, self.patience)
        checks.number(owner, "reg", self.reg, 0.0)
        checks.number(owner, "lr", self.lr, 0.0, strict=True)
        for name in ("beta1", "beta2"):
            checks.number(owner, name, getattr(self, name), 0.0, high=1.0, high_strict=True)
        checks.seed(owner, "random_state", self.random_state)
        checks.flag(owner, "verbose", self.verbose)

    # ------------------------------------------------------------------ training
    def _fit(self, ratings: Ratings, validation: Ratings | None,
             progress: FitProgress) -> None:
        """Learn ``W^(1)``, ``W^(2)`` by full-batch Adam on the observed-entry error.

        Raises :class:`DivergenceError` (and the model stays unfitted) when, at a recorded
        step, the weights hold NaN/inf or the training RMSE exceeds five times the rating
        range (``5 max(high - low, |high|, 1)``): a constant guess is never worse than the
        range, so such an error means the steps are exploding. An empty ``validation`` is
        ignored.
        """
        if validation is not None and len(validation) == 0:
            validation = None  # nothing to score: no valid_rmse
        biases = BiasBaseline().fit(ratings, should_stop=progress.should_stop)
        self.user_bias_, self.item_bias_ = biases.user_bias_, biases.item_bias_
        # the network's inputs and outputs are model units shifted so that the lowest rating
        # is 1: an unobserved entry (0) stays below every rating, as stars are on 1-5 data
        self.input_offset_ = 1.0 - self.model_scale_[0]
        n_u, k = self.n_users_, int(self.n_hidden)
        f = np.float32
        lists = observed_lists(dataclasses.replace(
            ratings, ratings=ratings.ratings + np.float32(self.input_offset_)))
        r_item = lists[2].astype(f)

        rng = np.random.default_rng(self.random_state)
        W1 = np.zeros((n_u + 1, k), dtype=f)
        W1[1:] = rng.normal(0, 1 / np.sqrt(n_u + 1), size=(n_u, k))
        W2 = np.zeros((k + 1, n_u), dtype=f)
        W2[1:] = rng.normal(0, 1 / np.sqrt(k + 1), size=(k, n_u))
        W2[0] = self.model_mean_ + self.input_offset_
        params = [W1, W2]
        m = [np.zeros_like(W) for W in params]
        v = [np.zeros_like(W) for W in params]
        b1, b2, lr, reg = float(self.beta1), float(self.beta2), float(self.lr), float(self.reg)
        self.history_ = {"step": [], "train_rmse": []}
        if validation is not None:
            self.history_["valid_rmse"] = []
        low, high = (x + self.input_offset_ for x in self.model_scale_)
        # a reconstruction error of several times the whole rating range means the steps
        # are exploding (a mean predictor's error is at most the range)
        limit = 5.0 * max(float(high - low), abs(float(high)), 1.0)
        patience = None if self.patience is None or validation is None else int(self.patience)
        best = (np.inf, 0, None)  # validation RMSE, step, weights
        for step in range(1, int(self.n_steps) + 1):
            with np.errstate(over="ignore", invalid="ignore"):
                _, G1, G2, out = autorec_gradient(W1, W2, lists, reg)
            # Adam
            c1 = 1.0 - b1**step
            c2 = 1.0 - b2**step
            with np.errstate(over="ignore", invalid="ignore"):
                for W, G, mm, vv in zip(params, (G1, G2), m, v):
                    mm *= b1
                    mm += (1 - b1) * G
                    vv *= b2
                    vv += (1 - b2) * (G * G)
                    W -= (lr / c1) * mm / (np.sqrt(vv / c2) + 1e-8)
            if step % int(self.eval_every) == 0 or step == int(self.n_steps):
                train = float(np.sqrt(np.mean((out.astype(np.float64) - r_item) ** 2)))
                if (not np.isfinite(train) or train > limit or not np.isfinite(W1).all()
                        or not np.isfinite(W2).all()):
                    what = ("weights became NaN/inf" if not np.isfinite(train) or
                            not np.isfinite(W1).all() or not np.isfinite(W2).all() else
                            f"training RMSE {self.in_rating_units(train):.3g} exceeds "
                            f"{self.in_rating_units(limit):g}")
                    raise DivergenceError(
                        f"AutoRec diverged at step {step} ({what}): lower lr (now {self.lr:g})"
                    )
                self._finish(W1, W2, lists)
                self.history_["step"].append(step)
                self.history_["train_rmse"].append(self.in_rating_units(train))
                if validation is not None:
                    pred = self._predict_in_model_units(validation)
                    valid = float(np.sqrt(np.mean((pred - validation.ratings) ** 2)))
                    self.history_["valid_rmse"].append(self.in_rating_units(valid))
                    if valid < best[0] - 1e-9:
                        best = (valid, step, (W1.copy(), W2.copy()) if patience else None)
                if self.verbose:
                    line = ", ".join(f"{k} {v[-1]:.4f}" for k, v in self.history_.items()
                                     if k != "step")
                    logger.info("AutoRec step %d: %s", step, line)
                progress.epoch_done(len(self.history_["step"]) - 1, self.history_)
                evaluations_since_best = sum(1 for s in self.history_["step"] if s > best[1])
                if patience is not None and evaluations_since_best >= patience:
                    break
            else:
                progress.check_stop()
        self.n_steps_ = step
        self.best_step_ = best[1] if validation is not None else step
        if best[2] is not None:
            self._finish(*best[2], lists)

    def validation_settings(self) -> dict[str, Any]:
        """Early stopping for a fit that chooses the steps on a validation part: an
        evaluation every 10 steps (or ``eval_every`` if fewer), patience 3 evaluations unless
        ``patience`` is set."""
        return {"eval_every": min(int(self.eval_every), 10),
                "patience": 3 if self.patience is None else self.patience}

    def refit_settings(self) -> dict[str, Any]:
        """The steps the validation chose (the best evaluation), for a refit on all ratings."""
        if not self.history_.get("valid_rmse"):
            return {}
        return {"n_steps": int(self.best_step_), "patience": None}

    def _finish(self, W1, W2, lists) -> None:
        """Store the weights and each item's hidden code ``x^(1)`` (what prediction needs)."""
        i_ptr, i_cols, r_item = lists[0], lists[1], lists[2].astype(np.float32)
        S1 = np.empty((self.n_items_, W1.shape[1]), dtype=np.float32)
        _rows_times(i_ptr, i_cols, r_item, np.ascontiguousarray(W1[1:]), S1)
        self.hidden_ = np.tanh(S1 + W1[0]).astype(np.float32)
        self.weights1_ = W1.copy()
        self.weights2_ = W2.copy()

    # ------------------------------------------------------------------ prediction
    def _predict_indices(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """``x_u^(2)`` of item ``i`` (less the input offset); unknown user or item:
        ``mu + b_u + b_i``."""
        u = np.asarray(u, dtype=np.int64)
        i = np.asarray(i, dtype=np.int64)
        known = (u >= 0) & (i >= 0)
        uu, ii = np.maximum(u, 0), np.maximum(i, 0)
        bu = np.where(u >= 0, self.user_bias_[uu], 0.0)
        bi = np.where(i >= 0, self.item_bias_[ii], 0.0)
        pred = self.model_mean_ + bu + bi
        if known.any():
            pred = pred.astype(np.float64)
            ku, ki = uu[known], ii[known]
            net = np.empty(len(ku))
            for start in range(0, len(ku), 8192):  # bounded memory for long pair lists
                cu, ci = ku[start:start + 8192], ki[start:start + 8192]
                net[start:start + 8192] = np.einsum(
                    "nk,kn->n", self.hidden_[ci].astype(np.float64),
                    self.weights2_[1:, cu].astype(np.float64))
            pred[known] = net + self.weights2_[0, ku] - self.input_offset_
        return pred

    def _score_users(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=np.int64)
        uu = np.maximum(u, 0)
        scores = (self.hidden_ @ self.weights2_[1:, uu] + self.weights2_[0, uu]).T.astype(
            np.float64) - self.input_offset_
        fallback = self.model_mean_ + self.item_bias_[None, :].astype(np.float64)
        scores[u < 0] = np.broadcast_to(fallback, (int((u < 0).sum()), self.n_items_))
        return scores

    def _item_vectors(self) -> np.ndarray:
        return self.hidden_

    # ------------------------------------------------------------------ fold-in
    def _fold_in(self, items: np.ndarray, z: np.ndarray) -> UserProfile:
        r"""A new user's decoder column ``(w_0, w)`` against the fixed hidden codes ``h_i``
        of the items (what I-AutoRec makes of each item's training column):

        .. math:: \min_{w_0, w} \sum_{i \in R(u)} (z_{ui} + o - w_0 - w \cdot h_i)^2
                  + \lambda_b (w_0 - \mu - o)^2 + \lambda \|w\|^2

        with ``lambda = reg`` (the fit's weight decay on ``W^(2)``), ``o`` the input offset,
        and ``lambda_b`` the bias baseline's ``reg_user`` pulling the unregularised ``w_0``
        toward the mean (with one rating it would otherwise copy that rating everywhere).
        The user's own encoder weight stays 0: their ratings do not change the codes. The
        fallback bias ``b_u`` is the bias baseline's fold-in."""
        H = self.hidden_[items].astype(np.float64)
        reg_bias = float(BiasBaseline().reg_user)
        shift, w = ridge_user(H, z - self.model_mean_, float(self.reg), reg_bias)
        resid = z - self.model_mean_ - self.item_bias_[items].astype(np.float64)
        bias = float(resid.sum() / (reg_bias + len(z)))
        column = np.concatenate([[self.model_mean_ + self.input_offset_ + shift], w])
        return UserProfile(type(self).__name__, bias, column, items, z)

    def _score_profile(self, profile: UserProfile) -> np.ndarray:
        """``w_0 + H w - o`` over every item."""
        w0, w = profile.factors[0], profile.factors[1:]
        return self.hidden_.astype(np.float64) @ w + w0 - self.input_offset_

    def _state(self) -> dict[str, Any]:
        return {"weights1": self.weights1_, "weights2": self.weights2_, "hidden": self.hidden_,
                "user_bias": self.user_bias_, "item_bias": self.item_bias_,
                "input_offset": np.array(self.input_offset_, dtype=np.float64),
                "steps": np.array([self.n_steps_, self.best_step_], dtype=np.int64)}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        n_u, n_i, k = self.n_users_, self.n_items_, int(self.n_hidden)
        self.weights1_ = state_array(arrays, "weights1", (n_u + 1, k))
        self.weights2_ = state_array(arrays, "weights2", (k + 1, n_u))
        self.hidden_ = state_array(arrays, "hidden", (n_i, k))
        self.user_bias_ = state_array(arrays, "user_bias", (n_u,))
        self.item_bias_ = state_array(arrays, "item_bias", (n_i,))
        if "steps" in arrays:
            self.n_steps_, self.best_step_ = state_ints(arrays, "steps", 2, low=1)
        else:  # files before early stopping: every step ran
            self.n_steps_ = self.best_step_ = int(self.n_steps)
        # files before model units fed raw ratings: no offset
        self.input_offset_ = float(state_array(arrays, "input_offset", (), np.float64)) \
            if "input_offset" in arrays else 0.0
