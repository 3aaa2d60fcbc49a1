"""Stopping bad trials early: the median rule on the per-epoch validation curve.

After each epoch of a trial, :meth:`MedianPruner.should_prune` compares the trial's best
validation RMSE so far with the earlier trials' best so far *at the same epoch*, and says
"prune" when it is worse than their median. A trial that stopped on its own (early stopping)
before that epoch counts with its final best, since that is what it would still have; a trial
pruned before that epoch does not count (its later values are unknown). No trial is pruned
before ``warmup_epochs`` epochs, nor before ``min_trials`` earlier trials can be compared.

This is the median stopping rule of Google Vizier (Golovin et al., 2017) and optuna's
``MedianPruner``: a trial that is worse than half of its predecessors at the same point rarely
ends up the best, and its remaining epochs are saved.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["MedianPruner", "best_so_far"]


def best_so_far(curve: Sequence[float]) -> np.ndarray:
    """The running minimum of a validation curve (a NaN or inf counts as inf)."""
    values = np.asarray(curve, dtype=np.float64)
    values = np.where(np.isfinite(values), values, np.inf)
    return np.minimum.accumulate(values) if values.size else values


class MedianPruner:
    """The median rule over the trials recorded so far.

    Parameters
    ----------
    warmup_epochs : int
        Epochs every trial runs before it may be pruned.
    min_trials : int
        Earlier trials needed at an epoch before a trial is compared there.
    percentile : float
        The rule's cut: 50 is the median; lower prunes more.
    """

    def __init__(self, warmup_epochs: int = 10, min_trials: int = 5,
                 percentile: float = 50.0) -> None:
        self.warmup_epochs = int(warmup_epochs)
        self.min_trials = int(min_trials)
        self.percentile = float(percentile)
        self._curves: list[tuple[np.ndarray, bool]] = []

    def record(self, curve: Sequence[float], finished: bool) -> None:
        """Add a trial that is over: its validation curve, and whether it ran to its own end
        (``False``: pruned or stopped, so nothing is known after its last epoch)."""
        self._curves.append((best_so_far(curve), bool(finished)))

    def reference(self, epoch: int) -> list[float]:
        """The earlier trials' best validation RMSE up to epoch ``epoch`` (counted from 1)."""
        values = []
        for running, finished in self._curves:
            if running.size >= epoch:
                values.append(float(running[epoch - 1]))
            elif finished and running.size:
                values.append(float(running[-1]))
        return values

    def should_prune(self, curve: Sequence[float]) -> bool:
        """True when the trial with validation ``curve`` (one value per epoch so far) should
        stop: past the warm-up, and its best so far worse than the rule's cut of the earlier
        trials at this epoch."""
        epoch = len(curve)
        if epoch < max(self.warmup_epochs, 1):
            return False
        finite = [v for v in self.reference(epoch) if math.isfinite(v)]
        if len(finite) < max(self.min_trials, 1):
            return False
        best = float(best_so_far(curve)[-1])
        return best > float(np.percentile(finite, self.percentile))
