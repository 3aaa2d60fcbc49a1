"""The evaluation report: per-fold results and their tables, markdown, JSON, plots and files.

A :class:`Report` is what :func:`recsys.evaluation.experiment.evaluate` returns: one
:class:`FoldResult` per (model, fold), the settings and a description of the data. From these
it derives the summary table (mean and sample standard deviation over folds), the improvement
in RMSE over the two reference models within each fold (:func:`improvement`, the Netflix Prize
measure), the markdown and JSON documents, and it writes them with the plots into a folder.
"""

from __future__ import annotations

import json
import math
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys._atomic import atomic_write
from recsys.errors import EvaluationError

__all__ = [
    "Report",
    "FoldResult",
    "REFERENCE_MODELS",
    "NOT_AVAILABLE",
    "improvement",
]

REFERENCE_MODELS = ("mean", "baseline")
"""Always fitted: the global mean and the bias baseline are the references for improvement."""


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
    chosen: dict[str, Any] = field(default_factory=dict)
    """What was chosen on the fold's training side (tuned settings, or epochs by validation);
    see :mod:`recsys.evaluation.nested`."""
    errors: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    topn: dict[str, dict[str, float]] = field(default_factory=dict)
    """Top-N figures by ranking objective: ``{"rating" | "relevance": {"precision": ...,
    "recall", "ndcg", "hit_rate", "coverage"}}`` (see :mod:`recsys.evaluation.scoring`)."""
    rank_by: str = ""
    """The ranking objective of the main top-N columns."""

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

_TOPN = ("precision", "recall", "ndcg", "hit_rate", "coverage")

_DIGITS = {"rmse": 4, "mae": 4, "vs_mean_pct": 2, "vs_baseline_pct": 2, "fit_seconds": 2}


@dataclass
class Report:
    """The outcome of :func:`recsys.evaluate`: per-fold results, the settings and the data.

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

    def topn_table(self) -> pd.DataFrame:
        """Top-N figures of every model under each ranking objective scored: one row per
        (model, rank_by), in run order, columns ``precision@k``, ``recall@k``, ``ndcg@k``,
        ``hit_rate@k``, ``coverage`` (means over folds). Empty when only one objective was
        scored."""
        k = self.settings.get("k", 10)
        rows = [{"model": r.model, "rank_by": objective, "fold": r.fold, **figures}
                for r in self.results for objective, figures in r.topn.items()]
        if not rows or len({row["rank_by"] for row in rows}) < 2:
            return pd.DataFrame()
        frame = pd.DataFrame(rows)
        table = frame.groupby(["model", "rank_by"], sort=False)[list(_TOPN)].mean()
        return table.rename(columns={c: _column_name(c, k) for c in _TOPN})

    def _topn_markdown(self) -> list[str]:
        """The ranking table as markdown lines (none when one objective was scored)."""
        table = self.topn_table()
        if table.empty:
            return []
        k = self.settings.get("k", 10)
        lines = ["## Top-N lists by ranking objective", "",
                 "rating: by the predicted rating; relevance: by the chance the user rates "
                 "the item times a preference for its predicted rating (mean over folds).", "",
                 "| model | rank by | " + " | ".join(_MARKDOWN_HEADERS[c].format(k=k)
                                                    for c in _TOPN) + " |",
                 "| --- | --- |" + " ---: |" * len(_TOPN)]
        for (model, objective), row in table.iterrows():
            cells = [_fmt(row[_column_name(c, k)], 4) for c in _TOPN]
            lines.append(f"| {model} | {objective} | " + " | ".join(cells) + " |")
        return lines + [""]

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
        if s.get("rank_by") in ("rating", "relevance"):
            topn += f", ranked by {s['rank_by']}"
        elif s.get("rank_by") == "both":
            defaults = {r.model: r.rank_by for r in self.results if r.rank_by}
            topn += (", ranked by each model's default (" + ", ".join(
                f"{m}: {o}" for m, o in defaults.items()) + "); both objectives below")
        valid = float(s.get("validation", 0) or 0)
        hold_out = (
            f"epochs chosen on a {100 * valid:g} % validation carve of each training side, "
            "then refitted on the whole training side" if valid
            else "every model fitted on the whole training side with its own settings"
        )
        if s.get("tune_trials"):
            hold_out = (
                f"settings tuned inside each fold's training side ({s['tune_trials']} trials "
                f"per model, {s.get('hybrid_trials')} for the hybrid's network, compared on a "
                f"{100 * valid:g} % validation carve), the best refitted on the whole training "
                "side; the test side scored once")
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
        parts += self._topn_markdown()
        chosen = self.chosen()
        if chosen:
            from recsys.evaluation.nested import describe_chosen

            parts += ["## Settings chosen per fold (on its training side only)", ""]
            parts += [f"- {key}: {describe_chosen(value)}" for key, value in chosen.items()]
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

    def chosen(self) -> dict[str, dict[str, Any]]:
        """``{"model/fold": what was chosen on that fold's training side}``, for every fit
        that chose something (tuned settings or epochs by validation)."""
        return {f"{r.model}/{r.fold}": r.chosen for r in self.results
                if r.chosen.get("how") in ("tuned", "epochs by validation")}

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
            "chosen": self.chosen(),
            "topn_by_rank": [
                {"model": model, "rank_by": objective,
                 **{col: _json_float(v) for col, v in row.items()}}
                for (model, objective), row in self.topn_table().iterrows()],
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
        # here, not at the top, so that ``import recsys`` does not load matplotlib
        from recsys.evaluation.plots import error_distribution, learning_curves, save_figure

        directory.mkdir(parents=True, exist_ok=True)
        written = {
            "json": _write_text(directory / "report.json", self.to_json()),
            "markdown": _write_text(directory / "report.md", self.markdown_document()),
        }
        several = len(self.folds) > 1
        fig = learning_curves(
            self.histories(),
            title=f"Training and validation RMSE per epoch ({self.folds[0]}"
                  f"{', the first fold' if several else ''})",
        )
        written["learning_curves"] = save_figure(fig, directory / "learning_curves.png")
        fig = error_distribution(
            self.errors(),
            title="Prediction errors (predicted - actual) on the test ratings"
                  f"{', all folds' if several else ''}",
        )
        written["errors"] = save_figure(fig, directory / "errors.png")
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
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path

