"""Figures for reports and the notebook, drawn with matplotlib's Agg canvas.

Functions build a :class:`matplotlib.figure.Figure` directly (never through ``pyplot``), so they
need no display and leave the caller's backend alone; a notebook shows a returned figure inline,
:func:`save_figure` writes it as PNG atomically.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "learning_curves",
    "error_distribution",
    "item_map",
    "decision_surface",
    "save_figure",
]


def _figure(width: float, height: float) -> Figure:
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
    shown = {m: h for m, h in histories.items() if any(len(v) for v in h.values())}
    rows, cols = _grid(len(shown))
    fig = _figure(4.2 * cols, 3.2 * rows)
    if not shown:
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no per-epoch history recorded", ha="center", va="center")
        ax.set_axis_off()
        return fig
    styles = {"train_rmse": ("training", "-"), "valid_rmse": ("validation", "--")}
    for n, (model, history) in enumerate(shown.items()):
        ax = fig.add_subplot(rows, cols, n + 1)
        for key, values in history.items():
            if not key.endswith("rmse") or not len(values):
                continue
            label, style = styles.get(key, (key, ":"))
            epochs = np.arange(1, len(values) + 1)
            ax.plot(epochs, values, style, marker="o" if len(values) < 3 else None, label=label)
        ax.set_title(model)
        ax.set_xlabel("epoch")
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
    """Histogram of the prediction errors ``r_hat - r`` of each model, overlaid as step lines,
    with each model's RMSE in the legend."""
    fig = _figure(6.4, 3.8)
    ax = fig.add_subplot()
    if bins is None:
        bins = np.linspace(-4.5, 4.5, 73)
    for model, err in errors.items():
        err = np.asarray(err, dtype=np.float64)
        if not err.size:
            continue
        rmse = float(np.sqrt(np.mean(err * err)))
        ax.hist(err, bins=bins, histtype="step", density=True, linewidth=1.4,
                label=f"{model} (RMSE {rmse:.3f})")
    ax.axvline(0.0, color="grey", linewidth=0.8)
    ax.set_xlabel("predicted - actual rating")
    ax.set_ylabel("density")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    if errors:
        ax.legend(fontsize="small")
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
    fig = _figure(7.5, 6.0)
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
    fig = _figure(5.2, 4.4)
    ax = fig.add_subplot()
    filled = ax.contourf(xx, yy, zz, levels=21, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.contour(xx, yy, zz, levels=[0.0], colors="k", linewidths=1.2)
    fig.colorbar(filled, ax=ax, label="output")
    points = np.asarray(points, dtype=float)
    targets = np.asarray(targets, dtype=float).ravel()
    ax.scatter(points[:, 0], points[:, 1], c=targets, cmap="RdBu_r", vmin=-1, vmax=1,
               edgecolors="k", s=80)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG to a temporary file next to ``path``, then move it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            fig.savefig(handle, format="png", dpi=dpi)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
