"""What a fit tells its caller after each epoch, and how the caller asks it to stop.

:meth:`recsys.models.base.Estimator.fit` takes two optional hooks:

* ``callback(epoch, history)``, called after each epoch of the model's own training (for a
  composite model such as the hybrid: its final stage), with ``history`` mapping names such as
  ``"train_rmse"`` and ``"valid_rmse"`` to per-epoch lists. It may raise (``KeyboardInterrupt``
  included) to end the fit.
* ``should_stop()``, asked after *every* epoch of *every* stage (the base models a composite
  model fits on the way included); when it answers True the fit raises :class:`FitStopped`.
  The command line passes "was Ctrl-C pressed?", so a stop request is honoured within one
  epoch of whatever is training.

Either way the model is left unfitted (:meth:`Estimator.fit` forgets a failed fit).
"""

from __future__ import annotations

from typing import Callable

__all__ = ["EpochCallback", "StopCheck", "FitStopped", "FitProgress"]

EpochCallback = Callable[[int, dict], None]
"""``callback(epoch, history)``: called after each epoch (``epoch`` counts from 0)."""

StopCheck = Callable[[], bool]
"""``should_stop()``: True asks the fit to stop at the end of the current epoch."""


class FitStopped(KeyboardInterrupt):
    """A fit ended because ``should_stop()`` said so (a ``KeyboardInterrupt``, as Ctrl-C is)."""


class FitProgress:
    """The caller's two hooks, bundled for a model's training loop.

    Parameters
    ----------
    callback : EpochCallback, optional
    should_stop : StopCheck, optional
    """

    def __init__(self, callback: EpochCallback | None = None,
                 should_stop: StopCheck | None = None) -> None:
        self.callback = callback
        self.should_stop = should_stop

    def epoch_done(self, epoch: int, history: dict) -> None:
        """After an epoch of the model's own training: report it, then honour a stop request."""
        if self.callback is not None:
            self.callback(epoch, history)
        self.check_stop()

    def check_stop(self) -> None:
        """Raise :class:`FitStopped` if the caller asked to stop."""
        if self.should_stop is not None and self.should_stop():
            raise FitStopped("the fit was stopped on request")
