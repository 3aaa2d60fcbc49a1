"""The search loop behind :func:`recsys.tune`.

1. Carve a validation part out of the *training* ratings given (``valid_size``, seeded); a
   test set is never an argument, so it cannot leak into the choice.
2. Draw ``n_trials`` settings from the search space (a seeded, shifted Halton sequence).
3. Fit each trial on the rest with early stopping on the validation part (the space's
   ``patience`` and epoch cap); the median rule (:mod:`recsys.tuning.pruning`) stops a trial
   whose validation curve is worse than the median of the earlier trials at the same epoch.
4. The best finished trial wins; its settings, with ``n_epochs`` set to the epochs it chose and
   early stopping off, are refitted on *all* the training ratings given.

Every trial's model uses ``random_state=seed`` (trials differ by their settings only), so with
one thread the same seed gives the same trials, the same pruning and the same best settings.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Mapping

from recsys.data.ratings import Ratings
from recsys.errors import ParameterError, RecsysError
from recsys.models.progress import FitStopped
from recsys.tuning.pruning import MedianPruner
from recsys.tuning.result import TuneResult
from recsys.tuning.space import Dimension, SearchSpace
from recsys.tuning.spaces import default_space
from recsys.tuning.trial import DIVERGED, FINISHED, INTERRUPTED, TrialRecord, run_trial

__all__ = ["tune", "MIN_VALID_RATINGS"]

MIN_VALID_RATINGS = 10
"""Fewer validation ratings than this cannot tell settings apart."""

TrialCallback = Callable[[TrialRecord, "TuneResult | None"], None]


def _check_count(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ParameterError(f"tune: {name} must be an integer >= {low}, got {value!r}")
    return value


def _resolve_space(model: str, space: SearchSpace | Mapping[str, Any] | None) -> SearchSpace:
    """The space to search: the model's default, a given one, or a mapping of ranges (and
    fixed values) applied over the default's fixed settings."""
    if isinstance(space, SearchSpace):
        return space
    base = default_space(model)
    if space is None:
        return base
    if not isinstance(space, Mapping):
        raise ParameterError(f"tune: space must be a SearchSpace or a dict of setting -> range, "
                             f"got {type(space).__name__}")
    dims = {k: v for k, v in space.items() if isinstance(v, Dimension)}
    fixed = {k: v for k, v in space.items() if not isinstance(v, Dimension)}
    return SearchSpace(dims, {**base.fixed, **fixed})


def _check_names(model: str, accepted: set[str], names: list[str]) -> None:
    wrong = sorted(set(names) - accepted)
    if wrong:
        raise ParameterError(
            f"tune: model {model!r} has no setting {', '.join(wrong)} (it takes: "
            f"{', '.join(sorted(accepted))})")


def _carve(ratings: Ratings, valid_size: float | int, seed: int | None) -> tuple[Ratings, Ratings]:
    from recsys.data.splits import validation_split

    if isinstance(valid_size, bool) or not isinstance(valid_size, (int, float)) or \
            not 0 < valid_size < (1 if isinstance(valid_size, float) else len(ratings)):
        raise ParameterError(
            f"tune: valid_size must be a fraction between 0 and 1 (or a count of ratings), got "
            f"{valid_size!r}; the search needs a validation part")
    train, valid = validation_split(ratings, valid_size=valid_size, random_state=seed)
    if len(valid) < MIN_VALID_RATINGS:
        raise ParameterError(
            f"the validation part holds {len(valid)} of {len(ratings)} ratings, too few to tell "
            f"settings apart (at least {MIN_VALID_RATINGS} are needed): raise valid_size "
            f"(--validation on the command line; now {valid_size}) or use more data")
    return train, valid


def tune(
    data: Ratings | str | os.PathLike,
    model: str = "mf",
    n_trials: int = 50,
    valid_size: float = 0.1,
    seed: int | None = 0,
    space: SearchSpace | Mapping[str, Any] | None = None,
    progress: TrialCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    refit: bool = True,
    *,
    params: Mapping[str, Any] | None = None,
    n_threads: int | None = None,
    prune: bool | MedianPruner = True,
    try_defaults: bool = True,
) -> TuneResult:
    """Search a model's settings on a validation part of the training ratings.

    Parameters
    ----------
    data : Ratings, or a name or path for :func:`recsys.load`
        The *training* ratings. Keep the test ratings out: nothing here ever needs them.
    model : str
        ``"mf"``, ``"baseline"`` or ``"hybrid"``.
    n_trials : int
        Settings to try.
    valid_size : float or int
        Share (or count) of ``data`` held out to compare the trials (seeded by ``seed``).
    seed : int or None
        Seeds the validation carve, the sampled settings and every model.
    space : SearchSpace or dict, optional
        What to vary (see :mod:`recsys.tuning.spaces` for the defaults). A dict maps setting
        names to ranges (``LogUniform(0.001, 0.1)``...) or fixed values, over the default
        space's fixed settings (epoch cap, patience).
    progress : callable, optional
        ``progress(trial, result)`` after each trial, ``result`` the best so far (a
        :class:`TuneResult` without a model; None while no trial has finished).
    should_stop : callable, optional
        Asked after every epoch; True ends the search, keeping the trials that finished
        (the result says ``interrupted``; no refit). When no trial had finished,
        :class:`~recsys.models.progress.FitStopped` is raised.
    refit : bool
        Refit the best settings on all of ``data`` (``n_epochs`` = the chosen epochs, no
        early stopping) into ``result.model``.
    params : dict, optional
        Settings every trial and the refit share (for example ``{"n_factors": 50}``).
    n_threads : int, optional
        Threads per fit, for models that take ``n_threads``; repeatable with one.
    prune : bool or MedianPruner
        The pruning rule (True: :class:`MedianPruner` with its defaults; False: none).
    try_defaults : bool
        Trial 0 tries the model's own default for every varied setting, so that the search
        never ends worse on its validation part than the defaults (with few trials, the
        sampled points alone can all be worse); the others are the sampled points.

    Returns
    -------
    TuneResult

    Raises
    ------
    ParameterError
        A bad budget, validation share, space or setting (one line saying what to change).
    RecsysError
        Every trial failed.
    """
    from recsys.data.loading import load
    from recsys.models.registry import model_class

    ratings = data if isinstance(data, Ratings) else load(data)
    _check_count("n_trials", n_trials, 1)
    chosen = _resolve_space(model, space)
    cls = model_class(model)
    accepted = set(cls.param_names())
    shared = dict(params or {})
    if n_threads is not None and "n_threads" in accepted:
        shared["n_threads"] = n_threads
    if "random_state" in accepted:
        shared.setdefault("random_state", seed)
    _check_names(model, accepted, [*chosen.dims, *chosen.fixed, *shared])
    chosen = chosen.with_fixed(**shared)
    pruner = prune if isinstance(prune, MedianPruner) else (MedianPruner() if prune else None)
    train, valid = _carve(ratings, valid_size, seed)

    trials: list[TrialRecord] = []
    best: TrialRecord | None = None
    start = time.perf_counter()

    def snapshot() -> TuneResult | None:
        if best is None:
            return None
        return TuneResult(
            model_name=model, best_params=_final_params(cls, chosen.fixed, best),
            best_valid_rmse=best.valid_rmse, best_trial=best, trials=list(trials),
            interrupted=any(t.status == INTERRUPTED for t in trials), n_trials=n_trials,
            seed=seed, valid_size=valid_size, n_train=len(train), n_valid=len(valid),
            data_name=ratings.name, seconds=time.perf_counter() - start,
            space=chosen.describe())

    samples = chosen.sample(n_trials, seed)
    if try_defaults and chosen.dims:
        defaults = cls().get_params()
        samples = [{name: defaults[name] for name in chosen.dims}] + samples[:-1]
    for number, sampled in enumerate(samples):
        estimator = cls(**{**chosen.fixed, **sampled})
        record = run_trial(number, estimator, sampled, train, valid, pruner, should_stop)
        trials.append(record)
        if record.status == FINISHED and (best is None or record.valid_rmse < best.valid_rmse):
            best = record
        if progress is not None:
            progress(record, snapshot())
        if record.status == INTERRUPTED:
            break
    result = snapshot()
    if result is None:
        if trials and trials[-1].status == INTERRUPTED:
            raise FitStopped("the search was stopped before any trial finished")
        failed = [t for t in trials if t.status == DIVERGED]
        raise RecsysError(
            f"tune: none of the {len(trials)} trials of {model} finished"
            + (f" (trial 0: {failed[0].message})" if failed else "")
            + "; narrow the search space (lower learning rates)")
    if refit and not result.interrupted:
        final = cls(**result.best_params)
        try:
            result.model = final.fit(ratings, should_stop=should_stop)
        except FitStopped:
            result.interrupted = True
    return result


def _final_params(cls: type, fixed: Mapping[str, Any], trial: TrialRecord) -> dict[str, Any]:
    """Every setting of the refit: the trial's, and what its model says repeats the epochs it
    chose (its ``refit_settings``: the epochs, no early stopping)."""
    return cls(**{**fixed, **trial.params, **trial.refit}).get_params()
