"""``recsys update``: see the command's docstring."""

from __future__ import annotations

import time
from typing import Any

import click
import numpy as np

from recsys.cli._data_options import file_format_options, load_data
from recsys.cli.interrupts import Interrupted, save_unless_interrupted
from recsys.errors import RecsysError

COMMANDS: list[click.Command] = []


@click.command()
@click.option("-m", "--model", "model_path", default="model.npz", show_default=True,
              type=click.Path(dir_okay=False), help="Model file to update.")
@click.option("--data", "data", required=True, metavar="NAME|PATH",
              help="The new ratings: a ratings file (user,item,rating[,timestamp]), release "
                   "folder/zip or data set name, read as `recsys fit --data` reads it.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Model file to write (default: replace the --model file, atomically).")
@click.option("--epochs", type=click.IntRange(1, 100_000),
              help="Passes over the new ratings (sweeps for the bias baseline).")
@click.option("--lr", type=click.FloatRange(0, 10, min_open=True),
              help="SGD step size of the update (default: half the step the fit ended on).")
@click.option("--replay", "replay", default=None, metavar="NAME|PATH",
              help="Earlier ratings (such as the training data) to mix into the update's "
                   "epochs.")
@click.option("--replay-size", type=click.FloatRange(0, 1000),
              help="Replay ratings drawn per new rating (with --replay).")
@click.option("--seed", type=click.IntRange(0, None), default=0, show_default=True,
              help="Random seed of the new factors and the shuffles.")
@file_format_options
def update(model_path: str, data: str, output: str | None, epochs: int | None,
           lr: float | None, replay: str | None, replay_size: float | None, seed: int,
           file_format: dict[str, Any]) -> None:
    """Update a fitted model with new ratings, without refitting it.

    New users and items are added; new users are folded in against the items, then the
    model's SGD continues over the new ratings (MF, SVD++), or its biases are re-solved
    (baseline).
    The rating scale stays the model's. Works with --model mf, svdpp and baseline files.

    \b
    Examples:
      recsys update -m model.npz --data new.csv -o updated.npz
      recsys update -m model.npz --data new.csv --epochs 10 --replay ratings.csv
    """
    from recsys.models.io import load_model
    from recsys.models.updates import UPDATE_MODELS, unsupported_update

    model = load_model(model_path)
    if type(model).__name__ not in UPDATE_MODELS.values():
        raise unsupported_update(model)
    new = load_data(data, file_format)
    earlier = load_data(replay, file_format) if replay is not None else None
    if replay_size is not None and earlier is None:
        raise click.UsageError("--replay-size needs --replay FILE")
    output = output or model_path
    untouched = f"{output} is unchanged" if output == model_path else f"{output} was not written"
    before = model.n_users_, model.n_items_
    guess = model.predict(new.user_ids[new.users], new.item_ids[new.items])
    error_before = float(np.sqrt(np.mean((new.ratings - guess) ** 2)))
    start = time.perf_counter()
    try:
        model.partial_fit(new, n_epochs=epochs, lr=lr, replay=earlier,
                          replay_size=replay_size, random_state=seed)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted during the update; {untouched}") from None
    except RecsysError as exc:
        raise RecsysError(f"{exc} ({untouched})") from None
    seconds = time.perf_counter() - start
    path = save_unless_interrupted(lambda: model.save(output), None, output)
    error = model.history_["update_rmse"][-1]
    click.echo(
        f"updated {type(model).__name__} with {len(new):,} ratings of {new.name} "
        f"({model.n_users_ - before[0]:,} new users, {model.n_items_ - before[1]:,} new items) "
        f"in {seconds:.2f} s: RMSE on them {error_before:.4f} before, {error:.4f} after; "
        f"wrote {path}")


COMMANDS.append(update)
