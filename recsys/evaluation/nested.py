"""Settings chosen inside a fold's training side only: epochs by validation, or a search.

The evaluation runner (:mod:`recsys.evaluation.experiment`) fits every model of a fold with
one of these, and scores the fold's test side once afterwards. Nothing here is ever given the
test side, so nothing it chooses can have seen a test rating:

* :func:`fit_choosing_epochs`: with a validation share (the default 0.1), the epochs of every
  learner are chosen by early stopping on a seeded carve of the training side, then the model
  is refitted on the *whole* training side with them
  (:mod:`recsys.models.selection`, what ``recsys fit`` does). The choosing
  fit's per-epoch history (training and validation RMSE) is what the learning curves show. A
  model without epochs (the global mean, the bias baseline) is fitted on the whole training side
  directly. With ``validation=0`` every model is fitted on the whole side with its own settings.
* :func:`tune_and_fit`: :func:`recsys.tune` on the training side (a seeded carve of it compares
  the trials), then the best settings refitted on the whole training side. The hybrid's trials
  are whole hybrid fits (about 50 s each on ML-100k), so it gets a few trials
  (``hybrid_trials``, default 4) over its *network* settings only (``hidden``, ``lr``,
  ``weight_decay``), while its base matrix factorisation takes the factors, learning rate,
  regularisation and epochs that the MF search of the same fold chose.

Each returns a :class:`Fitted`: the model, the fit seconds (tuning included), the history for
the learning curves, and ``chosen``, a JSON-ready record of what was chosen on the fold (shown
per fold in the report).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from recsys.data.ratings import Ratings
from recsys.data.splits import validation_split
from recsys.models.base import Estimator
from recsys.models.progress import EpochCallback, FitStopped, StopCheck
from recsys.models.registry import make_model
from recsys.models.selection import choose_epochs, refit
from recsys.tuning import search
from recsys.tuning.result import TuneResult
from recsys.tuning.space import Choice, LogUniform
from recsys.tuning.spaces import TUNABLE_MODELS

__all__ = ["Fitted", "fit_choosing_epochs", "tune_and_fit", "hybrid_network_space",
           "hybrid_base_params", "describe_chosen", "DEFAULT_TRIALS", "DEFAULT_HYBRID_TRIALS",
           "TUNABLE_MODELS"]

DEFAULT_TRIALS = 30
"""Trials per model and fold of ``evaluate(tune=True)`` (``recsys evaluate --tune``)."""

DEFAULT_HYBRID_TRIALS = 4
"""Trials of the hybrid per fold: each is a whole hybrid fit."""

Label = Callable[[str], None]
"""``label(text)``: show what is being fitted (the progress bar's description)."""


@dataclass
class Fitted:
    """A model fitted on a fold's training side, and what was chosen there."""

    model: Estimator
    seconds: float
    history: dict[str, list[float]] = field(default_factory=dict)
    chosen: dict[str, Any] = field(default_factory=dict)
    tuned: TuneResult | None = None


def _history(model: Any) -> dict[str, list[float]]:
    return {key: [float(v) for v in values]
            for key, values in getattr(model, "history_", {}).items()}


def _epoch_labels(label: Label | None, text: str) -> EpochCallback | None:
    if label is None:
        return None

    def callback(epoch: int, history: dict) -> None:
        label(f"{text}epoch {epoch + 1}")

    return callback


def fit_choosing_epochs(
    name: str, params: dict[str, Any], train: Ratings, validation: float, seed: int, *,
    label: Label | None = None, should_stop: StopCheck | None = None,
) -> Fitted:
    """Model ``name`` with ``params`` fitted on all of ``train``; with ``validation > 0`` and
    epochs to choose, the epochs are chosen on a ``validation`` carve of ``train`` first (see
    the module docstring)."""
    model = make_model(name, **params)
    start = time.perf_counter()
    if validation <= 0 or not model.validation_settings():
        model.fit(train, callback=_epoch_labels(label, ""), should_stop=should_stop)
        return Fitted(model, time.perf_counter() - start, _history(model),
                      {"how": "own settings on the whole training side"})
    fit_on, valid = validation_split(train, valid_size=validation, random_state=seed)
    selection = choose_epochs(model, fit_on, valid, callback=_epoch_labels(label, ""),
                              should_stop=should_stop)
    final = refit(model, train, selection, callback=_epoch_labels(label, "refit, "),
                  should_stop=should_stop)
    chosen = {"how": "epochs by validation", "settings": dict(selection.settings),
              "valid_rmse": float(selection.valid_rmse), "n_valid": int(selection.n_valid)}
    return Fitted(final, time.perf_counter() - start, selection.history or _history(final),
                  chosen)


# ---------------------------------------------------------------------------------- tuning
def hybrid_network_space() -> dict[str, Any]:
    """The hybrid's settings searched per fold: its network only (a narrower band than
    ``recsys tune --model hybrid``'s, for a handful of trials)."""
    default = make_model("hybrid").get_params()
    return {"hidden": Choice(((16,), (16, 8), (32, 16))),
            "lr": LogUniform(default["lr"] / 2, default["lr"] * 2),
            "weight_decay": LogUniform(1e-6, 1e-4)}


def hybrid_base_params(mf: TuneResult) -> dict[str, Any]:
    """The hybrid's base MF settings from the MF search of the same fold."""
    best = mf.best_params
    return {"mf_factors": int(best["n_factors"]), "mf_lr": float(best["lr"]),
            "mf_reg": float(best["reg"]), "mf_epochs": int(best["n_epochs"])}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value


def tune_and_fit(
    name: str, params: dict[str, Any], train: Ratings, n_trials: int, valid_size: float,
    seed: int, *, mf_search: TuneResult | None = None, label: Label | None = None,
    should_stop: StopCheck | None = None,
) -> Fitted:
    """:func:`recsys.tune` of model ``name`` on ``train`` (``n_trials`` trials compared on a
    ``valid_size`` carve of it, seeded by ``seed``), the best refitted on all of ``train``.

    For the hybrid, ``mf_search`` (the MF search of the same fold) fixes the base MF settings
    and only the network is searched (:func:`hybrid_network_space`).
    """
    shared = dict(params)
    space = None
    if name == "hybrid":
        if mf_search is None:
            raise ValueError("the hybrid's search needs the MF search of the same fold")
        shared = {**hybrid_base_params(mf_search), **shared}
        space = hybrid_network_space()
    done = {"trials": 0}

    def progress(record: Any, best: Any) -> None:
        done["trials"] += 1

    def stop() -> bool:
        if label is not None:
            label(f"tuning, trial {min(done['trials'] + 1, n_trials)}/{n_trials}")
        return bool(should_stop is not None and should_stop())

    if label is not None:
        label(f"tuning, trial 1/{n_trials}")
    start = time.perf_counter()
    result = search.tune(train, model=name, n_trials=n_trials, valid_size=valid_size,
                         seed=seed, space=space, progress=progress, should_stop=stop,
                         refit=True, params=shared or None, n_threads=1)
    seconds = time.perf_counter() - start
    if result.model is None:  # stopped during the refit: the search said so
        raise FitStopped("the evaluation was stopped during a refit")
    varied = {k: _plain(v) for k, v in result.best_trial.params.items()}
    if "n_epochs" in result.best_params:
        varied["n_epochs"] = int(result.best_params["n_epochs"])
    fixed_base = {k: _plain(v) for k, v in shared.items() if k.startswith("mf_")}
    chosen = {"how": "tuned", "n_trials": int(n_trials), "n_finished": result.n_finished,
              "n_pruned": result.n_pruned, "chosen": varied,
              "valid_rmse": float(result.best_valid_rmse), "n_valid": int(result.n_valid),
              "search_seconds": float(result.seconds)}
    if fixed_base:
        chosen["from_mf_search"] = fixed_base
    curve = list(result.best_trial.curve)
    history = {"valid_rmse": [float(v) for v in curve]} if curve else _history(result.model)
    return Fitted(result.model, seconds, history, chosen, tuned=result)


def describe_chosen(chosen: dict[str, Any]) -> str:
    """One line of words for a ``chosen`` record (the report's per-fold list)."""
    how = chosen.get("how", "")
    if how == "tuned":
        settings = ", ".join(f"{k}={_fmt(v)}" for k, v in chosen.get("chosen", {}).items())
        text = (f"tuned ({chosen['n_trials']} trials, {chosen.get('n_pruned', 0)} pruned; "
                f"validation RMSE {chosen['valid_rmse']:.4f}): {settings}")
        if chosen.get("from_mf_search"):
            base = ", ".join(f"{k}={_fmt(v)}" for k, v in chosen["from_mf_search"].items())
            text += f"; base MF from the MF search: {base}"
        return text
    if how == "epochs by validation":
        settings = ", ".join(f"{k}={_fmt(v)}" for k, v in chosen.get("settings", {}).items()
                             if v is not None)
        return (f"epochs by validation (validation RMSE {chosen['valid_rmse']:.4f}): "
                f"{settings or 'nothing to choose'}")
    return how


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "(" + ", ".join(str(v) for v in value) + ")"
    return str(value)
