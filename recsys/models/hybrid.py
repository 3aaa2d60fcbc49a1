r"""The hybrid: a tanh network that blends the project's rating models.

Netflix-Prize blending. Different views of the ratings are learned first (the *base models*,
:mod:`recsys.models._blend_bases`; which ones is the setting ``bases``):

* :class:`~recsys.models.mf.MatrixFactorization` (``mu + b_u + b_i + p_u . q_i``, per-rating
  SGD), always;
* :class:`~recsys.models.autorec.AutoRec` (I-AutoRec: each item's rating column through one
  tanh hidden layer);
* :class:`~recsys.models.svdpp.SVDpp` (factors plus which items the user rated);
* :class:`~recsys.models.knn.KNNBaseline` (item neighbours on baseline residuals);
* :class:`~recsys.models.timebias.TimeAwareBaseline` (biases that drift with time), where the
  ratings have timestamps.

A small tanh network (:class:`~recsys.models.mlp.MLP`, hand-written backprop, per-example SGD;
``n_nets`` of them with different seeds, averaged, :mod:`recsys.models.ensemble`) then learns
how to combine them for each (user, item) pair. Its input ``x^(0)`` holds the base
predictions, MF's biases ``b_u, b_i``, ``log(1 + n_u)``, ``log(1 + n_i)`` (how much is known
about the user and the item), side information from :mod:`recsys.features` (genres, year; age,
gender, occupation where the data set has them) and, optionally, ``p_u``, ``q_i`` and
``p_u * q_i``. Inputs are standardised with training statistics only. The network predicts the
correction to the plain average of the base predictions::

    r_hat = base + c * x^(L),     base = mean of the base predictions

with ``c = 1`` for a linear output unit and ``c = high - low`` of the rating scale for a tanh
output (whose targets ``(r - base) / c`` then lie in ``[-1, 1]``), all in model units
(:mod:`recsys.models.scaling`; the base models are fitted on the hybrid's model units).

Leakage guard. The network must see base predictions as they will be at test time: made by
models that did *not* see the rating. So the training ratings are cut into ``n_folds`` parts;
for each part, every base model is fitted on the other parts and predicts it (out-of-fold
predictions, at the ratings' own times for time-aware bases); the network is trained on those.
The base models are then refitted on all the training ratings for prediction. No feature is
computed from the rating being predicted (counts say *that* a rating exists, not its value).

Fallback: a pair with an unknown user or item is predicted by the full MF model's fallback
(``mu + b_i``, ``mu + b_u`` or ``mu``).

The base models are used through their public API only: built from their constructors, fitted
on a split of the hybrid's training data (so they share its id maps), asked for predictions by
index (:meth:`~recsys.models.base.Estimator.predict_indices`) and MF's learned biases and
factors read; in a model file each is stored whole (its own header and state) under its prefix
(``mf/``, ``ar/``, ``svdpp/``, ...).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Mapping, Sequence

import numpy as np

from recsys.data.ratings import Ratings
from recsys.errors import DataError, DivergenceError
from recsys.features import Standardizer, item_features, log_counts, user_features
from recsys.models import _checks as checks
from recsys.models._blend_bases import base_class, bases_for, check_bases
from recsys.models._hybrid_files import HybridFiles
from recsys.models._hybrid_foldin import BlendFoldIn
from recsys.models.autorec import AutoRec
from recsys.models.base import SELECTION_PATIENCE, Estimator
from recsys.models.ensemble import NetworkEnsemble, member_seeds
from recsys.models.mf import MatrixFactorization
from recsys.models.mlp import MLP
from recsys.models.progress import FitProgress

__all__ = ["HybridRecommender"]

logger = logging.getLogger(__name__)


class HybridRecommender(BlendFoldIn, HybridFiles, Estimator):
    """Base models (MF, I-AutoRec, SVD++, kNN, time-aware biases) blended by a tanh network
    trained on their out-of-fold predictions.

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
    n_nets : int
        Blending networks that differ only in their seed, trained side by side and averaged
        (:class:`~recsys.models.ensemble.NetworkEnsemble`; early stopping watches the
        average). One network's RMSE varies by about 0.003 from seed to seed. On validation
        carves of ML-100k ``u1.base`` and of ml-latest-small's training side (two seeds each;
        early stopping on one half of the carve, scored on the other) four networks beat one
        by 0.0018 RMSE on average, eight by 0.0029 at twice the network's time.
    n_folds : int
        Folds for the out-of-fold base predictions (``n_folds + 1`` fits of each base model).
    bases : sequence of str or None
        The base models to blend, by name (``"mf"``, ``"autorec"``, ``"svdpp"``, ``"knn"``,
        ``"timebias"``; :mod:`recsys.models._blend_bases`); ``"mf"`` must be one of them.
        None blends every base the data allows (``"timebias"`` only with timestamps); the
        fitted ``bases_`` says which.
    base_params : dict or None
        Settings of the base models by name, e.g. ``{"svdpp": {"n_factors": 50}}``; a base
        not named keeps its own defaults (MF and AutoRec: the ``mf_*`` / ``ar_*`` settings
        below, which ``base_params`` overrides).
    mf_factors, mf_epochs, mf_lr, mf_reg : int, int, float, float or None
        MatrixFactorization's ``n_factors``, ``n_epochs``, ``lr`` (also ``lr_bias``), ``reg``;
        ``None`` keeps that model's own default, so the hybrid builds on the project's MF.
    ar_hidden, ar_reg, ar_steps, ar_lr : AutoRec settings.
    base_patience : int or None
        With a validation set: the final base models that have epochs stop early on it, after
        this many epochs (AutoRec: evaluations of 10 steps) without a better validation RMSE,
        and keep their best; :meth:`refit_settings` then reports the epochs they chose. None:
        they run ``mf_epochs``, ``ar_steps`` and their own ``n_epochs``.
    use_side : bool
        Feed genres, year and user demographics. Off by default: with five base models the
        side inputs cost accuracy on the validation carve of ML-100k ``u1.base`` (0.8807
        with, 0.8788 without, six bases; ``bench/blend_ablation.py --no-side``).
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
        n_nets: int = 4,
        n_folds: int = 3,
        mf_factors: int | None = None,
        mf_epochs: int | None = None,
        mf_lr: float | None = None,
        mf_reg: float | None = None,
        bases: Sequence[str] | None = None,
        base_params: Mapping[str, Mapping[str, Any]] | None = None,
        ar_hidden: int = 500,
        ar_reg: float = 500.0,
        ar_steps: int = 200,
        ar_lr: float = 0.003,
        base_patience: int | None = None,
        use_side: bool = False,
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
        self.n_nets = n_nets
        self.n_folds = n_folds
        self.mf_factors = mf_factors
        self.mf_epochs = mf_epochs
        self.mf_lr = mf_lr
        self.mf_reg = mf_reg
        self.bases = bases
        self.base_params = base_params
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
    def _new_base(self, name: str, seed: int | None) -> Estimator:
        """Base model ``name`` with its settings: MF's from ``mf_*``, AutoRec's from ``ar_*``
        (``None`` keeps the model's own default), then ``base_params[name]``."""
        cls = base_class(name)
        params: dict[str, Any] = {}
        if name == "mf":
            given = {"n_factors": self.mf_factors, "n_epochs": self.mf_epochs,
                     "lr": self.mf_lr, "reg": self.mf_reg}
            params = {k: v for k, v in given.items() if v is not None}
            if self.mf_lr is not None:
                params["lr_bias"] = float(self.mf_lr)
        elif name == "autorec":
            params = dict(n_hidden=int(self.ar_hidden), reg=float(self.ar_reg),
                          n_steps=int(self.ar_steps), lr=float(self.ar_lr),
                          eval_every=int(self.ar_steps))
        params.update((self.base_params or {}).get(name, {}))
        if "random_state" in cls.param_names():
            params.setdefault("random_state", seed)
        return cls(**params)

    def _new_network(self, seed: int | None = None) -> MLP:
        """One blending network with the hybrid's network settings."""
        return MLP(
            hidden=tuple(int(h) for h in (self.hidden or ())), output=self.output,
            lr=float(self.lr), lr_decay=float(self.lr_decay),
            weight_decay=float(self.weight_decay), batch_size=int(self.batch_size),
            n_epochs=int(self.n_epochs),
            patience=None if self.patience is None else int(self.patience),
            random_state=seed,
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
        checks.integer(owner, "n_nets", self.n_nets, 1, 64)
        if self.mf_factors is not None:
            checks.integer(owner, "mf_factors", self.mf_factors, 1, 100_000)
        if self.mf_epochs is not None:
            checks.integer(owner, "mf_epochs", self.mf_epochs, 1)
        if self.mf_lr is not None:
            checks.number(owner, "mf_lr", self.mf_lr, 0.0, strict=True)
        if self.mf_reg is not None:
            checks.number(owner, "mf_reg", self.mf_reg, 0.0)
        check_bases(owner, self.bases, self.base_params)
        for name in ("use_side", "use_factors", "verbose"):
            checks.flag(owner, name, getattr(self, name))
        checks.integer(owner, "ar_hidden", self.ar_hidden, 1, 100_000)
        checks.number(owner, "ar_reg", self.ar_reg, 0.0)
        checks.integer(owner, "ar_steps", self.ar_steps, 1)
        checks.number(owner, "ar_lr", self.ar_lr, 0.0, strict=True)
        checks.patience(owner, self.base_patience, "base_patience")
        checks.seed(owner, "random_state", self.random_state)

    def _fit_base(self, name: str, model: Estimator, ratings: Ratings, progress: FitProgress,
                  validation: Ratings | None = None) -> Estimator:
        """Fit base model ``name`` (a stop request honoured after each of its epochs; with
        ``validation`` and ``base_patience``, early stopping on it when the model has epochs);
        its divergence is reported with the hybrid's setting names."""
        early = model.validation_settings()
        if validation is not None and len(validation) and self.base_patience is not None \
                and early:
            early["patience"] = int(self.base_patience)
            model = model.set_params(**early)
        else:
            validation = None
        try:
            return model.fit(ratings, validation=validation, should_stop=progress.should_stop)
        except DivergenceError:
            if name == "mf":
                advice = (f"its matrix factorisation diverged: lower mf_lr (now {model.lr:g}) "
                          f"or raise mf_reg (now {model.reg:g})")
            elif name == "autorec":
                advice = f"its autoencoder diverged: lower ar_lr (now {model.lr:g})"
            else:
                advice = (f"its {name} base model diverged: lower its lr in "
                          f"base_params[{name!r}]")
            raise DivergenceError(f"{type(self).__name__}: {advice}") from None

    def _log(self, message: str) -> None:
        if self.verbose:
            logger.info("HybridRecommender: %s", message)

    @property
    def mf_(self) -> MatrixFactorization:
        """The fitted base MF (fallback, biases and factors of the blend)."""
        return self.base_models_["mf"]

    @property
    def ar_(self) -> AutoRec | None:
        """The fitted base AutoRec, or None when it is not blended."""
        return self.base_models_.get("autorec")

    # ------------------------------------------------------------------ features
    def _target_scale(self) -> float:
        low, high = self.model_scale_
        return float(high - low) if self.output == "tanh" else 1.0

    def _raw_features(self, models: Mapping[str, Estimator], u: np.ndarray, i: np.ndarray,
                      timestamps: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Unstandardised network input for pairs of indices (rated at ``timestamps``, None:
        unknown) and the base prediction ``base``, the mean of the base models' (meaningful
        for pairs whose user and item the base models know)."""
        preds = [models[name].predict_indices(u, i, timestamps=timestamps)
                 for name in self.bases_]
        mf = models["mf"]
        cols = preds + [mf.user_bias_[u], mf.item_bias_[i], self.user_logn_[u],
                        self.item_logn_[i]]
        blocks = [np.column_stack(cols)]
        if self.use_side:
            blocks += [self.user_side_[u], self.item_side_[i]]
        if self.use_factors:
            p, q = mf.user_factors_[u], mf.item_factors_[i]
            blocks += [p, q, p * q]
        return np.hstack(blocks).astype(np.float64), np.mean(preds, axis=0)

    def _feature_names(self) -> list[str]:
        names = [f"{name}_pred" for name in self.bases_]
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
        out-of-fold rows, at least one row and never all of them). ``stage_seconds_`` holds
        the wall time of each stage (out-of-fold fits, final base models, network).

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
        self.bases_ = bases_for(self.bases, ratings)
        n_bases = len(self.bases_)
        rng = np.random.default_rng(self.random_state)
        seeds = rng.integers(0, 2**31 - 1, size=n_bases * (int(self.n_folds) + 1) + 1)
        self.user_logn_ = log_counts(self.user_counts_)
        self.item_logn_ = log_counts(self.item_counts_)
        self.user_side_, self.user_side_names_ = user_features(ratings)
        self.item_side_, self.item_side_names_ = item_features(ratings)
        clock = time.perf_counter()
        stages: dict[str, float] = {}

        # 1. out-of-fold base predictions and features for every training rating
        fold = rng.permutation(np.arange(len(ratings)) % int(self.n_folds))
        X, base = self._out_of_fold(ratings, fold, seeds, progress)
        stages["out_of_fold"], clock = time.perf_counter() - clock, time.perf_counter()

        # 2. the base models used for prediction, fitted on all training ratings
        final_seeds = seeds[n_bases * int(self.n_folds):]
        self.base_models_ = {
            name: self._fit_base(name, self._new_base(name, int(final_seeds[b])), ratings,
                                 progress, validation)
            for b, name in enumerate(self.bases_)
        }
        stages["final_bases"], clock = time.perf_counter() - clock, time.perf_counter()

        # 3. the blending network on standardised out-of-fold features
        self.scaler_ = Standardizer().fit(X)
        Xs = self.scaler_.transform(X)
        scale = self._target_scale()
        y = (ratings.ratings.astype(np.float64) - base) / scale
        if self.output == "tanh":
            y = np.clip(y, -1.0, 1.0)
        keep = None
        if validation is not None and len(validation):
            Xv, base_v, keep = self._features_for(validation.users, validation.items,
                                                  validation.timestamps)
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

        net = NetworkEnsemble([self._new_network(seed)
                               for seed in member_seeds(int(seeds[-1]), int(self.n_nets))])
        try:
            self.net_ = net.fit(Xt, yt, Xv, yv, callback=relay)
        except DivergenceError:
            raise DivergenceError(
                f"{type(self).__name__}: its blending network diverged: lower lr "
                f"(now {float(self.lr):g})") from None
        stages["network"] = time.perf_counter() - clock
        self.stage_seconds_ = stages
        self.n_epochs_ = self.net_.n_epochs_

    def _out_of_fold(self, ratings: Ratings, fold: np.ndarray, seeds: np.ndarray,
                     progress: FitProgress | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Raw network input and base prediction of every training rating, each made by base
        models fitted on the *other* folds (so no row's own rating is seen)."""
        k = int(self.n_folds)
        progress = progress or FitProgress()
        n_bases = len(self.bases_)
        X = None
        base = np.empty(len(ratings))
        for f in range(k):
            rest, part = ratings.subset(fold != f), ratings.subset(fold == f)
            models = {name: self._fit_base(name, self._new_base(name, int(seeds[n_bases * f + b])),
                                           rest, progress)
                      for b, name in enumerate(self.bases_)}
            # a pair unknown to the fold's models is scored with MF's fallback by every base
            # column, and the network sees zero biases: what a cold pair looks like
            feats, b = self._raw_features(models, part.users, part.items, part.timestamps)
            mf = models["mf"]
            cold_user = mf.user_counts_[part.users] == 0
            cold_item = mf.item_counts_[part.items] == 0
            cold = cold_user | cold_item
            if cold.any():
                fb = feats[cold, 0]  # MF's prediction, its fallback for these pairs
                feats[cold, :n_bases] = fb[:, None]
                feats[cold_user, n_bases] = 0.0  # b_u of an unknown user
                feats[cold_item, n_bases + 1] = 0.0  # b_i of an unknown item
                b[cold] = fb
            if X is None:
                X = np.empty((len(ratings), feats.shape[1]))
            X[fold == f] = feats
            base[fold == f] = b
            if self.verbose:
                self._log(f"fold {f + 1}/{k}: out-of-fold RMSE "
                          f"{self.in_rating_units(np.sqrt(np.mean((b - part.ratings) ** 2))):.4f}")
        return X, base

    def _features_for(self, u: np.ndarray, i: np.ndarray, timestamps: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw features and base predictions for pairs of indices; ``keep`` marks pairs where
        both user and item are known (the others use the fallback)."""
        u = np.asarray(u, dtype=np.int64)
        i = np.asarray(i, dtype=np.int64)
        keep = (u >= 0) & (i >= 0)
        keep &= self.user_counts_[np.maximum(u, 0)] > 0
        keep &= self.item_counts_[np.maximum(i, 0)] > 0
        X, base = self._raw_features(self.base_models_, np.where(keep, u, 0),
                                     np.where(keep, i, 0), timestamps)
        return X, base, keep

    # ------------------------------------------------------------------ choosing epochs
    def validation_settings(self) -> dict[str, Any]:
        """Early stopping of the network (``patience``, 2 if None) and of the final base
        models (``base_patience``, :data:`~recsys.models.base.SELECTION_PATIENCE` if None)."""
        return {"patience": 2 if self.patience is None else self.patience,
                "base_patience": (SELECTION_PATIENCE if self.base_patience is None
                                  else self.base_patience)}

    def refit_settings(self) -> dict[str, Any]:
        """The network's best epoch and the base models' chosen epochs (MF's as
        ``mf_epochs``, AutoRec's as ``ar_steps``, the others' in ``base_params``), for a refit
        on all the ratings (no early stopping)."""
        valid = self.history_.get("valid_rmse")
        if not valid:
            return {}
        chosen: dict[str, Any] = {"n_epochs": int(np.argmin(valid)) + 1, "patience": None,
                                  "base_patience": None}
        others = {name: dict(params) for name, params in (self.base_params or {}).items()}
        for name, model in self.base_models_.items():
            if not model.history_.get("valid_rmse"):
                continue
            settings = model.refit_settings()
            if name == "mf":
                chosen["mf_epochs"] = settings["n_epochs"]
            elif name == "autorec":
                chosen["ar_steps"] = settings["n_steps"]
            elif settings:
                others.setdefault(name, {}).update(settings)
        if others:
            chosen["base_params"] = others
        return chosen

    # ------------------------------------------------------------------ prediction
    def _predict_indices_at(self, u: np.ndarray, i: np.ndarray,
                            timestamps: np.ndarray | None) -> np.ndarray:
        """``base + c * network(x)`` for known pairs (time-aware bases at ``timestamps``);
        MF's fallback for the others."""
        shape = np.shape(u)
        u = np.ravel(np.asarray(u, dtype=np.int64))
        i = np.ravel(np.asarray(i, dtype=np.int64))
        out = self.mf_.predict_indices(u, i, clip=False).ravel()
        keep = (u >= 0) & (i >= 0)
        if keep.any():
            ts = None if timestamps is None else np.ravel(timestamps)[keep]
            X, base, _ = self._features_for(u[keep], i[keep], ts)
            correction = self.net_.predict(self.scaler_.transform(X))
            out[keep] = base + self._target_scale() * np.asarray(correction, dtype=np.float64)
        return out.reshape(shape)

    def _predict_indices(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Predictions at "now" (time-aware bases: the day after their training period)."""
        return self._predict_indices_at(u, i, None)

    def _item_vectors(self) -> np.ndarray:
        return self.mf_.item_factors_
