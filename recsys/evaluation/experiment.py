"""The experiment runner: fit models on a training split, score the test split once, report.

:func:`evaluate` loads a data set (or takes a :class:`~recsys.data.ratings.Ratings`), cuts it
into one or more (train, test) folds, fits every requested model on the training side and scores
the test side exactly once per fit. Two reference models are always fitted as well: the global
mean ``mu`` and the bias baseline ``mu + b_u + b_i``. The figures go into a
:class:`~recsys.evaluation.report.Report`, which formats and saves them.

Figures per model and fold
--------------------------
* accuracy of the predicted ratings ``r_hat`` on the test ratings ``T``:
  ``RMSE = sqrt(1/|T| sum (r - r_hat)^2)``, ``MAE = 1/|T| sum |r - r_hat|``;
* improvement over a reference (the Netflix Prize measure), in percent:
  ``100 (RMSE_ref - RMSE) / RMSE_ref``, for the global mean and the bias baseline, computed
  within each fold and then averaged (by the report, :func:`recsys.evaluation.report.improvement`);
* top-``k`` lists (training items excluded) against the relevant test items (test rating
  ``>= threshold``): precision@k, recall@k, NDCG@k and hit rate, averaged over test users with
  at least one relevant item (a seeded sample of ``topn_users`` of them on large data sets);
  catalogue coverage (share of the trainable items recommended to anyone);
* fit and prediction time in seconds.

With several folds the report gives the mean and the (sample) standard deviation of each column.

Every setting is chosen inside the fold's *training* side (:mod:`recsys.evaluation.nested`):
by default (``validation=0.1``) 10 % of it is carved off, the epochs of every learner are chosen
by early stopping on that carve, and the model is refitted on the whole training side with them;
the learning curves show the choosing fit (``valid_rmse`` per epoch, observed without touching
the test ratings). ``validation=0`` fits every model on the whole training side with its own
settings. ``tune=N`` runs :func:`recsys.tune` (``N`` trials) on each fold's training side for
every tunable model (baseline, mf, hybrid; the hybrid with ``hybrid_trials`` trials of its
network settings, its base MF settings from the MF search of the same fold) and scores the
refitted best; the report records per fold what was chosen.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

import numpy as np

from recsys._version import __version__
from recsys.data.ratings import Ratings
from recsys.errors import EvaluationError, EvaluationWarning, RecsysError
from recsys.evaluation.folds import Fold, prepare_folds
from recsys.evaluation.nested import (
    DEFAULT_HYBRID_TRIALS, DEFAULT_TRIALS, TUNABLE_MODELS, Fitted, fit_choosing_epochs,
    tune_and_fit,
)
from recsys.evaluation.report import REFERENCE_MODELS, FoldResult, Report
from recsys.evaluation.scoring import relevant_test_users, score_model
from recsys.models.base import Estimator
from recsys.models.progress import StopCheck
from recsys.models.registry import MODELS, make_model

__all__ = ["evaluate", "ProgressCallback"]

ProgressCallback = Callable[[int, int, str], None]
"""``progress(done, total, label)``: called before each fit (``label`` names model and fold,
``done`` counts finished fits), after each training epoch (``label`` ends in ``epoch N``, same
``done``) and once at the end with ``done == total``."""


# ---------------------------------------------------------------------------------- settings
def _model_list(models: str | Sequence[str]) -> list[str]:
    """Requested model names with the references first, duplicates removed."""
    if isinstance(models, str):
        models = [m for m in (p.strip() for p in models.split(",")) if m]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise EvaluationError(
            f"unknown model {unknown[0]!r} (choose from {', '.join(MODELS)})"
        )
    ordered = list(REFERENCE_MODELS)
    for m in models:
        if m not in ordered:
            ordered.append(m)
    return ordered


def _check_counts(k: Any, topn_users: Any, validation: float) -> int:
    """``k`` as an int, once ``k``, ``topn_users`` and ``validation`` are known to be valid."""
    if int(k) != k or k < 1:
        raise EvaluationError(f"k must be a whole number >= 1, got {k!r}")
    if topn_users is not None and (int(topn_users) != topn_users or topn_users < 1):
        raise EvaluationError(f"topn_users must be a whole number >= 1, got {topn_users!r}")
    if not 0 <= validation < 1:
        raise EvaluationError(f"validation must be a share in [0, 1), got {validation!r}")
    return int(k)


def _check_tune(tune: Any, hybrid_trials: Any, validation: float) -> int:
    """Trials per tunable model and fold (0: no tuning), once ``tune`` and
    ``hybrid_trials`` are known to be valid."""
    if tune is True:
        tune = DEFAULT_TRIALS
    elif tune is False or tune is None:
        tune = 0
    elif isinstance(tune, bool) or not isinstance(tune, (int, np.integer)) or tune < 1:
        raise EvaluationError(
            f"tune must be True, False or a number of trials >= 1, got {tune!r} "
            "(--trials on the command line)")
    if isinstance(hybrid_trials, bool) or not isinstance(hybrid_trials, (int, np.integer)) \
            or hybrid_trials < 1:
        raise EvaluationError(
            f"hybrid_trials must be a whole number >= 1, got {hybrid_trials!r} "
            "(--hybrid-trials on the command line)")
    if tune and validation <= 0:
        raise EvaluationError(
            "tuning compares its trials on a validation part of each fold's training side: "
            "give a validation share > 0 (--validation 0.1), or do not tune")
    return int(tune)


def _check_model_params(
    model_params: dict[str, dict[str, Any]] | None, names: list[str]
) -> dict[str, dict[str, Any]]:
    """A copy of ``model_params``, once every model it names is evaluated."""
    model_params = dict(model_params or {})
    unknown = sorted(set(model_params) - set(names))
    if unknown:
        raise EvaluationError(
            f"model_params given for {', '.join(unknown)}, which is not evaluated"
        )
    return model_params


def _check_threshold(threshold: float, rating_scale: Sequence[float]) -> None:
    low, high = rating_scale
    if not np.isfinite(threshold) or not low <= threshold <= high:
        raise EvaluationError(
            f"threshold {threshold:g} is outside the rating scale [{low:g}, {high:g}]; choose "
            f"the lowest rating that counts as relevant, e.g. {high - (high - low) / 4:g}"
        )


RANK_BY_CHOICES = ("both", "rating", "relevance")
"""``rank_by`` of :func:`evaluate`: both ranking objectives (the main columns by each model's
default), or one of them for every model."""


def _check_rank_by(rank_by: Any) -> tuple[str | None, ...]:
    """The objectives to score, the main columns' first (None: each model's default)."""
    if not isinstance(rank_by, str) or rank_by not in RANK_BY_CHOICES:
        raise EvaluationError(f"rank_by must be one of {', '.join(RANK_BY_CHOICES)}, got "
                              f"{rank_by!r}")
    return (None, "rating", "relevance") if rank_by == "both" else (rank_by,)


def _cap_k(k: int, n_items: int) -> int:
    """``k``, or the number of items (with an :class:`EvaluationWarning`) when it is less."""
    if k <= n_items:
        return k
    warnings.warn(
        f"k={k} is more than the {n_items} items of the data; the top-N lists and figures "
        f"use k={n_items} (choose a smaller k)", EvaluationWarning, stacklevel=3)
    return n_items


@dataclass(frozen=True)
class _Settings:
    """The checked settings that every fold and every fit of one evaluation share."""

    names: list[str]
    model_params: dict[str, dict[str, Any]]
    seed: int
    threshold: float
    k: int  # cut to the number of items
    validation: float
    topn_users: int | None
    keep_models: bool
    should_stop: StopCheck | None = None
    tune_trials: int = 0  # per tunable model and fold; 0: no tuning
    hybrid_trials: int = DEFAULT_HYBRID_TRIALS
    rank_by: tuple[str | None, ...] = (None, "rating", "relevance")

    def tunes(self, name: str) -> bool:
        return bool(self.tune_trials) and name in TUNABLE_MODELS


# ---------------------------------------------------------------------------------- progress
class _Ticker:
    """Counts the finished fits and tells ``progress`` (if any) about each step."""

    def __init__(self, progress: ProgressCallback | None, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0

    def starting(self, label: str) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total, label)

    def labeller(self, label: str) -> Callable[[str], None] | None:
        """``show(text)``: tell ``progress`` that ``label: text`` is running, or None."""
        if self.progress is None:
            return None
        progress, done, total = self.progress, self.done, self.total

        def show(text: str) -> None:
            progress(done, total, f"{label}: {text}")

        return show

    def finished_one(self) -> None:
        self.done += 1

    def finished_all(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total, "done")


# ---------------------------------------------------------------------------------- one fit
def _seeded_params(name: str, params: dict[str, Any], seed: int) -> dict[str, Any]:
    """Add ``random_state=seed`` for models that take one, unless given."""
    if "random_state" not in params and "random_state" in make_model(name).get_params():
        params = {**params, "random_state": seed}
    return params


def _fit_model(
    name: str, train: Ratings, settings: _Settings, label: Callable[[str], None] | None,
    mf_search: Any = None,
) -> Fitted:
    """A new model ``name`` (seeded with ``settings.seed``, see :func:`_seeded_params`)
    fitted on the whole training side ``train``, its settings chosen inside ``train`` only:
    tuned (``settings.tune_trials``), or its epochs by validation (``settings.validation``);
    see :mod:`recsys.evaluation.nested`."""
    params = _seeded_params(name, settings.model_params.get(name, {}), settings.seed)
    if settings.tunes(name):
        trials = settings.hybrid_trials if name == "hybrid" else settings.tune_trials
        return tune_and_fit(name, params, train, trials, settings.validation, settings.seed,
                            mf_search=mf_search, label=label,
                            should_stop=settings.should_stop)
    return fit_choosing_epochs(name, params, train, settings.validation, settings.seed,
                               label=label, should_stop=settings.should_stop)


def _in_context(exc: RecsysError, where: str) -> RecsysError:
    """The same kind of error with ``where`` (model and fold) in front of its message."""
    try:
        return type(exc)(f"{where}: {exc}")
    except Exception:  # an error class with another signature: keep it as it is
        return exc


def _mf_search(train: Ratings, settings: _Settings, label: Callable[[str], None] | None):
    """The MF search of a fold, for the hybrid's base MF when MF itself is not evaluated."""
    params = _seeded_params("mf", {}, settings.seed)
    return tune_and_fit("mf", params, train, settings.tune_trials, settings.validation,
                        settings.seed, label=label, should_stop=settings.should_stop).tuned


def _fit_and_score(
    name: str, fold: str, train: Ratings, test: Ratings, users: np.ndarray,
    settings: _Settings, ticker: _Ticker, searches: dict[str, Any],
) -> tuple[Estimator, FoldResult]:
    """One model fitted on one fold's training side and scored once on its test side; a
    :class:`RecsysError` says which model and fold it was. ``searches`` holds the fold's
    finished searches by model name (the hybrid's base MF settings come from ``mf``'s)."""
    label = f"{name} on {fold}"
    ticker.starting(label)
    show = ticker.labeller(label)
    try:
        mf_search = None
        if name == "hybrid" and settings.tunes(name):
            mf_search = searches.get("mf")
            if mf_search is None:
                mf_search = searches["mf"] = _mf_search(train, settings,
                                                        ticker.labeller(f"mf for {label}"))
        fitted = _fit_model(name, train, settings, show, mf_search)
        if fitted.tuned is not None:
            searches[name] = fitted.tuned
        result = score_model(fitted.model, name, fold, test, settings.threshold, settings.k,
                             users, fit_seconds=fitted.seconds, n_train=int(len(train)),
                             rank_by=settings.rank_by)
    except RecsysError as exc:
        raise _in_context(exc, label) from None
    result.history = fitted.history
    result.chosen = fitted.chosen
    ticker.finished_one()
    return fitted.model, result


# ---------------------------------------------------------------------------------- one fold
def _evaluate_fold(
    fold: str, train: Ratings, test: Ratings, settings: _Settings, ticker: _Ticker
) -> tuple[list[FoldResult], dict[str, Estimator], bool]:
    """Every model fitted and scored on one fold: the results, the fitted models by name (when
    ``settings.keep_models``, else none), and whether any test rating is relevant."""
    users = relevant_test_users(test, settings.threshold, settings.topn_users, settings.seed)
    results, fitted = [], {}
    searches: dict[str, Any] = {}
    for name in settings.names:
        model, result = _fit_and_score(name, fold, train, test, users, settings, ticker,
                                       searches)
        results.append(result)
        if settings.keep_models:
            fitted[name] = model
    return results, fitted, users.size > 0


def _folds_text(folds: list[str], triples: list) -> str:
    """``the test side`` for a single fold, else ``fold(s) u1, u3``."""
    if len(triples) == 1:
        return "the test side"
    return f"fold{'s' if len(folds) > 1 else ''} {', '.join(folds)}"


def _warn_about_folds(
    no_relevant: list[str], results: list[FoldResult], triples: list[Fold], threshold: float
) -> None:
    """An :class:`EvaluationWarning` for folds without a relevant test rating, and for folds
    whose every test rating is predicted by a fallback (user or item without training)."""
    if no_relevant:
        warnings.warn(
            f"no test rating of {_folds_text(no_relevant, triples)} reaches the relevance "
            f"threshold {threshold:g}, so the top-N figures there are n/a; lower the threshold",
            EvaluationWarning, stacklevel=3)
    all_cold = list(dict.fromkeys(r.fold for r in results if r.n_fallback == r.n_test))
    if all_cold:
        warnings.warn(
            f"every test rating of {_folds_text(all_cold, triples)} has a user or an item "
            "without training ratings, so every model predicts it by its fallback (global "
            "mean and biases) and the figures do not compare the models; use more data or a "
            "split that keeps users and items in training (e.g. 'user')", EvaluationWarning,
            stacklevel=3)


# ---------------------------------------------------------------------------------- runner
def evaluate(
    data: Ratings | str | os.PathLike | None = None,
    split: str = "holdout",
    models: str | Sequence[str] = ("baseline", "mf", "hybrid"),
    seed: int = 0,
    threshold: float = 4.0,
    k: int = 10,
    model_params: dict[str, dict[str, Any]] | None = None,
    progress: ProgressCallback | None = None,
    *,
    validation: float = 0.1,
    topn_users: int | None = 1000,
    keep_models: bool = False,
    should_stop: StopCheck | None = None,
    tune: bool | int = False,
    hybrid_trials: int = DEFAULT_HYBRID_TRIALS,
    rank_by: str = "both",
) -> Report:
    """Fit each model on the training side of every fold and score the test side once.

    Parameters
    ----------
    data : Ratings, str, path or None
        A ratings container, a registry name (``"ml-100k"``), a file or folder; None is the
        bundled MovieLens "latest small" set.
    split : str
        ``holdout``, ``kfold``, ``user``, ``temporal`` (cut by :mod:`recsys.data.splits` with
        ``seed``), ``u1`` .. ``u5``, ``ua``, ``ub`` (the official ML-100k folds) or
        ``all-folds`` (``u1`` .. ``u5``).
    models : str or sequence of str
        Names from :data:`recsys.models.registry.MODELS` (``"baseline,mf"`` works too). The
        references ``mean`` and ``baseline`` are always included.
    seed : int
        Seed of the split, the validation hold-out and every model's ``random_state``.
    threshold : float
        A test rating at least this high marks a relevant item for the top-N figures.
    k : int
        Length of the top-N lists.
    model_params : dict, optional
        ``{model name: {parameter: value}}`` passed to the constructors.
    progress : callable, optional
        ``progress(done, total, label)``; see :data:`ProgressCallback`.
    validation : float
        Share of each training side carved off to choose the epochs of every learner by early
        stopping (then the model is refitted on the whole training side), and to compare the
        trials when tuning; its per-epoch ``valid_rmse`` makes the learning curves. 0: every
        model is fitted on the whole training side with its own settings.
    topn_users : int or None
        Top-N figures use at most this many test users (a seeded random sample of those with
        a relevant item, the same for every model); None uses them all. Scoring every item
        for every user is the costly part on large data sets.
    keep_models : bool
        Keep the fitted models of the last fold in ``Report.fitted`` (by name).
    should_stop : callable, optional
        Passed to every fit (see :mod:`recsys.models.progress`): when it answers True the
        evaluation ends with :class:`~recsys.models.progress.FitStopped` within one epoch.
    tune : bool or int
        Tune each tunable model (baseline, mf, hybrid) on each fold's training side only
        (:func:`recsys.tune`, seeded by ``seed``, trials compared on a ``validation`` carve of
        it) and score the best settings refitted on the whole training side. An integer is the
        number of trials per model and fold; True is
        :data:`~recsys.evaluation.nested.DEFAULT_TRIALS`. The report records per fold what
        was chosen (``Report.chosen()``).
    hybrid_trials : int
        Trials of the hybrid per fold when tuning (each is a whole hybrid fit): only its
        network settings are searched; its base MF settings are the MF search's of the fold.
    rank_by : {"both", "rating", "relevance"}
        How the top-N lists are ranked (:mod:`recsys.models.topn`): by the predicted rating,
        by relevance (the chance the user rates the item times a preference for its predicted
        rating), or ``"both"``: the main columns by each model's default, and the report's
        ranking table with both objectives for every model (``Report.topn_table()``).

    Returns
    -------
    Report

    Raises
    ------
    EvaluationError
        Unknown split or model, an official ML-100k fold asked of another data set, or bad
        ``threshold`` / ``k`` / ``validation`` / ``tune`` / ``hybrid_trials``.
    """
    k_requested = _check_counts(k, topn_users, validation)
    objectives = _check_rank_by(rank_by)
    tune_trials = _check_tune(tune, hybrid_trials, validation)
    names = _model_list(models)
    model_params = _check_model_params(model_params, names)
    triples, info = prepare_folds(data, split, seed)
    _check_threshold(threshold, info["rating_scale"])
    settings = _Settings(names=names, model_params=model_params, seed=seed,
                         threshold=threshold, k=_cap_k(k_requested, int(info["n_items"])),
                         validation=validation, topn_users=topn_users,
                         keep_models=keep_models, should_stop=should_stop,
                         tune_trials=tune_trials, hybrid_trials=int(hybrid_trials),
                         rank_by=objectives)

    ticker = _Ticker(progress, total=len(triples) * len(names))
    results: list[FoldResult] = []
    no_relevant: list[str] = []  # folds whose test side has no rating >= threshold
    for fold, train, test in triples:
        fold_results, fitted, any_relevant = _evaluate_fold(fold, train, test, settings, ticker)
        results += fold_results
        if not any_relevant:
            no_relevant.append(fold)
    ticker.finished_all()
    _warn_about_folds(no_relevant, results, triples, threshold)
    return _assemble_report(results, triples, info, settings, split, k_requested, fitted)


def _assemble_report(
    results: list[FoldResult], triples: list[Fold], info: dict[str, Any], settings: _Settings,
    split: str, k_requested: int, fitted: dict[str, Estimator],
) -> Report:
    """The :class:`Report` of finished results, with the settings that produced them."""
    return Report(
        results=results,
        models=settings.names,
        folds=[fold for fold, _, _ in triples],
        settings={
            "split": split,
            "models": settings.names,
            "seed": int(settings.seed),
            "threshold": float(settings.threshold),
            "k": settings.k,
            "k_requested": k_requested,
            "validation": float(settings.validation),
            "topn_users": None if settings.topn_users is None else int(settings.topn_users),
            "model_params": settings.model_params,
            "tune_trials": settings.tune_trials,
            "hybrid_trials": settings.hybrid_trials if settings.tune_trials else None,
            "rank_by": "both" if len(settings.rank_by) > 1 else settings.rank_by[0],
        },
        data=info,
        package_version=__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        fitted=fitted,
    )
