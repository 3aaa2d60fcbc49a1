"""The outcome of a search: the best settings, the table of trials, the refitted model, and
the settings file that ``recsys fit --params`` reads."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from recsys._atomic import atomic_write
from recsys.errors import RecsysError
from recsys.tuning.trial import FINISHED, PRUNED, TrialRecord

__all__ = ["TuneResult", "PARAMS_FORMAT", "PARAMS_FORMAT_VERSION"]

PARAMS_FORMAT = "recsys-params"
PARAMS_FORMAT_VERSION = 1


def _json_value(value: Any) -> Any:
    """A setting as plain JSON (tuples become lists, numpy scalars Python numbers)."""
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    return value


@dataclass
class TuneResult:
    """What :func:`recsys.tune` found.

    Attributes
    ----------
    model_name : str
        The model searched (``"mf"``, ``"baseline"``, ``"hybrid"``).
    best_params : dict
        Every constructor setting of the best trial's model, with ``n_epochs`` the epochs it
        chose by early stopping and early stopping off (``patience=None``): what the refit
        used, and what :meth:`save_params` writes.
    best_valid_rmse : float
        The best trial's validation RMSE.
    best_trial : TrialRecord
    trials : list of TrialRecord
        Every trial in search order.
    model : Estimator or None
        The best settings refitted on all the given training ratings (None without refit, or
        when the search was interrupted).
    interrupted : bool
        The search was stopped (``should_stop``) before all trials ran.
    n_trials : int
        Trials asked for.
    seed, valid_size : int, float
        The search's seed and validation share.
    n_train, n_valid : int
        Ratings the trials fitted on and were validated on.
    data_name : str
    seconds : float
        Wall time of the trials (the refit excluded).
    space : dict
        Each varied setting's range in words.
    """

    model_name: str
    best_params: dict[str, Any]
    best_valid_rmse: float
    best_trial: TrialRecord
    trials: list[TrialRecord]
    model: Any = None
    interrupted: bool = False
    n_trials: int = 0
    seed: int | None = 0
    valid_size: float = 0.1
    n_train: int = 0
    n_valid: int = 0
    data_name: str = ""
    seconds: float = 0.0
    space: dict[str, str] = field(default_factory=dict)

    @property
    def best_n_epochs(self) -> int:
        """Epochs the best trial chose (early stopping's best epoch)."""
        return int(self.best_trial.best_epochs)

    @property
    def n_pruned(self) -> int:
        return sum(t.status == PRUNED for t in self.trials)

    @property
    def n_finished(self) -> int:
        return sum(t.status == FINISHED for t in self.trials)

    def table(self) -> pd.DataFrame:
        """One row per trial: its varied settings, validation RMSE, the epochs it chose and
        ran, its status (finished, pruned, diverged, interrupted) and seconds."""
        rows = []
        for t in self.trials:
            row = {"trial": t.number, "status": t.status, "valid_rmse": t.valid_rmse,
                   "best_epochs": t.best_epochs, "epochs_run": t.epochs_run,
                   "pruned": t.status == PRUNED, "seconds": round(t.seconds, 3)}
            row.update({k: _json_value(v) for k, v in t.params.items()})
            rows.append(row)
        return pd.DataFrame(rows).set_index("trial") if rows else pd.DataFrame()

    def to_dict(self) -> dict[str, Any]:
        """The settings file's content: the model, its settings, and how they were found."""
        return {
            "format": PARAMS_FORMAT,
            "format_version": PARAMS_FORMAT_VERSION,
            "model": self.model_name,
            "params": {k: _json_value(v) for k, v in self.best_params.items()},
            "valid_rmse": self.best_valid_rmse,
            "n_epochs": self.best_n_epochs,
            "search": {
                "data": self.data_name,
                "trials_asked": self.n_trials,
                "trials_run": len(self.trials),
                "finished": self.n_finished,
                "pruned": self.n_pruned,
                "interrupted": self.interrupted,
                "best_trial": self.best_trial.number,
                "seed": self.seed,
                "valid_size": self.valid_size,
                "n_train": self.n_train,
                "n_valid": self.n_valid,
                "seconds": round(self.seconds, 2),
                "space": self.space,
            },
        }

    def save_params(self, path: str | os.PathLike) -> Path:
        """Write the best settings as JSON (see :meth:`to_dict`), atomically: a failure or an
        interruption leaves any earlier file at ``path`` as it was. Returns the path.

        Raises
        ------
        RecsysError
            ``path`` is a folder or cannot be written.
        """
        path = Path(path)
        if path.is_dir():
            raise RecsysError(f"cannot write the settings to {path}: it is a folder; give a "
                              f"file name such as {path / 'best.json'}")
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"
        try:
            with atomic_write(path, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise RecsysError(
                f"cannot write the settings file {path}: {exc.strerror or exc}; choose a "
                "folder you can write to (and check the free disk space)") from None
        return path

    def summary(self) -> str:
        """One line: best validation RMSE, epochs, trials finished / pruned."""
        settings = ", ".join(f"{k} {_fmt(v)}" for k, v in self.best_trial.params.items())
        return (f"best validation RMSE {self.best_valid_rmse:.4f} (trial {self.best_trial.number},"
                f" {self.best_n_epochs} epochs; {settings}); {len(self.trials)} trials, "
                f"{self.n_finished} finished, {self.n_pruned} pruned, in {self.seconds:.1f} s")


def _fmt(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)
