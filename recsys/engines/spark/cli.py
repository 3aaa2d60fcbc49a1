"""What ``recsys fit --engine spark`` calls: the checks that fail fast, then the engine, and
the fit of ratings that Spark reads itself (``--reader``)."""

from __future__ import annotations

import time
from typing import Any, Callable

import click

from recsys.engines.spark.frame_sources import READERS, FrameFormat, frame_format
from recsys.engines.spark.frames import read_frame
from recsys.engines.spark.model import SparkEngine
from recsys.engines.spark.session import check_java, check_master, check_pyspark
from recsys.errors import RecsysError

__all__ = ["engine_for_fit", "frame_for_fit", "fit_frame", "READERS"]


def engine_for_fit(model_name: str, master: str) -> SparkEngine:
    """A :class:`SparkEngine` on ``master`` for ``recsys fit --model model_name``, after the
    checks that need no Spark (the model is ``mf``; pyspark 4, Java 17+ and a reachable
    master are there), each failure one line, before any data is read."""
    if model_name != "mf":
        raise RecsysError(f"--engine spark fits --model mf only, not {model_name}: use "
                          f"--model mf, or drop --engine spark")
    check_pyspark()
    check_master(master)
    check_java()
    return SparkEngine(master)


def frame_for_fit(data: str | None, file_format: dict[str, Any], reader: str
                  ) -> FrameFormat | None:
    """How Spark reads ``--data`` (:func:`~recsys.engines.spark.frames.frame_format`), or
    None when the driver's loader reads it: ``reader`` ``driver``, or ``auto`` with data
    Spark does not read (the bundled set, a release, a Netflix Prize folder)."""
    if reader not in READERS:
        raise RecsysError(f"--reader must be one of {', '.join(READERS)}, not {reader}")
    if reader == "driver":
        return None
    fmt = frame_format(data, file_format)
    if fmt is None and reader == "spark":
        shown = data if data is not None else "the bundled data set"
        raise RecsysError(f"--reader spark reads Parquet files and folders and delimited "
                          f"(CSV) ratings files; {shown} is not one: use --reader auto or "
                          "--reader driver")
    return fmt


def fit_frame(engine: SparkEngine, model: Any, model_name: str, fmt: FrameFormat,
              validation: float, seed: int, output: str,
              epoch_bar: Callable[..., tuple[Any, Any]]) -> None:
    """``recsys fit --engine spark`` on ratings read by Spark: the command's steps (choose
    the epochs on a validation part carved in Spark, refit on all, save), with the ratings
    kept in Spark; ``epoch_bar(model, label[, settings])`` is the command's progress bar."""
    from recsys.cli.interrupts import ctrl_c_watch, fit_failures, save_unless_interrupted
    from recsys.models.base import clone
    from recsys.models.selection import Selection

    label = f"{model_name} on {fmt.name}"
    kind = type(model).__name__
    with ctrl_c_watch() as pressed, engine:
        click.echo(f"training on Spark {engine.master} by DSGD ({engine.n_blocks} x "
                   f"{engine.n_blocks} blocks); {fmt.name} is read by Spark", err=True)
        start = time.perf_counter()
        selection = None
        with fit_failures(pressed, output):
            ratings = read_frame(engine.session, fmt)
            model = engine.wrap(model)
            if validation > 0:
                train, valid = ratings.carve(validation, seed)
                click.echo(f"fitting {kind} on {fmt.name}: epochs chosen on "
                           f"{len(valid):,} held-out ratings, then refitted on all "
                           f"{len(ratings):,}", err=True)
                probe = clone(model, **model.validation_settings())
                _with_bar(epoch_bar(probe, f"{label}, choosing epochs"), probe.fit, train,
                          valid, should_stop=pressed.is_set)
                scores = probe.history_["valid_rmse"]
                selection = Selection(settings=probe.refit_settings(),
                                      valid_rmse=float(scores[probe.best_epoch_]),
                                      n_train=len(train), n_valid=len(valid),
                                      history=dict(probe.history_))
                model = clone(model, **selection.settings)
                bar = epoch_bar(model, f"{label}, refit on all", selection.settings)
            else:
                click.echo(f"fitting {kind} on {fmt.name} ({len(ratings):,} "
                           "ratings; no validation part)", err=True)
                bar = epoch_bar(model, label)
            _with_bar(bar, model.fit, ratings, should_stop=pressed.is_set)
            if pressed.is_set():
                raise KeyboardInterrupt
            model = model.as_local()
        seconds = time.perf_counter() - start
        scores = f"last epoch's train RMSE {model.history_['train_rmse'][-1]:.4f}"
        if selection is not None:
            model.selection_ = {**selection.as_dict(), "baseline_rmse": None}
            chosen = ", ".join(f"{k}={v}" for k, v in selection.settings.items()
                               if v is not None)
            scores = (f"validation RMSE {selection.valid_rmse:.4f}"
                      + (f", chose {chosen}" if chosen else "") + f"; {scores} of the refit")
        path = save_unless_interrupted(lambda: model.save(output), pressed, output)
    click.echo(f"fitted {type(model).__name__} on {fmt.name} ({len(ratings):,} ratings, "
               f"{ratings.n_users:,} users, {ratings.n_items:,} items; read by Spark) in "
               f"{seconds:.1f} s: {scores}; wrote {path}")


def _with_bar(bar_and_callback: tuple[Any, Any], fit: Callable[..., Any], *args: Any,
              **kwargs: Any) -> None:
    bar, callback = bar_and_callback
    try:
        fit(*args, callback=callback, **kwargs)
    finally:
        bar.close()
