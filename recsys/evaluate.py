"""The experiment runner: fit models on a training split, score the test split once, report.

:func:`evaluate` loads a data set (or takes a :class:`~recsys.data.ratings.Ratings`), cuts it
into one or more (train, test) folds, fits every requested model on the training side and scores
the test side exactly once per fit. Two reference models are always fitted as well: the global
mean ``mu`` and the bias baseline ``mu + b_u + b_i``.

Figures per model and fold
--------------------------
* accuracy of the predicted ratings ``r_hat`` on the test ratings ``T``:
  ``RMSE = sqrt(1/|T| sum (r - r_hat)^2)``, ``MAE = 1/|T| sum |r - r_hat|``;
* improvement over a reference (the Netflix Prize measure), in percent:
  ``100 (RMSE_ref - RMSE) / RMSE_ref``, for the global mean and the bias baseline, computed
  within each fold and then averaged;
* top-``k`` lists (training items excluded) against the relevant test items (test rating
  ``>= threshold``): precision@k, recall@k, NDCG@k and hit rate, averaged over test users with
  at least one relevant item (a seeded sample of ``topn_users`` of them on large data sets);
  catalogue coverage (share of the trainable items recommended to anyone);
* fit and prediction time in seconds.

With several folds the report gives the mean and the (sample) standard deviation of each column.

The learning curves come from each model's ``history_``: by default 10 % of the *training* side
is held out as a validation set (``validation=0.1``), so ``valid_rmse`` per epoch is observed
without touching the test ratings. ``validation=0`` trains on the whole training side.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
import types
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from recsys._random import make_rng
from recsys.data.ratings import Ratings
from recsys.errors import RecsysError

__all__ = [
    "evaluate",
    "Report",
    "FoldResult",
    "EvaluationError",
    "EvaluationWarning",
    "SPLITS",
    "PREDEFINED_FOLDS",
    "REFERENCE_MODELS",
    "improvement",
]

PREDEFINED_FOLDS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
SPLITS = ("holdout", "kfold", "user", "temporal", *PREDEFINED_FOLDS, "all-folds")
REFERENCE_MODELS = ("mean", "baseline")
"""Always fitted: the global mean and the bias baseline are the references for improvement."""

ProgressCallback = Callable[[int, int, str], None]
"""``progress(done, total, label)``: called before each fit (``label`` names model and fold,
``done`` counts finished fits), after each training epoch (``label`` ends in ``epoch N``, same
``done``) and once at the end with ``done == total``."""


class EvaluationError(RecsysError, ValueError):
    """A setting of the evaluation that cannot work (unknown split or model, wrong data)."""


class EvaluationWarning(UserWarning):
    """A result that is valid but easy to misread: figures that are n/a because no test rating
    is relevant, a test side predicted by fallbacks only, or ``k`` cut to the catalogue size."""


def _in_context(exc: RecsysError, where: str) -> RecsysError:
    """The same kind of error with ``where`` (model and fold) in front of its message."""
    try:
        return type(exc)(f"{where}: {exc}")
    except Exception:  # an error class with another signature: keep it as it is
        return exc


def _folds_text(folds: list[str], triples: list) -> str:
    """``the test side`` for a single fold, else ``fold(s) u1, u3``."""
    if len(triples) == 1:
        return "the test side"
    return f"fold{'s' if len(folds) > 1 else ''} {', '.join(folds)}"


def improvement(rmse: float, rmse_ref: float) -> float:
    """Improvement of ``rmse`` over a reference in percent: ``100 (rmse_ref - rmse) / rmse_ref``.

    Positive when ``rmse`` is lower (better) than the reference; NaN when the reference is 0 or
    not finite.
    """
    if not np.isfinite(rmse_ref) or rmse_ref == 0 or not np.isfinite(rmse):
        return float("nan")
    return float(100.0 * (rmse_ref - rmse) / rmse_ref)


# ---------------------------------------------------------------------------------- results
@dataclass
class FoldResult:
    """One model scored on one fold.

    ``errors`` holds ``r_hat - r`` for every test rating (kept in memory for plots; the JSON
    report stores its summary and histogram instead).
    """

    model: str
    fold: str
    rmse: float
    mae: float
    precision: float
    recall: float
    ndcg: float
    hit_rate: float
    coverage: float
    fit_seconds: float
    predict_seconds: float
    n_train: int
    n_test: int
    n_fallback: int
    params: dict[str, Any] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    errors: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    def figures(self) -> dict[str, Any]:
        """Every scalar figure, JSON-ready."""
        return {
            "model": self.model,
            "fold": self.fold,
            "rmse": self.rmse,
            "mae": self.mae,
            "precision": self.precision,
            "recall": self.recall,
            "ndcg": self.ndcg,
            "hit_rate": self.hit_rate,
            "coverage": self.coverage,
            "fit_seconds": self.fit_seconds,
            "predict_seconds": self.predict_seconds,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "n_fallback": self.n_fallback,
        }


_METRIC_COLUMNS = (
    "rmse", "mae", "vs_mean_pct", "vs_baseline_pct", "precision", "recall", "ndcg",
    "hit_rate", "coverage", "fit_seconds",
)


def _column_name(column: str, k: int) -> str:
    return f"{column}@{k}" if column in ("precision", "recall", "ndcg", "hit_rate") else column


_MARKDOWN_HEADERS = {
    "rmse": "RMSE",
    "mae": "MAE",
    "vs_mean_pct": "vs mean %",
    "vs_baseline_pct": "vs baseline %",
    "precision": "P@{k}",
    "recall": "R@{k}",
    "ndcg": "NDCG@{k}",
    "hit_rate": "hit@{k}",
    "coverage": "coverage",
    "fit_seconds": "fit s",
}

_DIGITS = {"rmse": 4, "mae": 4, "vs_mean_pct": 2, "vs_baseline_pct": 2, "fit_seconds": 2}


@dataclass
class Report:
    """The outcome of :func:`evaluate`: per-fold results, the settings and the data.

    Use :meth:`table` for a DataFrame (one row per model), :meth:`to_markdown`,
    :meth:`to_json`, and :meth:`save` to write ``report.json``, ``report.md`` and the plots.
    """

    results: list[FoldResult]
    models: list[str]
    folds: list[str]
    settings: dict[str, Any]
    data: dict[str, Any]
    package_version: str
    created: str
    fitted: dict[str, Any] = field(default_factory=dict, repr=False)
    """The fitted models of the last fold when ``evaluate(keep_models=True)`` (not saved)."""

    # ------------------------------------------------------------------ tables
    def fold_table(self) -> pd.DataFrame:
        """One row per (model, fold), with the improvements over the references of that fold."""
        rows = []
        ref = {
            (r.fold, r.model): r.rmse for r in self.results if r.model in REFERENCE_MODELS
        }
        for r in self.results:
            row = r.figures()
            row["vs_mean_pct"] = improvement(r.rmse, ref.get((r.fold, "mean"), math.nan))
            row["vs_baseline_pct"] = improvement(r.rmse, ref.get((r.fold, "baseline"), math.nan))
            rows.append(row)
        frame = pd.DataFrame(rows)
        return frame[["model", "fold", *_METRIC_COLUMNS, "predict_seconds", "n_train",
                      "n_test", "n_fallback"]]

    def table(self) -> pd.DataFrame:
        """One row per model (index ``model``, in run order).

        Columns: ``rmse``, ``mae``, ``vs_mean_pct``, ``vs_baseline_pct`` (improvement in RMSE
        over the global mean / bias baseline, percent), ``precision@k``, ``recall@k``,
        ``ndcg@k``, ``hit_rate@k``, ``coverage``, ``fit_seconds``. With several folds each
        column is the mean over folds and is followed by ``<column>_std`` (sample standard
        deviation).
        """
        folds = self.fold_table()
        grouped = folds.groupby("model", sort=False)[list(_METRIC_COLUMNS)]
        mean = grouped.mean().reindex(self.models)
        k = self.settings.get("k", 10)
        out = pd.DataFrame(index=pd.Index(self.models, name="model"))
        std = grouped.std(ddof=1).reindex(self.models) if len(self.folds) > 1 else None
        for column in _METRIC_COLUMNS:
            name = _column_name(column, k)
            out[name] = mean[column]
            if std is not None:
                out[f"{name}_std"] = std[column]
        return out

    def to_markdown(self) -> str:
        """The table as GitHub markdown (``mean ± std`` cells with several folds)."""
        k = self.settings.get("k", 10)
        table = self.table()
        several = len(self.folds) > 1
        headers = ["model"] + [_MARKDOWN_HEADERS[c].format(k=k) for c in _METRIC_COLUMNS]
        lines = [
            "| " + " | ".join(headers) + " |",
            "| --- |" + " ---: |" * len(_METRIC_COLUMNS),
        ]
        for model in table.index:
            cells = [model]
            for column in _METRIC_COLUMNS:
                name = _column_name(column, k)
                digits = _DIGITS.get(column, 4)
                cell = _fmt(table.at[model, name], digits)
                if several and cell != NOT_AVAILABLE:
                    cell += " ± " + _fmt(table.at[model, f"{name}_std"], digits)
                cells.append(cell)
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def _describe(self) -> str:
        """One paragraph saying what was run on what."""
        s, d = self.settings, self.data
        topn = f"top-{s.get('k')} lists exclude training items"
        if s.get("k_requested", s.get("k")) != s.get("k"):
            topn += f" (k={s['k_requested']} asked, cut to the number of items)"
        if s.get("topn_users") is not None:
            topn += f" (at most {s['topn_users']} test users)"
        valid = float(s.get("validation", 0) or 0)
        hold_out = (
            f"{100 * valid:g} % of each training side held out for the learning curves"
            if valid else "no validation hold-out"
        )
        return " ".join([
            f"Data: {d.get('name')} ({d.get('n_ratings')} ratings, {d.get('n_users')} users,",
            f"{d.get('n_items')} items, fingerprint {d.get('fingerprint')}).",
            f"Split: {s.get('split')} (folds: {', '.join(self.folds)}); seed {s.get('seed')};",
            f"relevant = test rating >= {s.get('threshold'):g}; {topn}; {hold_out}.",
            "Improvement = 100 (RMSE_ref - RMSE) / RMSE_ref within each fold.",
            f"recsys {self.package_version}, {self.created}.",
        ])

    def markdown_document(self) -> str:
        """The whole ``report.md``: settings, the summary table and the per-fold table."""
        parts = ["# recsys evaluation", "", self._describe(), "", "## Summary", "",
                 self.to_markdown()]
        if len(self.folds) > 1:
            frame = self.fold_table()
            parts += ["## Per fold", "", "| model | fold | RMSE | MAE | vs mean % | "
                      "vs baseline % | fit s |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
            for row in frame.itertuples(index=False):
                parts.append(
                    f"| {row.model} | {row.fold} | {_fmt(row.rmse, 4)} | {_fmt(row.mae, 4)} | "
                    f"{_fmt(row.vs_mean_pct, 2)} | {_fmt(row.vs_baseline_pct, 2)} | "
                    f"{_fmt(row.fit_seconds, 2)} |"
                )
            parts.append("")
        parts += ["## Plots", "", "![learning curves](learning_curves.png)", "",
                  "![prediction errors](errors.png)", ""]
        return "\n".join(parts)

    # ------------------------------------------------------------------ JSON
    def histories(self) -> dict[str, dict[str, list[float]]]:
        """Per-epoch history of each model on the first fold (for the learning curves)."""
        out: dict[str, dict[str, list[float]]] = {}
        for r in self.results:
            if r.model not in out and r.history:
                out[r.model] = r.history
        return out

    def errors(self) -> dict[str, np.ndarray]:
        """Prediction errors ``r_hat - r`` of each model, all folds together."""
        out: dict[str, list[np.ndarray]] = {}
        for r in self.results:
            out.setdefault(r.model, []).append(r.errors)
        return {m: np.concatenate(parts) for m, parts in out.items()}

    def to_dict(self) -> dict[str, Any]:
        """Everything in the report as JSON-ready values."""
        table = self.table()
        errors = {}
        edges = np.linspace(-4.5, 4.5, 37)
        for model, err in self.errors().items():
            counts, _ = np.histogram(np.clip(err, edges[0], edges[-1]), bins=edges)
            errors[model] = {
                "mean": float(err.mean()) if err.size else None,
                "std": float(err.std()) if err.size else None,
                "quantiles": {
                    str(q): float(np.quantile(err, q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)
                } if err.size else {},
                "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
            }
        by_fold = self.fold_table()
        return {
            "format": "recsys-report",
            "format_version": 1,
            "created": self.created,
            "package_version": self.package_version,
            "environment": {
                "python": platform.python_version(),
                "numpy": np.__version__,
                "pandas": pd.__version__,
                "platform": platform.platform(),
            },
            "settings": self.settings,
            "data": self.data,
            "models": self.models,
            "folds": self.folds,
            "summary": {
                model: {col: _json_float(table.at[model, col]) for col in table.columns}
                for model in table.index
            },
            "per_fold": [
                {k: _json_float(v) for k, v in row.items()}
                for row in by_fold.to_dict(orient="records")
            ],
            "params": {r.model: r.params for r in self.results},
            "history": {f"{r.model}/{r.fold}": r.history for r in self.results if r.history},
            "errors": errors,
        }

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as a JSON string (NaN written as ``null``)."""
        return json.dumps(_json_clean(self.to_dict()), indent=indent, default=_json_default,
                          allow_nan=False)

    # ------------------------------------------------------------------ files
    def save(self, directory: str | os.PathLike) -> dict[str, Path]:
        """Write ``report.json``, ``report.md``, ``learning_curves.png`` and ``errors.png`` into
        ``directory`` (created if needed), each atomically. Returns the paths by name."""
        directory = Path(directory)
        try:
            return self._save(directory)
        except OSError as exc:
            raise EvaluationError(_save_error(directory, exc)) from None

    def _save(self, directory: Path) -> dict[str, Path]:
        from recsys import plots

        directory.mkdir(parents=True, exist_ok=True)
        written = {
            "json": _write_text(directory / "report.json", self.to_json()),
            "markdown": _write_text(directory / "report.md", self.markdown_document()),
        }
        several = len(self.folds) > 1
        fig = plots.learning_curves(
            self.histories(),
            title=f"Training and validation RMSE per epoch ({self.folds[0]}"
                  f"{', the first fold' if several else ''})",
        )
        written["learning_curves"] = plots.save_figure(fig, directory / "learning_curves.png")
        fig = plots.error_distribution(
            self.errors(),
            title="Prediction errors (predicted - actual) on the test ratings"
                  f"{', all folds' if several else ''}",
        )
        written["errors"] = plots.save_figure(fig, directory / "errors.png")
        return written

    def __str__(self) -> str:
        return self.to_markdown()

    def __repr__(self) -> str:
        return (
            f"Report(data={self.data.get('name')!r}, split={self.settings.get('split')!r}, "
            f"folds={self.folds}, models={self.models})"
        )

    def _repr_markdown_(self) -> str:  # notebooks show the table
        return self.to_markdown()


NOT_AVAILABLE = "n/a"
"""Markdown cell of a figure that is undefined (NaN): e.g. the improvement over a reference
whose RMSE is 0, or top-N figures when no test rating reaches the threshold."""


def _fmt(value: Any, digits: int) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return NOT_AVAILABLE
    return NOT_AVAILABLE if not np.isfinite(value) else f"{value:.{digits}f}"


def _json_clean(value: Any) -> Any:
    """``value`` with every non-finite float (anywhere in dicts, lists, tuples) as None, so
    that the report is strict JSON (``null``, never a bare ``NaN``)."""
    if isinstance(value, dict):
        return {key: _json_clean(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_json_clean(v) for v in value.tolist()]
    return _json_float(value)


def _json_float(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return _json_float(value.item())
    if isinstance(value, np.ndarray):
        return [_json_float(v) for v in value.tolist()]
    if isinstance(value, (tuple, set)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def _save_error(directory: Path, exc: OSError) -> str:
    """One line saying why the report could not be written into ``directory``."""
    where = Path(exc.filename) if exc.filename else directory
    for part in (directory, *directory.parents):
        if part.exists() and not part.is_dir():
            return (f"cannot write the report into {directory}: {part} is a file, not a "
                    "folder; choose another output folder (-o/--output)")
    if isinstance(exc, IsADirectoryError) or (where.exists() and where.is_dir()
                                              and where != directory):
        name = Path(exc.filename2).name if getattr(exc, "filename2", None) else where.name
        return (f"cannot write {name} in {directory}: a folder of that name is in the way; "
                "remove it or choose another output folder (-o/--output)")
    reason = exc.strerror or type(exc).__name__
    return (f"cannot write the report into {directory}: {reason.lower()}; choose a folder you "
            "can write to (-o/--output)")


def _write_text(path: Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (temporary file, then ``os.replace``)."""
    from recsys._atomic import atomic_write

    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


# ---------------------------------------------------------------------------------- data
def _is_ml100k(source: Any) -> bool:
    """True when ``source`` can hold the official ML-100k folds: the registry name, a folder
    with ``u1.base`` (or ``ml-100k/u1.base``), or a zip (checked when it is read)."""
    if source is None or isinstance(source, Ratings):
        return False
    text = str(source)
    if text.lower().replace("_", "-") in ("ml-100k", "ml100k", "movielens-100k"):
        return True
    path = Path(text).expanduser()
    if path.is_dir():
        return (path / "u1.base").is_file() or (path / "ml-100k" / "u1.base").is_file()
    return path.is_file() and path.suffix.lower() == ".zip"


def _folds_for(split: str) -> list[str]:
    if split == "all-folds":
        return ["u1", "u2", "u3", "u4", "u5"]
    return [split]


def _as_pairs(result: Any, split: str) -> list[tuple[Ratings, Ratings]]:
    """Normalise what a split function returns to a list of (train, test) pairs."""
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], Ratings):
        return [result]
    pairs = list(result)
    if not pairs or not all(
        isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], Ratings) for p in pairs
    ):
        raise EvaluationError(f"split {split!r} did not produce (train, test) pairs")
    return pairs


def _prepare(
    data: Ratings | str | os.PathLike | None, split: str, seed: int
) -> tuple[list[tuple[str, Ratings, Ratings]], dict[str, Any]]:
    """Load the data and cut it into labelled (fold, train, test) triples."""
    if split not in SPLITS:
        raise EvaluationError(f"unknown split {split!r} (choose from {', '.join(SPLITS)})")
    if split in PREDEFINED_FOLDS or split == "all-folds":
        if not _is_ml100k(data):
            what = "the bundled ml-latest-small" if data is None else (
                data.name if isinstance(data, Ratings) else str(data)
            )
            raise EvaluationError(
                f"split {split!r} exists only for MovieLens 100K, not for {what}: use "
                "--data ml-100k (or the path of an ml-100k folder), or --split holdout/kfold"
            )
        from recsys.data.movielens import load_predefined_split

        triples = []
        for fold in _folds_for(split):
            train, test = load_predefined_split(data, fold)
            triples.append((fold, train, test))
        train0, test0 = triples[0][1], triples[0][2]
        info = {
            "name": train0.name.split(" ")[0] if train0.name else "ml-100k",
            "source": str(data),
            "n_ratings": int(len(train0) + len(test0)),
            "n_users": int(train0.n_users),
            "n_items": int(train0.n_items),
            "rating_scale": list(train0.rating_scale),
            "fingerprint": _combined_fingerprint(
                [t.fingerprint() + s.fingerprint() for _, t, s in triples]
            ),
        }
        return triples, info

    if isinstance(data, Ratings):
        ratings = data
        source = data.name
    else:
        from recsys.data.loading import load

        ratings = load(data)
        source = "bundled ml-latest-small" if data is None else str(data)
    from recsys.data import splits

    pairs = _as_pairs(splits.split(ratings, split, **_SPLIT_ARGS[split](seed)), split)
    labels = [split] if len(pairs) == 1 else [f"{split}{n + 1}" for n in range(len(pairs))]
    info = {
        "name": ratings.name,
        "source": source,
        "n_ratings": int(len(ratings)),
        "n_users": int(ratings.n_users),
        "n_items": int(ratings.n_items),
        "rating_scale": list(ratings.rating_scale),
        "fingerprint": ratings.fingerprint(),
    }
    return [(label, tr, te) for label, (tr, te) in zip(labels, pairs)], info


_SPLIT_ARGS: dict[str, Callable[[int], dict[str, Any]]] = {
    "holdout": lambda seed: {"test_size": 0.2, "random_state": seed},
    "kfold": lambda seed: {"k": 5, "random_state": seed},
    "user": lambda seed: {"n_test": 0.2, "random_state": seed},
    "temporal": lambda seed: {"test_size": 0.2},
}
"""Arguments of :func:`recsys.data.splits.split` for each random split: 20 % test ratings
(of all ratings, of each user's, or the latest 20 %), or five folds."""


def _combined_fingerprint(parts: Iterable[str]) -> str:
    import hashlib

    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------------- models
def _model_list(models: str | Sequence[str]) -> list[str]:
    """Requested model names with the references first, duplicates removed."""
    from recsys.models.registry import MODELS

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


def _seeded_params(name: str, params: dict[str, Any], seed: int) -> dict[str, Any]:
    """Add ``random_state=seed`` for models that take one, unless given."""
    from recsys.models.registry import model_class

    if "random_state" in model_class(name)._param_names() and "random_state" not in params:
        params = {**params, "random_state": seed}
    return params


# ---------------------------------------------------------------------------------- top-N
def _topn_users(test: Ratings, threshold: float, limit: int | None, seed: int) -> np.ndarray:
    """Dense indices of the test users with at least one relevant item; a random sample of
    ``limit`` of them (the same for every model of a fold) when there are more."""
    from recsys import metrics

    every = metrics.relevant_from_ratings(test, threshold)
    users = every.users[every.counts() > 0]
    if limit is not None and users.size > limit:
        rng = make_rng(seed, "seed")
        users = np.sort(rng.choice(users, size=limit, replace=False))
    return users


def _top_n_figures(
    model: Any, test: Ratings, threshold: float, k: int, users: np.ndarray
) -> tuple[float, float, float, float, float]:
    """Precision, recall, NDCG, hit rate at ``k`` and catalogue coverage of ``model``'s top-k
    lists (training items excluded) for ``users`` (dense indices of test users with at least
    one relevant item).

    Coverage is the share of the items the model was trained on that appear in any list.
    """
    from recsys import metrics

    if users.size == 0:
        nan = float("nan")
        return nan, nan, nan, nan, nan
    relevant = metrics.relevant_from_ratings(test, threshold, users=users)
    items, scores = model.recommend_all(test.user_ids[users], n=k)
    recommended = pd.Index(test.item_ids).get_indexer(items.ravel()).reshape(items.shape)
    recommended = np.where(np.isfinite(scores), recommended, -1).astype(np.int64)
    figures = metrics.topn_metrics(recommended, relevant, k=min(k, recommended.shape[1]),
                                   n_items=test.n_items)
    trained = max(int((np.asarray(model.item_counts_) > 0).sum()), 1)
    coverage = figures["coverage"] * test.n_items / trained
    return (figures["precision"], figures["recall"], figures["ndcg"], figures["hit_rate"],
            min(coverage, 1.0))


# ---------------------------------------------------------------------------------- runner
def _epoch_reporter(
    progress: ProgressCallback, done: int, total: int, label: str
) -> Callable[[int, dict], None]:
    """A model ``callback(epoch, history)`` that forwards each epoch to ``progress``."""

    def callback(epoch: int, history: dict) -> None:
        progress(done, total, f"{label}: epoch {epoch + 1}")

    return callback


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
        Share of each training side held out to record ``valid_rmse`` per epoch (0 = none).
    topn_users : int or None
        Top-N figures use at most this many test users (a seeded random sample of those with
        a relevant item, the same for every model); None uses them all. Scoring every item
        for every user is the costly part on large data sets.
    keep_models : bool
        Keep the fitted models of the last fold in ``Report.fitted`` (by name).

    Returns
    -------
    Report

    Raises
    ------
    EvaluationError
        Unknown split or model, an official ML-100k fold asked of another data set, or bad
        ``threshold`` / ``k`` / ``validation``.
    """
    from recsys import metrics
    from recsys.models.registry import make_model

    if int(k) != k or k < 1:
        raise EvaluationError(f"k must be a whole number >= 1, got {k!r}")
    k = int(k)
    if topn_users is not None and (int(topn_users) != topn_users or topn_users < 1):
        raise EvaluationError(f"topn_users must be a whole number >= 1, got {topn_users!r}")
    if not 0 <= validation < 1:
        raise EvaluationError(f"validation must be a share in [0, 1), got {validation!r}")
    names = _model_list(models)
    model_params = dict(model_params or {})
    unknown = sorted(set(model_params) - set(names))
    if unknown:
        raise EvaluationError(
            f"model_params given for {', '.join(unknown)}, which is not evaluated"
        )
    triples, info = _prepare(data, split, seed)
    low, high = info["rating_scale"]
    if not np.isfinite(threshold) or not low <= threshold <= high:
        raise EvaluationError(
            f"threshold {threshold:g} is outside the rating scale [{low:g}, {high:g}]; choose "
            f"the lowest rating that counts as relevant, e.g. {high - (high - low) / 4:g}"
        )

    n_items = int(info["n_items"])
    k_requested = k
    if k > n_items:
        warnings.warn(
            f"k={k} is more than the {n_items} items of the data; the top-N lists and figures "
            f"use k={n_items} (choose a smaller k)", EvaluationWarning, stacklevel=2)
        k = n_items

    results: list[FoldResult] = []
    total = len(triples) * len(names)
    done = 0
    no_relevant: list[str] = []  # folds whose test side has no rating >= threshold
    all_cold: list[str] = []  # folds where no test pair has both user and item in training
    for fold, train, test in triples:
        fit_on, valid = train, None
        if validation > 0:
            from recsys.data.splits import validation_split

            fit_on, valid = validation_split(train, valid_size=validation, random_state=seed)
        topn_for = _topn_users(test, threshold, topn_users, seed)
        if topn_for.size == 0:
            no_relevant.append(fold)
        fitted = {}
        for name in names:
            if progress is not None:
                progress(done, total, f"{name} on {fold}")
            try:
                params = _seeded_params(name, model_params.get(name, {}), seed)
                model = make_model(name, **params)
                start = time.perf_counter()
                model.fit(fit_on, validation=valid,
                          callback=None if progress is None else _epoch_reporter(
                              progress, done, total, f"{name} on {fold}"))
                fit_seconds = time.perf_counter() - start
                start = time.perf_counter()
                pred = np.asarray(model.predict_ratings(test), dtype=np.float64)
                predict_seconds = time.perf_counter() - start
                truth = test.ratings.astype(np.float64)
                u, i = model.encode(test.user_ids[test.users], test.item_ids[test.items])
                fallback = int(((u < 0) | (i < 0)).sum())  # user or item unseen in training
                if fallback == len(test) and fold not in all_cold:
                    all_cold.append(fold)
                precision, recall, ndcg, hit, coverage = _top_n_figures(
                    model, test, threshold, k, topn_for
                )
                results.append(
                    FoldResult(
                        model=name,
                        fold=fold,
                        rmse=float(metrics.rmse(truth, pred)),
                        mae=float(metrics.mae(truth, pred)),
                        precision=float(precision),
                        recall=float(recall),
                        ndcg=float(ndcg),
                        hit_rate=float(hit),
                        coverage=float(coverage),
                        fit_seconds=fit_seconds,
                        predict_seconds=predict_seconds,
                        n_train=int(len(fit_on)),
                        n_test=int(len(test)),
                        n_fallback=fallback,
                        params=model.get_params(),
                        history={
                            key: [float(v) for v in values]
                            for key, values in getattr(model, "history_", {}).items()
                        },
                        errors=(pred - truth).astype(np.float32),
                    )
                )
            except RecsysError as exc:  # say which model and fold it was
                raise _in_context(exc, f"{name} on {fold}") from None
            if keep_models:
                fitted[name] = model
            done += 1
    if progress is not None:
        progress(done, total, "done")
    if no_relevant:
        warnings.warn(
            f"no test rating of {_folds_text(no_relevant, triples)} reaches the relevance "
            f"threshold {threshold:g}, so the top-N figures there are n/a; lower the threshold",
            EvaluationWarning, stacklevel=2)
    if all_cold:
        warnings.warn(
            f"every test rating of {_folds_text(all_cold, triples)} has a user or an item "
            "without training ratings, so every model predicts it by its fallback (global "
            "mean and biases) and the figures do not compare the models; use more data or a "
            "split that keeps users and items in training (e.g. 'user')", EvaluationWarning,
            stacklevel=2)

    from recsys import __version__

    settings = {
        "split": split,
        "models": names,
        "seed": int(seed),
        "threshold": float(threshold),
        "k": k,
        "k_requested": k_requested,
        "validation": float(validation),
        "topn_users": None if topn_users is None else int(topn_users),
        "model_params": model_params,
    }
    return Report(
        results=results,
        models=names,
        folds=[fold for fold, _, _ in triples],
        settings=settings,
        data=info,
        package_version=__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        fitted=fitted if keep_models else {},
    )


class _CallableModule(types.ModuleType):
    """Lets ``recsys.evaluate(...)`` call :func:`evaluate` while ``recsys.evaluate`` stays this
    module (so ``recsys.evaluate.Report`` and ``import recsys.evaluate`` keep working)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Report:
        return evaluate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
