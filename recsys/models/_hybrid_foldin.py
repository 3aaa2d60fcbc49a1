"""Fold-in for the hybrid: a new user through every base model, then the blending network.

:class:`BlendFoldIn` is a mixin of :class:`recsys.models.hybrid.HybridRecommender`. A new
user's ratings are folded into each base model with that model's own objective (MF's and
SVD++'s ridge solves, I-AutoRec's decoder column, the neighbourhood model's and the
time-aware biases' user bias), and the network then blends the bases' predictions for the
user exactly as it blends a training user's: the same input columns (each base's prediction,
MF's ``b_u`` and ``b_i``, ``log(1 + n)`` of the user's and the item's ratings; with
``use_side`` the user's side inputs at their training mean, since a new user brings none;
with ``use_factors`` MF's ``p_u``, ``q_i``, ``p_u * q_i``), standardised by the training
statistics.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recsys.models.foldin import UserProfile, unsupported

__all__ = ["BlendFoldIn"]


class BlendFoldIn:
    """``_fold_in`` / ``_score_profile`` / ``_profile_fallback`` of the hybrid (see the
    module docstring). Relies on the hybrid's ``bases_``, ``base_models_``, ``net_``,
    ``scaler_``, ``item_logn_``, ``use_side``, ``use_factors`` and ``_target_scale``."""

    def _fold_in(self, items: np.ndarray, z: np.ndarray) -> UserProfile:
        """Each base model's profile of the user (the hybrid's model units are the bases'
        rating units); the profile's own bias and factors are MF's."""
        parts: dict[str, UserProfile] = {}
        for name in self.bases_:
            model = self.base_models_[name]
            if not model._supports_fold_in():
                raise unsupported(model)
            parts[name] = model._fold_in(items, model.rating_map_.to_model(z))
        mf = parts["mf"]
        return UserProfile(type(self).__name__, mf.bias, mf.factors, items, z, parts=parts)

    def _base_profile_scores(self, name: str, profile: UserProfile) -> np.ndarray:
        """Base ``name``'s predictions of every item for the user, clipped as the bases'
        predictions are when the network is trained (``predict_indices``)."""
        model = self.base_models_[name]
        scores = model.rating_map_.to_ratings(model._score_profile(profile.parts[name]))
        return model.clip(np.asarray(scores, dtype=np.float64))

    def _profile_features(self, profile: UserProfile) -> tuple[np.ndarray, np.ndarray]:
        """Raw network input for the user and every item, and the bases' mean prediction."""
        preds = [self._base_profile_scores(name, profile) for name in self.bases_]
        mf = self.base_models_["mf"]
        n_items = mf.item_factors_.shape[0]
        bias = profile.parts["mf"].bias
        cols = preds + [np.full(n_items, bias), mf.item_bias_.astype(np.float64),
                        np.full(n_items, np.log1p(profile.n_ratings)),
                        self.item_logn_.astype(np.float64)]
        blocks = [np.column_stack(cols)]
        if self.use_side:
            n_user = self.user_side_.shape[1]
            start = len(cols)
            unknown = np.broadcast_to(self.scaler_.mean_[start:start + n_user], (n_items, n_user))
            blocks += [unknown, self.item_side_]
        if self.use_factors:
            p = np.broadcast_to(profile.parts["mf"].factors, mf.item_factors_.shape)
            q = mf.item_factors_.astype(np.float64)
            blocks += [p, q, p * q]
        return np.hstack(blocks).astype(np.float64), np.mean(preds, axis=0)

    def _score_profile(self, profile: UserProfile) -> np.ndarray:
        """``base + c * network(x)`` for every item the bases know; MF's fold-in score (its
        fallback) for the others."""
        X, base = self._profile_features(profile)
        correction = np.asarray(self.net_.predict(self.scaler_.transform(X)), dtype=np.float64)
        scores = base + self._target_scale() * correction
        mf = self.base_models_["mf"]
        cold = mf.item_counts_ == 0
        if cold.any():
            scores[cold] = self._profile_fallback(profile)
        return scores

    def _profile_fallback(self, profile: UserProfile) -> Any:
        mf = self.base_models_["mf"]
        return float(mf.rating_map_.to_ratings(mf._profile_fallback(profile.parts["mf"])))
