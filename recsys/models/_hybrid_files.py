"""What a :class:`~recsys.models.hybrid.HybridRecommender` file holds: the network's weights
and input scaling, the per-user and per-item inputs, and each base model whole under its prefix
(:func:`~recsys.models._blend_bases.file_prefix`), less the record of the training data it
shares with the hybrid."""

from __future__ import annotations

from typing import Any

import numpy as np

from recsys.features import Standardizer
from recsys.models._blend_bases import base_class, check_bases, file_prefix
from recsys.models.io import model_from_arrays, state_array
from recsys.models.ensemble import NetworkEnsemble
from recsys.models.mlp import MLP

__all__ = ["HybridFiles"]


class HybridFiles:
    """The hybrid's persistence hooks (see :class:`~recsys.models.persistence.Persistent`)."""

    @classmethod
    def _upgrade_params(cls, params: dict[str, Any], format_version: int) -> dict[str, Any]:
        """Files written before the blend of many bases said ``use_autorec`` (MF + AutoRec,
        or MF alone)."""
        if "use_autorec" in params:
            params = dict(params)
            with_autorec = params.pop("use_autorec")
            params.setdefault("bases", ["mf", "autorec"] if with_autorec else ["mf"])
        if "n_nets" not in params:  # files written before the ensemble hold one network
            params = {**params, "n_nets": 1}
        return params

    def _header_extra(self) -> dict[str, Any]:
        return {
            "bases": list(self.bases_),
            "feature_names": self._feature_names(),
            "user_side_names": self.user_side_names_,
            "item_side_names": self.item_side_names_,
            "n_epochs_run": int(self.n_epochs_),
        }

    def _load_header_extra(self, extra: dict[str, Any]) -> None:
        self.hidden = tuple(int(h) for h in (self.hidden or ()))  # JSON stored a list
        if self.bases is not None:
            self.bases = tuple(self.bases)
        names = {key: extra.get(key, []) for key in ("user_side_names", "item_side_names")}
        for key, value in names.items():
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"header field {key!r} must be a list of names")
        self.user_side_names_ = names["user_side_names"]
        self.item_side_names_ = names["item_side_names"]
        self.n_epochs_ = int(extra.get("n_epochs_run", 0))
        bases = extra.get("bases", self.bases if self.bases is not None else ["mf", "autorec"])
        if not isinstance(bases, (list, tuple)) or not bases:
            raise ValueError("header field 'bases' must be a list of base model names")
        check_bases(type(self).__name__, list(bases), None)
        self.bases_ = tuple(bases)

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "scaler_mean": self.scaler_.mean_, "scaler_scale": self.scaler_.scale_,
            "user_side": self.user_side_, "item_side": self.item_side_,
            "user_logn": self.user_logn_, "item_logn": self.item_logn_,
        }
        for m, net in enumerate(self.net_.members):
            prefix = _network_prefix(m)
            for l, W in enumerate(net.weights_, start=1):
                state[f"{prefix}weights{l}"] = W
            state[f"{prefix}target"] = np.array([net.target_center_[0], net.target_spread_[0]])
        # each base model whole, less the record of the training data it shares with the
        # hybrid (fitted on the same ratings): loading puts the hybrid's record back
        for name, model in self.base_models_.items():
            prefix = file_prefix(name)
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
        self.base_models_ = {}
        for name in self.bases_:
            prefix = file_prefix(name)
            base = {key[len(prefix):]: value for key, value in arrays.items()
                    if key.startswith(prefix)}
            model = model_from_arrays({**base, **common}, context=f"base model {prefix!r}")
            cls = base_class(name)
            if not isinstance(model, cls):
                raise ValueError(f"base model {prefix!r} is a {type(model).__name__}, not a "
                                 f"{cls.__name__}")
            self.base_models_[name] = model
        mf = self.mf_
        # the network's input: the columns _raw_features builds
        d = len(self.bases_) + 4
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
        members = [self._load_network(arrays, _network_prefix(m), sizes)
                   for m in range(int(self.n_nets))]
        if any(key.startswith(_network_prefix(int(self.n_nets))) for key in arrays):
            raise ValueError(f"more blending networks in the file than n_nets={self.n_nets}")
        self.net_ = NetworkEnsemble(members)
        self.net_.n_epochs_ = self.n_epochs_

    def _load_network(self, arrays: dict[str, np.ndarray], prefix: str,
                      sizes: tuple[int, ...]) -> MLP:
        """The blending network stored under ``prefix``, checked against the layer sizes."""
        n_layers = sum(1 for key in arrays
                       if key.startswith(f"{prefix}weights")
                       and key.removeprefix(f"{prefix}weights").isdigit())
        if n_layers != len(sizes) - 1:
            raise ValueError(f"{n_layers} weight arrays for the {len(sizes) - 1} layers of "
                             f"network {prefix!r}")
        weights = [state_array(arrays, f"{prefix}weights{l}", (sizes[l - 1] + 1, sizes[l]),
                               np.float64) for l in range(1, len(sizes))]
        target = (state_array(arrays, f"{prefix}target", (2,), np.float64)
                  if f"{prefix}target" in arrays else np.array([0.0, 1.0]))
        if not target[1] > 0:
            raise ValueError(f"array '{prefix}target' holds a spread <= 0")
        return MLP(hidden=self.hidden, output=self.output).set_weights(
            weights, target_center=target[0], target_spread=target[1])


def _network_prefix(member: int) -> str:
    """Where blending network ``member`` is stored: ``net_`` for the first (the only one in
    files written before the ensemble), ``net2_``, ``net3_``, ... for the others."""
    return "net_" if member == 0 else f"net{member + 1}_"
