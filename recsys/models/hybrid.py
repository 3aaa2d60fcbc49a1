r"""The hybrid: a tanh network that blends matrix factorisation and an autoencoder.

Netflix-Prize blending. Two different views of the ratings are learned first:

* :class:`~recsys.models.mf.MatrixFactorization` (``mu + b_u + b_i + p_u . q_i``, per-rating
  SGD), and
* :class:`~recsys.models.autorec.AutoRec` (I-AutoRec: each item's rating column through one
  tanh hidden layer).

A small tanh network (:class:`~recsys.models.mlp.MLP`, hand-written backprop, per-example SGD)
then learns how to combine them for each (user, item) pair. Its input ``x^(0)`` holds the two
base predictions, MF's biases ``b_u, b_i``, ``log(1 + n_u)``, ``log(1 + n_i)`` (how much is known
about the user and the item), side information from :mod:`recsys.features` (genres, year; age,
gender, occupation where the data set has them) and, optionally, ``p_u``, ``q_i`` and
``p_u * q_i``. Inputs are standardised with training statistics only. The network predicts the
correction to the plain average of the base predictions::

    r_hat = base + c * x^(L),     base = (r_hat_MF + r_hat_AutoRec) / 2

with ``c = 1`` for a linear output unit and ``c = high - low`` of the rating scale for a tanh
output (whose targets ``(r - base) / c`` then lie in ``[-1, 1]``), all in model units
(:mod:`recsys.models.scaling`; the base models are fitted on the hybrid's model units).

Leakage guard. The network must see base predictions as they will be at test time: made by
models that did *not* see the rating. So the training ratings are cut into ``n_folds`` parts;
for each part, MF and AutoRec are fitted on the other parts and predict it (out-of-fold
predictions); the network is trained on those. MF and AutoRec are then refitted on all the
training ratings for prediction. No feature is computed from the rating being predicted
(counts say *that* a rating exists, not its value).

Fallback: a pair with an unknown user or item is predicted by the full MF model's fallback
(``mu + b_i``, ``mu + b_u`` or ``mu``).

The base models are used through their public API only: built from their constructors, fitted
on a split of the hybrid's training data (so they share its id maps), asked for predictions by
index (:meth:`~recsys.models.base.Estimator.predict_indices`) and their learned biases and
factors read; in a model file each is stored whole (its own header and state) under ``mf/``
and ``ar/``.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from recsys.data.ratings import Ratings
from recsys.errors import DataError, DivergenceError
from recsys.features import Standardizer, item_features, log_counts, user_features
from recsys.models import _checks as checks
from recsys.models.autorec import AutoRec
from recsys.models.base import SELECTION_PATIENCE, Estimator
from recsys.models.io import model_from_arrays, state_array
from recsys.models.mf import MatrixFactorization
from recsys.models.mlp import MLP
from recsys.models.progress import FitProgress

__all__ = ["HybridRecommender"]

logger = logging.getLogger(__name__)


class HybridRecommender(Estimator):
    """MF + I-AutoRec blended by a tanh network trained on out-of-fold predictions.

    Parameters
    ----------
    hidden : tuple of int
        Hidden layer sizes of the blending network.
    n_epochs, lr, lr_decay, weight_decay, batch_size : network training (see :class:`MLP`).
    output : {"linear", "tanh"}
        Output unit of the network.
    patience : int or None
        Early stopping of the network (see :class:`MLP`; None runs every epoch), on
        ``validation`` if given, else on a ``valid_size`` fraction of the out-of-fold rows.
    valid_size : float
        That fraction (at least one row, never all of them).
    n_folds : int
        Folds for the out-of-fold base predictions (``n_folds + 1`` fits of each base model).
    mf_factors, mf_epochs, mf_lr, mf_reg : int, int, float, float or None
        MatrixFactorization's ``n_factors``, ``n_epochs``, ``lr`` (also ``lr_bias``), ``reg``;
        ``None`` keeps that model's own default, so the hybrid builds on the project's MF.
    use_autorec : bool
        Blend an I-AutoRec in (otherwise the network sees MF only).
    ar_hidden, ar_reg, ar_steps, ar_lr : AutoRec settings.
    base_patience : int or None
        With a validation set: the final MF and AutoRec stop early on it, after this many
        epochs (AutoRec: evaluations of 10 steps) without a better validation RMSE, and keep
        their best; :meth:`refit_settings` then reports the epochs they chose. None: they run
        ``mf_epochs`` / ``ar_steps``.
    use_side : bool
        Feed genres, year and user demographics.
    use_factors : bool
        Feed ``p_u``, ``q_i`` and ``p_u * q_i``. Off by default: each fold's factors live in
        their own arbitrarily rotated space, so per-dimension weights learned on out-of-fold
        rows do not transfer to the final model's factors.
    random_state : int or None
    verbose : bool
        Log progress (logger ``recsys.models.hybrid``, level INFO).

    A stop request (``should_stop`` of :meth:`fit`) is honoured after any epoch of any base
    model, out-of-fold fits included; ``callback`` follows the network's epochs.
    """

    def __init__(
        self,
        hidden: Sequence[int] = (32, 16),
        n_epochs: int = 20,
        lr: float = 0.002,
        lr_decay: float = 0.1,
        weight_decay: float = 1e-5,
        batch_size: int = 1,
        output: str = "linear",
        patience: int | None = 2,
        valid_size: float = 0.1,
        n_folds: int = 3,
        mf_factors: int | None = None,
        mf_epochs: int | None = None,
        mf_lr: float | None = None,
        mf_reg: float | None = None,
        use_autorec: bool = True,
        ar_hidden: int = 500,
        ar_reg: float = 500.0,
        ar_steps: int = 200,
        ar_lr: float = 0.003,
        base_patience: int | None = None,
        use_side: bool = True,
        use_factors: bool = False,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.hidden = hidden
        self.n_epochs = n_epochs
        self.lr = lr
        self.lr_decay = lr_decay
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.output = output
        self.patience = patience
        self.valid_size = valid_size
        self.n_folds = n_folds
        self.mf_factors = mf_factors
        self.mf_epochs = mf_epochs
        self.mf_lr = mf_lr
        self.mf_reg = mf_reg
        self.use_autorec = use_autorec
        self.ar_hidden = ar_hidden
        self.ar_reg = ar_reg
        self.ar_steps = ar_steps
        self.ar_lr = ar_lr
        self.base_patience = base_patience
        self.use_side = use_side
        self.use_factors = use_factors
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ sub-models
    def _new_mf(self, seed: int | None) -> MatrixFactorization:
        """The factor model; settings left at ``None`` take MatrixFactorization's defaults."""
        given = {"n_factors": self.mf_factors, "n_epochs": self.mf_epochs, "lr": self.mf_lr,
                 "reg": self.mf_reg}
        params = {k: v for k, v in given.items() if v is not None}
        if self.mf_lr is not None:
            params["lr_bias"] = float(self.mf_lr)
        return MatrixFactorization(random_state=seed, **params)

    def _new_ar(self, seed: int | None) -> AutoRec:
        return AutoRec(
            n_hidden=int(self.ar_hidden), reg=float(self.ar_reg), n_steps=int(self.ar_steps),
            lr=float(self.ar_lr), eval_every=int(self.ar_steps), random_state=seed,
        )

    def _validate_params(self) -> None:
        """Check every setting's type and range (one-line ParameterError naming it)."""
        owner = type(self).__name__
        checks.layer_sizes(owner, "hidden", self.hidden)
        checks.integer(owner, "n_epochs", self.n_epochs, 1)
        checks.number(owner, "lr", self.lr, 0.0, strict=True)
        checks.number(owner, "lr_decay", self.lr_decay, 0.0)
        checks.number(owner, "weight_decay", self.weight_decay, 0.0)
        checks.integer(owner, "batch_size", self.batch_size, 1)
        checks.choice(owner, "output", self.output, ("linear", "tanh"))
        checks.patience(owner, self.patience)
        checks.number(owner, "valid_size", self.valid_size, 0.0, strict=True, high=1.0,
                      high_strict=True)
        checks.integer(owner, "n_folds", self.n_folds, 2, 100)
        if self.mf_factors is not None:
            checks.integer(owner, "mf_factors", self.mf_factors, 1, 100_000)
        if self.mf_epochs is not None:
            checks.integer(owner, "mf_epochs", self.mf_epochs, 1)
        if self.mf_lr is not None:
            checks.number(owner, "mf_lr", self.mf_lr, 0.0, strict=True)
        if self.mf_reg is not None:
            checks.number(owner, "mf_reg", self.mf_reg, 0.0)
        for name in ("use_autorec", "use_side", "use_factors", "verbose"):
            checks.flag(owner, name, getattr(self, name))
        checks.integer(owner, "ar_hidden", self.ar_hidden, 1, 100_000)
        checks.number(owner, "ar_reg", self.ar_reg, 0.0)
        checks.integer(owner, "ar_steps", self.ar_steps, 1)
        checks.number(owner, "ar_lr", self.ar_lr, 0.0, strict=True)
        checks.patience(owner, self.base_patience, "base_patience")
        checks.seed(owner, "random_state", self.random_state)

    def _fit_base(self, model: Estimator, ratings: Ratings, progress: FitProgress,
                  validation: Ratings | None = None) -> Estimator:
        """Fit a base model (a stop request honoured after each of its epochs; with
        ``validation`` and ``base_patience``, early stopping on it); its divergence is
        reported with the hybrid's setting names."""
        if validation is not None and len(validation) and self.base_patience is not None:
            early = model.validation_settings()
            early["patience"] = int(self.base_patience)
            model = model.set_params(**early)
        else:
            validation = None
        try:
            return model.fit(ratings, validation=validation, should_stop=progress.should_stop)
        except DivergenceError:
            if isinstance(model, MatrixFactorization):
                advice = (f"its matrix factorisation diverged: lower mf_lr (now {model.lr:g}) "
                          f"or raise mf_reg (now {model.reg:g})")
            else:
                advice = f"its autoencoder diverged: lower ar_lr (now {model.lr:g})"
            raise DivergenceError(f"{type(self).__name__}: {advice}") from None

    def _log(self, message: str) -> None:
        if self.verbose:
            logger.info("HybridRecommender: %s", message)

    # ------------------------------------------------------------------ features
    def _target_scale(self) -> float:
        low, high = self.model_scale_
        return float(high - low) if self.output == "tanh" else 1.0

    def _raw_features(
        self, mf: MatrixFactorization, ar: AutoRec | None, u: np.ndarray, i: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Unstandardised network input for pairs of indices and the base prediction
        ``base`` (meaningful for pairs whose user and item the base models know)."""
        mf_pred = mf.predict_indices(u, i)
        cols = [mf_pred]
        base = mf_pred
        if ar is not None:
            ar_pred = ar.predict_indices(u, i)
            cols.append(ar_pred)
            base = 0.5 * (mf_pred + ar_pred)
        cols += [mf.user_bias_[u], mf.item_bias_[i], self.user_logn_[u], self.item_logn_[i]]
        blocks = [np.column_stack(cols)]
        if self.use_side:
            blocks += [self.user_side_[u], self.item_side_[i]]
        if self.use_factors:
            p, q = mf.user_factors_[u], mf.item_factors_[i]
            blocks += [p, q, p * q]
        return np.hstack(blocks).astype(np.float64), base

    def _feature_names(self) -> list[str]:
        names = ["mf_pred"] + (["autorec_pred"] if self.use_autorec else [])
        names += ["b_u", "b_i", "log_n_u", "log_n_i"]
        if self.use_side:
            names += self.user_side_names_ + self.item_side_names_
        if self.use_factors:
            k = int(self.mf_.n_factors)
            names += [f"p{j}" for j in range(k)] + [f"q{j}" for j in range(k)]
            names += [f"pq{j}" for j in range(k)]
        return names

    # ------------------------------------------------------------------ training
    def _fit(self, ratings: Ratings, validation: Ratings | None,
             progress: FitProgress) -> None:
        """Out-of-fold base predictions, final base models, then the blending network.

        ``history_`` holds per network epoch ``train_rmse`` (on the out-of-fold rows the
        network trains on) and ``valid_rmse`` (on the pairs of ``validation`` whose user and
        item have training ratings; when there are none, on a ``valid_size`` share of the
        out-of-fold rows, at least one row and never all of them).

        Raises
        ------
        DataError
            Fewer training ratings than ``n_folds`` (each fold needs one).
        DivergenceError
            A base model or the network diverged; the message names the setting to lower.
        """
        if len(ratings) < int(self.n_folds):  # each fold needs a rating (n_folds >= 2)
            raise DataError(
                f"{type(self).__name__} needs at least n_folds={int(self.n_folds)} training "
                f"ratings for its out-of-fold base predictions, got {len(ratings)}: use more "
                "data, lower n_folds, or a simpler model (mf, baseline)"
            )
        rng = np.random.default_rng(self.random_state)
        seeds = rng.integers(0, 2**31 - 1, size=2 * int(self.n_folds) + 3)
        self.user_logn_ = log_counts(self.user_counts_)
        self.item_logn_ = log_counts(self.item_counts_)
        self.user_side_, self.user_side_names_ = user_features(ratings)
        self.item_side_, self.item_side_names_ = item_features(ratings)

        # 1. out-of-fold base predictions and features for every training rating
        fold = rng.permutation(np.arange(len(ratings)) % int(self.n_folds))
        X, base = self._out_of_fold(ratings, fold, seeds, progress)

        # 2. the base models used for prediction, fitted on all training ratings
        self.mf_ = self._fit_base(self._new_mf(int(seeds[-3])), ratings, progress, validation)
        self.ar_ = (self._fit_base(self._new_ar(int(seeds[-2])), ratings, progress, validation)
                    if self.use_autorec else None)

        # 3. the blending network on standardised out-of-fold features
        self.scaler_ = Standardizer().fit(X)
        Xs = self.scaler_.transform(X)
        scale = self._target_scale()
        y = (ratings.ratings.astype(np.float64) - base) / scale
        if self.output == "tanh":
            y = np.clip(y, -1.0, 1.0)
        keep = None
        if validation is not None and len(validation):
            Xv, base_v, keep = self._features_for(validation.users, validation.items)
        if keep is not None and keep.any():
            Xv = self.scaler_.transform(Xv[keep])
            yv = (validation.ratings[keep].astype(np.float64) - base_v[keep]) / scale
            Xt, yt = Xs, y
        else:  # no validation, or none of its pairs known to the base models: carve rows
            carve = rng.random(len(y)) < float(self.valid_size)
            if not carve.any():  # tiny data: validate on one row, train on the others
                carve[rng.integers(len(y))] = True
            if carve.all():
                carve[rng.integers(len(y))] = False
            Xv, yv, Xt, yt = Xs[carve], y[carve], Xs[~carve], y[~carve]
        if self.output == "tanh":
            yv = np.clip(yv, -1.0, 1.0)
        self.history_ = {"train_rmse": [], "valid_rmse": []}

        def relay(epoch: int, history: dict) -> None:
            for name in ("train", "valid"):
                error = float(np.sqrt(history[f"{name}_mse"][-1])) * scale
                self.history_[f"{name}_rmse"].append(self.in_rating_units(error))
            self._log(f"network epoch {epoch + 1}: train_rmse {self.history_['train_rmse'][-1]:.4f}"
                      f", valid_rmse {self.history_['valid_rmse'][-1]:.4f}")
            progress.epoch_done(epoch, self.history_)

        net = MLP(
            hidden=tuple(int(h) for h in (self.hidden or ())), output=self.output,
            lr=float(self.lr), lr_decay=float(self.lr_decay),
            weight_decay=float(self.weight_decay), batch_size=int(self.batch_size),
            n_epochs=int(self.n_epochs),
            patience=None if self.patience is None else int(self.patience),
            random_state=int(seeds[-1]),
        )
        try:
            self.net_ = net.fit(Xt, yt, Xv, yv, callback=relay)
        except DivergenceError:
            raise DivergenceError(
                f"{type(self).__name__}: its blending network diverged: lower lr "
                f"(now {float(self.lr):g})") from None
        self.n_epochs_ = self.net_.n_epochs_

    def _out_of_fold(self, ratings: Ratings, fold: np.ndarray, seeds: np.ndarray,
                     progress: FitProgress | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Raw network input and base prediction of every training rating, each made by MF and
        AutoRec models fitted on the *other* folds (so no row's own rating is seen)."""
        k = int(self.n_folds)
        progress = progress or FitProgress()
        X = None
        base = np.empty(len(ratings))
        for f in range(k):
            rest, part = ratings.subset(fold != f), ratings.subset(fold == f)
            mf = self._fit_base(self._new_mf(int(seeds[2 * f])), rest, progress)
            ar = self._fit_base(self._new_ar(int(seeds[2 * f + 1])), rest, progress) \
                if self.use_autorec else None
            # a pair unknown to the fold's models is scored with MF's fallback and the
            # network sees zero biases: what a cold pair looks like
            feats, b = self._raw_features(mf, ar, part.users, part.items)
            cold_user = mf.user_counts_[part.users] == 0
            cold_item = mf.item_counts_[part.items] == 0
            cold = cold_user | cold_item
            if cold.any():
                fb = feats[cold, 0]  # MF's prediction, its fallback for these pairs
                n_base = 2 if ar is not None else 1
                feats[cold, :n_base] = fb[:, None]
                feats[cold_user, n_base] = 0.0  # b_u of an unknown user
                feats[cold_item, n_base + 1] = 0.0  # b_i of an unknown item
                b[cold] = fb
            if X is None:
                X = np.empty((len(ratings), feats.shape[1]))
            X[fold == f] = feats
            base[fold == f] = b
            if self.verbose:
                self._log(f"fold {f + 1}/{k}: out-of-fold RMSE "
                          f"{self.in_rating_units(np.sqrt(np.mean((b - part.ratings) ** 2))):.4f}")
        return X, base

    def _features_for(self, u: np.ndarray, i: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                     np.ndarray]:
        """Raw features and base predictions for pairs of indices; ``keep`` marks pairs where
        both user and item are known (the others use the fallback)."""
        u = np.asarray(u, dtype=np.int64)
        i = np.asarray(i, dtype=np.int64)
        keep = (u >= 0) & (i >= 0)
        keep &= self.user_counts_[np.maximum(u, 0)] > 0
        keep &= self.item_counts_[np.maximum(i, 0)] > 0
        X, base = self._raw_features(self.mf_, self.ar_, np.where(keep, u, 0),
                                     np.where(keep, i, 0))
        return X, base, keep

    # ------------------------------------------------------------------ choosing epochs
    def validation_settings(self) -> dict[str, Any]:
        """Early stopping of the network (``patience``, 2 if None) and of the final base
        models (``base_patience``, :data:`~recsys.models.base.SELECTION_PATIENCE` if None)."""
        return {"patience": 2 if self.patience is None else self.patience,
                "base_patience": (SELECTION_PATIENCE if self.base_patience is None
                                  else self.base_patience)}

    def refit_settings(self) -> dict[str, Any]:
        """The network's best epoch and the base models' chosen epochs, for a refit on all
        the ratings (no early stopping)."""
        valid = self.history_.get("valid_rmse")
        if not valid:
            return {}
        chosen: dict[str, Any] = {"n_epochs": int(np.argmin(valid)) + 1, "patience": None,
                                  "base_patience": None}
        if self.mf_.history_.get("valid_rmse"):
            chosen["mf_epochs"] = self.mf_.refit_settings()["n_epochs"]
        if self.ar_ is not None and self.ar_.history_.get("valid_rmse"):
            chosen["ar_steps"] = self.ar_.refit_settings()["n_steps"]
        return chosen

    # ------------------------------------------------------------------ prediction
    def _predict_indices(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """``base + c * network(x)`` for known pairs; MF's fallback for the others."""
        shape = np.shape(u)
        u = np.ravel(np.asarray(u, dtype=np.int64))
        i = np.ravel(np.asarray(i, dtype=np.int64))
        out = self.mf_.predict_indices(u, i, clip=False).ravel()
        keep = (u >= 0) & (i >= 0)
        if keep.any():
            X, base, _ = self._features_for(u[keep], i[keep])
            correction = self.net_.predict(self.scaler_.transform(X))
            out[keep] = base + self._target_scale() * np.asarray(correction, dtype=np.float64)
        return out.reshape(shape)

    def _item_vectors(self) -> np.ndarray:
        return self.mf_.item_factors_

    # ------------------------------------------------------------------ persistence
    def _header_extra(self) -> dict[str, Any]:
        return {
            "feature_names": self._feature_names(),
            "user_side_names": self.user_side_names_,
            "item_side_names": self.item_side_names_,
            "n_epochs_run": int(self.n_epochs_),
        }

    def _load_header_extra(self, extra: dict[str, Any]) -> None:
        self.hidden = tuple(int(h) for h in (self.hidden or ()))  # JSON stored a list
        names = {key: extra.get(key, []) for key in ("user_side_names", "item_side_names")}
        for key, value in names.items():
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"header field {key!r} must be a list of names")
        self.user_side_names_ = names["user_side_names"]
        self.item_side_names_ = names["item_side_names"]
        self.n_epochs_ = int(extra.get("n_epochs_run", 0))

    _BASES = (("mf_", "mf/", MatrixFactorization), ("ar_", "ar/", AutoRec))

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "scaler_mean": self.scaler_.mean_, "scaler_scale": self.scaler_.scale_,
            "user_side": self.user_side_, "item_side": self.item_side_,
            "user_logn": self.user_logn_, "item_logn": self.item_logn_,
        }
        for l, W in enumerate(self.net_.weights_, start=1):
            state[f"net_weights{l}"] = W
        state["net_target"] = np.array([self.net_.target_center_[0],
                                        self.net_.target_spread_[0]])
        # each base model whole, less the record of the training data it shares with the
        # hybrid (fitted on the same ratings): loading puts the hybrid's record back
        for attr, prefix, _ in self._BASES:
            model = getattr(self, attr)
            if model is not None:
                state.update({prefix + key: value for key, value in model.to_arrays().items()
                              if not key.startswith("common/")})
        return state

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        n_u, n_i = self.n_users_, self.n_items_
        self.user_side_ = state_array(arrays, "user_side", (n_u, len(self.user_side_names_)))
        self.item_side_ = state_array(arrays, "item_side", (n_i, len(self.item_side_names_)))
        self.user_logn_ = state_array(arrays, "user_logn", (n_u,))
        self.item_logn_ = state_array(arrays, "item_logn", (n_i,))
        if "mf/header" not in arrays and "mf_user_factors" in arrays:
            raise ValueError("a hybrid of model format 1, whose base models this recsys no "
                             "longer reads: fit it again")
        common = {f"common/{name}": getattr(self, name) for name in self._COMMON_ARRAYS}
        for attr, prefix, cls in self._BASES:
            setattr(self, attr, None)
            if cls is AutoRec and not self.use_autorec:
                continue
            base = {key[len(prefix):]: value for key, value in arrays.items()
                    if key.startswith(prefix)}
            model = model_from_arrays({**base, **common}, context=f"base model {prefix!r}")
            if not isinstance(model, cls):
                raise ValueError(f"base model {prefix!r} is a {type(model).__name__}, not a "
                                 f"{cls.__name__}")
            setattr(self, attr, model)
        mf = self.mf_
        # the network's input: the columns _raw_features builds
        d = (2 if self.use_autorec else 1) + 4
        if self.use_side:
            d += self.user_side_.shape[1] + self.item_side_.shape[1]
        if self.use_factors:
            d += 3 * mf.user_factors_.shape[1]
        mean = state_array(arrays, "scaler_mean", (d,), np.float64)
        scale = state_array(arrays, "scaler_scale", (d,), np.float64)
        if not (scale > 0).all():
            raise ValueError("array 'scaler_scale' holds values <= 0")
        self.scaler_ = Standardizer.from_arrays(mean, scale)
        sizes = (d, *self.hidden, 1)
        n_layers = sum(1 for key in arrays if key.startswith("net_weights"))
        if n_layers != len(sizes) - 1:
            raise ValueError(f"{n_layers} network weight arrays for {len(sizes) - 1} layers")
        weights = [state_array(arrays, f"net_weights{l}", (sizes[l - 1] + 1, sizes[l]),
                               np.float64) for l in range(1, len(sizes))]
        target = (state_array(arrays, "net_target", (2,), np.float64)
                  if "net_target" in arrays else np.array([0.0, 1.0]))
        if not target[1] > 0:
            raise ValueError("array 'net_target' holds a spread <= 0")
        self.net_ = MLP(hidden=self.hidden, output=self.output).set_weights(
            weights, target_center=target[0], target_spread=target[1])
