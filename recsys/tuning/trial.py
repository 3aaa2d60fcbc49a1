"""One trial of a search: fit a model with some settings, watch its validation curve, and say
how it ended."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from recsys.data.ratings import Ratings
from recsys.errors import DivergenceError
from recsys.metrics import rmse
from recsys.models.progress import FitStopped
from recsys.tuning.pruning import MedianPruner

__all__ = ["TrialRecord", "run_trial", "FINISHED", "PRUNED", "DIVERGED", "INTERRUPTED"]

FINISHED = "finished"        # ran until early stopping (or its epoch cap)
PRUNED = "pruned"            # stopped by the pruning rule
DIVERGED = "diverged"        # the fit diverged (these settings are unusable)
INTERRUPTED = "interrupted"  # the caller asked the search to stop during this trial


@dataclass
class TrialRecord:
    """What one trial tried and how it went.

    Attributes
    ----------
    number : int
        Trial number, from 0, in the order of the search.
    params : dict
        The varied settings of this trial.
    status : str
        ``"finished"``, ``"pruned"``, ``"diverged"`` or ``"interrupted"``.
    valid_rmse : float
        Best validation RMSE reached (NaN when none was measured).
    best_epochs : int
        Epochs up to that best value (the number a refit runs); 0 when none.
    epochs_run : int
        Epochs the trial ran.
    seconds : float
        Wall time of the trial.
    curve : list of float
        Validation RMSE after each epoch.
    refit : dict
        For a finished trial, the model's :meth:`~recsys.models.base.Estimator.
        refit_settings`: what a refit on all the ratings uses to repeat its chosen epochs.
    message : str
        Why a diverged trial failed.
    """

    number: int
    params: dict[str, Any]
    status: str
    valid_rmse: float = math.nan
    best_epochs: int = 0
    epochs_run: int = 0
    seconds: float = 0.0
    curve: list[float] = field(default_factory=list)
    refit: dict[str, Any] = field(default_factory=dict)
    message: str = ""


def _best_epoch(curve: list[float]) -> int:
    """Index (from 0) of the lowest validation RMSE (a NaN or inf never wins): the epoch the
    models' ``refit_settings`` choose too."""
    return int(np.argmin(np.where(np.isfinite(curve), curve, np.inf)))


def run_trial(
    number: int,
    model: Any,
    params: dict[str, Any],
    train: Ratings,
    valid: Ratings,
    pruner: MedianPruner | None,
    should_stop: Callable[[], bool] | None = None,
) -> TrialRecord:
    """Fit ``model`` (an unfitted estimator with the trial's settings) on ``train``, validating
    on ``valid`` after each epoch, and return its record (the pruner is told about it).

    The fit stops early when ``pruner`` says so (status ``"pruned"``) or when ``should_stop()``
    says so (status ``"interrupted"``). Any error but a divergence propagates.
    """
    curve: list[float] = []
    verdict = {"prune": False, "stop": False}

    def watch(epoch: int, history: dict) -> None:
        curve[:] = [float(v) for v in history.get("valid_rmse") or []]
        if pruner is not None and curve and pruner.should_prune(curve):
            verdict["prune"] = True

    def stop() -> bool:
        if should_stop is not None and should_stop():
            verdict["stop"] = True
        return verdict["stop"] or verdict["prune"]

    record = TrialRecord(number=number, params=dict(params), status=FINISHED)
    start = time.perf_counter()
    try:
        model.fit(train, validation=valid, callback=watch, should_stop=stop)
    except FitStopped:
        record.status = INTERRUPTED if verdict["stop"] else PRUNED
    except DivergenceError as exc:
        record.status, record.message = DIVERGED, str(exc)
    record.seconds = time.perf_counter() - start
    record.curve = list(curve)
    record.epochs_run = len(curve)
    if record.status == FINISHED:
        record.refit = model.refit_settings()
        if curve:
            best = _best_epoch(curve)
            record.valid_rmse, record.best_epochs = float(curve[best]), best + 1
        else:  # a model that reports no per-epoch validation RMSE
            record.valid_rmse = rmse(valid.ratings, model.predict_ratings(valid))
            record.best_epochs = record.epochs_run = int(getattr(model, "n_epochs_", 1))
            record.curve = [record.valid_rmse]
    elif curve and record.status != DIVERGED:
        best = _best_epoch(curve)
        record.valid_rmse, record.best_epochs = float(curve[best]), best + 1
    if pruner is not None and record.status in (FINISHED, PRUNED):
        pruner.record(curve, finished=record.status == FINISHED)
    return record
