"""Figures for reports and the notebook, drawn with matplotlib's Agg canvas.

Functions build a :class:`matplotlib.figure.Figure` directly (never through ``pyplot``), so they
need no display and leave the caller's backend alone; a notebook shows a returned figure inline,
:func:`save_figure` writes it as PNG atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from recsys._atomic import atomic_write

__all__ = [
    "learning_curves",
    "error_distribution",
    "item_map",
    "decision_surface",
    "new_figure",
    "save_figure",
]


def new_figure(width: float, height: float) -> Figure:
    """An empty figure of ``width`` x ``height`` inches, drawn off screen (no pyplot state)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = max(1, min(n, max_cols))
    return int(np.ceil(max(n, 1) / cols)), cols


def learning_curves(
    histories: Mapping[str, Mapping[str, Sequence[float]]], title: str | None = None
) -> Figure:
    """Training and validation RMSE per epoch, one panel per model.

    Parameters
    ----------
    histories : {model name: history}
        A model's ``history_``: lists such as ``"train_rmse"`` and ``"valid_rmse"`` indexed by
        epoch. Models whose history holds a single epoch (closed-form fits) are drawn as
        points.
    """
    shown = {
        m: {key: np.asarray(v, dtype=np.float64) for key, v in h.items()
            if key.endswith("rmse") and len(v)}
        for m, h in histories.items()
    }
    shown = {m: h for m, h in shown.items() if h}  # models with an RMSE curve to draw
    rows, cols = _grid(len(shown))
    fig = new_figure(4.2 * cols, 3.2 * rows)
    if not shown:
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no per-epoch history recorded", ha="center", va="center")
        ax.set_axis_off()
        return fig
    styles = {"train_rmse": ("training", "-"), "valid_rmse": ("validation", "--")}
    for n, (model, history) in enumerate(shown.items()):
        ax = fig.add_subplot(rows, cols, n + 1)
        steps = np.asarray(histories[model].get("step", []), dtype=np.float64)
        for key, values in history.items():
            label, style = styles.get(key, (key, ":"))
            # AutoRec records every few steps and says which in "step"
            epochs = steps if steps.size == len(values) else np.arange(1, len(values) + 1)
            ax.plot(epochs, values, style, marker="o" if len(values) < 3 else None, label=label)
        ax.set_title(model)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("step" if steps.size else "epoch")
        ax.set_ylabel("RMSE")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def error_distribution(
    errors: Mapping[str, np.ndarray], bins: int | np.ndarray | None = None,
    title: str | None = "Prediction errors (predicted - actual) on the test ratings",
) -> Figure:
    """Histogram of the prediction errors ``r_hat - r``, one panel per model (shared axes),
    each titled with the model's RMSE and MAE.

    Separate panels keep a constant predictor (whose errors sit on the few values
    ``mu - r``) from flattening the others.
    """
    shown = {m: np.asarray(e, dtype=np.float64).ravel() for m, e in errors.items()}
    shown = {m: e[np.isfinite(e)] for m, e in shown.items()}  # NaN/inf cannot be binned
    shown = {m: e for m, e in shown.items() if e.size}
    n = max(len(shown), 1)
    fig = new_figure(6.4, 0.6 + 1.6 * n)
    if bins is None:
        bins = np.linspace(-4.5, 4.5, 73)
    if not shown:
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no predictions", ha="center", va="center")
        ax.set_axis_off()
        return fig
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    for ax, (model, err) in zip(axes, shown.items()):
        rmse = float(np.sqrt(np.mean(err * err)))
        mae = float(np.mean(np.abs(err)))
        ax.hist(np.clip(err, bins[0], bins[-1]), bins=bins, color="tab:blue", alpha=0.75)
        ax.axvline(0.0, color="grey", linewidth=0.8)
        ax.set_title(f"{model}: RMSE {rmse:.3f}, MAE {mae:.3f}", fontsize="medium")
        ax.set_ylabel("ratings")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("predicted - actual rating")
    if title:
        fig.suptitle(title)
    return fig


def item_map(
    coords: np.ndarray, labels: Mapping[int, str] | None = None,
    weights: np.ndarray | None = None, title: str = "Item factors (first two principal components)",
) -> Figure:
    """Scatter of 2-D item coordinates, with some items labelled.

    Parameters
    ----------
    coords : ndarray, shape (n_items, 2)
    labels : {row of coords: text}, optional
        Items to annotate (e.g. well-known titles).
    weights : ndarray, shape (n_items,), optional
        Point sizes grow with ``log(1 + weight)`` (e.g. rating counts).
    """
    coords = np.asarray(coords, dtype=np.float64)
    fig = new_figure(7.5, 6.0)
    ax = fig.add_subplot()
    sizes = 4.0 if weights is None else 2.0 + 6.0 * np.log1p(np.asarray(weights, dtype=float))
    ax.scatter(coords[:, 0], coords[:, 1], s=sizes, alpha=0.35, color="tab:blue", linewidths=0)
    for row, text in (labels or {}).items():
        x, y = coords[row]
        ax.scatter([x], [y], s=24, color="tab:red")
        ax.annotate(text, (x, y), xytext=(4, 3), textcoords="offset points", fontsize=8)
    ax.set_xlabel("component 1")
    ax.set_ylabel("component 2")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return fig


def decision_surface(
    predict, points: np.ndarray, targets: np.ndarray, *, lim: float = 1.5, steps: int = 121,
    title: str = "Network output over the input plane",
) -> Figure:
    """Contour plot of a two-input function (e.g. a trained network) with the training points.

    ``predict`` maps an array of shape (m, 2) to m outputs.
    """
    grid = np.linspace(-lim, lim, steps)
    xx, yy = np.meshgrid(grid, grid)
    zz = np.asarray(predict(np.column_stack([xx.ravel(), yy.ravel()])), dtype=float)
    zz = zz.reshape(xx.shape)
    fig = new_figure(5.2, 4.4)
    ax = fig.add_subplot()
    filled = ax.contourf(xx, yy, zz, levels=21, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.contour(xx, yy, zz, levels=[0.0], colors="k", linewidths=1.2)
    fig.colorbar(filled, ax=ax, label="output")
    points = np.asarray(points, dtype=float)
    targets = np.asarray(targets, dtype=float).ravel()
    for sign, marker, face, label in ((1, "o", "white", "target +1"),
                                      (-1, "s", "black", "target -1")):
        chosen = (targets > 0) if sign > 0 else (targets <= 0)
        ax.scatter(points[chosen, 0], points[chosen, 1], marker=marker, s=90,
                   facecolors=face, edgecolors="black", linewidths=1.5, label=label)
    ax.legend(loc="upper center", fontsize="small", framealpha=0.9)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically (temporary file, then rename)."""
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=dpi)
    return Path(path)
