"""``recsys tune``: search a model's settings on a validation part of the training data."""

from __future__ import annotations

import sys
from typing import Any

import click

from recsys.cli._data_options import file_format_options, load_data
from recsys.cli.interrupts import Interrupted, ctrl_c_watch
from recsys.tuning.spaces import TUNABLE_MODELS

DEFAULT_PARAMS_FILE = "best.json"


class _TrialBar:
    """A tqdm bar over the trials: trials done, the best validation RMSE so far, pruned."""

    def __init__(self, total: int, label: str) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc=label, unit="trial", file=sys.stderr, leave=True,
                        disable=None, dynamic_ncols=True)
        self.pruned = 0

    def __call__(self, trial: Any, best: Any) -> None:
        self.pruned += trial.status == "pruned"
        shown = {"best": f"{best.best_valid_rmse:.4f}" if best is not None else "-",
                 "pruned": self.pruned}
        self.bar.set_postfix(shown, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


@click.command()
@click.option("--data", "data", default=None, metavar="NAME|PATH",
              help="Training ratings: a data set name, release folder/zip or ratings file "
                   "(never the test file). Default: the bundled ml-latest-small.")
@click.option("--model", "model_name", default="mf", show_default=True,
              type=click.Choice(TUNABLE_MODELS), help="Model to tune.")
@click.option("--trials", type=click.IntRange(1, 100_000), default=50, show_default=True,
              help="Settings to try (bad ones are pruned after a few epochs).")
@click.option("--validation", type=click.FloatRange(0, 0.9, min_open=True), default=0.1,
              show_default=True,
              help="Share of the training ratings held out to compare the trials.")
@click.option("--seed", type=click.IntRange(0, None), default=0, show_default=True,
              help="Seed of the validation part, the trials' settings and every fit.")
@click.option("--threads", type=click.IntRange(1, 256),
              help="Threads per fit (matrix factorisation); one is repeatable.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              default=DEFAULT_PARAMS_FILE, show_default=True,
              help="JSON file for the best settings (read by `recsys fit --params`).")
@click.option("--model-out", type=click.Path(dir_okay=False, writable=True), default=None,
              metavar="FILE", help="Also refit the best settings on all the ratings and save "
                                   "the model here.")
@file_format_options
def tune(data: str | None, model_name: str, trials: int, validation: float, seed: int,
         threads: int | None, output: str, model_out: str | None,
         file_format: dict[str, Any]) -> None:
    """Search a model's settings on a validation part of the training ratings.

    Each trial fits with early stopping on the validation part (its best epoch is the number
    of epochs chosen); a trial whose validation RMSE is worse than the median of the earlier
    trials at the same epoch is pruned. Ctrl-C ends the search and keeps the best so far.

    \b
    Examples:
      recsys tune --data ../shared/datasets/ml-100k/u1.base -o best.json
      recsys fit --params best.json --data ../shared/datasets/ml-100k/u1.base --validation 0
      recsys tune --model baseline --trials 20 --model-out baseline.npz
    """
    from recsys.tuning.search import tune as run_search

    ratings = load_data(data, file_format)
    click.echo(f"tuning {model_name} on {ratings.name} ({len(ratings):,} ratings): {trials} "
               f"trials, {validation:g} held out for validation", err=True)
    bar = _TrialBar(trials, f"{model_name} trials")
    with ctrl_c_watch() as pressed:
        try:
            result = run_search(ratings, model=model_name, n_trials=trials,
                                valid_size=validation, seed=seed, progress=bar,
                                should_stop=pressed.is_set, refit=model_out is not None,
                                n_threads=threads)
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted before any trial finished; {output} was not "
                              "written") from None
        finally:
            bar.close()
        try:
            written = [str(result.save_params(output))]
            if model_out is not None and result.model is not None:
                written.append(str(result.model.save(model_out)))
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted while saving; {output} is unchanged") from None
    click.echo(f"tuned {model_name} on {ratings.name}: {result.summary()}; wrote "
               f"{' and '.join(written)}")
    if result.interrupted:
        refit = f"; {model_out} was not written" if model_out is not None else ""
        click.echo(f"interrupted after {len(result.trials)} of {trials} trials: {output} holds "
                   f"the best of the {result.n_finished} that finished{refit} (refit with "
                   f"`recsys fit --params {output}`)", err=True)


COMMANDS: list[Any] = [tune]
