"""A validation part that is used: choose the epochs on it, then refit on all the ratings.

A model fitted on 90 % of the training ratings, with the other 10 % only watched, wastes both:
the watched part chose nothing, and the saved model never saw it. :func:`fit_with_validation`
does what the Netflix Prize teams did with their probe set:

1. carve a validation part from the training ratings (:func:`~recsys.data.splits.
   validation_split`; never the test ratings);
2. fit a copy of the model on the rest with early stopping on that part
   (:meth:`~recsys.models.base.Estimator.validation_settings`), which chooses the number of
   epochs of every learner in it (MF's epochs, AutoRec's steps, the hybrid's network and base
   models);
3. refit a fresh copy on *all* the training ratings with those epochs
   (:meth:`~recsys.models.base.Estimator.refit_settings`) and no early stopping.

The refitted model carries a record of the choice, ``selection_`` (saved in its file): the
chosen settings, the validation RMSE of step 2, and the validation RMSE of the bias baseline
fitted on the same part, so that a model that does not beat the baseline can say so.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from recsys.data.ratings import Ratings
from recsys.data.splits import validation_split
from recsys.metrics import rmse
from recsys.models.base import Estimator, clone
from recsys.models.baseline import BiasBaseline
from recsys.models.progress import EpochCallback, StopCheck

__all__ = ["Selection", "choose_epochs", "refit", "fit_with_validation"]


@dataclass
class Selection:
    """What a validation part chose.

    Attributes
    ----------
    settings : dict
        The settings a refit uses (chosen epochs, early stopping off).
    valid_rmse : float
        The model's RMSE on the validation part, fitted on the rest (with its best epochs).
    baseline_rmse : float
        The bias baseline's RMSE on the same part, fitted on the same rest.
    n_train, n_valid : int
        Ratings the choice was fitted on and scored on.
    history : dict
        The choosing fit's per-epoch figures (its learning curves); not part of
        :meth:`as_dict`, the record a model file keeps.
    """

    settings: dict[str, Any] = field(default_factory=dict)
    valid_rmse: float = math.nan
    baseline_rmse: float = math.nan
    n_train: int = 0
    n_valid: int = 0
    history: dict[str, list[float]] = field(default_factory=dict, repr=False)

    @property
    def beats_baseline(self) -> bool:
        """Whether the model's validation RMSE is below the bias baseline's."""
        return bool(self.valid_rmse < self.baseline_rmse)

    def as_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record.pop("history")
        return record


def _rmse(model: Estimator, ratings: Ratings) -> float:
    return rmse(ratings.ratings, model.predict_ratings(ratings))


def choose_epochs(model: Estimator, train: Ratings, validation: Ratings, *,
                  callback: EpochCallback | None = None,
                  should_stop: StopCheck | None = None) -> Selection:
    """Fit a copy of ``model`` on ``train`` with early stopping on ``validation`` (a split of
    the same container) and return what it chose; ``model`` itself is left as it was."""
    probe = clone(model, **model.validation_settings())
    probe.fit(train, validation=validation, callback=callback, should_stop=should_stop)
    baseline = BiasBaseline().fit(train, should_stop=should_stop)
    return Selection(settings=probe.refit_settings(), valid_rmse=_rmse(probe, validation),
                     baseline_rmse=_rmse(baseline, validation), n_train=len(train),
                     n_valid=len(validation),
                     history={k: [float(v) for v in values]
                              for k, values in probe.history_.items()})


def refit(model: Estimator, ratings: Ratings, selection: Selection, *,
          callback: EpochCallback | None = None,
          should_stop: StopCheck | None = None) -> Estimator:
    """A fresh copy of ``model`` with the chosen settings, fitted on ``ratings`` (all the
    training ratings), carrying ``selection_``."""
    final = clone(model, **selection.settings)
    final.fit(ratings, callback=callback, should_stop=should_stop)
    final.selection_ = selection.as_dict()
    return final


def fit_with_validation(
    model: Estimator,
    ratings: Ratings,
    valid_size: float = 0.1,
    random_state: int | None = 0,
    *,
    callback: EpochCallback | None = None,
    should_stop: StopCheck | None = None,
) -> Estimator:
    """Choose the epochs on a ``valid_size`` carve of ``ratings``, then refit on all of them.

    Parameters
    ----------
    model : Estimator
        The settings to use (it is not fitted itself).
    ratings : Ratings
        The training ratings (never the test ratings).
    valid_size, random_state :
        The carve (see :func:`~recsys.data.splits.validation_split`).
    callback : callable, optional
        ``callback(epoch, history)`` during the choosing fit.
    should_stop : callable, optional
        Asked after every epoch of both fits.

    Returns
    -------
    Estimator
        The refitted model, with ``selection_`` (see :class:`Selection`).
    """
    train, validation = validation_split(ratings, valid_size=valid_size,
                                         random_state=random_state)
    selection = choose_epochs(model, train, validation, callback=callback,
                              should_stop=should_stop)
    return refit(model, ratings, selection, should_stop=should_stop)
